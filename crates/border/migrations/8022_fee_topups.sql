-- Top-ups (thu bổ sung) and rate-change refunds (hoàn phần chênh lệch) of a PAID fee whose
-- declaration or schedule changed afterwards (`fee_payment::assess_at` on a paid trip).
-- A top-up is its own assessment row: `topup_of` = the paid (base) assessment, amount = the
-- difference, paid through its own VietQR request (purpose `PHI HT <trip> BS`). The base
-- assessment stays the trip's one active assessment; at most one top-up is due at a time.
ALTER TABLE border_fee_assessments ADD COLUMN topup_of TEXT;
DROP INDEX border_fee_assessments_one_active;
CREATE UNIQUE INDEX border_fee_assessments_one_active
    ON border_fee_assessments (trip_id) WHERE status <> 'superseded' AND topup_of IS NULL;
CREATE UNIQUE INDEX border_fee_assessments_one_topup_due
    ON border_fee_assessments (trip_id) WHERE status = 'due' AND topup_of IS NOT NULL;
-- A lower price after payment is given back as a refund with reason `rate_change`; a trip may
-- get several (one per decrease), so the one-refund-per-payment rule keeps to the refunds of
-- a trip that never crossed (`cancelled`, `no_show`, `returned`, `other`).
DROP INDEX border_fee_refunds_one_per_payment;
CREATE UNIQUE INDEX border_fee_refunds_one_per_payment
    ON border_fee_refunds (payment_id) WHERE reason <> 'rate_change';
