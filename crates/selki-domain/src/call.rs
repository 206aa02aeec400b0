//! How a delivery attempt went: data, not an error.

/// Why a call was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallTrigger {
    Automatic,
    Manual,
    Test,
}

/// How a call ended. Only `Success` counts as delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Success,
    HttpStatus,
    Timeout,
    ConnectError,
    DnsError,
    TlsError,
    BlockedDestination,
    InvalidResponse,
    /// Not sent: the webhook's signing secret cannot be opened.
    SigningUnavailable,
}

macro_rules! names {
    ($t:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $t {
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }

            pub fn parse(name: &str) -> Option<Self> {
                match name { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

names!(CallTrigger { Automatic => "automatic", Manual => "manual", Test => "test" });
names!(CallOutcome {
    Success => "success",
    HttpStatus => "http_status",
    Timeout => "timeout",
    ConnectError => "connect_error",
    DnsError => "dns_error",
    TlsError => "tls_error",
    BlockedDestination => "blocked_destination",
    InvalidResponse => "invalid_response",
    SigningUnavailable => "signing_unavailable",
});
