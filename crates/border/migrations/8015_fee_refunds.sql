-- Refunds of prepaid infrastructure fees (hoàn phí sử dụng công trình kết cấu hạ tầng): a fee
-- paid before arrival for a trip that never crossed (cancelled, no-show, turned back) is paid
-- back. requested → approved (by a fee officer) → paid (with the transfer's reference).
-- Portable SQL (SQLite and PostgreSQL): BIGINT integers, Unix microseconds for timestamps.
CREATE TABLE border_fee_refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES border_fee_payments (id),
    assessment_id TEXT NOT NULL REFERENCES border_fee_assessments (id),
    trip_id TEXT NOT NULL REFERENCES border_trips (id),
    trip_code TEXT NOT NULL,
    gate_code TEXT NOT NULL,
    amount_vnd BIGINT NOT NULL,
    -- The shares given back: the collector's (để lại) and the budget's (nộp ngân sách).
    collector_vnd BIGINT NOT NULL,
    budget_vnd BIGINT NOT NULL,
    -- cancelled | no_show | returned | other
    reason TEXT NOT NULL,
    note TEXT NOT NULL,
    -- Where the money goes back: the gateway transaction that paid it (<gateway>:<txn id>).
    refund_to TEXT NOT NULL,
    -- requested | approved | paid
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    approved_by TEXT,
    approved_at BIGINT,
    paid_by TEXT,
    paid_at BIGINT,
    -- The refund transfer's reference (mã giao dịch hoàn tiền), once paid.
    reference TEXT UNIQUE
);

-- One refund per payment: a fee is refunded once.
CREATE UNIQUE INDEX border_fee_refunds_one_per_payment ON border_fee_refunds (payment_id);
CREATE INDEX border_fee_refunds_status ON border_fee_refunds (status, requested_at);
CREATE INDEX border_fee_refunds_paid ON border_fee_refunds (paid_at, gate_code);
