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
    if on_path("chromium").is_some() {
        return Ok(());
    }
    Cmd::new("apt-get").args(["update", "-qq"]).run()?;
    Cmd::new("apt-get")
        .args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "chromium",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
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
