-- Audit trail (nhật ký kiểm toán): append-only, hash-chained.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    request_id TEXT NOT NULL,
    summary TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_at ON audit_log (at);
-- The chain head: one row, updated with every append. Its row lock serialises appenders on
-- PostgreSQL; comparing it with the last entry detects deletion of the newest entries.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Transactional outbox (hộp thư đi): events written with the change that caused them.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE outbox_seq (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL
);
INSERT INTO outbox_seq (id, seq) VALUES (1, 0);
-- Per-consumer progress: delivered events, for idempotent at-least-once consumers.
CREATE TABLE outbox_consumers (
    consumer TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE outbox_failures (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Content-addressed files (tệp): metadata; the bytes live in the file store.
CREATE TABLE files (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Idempotency keys (khóa chống trùng) for retried submissions.
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status BIGINT NOT NULL,
    response_body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
