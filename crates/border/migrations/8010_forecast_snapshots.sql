-- The latest congestion forecast of each gate (ảnh chụp dự báo ùn tắc), computed by the
-- server's forecast job every few minutes and read by the leaders' pages and the operations
-- centre, so a page view no longer recomputes 72 hours from a month of trips (about 2 s a view
-- for two years of Hữu Nghị). One row per gate: the newest forecast replaces the older one;
-- `params` holds the horizon and history the body was computed with.
CREATE TABLE border_forecast_snapshots (
    gate_code TEXT PRIMARY KEY,
    as_of BIGINT NOT NULL,
    computed_at BIGINT NOT NULL,
    params TEXT NOT NULL,
    body TEXT NOT NULL
);
