//! Bad input gets a precise status, with a field violation naming the
//! field, and nothing is written.

use selki_proto::v1 as pb;
use selki_proto::v1::create_webhook_request::Signing;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::fixtures::{clicked, create_request, create_webhook};
use crate::harness::{ADMIN_KEY, TestServer, authed, both};

both!(every_bad_input_is_refused_precisely_and_nothing_is_written);

/// One RPC with its request (sizes differ: a test table, not a hot path).
#[allow(clippy::large_enum_variant)]
enum Call {
    Create(pb::CreateWebhookRequest),
    Get(String),
    List(pb::ListWebhooksRequest),
    Update(pb::UpdateWebhookRequest),
    Delete(String),
    Rotate(pb::RotateSigningSecretRequest),
    Submit(pb::EventSubmission),
    SubmitMany(Vec<pb::EventSubmission>),
    CreateKey(pb::CreateApiKeyRequest),
    Session(pb::CreateConsoleSessionRequest),
    Revoke(String),
    ListCalls(pb::ListCallsRequest),
    Fetch(String),
    Redeliver(String),
    Stats(pb::GetWebhookStatsRequest),
    Recover(pb::RecoverFailedRequest),
    TestEvent(pb::SendTestEventRequest),
    Watch(pb::WatchCallsRequest),
    GetEvent(pb::GetEventRequest),
    ListEvents(pb::ListEventsRequest),
    ListDeliveries(pb::ListDeliveriesRequest),
    Replay(pb::ReplayEventsRequest),
}

async fn call(server: &TestServer, call: Call) -> Result<(), Status> {
    let k = ADMIN_KEY;
    match call {
        Call::Create(r) => server
            .webhooks()
            .create_webhook(authed(k, r))
            .await
            .map(drop),
        Call::Get(id) => server
            .webhooks()
            .get_webhook(authed(k, pb::GetWebhookRequest { id }))
            .await
            .map(drop),
        Call::List(r) => server
            .webhooks()
            .list_webhooks(authed(k, r))
            .await
            .map(drop),
        Call::Update(r) => server
            .webhooks()
            .update_webhook(authed(k, r))
            .await
            .map(drop),
        Call::Delete(id) => server
            .webhooks()
            .delete_webhook(authed(k, pb::DeleteWebhookRequest { id }))
            .await
            .map(drop),
        Call::Rotate(r) => server
            .webhooks()
            .rotate_signing_secret(authed(k, r))
            .await
            .map(drop),
        Call::Submit(e) => server
            .events()
            .submit_event(authed(k, pb::SubmitEventRequest { event: Some(e) }))
            .await
            .map(drop),
        Call::SubmitMany(events) => server
            .events()
            .submit_events(authed(k, pb::SubmitEventsRequest { events }))
            .await
            .map(drop),
        Call::CreateKey(r) => server.keys().create_api_key(authed(k, r)).await.map(drop),
        Call::Session(r) => server
            .keys()
            .create_console_session(authed(k, r))
            .await
            .map(drop),
        Call::Revoke(id) => server
            .keys()
            .revoke_api_key(authed(k, pb::RevokeApiKeyRequest { id }))
            .await
            .map(drop),
        Call::ListCalls(r) => server.webhooks().list_calls(authed(k, r)).await.map(drop),
        Call::Fetch(id) => server
            .webhooks()
            .get_call(authed(k, pb::GetCallRequest { id }))
            .await
            .map(drop),
        Call::Redeliver(id) => server
            .webhooks()
            .redeliver_call(authed(k, pb::RedeliverCallRequest { id }))
            .await
            .map(drop),
        Call::Stats(r) => server
            .webhooks()
            .get_webhook_stats(authed(k, r))
            .await
            .map(drop),
        Call::Recover(r) => server
            .webhooks()
            .recover_failed(authed(k, r))
            .await
            .map(drop),
        Call::TestEvent(r) => server
            .webhooks()
            .send_test_event(authed(k, r))
            .await
            .map(drop),
        Call::Watch(r) => server.webhooks().watch_calls(authed(k, r)).await.map(drop),
        Call::GetEvent(r) => server.webhooks().get_event(authed(k, r)).await.map(drop),
        Call::ListEvents(r) => server.webhooks().list_events(authed(k, r)).await.map(drop),
        Call::ListDeliveries(r) => server
            .webhooks()
            .list_deliveries(authed(k, r))
            .await
            .map(drop),
        Call::Replay(r) => server
            .webhooks()
            .replay_events(authed(k, r))
            .await
            .map(drop),
    }
}

impl Call {
    /// An update naming `name` `n` times.
    fn with_paths(self, n: usize) -> Self {
        match self {
            Self::Update(mut r) => {
                r.update_mask = Some(prost_types::FieldMask {
                    paths: vec!["name".into(); n],
                });
                Self::Update(r)
            }
            other => other,
        }
    }
}

fn calls(webhook: &str, change: impl FnOnce(&mut pb::ListCallsRequest)) -> Call {
    let mut r = pb::ListCallsRequest {
        webhook_id: webhook.into(),
        ..Default::default()
    };
    change(&mut r);
    Call::ListCalls(r)
}

fn event(change: impl FnOnce(&mut pb::GetEventRequest)) -> Call {
    let mut r = pb::GetEventRequest::default();
    change(&mut r);
    Call::GetEvent(r)
}

fn events(change: impl FnOnce(&mut pb::ListEventsRequest)) -> Call {
    let mut r = pb::ListEventsRequest {
        organization_id: "acme".into(),
        ..Default::default()
    };
    change(&mut r);
    Call::ListEvents(r)
}

