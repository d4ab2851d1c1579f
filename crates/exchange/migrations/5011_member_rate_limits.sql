-- Per-member rate limits (giới hạn tần suất theo thành viên): a token bucket's burst and refill
-- per second, set by an administrator; no row: the hub's default (200 at once, 100 a second).
CREATE TABLE exchange_member_limits (
    member_code TEXT PRIMARY KEY REFERENCES exchange_members (code),
    burst BIGINT NOT NULL,
    per_second DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
