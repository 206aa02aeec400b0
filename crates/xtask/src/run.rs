//! Running commands loudly, failing with what was run.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A step that did not succeed, with a line saying why.
#[derive(Debug)]
pub(crate) struct Failed(pub(crate) String);

#[derive(Debug)]
pub(crate) struct Cmd {
    inner: Command,
    shown: String,
}

impl Cmd {
    pub(crate) fn new(program: impl AsRef<OsStr>) -> Self {
        let mut inner = Command::new(program.as_ref());
        inner.current_dir(crate::root());
        Self {
            shown: program.as_ref().to_string_lossy().into_owned(),
            inner,
        }
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.shown.push(' ');
        self.shown.push_str(&arg.as_ref().to_string_lossy());
        self.inner.arg(arg);
        self
    }

    pub(crate) fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.inner.env(key, value);
        self
    }

    pub(crate) fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.inner.current_dir(dir);
        self
    }

    /// Runs with inherited output; a non-zero exit is a failure.
    pub(crate) fn run(mut self) -> Result<(), Failed> {
        eprintln!("$ {}", self.shown);
        let status = self
            .inner
            .status()
            .map_err(|e| Failed(format!("`{}` could not start: {e}", self.shown)))?;
        if status.success() {
            Ok(())
        } else {
            Err(Failed(format!("`{}` exited with {status}", self.shown)))
        }
    }

    /// Runs quietly and returns stdout, or `None` if it failed or is absent.
    pub(crate) fn output(mut self) -> Option<String> {
        let out = self.inner.output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Is `program` on PATH?
pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}
