-- Reporting regimes (chế độ báo cáo) and report tasks. Portable SQL (SQLite and PostgreSQL):
-- BIGINT integers, TEXT dates (YYYY-MM-DD), Unix microseconds for timestamps.

-- A regime as imported from its file; `definition` is the checked regime as JSON.
CREATE TABLE report_regimes (
    code TEXT PRIMARY KEY,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    frequency TEXT NOT NULL,
    recipient_code TEXT NOT NULL,
    definition TEXT NOT NULL,
    source TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);

-- One task per (regime, period, reporting agency); opened idempotently.
CREATE TABLE report_tasks (
    id TEXT PRIMARY KEY,
    regime_code TEXT NOT NULL REFERENCES report_regimes (code),
    period TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    recipient_code TEXT NOT NULL,
    -- Last day of the cut-off window and the deadline (YYYY-MM-DD).
    cutoff_last_day TEXT NOT NULL,
    due_date TEXT NOT NULL,
    -- open | draft | submitted | returned | approved (the status of the latest version).
    status TEXT NOT NULL,
    -- The latest version (0: none yet).
    version BIGINT NOT NULL,
    -- 1 once a submission came after the deadline.
    late BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    UNIQUE (regime_code, period, agency_code)
);
CREATE INDEX report_tasks_agency ON report_tasks (agency_code, status);
CREATE INDEX report_tasks_recipient ON report_tasks (recipient_code, status);

-- Every version of every report; rows are only ever inserted.
CREATE TABLE report_versions (
    task_id TEXT NOT NULL REFERENCES report_tasks (id),
    version BIGINT NOT NULL,
    -- save | submit | return | approve
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    -- {element key: {"value": …, "auto": …, "reason": …}}
    report_values TEXT NOT NULL,
    comment TEXT NOT NULL,
    late BIGINT NOT NULL,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (task_id, version)
);

-- Evidence attached to a report (the file itself is in the content-addressed file store).
CREATE TABLE report_evidence (
    task_id TEXT NOT NULL REFERENCES report_tasks (id),
    seq BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, seq)
);

-- An overdue task escalated to the recipient, once per task.
CREATE TABLE report_escalations (
    task_id TEXT PRIMARY KEY REFERENCES report_tasks (id),
    due_date TEXT NOT NULL,
    escalated_on TEXT NOT NULL,
    escalated_at BIGINT NOT NULL
);
