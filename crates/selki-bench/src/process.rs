//! The server under test as a child process, and what /proc says about
//! it and about PostgreSQL: CPU seconds and peak memory.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use selki_testkit::ServerProcess;

pub(crate) const ADMIN_KEY: &str = "bench-admin-key-0123456789abcdef";
const SECRET_KEYS: &str = "b1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
/// Linux reports CPU time in USER_HZ ticks, 100 per second on every
/// architecture the kernel builds for today.
const TICKS_PER_SECOND: f64 = 100.0;

/// `--role` of the server: `api` accepts events without delivering them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    All,
    Api,
    /// Delivers only: no gRPC address.
    Worker,
}

/// A running `selki-server` (selki-testkit's process); killed when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    process: ServerProcess,
    pub(crate) addr: String,
    pub(crate) metrics_addr: String,
}

impl Server {
    pub(crate) fn start(
        binary: &Path,
        extra: &[String],
        database_url: &str,
        role: Role,
    ) -> anyhow::Result<Self> {
        Self::start_under(&[], binary, extra, database_url, role)
    }

    /// Run by `wrapper` (e.g. valgrind and its flags), when not empty.
    pub(crate) fn start_under(
        wrapper: &[String],
        binary: &Path,
        extra: &[String],
        database_url: &str,
        role: Role,
    ) -> anyhow::Result<Self> {
        let role = match role {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        };
        let mut command = match wrapper.split_first() {
            Some((program, flags)) => {
                let mut command = Command::new(program);
                command.args(flags).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(["--role", role, "--log", "warn"])
            .args(["--allow-http-endpoints", "true"])
            .args(["--allow-destinations", "127.0.0.0/8"])
            .args(extra)
            .env("DATABASE_URL", database_url)
            .env("SELKI_ADMIN_KEY", ADMIN_KEY)
            .env("SELKI_SECRET_KEYS", SECRET_KEYS);
        let process = ServerProcess::start(command)
            .map_err(|e| anyhow::anyhow!("starting {}: {e}", binary.display()))?;
        Ok(Self {
            addr: match role {
                "worker" => String::new(),
                _ => process.addr.clone().context("no gRPC address")?,
            },
            metrics_addr: process.metrics.clone().context("no metrics address")?,
            process,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.process.id()
    }

    /// User plus system CPU seconds the server has used so far.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid()).unwrap_or(0.0)
    }

    /// The most resident memory the server has held (VmHWM), in bytes.
    pub(crate) fn peak_rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Stops the server gracefully (SIGTERM) and waits for it to exit.
    pub(crate) fn terminate(mut self) {
        self.process.terminate();
    }

    /// Stops the server at once: accepted events are already durable.
    pub(crate) fn stop(mut self) {
        self.process.kill();
    }
}

/// utime + stime, plus the time of waited-for children (for PostgreSQL's
/// postmaster that is every backend that has exited).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is
    // field 3, utime 14, stime 15, cutime 16, cstime 17.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..15)?
        .iter()
        .filter_map(|f| f.parse::<f64>().ok())
        .sum();
    Some(ticks / TICKS_PER_SECOND)
}

/// CPU seconds of this process (load generators and receiver).
pub(crate) fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// CPU seconds of every `postgres` process on the machine, so far.
pub(crate) fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(cpu_seconds)
        .sum()
}

/// One scrape of the server's Prometheus endpoint: the `_sum` and
/// `_count` of the histogram `name` (zero while it has no samples).
pub(crate) async fn histogram_totals(metrics_addr: &str, name: &str) -> anyhow::Result<(f64, f64)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(metrics_addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    let value = |suffix: &str| {
        let sample = format!("{name}{suffix} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&sample))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok((value("_sum"), value("_count")))
}
