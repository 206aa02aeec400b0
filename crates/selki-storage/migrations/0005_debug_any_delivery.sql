-- Debug any delivery: an event's trace, a call's request as sent and its
-- response's headers, rounds of attempts that go on counting, replays,
-- idempotent webhook creation and scoped API keys.

-- The submitter's W3C traceparent, when it sent one.
ALTER TABLE events ADD COLUMN traceparent TEXT;
-- An organization's events, newest first (ids sort by acceptance time).
CREATE INDEX events_by_organization ON events (organization_id, id);

-- The request as sent, as what the call's own columns do not say again:
-- JSON {"t": signing time, "s": signature, "ua": user agent, "h": the
-- webhook's headers [[name, value, sensitive], …] with sensitive values
-- masked, "n": body length}; the wire format's headers follow from these
-- and the call's ids. The body is the event's (not copied per call),
-- except for test calls, which have no stored event.
ALTER TABLE calls ADD COLUMN request_headers TEXT;
ALTER TABLE calls ADD COLUMN test_body TEXT;
-- The response's headers, JSON [[name, value], …], bounded by the sender.
ALTER TABLE calls ADD COLUMN response_headers TEXT;
ALTER TABLE calls ADD COLUMN trace_id TEXT;

-- Attempts made before the current round of retries (a recovery or a
-- replay starts one): the retry policy counts from here, while `attempts`
-- goes on counting every call.
ALTER TABLE deliveries ADD COLUMN round_start BIGINT NOT NULL DEFAULT 0;
-- Why the current round's calls are made: NULL (automatic) or 'replay'.
ALTER TABLE deliveries ADD COLUMN round_trigger TEXT;
-- One webhook's waiting and failed deliveries, newest first, per status
-- (replaces the same index without the id).
DROP INDEX deliveries_by_webhook;
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, status, id)
    WHERE status IN ('pending', 'failed', 'skipped');

-- A replay's id, so that a retried ReplayEvents replays nothing twice.
CREATE TABLE replays (
    id               TEXT NOT NULL,
    organization_id  TEXT NOT NULL,
    webhook_id       TEXT NOT NULL,
    replayed         BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (organization_id, id)
);

-- CreateWebhook's request id: a retried creation returns the first, and
-- the fingerprint of what was asked tells a retry from a different request.
ALTER TABLE webhooks ADD COLUMN request_id TEXT;
ALTER TABLE webhooks ADD COLUMN request_fingerprint BYTEA;
CREATE UNIQUE INDEX webhooks_by_request_id ON webhooks (organization_id, request_id)
    WHERE request_id IS NOT NULL;

-- What a key may call: full, ingest or read.
ALTER TABLE api_keys ADD COLUMN access TEXT NOT NULL DEFAULT 'full';
