-- Every server process while it runs, with a heartbeat every few seconds:
-- the write that tells health whether the database takes writes, and how
-- workers find a dead worker and hand its claims to others without
-- waiting out its leases.
CREATE TABLE processes (
    name          TEXT PRIMARY KEY,   -- also the prefix of its lease tokens
    role          TEXT NOT NULL,      -- all, api or worker
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);
