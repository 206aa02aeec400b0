//! Prefixed, time-sortable ids: `wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3H`.

use std::fmt;
use std::str::FromStr;

use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use ulid::{Generator, Ulid};

use crate::UnixMs;

/// Ids made by this process sort in the order they were made, even within
/// one millisecond: the random part counts up. (Across processes, order
/// holds to the millisecond.) Process-wide by nature, hence a static; the
/// time comes from the caller's clock.
static GENERATOR: Mutex<(Generator, u64)> = Mutex::new((Generator::new(), 0));

/// A clock that stepped back further than this starts the ids again from
/// its time: an id's time says which day's partition holds its row, so it
/// must not stay ahead of the clock for long.
const STEP_BACK_MS: u64 = 1_000;

fn next_ulid(now: UnixMs) -> Ulid {
    let mut guard = GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (generator, last_ms) = &mut *guard;
    let ms = now.as_millis().max(0).cast_unsigned();
    if *last_ms > ms + STEP_BACK_MS {
        *generator = Generator::new();
    }
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    // Overflow needs 2^80 ids in one millisecond; then fresh randomness.
    let id = generator
        .generate_from_datetime(at)
        .unwrap_or_else(|overflow| overflow.commit_overflow_random());
    *last_ms = id.timestamp_ms();
    id
}

/// The text is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a {kind} id (`{prefix}_` followed by 26 base32 characters)")]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub text: String,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id made at `now` (the caller's clock), sorting after
            /// every id this process made before it.
            pub fn at(now: UnixMs) -> Self {
                Self(next_ulid(now))
            }

            /// The smallest id of a millisecond: ids made at or after
            /// `time` sort at or after it (a time range as an id range).
            pub fn first_at(time: UnixMs) -> Self {
                let ms = time.as_millis().clamp(0, (1 << 48) - 1).cast_unsigned();
                Self(Ulid::from_parts(ms, 0))
            }

            pub fn parse(text: &str) -> Result<Self, IdError> {
                let error = || IdError { kind: $kind, prefix: $prefix, text: text.chars().take(64).collect() };
                let rest = text
                    .strip_prefix($prefix)
                    .and_then(|r| r.strip_prefix('_'))
                    .ok_or_else(error)?;
                if rest.len() != 26 {
                    return Err(error());
                }
                Ulid::from_string(rest).map(Self).map_err(|_| error())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

prefixed_id!(
    /// A webhook, `wh_…`.
    WebhookId, "wh", "webhook"
);
prefixed_id!(
    /// An accepted event, `evt_…`.
    EventId, "evt", "event"
);
prefixed_id!(
    /// One event's delivery to one webhook, `dlv_…`.
    DeliveryId, "dlv", "delivery"
);
prefixed_id!(
    /// One HTTP attempt, `call_…`.
    CallId, "call", "call"
);
prefixed_id!(
    /// An API key (its public part), `key_…`.
    ApiKeyId, "key", "API key"
);

/// A Selki customer, as Selki names it: 1 to 64 letters, digits, `-` or `_`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganizationId(String);

impl OrganizationId {
    pub fn parse(text: &str) -> Result<Self, crate::Invalid> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(crate::Invalid::new(
                "must be 1 to 64 characters, each a letter, digit, `-` or `_`",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrganizationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrganizationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "org:{}", self.0)
    }
}
