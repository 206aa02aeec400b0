-- Console sessions are API keys with an end: short-lived bearer tokens
-- for one organization (milliseconds since the epoch; NULL: a key that
-- lasts until revoked).
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
