-- Agencies (cơ quan, đơn vị) as a tree, with their QCVN 102:2016 identifier codes.
CREATE TABLE agencies (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    short_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_code TEXT REFERENCES agencies (code),
    admin_unit_code TEXT,
    code_source TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    website TEXT NOT NULL DEFAULT '',
    working_hours TEXT NOT NULL DEFAULT '',
    search_key TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX agencies_parent ON agencies (parent_code);
CREATE INDEX agencies_unit ON agencies (admin_unit_code);

-- Working-day calendar overrides (điều chỉnh lịch làm việc) decided by the government each year.
CREATE TABLE calendar_overrides (
    day TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
