//! PostgreSQL's day partitions of calls and events: retention drops whole
//! days, keeps a day a delivery still needs, and rows that arrived before
//! their day's partition move into it.

use selki_domain::{CallId, CallOutcome, EventId, Health, Next, UnixMs};
use selki_testkit::Db;
use sqlx::Row as _;

use crate::claims::{attempt, claim, setup, window};
use crate::harness::TestStore;

const DAY: i64 = 24 * 3_600_000;

macro_rules! on_postgres {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                selki_testkit::run_scenario(Db::Postgres, TestStore::new, super::$scenario).await;
            }
        )*
    };
}

mod on_postgres {
    use super::*;
    on_postgres!(
        retention_drops_a_day_of_calls_and_events_once_all_of_it_is_past_the_cutoff,
        a_dropped_day_keeps_the_events_a_failed_delivery_still_needs,
        rows_that_arrived_before_their_days_partition_move_into_it,
        ids_bounded_in_sql_are_the_ids_made_in_rust,
        a_database_from_before_partitioning_keeps_its_rows_until_retention_drops_them_whole,
    );
}

/// Delivers `n` events, the first `failed` of them failing for good.
async fn deliver(t: &TestStore, n: u8, failed: usize) {
    setup(t, n).await;
    let claimed = claim(&t.store, "w1", 100).await.expect("claim");
    let attempts: Vec<_> = claimed
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut made = match i < failed {
                true => attempt(c, CallOutcome::Timeout, Next::Failed),
                false => attempt(c, CallOutcome::Success, Next::Succeeded),
            };
            // Made now, by the test's clock.
            if let Some(call) = made.call.as_mut() {
                call.id = CallId::at(t.at(0));
                call.started_at = t.at(0);
            }
            made
        })
        .collect();
    t.store
        .record_attempts(&attempts, Health::default())
        .await
        .expect("record");
}

async fn sql(t: &TestStore) -> sqlx::PgPool {
    sqlx::PgPool::connect(&t.url).await.expect("connect")
}

/// Rows in each partition of `table` holding any, by name.
async fn rows_by_partition(t: &TestStore, table: &str) -> Vec<(String, i64)> {
    let query = format!(
        "SELECT tableoid::regclass::text AS part, COUNT(*) AS n FROM {table} GROUP BY 1 ORDER BY 1"
    );
    sqlx::query(sqlx::AssertSqlSafe(query))
        .fetch_all(&sql(t).await)
        .await
        .expect("count")
        .iter()
        .map(|r| (r.get("part"), r.get("n")))
        .collect()
}

async fn partition_exists(t: &TestStore, name: &str) -> bool {
    sqlx::query("SELECT to_regclass($1) IS NOT NULL AS found")
        .bind(name)
        .fetch_one(&sql(t).await)
        .await
        .expect("look")
        .get("found")
}

fn end_of_day(at: UnixMs) -> UnixMs {
    UnixMs::from_millis((at.as_millis() / DAY + 1) * DAY)
}

pub(crate) async fn retention_drops_a_day_of_calls_and_events_once_all_of_it_is_past_the_cutoff(
    t: &TestStore,
) {
    // Two days on: into a day whose partition was made ahead.
    t.clock.advance_ms(2 * DAY);
    let day = t.at(0);
    deliver(t, 3, 0).await;
    assert_eq!(
        rows_by_partition(t, "calls").await,
        [("calls_20250809".to_owned(), 3)]
    );
    assert_eq!(
        rows_by_partition(t, "events").await,
        [("events_20250809".to_owned(), 3)]
    );
    t.clock.advance_ms(31 * DAY);
    let part_of_the_day = window(end_of_day(day).minus(std::time::Duration::from_millis(1)));
    let kept = t.store.prune(part_of_the_day, 1000).await.expect("prune");
    assert_eq!(
        (kept.calls, kept.deliveries, kept.events),
        (0, 0, 0),
        "a day is dropped whole or not at all"
    );
    // One delivery per batch: the day's events wait for all of them, and
    // none is carried over to the default partition.
    let mut pruned = selki_storage::Pruned::default();
    loop {
        let batch = t
            .store
            .prune(window(end_of_day(day)), 1)
            .await
            .expect("prune");
        if batch.total() == 0 {
            break;
        }
        pruned.calls += batch.calls;
        pruned.deliveries += batch.deliveries;
        pruned.events += batch.events;
        if pruned.deliveries < 3 {
            assert_eq!(
                rows_by_partition(t, "events").await,
                [("events_20250809".to_owned(), 3)]
            );
        }
    }
    assert_eq!((pruned.calls, pruned.deliveries, pruned.events), (3, 3, 3));
    assert!(!partition_exists(t, "calls_20250809").await);
    assert!(!partition_exists(t, "events_20250809").await);
    assert_eq!(
        t.store
            .prune(window(end_of_day(day)), 1000)
            .await
            .expect("prune")
            .total(),
        0
    );
}

