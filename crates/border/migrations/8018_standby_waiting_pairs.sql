-- The queue job's "which gates and directions have trucks waiting" (`slots::queue`: SELECT
-- DISTINCT gate_code, direction FROM border_standby WHERE status = 'waiting', once an hour
-- in the simulator). `border_standby_waiting` starts with (gate_code, direction), so SQLite
-- scanned it whole: every standby row ever written, seated and left ones included, a cost that
-- grew with the history (SQL profile of a 12-day run: 135 steps a call on day 1, 2,244 on
-- day 12). This index holds only the waiting rows, status first so that the planner searches
-- it by the status instead of scanning the older index (with a partial index on (gate_code,
-- direction) alone SQLite kept the scan).
CREATE INDEX border_standby_waiting_pairs ON border_standby (status, gate_code, direction)
    WHERE status = 'waiting';
