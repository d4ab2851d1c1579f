-- Plans and their targets (imported from plan files), and values reported by agencies.
-- Portable SQL (SQLite and PostgreSQL): BIGINT integers, DOUBLE PRECISION values, Unix
-- microseconds for timestamps.

CREATE TABLE plans (
    code TEXT PRIMARY KEY,
    title_vi TEXT NOT NULL,
    title_en TEXT NOT NULL,
    plan_year BIGINT NOT NULL,
    base_year BIGINT NOT NULL,
    -- The file it was imported from and the SHA-256 of its content: an unchanged file is
    -- not imported again.
    source TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);

CREATE TABLE plan_targets (
    plan_code TEXT NOT NULL REFERENCES plans (code),
    target_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    -- government | economy | society | border
    pillar TEXT NOT NULL,
    horizon_year BIGINT NOT NULL,
    -- percent | rate | rank | boolean
    kind TEXT NOT NULL,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    target_value DOUBLE PRECISION NOT NULL,
    unit TEXT NOT NULL,
    -- at_least | at_most
    direction TEXT NOT NULL,
    base_value DOUBLE PRECISION,
    measured_by TEXT NOT NULL,
    -- A live indicator (services.…) or a reported one (reported.…).
    indicator_key TEXT NOT NULL,
    PRIMARY KEY (plan_code, target_id)
);

CREATE UNIQUE INDEX plan_targets_id ON plan_targets (target_id);
CREATE INDEX plan_targets_indicator ON plan_targets (indicator_key);

-- Every version of every reported value; rows are only ever inserted.
CREATE TABLE reported_values (
    indicator_key TEXT NOT NULL,
    -- Period key: 2026, 2026-9M, 2026-6M, 2026-Q1, 2026-01, 2026-01-31.
    period TEXT NOT NULL,
    -- province | commune | agency, and the unit's code ('' for the province).
    org_kind TEXT NOT NULL,
    org_code TEXT NOT NULL,
    version BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    numerator DOUBLE PRECISION,
    denominator DOUBLE PRECISION,
    note TEXT NOT NULL,
    reported_by TEXT NOT NULL,
    reported_at BIGINT NOT NULL,
    PRIMARY KEY (indicator_key, period, org_kind, org_code, version)
);
