-- Infrastructure fees (phí sử dụng công trình kết cấu hạ tầng khu vực cửa khẩu): the fee
-- assessed for a trip with the schedule that priced it, its payments through VietQR and the
-- payment gateway, and the electronic receipts (biên lai điện tử).
-- Portable SQL (SQLite and PostgreSQL): BIGINT integers, Unix microseconds for timestamps.

-- The fee assessed for a trip (thông báo số phí). A reassessment (after a correction)
-- supersedes an unpaid one; a trip has at most one assessment that is not superseded.
CREATE TABLE border_fee_assessments (
    id TEXT PRIMARY KEY,
    trip_id TEXT NOT NULL REFERENCES border_trips (id),
    trip_code TEXT NOT NULL,
    -- The declaration version the fee was computed from.
    trip_version BIGINT NOT NULL,
    gate_code TEXT NOT NULL,
    -- The day of the crossing (local, YYYY-MM-DD) whose schedule priced the trip.
    fee_date TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    journey TEXT NOT NULL,
    vehicle_class TEXT NOT NULL,
    category TEXT NOT NULL,
    amount_vnd BIGINT NOT NULL,
    collector_vnd BIGINT NOT NULL,
    budget_vnd BIGINT NOT NULL,
    -- 1 when every figure of the quote is confirmed against the resolution.
    confirmed BIGINT NOT NULL,
    -- The whole quote (fees::FeeQuote) as JSON.
    quote TEXT NOT NULL,
    -- due | paid | superseded
    status TEXT NOT NULL,
    assessed_by TEXT NOT NULL,
    assessed_at BIGINT NOT NULL,
    paid_at BIGINT
);

CREATE UNIQUE INDEX border_fee_assessments_one_active
    ON border_fee_assessments (trip_id) WHERE status <> 'superseded';
CREATE INDEX border_fee_assessments_day ON border_fee_assessments (fee_date, gate_code);

-- A payment request for an assessment, with its VietQR code, settled by a signed callback
-- of the payment gateway. At most one paid payment per assessment (no double payment).
CREATE TABLE border_fee_payments (
    id TEXT PRIMARY KEY,
    assessment_id TEXT NOT NULL REFERENCES border_fee_assessments (id),
    trip_code TEXT NOT NULL,
    gate_code TEXT NOT NULL,
    amount_vnd BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    -- pending | paid | failed
    status TEXT NOT NULL,
    gateway TEXT NOT NULL,
    gateway_txn_id TEXT UNIQUE,
    qr_payload TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    paid_at BIGINT,
    -- BLP-<yyyy>-<nnnnnn>, once paid.
    receipt_no TEXT UNIQUE,
    collector_vnd BIGINT NOT NULL,
    budget_vnd BIGINT NOT NULL
);

CREATE UNIQUE INDEX border_fee_payments_one_paid
    ON border_fee_payments (assessment_id) WHERE status = 'paid';
CREATE INDEX border_fee_payments_paid ON border_fee_payments (status, paid_at, gate_code);
