-- Connectors to national systems (kết nối hệ thống quốc gia).
-- Per-dossier synchronisation state with the national public service portal (DVCQG):
-- one row per dossier, written by the sync worker (outbox consumer `connectors.dvcqg`).
CREATE TABLE dvcqg_sync (
    dossier_code TEXT PRIMARY KEY,
    agency_code TEXT NOT NULL,
    -- The dossier's submitted_at (Unix µs): the sync rate's period is by reception.
    received_at BIGINT NOT NULL,
    -- 1 once the portal holds the dossier (DongBoHoSoMC accepted).
    on_portal BIGINT NOT NULL DEFAULT 0,
    -- The last dossier event (seq) and status (1–10) the portal acknowledged.
    synced_seq BIGINT NOT NULL DEFAULT 0,
    synced_status BIGINT,
    -- 1 while the portal lags behind the dossier (or a retry is due).
    pending BIGINT NOT NULL DEFAULT 1,
    -- Consecutive failed attempts since the last success.
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    last_attempt_at BIGINT,
    next_attempt_at BIGINT NOT NULL,
    synced_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dvcqg_sync_due ON dvcqg_sync (pending, next_attempt_at);
CREATE INDEX dvcqg_sync_received ON dvcqg_sync (received_at);
