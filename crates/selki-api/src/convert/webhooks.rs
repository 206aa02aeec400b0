//! The management RPCs' requests, and a webhook as the API shows it.

use std::time::Duration;

use selki_domain::{
    ContentFilter, CustomHeaders, DeliveryLimits, EndpointUrl, EventTypes, HeaderInput,
    MAX_HEADERS, OrganizationId, RetryPolicy, UrlPolicy, WebhookId, WebhookName,
};
use selki_proto::v1 as pb;
use selki_proto::v1::create_webhook_request::Signing as PbSigning;
use selki_storage::{DayOfCalls, Webhook};
use selki_webhooks::Secret;

use super::alerting::{self, DestinationInput};
use super::{
    PageRequest, duration, duration_in, duration_to_proto, event_type_to_proto, event_types,
    printable, requested_organization, timestamp_to_proto,
};
use crate::error::Violations;

/// Paths an update mask may name (there are seven fields to change).
const MAX_UPDATE_PATHS: usize = 16;
const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);
const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// `CreateWebhook`, parsed.
#[derive(Debug)]
pub(crate) struct CreateWebhook {
    /// `None`: the caller's own organization.
    pub(crate) organization: Option<OrganizationId>,
    pub(crate) name: WebhookName,
    /// Any http(s) URL; whether this server takes plain http is its policy.
    pub(crate) url: EndpointUrl,
    pub(crate) event_types: EventTypes,
    pub(crate) enabled: bool,
    pub(crate) retry: RetryPolicy,
    pub(crate) headers: CustomHeaders,
    pub(crate) timeout: Option<Duration>,
    pub(crate) signing: Signing,
    /// The caller's id for this creation, and the SHA-256 of the rest of
    /// the request: a retry must ask for the same.
    pub(crate) request: Option<(String, [u8; 32])>,
    pub(crate) destination: DestinationInput,
    pub(crate) filter: ContentFilter,
    pub(crate) limits: DeliveryLimits,
}

/// How a new webhook's deliveries are signed.
#[derive(Debug)]
pub(crate) enum Signing {
    Unsigned,
    /// With this secret, which the caller chose.
    Given(Secret),
    /// With a secret the server makes and shows once.
    Generated,
}

/// Get and Delete: one webhook by id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WebhookRef {
    pub(crate) id: WebhookId,
}

#[derive(Debug)]
pub(crate) struct ListWebhooks {
    pub(crate) organization: Option<OrganizationId>,
    pub(crate) enabled: Option<bool>,
    pub(crate) page: PageRequest<WebhookId>,
    pub(crate) include_health: bool,
}

/// `UpdateWebhook`: the fields its mask names, each parsed; `None` leaves
/// a field as it is.
#[derive(Debug)]
pub(crate) struct UpdateWebhook {
    pub(crate) id: WebhookId,
    /// The mask's paths, for the log.
    pub(crate) paths: Vec<String>,
    pub(crate) name: Option<WebhookName>,
    pub(crate) url: Option<EndpointUrl>,
    pub(crate) event_types: Option<EventTypes>,
    pub(crate) enabled: Option<bool>,
    /// Parts of the retry policy to change; the others keep their values.
    pub(crate) retry: Option<RetryChange>,
    /// All the headers, replaced (masked values keep the stored ones).
    pub(crate) headers: Option<HeaderInput>,
    /// Headers to add or replace by name…
    pub(crate) set_headers: Option<HeaderInput>,
    /// …and to remove, the others kept.
    pub(crate) remove_headers: Vec<String>,
    /// `Some(None)`: back to the server's default.
    pub(crate) timeout: Option<Option<Duration>>,
    /// `Some(false)`: stop signing.
    pub(crate) signing: Option<bool>,
    /// The credential, when empty, keeps the stored one (same format).
    pub(crate) destination: Option<DestinationInput>,
    pub(crate) filter: Option<ContentFilter>,
    /// Each limit on its own: the other keeps its value (0: none).
    pub(crate) per_second: Option<u32>,
    pub(crate) in_flight: Option<u32>,
}

/// Parts of a retry policy to change; `None` keeps the stored part.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RetryChange {
    pub(crate) attempts: Option<u32>,
    pub(crate) delay: Option<Duration>,
    pub(crate) exponential: Option<bool>,
    pub(crate) max_delay: Option<Duration>,
}

