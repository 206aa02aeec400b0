//! The domain types accept exactly what they should.

use selki_domain::{
    Clock as _, EndpointUrl, EventId, SystemClock, UnixMs, UrlPolicy, WebhookId, WebhookName,
};

/// One test, not two: ids made at other times in between would break the
/// order of ids made in a row (the generator is the process's).
#[test]
fn ids_made_in_a_row_sort_in_the_order_they_were_made_and_follow_a_clock_that_stepped_back() {
    let ids: Vec<WebhookId> = (0..10_000)
        .map(|_| WebhookId::at(SystemClock.now()))
        .collect();
    assert!(
        ids.windows(2)
            .all(|w| w[0] < w[1] && w[0].to_string() < w[1].to_string())
    );
    for id in &ids[..10] {
        let text = id.to_string();
        assert!(text.starts_with("wh_") && text.len() == 29 && !text.contains('.'));
        assert_eq!(WebhookId::parse(&text), Ok(*id));
    }
    // A clock a day back: the next id carries its time, not the last id's
    // (an id's time says which day's partition holds its row).
    let earlier = UnixMs::from_millis(1_600_000_000_000);
    let later = EventId::at(UnixMs::from_millis(earlier.as_millis() + 86_400_000));
    let after_the_step = EventId::at(earlier);
    assert!(after_the_step >= EventId::first_at(earlier));
    assert!(after_the_step < EventId::first_at(UnixMs::from_millis(earlier.as_millis() + 1)));
    assert!(later > after_the_step);
    let within_a_second = EventId::at(UnixMs::from_millis(earlier.as_millis() - 500));
    assert!(
        within_a_second > after_the_step,
        "a small step back keeps the order"
    );
}

#[test]
fn text_that_is_not_an_id_of_the_kind_is_refused() {
    let event = EventId::at(SystemClock.now()).to_string();
    for bad in [
        "",
        "wh_",
        "wh",
        "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3",
        "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3HX",
        "WH_01K1ZQ5XW2ZC0G4S7B2D9E1F3H",
        "wh-01K1ZQ5XW2ZC0G4S7B2D9E1F3H",
        "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3!",
        &event,
    ] {
        assert!(WebhookId::parse(bad).is_err(), "{bad:?} parsed");
    }
}

fn check(url: &str, policy: UrlPolicy, ok: bool) {
    assert_eq!(
        EndpointUrl::parse(url, policy).is_ok(),
        ok,
        "{url} under {policy:?}"
    );
}

#[test]
fn endpoint_urls_are_absolute_http_or_https_without_credentials() {
    use UrlPolicy::{AllowHttp, HttpsOnly};
    check("https://hooks.example.com/selki", HttpsOnly, true);
    check("https://hooks.example.com:8443/a?b=c", HttpsOnly, true);
    check("https://[2001:db8::1]/x", HttpsOnly, true);
    check("http://hooks.example.com/", HttpsOnly, false);
    check("http://hooks.example.com/", AllowHttp, true);
    check("ftp://hooks.example.com/", AllowHttp, false);
    check("hooks.example.com/path", AllowHttp, false);
    check("https://user:pass@hooks.example.com/", HttpsOnly, false);
    check("https://hooks.example.com/#frag", HttpsOnly, false);
    check("https://", HttpsOnly, false);
    check(
        &format!("https://example.com/{}", "a".repeat(2048)),
        HttpsOnly,
        false,
    );
}

#[test]
fn names_are_trimmed_bounded_and_printable() {
    assert_eq!(
        WebhookName::parse("  Notify Slack  ").map(|n| n.as_str().to_owned()),
        Ok("Notify Slack".into())
    );
    assert!(WebhookName::parse(&"é".repeat(200)).is_ok());
    assert!(WebhookName::parse(&"é".repeat(201)).is_err());
    assert!(WebhookName::parse("tab\there").is_err());
    assert!(WebhookName::parse("   ").is_err());
}

#[test]
fn credential_like_headers_are_sensitive_and_never_printed() {
    use selki_domain::CustomHeaders;
    let headers = CustomHeaders::new(
        [
            "Authorization",
            "Cookie",
            "X-Api-Key",
            "X-Auth-User",
            "X-Session-Token",
            "X-Hub-Signature",
            "DB-Password",
            "X-Client-Secret",
            "X-Team",
            "X-Marked",
        ]
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                format!("value-of-{name}"),
                *name == "X-Marked",
            )
        })
        .collect(),
        None,
    )
    .expect("valid");
    let sensitive: Vec<(&str, bool)> = headers
        .headers()
        .map(|h| (h.name(), h.is_sensitive()))
        .collect();
    assert_eq!(
        sensitive,
        [
            ("authorization", true),
            ("cookie", true),
            ("x-api-key", true),
            ("x-auth-user", true),
            ("x-session-token", true),
            ("x-hub-signature", true),
            ("db-password", true),
            ("x-client-secret", true),
            ("x-team", false),
            ("x-marked", true),
        ]
    );
    let printed = format!("{headers:?}");
    assert!(printed.contains("value-of-X-Team"), "{printed}");
    assert!(
        !printed.contains("value-of-Authorization") && !printed.contains("value-of-X-Marked"),
        "{printed}"
    );
}

#[test]
fn a_masked_value_keeps_the_stored_one_and_needs_one() {
    use selki_domain::{CustomHeaders, MASK};
    let stored = CustomHeaders::new(
        vec![("Authorization".into(), "Bearer t".into(), false)],
        None,
    )
    .expect("valid");
    let kept = CustomHeaders::new(
        vec![("authorization".into(), MASK.into(), false)],
        Some(&stored),
    )
    .expect("kept");
    assert_eq!(
        kept.iter().collect::<Vec<_>>(),
        [("authorization", "Bearer t")]
    );
    let none = CustomHeaders::new(vec![("x-other".into(), MASK.into(), false)], Some(&stored));
    assert!(matches!(none, Err((0, "value", _))));
    let user_agent = CustomHeaders::new(vec![("User-Agent".into(), "curl".into(), false)], None);
    assert!(matches!(user_agent, Err((0, "name", _))));
}
