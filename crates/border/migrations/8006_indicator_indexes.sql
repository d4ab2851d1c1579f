-- The border indicators ask, for each trip that crossed in a window, whether it used a booking
-- and whether its fee was paid (`tinhso_border::indicators::shares`). Without an index on the
-- trip, SQLite builds the whole set of used bookings and paid fees for every window asked:
-- on two years of traffic (833,000 trips) that was most of the operations centre's time.
CREATE INDEX border_bookings_trip ON border_bookings (trip_id, status);
CREATE INDEX border_fee_payments_trip ON border_fee_payments (trip_code, status);
