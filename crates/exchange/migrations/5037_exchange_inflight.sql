-- Exchanges in flight (trao đổi đang xử lý): with `nonces_before_forwarding`, the hub writes
-- this row in the nonce's transaction, before the provider is called, and deletes it in the
-- transaction of the exchange's log entry. A row left behind is an exchange a crash cut off
-- between forwarding and logging: the hub logs it as `interrupted` when it starts again.
CREATE TABLE exchange_inflight (
    exchange_id TEXT PRIMARY KEY,
    client TEXT NOT NULL,
    provider TEXT NOT NULL,
    service TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    client_signature TEXT NOT NULL,
    started_at BIGINT NOT NULL
);
CREATE INDEX exchange_inflight_started ON exchange_inflight (started_at);
