-- Every version of every reporting regime (phiên bản chế độ báo cáo): an import or an edit in
-- the platform writes a new version, never overwriting one; `report_regimes` holds the
-- current one. A report task keeps the version of the regime it was opened with.
CREATE TABLE report_regime_versions (
    code TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- The checked regime as JSON, as in report_regimes.definition.
    definition TEXT NOT NULL,
    -- The file imported, or `nền tảng` for an edit in the platform.
    source TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (code, version)
);

-- The regimes already imported are their version 1.
INSERT INTO report_regime_versions (code, version, definition, source, content_sha256,
    created_by, created_at)
SELECT code, 1, definition, source, content_sha256, 'migration:7004', imported_at
FROM report_regimes;

ALTER TABLE report_regimes ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Tasks opened before versions existed were opened with version 1.
ALTER TABLE report_tasks ADD COLUMN regime_version BIGINT NOT NULL DEFAULT 1;