impl RetryChange {
    /// The stored policy with these changes, or which part is wrong.
    pub(crate) fn apply(
        self,
        stored: RetryPolicy,
    ) -> Result<RetryPolicy, (&'static str, selki_domain::Invalid)> {
        let exponential = self.exponential.unwrap_or(stored.exponential());
        // A policy that turns exponential keeps its cap only if it had one.
        let max_delay = self
            .max_delay
            .or_else(|| stored.exponential().then(|| stored.max_delay()));
        RetryPolicy::new(
            self.attempts.unwrap_or(stored.attempts()),
            self.delay.unwrap_or(stored.delay()),
            exponential,
            max_delay,
        )
    }
}

#[derive(Debug)]
pub(crate) struct RotateSecret {
    pub(crate) id: WebhookId,
    pub(crate) secret: NewSecret,
    /// How long the old secret keeps signing beside the new one.
    pub(crate) grace: Duration,
}

/// The secret a rotation puts in place.
#[derive(Debug)]
pub(crate) enum NewSecret {
    Given(Secret),
    Generated,
}

impl TryFrom<&pb::CreateWebhookRequest> for CreateWebhook {
    type Error = Violations;

    fn try_from(r: &pb::CreateWebhookRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let organization = v.check(
            "organization_id",
            requested_organization(&r.organization_id),
        );
        let name = v.check("name", WebhookName::parse(&r.name));
        let url = v.check("url", EndpointUrl::parse(&r.url, UrlPolicy::AllowHttp));
        let types = event_types("event_types", &r.event_types, &mut v);
        let retry = retry_policy("retry_policy", r.retry_policy.as_ref(), &mut v);
        let headers = header_input("headers", &r.headers, &mut v)
            .and_then(|h| resolved("headers", h, None, &mut v));
        let timeout = call_timeout("timeout", r.timeout.as_ref(), &mut v);
        let signing = match &r.signing {
            Some(PbSigning::SigningSecret(text)) => v
                .check("signing_secret", Secret::parse(text))
                .map(Signing::Given),
            Some(PbSigning::GenerateSigningSecret(true)) => Some(Signing::Generated),
            Some(PbSigning::GenerateSigningSecret(false)) | None => Some(Signing::Unsigned),
        };
        let request = match r.request_id.as_str() {
            "" => Some(None),
            id => v
                .check("request_id", printable(id, 128))
                .map(|id| Some((id, fingerprint(r)))),
        };
        let destination = alerting::destination("destination", r.destination.as_ref(), &mut v);
        if let Some(input) = &destination {
            alerting::require_credential("destination", input, &mut v);
        }
        let filter = alerting::content_filter("filter", r.filter.as_ref(), &mut v);
        let limits = alerting::limits("", r.max_deliveries_per_second, r.max_in_flight, &mut v);
        v.build(|| {
            Some(Self {
                organization: organization?,
                name: name?,
                url: url?,
                event_types: types?,
                enabled: !r.disabled,
                retry: retry?,
                headers: headers?,
                timeout: timeout?,
                signing: signing?,
                request: request?,
                destination: destination?,
                filter: filter?,
                limits: limits?,
            })
        })
    }
}

/// What a creation asked for, its request id aside.
fn fingerprint(r: &pb::CreateWebhookRequest) -> [u8; 32] {
    use prost::Message as _;
    use sha2::Digest as _;
    let asked = pb::CreateWebhookRequest {
        request_id: String::new(),
        ..r.clone()
    };
    sha2::Sha256::digest(asked.encode_to_vec()).into()
}

impl TryFrom<&pb::GetWebhookRequest> for WebhookRef {
    type Error = Violations;

    fn try_from(r: &pb::GetWebhookRequest) -> Result<Self, Violations> {
        webhook_ref(&r.id)
    }
}

impl TryFrom<&pb::DeleteWebhookRequest> for WebhookRef {
    type Error = Violations;

    fn try_from(r: &pb::DeleteWebhookRequest) -> Result<Self, Violations> {
        webhook_ref(&r.id)
    }
}

