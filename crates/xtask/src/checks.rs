//! The invariants ARCHITECTURE.md states that the dependency graph does
//! not enforce by itself, checked by reading the sources: each check lists
//! what breaks it as `file:line: why`.

use std::path::{Path, PathBuf};

use crate::run::Failed;

/// The crates of the server, which share one clock, one SQL crate and one
/// delivery vocabulary.
const SERVER_CRATES: [&str; 5] = [
    "selki-domain",
    "selki-storage",
    "selki-delivery",
    "selki-api",
    "selki-server",
];

/// Our crates each may depend on (the layering: no arrow points up).
const LAYERS: [(&str, &[&str]); 10] = [
    ("selki-webhooks", &[]),
    ("selki-webhooks-wasm", &["selki-webhooks"]),
    ("selki-proto", &[]),
    ("selki-domain", &["selki-webhooks"]),
    ("selki-storage", &["selki-domain", "selki-webhooks"]),
    (
        "selki-delivery",
        &["selki-domain", "selki-storage", "selki-webhooks"],
    ),
    (
        "selki-api",
        &[
            "selki-domain",
            "selki-storage",
            "selki-delivery",
            "selki-proto",
            "selki-webhooks",
        ],
    ),
    (
        "selki-server",
        &[
            "selki-domain",
            "selki-storage",
            "selki-delivery",
            "selki-api",
            "selki-proto",
            "selki-webhooks",
        ],
    ),
    ("selki-cli", &["selki-proto", "selki-webhooks"]),
    ("selki-bench", &["selki-proto", "selki-webhooks"]),
];

/// One check: what breaks its invariant, as `file:line: why`.
type Check = fn(&Path) -> Vec<String>;

/// Runs every check; fails listing every violation.
pub(crate) fn invariants() -> Result<(), Failed> {
    let root = crate::root();
    let checks: [(&str, Check); 10] = [
        ("our crates depend only downwards", layering),
        ("SQL only in selki-storage", sql_outside_storage),
        (
            "delivery statuses spelled only in their modules",
            status_literals,
        ),
        ("the server reads the clock only through Clock", clock_reads),
        ("anyhow only in binaries", anyhow_in_libraries),
        ("header names only from selki-webhooks", header_literals),
        ("no parse asserted on a request path", asserted_parses),
        ("no unit test where tests never run", hidden_tests),
        (
            "the npm package's entries read no file beside them",
            npm_entries_read_nothing,
        ),
        (
            "vendor/sqlx-core matches the sqlx in Cargo.lock",
            vendored_sqlx,
        ),
    ];
    let mut broken = Vec::new();
    for (name, check) in checks {
        let found = check(&root);
        eprintln!(
            "  {name}: {}",
            if found.is_empty() { "ok" } else { "BROKEN" }
        );
        broken.extend(found.into_iter().map(|f| format!("{name}: {f}")));
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(Failed(format!(
            "{} invariant violation(s):\n{}",
            broken.len(),
            broken.join("\n")
        )))
    }
}

fn layering(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (krate, allowed) in LAYERS {
        let manifest = root.join("crates").join(krate).join("Cargo.toml");
        let text = read(&manifest);
        // Dependencies proper: dev-dependencies (tests) may reach further.
        let deps = section(&text, "[dependencies]");
        for line in deps.lines() {
            let Some(name) = line.split(['.', ' ', '=']).next() else {
                continue;
            };
            if name.starts_with("selki-") && name != "selki-testkit" && !allowed.contains(&name) {
                found.push(format!("{krate} depends on {name}"));
            }
        }
    }
    found
}

fn sql_outside_storage(root: &Path) -> Vec<String> {
    let crates = [
        "selki-domain",
        "selki-delivery",
        "selki-api",
        "selki-server",
        "selki-cli",
        "selki-webhooks",
        "selki-webhooks-wasm",
        "selki-proto",
    ];
    grep(root, &sources(root, &crates), |line| {
        let sql = line.contains("INSERT INTO ")
            || line.contains("DELETE FROM ")
            || (line.contains("SELECT ") && line.contains(" FROM "))
            || (line.contains("UPDATE ") && line.contains(" SET "));
        sql.then_some("SQL")
    })
}

/// `'pending'` (SQL) only in the storage's `sql.rs`; `"pending"` only in
/// the domain's `delivery.rs`.
fn status_literals(root: &Path) -> Vec<String> {
    const STATUSES: [&str; 5] = ["pending", "succeeded", "failed", "skipped", "cancelled"];
    let sql_home = root.join("crates/selki-storage/src/sql.rs");
    let rust_home = root.join("crates/selki-domain/src/delivery.rs");
    let files: Vec<PathBuf> = sources(root, &SERVER_CRATES)
        .into_iter()
        .filter(|f| *f != sql_home && *f != rust_home)
        .collect();
    grep(root, &files, |line| {
        STATUSES.iter().find_map(|s| {
            (line.contains(&format!("'{s}'")) || line.contains(&format!("\"{s}\"")))
                .then_some("a delivery status spelled out")
        })
    })
}

fn clock_reads(root: &Path) -> Vec<String> {
    let home = root.join("crates/selki-domain/src/time.rs");
    let sdk_home = root.join("crates/selki-webhooks/src/clock.rs");
    let mut crates = SERVER_CRATES.to_vec();
    crates.push("selki-webhooks");
    let files: Vec<PathBuf> = sources(root, &crates)
        .into_iter()
        .filter(|f| *f != home && *f != sdk_home)
        .collect();
    grep(root, &files, |line| {
        ["SystemTime::now", "now_utc()", "Ulid::new()", "Utc::now"]
            .iter()
            .find(|p| line.contains(*p))
            .map(|_| "reads the system clock")
    })
}

