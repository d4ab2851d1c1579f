-- Accounts (tài khoản): citizens, enterprises, household businesses and staff.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    search_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    cccd TEXT,
    mst TEXT,
    phone TEXT,
    email TEXT,
    agency_code TEXT,
    title TEXT,
    password_hash TEXT NOT NULL,
    totp_secret TEXT,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_agency ON users (agency_code);
CREATE INDEX users_search ON users (search_key);

-- Roles (vai trò), each scoped to the province, an agency subtree or a commune.
CREATE TABLE role_assignments (
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    scope_kind TEXT NOT NULL,
    scope_code TEXT NOT NULL,
    PRIMARY KEY (user_id, role, scope_kind, scope_code)
);

-- Failed sign-ins per user name, known or not (so lockout reveals nothing).
CREATE TABLE login_throttle (
    username TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);

-- Browser sessions; only the SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- API tokens for programs: scoped, expiring, stored hashed.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);

-- Digital identity of staff (định danh số): an ed25519 key pair per person; the private key
-- is sealed with the platform's master key.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    public_key TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX signing_keys_user ON signing_keys (user_id);