pub(crate) async fn a_dropped_day_keeps_the_events_a_failed_delivery_still_needs(t: &TestStore) {
    t.clock.advance_ms(2 * DAY);
    let day = t.at(0);
    deliver(t, 2, 1).await;
    t.clock.advance_ms(31 * DAY);
    let pruned = t
        .store
        .prune(window(end_of_day(day)), 1000)
        .await
        .expect("prune");
    assert_eq!(
        (pruned.calls, pruned.deliveries, pruned.events),
        (2, 1, 1),
        "the failed delivery is recoverable: its event stays"
    );
    assert!(!partition_exists(t, "events_20250809").await);
    assert_eq!(
        rows_by_partition(t, "events").await,
        [("events_default".to_owned(), 1)]
    );
    let webhook = t.store.due_webhooks().await.expect("due");
    assert!(webhook.is_empty());
    let failed = t
        .store
        .list_events(
            &selki_domain::OrganizationId::parse("acme").expect("org"),
            &selki_storage::EventFilter::default(),
            selki_storage::Page {
                after: None,
                limit: 10,
            },
        )
        .await
        .expect("list");
    assert_eq!(failed.len(), 1, "its event can still be read");
    assert_eq!(
        t.store
            .prune(window(end_of_day(day)), 1000)
            .await
            .expect("prune")
            .total(),
        0
    );
    let recovered = t
        .store
        .recover_deliveries(
            &selki_storage::Scope::All,
            failed_webhook(t).await,
            (UnixMs::EPOCH, None),
            10,
        )
        .await
        .expect("recover");
    assert_eq!(recovered, Some(1));
    let again = claim(&t.store, "w1", 10).await.expect("claim");
    assert_eq!(again.len(), 1, "and sent again");
    assert_eq!(again[0].event_id, failed[0].id);
    let done = [attempt(&again[0], CallOutcome::Timeout, Next::Failed)];
    t.store
        .record_attempts(&done, Health::default())
        .await
        .expect("record");
    // It failed again just now: past its recovery window, it goes.
    let past_recovery = selki_storage::Cutoffs {
        finished_before: t.at(1),
        recoverable_before: t.at(1),
    };
    let pruned = t.store.prune(past_recovery, 1000).await.expect("prune");
    assert_eq!((pruned.deliveries, pruned.events), (1, 1));
    assert!(rows_by_partition(t, "events").await.is_empty());
}

pub(crate) async fn rows_that_arrived_before_their_days_partition_move_into_it(t: &TestStore) {
    // Further ahead than the partitions made at start: the default takes them.
    t.clock.advance_ms(10 * DAY);
    deliver(t, 2, 0).await;
    assert_eq!(
        rows_by_partition(t, "calls").await,
        [("calls_default".to_owned(), 2)]
    );
    let young = t
        .store
        .prune(window(t.at(-DAY)), 1000)
        .await
        .expect("prune");
    assert_eq!(young.total(), 0, "nothing is old");
    assert_eq!(
        rows_by_partition(t, "calls").await,
        [("calls_20250817".to_owned(), 2)]
    );
    assert_eq!(
        rows_by_partition(t, "events").await,
        [("events_20250817".to_owned(), 2)]
    );
}

pub(crate) async fn ids_bounded_in_sql_are_the_ids_made_in_rust(t: &TestStore) {
    let pool = sql(t).await;
    for ms in [0, 1, 1_754_560_902_000, 1_754_611_200_000, (1 << 48) - 1] {
        let in_sql: String = sqlx::query("SELECT selki_id_floor('evt', $1) AS id")
            .bind(ms)
            .fetch_one(&pool)
            .await
            .expect("floor")
            .get("id");
        let at = UnixMs::from_millis(ms);
        assert_eq!(in_sql, EventId::first_at(at).to_string(), "at {ms}");
        let made = EventId::at(at).to_string();
        assert!(in_sql <= made, "{in_sql} sorts before {made}");
    }
}

