-- Bodies of exchanges kept at rest (nội dung trao đổi lưu mã hóa): for services classified
-- `public` or `internal` only (`restricted`: hashes in the message log only). Each body is
-- XChaCha20-Poly1305-sealed under a key derived from the master key (base64 of nonce ‖
-- ciphertext). The client's timestamp and nonce are kept so that verification can recompute
-- the signed text, whose hash the chained log entry holds.
CREATE TABLE exchange_bodies (
    exchange_id TEXT PRIMARY KEY,
    client_timestamp BIGINT NOT NULL,
    client_nonce TEXT NOT NULL,
    request_body TEXT NOT NULL,
    response_body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
