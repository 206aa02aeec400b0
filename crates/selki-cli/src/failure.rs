//! What went wrong, as a message that says what to do and an exit code
//! that says what kind of trouble it was.

use std::process::ExitCode;

use tonic::Code;
use tonic_types::StatusExt as _;

/// Exit codes, listed in `selki --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Failed = 1,
    Usage = 2,
    NotFound = 3,
    Auth = 4,
    Refused = 5,
    Unreachable = 6,
}

#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

pub(crate) type Outcome<T = ()> = Result<T, Failure>;

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub(crate) fn code(&self) -> ExitCode {
        ExitCode::from(self.exit as u8)
    }
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument => {
                let violations = status
                    .get_details_bad_request()
                    .map(|b| b.field_violations)
                    .unwrap_or_default();
                let mut text = String::from("the server refused the request:");
                if violations.is_empty() {
                    text.push_str(&format!(" {message}"));
                }
                for v in violations {
                    text.push_str(&format!("\n  {}: {}", v.field, v.description));
                }
                Self::new(Exit::Refused, text)
            }
            Code::NotFound => Self::new(Exit::NotFound, message),
            Code::Unauthenticated => Self::new(
                Exit::Auth,
                format!("{message}: give a valid API key with --api-key or SELKI_API_KEY"),
            ),
            Code::PermissionDenied => Self::new(
                Exit::Auth,
                format!(
                    "{message}: this API key may not do that (its scope is narrower, or the \
                     organization is not its own)"
                ),
            ),
            Code::AlreadyExists | Code::FailedPrecondition => Self::new(Exit::Refused, message),
            Code::Unavailable => Self::new(
                Exit::Unreachable,
                format!("the server is unavailable: {message}"),
            ),
            _ => Self::new(Exit::Failed, format!("the server failed: {message}")),
        }
    }
}
