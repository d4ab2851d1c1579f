-- Trips that ended (cancelled, turned back, exited) by the time they ended: the refund job
-- (`fee_refund::open_due_since`) reads the last week of them every minute instead of every
-- trip the gates ever had (a full scan per minute grew with the history: the 30-day
-- simulation spent most of its time there).
CREATE INDEX border_trips_ended ON border_trips (stage_at)
    WHERE stage IN ('cancelled', 'returned', 'exited');
