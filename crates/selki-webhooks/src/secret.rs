//! Signing secrets: `whsec_` followed by the base64 of 24 to 64 random bytes.
//!
//! The HMAC key is the decoded bytes, as in Standard Webhooks, so any Standard
//! Webhooks library given the same `whsec_…` string computes the same signature.

use std::fmt;

use base64::Engine as _;

use crate::base64::BASE64;

/// Every secret starts with this prefix.
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest random bytes a secret may hold (192 bits).
pub const MIN_SECRET_BYTES: usize = 24;
/// Most random bytes a secret may hold (one SHA-256 block).
pub const MAX_SECRET_BYTES: usize = 64;

/// A webhook signing secret. Its bytes never appear in `Debug` output or errors.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
}

/// Why a string or byte slice is not a usable signing secret.
///
/// Messages describe the problem without echoing any part of the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error(
        "a signing secret must start with `whsec_` followed by base64 of 24 to 64 random bytes \
         (for example `whsec_` + the output of `openssl rand -base64 32`); this one has no `whsec_` prefix"
    )]
    MissingPrefix,
    #[error("the part of the signing secret after `whsec_` is not valid base64")]
    InvalidBase64,
    #[error("the signing secret decodes to {len} bytes; it must decode to 24 to 64 bytes")]
    InvalidLength { len: usize },
}

impl SecretError {
    /// A stable, machine-readable code, the same in Rust and JavaScript.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::MissingPrefix => "SECRET_MISSING_PREFIX",
            Self::InvalidBase64 => "SECRET_INVALID_BASE64",
            Self::InvalidLength { .. } => "SECRET_INVALID_LENGTH",
        }
    }
}

impl Secret {
    /// Parses a `whsec_…` string. Surrounding ASCII whitespace (a trailing
    /// newline from an environment file, say) is ignored; nothing else is.
    pub fn parse(secret: &str) -> Result<Self, SecretError> {
        let encoded = secret
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = BASE64
            .decode(encoded)
            .map_err(|_| SecretError::InvalidBase64)?;
        Self::from_bytes(&key)
    }

    /// 32 random bytes, the length a sender generates: always a valid
    /// secret.
    pub fn from_random(bytes: [u8; 32]) -> Self {
        Self {
            key: bytes.to_vec(),
        }
    }

    /// Wraps raw random bytes (the sender generates them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(SecretError::InvalidLength { len: bytes.len() });
        }
        Ok(Self {
            key: bytes.to_vec(),
        })
    }

    /// The `whsec_…` form, for showing the secret to its owner exactly once.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.key))
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = SecretError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
