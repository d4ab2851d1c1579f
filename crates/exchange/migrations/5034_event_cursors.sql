-- Members' pulls of events through the hub (nhận sự kiện qua trục) when no NATS is configured:
-- per member x topic prefix, the newest outbox sequence the member acknowledged. Pulls hand
-- out the events after it; an acknowledgement moves it forward (never back). With NATS the
-- member's JetStream durable consumer keeps this instead.
CREATE TABLE exchange_event_cursors (
    member_code TEXT NOT NULL REFERENCES exchange_members (code),
    topic_prefix TEXT NOT NULL,
    acked_seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (member_code, topic_prefix)
);
