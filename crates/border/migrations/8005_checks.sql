-- The agencies' workbench (bàn làm việc của các lực lượng tại cửa khẩu): one row per (trip,
-- check kind) with its current decision and the times that measure the agency's service, every
-- decision in order, and the customs release decisions received from customs (the platform
-- does not process customs declarations: it records what customs decided).
-- Portable SQL (SQLite and PostgreSQL): BIGINT integers, Unix microseconds for timestamps.

CREATE TABLE border_checks (
    trip_id TEXT NOT NULL REFERENCES border_trips (id),
    -- customs | border_guard | plant_quarantine | animal_quarantine | health_quarantine
    kind TEXT NOT NULL,
    gate_code TEXT NOT NULL,
    -- The agency making the check at that gate (gates.toml).
    agency_code TEXT NOT NULL,
    -- started | passed | held | rejected
    status TEXT NOT NULL,
    reason TEXT,
    -- When the officer started (or first decided); NULL for customs when the truck's arrival
    -- in the yard is not known.
    started_at BIGINT,
    -- When it was closed (passed or rejected); NULL while started or held.
    decided_at BIGINT,
    decided_by TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (trip_id, kind)
);

CREATE INDEX border_checks_decided ON border_checks (decided_at);
CREATE INDEX border_checks_gate ON border_checks (gate_code, kind, status);

CREATE TABLE border_check_decisions (
    id TEXT PRIMARY KEY,
    trip_id TEXT NOT NULL REFERENCES border_trips (id),
    kind TEXT NOT NULL,
    -- start | pass | hold | reject
    decision TEXT NOT NULL,
    reason TEXT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL
);

CREATE INDEX border_check_decisions_trip ON border_check_decisions (trip_id, at);

CREATE TABLE border_customs_releases (
    trip_id TEXT NOT NULL REFERENCES border_trips (id),
    -- The customs declaration number (số tờ khai hải quan, 12 digits).
    customs_declaration TEXT NOT NULL,
    -- released | held | rejected: the latest customs decision (by decided_at).
    decision TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    -- The customs officer who decided, as customs identifies them.
    officer_ref TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    received_by TEXT NOT NULL,
    PRIMARY KEY (trip_id, customs_declaration)
);