fn webhook_ref(id: &str) -> Result<WebhookRef, Violations> {
    let mut v = Violations::default();
    let id = v.check("id", WebhookId::parse(id));
    v.build(|| Some(WebhookRef { id: id? }))
}

impl TryFrom<&pb::ListWebhooksRequest> for ListWebhooks {
    type Error = Violations;

    fn try_from(r: &pb::ListWebhooksRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let organization = v.check(
            "organization_id",
            requested_organization(&r.organization_id),
        );
        let page = PageRequest::parse(r.page_size, &r.page_token, WebhookId::parse, &mut v);
        v.build(|| {
            Some(Self {
                organization: organization?,
                enabled: r.enabled,
                page: page?,
                include_health: r.include_health,
            })
        })
    }
}

impl TryFrom<&pb::UpdateWebhookRequest> for UpdateWebhook {
    type Error = Violations;

    fn try_from(r: &pb::UpdateWebhookRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let unset = pb::Webhook::default();
        let webhook = r.webhook.as_ref().unwrap_or(&unset);
        let id = v.check("webhook.id", WebhookId::parse(&webhook.id));
        let mut paths = r
            .update_mask
            .as_ref()
            .map(|m| m.paths.clone())
            .unwrap_or_default();
        let edits = !r.set_headers.is_empty() || !r.remove_headers.is_empty();
        if paths.is_empty() && !edits {
            v.add(
                "update_mask",
                "must name at least one field to change (or give set_headers or remove_headers)",
            );
        }
        if paths.len() > MAX_UPDATE_PATHS {
            v.add(
                "update_mask.paths",
                format!("names {} paths; at most {MAX_UPDATE_PATHS}", paths.len()),
            );
            paths.clear();
        }
        let mut update = Fields::default();
        for (i, path) in paths.iter().enumerate() {
            update.parse(i, path, webhook, &mut v);
        }
        let Fields {
            name,
            url,
            event_types,
            enabled,
            retry,
            headers,
            timeout,
            signing,
            destination,
            filter,
            per_second,
            in_flight,
        } = update;
        let set_headers = match r.set_headers.is_empty() {
            true => None,
            false => header_input("set_headers", &r.set_headers, &mut v),
        };
        let mut remove_headers = Vec::with_capacity(r.remove_headers.len());
        for (i, name) in r.remove_headers.iter().take(MAX_HEADERS + 1).enumerate() {
            match name.trim() {
                "" => v.add(format!("remove_headers[{i}]"), "must name a header"),
                name => remove_headers.push(name.to_ascii_lowercase()),
            }
        }
        if r.remove_headers.len() > MAX_HEADERS {
            v.add(
                "remove_headers",
                format!("lists more than {MAX_HEADERS} names"),
            );
        }
        if headers.is_some() && edits {
            v.add(
                "set_headers",
                "replace all headers (update_mask `headers`) or edit some (set_headers, \
                 remove_headers), not both",
            );
        }
        v.build(|| {
            Some(Self {
                id: id?,
                paths,
                name,
                url,
                event_types,
                enabled,
                retry,
                headers,
                set_headers,
                remove_headers,
                timeout,
                signing,
                destination,
                filter,
                per_second,
                in_flight,
            })
        })
    }
}

/// The fields of an update, as its mask's paths are parsed one by one.
#[derive(Default)]
struct Fields {
    name: Option<WebhookName>,
    url: Option<EndpointUrl>,
    event_types: Option<EventTypes>,
    enabled: Option<bool>,
    retry: Option<RetryChange>,
    headers: Option<HeaderInput>,
    timeout: Option<Option<Duration>>,
    signing: Option<bool>,
    destination: Option<DestinationInput>,
    filter: Option<ContentFilter>,
    per_second: Option<u32>,
    in_flight: Option<u32>,
}