fn deliveries(webhook: &str, change: impl FnOnce(&mut pb::ListDeliveriesRequest)) -> Call {
    let mut r = pb::ListDeliveriesRequest {
        webhook_id: webhook.into(),
        ..Default::default()
    };
    change(&mut r);
    Call::ListDeliveries(r)
}

fn replay(webhook: &str, change: impl FnOnce(&mut pb::ReplayEventsRequest)) -> Call {
    let mut r = pb::ReplayEventsRequest {
        webhook_id: webhook.into(),
        start_time: at(1_700_000_000),
        end_time: at(1_800_000_000),
        ..Default::default()
    };
    change(&mut r);
    Call::Replay(r)
}

fn edit_headers(id: &str, set: Vec<pb::Header>, remove: &[&str]) -> Call {
    Call::Update(pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: id.into(),
            ..Default::default()
        }),
        update_mask: None,
        set_headers: set,
        remove_headers: remove.iter().map(|r| (*r).to_owned()).collect(),
    })
}

fn seconds(seconds: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos: 0 })
}

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn create(change: impl FnOnce(&mut pb::CreateWebhookRequest)) -> Call {
    let mut r = create_request("acme");
    change(&mut r);
    Call::Create(r)
}

fn header(name: &str, value: &str) -> pb::Header {
    pb::Header {
        name: name.into(),
        value: value.into(),
        sensitive: false,
    }
}

fn retry(
    attempts: u32,
    delay_secs: i64,
    exponential: bool,
    max_secs: Option<i64>,
) -> Option<pb::RetryPolicy> {
    Some(pb::RetryPolicy {
        attempts,
        delay: Some(prost_types::Duration {
            seconds: delay_secs,
            nanos: 0,
        }),
        exponential_backoff: exponential,
        max_delay: max_secs.map(|seconds| prost_types::Duration { seconds, nanos: 0 }),
    })
}

fn submit(change: impl FnOnce(&mut pb::EventSubmission)) -> Call {
    let mut e = clicked("acme", "");
    change(&mut e);
    Call::Submit(e)
}

fn data(d: pb::event_data::Data) -> Option<pb::EventData> {
    Some(pb::EventData { data: Some(d) })
}

fn threat(change: impl FnOnce(&mut pb::NewThreat)) -> Call {
    let mut t = pb::NewThreat {
        id: "threat123".into(),
        category: "EMPLOYEES".into(),
        risk_level: pb::RiskLevel::Critical as i32,
        url: "http://leakeddomain.com".into(),
        username: "jdoe".into(),
        email: "jdoe@company.com".into(),
    };
    change(&mut t);
    submit(|e| e.data = data(pb::event_data::Data::ThreatsNewThreat(t)))
}