/// The tables as they were before partitioning (plain, with a time index
/// each), holding the rows the partitioned ones hold.
const UNPARTITIONED: &str = "
    CREATE TABLE calls_plain (LIKE calls INCLUDING DEFAULTS);
    INSERT INTO calls_plain SELECT * FROM calls;
    DROP TABLE calls;
    ALTER TABLE calls_plain RENAME TO calls;
    ALTER TABLE calls ADD PRIMARY KEY (id);
    CREATE INDEX calls_by_webhook ON calls (webhook_id, id);
    CREATE INDEX calls_by_delivery ON calls (delivery_id);
    CREATE INDEX calls_by_start ON calls (started_at);
    CREATE TABLE events_plain (LIKE events INCLUDING DEFAULTS);
    INSERT INTO events_plain SELECT * FROM events;
    DROP TABLE events;
    ALTER TABLE events_plain RENAME TO events;
    ALTER TABLE events ADD PRIMARY KEY (id);
    CREATE INDEX events_by_created ON events (created_at);
    CREATE INDEX events_by_client_id ON events (organization_id, client_event_id)
        WHERE client_event_id IS NOT NULL;
    CREATE INDEX events_by_organization ON events (organization_id, id);
";

pub(crate) async fn a_database_from_before_partitioning_keeps_its_rows_until_retention_drops_them_whole(
    t: &TestStore,
) {
    let converted = t.at(0);
    deliver(t, 3, 0).await;
    sqlx::raw_sql(UNPARTITIONED)
        .execute(&sql(t).await)
        .await
        .expect("unpartition");
    // The next start converts the tables.
    t.store.migrate().await.expect("migrate again");
    assert_eq!(
        rows_by_partition(t, "calls").await,
        [("calls_legacy".to_owned(), 3)]
    );
    let hook = t.store.due_webhooks().await.expect("due");
    assert!(hook.is_empty(), "every delivery was made");
    let listed = rows_by_partition(t, "events").await;
    assert_eq!(listed, [("events_legacy".to_owned(), 3)]);
    let indexes: Vec<String> = sqlx::query(
        "SELECT indexname FROM pg_indexes WHERE tablename IN ('calls', 'events') ORDER BY 1",
    )
    .fetch_all(&sql(t).await)
    .await
    .expect("indexes")
    .iter()
    .map(|r| r.get("indexname"))
    .collect();
    assert_eq!(
        indexes,
        [
            "calls_by_delivery",
            "calls_by_webhook",
            "calls_pkey",
            "events_by_client_id",
            "events_by_organization",
            "events_pkey"
        ],
        "the parents have the old indexes but the time ones"
    );
    // Two days on, new rows (for two webhooks now) go to their day's partition.
    t.clock.advance_ms(2 * DAY);
    deliver(t, 1, 0).await;
    assert_eq!(
        rows_by_partition(t, "calls").await,
        [
            ("calls_20250809".to_owned(), 2),
            ("calls_legacy".to_owned(), 3)
        ]
    );
    // Until the whole of it is old, the old table's rows go one by one
    // (it takes every id up to the end of the day it was converted on).
    t.clock.advance_ms(30 * DAY);
    let late_that_day = window(end_of_day(converted).minus(std::time::Duration::from_secs(3600)));
    let pruned = t.store.prune(late_that_day, 1000).await.expect("prune");
    assert_eq!((pruned.calls, pruned.events), (3, 3), "{pruned:?}");
    assert!(partition_exists(t, "calls_legacy").await);
    t.store
        .prune(window(end_of_day(converted)), 1000)
        .await
        .expect("prune");
    assert!(
        !partition_exists(t, "calls_legacy").await,
        "then it is dropped"
    );
}

async fn failed_webhook(t: &TestStore) -> selki_domain::WebhookId {
    let row = sqlx::query("SELECT webhook_id FROM deliveries WHERE status = 'failed'")
        .fetch_one(&sql(t).await)
        .await
        .expect("a failed delivery");
    selki_domain::WebhookId::parse(row.get("webhook_id")).expect("id")
}
