-- A trip's current fee is looked up by its code (fee_payment::current, paid_receipt_for_trip):
-- without this index every lookup read the whole table, so assessing and paying got slower as
-- the fees piled up (the simulator's 30-day runs showed it).
CREATE INDEX border_fee_assessments_trip_code ON border_fee_assessments (trip_code, status);