fn anyhow_in_libraries(root: &Path) -> Vec<String> {
    crates(root)
        .into_iter()
        .filter(|c| c.join("src/lib.rs").exists())
        .filter(|c| section(&read(&c.join("Cargo.toml")), "[dependencies]").contains("anyhow"))
        .map(|c| format!("{} (a library) depends on anyhow", name(&c)))
        .collect()
}

fn header_literals(root: &Path) -> Vec<String> {
    let names = [
        "selki-webhook-id",
        "selki-webhook-call-id",
        "selki-event-id",
        "selki-timestamp",
        "selki-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    ];
    let others: Vec<String> = crates(root)
        .iter()
        .map(|c| name(c))
        .filter(|n| n != "selki-webhooks" && n != "xtask")
        .collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    grep(root, &sources(root, &others), |line| {
        let lower = line.to_ascii_lowercase();
        names
            .iter()
            .any(|n| lower.contains(&format!("\"{n}\"")))
            .then_some("a header name spelled out")
    })
}

fn asserted_parses(root: &Path) -> Vec<String> {
    grep(root, &sources(root, &["selki-api"]), |line| {
        (line.contains("unreachable!(") || line.contains(".expect(\"parsed\")"))
            .then_some("asserts a parse")
    })
}

/// Server bundlers move a package's files and CommonJS has no
/// `import.meta`: the npm package's hand-written entries load the module
/// only from what they import (wasm-bindgen's glue is checked as it is
/// built, in `cargo xtask wasm`).
fn npm_entries_read_nothing(root: &Path) -> Vec<String> {
    let entries = [
        "index.cjs",
        "index.mjs",
        "edge.mjs",
        "web.cjs",
        "web.mjs",
        "lib/api.cjs",
    ];
    let files: Vec<PathBuf> = entries
        .iter()
        .map(|e| root.join("sdk-wasm").join(e))
        .collect();
    grep(root, &files, |line| {
        [
            "import.meta",
            "__dirname",
            "__filename",
            "readFileSync",
            "fetch(",
        ]
        .iter()
        .any(|bad| line.contains(bad))
        .then_some("finds the module beside the script")
    })
}

/// A crate whose `[lib]` has `test = false` must hold no `#[cfg(test)]`.
fn hidden_tests(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for krate in crates(root) {
        let lib = section(&read(&krate.join("Cargo.toml")), "[lib]");
        if !lib.lines().any(|l| l.trim() == "test = false") {
            continue;
        }
        let files = sources(root, &[name(&krate).as_str()]);
        found.extend(grep(root, &files, |line| {
            line.contains("#[cfg(test)]")
                .then_some("a unit test in a crate whose lib tests never run")
        }));
    }
    found
}

/// The vendored sqlx-core must be the version the lock file resolves sqlx
/// to, and must still be what the lock file uses (a path, not crates.io).
fn vendored_sqlx(root: &Path) -> Vec<String> {
    let vendored = package_version(&read(&root.join("vendor/sqlx-core/Cargo.toml")));
    let lock = read(&root.join("Cargo.lock"));
    let locked = |name: &str| {
        lock.split("[[package]]")
            .find(|p| p.contains(&format!("\nname = \"{name}\"\n")))
            .map(str::to_owned)
    };
    let mut found = Vec::new();
    match (locked("sqlx"), locked("sqlx-core")) {
        (Some(sqlx), Some(core)) => {
            if package_version(&sqlx) != vendored {
                found.push(format!(
                    "sqlx is {:?} but vendor/sqlx-core is {vendored:?}: re-vendor the published \
                     sqlx-core of that version with the TCP_NODELAY line (vendor/README.md), or \
                     drop the patch if that release sets it",
                    package_version(&sqlx)
                ));
            }
            if core.contains("source = ") {
                found.push("sqlx-core comes from crates.io: the [patch] is not applied".into());
            }
        }
        _ => found.push("Cargo.lock has no sqlx or sqlx-core".into()),
    }
    let socket = read(&root.join("vendor/sqlx-core/src/net/socket/mod.rs"));
    if !socket.contains("set_nodelay") {
        found.push("vendor/sqlx-core no longer sets TCP_NODELAY: why vendor it?".into());
    }
    found
}

fn package_version(manifest: &str) -> Option<String> {
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .map(|v| v.trim_end_matches('"').to_owned())
}

/// Every workspace crate's folder.
fn crates(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn name(krate: &Path) -> String {
    krate
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `.rs` files under these crates' `src/` (not their tests).
fn sources(root: &Path, crates: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in crates {
        walk(&root.join("crates").join(krate).join("src"), &mut files);
    }
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `file:line: why` for every line `bad` flags, comments included (a
/// comment quoting a rule is rare and easily reworded).
fn grep(root: &Path, files: &[PathBuf], bad: impl Fn(&str) -> Option<&'static str>) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        for (i, line) in read(file).lines().enumerate() {
            if let Some(why) = bad(line) {
                let shown = file.strip_prefix(root).unwrap_or(file).display();
                found.push(format!("{shown}:{}: {why}: {}", i + 1, line.trim()));
            }
        }
    }
    found
}

/// A TOML section's lines, up to the next section.
fn section(text: &str, header: &str) -> String {
    text.split_once(header)
        .map(|(_, rest)| {
            rest.lines()
                .skip(1)
                .take_while(|l| !l.starts_with('['))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
