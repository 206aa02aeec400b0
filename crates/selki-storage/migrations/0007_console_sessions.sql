-- Console sessions are API keys with an end: short-lived bearer tokens
-- for one organization (milliseconds since the epoch; NULL: a key that
-- lasts until revoked).
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
-- Counting an organization's live sessions (at most so many) and pruning
-- the long-ended ones.
CREATE INDEX api_keys_sessions ON api_keys (organization_id, expires_at);
CREATE INDEX api_keys_expiry ON api_keys (expires_at);
