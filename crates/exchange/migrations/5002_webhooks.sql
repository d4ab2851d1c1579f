-- Event subscriptions through the hub (đăng ký nhận sự kiện): topic rights, webhook
-- subscriptions, deliveries and the dead-letter list.

-- Topic rights (quyền nhận sự kiện): member x topic prefix; no row, no delivery.
CREATE TABLE exchange_topic_rights (
    member_code TEXT NOT NULL REFERENCES exchange_members (code),
    topic_prefix TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    granted_by TEXT NOT NULL,
    PRIMARY KEY (member_code, topic_prefix)
);
-- Webhook subscriptions (đăng ký webhook) a member made through the hub. The secret is not
-- stored: it is derived from the master key and `secret_salt`.
CREATE TABLE exchange_webhook_subscriptions (
    id TEXT PRIMARY KEY,
    member_code TEXT NOT NULL REFERENCES exchange_members (code),
    topic_prefix TEXT NOT NULL,
    url TEXT NOT NULL,
    secret_salt TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX exchange_webhook_subscriptions_member ON exchange_webhook_subscriptions (member_code, status);
-- One delivery per subscription x event: pending, delivered, dead (the dead-letter list) or
-- dropped (the subscription was deleted or the right revoked).
CREATE TABLE exchange_webhook_deliveries (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES exchange_webhook_subscriptions (id),
    member_code TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_seq BIGINT NOT NULL,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX exchange_webhook_deliveries_due ON exchange_webhook_deliveries (status, subscription_id, event_seq);
