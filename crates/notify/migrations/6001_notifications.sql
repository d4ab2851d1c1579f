-- Notifications (thông báo) sent to applicants: one row per (outbox event, channel, recipient).
-- The unique key makes a redelivered outbox event find its row and not send again.
-- status: sending (claimed by a worker), sent (đã gửi), retrying (temporary failure, the outbox
-- retries), failed (permanent failure or attempts exhausted: given up), skipped (nothing to
-- send, e.g. no e-mail address).
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    -- What the notification is about, e.g. a dossier code.
    reference TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    -- The last failure, or why the notification was skipped.
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT,
    UNIQUE (event_id, channel, recipient)
);

CREATE INDEX notifications_reference ON notifications (reference, created_at);
CREATE INDEX notifications_status ON notifications (status, updated_at);
