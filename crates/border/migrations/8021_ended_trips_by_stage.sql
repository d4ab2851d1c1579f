-- The refund job's ended trips (`fee_refund::open_due_since`: stage cancelled, returned or
-- exited, ended in the last week) by stage and time. On (stage_at) alone SQLite preferred the
-- (stage, gate, direction) index and read every trip that ever ended, once an hour in the
-- simulator and once a minute in `tinhso serve`: a cost that grew with the history. With the
-- stage first both of the query's conditions are in this index, so the planner takes it.
DROP INDEX border_trips_ended;
CREATE INDEX border_trips_ended ON border_trips (stage, stage_at)
    WHERE stage IN ('cancelled', 'returned', 'exited');
