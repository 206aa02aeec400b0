//! `cargo xtask <task>`: the project's automation, with no dependencies so
//! that it builds in seconds.
//!
//! - `ci`: installs what is missing, then runs every check CI runs.
//! - `invariants`: the architecture's invariants the dependency graph does
//!   not enforce (ARCHITECTURE.md), checked by reading the sources.
//! - `breaking`: `buf breaking` against every earlier version of the proto.
//! - `wasm`: builds the npm package into `sdk-wasm/dist`.
//! - `bench-sdk`: the receiver SDK's benchmarks, native and in Node.
//! - `quick-start`: runs the README's quick start as written, and checks it.
//! - `bench [--smoke] [selki-bench flags]`: the performance harness on a
//!   release build (`--smoke`: tiny sizes on the debug build, as CI does).

mod checks;
mod install;
mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use run::{Cmd, Failed};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "ci" => ci(),
        "invariants" => checks::invariants(),
        "breaking" => buf_breaking(),
        "quick-start" => quick_start(),
        "bench" => install::postgres()
            .and_then(|()| install::pgbench())
            .and_then(|()| bench(std::env::args().skip(2).collect())),
        "console" => install::npm_packages().and_then(|()| console(None)),
        "wasm" => install::wasm_tools()
            .and_then(|()| install::npm_packages())
            .and_then(|()| wasm()),
        "bench-sdk" => install::wasm_tools()
            .and_then(|()| install::npm_packages())
            .and_then(|()| wasm())
            .and_then(|()| bench_sdk()),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | invariants | breaking | console | wasm | bench [--smoke] [--instructions] | bench-sdk | quick-start>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(what)) => {
            eprintln!("xtask: {what}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/xtask sits two levels below the root")
        .to_path_buf()
}

fn ci() -> Result<(), Failed> {
    install::wasm_tools()?;
    install::npm_packages()?;
    install::chromium()?;
    install::faketime()?;
    install::postgres()?;
    install::pgbench()?;
    step("rustfmt", || {
        Cmd::new("cargo").args(["fmt", "--all", "--check"]).run()
    })?;
    step("architecture invariants", checks::invariants)?;
    step("clippy", || {
        Cmd::new("cargo")
            .args(["clippy", "--workspace", "--all-targets", "--all-features"])
            .args(["--", "-D", "warnings"])
            .run()?;
        Cmd::new("cargo")
            .args([
                "clippy",
                "-p",
                "selki-webhooks",
                "-p",
                "selki-webhooks-wasm",
            ])
            .args(["--target", WASM_TARGET, "--", "-D", "warnings"])
            .run()
    })?;
    step("rust tests", || {
        // Here the Postgres half of a storage test fails rather than skips.
        Cmd::new("cargo")
            .args(["test", "--workspace", "--all-features"])
            .env("SELKI_REQUIRE_POSTGRES", "1")
            .run()
    })?;
    step("benchmark harness, smoke-sized", || {
        bench(vec!["--smoke".into()])?;
        bench(vec!["--smoke".into(), "--instructions".into()])
    })?;
    step("wasm package", wasm)?;
    step("buf lint", || {
        Cmd::new(root().join("node_modules/.bin/buf"))
            .arg("lint")
            .run()
    })?;
    step("buf breaking", buf_breaking)?;
    step("python grpcio client", python_client)?;
    step("README quick start", quick_start)?;
    step("console bundle is up to date", console_is_current)?;
    step(
        "console in Chromium (gRPC-Web, CORS, sessions, every screen with Playwright and axe)",
        || {
            Cmd::new("cargo")
                .args(["build", "-p", "selki-server"])
                .run()?;
            node_tests("console")
        },
    )?;
    step(
        "node tests, and the npm package in every runtime and bundler",
        || node_tests("sdk-wasm"),
    )?;
    // Node's summary closes the output: the last runner to report.
    Ok(())
}

