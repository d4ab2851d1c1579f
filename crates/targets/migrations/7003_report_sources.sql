-- Which approved report a reported value came from (nguồn số liệu báo cáo): written in the
-- approval's transaction, one row per value recorded, so that the annual review can say for
-- each value the agency, regime, period and version of the report, and who approved it when.
CREATE TABLE report_recorded_values (
    task_id TEXT NOT NULL REFERENCES report_tasks (id),
    -- The approval's version of the report.
    report_version BIGINT NOT NULL,
    indicator_key TEXT NOT NULL,
    period TEXT NOT NULL,
    org_kind TEXT NOT NULL,
    org_code TEXT NOT NULL,
    -- The version of the reported value it wrote.
    value_version BIGINT NOT NULL,
    PRIMARY KEY (task_id, report_version, indicator_key)
);
CREATE INDEX report_recorded_values_value
    ON report_recorded_values (indicator_key, period, org_kind, org_code, value_version);
