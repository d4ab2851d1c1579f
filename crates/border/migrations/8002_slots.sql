-- Crossing slots and bookings (being written, issue #4).
SELECT 1;
