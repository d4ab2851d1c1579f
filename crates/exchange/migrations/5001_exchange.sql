-- Data exchange hub (LGSP): registry, access rights, replay guard, message log.

-- Members (thành viên): agencies and their information systems, by agency code.
CREATE TABLE exchange_members (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- A member's ed25519 public keys; a rotation adds one and revokes the others.
CREATE TABLE exchange_member_keys (
    id TEXT PRIMARY KEY,
    member_code TEXT NOT NULL REFERENCES exchange_members (code),
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX exchange_member_keys_member ON exchange_member_keys (member_code, revoked_at);
-- Services (dịch vụ) a member publishes through the hub.
CREATE TABLE exchange_services (
    provider TEXT NOT NULL REFERENCES exchange_members (code),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    openapi TEXT NOT NULL,
    classification TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (provider, code)
);
-- Access rights (quyền truy cập): client member x service; no row, no access.
CREATE TABLE exchange_rights (
    client TEXT NOT NULL REFERENCES exchange_members (code),
    provider TEXT NOT NULL,
    service TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    granted_by TEXT NOT NULL,
    PRIMARY KEY (client, provider, service),
    FOREIGN KEY (provider, service) REFERENCES exchange_services (provider, code)
);
-- Nonces seen inside the clock window: a second use is a replay.
CREATE TABLE exchange_nonces (
    member_code TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (member_code, nonce)
);
CREATE INDEX exchange_nonces_expiry ON exchange_nonces (expires_at);
-- Message log (nhật ký trao đổi): append-only, hash-chained like the audit trail.
CREATE TABLE exchange_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    exchange_id TEXT NOT NULL UNIQUE,
    client TEXT NOT NULL,
    provider TEXT NOT NULL,
    service TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    latency_us BIGINT NOT NULL,
    request_sha256 TEXT NOT NULL,
    response_sha256 TEXT NOT NULL,
    client_signature TEXT NOT NULL,
    hub_signature TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX exchange_log_service ON exchange_log (provider, service, seq);
CREATE INDEX exchange_log_client ON exchange_log (client, seq);
-- The chain head: its row lock serialises appenders on PostgreSQL; comparing it with the
-- last entry detects deleted newest entries.
CREATE TABLE exchange_log_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO exchange_log_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
-- Anchors (neo chuỗi): the chain head signed by the hub's key (derived from the master key,
-- which is not in the database) at intervals, so that rewriting the whole chain is detected.
CREATE TABLE exchange_log_anchors (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    signature TEXT NOT NULL
);
