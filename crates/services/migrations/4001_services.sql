-- Procedure catalogue (danh mục thủ tục hành chính), versioned: a dossier keeps the version it
-- was filed under.
CREATE TABLE procedures (
    code TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    search_key TEXT NOT NULL,
    sector TEXT NOT NULL,
    level TEXT NOT NULL,
    online_level TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (code, version)
);
CREATE TABLE procedure_current (
    code TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    active BIGINT NOT NULL
);

-- Dossiers (hồ sơ).
CREATE TABLE dossiers (
    code TEXT PRIMARY KEY,
    procedure_code TEXT NOT NULL,
    procedure_version BIGINT NOT NULL,
    agency_code TEXT NOT NULL,
    commune_code TEXT,
    applicant_user_id TEXT,
    applicant_kind BIGINT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_id_number TEXT NOT NULL,
    applicant_phone TEXT NOT NULL,
    applicant_email TEXT NOT NULL,
    channel BIGINT NOT NULL,
    status BIGINT NOT NULL,
    step TEXT NOT NULL,
    holder_user_id TEXT,
    form_data TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    accepted_at BIGINT,
    due_date TEXT,
    finished_at BIGINT,
    returned_at BIGINT,
    paused_since BIGINT,
    paused_working_days BIGINT NOT NULL DEFAULT 0,
    supplement_count BIGINT NOT NULL DEFAULT 0,
    status_before_pause BIGINT,
    fee_vnd BIGINT NOT NULL DEFAULT 0,
    paid_vnd BIGINT NOT NULL DEFAULT 0,
    idempotency_key TEXT UNIQUE,
    request_hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dossiers_agency_status ON dossiers (agency_code, status, submitted_at);
CREATE INDEX dossiers_applicant ON dossiers (applicant_user_id, submitted_at);
CREATE INDEX dossiers_submitted ON dossiers (submitted_at);

-- Per agency and day counters for dossier codes.
CREATE TABLE dossier_counters (
    agency_code TEXT NOT NULL,
    day TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (agency_code, day)
);

-- The history of a dossier: every transition, who made it, why, signed (phiếu kiểm soát
-- quá trình, form 06, is drawn from it).
CREATE TABLE dossier_events (
    dossier_code TEXT NOT NULL REFERENCES dossiers (code),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    from_status BIGINT NOT NULL,
    to_status BIGINT NOT NULL,
    step TEXT NOT NULL,
    actor_user_id TEXT,
    actor_name TEXT NOT NULL,
    holder_user_id TEXT,
    reason TEXT NOT NULL,
    signed_payload TEXT NOT NULL,
    signature TEXT,
    public_key TEXT,
    PRIMARY KEY (dossier_code, seq)
);

-- Attached components (thành phần hồ sơ): content-addressed files.
CREATE TABLE dossier_files (
    dossier_code TEXT NOT NULL REFERENCES dossiers (code),
    component_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (dossier_code, component_id, sha256)
);
