//! Scenario 10: scale-out. One `--role api` process and two `--role
//! worker` processes on one PostgreSQL database, scenario 3's load: the
//! rate, the duplicates (none without a kill), and each process's CPU, so
//! that the cost of coordinating workers shows; then the same with one
//! worker SIGKILLed half-way, where no event may be lost and only calls it
//! had in flight may arrive twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use selki_testkit::{Db, TestDatabase};

use crate::load::Load;
use crate::process::{Role, Server, postgres_cpu_seconds};
use crate::receiver::Receiver;
use crate::report::Row;
use crate::scenarios::Bench;

/// After the last new event arrives, how long late duplicates are awaited.
const QUIET: Duration = Duration::from_secs(2);

/// What the receiver saw of one run.
struct Seen {
    unique: usize,
    duplicates: usize,
    /// When the last new event arrived.
    last: Option<Instant>,
}

impl Bench {
    pub(crate) async fn scale_out(&self, kill_one: bool) -> anyhow::Result<Row> {
        anyhow::ensure!(
            matches!(self.db, Db::Postgres),
            "processes share PostgreSQL only"
        );
        let database = TestDatabase::create(self.db)
            .await
            .ok_or_else(|| anyhow::anyhow!("PostgreSQL does not answer on 127.0.0.1:5432"))?;
        let start = |role| Server::start(&self.server, &self.server_args, &database.url, role);
        let api = start(Role::Api)?;
        let mut workers = vec![start(Role::Worker)?, start(Role::Worker)?];
        let load = Load::connect(&api.addr).await?;
        let mut receiver = Receiver::start().await?;
        let (webhook, secret) = load
            .create_webhook(&format!("http://{}/", receiver.addr))
            .await?;
        receiver.expect(&webhook, &secret, Duration::ZERO)?;

        let n = self.sizes.e2e_events;
        let cpu =
            |servers: &[&Server]| -> Vec<f64> { servers.iter().map(|s| s.cpu_seconds()).collect() };
        let (cpu_before, pg_before) = (
            cpu(&[&api, &workers[0], &workers[1]]),
            postgres_cpu_seconds(),
        );
        let started = Instant::now();
        load.flood(n, 100, 8).await?;
        let deadline = started + self.sizes.limit;
        let mut killed = false;
        let seen = receive(&mut receiver, n, deadline, |unique| {
            if kill_one && !killed && unique >= n / 2 {
                killed = true;
                if let Some(worker) = workers.pop() {
                    worker.stop();
                }
            }
        })
        .await;
        let survivors: Vec<&Server> = std::iter::once(&api).chain(workers.iter()).collect();
        let used: Vec<f64> = cpu(&survivors)
            .iter()
            .zip(&cpu_before)
            .map(|(now, before)| now - before)
            .collect();
        let postgres = postgres_cpu_seconds() - pg_before;
        #[allow(clippy::cast_precision_loss)]
        let per_thousand = |seconds: f64| seconds * 1_000_000.0 / seen.unique.max(1) as f64;
        #[allow(clippy::cast_precision_loss)]
        let rate = seen.last.map_or(0.0, |last| {
            seen.unique as f64 / (last - started).as_secs_f64()
        });
        let name = match kill_one {
            false => format!("{n} events: 1 api + 2 workers"),
            true => format!("{n} events: 1 api + 2 workers, one SIGKILLed half-way"),
        };
        let mut row = Row::new("10", name, self.store())
            .figure("deliveries/s", rate, "")
            .figure("duplicates", seen.duplicates as f64, "")
            .figure("api CPU/1000", per_thousand(used[0]), "ms")
            .figure("worker 1 CPU/1000", per_thousand(used[1]), "ms");
        row = match used.get(2) {
            Some(w2) => row.figure("worker 2 CPU/1000", per_thousand(*w2), "ms"),
            None => row.note("worker 2's CPU: not read (killed)"),
        };
        row = row.figure("Postgres CPU/1000", per_thousand(postgres), "ms");
        if seen.unique < n {
            row = row.note(format!("LOST: only {} of {n} events arrived", seen.unique));
        }
        if !kill_one && seen.duplicates > 0 {
            row = row.note("duplicates without a kill");
        }
        api.stop();
        workers.into_iter().for_each(Server::stop);
        database.remove().await;
        Ok(row)
    }
}

/// Receipts until `n` distinct events arrived (and `QUIET` passed without
/// a new one), or the deadline; `progress` hears the distinct count.
async fn receive(
    receiver: &mut Receiver,
    n: usize,
    deadline: Instant,
    mut progress: impl FnMut(usize),
) -> Seen {
    let mut times: HashMap<String, u32> = HashMap::with_capacity(n);
    let mut seen = Seen {
        unique: 0,
        duplicates: 0,
        last: None,
    };
    loop {
        let until = match seen.unique >= n {
            true => (Instant::now() + QUIET).min(deadline),
            false => deadline,
        };
        let Some(receipt) = receiver.next(until).await else {
            return seen;
        };
        let count = times.entry(receipt.event).or_default();
        *count += 1;
        if *count == 1 {
            seen.unique += 1;
            seen.last = Some(receipt.at);
            progress(seen.unique);
        } else {
            seen.duplicates += 1;
        }
    }
}