/// The console, built from `console/` (its client generated from proto/,
/// type-checked, bundled by Vite) into `out`, or by default into
/// selki-server's crate, which embeds the committed copy.
fn console(out: Option<&Path>) -> Result<(), Failed> {
    let dir = root().join("console");
    Cmd::new(root().join("node_modules/.bin/buf"))
        .args(["generate", "--template", "buf.gen.yaml"])
        .dir(&dir)
        .run()?;
    Cmd::new("node")
        .arg(root().join("node_modules/typescript/bin/tsc"))
        .args(["-p", "tsconfig.json"])
        .dir(&dir)
        .run()?;
    let mut vite = Cmd::new(root().join("node_modules/.bin/vite"))
        .args(["build", "--logLevel", "warn"])
        .dir(&dir);
    if let Some(out) = out {
        vite = vite.env("CONSOLE_OUT", &out.display().to_string());
    }
    vite.run()
}

/// The committed bundle is what the sources build today: rebuilt
/// elsewhere and compared file by file, as projects that commit generated
/// code check it.
fn console_is_current() -> Result<(), Failed> {
    let fresh = root().join("target/console-fresh");
    console(Some(&fresh))?;
    let committed = root().join("crates/selki-server/console");
    let (want, have) = (files_under(&fresh)?, files_under(&committed)?);
    if want != have {
        let names = |m: &std::collections::BTreeMap<String, Vec<u8>>| {
            m.keys().cloned().collect::<Vec<_>>().join(", ")
        };
        return Err(Failed(format!(
            "crates/selki-server/console is stale (it holds {}; the sources build {}): run `cargo xtask console` and commit it",
            names(&have),
            names(&want)
        )));
    }
    Ok(())
}

/// Every file under `dir`, by its path relative to it.
fn files_under(dir: &Path) -> Result<std::collections::BTreeMap<String, Vec<u8>>, Failed> {
    let mut found = std::collections::BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| Failed(format!("reading {}: {e}", folder.display())))?;
        for entry in entries {
            let path = entry
                .map_err(|e| Failed(format!("reading {}: {e}", folder.display())))?
                .path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| Failed(format!("reading {}: {e}", path.display())))?;
            let name = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            found.insert(name, bytes);
        }
    }
    Ok(found)
}

/// Runs a package's test files with Node's test runner.
fn node_tests(package: &str) -> Result<(), Failed> {
    Cmd::new("node")
        .args(["--test", "--test-reporter=spec"])
        .args(node_test_files(package)?)
        .dir(root().join(package))
        .run()
}

/// A package's test files: `test/` also holds fixtures (the projects the
/// npm matrix copies, the console's test page), which are not tests.
fn node_test_files(package: &str) -> Result<Vec<String>, Failed> {
    let dir = root().join(package).join("test");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| Failed(format!("reading {}: {e}", dir.display())))?;
    let mut files: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test.mjs"))
        .map(|name| format!("test/{name}"))
        .collect();
    files.sort();
    Ok(files)
}

