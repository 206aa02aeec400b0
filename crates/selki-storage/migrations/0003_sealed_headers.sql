-- Custom header values are sealed at rest like signing secrets: the
-- headers as JSON [[name, value, sensitive], …], sealed (nonce ||
-- ciphertext) with the key named beside it. `headers` keeps '[]' for
-- sealed rows; rows written before this are sealed by the server at start.
ALTER TABLE webhooks ADD COLUMN headers_sealed BYTEA;
ALTER TABLE webhooks ADD COLUMN headers_key_id TEXT;
