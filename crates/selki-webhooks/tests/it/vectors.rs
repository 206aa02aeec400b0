//! The language-neutral vectors in tests/vectors/signatures.json, also run by
//! the npm package's tests. Their signatures come from Python's hmac module.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use selki_webhooks::Webhook;
use serde::Deserialize;

const VECTORS: &str = include_str!("../../../../tests/vectors/signatures.json");

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    secret: String,
    headers: BTreeMap<String, String>,
    body: Option<String>,
    body_base64: Option<String>,
    now: i64,
    expect: Expect,
    sign: Option<Sign>,
}

#[derive(Deserialize)]
struct Expect {
    ok: bool,
    subscription: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Sign {
    id: String,
    timestamp: i64,
    signature: String,
}

fn cases() -> Vec<Case> {
    serde_json::from_str::<File>(VECTORS)
        .expect("vector file shape")
        .cases
}

impl Case {
    fn body(&self) -> Vec<u8> {
        match (&self.body, &self.body_base64) {
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(b64)) => STANDARD.decode(b64).expect("body_base64"),
            _ => panic!("{}: exactly one of body and body_base64", self.name),
        }
    }

    /// What the crate says, in the vector file's terms.
    fn outcome(&self) -> Result<String, String> {
        let wh = Webhook::new(&self.secret).map_err(|e| e.code().to_owned())?;
        wh.verify_at(&self.body(), &self.headers, self.now)
            .map(|event| event.data.subscription().to_owned())
            .map_err(|e| e.code().to_owned())
    }

    fn expected(&self) -> Result<String, String> {
        match (&self.expect.subscription, &self.expect.error) {
            (Some(sub), None) if self.expect.ok => Ok(sub.clone()),
            (None, Some(code)) if !self.expect.ok => Err(code.clone()),
            _ => panic!("{}: malformed expectation", self.name),
        }
    }
}

#[test]
fn every_vector_verifies_or_fails_as_expected() {
    let cases = cases();
    assert!(cases.len() >= 30, "the file must hold at least 30 cases");
    let failures: Vec<String> = cases
        .iter()
        .filter(|c| c.outcome() != c.expected())
        .map(|c| format!("{}: got {:?}, want {:?}", c.name, c.outcome(), c.expected()))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sign_reproduces_every_signature_python_computed() {
    let mut checked = 0;
    for case in cases() {
        let (Some(sign), Ok(wh)) = (&case.sign, Webhook::new(&case.secret)) else {
            continue;
        };
        let ours = wh.sign(&sign.id, sign.timestamp, &case.body());
        assert_eq!(ours, sign.signature, "{}", case.name);
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} signatures checked");
}

#[test]
fn the_published_standard_webhooks_signatures_are_reproduced() {
    let check = |secret: &str, id: &str, ts: i64, body: &[u8], want: &str| {
        let wh = Webhook::new(secret).expect("published secret");
        assert_eq!(wh.sign(id, ts, body), want);
    };
    check(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        br#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
    check(
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1649367553,
        br#"{"email":"test@example.com","username":"test_user"}"#,
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    );
}
