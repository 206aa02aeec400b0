//! Tests that could make the product connect elsewhere run in a network
//! namespace of their own.

use crate::unique_name;

/// Runs a test inside a network namespace of its own, with only a loopback
/// interface on which every address is local, and with `hosts` as its
/// /etc/hosts: whatever the product under test tries to reach (a proxy, a
/// cloud metadata name, a "public" address) lands on loopback or nowhere,
/// and nothing leaves the machine.
///
/// The test calls this first with its own full name (`module::test`): the
/// test binary is run again for that one test under `unshare`, and `body`
/// runs there, on a runtime of its own. PostgreSQL on the machine's
/// loopback is out of reach inside, so such tests use SQLite.
pub fn isolated<F, Fut>(test: &str, hosts: &[(&str, &str)], body: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    const INSIDE: &str = "SELKI_TEST_ISOLATED";
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        enter_isolation(hosts);
        tokio_runtime().block_on(body());
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let output = std::process::Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "--"])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(INSIDE, test)
        .output()
        .expect("unshare (util-linux) runs; tests run as root");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} inside its network namespace: {}\n{stdout}\n{stderr}",
        output.status
    );
}

fn enter_isolation(hosts: &[(&str, &str)]) {
    let run = |args: &[&str]| {
        let status = std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(status.success(), "{args:?}: {status}");
    };
    run(&["ip", "link", "set", "lo", "up"]);
    // Every IPv4 address is this machine's own: a connection to any of
    // them reaches a listener on 0.0.0.0 here, or is refused.
    run(&["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo"]);
    let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for (name, address) in hosts {
        text.push_str(&format!("{address} {name}\n"));
    }
    let file = std::env::temp_dir().join(unique_name("selki_hosts"));
    std::fs::write(&file, text).expect("a hosts file");
    run(&[
        "mount",
        "--bind",
        file.to_str().expect("utf-8"),
        "/etc/hosts",
    ]);
    // The mount holds the file now: nothing is left in the temporary
    // directory once the namespace is gone.
    let _ = std::fs::remove_file(&file);
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}
