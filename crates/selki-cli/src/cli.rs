//! The command line: every command and flag, in clap's derive form.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "selki",
    version,
    about = "Selki Webhooks from the command line: webhooks, events, calls, stats, API keys, and a local receiver",
    after_help = "Exit codes: 0 ok, 1 server error, 2 usage error, 3 not found, 4 not authenticated or not allowed, 5 refused by the server (invalid or conflicting request), 6 server unreachable."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Server address; https:// for TLS [default: http://127.0.0.1:50051, or the config file's].
    #[arg(long, env = "SELKI_ADDR", global = true)]
    pub(crate) addr: Option<String>,
    /// API key sent as `authorization: Bearer <key>` [default: the config file's].
    #[arg(long, env = "SELKI_API_KEY", global = true, hide_env_values = true)]
    pub(crate) api_key: Option<String>,
    /// A TOML file with `addr` and `api_key` [default: ~/.config/selki/config.toml].
    #[arg(long, env = "SELKI_CLI_CONFIG", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// PEM CA certificate to trust for an https address (besides the public roots).
    #[arg(long, global = true)]
    pub(crate) ca_cert: Option<PathBuf>,
    /// table (for people) or json (for scripts).
    #[arg(long, short, value_enum, default_value_t = Output::Table, global = true)]
    pub(crate) output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, list, change and delete webhooks.
    #[command(subcommand)]
    Webhooks(WebhookCommand),
    /// Submit events.
    #[command(subcommand)]
    Events(EventCommand),
    /// Recent calls: list, inspect, redeliver, watch live.
    #[command(subcommand)]
    Calls(CallCommand),
    /// A webhook's success rate, response times and calls per status.
    Stats {
        webhook: String,
        /// How far back: 1m to 30days.
        #[arg(long, default_value = "24h", value_parser = span)]
        window: Duration,
    },
    /// Queue a webhook's failed and skipped deliveries again.
    Recover {
        webhook: String,
        /// Deliveries of events since: an RFC 3339 time or an age like 2h.
        #[arg(long, value_parser = since)]
        since: time::OffsetDateTime,
        /// …and before: an RFC 3339 time or an age like 1h.
        #[arg(long, value_parser = since)]
        until: Option<time::OffsetDateTime>,
        /// At most this many (1 to 10000) [default: 1000].
        #[arg(long)]
        limit: Option<u32>,
    },
    /// What is queued for a webhook, what is in flight, what failed.
    #[command(subcommand)]
    Deliveries(DeliveryCommand),
    /// Send a webhook the events of a time range again, whatever their state.
    Replay {
        webhook: String,
        /// Events accepted since: an RFC 3339 time or an age like 2h.
        #[arg(long, value_parser = since)]
        since: time::OffsetDateTime,
        /// …and before: an RFC 3339 time or an age like 1h [default: now].
        #[arg(long, value_parser = since)]
        until: Option<time::OffsetDateTime>,
        /// Only events of these types (repeat, or comma-separated).
        #[arg(long = "type", value_delimiter = ',', value_parser = event_type)]
        event_types: Vec<i32>,
        /// Your id for this replay: asking again with it replays nothing twice.
        #[arg(long)]
        replay_id: Option<String>,
    },
    /// Create, list and revoke API keys (admin key).
    #[command(subcommand)]
    Keys(KeyCommand),
    /// Run a local receiver that verifies and prints every delivery.
    Receive(ReceiveArgs),
    /// Whether the server answers; with --wait, wait until it does.
    Status {
        /// Keep trying this long.
        #[arg(long, value_parser = span)]
        wait: Option<Duration>,
    },
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub(crate) enum WebhookCommand {
    /// Create a webhook; a generated signing secret is printed once.
    Create(Box<CreateArgs>),
    /// An organization's webhooks.
    List {
        #[arg(long)]
        org: Option<String>,
        /// Only enabled (true) or disabled (false) ones.
        #[arg(long)]
        enabled: Option<bool>,
        /// Each with its success rate over the last 24 hours and failing streak.
        #[arg(long)]
        health: bool,
    },
    /// One webhook.
    Get { id: String },
    /// Change the given fields.
    Update(Box<UpdateArgs>),
    /// Enable a webhook.
    Enable { id: String },
    /// Disable a webhook: its events are kept as skipped deliveries.
    Disable { id: String },
    /// Delete a webhook and cancel its waiting deliveries. Irreversible.
    Delete {
        id: String,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// Replace the signing secret; the old one keeps signing for a grace period.
    RotateSecret {
        id: String,
        /// The new `whsec_…` secret [default: generated].
        #[arg(long)]
        secret: Option<String>,
        /// How long the old secret keeps signing too (0s: stop at once) [default: 24h].
        #[arg(long, value_parser = span)]
        grace: Option<Duration>,
    },
    /// Send a sample event now and show the call.
    Test {
        id: String,
        /// The event type [default: the webhook's first].
        #[arg(long = "type", value_parser = event_type)]
        event_type: Option<i32>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The organization (required with an admin key).
    #[arg(long)]
    pub(crate) org: Option<String>,
    #[arg(long)]
    pub(crate) name: String,
    #[arg(long)]
    pub(crate) url: String,
    /// Event types to subscribe to (repeat, or comma-separated): sent, opened, clicked, reported, error, new-threat.
    #[arg(long = "event", required = true, value_delimiter = ',', value_parser = event_type)]
    pub(crate) events: Vec<i32>,
    /// Use this `whsec_…` secret instead of a generated one.
    #[arg(long, conflicts_with = "unsigned")]
    pub(crate) secret: Option<String>,
    /// Do not sign deliveries.
    #[arg(long)]
    pub(crate) unsigned: bool,
    #[command(flatten)]
    pub(crate) settings: WebhookSettings,
    /// Create it disabled.
    #[arg(long)]
    pub(crate) disabled: bool,
    /// Your id for this creation: running it again makes no second webhook.
    #[arg(long)]
    pub(crate) request_id: Option<String>,
    /// Print only the new webhook's id (for scripts).
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    pub(crate) id: String,
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// Replace the subscribed event types.
    #[arg(long = "event", value_delimiter = ',', value_parser = event_type)]
    pub(crate) events: Vec<i32>,
    #[command(flatten)]
    pub(crate) settings: WebhookSettings,
    /// Add a header, or replace the one of that name, keeping the others: `Name: value`.
    #[arg(long = "set-header", value_parser = header)]
    pub(crate) set_headers: Vec<(String, String)>,
    /// Remove the header of this name, keeping the others.
    #[arg(long = "remove-header")]
    pub(crate) remove_headers: Vec<String>,
    /// Stop signing deliveries (`webhooks rotate-secret` signs again).
    #[arg(long)]
    pub(crate) no_signing: bool,
    /// Remove the content filter: every event of the subscribed types.
    #[arg(long, conflicts_with_all = ["filter_risk_levels", "filter_min_risk_level", "filter_categories", "filter_campaigns"])]
    pub(crate) no_filter: bool,
}

/// Settings shared by create and update.
#[derive(Debug, Args)]
pub(crate) struct WebhookSettings {
    /// Retries after the first attempt, 0 to 20.
    #[arg(long)]
    pub(crate) retry_attempts: Option<u32>,
    /// Wait before a retry, e.g. 60s.
    #[arg(long, value_parser = span)]
    pub(crate) retry_delay: Option<Duration>,
    /// Double the delay after every retry (with jitter), up to --max-delay.
    #[arg(long)]
    pub(crate) exponential_backoff: Option<bool>,
    #[arg(long, value_parser = span)]
    pub(crate) max_delay: Option<Duration>,
    /// A header sent with every delivery, `Name: value` (repeat for more; replaces all on update). Authorization, Cookie and names with token, secret, key, auth, password or signature are sensitive: shown as ****, and `Name: ****` keeps the stored value.
    #[arg(long = "header", value_parser = header)]
    pub(crate) headers: Vec<(String, String)>,
    /// A header whose value is sensitive whatever its name (never shown after it is set).
    #[arg(long = "secret-header", value_parser = header)]
    pub(crate) secret_headers: Vec<(String, String)>,
    /// How long one call may take, 1s to 60s.
    #[arg(long, value_parser = span)]
    pub(crate) timeout: Option<Duration>,
    #[command(flatten)]
    pub(crate) alerting: AlertSettings,
}

/// Where deliveries go and what, how fast: shared by create and update.
#[derive(Debug, Args)]
pub(crate) struct AlertSettings {
    /// How deliveries are written: selki (the signed envelope), slack, microsoft-teams, pagerduty or splunk-hec.
    #[arg(long, value_parser = destination_format)]
    pub(crate) format: Option<i32>,
    /// PagerDuty's integration (routing) key or Splunk's HEC token: sealed at rest, never shown again.
    #[arg(long, visible_aliases = ["routing-key", "hec-token"])]
    pub(crate) credential: Option<String>,
    /// PagerDuty: the severity of phishing events: critical, error, warning or info [default: info].
    #[arg(long, value_parser = pagerduty_severity)]
    pub(crate) pagerduty_severity: Option<i32>,
    /// PagerDuty's and Splunk's `source` [default: selki].
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Splunk's `sourcetype` [default: selki:webhook].
    #[arg(long)]
    pub(crate) splunk_sourcetype: Option<String>,
    /// Splunk's index [default: the token's].
    #[arg(long)]
    pub(crate) splunk_index: Option<String>,
    /// Splunk's `host`.
    #[arg(long)]
    pub(crate) splunk_host: Option<String>,
    /// Only threats of these risk levels (repeat, or comma-separated): low, medium, high, critical. Filter flags replace the whole filter on update.
    #[arg(long = "filter-risk-level", value_delimiter = ',', value_parser = risk_level)]
    pub(crate) filter_risk_levels: Vec<i32>,
    /// Only threats at this risk level or above.
    #[arg(long, value_parser = risk_level, conflicts_with = "filter_risk_levels")]
    pub(crate) filter_min_risk_level: Option<i32>,
    /// Only threats of these categories (repeat, or comma-separated), e.g. EMPLOYEES.
    #[arg(long = "filter-category", value_delimiter = ',')]
    pub(crate) filter_categories: Vec<String>,
    /// Only phishing events of these campaigns (repeat, or comma-separated).
    #[arg(long = "filter-campaign", value_delimiter = ',')]
    pub(crate) filter_campaigns: Vec<String>,
    /// Calls started per second at most, across every worker (0: no limit).
    #[arg(long)]
    pub(crate) max_rate: Option<u32>,
    /// Calls in flight at once at most, across every worker (0: no limit).
    #[arg(long)]
    pub(crate) max_in_flight: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EventCommand {
    /// Submit one event from flags, or many from a JSON file.
    Send(SendArgs),
    /// One event: its exact body, and its delivery to every webhook.
    Get {
        /// `evt_…` (or give --client-id).
        #[arg(required_unless_present = "client_id")]
        id: Option<String>,
        /// The submitter's client event id instead.
        #[arg(long, conflicts_with = "id")]
        client_id: Option<String>,
        /// The organization (with --client-id and an admin key).
        #[arg(long)]
        org: Option<String>,
    },
    /// An organization's events, newest first.
    List {
        #[arg(long)]
        org: Option<String>,
        /// Only events of this type.
        #[arg(long = "type", value_parser = event_type)]
        event_type: Option<i32>,
        /// Accepted since: an RFC 3339 time or an age like 2h.
        #[arg(long, value_parser = since)]
        since: Option<time::OffsetDateTime>,
        /// Accepted before: an RFC 3339 time or an age like 2h.
        #[arg(long, value_parser = since)]
        until: Option<time::OffsetDateTime>,
        /// Only the event with this client event id.
        #[arg(long)]
        client_id: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeliveryCommand {
    /// A webhook's deliveries, newest first: waiting, in flight, failed, skipped.
    List {
        webhook: String,
        /// pending, in-flight, failed or skipped (repeat, or comma-separated) [default: all four].
        #[arg(long = "state", value_delimiter = ',', value_parser = delivery_state)]
        states: Vec<i32>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The organization (required with an admin key).
    #[arg(long)]
    pub(crate) org: Option<String>,
    /// sent, opened, clicked, reported, error or new-threat.
    #[arg(long = "type", value_parser = event_type, required_unless_present = "file")]
    pub(crate) event_type: Option<i32>,
    /// Your id for the event: sending it again is not a duplicate event.
    #[arg(long)]
    pub(crate) client_event_id: Option<String>,
    /// Phishing events: the campaign.
    #[arg(long)]
    pub(crate) campaign_id: Option<String>,
    /// Phishing events and threats: the email address.
    #[arg(long)]
    pub(crate) email: Option<String>,
    /// error: what went wrong.
    #[arg(long)]
    pub(crate) error: Option<String>,
    /// new-threat: its id.
    #[arg(long)]
    pub(crate) threat_id: Option<String>,
    /// new-threat: e.g. EMPLOYEES.
    #[arg(long)]
    pub(crate) category: Option<String>,
    /// new-threat: low, medium, high or critical.
    #[arg(long)]
    pub(crate) risk_level: Option<String>,
    /// new-threat: the URL concerned.
    #[arg(long = "threat-url")]
    pub(crate) threat_url: Option<String>,
    /// new-threat: the username concerned.
    #[arg(long)]
    pub(crate) username: Option<String>,
    /// A JSON file of events (an array, or one object per line), each
    /// `{"organizationId", "subscription", "data", "clientEventId"?}`.
    #[arg(long, conflicts_with = "event_type")]
    pub(crate) file: Option<PathBuf>,
    /// Wait for the first call to each subscribed webhook and show how it went.
    #[arg(long, conflicts_with = "file")]
    pub(crate) wait: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CallCommand {
    /// A webhook's calls, newest first.
    List {
        webhook: String,
        /// success or failed.
        #[arg(long, value_parser = ["success", "failed"])]
        status: Option<String>,
        /// Only calls delivering this event type.
        #[arg(long = "type", value_parser = event_type)]
        event_type: Option<i32>,
        /// Started since: an RFC 3339 time or an age like 2h.
        #[arg(long, value_parser = since)]
        since: Option<time::OffsetDateTime>,
        /// Started before: an RFC 3339 time or an age like 2h.
        #[arg(long, value_parser = since)]
        until: Option<time::OffsetDateTime>,
        /// Only calls of this event (`evt_…`).
        #[arg(long)]
        event: Option<String>,
        /// Only calls of this delivery (`dlv_…`).
        #[arg(long)]
        delivery: Option<String>,
        /// Only calls answered so: a status (503), a class (5xx) or none (no answer).
        #[arg(long, value_parser = status_code)]
        status_code: Option<StatusCode>,
        /// Only calls made so: automatic, manual, test or replay.
        #[arg(long, value_parser = ["automatic", "manual", "test", "replay"])]
        trigger: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One call: the request as sent, the receiver's answer.
    Get { id: String },
    /// Deliver a call's event again, now.
    Redeliver { id: String },
    /// Stream calls as they happen.
    Watch {
        /// One webhook's calls…
        #[arg(long, conflicts_with = "org")]
        webhook: Option<String>,
        /// …or every call of an organization.
        #[arg(long)]
        org: Option<String>,
        /// Stop after this many calls.
        #[arg(long)]
        count: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create a key; it is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// The organization it acts for [default: every one: an admin key].
        #[arg(long)]
        org: Option<String>,
        /// What it may call: full, ingest (submit events only) or read (get, list, watch, stats).
        #[arg(long, value_parser = ["full", "ingest", "read"], default_value = "full")]
        scope: String,
        /// Print only the key (for scripts).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Mint a console session: a short-lived token for one organization's console; printed once.
    Session {
        /// The organization it acts for (required with an admin key).
        #[arg(long)]
        org: Option<String>,
        /// How long it lasts, 1s to 12h.
        #[arg(long, value_parser = span, default_value = "1h")]
        lifetime: Duration,
        /// Reading only: nothing can be changed or sent.
        #[arg(long)]
        read_only: bool,
        /// Who or what it is for, e.g. the person it is handed to.
        #[arg(long, default_value = "")]
        name: String,
        /// Print only the token (for scripts).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Every key (console sessions too, with when they end).
    List,
    /// Revoke a key or console session at once.
    Revoke {
        id: String,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ReceiveArgs {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8787)]
    pub(crate) port: u16,
    /// The webhook's `whsec_…` secret; without it nothing is verified.
    #[arg(long, env = "SELKI_WEBHOOK_SECRET", hide_env_values = true)]
    pub(crate) secret: Option<String>,
    /// The status to answer deliveries that verify (e.g. 500 to watch retries).
    #[arg(long, default_value_t = 200)]
    pub(crate) status: u16,
    /// Print each delivery's body too.
    #[arg(long, short)]
    pub(crate) verbose: bool,
}

/// `15s`, `2h`, `5days`.
pub(crate) fn span(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("not a duration like 30s or 2h: {e}"))
}

/// An RFC 3339 time, or an age: `2h` means two hours ago.
pub(crate) fn since(text: &str) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let age = humantime::parse_duration(text)
        .map_err(|_| "not an RFC 3339 time (2026-11-27T09:00:00Z) or an age (2h)".to_owned())?;
    Ok(time::OffsetDateTime::now_utc() - age)
}

/// Short names (`clicked`, `new-threat`) or wire names (`PHISHING_EMAIL_CLICKED`).
pub(crate) fn event_type(text: &str) -> Result<i32, String> {
    use selki_proto::v1::EventType as E;
    let wanted = text.trim().to_ascii_lowercase().replace('-', "_");
    let found = match wanted.as_str() {
        "sent" | "phishing_email_sent" => E::PhishingEmailSent,
        "opened" | "phishing_email_opened" => E::PhishingEmailOpened,
        "clicked" | "phishing_email_clicked" => E::PhishingEmailClicked,
        "reported" | "phishing_email_reported" => E::PhishingEmailReported,
        "error" | "phishing_email_error" => E::PhishingEmailError,
        "new_threat" | "threat" | "threats_new_threat" => E::ThreatsNewThreat,
        "webhook_disabled" | "disabled" => E::WebhookDisabled,
        "webhook_failing" | "failing" => E::WebhookFailing,
        "webhook_recovered" | "recovered" => E::WebhookRecovered,
        "delivery_exhausted" | "exhausted" => E::DeliveryExhausted,
        _ => {
            return Err(
                "not an event type: sent, opened, clicked, reported, error, new-threat, \
                 webhook-disabled, webhook-failing, webhook-recovered or delivery-exhausted"
                    .into(),
            );
        }
    };
    Ok(found as i32)
}

/// A destination format by its name.
pub(crate) fn destination_format(text: &str) -> Result<i32, String> {
    use selki_proto::v1::DestinationFormat as F;
    let found = match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "selki" => F::Selki,
        "slack" => F::Slack,
        "microsoft-teams" | "teams" => F::MicrosoftTeams,
        "pagerduty" => F::Pagerduty,
        "splunk-hec" | "splunk" => F::SplunkHec,
        _ => {
            return Err(
                "not a format: selki, slack, microsoft-teams, pagerduty or splunk-hec".into(),
            );
        }
    };
    Ok(found as i32)
}

/// A PagerDuty severity by its name.
pub(crate) fn pagerduty_severity(text: &str) -> Result<i32, String> {
    use selki_proto::v1::PagerDutySeverity as S;
    let found = match text.trim().to_ascii_lowercase().as_str() {
        "critical" => S::Critical,
        "error" => S::Error,
        "warning" => S::Warning,
        "info" => S::Info,
        _ => return Err("not a severity: critical, error, warning or info".into()),
    };
    Ok(found as i32)
}

/// A threat risk level by its name.
pub(crate) fn risk_level(text: &str) -> Result<i32, String> {
    use selki_proto::v1::RiskLevel as R;
    let found = match text.trim().to_ascii_lowercase().as_str() {
        "low" => R::Low,
        "medium" => R::Medium,
        "high" => R::High,
        "critical" => R::Critical,
        _ => return Err("not a risk level: low, medium, high or critical".into()),
    };
    Ok(found as i32)
}

/// Which HTTP statuses `calls list --status-code` wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusCode {
    Exact(u32),
    /// 1 to 5.
    Class(i32),
    NoAnswer,
}

/// `503`, `5xx` or `none`.
fn status_code(text: &str) -> Result<StatusCode, String> {
    let text = text.trim().to_ascii_lowercase();
    if text == "none" {
        return Ok(StatusCode::NoAnswer);
    }
    if let Some(class) = text.strip_suffix("xx")
        && let Ok(class @ 1..=5) = class.parse::<i32>()
    {
        return Ok(StatusCode::Class(class));
    }
    match text.parse::<u32>() {
        Ok(code @ 100..=599) => Ok(StatusCode::Exact(code)),
        _ => Err("a status (503), a class (1xx to 5xx) or none".into()),
    }
}

/// `pending`, `in-flight`, `failed`, `skipped`.
fn delivery_state(text: &str) -> Result<i32, String> {
    use selki_proto::v1::DeliveryState as D;
    Ok(
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "pending" => D::Pending,
            "in-flight" => D::InFlight,
            "failed" => D::Failed,
            "skipped" => D::Skipped,
            _ => return Err("pending, in-flight, failed or skipped".into()),
        } as i32,
    )
}

/// `Name: value`.
fn header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once(':').ok_or("a header is `Name: value`")?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}
