-- A trip's fee assessments looked up by the trip's id: whether its fee is paid when its last
-- check passes (`fee_payment::paid_in`, once per agency decision), the trips cleared to cross
-- (`sim::cleared_to_cross`, every hour), the refund job's trips due (`fee_refund::open_due_since`,
-- every minute) and the assessment of a trip. Without it each of these read every assessment
-- ever made, so an agency check got slower as the history grew (the 30-day simulation went
-- from seconds to minutes a day). The refunds of a trip likewise.
CREATE INDEX border_fee_assessments_trip ON border_fee_assessments (trip_id, status);
CREATE INDEX border_fee_refunds_trip ON border_fee_refunds (trip_id);
