-- One schema for PostgreSQL and SQLite. Portable types only: TEXT, BIGINT
-- (INTEGER affinity in SQLite), BYTEA (stored as a blob by SQLite).
-- Times are Unix milliseconds; flags are 0/1; ids are prefixed ULIDs.

CREATE TABLE api_keys (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT,               -- NULL: an admin key
    name             TEXT NOT NULL,
    secret_hash      BYTEA NOT NULL UNIQUE,
    created_at       BIGINT NOT NULL,
    revoked_at       BIGINT
);

CREATE TABLE webhooks (
    id                          TEXT PRIMARY KEY,
    organization_id             TEXT NOT NULL,
    name                        TEXT NOT NULL,
    url                         TEXT NOT NULL,
    event_types                 BIGINT NOT NULL,   -- bit set, see EventTypes
    enabled                     BIGINT NOT NULL,
    disabled_reason             TEXT,
    retry_attempts              BIGINT NOT NULL,
    retry_delay_ms              BIGINT NOT NULL,
    retry_exponential           BIGINT NOT NULL,
    retry_max_delay_ms          BIGINT NOT NULL,
    headers                     TEXT NOT NULL,     -- JSON [[name, value], …]
    secret                      BYTEA,             -- sealed: nonce || ciphertext
    secret_key_id               TEXT,
    previous_secret             BYTEA,
    previous_secret_key_id      TEXT,
    previous_secret_expires_at  BIGINT,
    timeout_ms                  BIGINT,            -- NULL: the server's default
    -- Health, kept by the worker: the failing streak auto-disables.
    consecutive_failures        BIGINT NOT NULL DEFAULT 0,
    failing_since               BIGINT,
    last_success_at             BIGINT,
    last_failure_at             BIGINT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL,
    deleted_at                  BIGINT
);
CREATE INDEX webhooks_by_organization ON webhooks (organization_id, id) WHERE deleted_at IS NULL;

CREATE TABLE events (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    client_event_id  TEXT,
    fingerprint      BYTEA NOT NULL,     -- SHA-256 of what was submitted
    body             TEXT NOT NULL,      -- exactly the JSON that is delivered
    delivery_count   BIGINT NOT NULL,    -- pending deliveries made at ingestion
    occurred_at      BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX events_by_created ON events (created_at);
CREATE UNIQUE INDEX events_by_client_id ON events (organization_id, client_event_id)
    WHERE client_event_id IS NOT NULL;

-- One per event x subscribed webhook. status: pending, succeeded, failed,
-- skipped (webhook disabled at ingestion), cancelled (webhook deleted).
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    -- No foreign keys on the hot tables: each would lock the parent row
    -- (the one webhook every delivery of a busy webhook points to) on every
    -- insert. Webhooks are never hard-deleted and retention prunes calls,
    -- then deliveries, then events, so the ids stay valid.
    event_id         TEXT NOT NULL,
    webhook_id       TEXT NOT NULL,
    organization_id  TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT,
    leased_by        TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- The worker's claim: each webhook's due pending deliveries, oldest first,
-- so one webhook's backlog is never scanned to find another's.
CREATE INDEX deliveries_due ON deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';
-- Per-webhook counts, recovery and cancelling: never the succeeded ones,
-- so recording a success adds no entry here.
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, status)
    WHERE status IN ('pending', 'failed', 'skipped');
CREATE INDEX deliveries_by_event ON deliveries (event_id);
-- Retention: finished deliveries, oldest first.
CREATE INDEX deliveries_finished ON deliveries (updated_at)
    WHERE status IN ('succeeded', 'cancelled');

-- One per HTTP attempt: Recent Calls.
CREATE TABLE calls (
    id                TEXT PRIMARY KEY,
    delivery_id       TEXT,   -- NULL for test calls; no foreign keys (see deliveries)
    webhook_id        TEXT NOT NULL,
    organization_id   TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    attempt           BIGINT NOT NULL,
    call_trigger      TEXT NOT NULL,
    outcome           TEXT NOT NULL,
    http_status       BIGINT,
    url               TEXT NOT NULL,
    started_at        BIGINT NOT NULL,
    duration_ms       BIGINT NOT NULL,
    error_message     TEXT,
    response_excerpt  TEXT
);
-- Recent calls of a webhook, newest first (call ids sort by start time).
CREATE INDEX calls_by_webhook ON calls (webhook_id, id);
CREATE INDEX calls_by_delivery ON calls (delivery_id);
-- Retention.
CREATE INDEX calls_by_start ON calls (started_at);

-- Calls counted per webhook, 5-minute bucket, outcome, status and latency
-- bucket: the Overview's statistics read these, never the calls.
CREATE TABLE call_rollups (
    webhook_id      TEXT NOT NULL,
    bucket_start    BIGINT NOT NULL,   -- Unix ms, a multiple of 5 minutes
    outcome         TEXT NOT NULL,
    http_status     BIGINT NOT NULL,   -- 0: no response
    latency_bucket  BIGINT NOT NULL,   -- see stats.rs
    calls           BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, bucket_start, outcome, http_status, latency_bucket)
);
CREATE INDEX call_rollups_by_start ON call_rollups (bucket_start);
