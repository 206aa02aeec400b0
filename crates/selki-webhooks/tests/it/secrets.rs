use selki_webhooks::{Secret, SecretError, Webhook};

fn check(input: &str, want: Result<usize, SecretError>) {
    let got = Secret::parse(input).map(|s| {
        // The key length, read back through the public round trip.
        let exposed = s.expose();
        assert_eq!(
            Secret::parse(&exposed).map(|r| r.expose()),
            Ok(exposed.clone())
        );
        exposed.len()
    });
    let want = want.map(|bytes| "whsec_".len() + bytes.div_ceil(3) * 4);
    assert_eq!(
        got.map_err(|e| e.code()),
        want.map_err(|e| e.code()),
        "{input:?}"
    );
}

#[test]
fn secrets_of_24_to_64_bytes_in_whsec_form_are_accepted_and_others_refused() {
    use base64::Engine as _;
    let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
    check(&format!("whsec_{}", b64(24)), Ok(24));
    check(&format!("whsec_{}", b64(32)), Ok(32));
    check(&format!("whsec_{}", b64(64)), Ok(64));
    check(&format!("  whsec_{}\n", b64(32)), Ok(32));
    check(&format!("whsec_{}", b64(32).trim_end_matches('=')), Ok(32));
    check(
        &format!("whsec_{}", b64(23)),
        Err(SecretError::InvalidLength { len: 23 }),
    );
    check(
        &format!("whsec_{}", b64(65)),
        Err(SecretError::InvalidLength { len: 65 }),
    );
    check("whsec_", Err(SecretError::InvalidLength { len: 0 }));
    check("whsec_%%%%", Err(SecretError::InvalidBase64));
    check(&b64(32), Err(SecretError::MissingPrefix));
    check(
        "correct horse battery staple",
        Err(SecretError::MissingPrefix),
    );
    check(
        &format!("WHSEC_{}", b64(32)),
        Err(SecretError::MissingPrefix),
    );
}

#[test]
fn a_secret_never_shows_in_debug_output_or_errors() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let wh = Webhook::new(secret).expect("valid");
    let debug = format!("{wh:?} {:?}", Secret::parse(secret));
    assert!(!debug.contains("MfKQ9r8G"), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");

    let near_miss = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La";
    for bad in [
        near_miss,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_MfKQ9r8G!!",
    ] {
        let err = Secret::parse(bad).expect_err("malformed");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("MfKQ9r8G"), "{shown}");
    }
}

#[test]
fn a_malformed_secret_gets_a_message_that_says_how_to_make_a_good_one() {
    let err = Webhook::new("hunter2").expect_err("no prefix");
    assert!(err.to_string().contains("whsec_"), "{err}");
    assert!(err.to_string().contains("openssl rand -base64 32"), "{err}");
}