/// cargo build → wasm-bindgen (web glue) → wasm-opt → the package's three
/// generated files: the module itself (for Workers and Edge, which import
/// it), the module inlined as base64 (for every other runtime and bundler,
/// which then need no file beside the script) and the glue as CommonJS (one
/// instance for `require` and `import`).
fn wasm() -> Result<(), Failed> {
    Cmd::new("cargo")
        .args([
            "build",
            "-p",
            "selki-webhooks-wasm",
            "--target",
            WASM_TARGET,
        ])
        .args(["--profile", "wasm"])
        .run()?;
    let module = root().join("target/wasm32-unknown-unknown/wasm/selki_webhooks_wasm.wasm");
    let bindgen = root().join("target/wasm-bindgen");
    Cmd::new("wasm-bindgen")
        .arg(&module)
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&bindgen)
        .run()?;
    let dist = root().join("sdk-wasm/dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist).map_err(|e| Failed(format!("creating dist/: {e}")))?;
    let wasm = dist.join("selki_webhooks_wasm_bg.wasm");
    // Size over speed: measured, -Os runs verify as fast as -O3 here.
    Cmd::new(root().join("node_modules/.bin/wasm-opt"))
        .args([
            "-Os",
            "--enable-simd",
            "--enable-bulk-memory",
            "--enable-sign-ext",
        ])
        .args([
            "--enable-nontrapping-float-to-int",
            "--enable-mutable-globals",
        ])
        .args(["--enable-reference-types", "--enable-multivalue"])
        .arg(bindgen.join("selki_webhooks_wasm_bg.wasm"))
        .arg("-o")
        .arg(&wasm)
        .run()?;
    let bytes = std::fs::read(&wasm).map_err(|e| Failed(format!("reading the module: {e}")))?;
    write(
        &dist.join("wasm.cjs"),
        &format!(
            "// The WebAssembly module, base64: generated by `cargo xtask wasm`.\n\
             module.exports = \"{}\";\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes)
        ),
    )?;
    let glue = bindgen.join("selki_webhooks_wasm.js");
    let source =
        std::fs::read_to_string(&glue).map_err(|e| Failed(format!("reading the glue: {e}")))?;
    write(&glue, &patch_glue(&source)?)?;
    Cmd::new(root().join("node_modules/.bin/esbuild"))
        .arg(&glue)
        .args([
            "--format=cjs",
            "--platform=neutral",
            "--target=es2020",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", dist.join("glue.cjs").display()))
        .run()?;
    std::fs::copy(root().join("LICENSE"), root().join("sdk-wasm/LICENSE"))
        .map_err(|e| Failed(format!("copying LICENSE: {e}")))?;
    Ok(())
}

/// Two edits to wasm-bindgen's glue, each checked so that a new version of
/// it fails the build rather than the package:
/// - its fallback fetches the module next to itself through
///   `import.meta.url`, which CommonJS lacks and bundlers turn into an
///   asset; the package always passes the module, so the fallback goes;
/// - it tells a compiled module from bytes with `instanceof`, which is false
///   for a module compiled in another realm, as Next.js's Edge sandbox hands
///   over; the module's own tag says it in any realm.
fn patch_glue(glue: &str) -> Result<String, Failed> {
    const EDITS: [(&str, &str); 2] = [
        (
            "module_or_path = new URL('selki_webhooks_wasm_bg.wasm', import.meta.url);",
            "throw new TypeError('init() needs the module: pass { module_or_path }');",
        ),
        (
            "if (!(module instanceof WebAssembly.Module)) {",
            "if (Object.prototype.toString.call(module) !== '[object WebAssembly.Module]') {",
        ),
    ];
    let mut glue = glue.to_owned();
    for (from, to) in EDITS {
        if glue.matches(from).count() != 1 {
            return Err(Failed(format!(
                "wasm-bindgen's glue changed: `{from}` is not where xtask expects it"
            )));
        }
        glue = glue.replace(from, to);
    }
    if glue.contains("import.meta") {
        return Err(Failed(
            "wasm-bindgen's glue uses import.meta elsewhere".into(),
        ));
    }
    Ok(glue)
}

fn write(path: &std::path::Path, text: &str) -> Result<(), Failed> {
    std::fs::write(path, text).map_err(|e| Failed(format!("writing {}: {e}", path.display())))
}

/// The first commit whose contract clients were built against (the server
/// core); the one before it renamed a field freely.
const FIRST_CONTRACT: &str = "f790f8d";

/// The proto only grows: it is compared with every earlier version of it
/// in the history since the first contract, so no change ever removes or
/// renames what a client of any earlier main uses.
fn buf_breaking() -> Result<(), Failed> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let range = match git(&["rev-parse", "--verify", "--quiet", FIRST_CONTRACT]) {
        Some(_) => format!("{FIRST_CONTRACT}^..HEAD"),
        // A shallow clone: every earlier version it holds.
        None => "HEAD".to_owned(),
    };
    let versions = git(&["log", "--format=%H", &range, "--", "proto"])
        .ok_or_else(|| Failed("git log of proto/ failed".into()))?;
    let versions: Vec<&str> = versions.lines().collect();
    if versions.is_empty() {
        return Err(Failed("no earlier version of proto/ in the history".into()));
    }
    for commit in versions {
        Cmd::new(root().join("node_modules/.bin/buf"))
            .arg("breaking")
            .arg("--against")
            .arg(format!(".git#ref={commit},depth=1000"))
            .run()?;
    }
    Ok(())
}

/// A client nobody here wrote: Python's grpcio against a real server.
fn python_client() -> Result<(), Failed> {
    let python = install::python_venv()?;
    Cmd::new("cargo")
        .args(["build", "-p", "selki-server"])
        .run()?;
    Cmd::new(python)
        .arg("tests/python/client_test.py")
        .arg(root().join("target/debug/selki-server"))
        .run()
}

/// Runs the README's quick-start block exactly as written (its own
/// database under target/, so a developer's ./selki.db is left alone), then
/// checks that a delivery arrived verified and shows in calls and stats.
fn quick_start() -> Result<(), Failed> {
    use std::os::unix::process::CommandExt as _;
    let readme = std::fs::read_to_string(root().join("README.md"))
        .map_err(|e| Failed(format!("reading README.md: {e}")))?;
    let block = readme
        .split_once("<!-- quick-start: begin")
        .and_then(|(_, rest)| rest.split_once("<!-- quick-start: end -->"))
        .and_then(|(block, _)| block.split_once("```sh\n"))
        .and_then(|(_, code)| code.rsplit_once("```"))
        .map(|(code, _)| code)
        .ok_or_else(|| Failed("README.md has no quick-start block".into()))?;
    let dir = root().join("target/quick-start");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Failed(format!("{}: {e}", dir.display())))?;
    let log = dir.join("output.log");
    let out = std::fs::File::create(&log).map_err(|e| Failed(format!("{}: {e}", log.display())))?;
    let err = out.try_clone().map_err(|e| Failed(e.to_string()))?;
    eprintln!(
        "$ bash -euo pipefail <README quick start> > {}",
        log.display()
    );
    // Its own process group: the server and receiver it leaves in the
    // background are stopped with it.
    let mut child = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(root())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("selki.db").display()),
        )
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| Failed(format!("bash could not start: {e}")))?;
    let status = child.wait().map_err(|e| Failed(e.to_string()))?;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .status();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("{output}");
    if !status.success() {
        return Err(Failed(format!("the quick start exited with {status}")));
    }
    for expected in [
        "signature ok",
        "200 success",
        "PHISHING_EMAIL_CLICKED",
        "100.0% (1 of 1 calls)",
    ] {
        if !output.contains(expected) {
            return Err(Failed(format!(
                "the quick start's output lacks `{expected}`"
            )));
        }
    }
    Ok(())
}

