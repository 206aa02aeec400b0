//! Installing what the checks need when it is missing, so that one command
//! works on a fresh machine. Each step is a no-op when its tool is there.

use std::path::Path;

use crate::run::{Cmd, Failed, on_path};
use crate::{WASM_TARGET, root};

/// The wasm32 target and the wasm-bindgen CLI at exactly the crate's version.
pub(crate) fn wasm_tools() -> Result<(), Failed> {
    let installed = Cmd::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .unwrap_or_default();
    if !installed.lines().any(|t| t.trim() == WASM_TARGET) {
        Cmd::new("rustup")
            .args(["target", "add", WASM_TARGET])
            .run()?;
    }
    let want = locked_version("wasm-bindgen")?;
    let have = Cmd::new("wasm-bindgen").arg("--version").output();
    if have.as_deref().map(str::trim) != Some(&format!("wasm-bindgen {want}")) {
        // Not --locked: a dependency in the CLI's lock file is missing from
        // the registry. --debug installs in a third of the time.
        Cmd::new("cargo")
            .args([
                "install",
                "wasm-bindgen-cli",
                "--debug",
                "--force",
                "--version",
                &want,
            ])
            .run()?;
    }
    Ok(())
}

/// `npm ci` unless node_modules is newer than the lock file.
pub(crate) fn npm_packages() -> Result<(), Failed> {
    let lock = root().join("package-lock.json");
    let marker = root().join("node_modules/.package-lock.json");
    if !is_newer(&marker, &lock) {
        Cmd::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .run()?;
    }
    Ok(())
}

/// Debian's Chromium for the browser test (Playwright's download fails here).
pub(crate) fn chromium() -> Result<(), Failed> {
    debian_package("chromium", "chromium")
}

/// valgrind: scenario 12 counts the server's instructions with callgrind.
pub(crate) fn valgrind() -> Result<(), Failed> {
    debian_package("valgrind", "valgrind")
}

/// Debian's faketime: the clock-skew tests run a server on a shifted clock.
pub(crate) fn faketime() -> Result<(), Failed> {
    debian_package("faketime", "faketime")
}

/// Installs a Debian package unless `command` is already on the path.
fn debian_package(command: &str, package: &str) -> Result<(), Failed> {
    if on_path(command).is_some() {
        return Ok(());
    }
    Cmd::new("apt-get").args(["update", "-qq"]).run()?;
    Cmd::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
}

/// PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres, as the
/// machines of this project have it: started when it does not answer, and
/// installed from Debian's packages when it is not there at all.
pub(crate) fn postgres() -> Result<(), Failed> {
    if postgres_answers() {
        return Ok(());
    }
    if on_path("pg_ctlcluster").is_none() {
        Cmd::new("apt-get").args(["update", "-qq"]).run()?;
        Cmd::new("apt-get")
            .args(["install", "-y", "-qq", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()?;
    }
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|dir| dir.filter_map(Result::ok).map(|e| e.file_name()).max())
        .and_then(|name| name.into_string().ok())
        .ok_or_else(|| Failed("no PostgreSQL cluster under /etc/postgresql".into()))?;
    trust_loopback(&version)?;
    Cmd::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .run()?;
    // Readiness is a condition, not a delay: poll the port for up to 30 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if postgres_answers() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Err(Failed(
        "PostgreSQL did not answer on 127.0.0.1:5432 within 30 s".into(),
    ))
}

/// The harness measures the machine's ceiling with pgbench, which Debian
/// ships with the server package.
pub(crate) fn pgbench() -> Result<(), Failed> {
    if on_path("pgbench").is_some() {
        return Ok(());
    }
    Cmd::new("apt-get").args(["update", "-qq"]).run()?;
    Cmd::new("apt-get")
        .args(["install", "-y", "-qq", "postgresql", "postgresql-client"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
}

fn postgres_answers() -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 5432));
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).is_ok()
}

/// Tests connect as postgres over TCP without a password, like on the
/// developers' machines: trust loopback connections.
fn trust_loopback(version: &str) -> Result<(), Failed> {
    let path = format!("/etc/postgresql/{version}/main/pg_hba.conf");
    let hba = std::fs::read_to_string(&path).map_err(|e| Failed(format!("reading {path}: {e}")))?;
    let rule = "host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n";
    if !hba.starts_with(rule) {
        std::fs::write(&path, format!("{rule}{hba}"))
            .map_err(|e| Failed(format!("writing {path}: {e}")))?;
    }
    Ok(())
}

/// A virtual environment in target/ with tests/python/requirements.txt.
pub(crate) fn python_venv() -> Result<std::path::PathBuf, Failed> {
    let venv = root().join("target/python");
    let python = venv.join("bin/python");
    let ready = Cmd::new(&python)
        .args(["-c", "import grpc_tools"])
        .output()
        .is_some();
    if !ready {
        Cmd::new("python3").arg("-m").arg("venv").arg(&venv).run()?;
        Cmd::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "-r",
                "tests/python/requirements.txt",
            ])
            .run()?;
    }
    Ok(python)
}

fn locked_version(package: &str) -> Result<String, Failed> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| Failed(format!("reading Cargo.lock: {e}")))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"")
            && let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = "))
        {
            return Ok(version.trim_matches('"').to_owned());
        }
    }
    Err(Failed(format!("{package} is not in Cargo.lock")))
}

fn is_newer(a: &Path, b: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(a), modified(b)), (Some(a), Some(b)) if a >= b)
}
