//! Health tells the truth: NOT_SERVING while the database refuses writes
//! (a full disk, read-only, unreachable), SERVING again once it takes them,
//! with the cause in the log; and a full disk, once freed, costs nothing
//! more (no restart).

use std::time::Duration;

use selki_proto::v1 as pb;
use selki_testkit::Db;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::delivery::WITHIN;
use crate::fixtures::clicked;
use crate::harness::{ADMIN_KEY, Launch, TestServer, authed};

/// Upper bound for health to follow the database: a few heartbeats.
const NOTICED: Duration = Duration::from_secs(10);

async fn submit_one(server: &TestServer, id: &str) -> Result<(), tonic::Status> {
    let request = pb::SubmitEventRequest {
        event: Some(clicked("acme", id)),
    };
    server
        .events()
        .submit_event(authed(ADMIN_KEY, request))
        .await
        .map(drop)
}

/// Submits until one is accepted, for at most `within`: a recovery.
async fn accepted_again(server: &TestServer, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    for attempt in 0.. {
        match submit_one(server, &format!("after-{attempt}")).await {
            Ok(()) => return,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "still refused {within:?} after the database recovered: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// SQLite on a 4 MiB file system of the server's own (a tmpfs in a mount
/// namespace), filled up through /proc/<pid>/root, then freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_not_serving_and_once_freed_sqlite_takes_writes_again() {
    let dir = std::env::temp_dir().join(selki_testkit::unique_name("selki_small_disk"));
    std::fs::create_dir_all(&dir).expect("mount point");
    let mount = format!(
        "mount -t tmpfs -o size=4m tmpfs {} && exec \"$0\" \"$@\"",
        dir.display()
    );
    let launch = Launch {
        database_url: Some(format!("sqlite://{}/selki.db?mode=rwc", dir.display())),
        ..Launch::default()
    }
    .under(&[
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        &mount,
    ]);
    let server = TestServer::launch(Db::Sqlite, launch)
        .await
        .expect("SQLite");
    submit_one(&server, "before").await.expect("room to write");
    assert_eq!(server.health().await, ServingStatus::Serving);

    // The server's view of the directory, from outside its namespace.
    let inside = std::path::Path::new("/proc")
        .join(server.process.id().to_string())
        .join("root")
        .join(dir.strip_prefix("/").expect("absolute"));
    let filler = inside.join("filler");
    fill(&filler);
    let mut refused = 0;
    for i in 0..20 {
        if let Err(status) = submit_one(&server, &format!("full-{i}")).await {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            refused += 1;
        }
    }
    assert!(refused > 0, "the disk was full");
    server
        .health_becomes(ServingStatus::NotServing, NOTICED)
        .await;
    server
        .process
        .logged("database or disk is full", WITHIN)
        .await;

    std::fs::remove_file(&filler).expect("free the disk");
    accepted_again(&server, Duration::from_secs(5)).await;
    for i in 0..20 {
        submit_one(&server, &format!("freed-{i}"))
            .await
            .expect("room again");
    }
    server.health_becomes(ServingStatus::Serving, NOTICED).await;
    server.finish().await;
    let _ = std::fs::remove_dir(&dir);
}

/// Writes zeros until the file system is full.
fn fill(path: &std::path::Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

/// PostgreSQL read-only (new sessions refuse writes), then unreachable,
/// then back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_postgres_read_only_and_unreachable_and_back() {
    let Some(server) = TestServer::launch(Db::Postgres, Launch::default()).await else {
        return;
    };
    let name = server.db.postgres_name().expect("postgres").to_owned();
    submit_one(&server, "before").await.expect("writable");
    assert_eq!(server.health().await, ServingStatus::Serving);
    let sessions_end = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    );
    let admin = |sql: String| {
        let sessions_end = sessions_end.clone();
        async move {
            selki_testkit::admin(&[sql, sessions_end]).await;
        }
    };
    admin(format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = on"
    ))
    .await;
    let status = submit_one(&server, "read-only").await;
    let status = match status {
        Err(status) => status,
        // The first try may meet a cut connection and be retried by the
        // pool; a second one meets the read-only session.
        Ok(()) => submit_one(&server, "read-only-2")
            .await
            .expect_err("read-only"),
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    server
        .health_becomes(ServingStatus::NotServing, NOTICED)
        .await;
    server.process.logged("read-only transaction", WITHIN).await;

    admin(format!(
        "ALTER DATABASE {name} RESET default_transaction_read_only"
    ))
    .await;
    accepted_again(&server, NOTICED).await;
    server.health_becomes(ServingStatus::Serving, NOTICED).await;

    server.db.cut_off().await;
    server
        .health_becomes(ServingStatus::NotServing, NOTICED)
        .await;
    server.db.restore().await;
    server.health_becomes(ServingStatus::Serving, NOTICED).await;
    accepted_again(&server, NOTICED).await;
    server.finish().await;
}
