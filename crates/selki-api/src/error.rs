//! The one conversion from what went wrong to a gRPC status: the full
//! cause chain goes to the log, a stable code and a safe message to the
//! client.

use selki_storage::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Field violations of one request, collected before answering, and how
/// many more there were: what parsing a request fails with.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<(String, String)>, usize);

/// One field violation on its own.
pub(crate) fn invalid(field: impl Into<String>, description: impl Into<String>) -> ApiError {
    let mut v = Violations::default();
    v.add(field, description);
    v.into()
}

/// Violations a status carries at most.
const MAX_VIOLATIONS: usize = 50;

impl Violations {
    /// Records a violation. Past [`MAX_VIOLATIONS`] only the count grows:
    /// every one travels in the status's headers, which are bounded.
    pub(crate) fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.0.len() < MAX_VIOLATIONS {
            self.0.push((field.into(), description.into()));
        } else {
            self.1 += 1;
        }
    }

    /// Keeps a parsed value, or records why the field is invalid.
    pub(crate) fn check<T, E: std::fmt::Display>(
        &mut self,
        field: impl Into<String>,
        parsed: Result<T, E>,
    ) -> Option<T> {
        parsed.map_err(|e| self.add(field, e.to_string())).ok()
    }

    /// Records a violation of an optional field's parse; `Some(None)` when
    /// it was not given.
    pub(crate) fn check_opt<T, E: std::fmt::Display>(
        &mut self,
        field: impl Into<String>,
        parsed: Option<Result<T, E>>,
    ) -> Option<Option<T>> {
        match parsed {
            None => Some(None),
            Some(result) => self.check(field, result).map(Some),
        }
    }

    /// The parsed request when nothing was violated: `build` assembles it
    /// from the parsed fields (each `?` is a field that failed, and so has
    /// its violation recorded).
    pub(crate) fn build<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Self> {
        match build() {
            Some(parsed) if self.0.is_empty() => Ok(parsed),
            _ => Err(self),
        }
    }

    /// These violations as found inside a message at `field` (`events[3]`).
    pub(crate) fn within(self, field: &str) -> Self {
        let Self(violations, more) = self;
        let nested = violations
            .into_iter()
            .map(|(f, d)| (format!("{field}.{f}"), d))
            .collect();
        Self(nested, more)
    }

    /// Adds another message's violations.
    pub(crate) fn extend(&mut self, other: Self) {
        let Self(violations, more) = other;
        for (field, description) in violations {
            self.add(field, description);
        }
        self.1 += more;
    }
}

impl From<Violations> for ApiError {
    fn from(Violations(mut violations, more): Violations) -> Self {
        if more > 0 {
            violations.push(("".into(), format!("and {more} more violations")));
        }
        if violations.is_empty() {
            // Only if a parse forgot to record why a field failed.
            violations.push(("".into(), "the request could not be parsed".into()));
        }
        ApiError::Invalid(violations)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {}", .0.iter().map(|(f, d)| format!("{f}: {d}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    PermissionDenied(&'static str),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("storage failed")]
    Store(#[from] StoreError),
    /// A manual or test call was made, but recording it failed: the
    /// receiver got it, Recent Calls will not show it.
    #[error("the call was made ({made}) but could not be recorded")]
    CallNotRecorded {
        made: String,
        #[source]
        cause: StoreError,
    },
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Invalid(violations) => {
                let summary = ApiError::Invalid(violations.clone()).to_string();
                let mut details = ErrorDetails::new();
                for (field, description) in violations {
                    details.add_bad_request_violation(field, description);
                }
                Status::with_error_details(Code::InvalidArgument, summary, details)
            }
            ApiError::NotFound(message) => Status::not_found(message),
            ApiError::Unauthenticated(message) => Status::unauthenticated(message),
            ApiError::PermissionDenied(message) => Status::permission_denied(message),
            ApiError::AlreadyExists(message) => Status::already_exists(message),
            ApiError::FailedPrecondition(message) => Status::failed_precondition(message),
            ApiError::ResourceExhausted(message) => Status::resource_exhausted(message),
            ApiError::Store(err) => store_status(&err),
            ApiError::CallNotRecorded { made, cause } => {
                tracing::error!(error = %chain(&cause), call = %made, "a manual call was made but not recorded");
                let message = format!(
                    "the call was made ({made}) but could not be recorded, so Recent Calls will \
                     not show it; retrying sends it again"
                );
                if cause.is_transient() {
                    Status::unavailable(message)
                } else {
                    Status::internal(message)
                }
            }
        }
    }
}

fn store_status(err: &StoreError) -> Status {
    tracing::error!(error = %chain(err), "storage call failed");
    match err {
        StoreError::Unavailable(_) | StoreError::Migrate(_) | StoreError::Closed => {
            Status::unavailable("the database is unavailable; nothing was written, retry later")
        }
        StoreError::CommitUnknown(_) => Status::unavailable(
            "the database connection failed while committing: the change may or may not be \
             stored; check before retrying (a submission retried with the same client_event_id \
             is stored once)",
        ),
        StoreError::ClientEventIdConflict {
            client_event_id, ..
        } => Status::already_exists(format!(
            "client_event_id `{client_event_id}` was already used for a different event"
        )),
        StoreError::TooManyWebhooks { organization, max } => Status::resource_exhausted(format!(
            "organization `{organization}` has {max} webhooks, the most this server allows; \
             delete one first"
        )),
        StoreError::RequestIdUsed => Status::already_exists(
            "request_id was used by a webhook since deleted: use a new request id",
        ),
        StoreError::TooManyDeliveries { deliveries, max } => Status::invalid_argument(format!(
            "the submission would create {deliveries} deliveries, more than the {max} one may"
        )),
        StoreError::Refused(_)
        | StoreError::Unopenable(_)
        | StoreError::Corrupt(_)
        | StoreError::SoleWorker(_) => {
            Status::internal("internal error; the server log has the details")
        }
    }
}

/// `outer: inner: innermost`, for the log.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