impl Fields {
    fn parse(&mut self, i: usize, path: &str, w: &pb::Webhook, v: &mut Violations) {
        match path {
            "name" => self.name = v.check("webhook.name", WebhookName::parse(&w.name)),
            "url" => {
                self.url = v.check(
                    "webhook.url",
                    EndpointUrl::parse(&w.url, UrlPolicy::AllowHttp),
                );
            }
            "event_types" => {
                self.event_types = event_types("webhook.event_types", &w.event_types, v);
            }
            "enabled" => self.enabled = Some(w.enabled),
            "retry_policy"
            | "retry_policy.attempts"
            | "retry_policy.delay"
            | "retry_policy.exponential_backoff"
            | "retry_policy.max_delay" => {
                let change = self.retry.get_or_insert_default();
                retry_part(path, w.retry_policy.as_ref(), change, v);
            }
            "headers" => self.headers = header_input("webhook.headers", &w.headers, v),
            "timeout" => self.timeout = call_timeout("webhook.timeout", w.timeout.as_ref(), v),
            "destination" => {
                self.destination =
                    alerting::destination("webhook.destination", w.destination.as_ref(), v);
            }
            "filter" => {
                self.filter = alerting::content_filter("webhook.filter", w.filter.as_ref(), v);
            }
            "max_deliveries_per_second" => {
                self.per_second = alerting::limits("webhook.", w.max_deliveries_per_second, 0, v)
                    .map(|_| w.max_deliveries_per_second);
            }
            "max_in_flight" => {
                self.in_flight =
                    alerting::limits("webhook.", 0, w.max_in_flight, v).map(|_| w.max_in_flight);
            }
            "signing_secret_set" => match w.signing_secret_set {
                false => self.signing = Some(false),
                true => v.add(
                    "webhook.signing_secret_set",
                    "can only be turned off here; RotateSigningSecret sets a secret",
                ),
            },
            other => v.add(
                format!("update_mask.paths[{i}]"),
                format!(
                    "`{other}` cannot be updated; use name, url, event_types, enabled, \
                     retry_policy (or retry_policy.attempts, .delay, .exponential_backoff, \
                     .max_delay), headers, timeout, destination, filter, \
                     max_deliveries_per_second, max_in_flight or signing_secret_set (RotateSigningSecret \
                     for the secret)"
                ),
            ),
        }
    }
}

impl TryFrom<&pb::RotateSigningSecretRequest> for RotateSecret {
    type Error = Violations;

    fn try_from(r: &pb::RotateSigningSecretRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let id = v.check("id", WebhookId::parse(&r.id));
        let secret = match r.signing_secret.as_str() {
            "" => Some(NewSecret::Generated),
            text => v
                .check("signing_secret", Secret::parse(text))
                .map(NewSecret::Given),
        };
        let grace = v.check(
            "grace_period",
            r.grace_period.as_ref().map_or(Ok(DEFAULT_GRACE), |g| {
                duration_in(g, Duration::ZERO..=MAX_GRACE, "must be at most 7 days")
            }),
        );
        v.build(|| {
            Some(Self {
                id: id?,
                secret: secret?,
                grace: grace?,
            })
        })
    }
}

/// One path's part of a retry policy change: `retry_policy` takes attempts
/// and exponential_backoff, and delay and max_delay when set.
fn retry_part(
    path: &str,
    given: Option<&pb::RetryPolicy>,
    change: &mut RetryChange,
    v: &mut Violations,
) {
    let unset = pb::RetryPolicy::default();
    let p = given.unwrap_or(&unset);
    let whole = path == "retry_policy";
    let mut delay = |field: &str, value: Option<&prost_types::Duration>| {
        value.and_then(|d| v.check(format!("webhook.retry_policy.{field}"), duration(d)))
    };
    if whole || path == "retry_policy.attempts" {
        change.attempts = Some(p.attempts);
    }
    if whole || path == "retry_policy.exponential_backoff" {
        change.exponential = Some(p.exponential_backoff);
    }
    if whole || path == "retry_policy.delay" {
        change.delay = delay("delay", p.delay.as_ref()).or(change.delay);
    }
    if whole || path == "retry_policy.max_delay" {
        change.max_delay = delay("max_delay", p.max_delay.as_ref()).or(change.max_delay);
    }
}

/// The server default when unset.
fn retry_policy(
    field: &str,
    value: Option<&pb::RetryPolicy>,
    v: &mut Violations,
) -> Option<RetryPolicy> {
    let Some(p) = value else {
        return Some(RetryPolicy::default());
    };
    let default = RetryPolicy::default();
    let delay = match &p.delay {
        Some(d) => v.check(format!("{field}.delay"), duration(d))?,
        None => default.delay(),
    };
    let max_delay = match &p.max_delay {
        Some(d) => Some(v.check(format!("{field}.max_delay"), duration(d))?),
        None => None,
    };
    RetryPolicy::new(p.attempts, delay, p.exponential_backoff, max_delay)
        .map_err(|(part, e)| v.add(format!("{field}.{part}"), e.to_string()))
        .ok()
}

