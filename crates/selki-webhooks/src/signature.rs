//! The Standard Webhooks v1 scheme: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::VerifyError;
use crate::base64::BASE64;

const VERSION: &str = "v1";
const TAG_LEN: usize = 32;

/// An HMAC-SHA256 state with the key already absorbed: cloning it per
/// message saves hashing the key blocks every time.
#[derive(Clone)]
pub(crate) struct Keyed(Hmac<Sha256>);

impl Keyed {
    pub(crate) fn new(key: &[u8]) -> Self {
        // HMAC takes keys of any length, so this cannot fail.
        Self(<Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key"))
    }
}

/// HMAC-SHA256 over the signed content. The timestamp is signed in its
/// canonical decimal form, as every Standard Webhooks library does.
pub(crate) fn tag(key: &Keyed, msg_id: &str, timestamp: i64, body: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = key.0.clone();
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// One signature entry, `v1,<base64>`.
pub(crate) fn encode(tag: &[u8; TAG_LEN]) -> String {
    format!("{VERSION},{}", BASE64.encode(tag))
}

/// Checks a space-separated signature list against the expected tag.
///
/// Entries of other versions are skipped. When nothing matches, the error is
/// the most telling one: a mismatch if any entry was well formed, else the
/// first malformed entry's problem, else "no v1 signature at all".
pub(crate) fn check_list(list: &str, expected: &[u8; TAG_LEN]) -> Result<(), VerifyError> {
    let mut first_malformed = None;
    let mut saw_well_formed = false;
    for entry in list.split_ascii_whitespace() {
        let Some((VERSION, encoded)) = entry.split_once(',') else {
            continue;
        };
        match decode(encoded) {
            Ok(candidate) => {
                saw_well_formed = true;
                if bool::from(candidate.ct_eq(expected)) {
                    return Ok(());
                }
            }
            Err(err) => {
                first_malformed.get_or_insert(err);
            }
        }
    }
    Err(match (saw_well_formed, first_malformed) {
        (true, _) => VerifyError::SignatureMismatch,
        (false, Some(err)) => err,
        (false, None) => VerifyError::NoSupportedSignature,
    })
}

fn decode(encoded: &str) -> Result<[u8; TAG_LEN], VerifyError> {
    if encoded.is_empty() {
        return Err(VerifyError::EmptySignature);
    }
    // Room for more than a tag so that a long signature is reported as such.
    let mut buf = [0u8; 2 * TAG_LEN];
    let len = BASE64
        .decode_slice(encoded, &mut buf)
        .map_err(|err| match err {
            base64::DecodeSliceError::OutputSliceTooSmall => VerifyError::InvalidSignatureLength {
                len: encoded.trim_end_matches('=').len() * 3 / 4,
            },
            base64::DecodeSliceError::DecodeError(_) => VerifyError::InvalidSignatureEncoding,
        })?;
    buf[..len]
        .try_into()
        .map_err(|_| VerifyError::InvalidSignatureLength { len })
}
