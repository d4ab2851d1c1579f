-- Change marks of the daily roll-ups (tổng hợp theo ngày; see src/rollup.rs). A module keeps
-- per-day counts in its own table and triggers on its source tables bump `gen` of every
-- (roll-up, scope, local day) a change touches; a refresh recomputes the marked days and sets
-- `done` to the `gen` it read. A day is current when done = gen. Rows are never deleted, so a
-- generation never repeats.
CREATE TABLE rollup_marks (
    rollup TEXT NOT NULL,
    scope TEXT NOT NULL,
    -- Local (UTC+7) day number since 1970-01-01: (micros + 25200000000) / 86400000000.
    day BIGINT NOT NULL,
    gen BIGINT NOT NULL,
    done BIGINT NOT NULL,
    PRIMARY KEY (rollup, scope, day)
);
CREATE INDEX rollup_marks_pending ON rollup_marks (rollup, day) WHERE gen > done;