/// A webhook's call timeout: `Some(None)` when unset (the server's default).
fn call_timeout(
    field: &str,
    value: Option<&prost_types::Duration>,
    v: &mut Violations,
) -> Option<Option<Duration>> {
    let bounds = selki_delivery::TIMEOUT_MIN..=selki_delivery::TIMEOUT_MAX;
    let why = "must be 1 to 60 seconds (or unset for the server's default)";
    v.check_opt(field, value.map(|t| duration_in(t, bounds, why)))
}

/// Custom headers as given; masked values are resolved later.
fn header_input(field: &str, values: &[pb::Header], v: &mut Violations) -> Option<HeaderInput> {
    let triples = values
        .iter()
        .map(|h| (h.name.clone(), h.value.clone(), h.sensitive))
        .collect();
    HeaderInput::parse(triples)
        .map_err(|(i, part, e)| v.add(format!("{field}[{i}].{part}"), e.to_string()))
        .ok()
}

/// Custom headers with their masked values taken from `stored`.
pub(crate) fn resolved(
    field: &str,
    input: HeaderInput,
    stored: Option<&CustomHeaders>,
    v: &mut Violations,
) -> Option<CustomHeaders> {
    input
        .resolve(stored)
        .map_err(|(i, part, e)| v.add(format!("{field}[{i}].{part}"), e.to_string()))
        .ok()
}

pub(crate) fn webhook_to_proto(w: &Webhook) -> pb::Webhook {
    pb::Webhook {
        id: w.id.to_string(),
        organization_id: w.organization.to_string(),
        name: w.name.as_str().to_owned(),
        url: w.url.as_str().to_owned(),
        event_types: w
            .event_types
            .iter()
            .map(|t| event_type_to_proto(t) as i32)
            .collect(),
        enabled: w.enabled,
        disabled_reason: w.disabled_reason.clone().unwrap_or_default(),
        signing_secret_set: w.signing.secret_set,
        retry_policy: Some(pb::RetryPolicy {
            attempts: w.retry.attempts(),
            delay: Some(duration_to_proto(w.retry.delay())),
            exponential_backoff: w.retry.exponential(),
            max_delay: Some(duration_to_proto(w.retry.max_delay())),
        }),
        // Sensitive values never leave in full; headers this server cannot
        // open are left out (start-up names the missing key).
        headers: w
            .headers
            .iter()
            .flat_map(CustomHeaders::headers)
            .map(|h| pb::Header {
                name: h.name().to_owned(),
                value: h.shown_value().to_owned(),
                sensitive: h.is_sensitive(),
            })
            .collect(),
        timeout: w.timeout.map(duration_to_proto),
        create_time: Some(timestamp_to_proto(w.created_at)),
        update_time: Some(timestamp_to_proto(w.updated_at)),
        previous_secret_expire_time: w.signing.previous_expires_at.map(timestamp_to_proto),
        health: None,
        destination: Some(alerting::destination_to_proto(
            &w.destination,
            w.credential_set,
        )),
        filter: alerting::filter_to_proto(&w.filter),
        max_deliveries_per_second: w.limits.per_second.map_or(0, |n| n.get()),
        max_in_flight: w.limits.in_flight.map_or(0, |n| n.get()),
    }
}

/// A webhook's health at a glance: its last day of calls and its streak.
pub(crate) fn health_to_proto(w: &Webhook, day: DayOfCalls) -> pb::WebhookHealth {
    #[allow(clippy::cast_precision_loss)]
    let success_rate = match day.calls {
        0 => 0.0,
        calls => day.successful_calls as f64 / calls as f64,
    };
    pb::WebhookHealth {
        success_rate,
        calls: day.calls,
        successful_calls: day.successful_calls,
        consecutive_failures: w.consecutive_failures,
        last_success_time: w.last_success.map(timestamp_to_proto),
        last_failure_time: w.last_failure.map(timestamp_to_proto),
    }
}
