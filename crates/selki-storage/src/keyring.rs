//! Signing secrets at rest: XChaCha20-Poly1305 under keys from the
//! configuration. The newest key seals; every listed key still opens, so a
//! key can be rotated and the rows re-sealed later (`Store::reseal_secrets`).

use std::fmt;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const NONCE_LEN: usize = 24;

/// The id of the fixed, publicly known development key.
pub const DEVELOPMENT_KEY_ID: &str = "dev";

/// The keys that seal signing secrets. Never printed.
#[derive(Clone)]
pub struct Keyring {
    /// Newest first: `keys[0]` seals.
    keys: Vec<(String, XChaCha20Poly1305)>,
}

/// A configured key is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "a secret key must be written `ID:BASE64` (ID of letters, digits, `-`, `_`; 32 bytes of key)"
    )]
    Format,
    #[error("secret key `{0}` does not decode to exactly 32 bytes of base64")]
    Length(String),
    #[error("secret key id `{0}` is listed twice")]
    Duplicate(String),
}

/// A sealed secret: which key sealed it, and nonce || ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl Keyring {
    /// Parses `ID:BASE64` entries, newest (sealing) key first.
    pub fn parse(entries: &[String]) -> Result<Self, KeyringError> {
        let mut keys: Vec<(String, XChaCha20Poly1305)> = Vec::new();
        for entry in entries {
            let (id, encoded) = entry.trim().split_once(':').ok_or(KeyringError::Format)?;
            let id_ok = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(KeyringError::Format);
            }
            let key = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(|| KeyringError::Length(id.to_owned()))?;
            if keys.iter().any(|(seen, _)| seen == id) {
                return Err(KeyringError::Duplicate(id.to_owned()));
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&key)
                .map_err(|_| KeyringError::Length(id.to_owned()))?;
            keys.push((id.to_owned(), cipher));
        }
        if keys.is_empty() {
            return Err(KeyringError::Format);
        }
        Ok(Self { keys })
    }

    /// A keyring for development only: a fixed, publicly known key. The
    /// server warns loudly when it runs on this.
    pub fn insecure_development() -> Self {
        Self::parse(&[format!(
            "{DEVELOPMENT_KEY_ID}:{}",
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        )])
        .expect("a valid fixed key")
    }

    /// This keyring, also opening (never sealing) what the development
    /// key sealed: how `reseal-secrets` moves secrets stored in
    /// development onto real keys.
    pub fn also_opening_development_key(mut self) -> Self {
        if !self.opens_with(DEVELOPMENT_KEY_ID) {
            self.keys.extend(Self::insecure_development().keys);
        }
        self
    }

    /// Whether a value sealed with `key_id` can be opened here.
    pub fn opens_with(&self, key_id: &str) -> bool {
        self.keys.iter().any(|(id, _)| id == key_id)
    }

    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `plaintext`, bound to `context` (the webhook id) so a sealed
    /// secret copied to another row does not open.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Sealed {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any length we store");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        Sealed {
            key_id: id.clone(),
            bytes,
        }
    }

    /// Opens a sealed secret; `None` if its key is not configured or it was
    /// tampered with.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Option<Vec<u8>> {
        let (_, cipher) = self.keys.iter().find(|(id, _)| *id == sealed.key_id)?;
        let (nonce, ciphertext) = sealed.bytes.split_at_checked(NONCE_LEN)?;
        let nonce = XNonce::try_from(nonce).ok()?;
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}
