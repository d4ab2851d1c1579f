-- Payments of fees and charges (phí, lệ phí) for dossiers: a request with its VietQR code,
-- settled by a signed callback from the payment platform (PayGov), with an electronic receipt.
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    dossier_code TEXT NOT NULL REFERENCES dossiers (code),
    agency_code TEXT NOT NULL,
    amount_vnd BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    -- pending, paid, failed
    status TEXT NOT NULL,
    gateway TEXT NOT NULL,
    gateway_txn_id TEXT UNIQUE,
    qr_payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    paid_at BIGINT,
    receipt_no TEXT UNIQUE
);

CREATE INDEX payments_dossier ON payments (dossier_code);
CREATE INDEX payments_paid ON payments (status, paid_at);

-- Yearly counters for electronic receipt numbers (biên lai điện tử), BL-<yyyy>-<nnnnnn>.
CREATE TABLE payment_receipt_counters (
    year BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
