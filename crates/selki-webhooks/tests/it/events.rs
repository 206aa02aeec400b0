use selki_webhooks::{
    Event, EventData, EventType, NewThreat, OffsetDateTime, PhishingEmail, RiskLevel,
    ThreatCategory,
};

fn parse(body: &str) -> Event {
    Event::from_json(body.as_bytes()).expect("a Selki event")
}

#[test]
fn the_help_article_example_parses_into_typed_data() {
    let event = parse(
        r#"{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_CLICKED",
            "data":{"campaignId":"abc123","email":"user@example.com"}}"#,
    );
    assert_eq!(event.timestamp.unix_timestamp(), 1_754_560_902);
    assert_eq!(
        event.data,
        EventData::PhishingEmailClicked(PhishingEmail {
            campaign_id: "abc123".into(),
            email: "user@example.com".into(),
        })
    );
}

#[test]
fn a_new_threat_keeps_an_unknown_category_and_types_the_risk_level() {
    let event = parse(
        r#"{"timestamp":"2025-08-07T10:01:42Z","subscription":"THREATS_NEW_THREAT",
            "data":{"id":"threat123","category":"SUPPLIERS","riskLevel":"HIGH",
                    "url":"http://leakeddomain.com","username":"jdoe","email":"jdoe@company.com"}}"#,
    );
    let EventData::ThreatsNewThreat(threat) = event.data else {
        panic!("not a threat: {event:?}");
    };
    assert_eq!(threat.category, ThreatCategory::Other("SUPPLIERS".into()));
    assert_eq!(threat.risk_level, RiskLevel::High);
}

#[test]
fn an_unknown_subscription_keeps_its_raw_data() {
    let event = parse(
        r#"{"timestamp":"2025-08-07T10:01:42Z","subscription":"TRAINING_COMPLETED",
            "data":{"course":"101","score":[1,2]}}"#,
    );
    assert_eq!(event.data.event_type(), None);
    assert_eq!(event.data.subscription(), "TRAINING_COMPLETED");
    let EventData::Unknown(unknown) = &event.data else {
        panic!("not unknown");
    };
    assert_eq!(unknown.data["score"][1], 2);
}

#[test]
fn every_event_type_round_trips_through_the_wire_form() {
    let timestamp = OffsetDateTime::from_unix_timestamp(1_754_560_902).expect("time");
    let email = || PhishingEmail {
        campaign_id: "c".into(),
        email: "e@x.io".into(),
    };
    let all = [
        EventData::PhishingEmailSent(email()),
        EventData::PhishingEmailOpened(email()),
        EventData::PhishingEmailClicked(email()),
        EventData::PhishingEmailReported(email()),
        EventData::PhishingEmailError(selki_webhooks::PhishingEmailError {
            campaign_id: "c".into(),
            email: "e@x.io".into(),
            error: "bounced".into(),
        }),
        EventData::ThreatsNewThreat(NewThreat {
            id: "t".into(),
            category: ThreatCategory::Employees,
            risk_level: RiskLevel::Critical,
            url: "http://x.io".into(),
            username: "u".into(),
            email: "e@x.io".into(),
        }),
    ];
    for data in all {
        let event = Event { timestamp, data };
        let json = event.to_json().expect("writes");
        assert!(json.starts_with(r#"{"timestamp":"2025-08-07T10:01:42Z","subscription":""#));
        assert_eq!(Event::from_json(json.as_bytes()), Ok(event));
    }
}

#[test]
fn event_type_names_parse_back_and_unknown_names_are_refused() {
    for t in EventType::ALL {
        assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
    }
    assert!("phishing_email_sent".parse::<EventType>().is_err());
}

#[test]
fn field_names_on_the_wire_are_camel_case() {
    let event = parse(
        r#"{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_ERROR",
            "data":{"campaignId":"c","email":"e","error":"x"}}"#,
    );
    let json = event.to_json().expect("writes");
    assert!(
        json.contains(r#""data":{"campaignId":"c","email":"e","error":"x"}"#),
        "{json}"
    );
}

#[test]
fn a_timestamp_with_an_offset_is_written_back_in_utc() {
    let event = parse(
        r#"{"timestamp":"2025-08-07T12:01:42+02:00","subscription":"PHISHING_EMAIL_SENT",
            "data":{"campaignId":"c","email":"e"}}"#,
    );
    let json = event.to_json().expect("writes");
    assert!(json.contains("2025-08-07T10:01:42Z"), "{json}");
}

#[test]
fn data_before_subscription_is_typed_all_the_same() {
    let event = parse(
        r#"{"data":{"campaignId":"c","email":"e"},"subscription":"PHISHING_EMAIL_REPORTED",
            "timestamp":"2025-08-07T10:01:42Z","extra":[1,{"x":null}]}"#,
    );
    assert_eq!(
        event.data.event_type(),
        Some(EventType::PhishingEmailReported)
    );
    let wrong = br#"{"data":{"email":"e"},"subscription":"PHISHING_EMAIL_REPORTED","timestamp":"2025-08-07T10:01:42Z"}"#;
    assert!(matches!(
        Event::from_json(wrong),
        Err(selki_webhooks::EventError::Shape(_))
    ));
}

#[test]
fn bodies_that_are_not_event_objects_say_which_problem_they_have() {
    use selki_webhooks::EventError::{NotJson, Shape};
    let check = |body: &str, json_ok: bool| {
        let err = Event::from_json(body.as_bytes()).expect_err(body);
        assert!(
            matches!((&err, json_ok), (Shape(_), true) | (NotJson(_), false)),
            "{body}: {err}"
        );
    };
    check("[1,2]", true);
    check("\"PHISHING_EMAIL_SENT\"", true);
    check("{}", true);
    check(
        r#"{"timestamp":"2025-08-07T10:01:42Z","subscription":7,"data":{}}"#,
        true,
    );
    check("{", false);
    check("{\"timestamp\":", false);
    check("nul", false);
}
