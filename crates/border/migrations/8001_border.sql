-- The digital border gate: gates (loaded from data/gates.toml, editable), enterprises,
-- drivers, vehicles, trip declarations (tờ khai) with every version kept, their goods lines
-- and the time stamp of every stage of a trip's journey.
-- Portable SQL (SQLite and PostgreSQL): BIGINT integers, Unix microseconds for timestamps.

CREATE TABLE border_gates (
    code TEXT PRIMARY KEY,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    -- road | rail
    kind TEXT NOT NULL,
    commune_code TEXT NOT NULL,
    -- Local opening hours, minutes after midnight (Asia/Ho_Chi_Minh).
    opens_minute BIGINT NOT NULL,
    closes_minute BIGINT NOT NULL,
    lanes BIGINT NOT NULL,
    position BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What the Chinese side accepts: vehicles per hour and per day, per direction.
CREATE TABLE border_gate_capacity (
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    -- export | import | transit | transshipment
    direction TEXT NOT NULL,
    per_hour BIGINT NOT NULL,
    per_day BIGINT NOT NULL,
    PRIMARY KEY (gate_code, direction)
);

CREATE TABLE border_yards (
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    code TEXT NOT NULL,
    name_vi TEXT NOT NULL,
    -- staging (bãi chờ, further back) | yard (bãi kiểm hoá, at the gate)
    kind TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    PRIMARY KEY (gate_code, code)
);

-- The agencies present at a gate and the check each makes.
CREATE TABLE border_gate_agencies (
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    -- customs | border_guard | plant_quarantine | animal_quarantine | health_quarantine | management_board
    check_kind TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    PRIMARY KEY (gate_code, check_kind)
);

CREATE TABLE border_enterprises (
    mst TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    phone TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE border_drivers (
    id TEXT PRIMARY KEY,
    -- cccd | passport
    id_kind TEXT NOT NULL,
    id_number TEXT NOT NULL,
    full_name TEXT NOT NULL,
    phone TEXT NOT NULL,
    -- ISO 3166 alpha-2: VN, CN, …
    nationality TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (id_kind, id_number)
);

CREATE TABLE border_vehicles (
    -- Canonical plate (plate::parse).
    plate TEXT PRIMARY KEY,
    -- vn | cn
    country TEXT NOT NULL,
    -- truck | tractor | trailer
    vehicle_kind TEXT NOT NULL,
    -- white | yellow (commercial transport) | blue | … (Vietnamese plates)
    plate_colour TEXT NOT NULL,
    owner_mst TEXT,
    -- The most goods it may carry (tải trọng), kilograms.
    payload_kg BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A trip declaration (tờ khai), its current version. Corrections rewrite it in place and keep
-- every earlier version in border_trip_versions.
CREATE TABLE border_trips (
    id TEXT PRIMARY KEY,
    -- TK-<gate>-<yymmdd>-<nnnnn>
    code TEXT NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    enterprise_mst TEXT NOT NULL REFERENCES border_enterprises (mst),
    gate_code TEXT NOT NULL REFERENCES border_gates (code),
    -- export | import | transit | transshipment
    direction TEXT NOT NULL,
    vehicle_plate TEXT NOT NULL REFERENCES border_vehicles (plate),
    trailer_plate TEXT REFERENCES border_vehicles (plate),
    driver_id TEXT NOT NULL REFERENCES border_drivers (id),
    expected_arrival BIGINT NOT NULL,
    customs_declaration TEXT NOT NULL,
    total_weight_kg BIGINT NOT NULL,
    perishable BIGINT NOT NULL,
    -- plant | animal | plant,animal | empty
    quarantine TEXT NOT NULL,
    -- declared | staging | yard | checked | paid | crossed | returned | exited | cancelled
    stage TEXT NOT NULL,
    stage_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX border_trips_active ON border_trips (gate_code, stage, expected_arrival);
-- One trip at a time per vehicle: a second declaration while one is active is refused, even
-- when two arrive at once.
CREATE UNIQUE INDEX border_trips_vehicle_active ON border_trips (vehicle_plate)
    WHERE stage NOT IN ('crossed', 'returned', 'exited', 'cancelled');
CREATE INDEX border_trips_enterprise ON border_trips (enterprise_mst, created_at);

CREATE TABLE border_goods_lines (
    trip_id TEXT NOT NULL REFERENCES border_trips (id),
    line_no BIGINT NOT NULL,
    hs_code TEXT NOT NULL,
    description TEXT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    unit TEXT NOT NULL,
    weight_kg BIGINT NOT NULL,
    perishable BIGINT NOT NULL,
    -- plant | animal | empty
    quarantine TEXT NOT NULL,
    PRIMARY KEY (trip_id, line_no)
);

-- Every version of a declaration: the whole declaration as JSON, and what changed from the
-- version before (field → [before, after]).
CREATE TABLE border_trip_versions (
    trip_id TEXT NOT NULL REFERENCES border_trips (id),
    version BIGINT NOT NULL,
    snapshot TEXT NOT NULL,
    changes TEXT NOT NULL,
    reason TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (trip_id, version)
);

-- When each stage of the journey was reached (first time), and what said so.
CREATE TABLE border_trip_stages (
    trip_id TEXT NOT NULL REFERENCES border_trips (id),
    stage TEXT NOT NULL,
    at BIGINT NOT NULL,
    -- declaration | camera | qr | gps | officer | customs
    source TEXT NOT NULL,
    PRIMARY KEY (trip_id, stage)
);

CREATE TABLE border_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