fn update(id: &str, paths: &[&str], change: impl FnOnce(&mut pb::Webhook)) -> Call {
    let mut webhook = pb::Webhook {
        id: id.into(),
        ..Default::default()
    };
    change(&mut webhook);
    Call::Update(pb::UpdateWebhookRequest {
        remove_headers: Default::default(),
        set_headers: Default::default(),
        webhook: Some(webhook),
        update_mask: (!paths.is_empty()).then(|| prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    })
}

const ROUTING: &str = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12";
const HEC: &str = "12345678-abcd-4321-abcd-1234567890ab";

fn dest(format: i32, credential: &str) -> pb::Destination {
    pb::Destination {
        format,
        credential: credential.into(),
        ..Default::default()
    }
}

fn filter(change: impl FnOnce(&mut pb::ContentFilter)) -> pb::ContentFilter {
    let mut f = pb::ContentFilter::default();
    change(&mut f);
    f
}

const UNKNOWN_WH: &str = "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3H";
const UNKNOWN_EVT: &str = "evt_01K1ZQ5XW2ZC0G4S7B2D9E1F3H";

async fn every_bad_input_is_refused_precisely_and_nothing_is_written(server: &TestServer) {
    let existing = create_webhook(server, "acme")
        .await
        .webhook
        .expect("webhook")
        .id;
    let ex = existing.as_str();
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(&str, Call, Code, Option<&str>)> = vec![
        (
            "an empty name",
            create(|r| r.name = "  ".into()),
            Code::InvalidArgument,
            Some("name"),
        ),
        (
            "a name of 201 characters",
            create(|r| r.name = long(201)),
            Code::InvalidArgument,
            Some("name"),
        ),
        (
            "a name with a line break",
            create(|r| r.name = "a\nb".into()),
            Code::InvalidArgument,
            Some("name"),
        ),
        (
            "no url",
            create(|r| r.url = String::new()),
            Code::InvalidArgument,
            Some("url"),
        ),
        (
            "an ftp url",
            create(|r| r.url = "ftp://example.com/x".into()),
            Code::InvalidArgument,
            Some("url"),
        ),
        (
            "a plain http url",
            create(|r| r.url = "http://example.com/x".into()),
            Code::InvalidArgument,
            Some("url"),
        ),
        (
            "a url with credentials",
            create(|r| r.url = "https://u:p@example.com/".into()),
            Code::InvalidArgument,
            Some("url"),
        ),
        (
            "a url over 2048 characters",
            create(|r| r.url = format!("https://example.com/{}", long(2048))),
            Code::InvalidArgument,
            Some("url"),
        ),
        (
            "a relative url",
            create(|r| r.url = "example.com/hook".into()),
            Code::InvalidArgument,
            Some("url"),
        ),
        (
            "no event types",
            create(|r| r.event_types.clear()),
            Code::InvalidArgument,
            Some("event_types"),
        ),
        (
            "an unspecified event type",
            create(|r| r.event_types = vec![0]),
            Code::InvalidArgument,
            Some("event_types[0]"),
        ),
        (
            "a million repeated event types",
            create(|r| r.event_types = vec![3; 1_000_000]),
            Code::InvalidArgument,
            Some("event_types"),
        ),
        (
            "a thousand update mask paths",
            update(ex, &[], |_| {}).with_paths(1000),
            Code::InvalidArgument,
            Some("update_mask.paths"),
        ),
        (
            "an unknown event type number",
            create(|r| r.event_types = vec![3, 99]),
            Code::InvalidArgument,
            Some("event_types[1]"),
        ),
        (
            "a passphrase as secret",
            create(|r| r.signing = Some(Signing::SigningSecret("hunter2".into()))),
            Code::InvalidArgument,
            Some("signing_secret"),
        ),
        (
            "a 16-byte secret",
            create(|r| {
                r.signing = Some(Signing::SigningSecret(
                    "whsec_AAAAAAAAAAAAAAAAAAAAAA==".into(),
                ))
            }),
            Code::InvalidArgument,
            Some("signing_secret"),
        ),
        (
            "21 retry attempts",
            create(|r| r.retry_policy = retry(21, 60, false, None)),
            Code::InvalidArgument,
            Some("retry_policy.attempts"),
        ),
        (
            "a zero retry delay",
            create(|r| r.retry_policy = retry(3, 0, false, None)),
            Code::InvalidArgument,
            Some("retry_policy.delay"),
        ),
        (
            "a two-day retry delay",
            create(|r| r.retry_policy = retry(3, 172_800, false, None)),
            Code::InvalidArgument,
            Some("retry_policy.delay"),
        ),
        (
            "a negative retry delay",
            create(|r| r.retry_policy = retry(3, -5, false, None)),
            Code::InvalidArgument,
            Some("retry_policy.delay"),
        ),
        (
            "a backoff cap below the delay",
            create(|r| r.retry_policy = retry(3, 60, true, Some(30))),
            Code::InvalidArgument,
            Some("retry_policy.max_delay"),
        ),
        (
            "a Selki-* header",
            create(|r| r.headers = vec![header("Selki-Signature", "x")]),
            Code::InvalidArgument,
            Some("headers[0].name"),
        ),
        (
            "a webhook-* header",
            create(|r| r.headers = vec![header("webhook-id", "x")]),
            Code::InvalidArgument,
            Some("headers[0].name"),
        ),
        (
            "a content-type header",
            create(|r| r.headers = vec![header("Content-Type", "text/plain")]),
            Code::InvalidArgument,
            Some("headers[0].name"),
        ),
        (
            "a host header",
            create(|r| r.headers = vec![header("Host", "evil.example")]),
            Code::InvalidArgument,
            Some("headers[0].name"),
        ),
        (
            "a user-agent header",
            create(|r| r.headers = vec![header("User-Agent", "curl/8")]),
            Code::InvalidArgument,
            Some("headers[0].name"),
        ),
        (
            "a masked value for a header never set",
            create(|r| r.headers = vec![header("Authorization", "****")]),
            Code::InvalidArgument,
            Some("headers[0].value"),
        ),
        (
            "a hop-by-hop header",
            create(|r| r.headers = vec![header("Transfer-Encoding", "chunked")]),
            Code::InvalidArgument,
            Some("headers[0].name"),
        ),
        (
            "a header value with a line break",
            create(|r| r.headers = vec![header("X-A", "a\r\nX-B: b")]),
            Code::InvalidArgument,
            Some("headers[0].value"),
        ),
        (
            "a header name with a space",
            create(|r| r.headers = vec![header("X A", "b")]),
            Code::InvalidArgument,
            Some("headers[0].name"),
        ),
        (
            "a repeated header",
            create(|r| r.headers = vec![header("X-A", "1"), header("x-a", "2")]),
            Code::InvalidArgument,
            Some("headers[1].name"),
        ),
        (
            "21 headers",
            create(|r| r.headers = (0..21).map(|i| header(&format!("X-{i}"), "v")).collect()),
            Code::InvalidArgument,
            Some("headers[20].name"),
        ),
        (
            "an admin naming no organization",
            create(|r| r.organization_id = String::new()),
            Code::InvalidArgument,
            Some("organization_id"),
        ),
        (
            "an organization id with spaces",
            create(|r| r.organization_id = "ac me".into()),
            Code::InvalidArgument,
            Some("organization_id"),
        ),
        (
            "an empty webhook id",
            Call::Get(String::new()),
            Code::InvalidArgument,
            Some("id"),
        ),
        (
            "an event id for a webhook id",
            Call::Get("evt_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".into()),
            Code::InvalidArgument,
            Some("id"),
        ),
        (
            "an unknown webhook",
            Call::Get(UNKNOWN_WH.into()),
            Code::NotFound,
            None,
        ),
        (
            "deleting an unknown webhook",
            Call::Delete(UNKNOWN_WH.into()),
            Code::NotFound,
            None,
        ),
        (
            "a grace period of 8 days",
            Call::Rotate(pb::RotateSigningSecretRequest {
                id: ex.into(),
                signing_secret: String::new(),
                grace_period: Some(prost_types::Duration {
                    seconds: 8 * 86_400,
                    nanos: 0,
                }),
            }),
            Code::InvalidArgument,
            Some("grace_period"),
        ),
        (
            "rotating to a bad secret",
            Call::Rotate(pb::RotateSigningSecretRequest {
                id: ex.into(),
                signing_secret: "nope".into(),
                grace_period: None,
            }),
            Code::InvalidArgument,
            Some("signing_secret"),
        ),
        (
            "rotating an unknown webhook",
            Call::Rotate(pb::RotateSigningSecretRequest {
                id: UNKNOWN_WH.into(),
                signing_secret: String::new(),
                grace_period: None,
            }),
            Code::NotFound,
            None,
        ),
        (
            "a page of 101",
            Call::List(pb::ListWebhooksRequest {
                organization_id: "acme".into(),
                page_size: 101,
                ..Default::default()
            }),
            Code::InvalidArgument,
            Some("page_size"),
        ),
        (
            "a negative page size",
            Call::List(pb::ListWebhooksRequest {
                organization_id: "acme".into(),
                page_size: -1,
                ..Default::default()
            }),
            Code::InvalidArgument,
            Some("page_size"),
        ),
        (
            "a forged page token",
            Call::List(pb::ListWebhooksRequest {
                organization_id: "acme".into(),
                page_token: "abc".into(),
                ..Default::default()
            }),
            Code::InvalidArgument,
            Some("page_token"),
        ),
        (
            "an update without a mask",
            update(ex, &[], |_| {}),
            Code::InvalidArgument,
            Some("update_mask"),
        ),
        (
            "an update of the id",
            update(ex, &["id"], |_| {}),
            Code::InvalidArgument,
            Some("update_mask.paths[0]"),
        ),
        (
            "an update to an empty name",
            update(ex, &["name"], |w| w.name = String::new()),
            Code::InvalidArgument,
            Some("webhook.name"),
        ),
        (
            "an update to no event types",
            update(ex, &["event_types"], |_| {}),
            Code::InvalidArgument,
            Some("webhook.event_types"),
        ),
        (
            "an update of a malformed id",
            update("wh_nope", &["enabled"], |_| {}),
            Code::InvalidArgument,
            Some("webhook.id"),
        ),
        (
            "an update of an unknown webhook",
            update(UNKNOWN_WH, &["enabled"], |_| {}),
            Code::NotFound,
            None,
        ),
        (
            "an event without data",
            submit(|e| e.data = None),
            Code::InvalidArgument,
            Some("event.data"),
        ),
        (
            "a click without a campaign",
            submit(|e| {
                e.data = data(pb::event_data::Data::PhishingEmailClicked(
                    pb::PhishingEmail {
                        campaign_id: String::new(),
                        email: "a@b.io".into(),
                    },
                ))
            }),
            Code::InvalidArgument,
            Some("event.data.phishing_email_clicked.campaign_id"),
        ),
        (
            "a report without an email",
            submit(|e| {
                e.data = data(pb::event_data::Data::PhishingEmailReported(
                    pb::PhishingEmail {
                        campaign_id: "c".into(),
                        email: String::new(),
                    },
                ))
            }),
            Code::InvalidArgument,
            Some("event.data.phishing_email_reported.email"),
        ),
        (
            "an error event without the error",
            submit(|e| {
                e.data = data(pb::event_data::Data::PhishingEmailError(
                    pb::PhishingEmailError {
                        campaign_id: "c".into(),
                        email: "a@b.io".into(),
                        error: String::new(),
                    },
                ))
            }),
            Code::InvalidArgument,
            Some("event.data.phishing_email_error.error"),
        ),
        (
            "an error text over 4096 characters",
            submit(|e| {
                e.data = data(pb::event_data::Data::PhishingEmailError(
                    pb::PhishingEmailError {
                        campaign_id: "c".into(),
                        email: "a@b.io".into(),
                        error: long(4097),
                    },
                ))
            }),
            Code::InvalidArgument,
            Some("event.data.phishing_email_error.error"),
        ),
        (
            "a threat without a risk level",
            threat(|t| t.risk_level = 0),
            Code::InvalidArgument,
            Some("event.data.threats_new_threat.risk_level"),
        ),
        (
            "a threat without an id",
            threat(|t| t.id = String::new()),
            Code::InvalidArgument,
            Some("event.data.threats_new_threat.id"),
        ),
        (
            "a threat without a category",
            threat(|t| t.category = String::new()),
            Code::InvalidArgument,
            Some("event.data.threats_new_threat.category"),
        ),
        (
            "a client event id with a space",
            submit(|e| e.client_event_id = "a b".into()),
            Code::InvalidArgument,
            Some("event.client_event_id"),
        ),
        (
            "a client event id of 129 characters",
            submit(|e| e.client_event_id = long(129)),
            Code::InvalidArgument,
            Some("event.client_event_id"),
        ),
        (
            "an occur time in year 10000",
            submit(|e| {
                e.occur_time = Some(prost_types::Timestamp {
                    seconds: 253_402_300_800,
                    nanos: 0,
                })
            }),
            Code::InvalidArgument,
            Some("event.occur_time"),
        ),
        (
            "an admin event without organization",
            submit(|e| e.organization_id = String::new()),
            Code::InvalidArgument,
            Some("event.organization_id"),
        ),
        (
            "an empty batch",
            Call::SubmitMany(Vec::new()),
            Code::InvalidArgument,
            Some("events"),
        ),
        (
            "a batch of 501",
            Call::SubmitMany(vec![clicked("acme", ""); 501]),
            Code::InvalidArgument,
            Some("events"),
        ),
        (
            "a batch with one bad event",
            Call::SubmitMany(vec![
                clicked("acme", ""),
                pb::EventSubmission {
                    data: None,
                    ..clicked("acme", "")
                },
            ]),
            Code::InvalidArgument,
            Some("events[1].data"),
        ),
        (
            "a key without a name",
            Call::CreateKey(pb::CreateApiKeyRequest {
                organization_id: "acme".into(),
                name: " ".into(),
                scope: 0,
            }),
            Code::InvalidArgument,
            Some("name"),
        ),
        (
            "revoking a malformed key id",
            Call::Revoke("key_x".into()),
            Code::InvalidArgument,
            Some("id"),
        ),
        (
            "revoking an unknown key",
            Call::Revoke("key_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".into()),
            Code::NotFound,
            None,
        ),
        (
            "a half-second call timeout",
            create(|r| {
                r.timeout = Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 500_000_000,
                })
            }),
            Code::InvalidArgument,
            Some("timeout"),
        ),
        (
            "a 61-second call timeout",
            create(|r| r.timeout = seconds(61)),
            Code::InvalidArgument,
            Some("timeout"),
        ),
        (
            "listing calls of a malformed webhook id",
            calls("hook-1", |_| {}),
            Code::InvalidArgument,
            Some("webhook_id"),
        ),
        (
            "listing calls of an unknown webhook",
            calls(UNKNOWN_WH, |_| {}),
            Code::NotFound,
            None,
        ),
        (
            "listing 101 calls",
            calls(ex, |r| r.page_size = 101),
            Code::InvalidArgument,
            Some("page_size"),
        ),
        (
            "a calls page token from elsewhere",
            calls(ex, |r| r.page_token = "d2hfMDFL".into()),
            Code::InvalidArgument,
            Some("page_token"),
        ),
        (
            "an unknown call status filter",
            calls(ex, |r| r.status = 7),
            Code::InvalidArgument,
            Some("status"),
        ),
        (
            "an unknown call outcome filter",
            calls(ex, |r| r.outcome = 42),
            Code::InvalidArgument,
            Some("outcome"),
        ),
        (
            "an unknown event type filter",
            calls(ex, |r| r.event_type = 99),
            Code::InvalidArgument,
            Some("event_type"),
        ),
        (
            "a time range that ends before it starts",
            calls(ex, |r| {
                r.start_time = at(1_800_000_000);
                r.end_time = at(1_700_000_000);
            }),
            Code::InvalidArgument,
            Some("end_time"),
        ),
        (
            "getting a malformed call id",
            Call::Fetch("call-1".into()),
            Code::InvalidArgument,
            Some("id"),
        ),
        (
            "getting an unknown call",
            Call::Fetch("call_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".into()),
            Code::NotFound,
            None,
        ),
        (
            "redelivering a webhook id",
            Call::Redeliver(ex.into()),
            Code::InvalidArgument,
            Some("id"),
        ),
        (
            "redelivering an unknown call",
            Call::Redeliver("call_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".into()),
            Code::NotFound,
            None,
        ),
        (
            "stats over 30 seconds",
            Call::Stats(pb::GetWebhookStatsRequest {
                webhook_id: ex.into(),
                window: seconds(30),
            }),
            Code::InvalidArgument,
            Some("window"),
        ),
        (
            "stats over 31 days",
            Call::Stats(pb::GetWebhookStatsRequest {
                webhook_id: ex.into(),
                window: seconds(31 * 86_400),
            }),
            Code::InvalidArgument,
            Some("window"),
        ),
        (
            "stats of an unknown webhook",
            Call::Stats(pb::GetWebhookStatsRequest {
                webhook_id: UNKNOWN_WH.into(),
                window: None,
            }),
            Code::NotFound,
            None,
        ),
        (
            "recovering without a since time",
            Call::Recover(pb::RecoverFailedRequest {
                webhook_id: ex.into(),
                since: None,
                limit: 0,
                until: None,
            }),
            Code::InvalidArgument,
            Some("since"),
        ),
        (
            "recovering 20,000 deliveries at once",
            Call::Recover(pb::RecoverFailedRequest {
                webhook_id: ex.into(),
                since: at(0),
                limit: 20_000,
                until: None,
            }),
            Code::InvalidArgument,
            Some("limit"),
        ),
        (
            "recovering for an unknown webhook",
            Call::Recover(pb::RecoverFailedRequest {
                webhook_id: UNKNOWN_WH.into(),
                since: at(0),
                limit: 0,
                until: None,
            }),
            Code::NotFound,
            None,
        ),
        (
            "a test event of an unknown type",
            Call::TestEvent(pb::SendTestEventRequest {
                webhook_id: ex.into(),
                event_type: 99,
            }),
            Code::InvalidArgument,
            Some("event_type"),
        ),
        (
            "a test event for an unknown webhook",
            Call::TestEvent(pb::SendTestEventRequest {
                webhook_id: UNKNOWN_WH.into(),
                event_type: 0,
            }),
            Code::NotFound,
            None,
        ),
        (
            "watching an unknown webhook",
            Call::Watch(pb::WatchCallsRequest {
                webhook_id: UNKNOWN_WH.into(),
                organization_id: String::new(),
            }),
            Code::NotFound,
            None,
        ),
        (
            "watching every organization at once",
            Call::Watch(pb::WatchCallsRequest {
                webhook_id: String::new(),
                organization_id: String::new(),
            }),
            Code::InvalidArgument,
            Some("organization_id"),
        ),
        (
            "an event asked for by neither id",
            event(|_| {}),
            Code::InvalidArgument,
            Some("id"),
        ),
        (
            "an event asked for by both ids",
            event(|r| {
                r.id = UNKNOWN_EVT.into();
                r.client_event_id = "c-1".into();
            }),
            Code::InvalidArgument,
            Some("client_event_id"),
        ),
        (
            "a webhook id for an event id",
            event(|r| r.id = UNKNOWN_WH.into()),
            Code::InvalidArgument,
            Some("id"),
        ),
        (
            "an unknown event",
            event(|r| r.id = UNKNOWN_EVT.into()),
            Code::NotFound,
            None,
        ),
        (
            "a client event id with a line break",
            event(|r| {
                r.client_event_id = "a\nb".into();
                r.organization_id = "acme".into();
            }),
            Code::InvalidArgument,
            Some("client_event_id"),
        ),
        (
            "an admin's client event id naming no organization",
            event(|r| r.client_event_id = "c-1".into()),
            Code::InvalidArgument,
            Some("organization_id"),
        ),
        (
            "listing events of no organization as admin",
            events(|r| r.organization_id = String::new()),
            Code::InvalidArgument,
            Some("organization_id"),
        ),
        (
            "listing 101 events",
            events(|r| r.page_size = 101),
            Code::InvalidArgument,
            Some("page_size"),
        ),
        (
            "an events page token from elsewhere",
            events(|r| r.page_token = "abc".into()),
            Code::InvalidArgument,
            Some("page_token"),
        ),
        (
            "an unknown event type among events",
            events(|r| r.event_type = 99),
            Code::InvalidArgument,
            Some("event_type"),
        ),
        (
            "events in a range that ends as it starts",
            events(|r| {
                r.start_time = at(1_800_000_000);
                r.end_time = at(1_800_000_000);
            }),
            Code::InvalidArgument,
            Some("end_time"),
        ),
        (
            "events of a client id of 129 characters",
            events(|r| r.client_event_id = long(129)),
            Code::InvalidArgument,
            Some("client_event_id"),
        ),
        (
            "deliveries of a malformed webhook id",
            deliveries("hook-1", |_| {}),
            Code::InvalidArgument,
            Some("webhook_id"),
        ),
        (
            "deliveries of an unknown webhook",
            deliveries(UNKNOWN_WH, |_| {}),
            Code::NotFound,
            None,
        ),
        (
            "deliveries in an unknown state",
            deliveries(ex, |r| {
                r.states = vec![pb::DeliveryState::Pending as i32, 42]
            }),
            Code::InvalidArgument,
            Some("states[1]"),
        ),
        (
            "succeeded deliveries, which are the calls",
            deliveries(ex, |r| r.states = vec![pb::DeliveryState::Succeeded as i32]),
            Code::InvalidArgument,
            Some("states[0]"),
        ),
        (
            "17 delivery states",
            deliveries(ex, |r| {
                r.states = vec![pb::DeliveryState::Failed as i32; 17]
            }),
            Code::InvalidArgument,
            Some("states"),
        ),
        (
            "a deliveries page token from elsewhere",
            deliveries(ex, |r| r.page_token = "d2hfMDFL".into()),
            Code::InvalidArgument,
            Some("page_token"),
        ),
        (
            "a replay without a start",
            replay(ex, |r| r.start_time = None),
            Code::InvalidArgument,
            Some("start_time"),
        ),
        (
            "a replay without an end",
            replay(ex, |r| r.end_time = None),
            Code::InvalidArgument,
            Some("end_time"),
        ),
        (
            "a replay that ends before it starts",
            replay(ex, |r| r.end_time = at(1_600_000_000)),
            Code::InvalidArgument,
            Some("end_time"),
        ),
        (
            "a replay of an unknown event type",
            replay(ex, |r| r.event_types = vec![3, 99]),
            Code::InvalidArgument,
            Some("event_types[1]"),
        ),
        (
            "a replay id with a space",
            replay(ex, |r| r.replay_id = "a b".into()),
            Code::InvalidArgument,
            Some("replay_id"),
        ),
        (
            "a replay for an unknown webhook",
            replay(UNKNOWN_WH, |_| {}),
            Code::NotFound,
            None,
        ),
        (
            "calls of a malformed event id",
            calls(ex, |r| r.event_id = "evt-1".into()),
            Code::InvalidArgument,
            Some("event_id"),
        ),
        (
            "calls of a webhook id as delivery id",
            calls(ex, |r| r.delivery_id = UNKNOWN_WH.into()),
            Code::InvalidArgument,
            Some("delivery_id"),
        ),
        (
            "calls answered 700",
            calls(ex, |r| r.http_status = 700),
            Code::InvalidArgument,
            Some("http_status"),
        ),
        (
            "calls answered 503 and in the 4xx class",
            calls(ex, |r| {
                r.http_status = 503;
                r.http_status_class = pb::HttpStatusClass::HttpStatusClass4xx as i32;
            }),
            Code::InvalidArgument,
            Some("http_status_class"),
        ),
        (
            "an unknown status class",
            calls(ex, |r| r.http_status_class = 9),
            Code::InvalidArgument,
            Some("http_status_class"),
        ),
        (
            "an unknown trigger",
            calls(ex, |r| r.trigger = 42),
            Code::InvalidArgument,
            Some("trigger"),
        ),
        (
            "recovering until before since",
            Call::Recover(pb::RecoverFailedRequest {
                webhook_id: ex.into(),
                since: at(1_800_000_000),
                limit: 0,
                until: at(1_700_000_000),
            }),
            Code::InvalidArgument,
            Some("until"),
        ),
        (
            "a creation request id with a line break",
            create(|r| r.request_id = "a\nb".into()),
            Code::InvalidArgument,
            Some("request_id"),
        ),
        (
            "turning signing on without a secret",
            update(ex, &["signing_secret_set"], |w| w.signing_secret_set = true),
            Code::InvalidArgument,
            Some("webhook.signing_secret_set"),
        ),
        (
            "an update of a retry part that does not exist",
            update(ex, &["retry_policy.jitter"], |_| {}),
            Code::InvalidArgument,
            Some("update_mask.paths[0]"),
        ),
        (
            "setting a header with a line break",
            edit_headers(ex, vec![header("X-A", "a\r\nX-B: b")], &[]),
            Code::InvalidArgument,
            Some("set_headers[0].value"),
        ),
        (
            "setting a Selki-* header",
            edit_headers(ex, vec![header("Selki-Signature", "x")], &[]),
            Code::InvalidArgument,
            Some("set_headers[0].name"),
        ),
        (
            "removing a header without a name",
            edit_headers(ex, Vec::new(), &["X-A", " "]),
            Code::InvalidArgument,
            Some("remove_headers[1]"),
        ),
        (
            "replacing all headers and editing some",
            Call::Update(pb::UpdateWebhookRequest {
                webhook: Some(pb::Webhook {
                    id: ex.into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["headers".into()],
                }),
                set_headers: vec![header("X-A", "1")],
                remove_headers: Vec::new(),
            }),
            Code::InvalidArgument,
            Some("set_headers"),
        ),
        (
            "an unknown destination format",
            create(|r| r.destination = Some(dest(99, ""))),
            Code::InvalidArgument,
            Some("destination.format"),
        ),
        (
            "a PagerDuty destination without its routing key",
            create(|r| r.destination = Some(dest(pb::DestinationFormat::Pagerduty as i32, ""))),
            Code::InvalidArgument,
            Some("destination.credential"),
        ),
        (
            "a PagerDuty routing key of the wrong shape",
            create(|r| {
                r.destination = Some(dest(pb::DestinationFormat::Pagerduty as i32, "short-key"))
            }),
            Code::InvalidArgument,
            Some("destination.credential"),
        ),
        (
            "a Splunk HEC token with a space",
            create(|r| {
                r.destination = Some(dest(
                    pb::DestinationFormat::SplunkHec as i32,
                    "12345678 abcd 4321 abcd",
                ))
            }),
            Code::InvalidArgument,
            Some("destination.credential"),
        ),
        (
            "a credential for a format that takes none",
            create(|r| r.destination = Some(dest(pb::DestinationFormat::Slack as i32, ROUTING))),
            Code::InvalidArgument,
            Some("destination.credential"),
        ),
        (
            "an unknown PagerDuty severity",
            create(|r| {
                let mut d = dest(pb::DestinationFormat::Pagerduty as i32, ROUTING);
                d.pagerduty_phishing_severity = 9;
                r.destination = Some(d);
            }),
            Code::InvalidArgument,
            Some("destination.pagerduty_phishing_severity"),
        ),
        (
            "a PagerDuty source of 300 characters",
            create(|r| {
                let mut d = dest(pb::DestinationFormat::Pagerduty as i32, ROUTING);
                d.source = long(300);
                r.destination = Some(d);
            }),
            Code::InvalidArgument,
            Some("destination.source"),
        ),
        (
            "a Splunk sourcetype with a line break",
            create(|r| {
                let mut d = dest(pb::DestinationFormat::SplunkHec as i32, HEC);
                d.splunk_sourcetype = "selki\nevil".into();
                r.destination = Some(d);
            }),
            Code::InvalidArgument,
            Some("destination.splunk_sourcetype"),
        ),
        (
            "a filter risk level that does not exist",
            create(|r| r.filter = Some(filter(|f| f.risk_levels = vec![2, 9]))),
            Code::InvalidArgument,
            Some("filter.risk_levels[1]"),
        ),
        (
            "a filter with both risk levels and a minimum",
            create(|r| {
                r.filter = Some(filter(|f| {
                    f.risk_levels = vec![pb::RiskLevel::High as i32];
                    f.min_risk_level = pb::RiskLevel::Low as i32;
                }))
            }),
            Code::InvalidArgument,
            Some("filter.min_risk_level"),
        ),
        (
            "a filter minimum that does not exist",
            create(|r| r.filter = Some(filter(|f| f.min_risk_level = 7))),
            Code::InvalidArgument,
            Some("filter.min_risk_level"),
        ),
        (
            "a filter with an empty campaign id",
            create(|r| r.filter = Some(filter(|f| f.campaign_ids = vec!["q3".into(), " ".into()]))),
            Code::InvalidArgument,
            Some("filter.campaign_ids"),
        ),
        (
            "a filter with 300 campaign ids",
            create(|r| {
                r.filter = Some(filter(|f| {
                    f.campaign_ids = (0..300).map(|i| format!("c{i}")).collect()
                }))
            }),
            Code::InvalidArgument,
            Some("filter.campaign_ids"),
        ),
        (
            "a filter with an empty threat category",
            create(|r| r.filter = Some(filter(|f| f.threat_categories = vec![String::new()]))),
            Code::InvalidArgument,
            Some("filter.threat_categories"),
        ),
        (
            "a rate limit above 10,000 per second",
            create(|r| r.max_deliveries_per_second = 10_001),
            Code::InvalidArgument,
            Some("max_deliveries_per_second"),
        ),
        (
            "an in-flight limit above 1,000",
            create(|r| r.max_in_flight = 1_001),
            Code::InvalidArgument,
            Some("max_in_flight"),
        ),
        (
            "an update to PagerDuty without a routing key",
            update(ex, &["destination"], |w| {
                w.destination = Some(dest(pb::DestinationFormat::Pagerduty as i32, ""))
            }),
            Code::InvalidArgument,
            Some("webhook.destination.credential"),
        ),
        (
            "an update of the rate limit above the most",
            update(ex, &["max_deliveries_per_second"], |w| {
                w.max_deliveries_per_second = 20_000
            }),
            Code::InvalidArgument,
            Some("webhook.max_deliveries_per_second"),
        ),
        (
            "an update of a filter with an unknown level",
            update(ex, &["filter"], |w| {
                w.filter = Some(filter(|f| f.risk_levels = vec![5]))
            }),
            Code::InvalidArgument,
            Some("webhook.filter.risk_levels[0]"),
        ),
        (
            "submitting an operational event",
            submit(|e| {
                e.data = data(pb::event_data::Data::WebhookDisabled(
                    pb::WebhookDisabled::default(),
                ))
            }),
            Code::InvalidArgument,
            Some("event.data"),
        ),
        (
            "a console session for no organization, from an admin key",
            Call::Session(pb::CreateConsoleSessionRequest::default()),
            Code::InvalidArgument,
            Some("organization_id"),
        ),
        (
            "a console session of no time at all",
            Call::Session(session_lasting(0)),
            Code::InvalidArgument,
            Some("lifetime"),
        ),
        (
            "a console session of more than 12 hours",
            Call::Session(session_lasting(12 * 3600 + 1)),
            Code::InvalidArgument,
            Some("lifetime"),
        ),
        (
            "a console session of negative length",
            Call::Session(session_lasting(-60)),
            Code::InvalidArgument,
            Some("lifetime"),
        ),
        (
            "a console session with a name of 201 characters",
            Call::Session(pb::CreateConsoleSessionRequest {
                organization_id: "acme".into(),
                name: "n".repeat(201),
                ..Default::default()
            }),
            Code::InvalidArgument,
            Some("name"),
        ),
        (
            "a console session for a malformed organization",
            Call::Session(pb::CreateConsoleSessionRequest {
                organization_id: "Not An Org!".into(),
                ..Default::default()
            }),
            Code::InvalidArgument,
            Some("organization_id"),
        ),
        (
            "a key of an unknown scope",
            Call::CreateKey(pb::CreateApiKeyRequest {
                organization_id: "acme".into(),
                name: "k".into(),
                scope: 9,
            }),
            Code::InvalidArgument,
            Some("scope"),
        ),
    ];
    assert!(cases.len() >= 120, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (name, rpc, code, field) in cases {
        let outcome = call(server, rpc).await;
        if let Some(problem) = check(outcome, code, field) {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));

    // Nothing half-written: acme still has exactly the one webhook, and no
    // event of a refused batch was stored.
    let list = pb::ListWebhooksRequest {
        organization_id: "acme".into(),
        ..Default::default()
    };
    let listed = server
        .webhooks()
        .list_webhooks(authed(ADMIN_KEY, list))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed
            .webhooks
            .iter()
            .map(|w| w.id.as_str())
            .collect::<Vec<_>>(),
        [ex]
    );
}

