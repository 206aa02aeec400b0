//! `selki-bench`: the performance harness of issue 5. Starts a release
//! `selki-server` on PostgreSQL and then on SQLite, a loopback receiver that
//! verifies every signature, and load generators over real gRPC; prints one
//! row per scenario and writes `results.json` and `results.md`.
//!
//! Run it with `cargo xtask bench` (full, minutes) or `cargo xtask bench
//! --smoke` (seconds, what CI runs).

mod callgrind;
mod load;
mod pgbench;
mod process;
mod receiver;
mod report;
mod scale_out;
mod scenarios;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use selki_testkit::Db;

use report::Row;
use scenarios::{Bench, Sizes};

/// The load generators and the receiver should cost as little CPU as
/// possible: they share the machine with what they measure.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "Selki Webhooks performance harness")]
struct Args {
    /// The selki-server binary [default: the one beside this binary].
    #[arg(long)]
    server: Option<PathBuf>,
    /// Where results.json and results.md go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Tiny sizes: checks that every scenario runs, measures nothing.
    #[arg(long)]
    smoke: bool,
    /// Stores to run on.
    #[arg(long, value_delimiter = ',', default_value = "postgres,sqlite")]
    stores: Vec<String>,
    /// An extra selki-server flag for every server started, e.g.
    /// `--server-arg=--worker-per-webhook=64` (repeat for more).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Scenarios to run (1-12) [default: all but 12].
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<u8>,
    /// Scenario 12 only: the server's instructions per delivery under
    /// callgrind (PostgreSQL), a figure the machine's noise does not move.
    #[arg(long)]
    instructions: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = match args.server {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("selki-server"),
    };
    anyhow::ensure!(
        server.exists(),
        "no selki-server at {} (build it, or pass --server)",
        server.display()
    );
    let sizes = if args.smoke {
        Sizes::smoke()
    } else {
        Sizes::full()
    };
    let scenarios = match args.instructions {
        true => vec![12],
        false => args.scenarios.clone(),
    };
    // Scenario 12 runs when asked for: valgrind makes it slow.
    let wanted = |n: u8| (scenarios.is_empty() && n != 12) || scenarios.contains(&n);
    let machine = machine();
    println!("{machine}\n\n{}", report::HEADER);
    let mut rows = Vec::new();
    let mut ceiling = None;
    if wanted(9) {
        let row = pgbench::ceiling(sizes.pgbench_for)
            .await
            .unwrap_or_else(|e| {
                Row::new("9", "pgbench", "postgres").note(format!("failed: {e:#}"))
            });
        ceiling = row.figures.first().map(|f| f.value);
        rows.push(show(row));
    }
    for store in &args.stores {
        let db = match store.as_str() {
            "postgres" => Db::Postgres,
            "sqlite" => Db::Sqlite,
            other => anyhow::bail!("unknown store {other:?} (postgres or sqlite)"),
        };
        let mut bench = Bench {
            server: server.clone(),
            server_args: args.server_args.clone(),
            sizes: sizes.clone(),
            db,
            baseline: None,
        };
        let callgrind_out = args.out.join("callgrind");
        run_store(&mut bench, &wanted, &callgrind_out, &mut |mut row| {
            if args.smoke {
                // Toy sizes say nothing about the targets.
                row.met = None;
            }
            rows.push(show(with_ratio(row, ceiling)));
        })
        .await;
    }
    report::write(&args.out, &rows, &machine)
        .with_context(|| format!("writing results to {}", args.out.display()))?;
    println!(
        "\nwritten: {0}/results.json, {0}/results.md",
        args.out.display()
    );
    let failed: Vec<&Row> = rows
        .iter()
        .filter(|r| r.note.starts_with("failed"))
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "{} scenario(s) failed to run",
        failed.len()
    );
    Ok(())
}

/// Runs the wanted scenarios on one store, handing each row on as soon as
/// it is measured.
async fn run_store(
    bench: &mut Bench,
    wanted: &impl Fn(u8) -> bool,
    callgrind_out: &std::path::Path,
    out: &mut impl FnMut(Row),
) {
    let store = bench.store();
    let failed = |scenario: &'static str, err: anyhow::Error| {
        Row::new(scenario, "—", store).note(format!("failed: {err:#}"))
    };
    if wanted(1) || wanted(2) {
        match bench.ingestion().await {
            Ok(rows) => rows.into_iter().for_each(&mut *out),
            Err(e) => out(failed("1-2", e)),
        }
    }
    if wanted(3) || wanted(8) || wanted(6) {
        match bench.end_to_end().await {
            Ok(rows) => rows.into_iter().for_each(&mut *out),
            Err(e) => out(failed("3", e)),
        }
    }
    if wanted(4) {
        for webhooks in [10, 100] {
            out(bench
                .fan_out(webhooks)
                .await
                .unwrap_or_else(|e| failed("4", e)));
        }
    }
    if wanted(5) {
        for rate in bench.sizes.rates.clone() {
            out(bench.latency(rate).await.unwrap_or_else(|e| failed("5", e)));
        }
    }
    if wanted(6) {
        out(bench
            .head_of_line()
            .await
            .unwrap_or_else(|e| failed("6", e)));
    }
    if wanted(7) {
        out(bench.backlog().await.unwrap_or_else(|e| failed("7", e)));
    }
    if wanted(10) && bench.store() == "postgres" {
        for kill_one in [false, true] {
            out(bench
                .scale_out(kill_one)
                .await
                .unwrap_or_else(|e| failed("10", e)));
        }
    }
    if wanted(11) && bench.store() == "postgres" {
        match bench.aged(bench.sizes.aged).await {
            Ok(rows) => rows.into_iter().for_each(&mut *out),
            Err(e) => out(failed("11", e)),
        }
    }
    if wanted(12) && bench.store() == "postgres" {
        out(bench
            .instructions(callgrind_out)
            .await
            .unwrap_or_else(|e| failed("12", e)));
    }
}

fn show(row: Row) -> Row {
    println!("{}", row.markdown());
    row
}

/// Rates are also given as a share of the pgbench ceiling.
fn with_ratio(mut row: Row, ceiling: Option<f64>) -> Row {
    if let (Some(ceiling), Some(first)) = (ceiling, row.figures.first())
        && first.name.ends_with("/s")
    {
        row.vs_ceiling = Some(first.value / ceiling);
    }
    row
}

/// CPU, cores, memory and PostgreSQL version, for the report's header.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024 / 1024);
    let postgres =
        pgbench::psql("postgres", "SHOW server_version").unwrap_or_else(|_| "not reachable".into());
    format!("Machine: {model}, {cores} cores, {memory_gib} GiB; PostgreSQL {postgres}")
}
