-- Alerts where security teams live: a destination format per webhook (with
-- its sealed credential), a filter on the events' content, limits on how
-- fast and how many calls at once (across every worker), and operational
-- events.

-- The destination: JSON {"format": "slack" | …, and the format's options};
-- NULL is the Selki envelope.
ALTER TABLE webhooks ADD COLUMN destination TEXT;
-- PagerDuty's routing key or Splunk's HEC token, sealed like a secret.
ALTER TABLE webhooks ADD COLUMN credential BYTEA;
ALTER TABLE webhooks ADD COLUMN credential_key_id TEXT;
-- JSON {"risk_levels": […], "categories": […], "campaign_ids": […]}; NULL:
-- every event of the subscribed types.
ALTER TABLE webhooks ADD COLUMN content_filter TEXT;
-- NULL: no limit.
ALTER TABLE webhooks ADD COLUMN max_per_second BIGINT;
ALTER TABLE webhooks ADD COLUMN max_in_flight BIGINT;
-- A rate-limited webhook's schedule: the earliest start of its next call
-- (microseconds since the epoch), advanced by each claim under the row's
-- lock.
ALTER TABLE webhooks ADD COLUMN rate_next_at BIGINT;

-- The calls in flight to webhooks with an in-flight limit, one row per
-- claim: what every worker counts before claiming more. A row counts only
-- while its delivery is still held under that claim's lease (recorded or
-- released, it no longer is), so nothing has to remove it in step; the
-- next claim for the webhook sweeps those that stopped counting. Only
-- limited webhooks write here.
CREATE TABLE in_flight (
    delivery_id  TEXT PRIMARY KEY,
    webhook_id   TEXT NOT NULL,
    lease        TEXT NOT NULL,
    lease_until  BIGINT NOT NULL
);
CREATE INDEX in_flight_by_webhook ON in_flight (webhook_id, lease_until);

-- Operational events. The failing streak a WEBHOOK_FAILING was raised for
-- began at (NULL: none raised since the last success), and the streak's
-- length before the last batch moved it (what WEBHOOK_RECOVERED counts).
ALTER TABLE webhooks ADD COLUMN failing_alerted_since BIGINT;
ALTER TABLE webhooks ADD COLUMN previous_failures BIGINT NOT NULL DEFAULT 0;