/// `None` when the status is as expected; else what differs.
fn session_lasting(seconds: i64) -> pb::CreateConsoleSessionRequest {
    pb::CreateConsoleSessionRequest {
        organization_id: "acme".into(),
        lifetime: Some(prost_types::Duration { seconds, nanos: 0 }),
        ..Default::default()
    }
}

fn check(outcome: Result<(), Status>, code: Code, field: Option<&str>) -> Option<String> {
    let status = match outcome {
        Ok(()) => return Some(format!("succeeded, want {code:?}")),
        Err(status) => status,
    };
    if status.code() != code {
        return Some(format!(
            "got {:?} ({}), want {code:?}",
            status.code(),
            status.message()
        ));
    }
    let field = field?;
    let violations = status
        .get_details_bad_request()
        .map(|b| b.field_violations)
        .unwrap_or_default();
    if violations
        .iter()
        .any(|v| v.field == field && !v.description.is_empty())
    {
        None
    } else {
        Some(format!("no violation of `{field}` in {violations:?}"))
    }
}

/// GetWebhookRequest with `id` (tag 1) as raw bytes: a client that sends
/// text that is not UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct RawGetWebhook {
    #[prost(bytes = "vec", tag = "1")]
    id: Vec<u8>,
}

#[tokio::test]
async fn text_that_is_not_utf8_is_invalid_argument_not_internal() {
    let server = TestServer::start(selki_testkit::Db::Sqlite)
        .await
        .expect("SQLite");
    let mut grpc = tonic::client::Grpc::new(server.channel.clone());
    grpc.ready().await.expect("ready");
    let codec = tonic_prost::ProstCodec::<RawGetWebhook, pb::GetWebhookResponse>::default();
    let path = http::uri::PathAndQuery::from_static("/selki.webhooks.v1.WebhookService/GetWebhook");
    let request = authed(
        ADMIN_KEY,
        RawGetWebhook {
            id: b"wh_\xff\xfe".to_vec(),
        },
    );
    let status = grpc
        .unary(request, path, codec)
        .await
        .expect_err("not UTF-8");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    server.finish().await;
}
