-- Truck journeys from events: the places where cameras, QR readers and geofences are (which
-- gate, which stage an event there means), every event received (idempotent by its ID), and
-- the officers' review queue for camera reads that matched no trip or several.
-- Portable SQL (SQLite and PostgreSQL): BIGINT integers, Unix microseconds for timestamps.

CREATE TABLE border_sensors (
    id TEXT PRIMARY KEY,
    -- camera | qr | geofence
    kind TEXT NOT NULL,
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    -- The stage an event here means: staging | yard | checked | paid | crossed | exited
    stage TEXT NOT NULL,
    name_vi TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE border_events (
    event_id TEXT PRIMARY KEY,
    -- camera | qr | gps
    kind TEXT NOT NULL,
    sensor_id TEXT NOT NULL REFERENCES border_sensors (id),
    gate_code TEXT NOT NULL,
    stage TEXT NOT NULL,
    -- When it happened (the sensor's clock).
    at BIGINT NOT NULL,
    -- Camera reads: the text and the camera's confidence (0–1).
    plate_text TEXT,
    confidence DOUBLE PRECISION,
    -- QR scans: the trip code of the pass; GPS: the trip.
    ref TEXT,
    -- The trip the event was attached to (NULL: sent to review or unknown).
    trip_id TEXT,
    -- exact | fuzzy | qr | gps | ambiguous | no_match | several_trips | unknown_trip
    outcome TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE INDEX border_events_trip ON border_events (trip_id, at);
CREATE INDEX border_events_at ON border_events (gate_code, at);

CREATE TABLE border_review_queue (
    event_id TEXT PRIMARY KEY REFERENCES border_events (event_id),
    gate_code TEXT NOT NULL,
    stage TEXT NOT NULL,
    at BIGINT NOT NULL,
    plate_text TEXT NOT NULL,
    -- ambiguous | no_match | several_trips
    reason TEXT NOT NULL,
    -- JSON array of {"trip_id", "plate"}: the trips the read could be.
    candidates TEXT NOT NULL,
    -- open | attached | dismissed
    status TEXT NOT NULL,
    resolved_trip_id TEXT,
    resolved_by TEXT,
    resolved_reason TEXT,
    resolved_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE INDEX border_review_open ON border_review_queue (status, gate_code, created_at);
