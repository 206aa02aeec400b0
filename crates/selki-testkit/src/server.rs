//! A `selki-server` process (or any command wrapping one), started and
//! waited for until its banner says where it listens; killed with its
//! whole process group when dropped. The server tests, the CLI tests and
//! the benchmark harness all start servers through this.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a server prints on standard output once it listens.
const LISTENING: &str = "selki-server listening on ";
const METRICS: &str = "selki-server metrics on ";
/// What a server without an API prints once it delivers.
const DELIVERING: &str = "selki-server delivering";

/// A running server; SIGKILLed (with its process group) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// The gRPC address, unless it only delivers.
    pub addr: Option<String>,
    /// The Prometheus address, if it serves one.
    pub metrics: Option<String>,
    /// Everything it wrote to standard error so far.
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `command` (whose arguments are the server's) in a process
    /// group of its own, and waits for the banner lines its arguments call
    /// for: the API address unless `--role worker`, the metrics address
    /// with `--metrics-listen`. Its standard error is kept (see
    /// [`ServerProcess::log`]) and echoed with the test's output. Blocks:
    /// call it off an async runtime's threads (`spawn_blocking`).
    pub fn start(mut command: Command) -> Result<Self, String> {
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let api = !args.windows(2).any(|w| w == ["--role", "worker"]);
        let metrics = args.iter().any(|a| a == "--metrics-listen");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{:?} cannot start: {e}", command.get_program()))?;
        let log = Arc::new(Mutex::new(String::new()));
        keep_log(&mut child, log.clone());
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut addr, mut metrics_addr, mut delivering) = (None, None, false);
        while (api && addr.is_none()) || (metrics && metrics_addr.is_none()) || !(api || delivering)
        {
            let Some(Ok(line)) = lines.next() else {
                kill_group(&mut child);
                let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                return Err(format!("the server exited before it was up:\n{log}"));
            };
            if let Some(a) = line.strip_prefix(LISTENING) {
                addr = Some(a.to_owned());
            } else if let Some(a) = line.strip_prefix(METRICS) {
                metrics_addr = Some(a.to_owned());
            } else if line == DELIVERING {
                delivering = true;
            }
        }
        // Keep reading, so that its later lines never hit a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            child,
            addr,
            metrics: metrics_addr,
            log,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until the server logs a line containing `text`.
    pub async fn logged(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not log `{text}` in {within:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, now: no chance to finish anything.
    pub fn kill(&mut self) {
        kill_group(&mut self.child);
    }

    /// SIGTERM (a graceful stop), then its exit status. Blocks.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for the server")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Keeps (and echoes) what the child writes to standard error.
fn keep_log(child: &mut Child, log: Arc<Mutex<String>>) {
    let Some(stderr) = child.stderr.take() else {
        return;
    };
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
}

/// SIGKILLs the child's whole process group: a wrapper such as faketime
/// forks, and killing it alone would leave the server running.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}
