-- PostgreSQL only: vacuum the daily roll-ups' change marks (see src/rollup.rs) after every
-- thousand changed rows instead of after a fifth of the table. Every trigger bump and every
-- refresh's claim updates a mark, and an update that moves a mark out of the partial index
-- `rollup_marks_pending` (gen > done) leaves its old entry behind until VACUUM: with the default
-- scale factor a table of 77,000 marks (two years of 95 agencies and 5 gates) carried 180,000
-- dead entries after a bulk load and its refresh, and every pending check walked them
-- (20–195 ms a check instead of under 1 ms). SQLite has no MVCC versions: nothing to do there.
--@ postgres
ALTER TABLE rollup_marks SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 1000
);