/// The delivery benchmarks (`selki-bench`): release builds for figures,
/// the debug build for a smoke run that only shows every scenario works.
fn bench(args: Vec<String>) -> Result<(), Failed> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let instructions = args.iter().any(|a| a == "--instructions");
    if instructions {
        install::valgrind()?;
    }
    let (profile, out) = match (smoke, instructions) {
        (true, false) => ("debug", "target/bench-smoke"),
        (true, true) => ("debug", "target/bench-smoke-instructions"),
        (false, false) => ("release", "target/bench"),
        (false, true) => ("release", "target/bench-instructions"),
    };
    let mut build = Cmd::new("cargo").args(["build", "-p", "selki-server", "-p", "selki-bench"]);
    if !smoke {
        build = build.arg("--release");
    }
    build.run()?;
    Cmd::new(root().join("target").join(profile).join("selki-bench"))
        .args(["--out", out])
        .args(args)
        .dir(root())
        .run()
}

fn bench_sdk() -> Result<(), Failed> {
    Cmd::new("cargo")
        .args(["bench", "-p", "selki-webhooks", "--bench", "verify"])
        .run()?;
    Cmd::new("node")
        .arg("bench/verify.mjs")
        .dir(root().join("sdk-wasm"))
        .run()
}

fn step(name: &str, f: impl FnOnce() -> Result<(), Failed>) -> Result<(), Failed> {
    eprintln!("\nxtask: ── {name} ──");
    let started = std::time::Instant::now();
    f().map_err(|Failed(why)| Failed(format!("{name} failed: {why}")))?;
    eprintln!("xtask: {name} done in {:.0?}", started.elapsed());
    Ok(())
}
