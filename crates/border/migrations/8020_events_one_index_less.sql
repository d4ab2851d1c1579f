-- Camera events: one index less to write per event. `border_events_at (gate_code, at)` was read
-- by nothing (the officers' review queue has its own index, `border_review_open`), and each
-- event paid for it on ingestion (issue #4: events ingested per second).
DROP INDEX IF EXISTS border_events_at;
