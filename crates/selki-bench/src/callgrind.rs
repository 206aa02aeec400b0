//! Scenario 12's instrument: the server run by valgrind's callgrind with
//! instrumentation off, switched on for the measured workload only, and
//! the instructions it executed (`Ir`) read from callgrind's output. An
//! instruction count does not move with the machine's noise, so a
//! regression shows where timings cannot tell it from an off hour.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// Where callgrind writes, and the flags that run the server under it.
/// Under valgrind SHA-256 runs in software (valgrind offers no SHA-NI),
/// several times the instructions the native code's SHA extensions take:
/// that share is reported on its own (`software_sha256`).
#[derive(Debug)]
pub(crate) struct Callgrind {
    out: PathBuf,
}

impl Callgrind {
    pub(crate) fn new(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let out = dir.join("callgrind.out");
        let _ = std::fs::remove_file(&out);
        Ok(Self { out })
    }

    /// `valgrind` and its flags, to put before the server's command.
    pub(crate) fn wrapper(&self) -> Vec<String> {
        vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            // Uninstrumented until `counting(true)`: start-up, migrations
            // and the warm-up are not counted (and run faster).
            "--instr-atstart=no".into(),
            format!("--callgrind-out-file={}", self.out.display()),
        ]
    }

    /// Switches instrumentation of the process on or off.
    pub(crate) fn counting(pid: u32, on: bool) -> anyhow::Result<()> {
        let state = if on { "on" } else { "off" };
        stdout(Command::new("callgrind_control").args(["-i", state, &pid.to_string()]))?;
        Ok(())
    }

    /// The instructions counted, once the process has exited (callgrind
    /// writes its totals then).
    pub(crate) fn instructions(&self) -> anyhow::Result<u64> {
        let text = std::fs::read_to_string(&self.out)
            .with_context(|| format!("reading {}", self.out.display()))?;
        // `summary:` near the top may say 0; `totals:` closes the file.
        text.lines()
            .rev()
            .find_map(|l| l.strip_prefix("totals:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no totals in {}", self.out.display()))
    }

    /// The instructions spent in the software SHA-256 block function,
    /// which the native server runs with SHA extensions instead.
    pub(crate) fn software_sha256(&self) -> anyhow::Result<u64> {
        let annotated = stdout(
            Command::new("callgrind_annotate")
                .arg("--threshold=100")
                .arg(&self.out),
        )?;
        Ok(annotated
            .lines()
            .filter(|l| l.contains("sha2::sha256::soft::"))
            .filter_map(|l| {
                l.split_whitespace()
                    .next()?
                    .replace(',', "")
                    .parse::<u64>()
                    .ok()
            })
            .sum())
    }
}

/// What a valgrind tool printed, or what it said went wrong.
fn stdout(command: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!("{shown}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
