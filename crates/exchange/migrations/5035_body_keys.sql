-- Versions of the key the exchange hub's kept bodies are sealed with (khóa mã hóa nội dung):
-- each version's key is derived from the master key and the version; a kept body names its
-- version (`k<n>:` before the base64 from version 2 on). Version 1 is the key bodies were
-- sealed with before rotation existed.
CREATE TABLE exchange_body_keys (
    version BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
INSERT INTO exchange_body_keys (version, created_at, created_by) VALUES (1, 0, 'migration 5035');
