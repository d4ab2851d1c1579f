-- SQLite only: the audit trail's and the outbox's sequence numbers become the tables' rowid
-- (khóa rowid). On SQLite only `INTEGER PRIMARY KEY` is the rowid itself; `seq BIGINT PRIMARY
-- KEY` (audit_log) and `seq BIGINT NOT NULL UNIQUE` (outbox) each kept a B-tree of their own
-- beside the table, written at every commit that appends an entry or an event. Measured on the
-- border simulator (1 day, development build): of the ~54 pages written per commit, those two
-- indexes took ~2.5 (audit_log's 1.3, outbox's seq 1.2), and 135 + 149 pages of the file per
-- 3 days. The tables are rebuilt with every row unchanged (the audit chain's fields are copied
-- as they are, so the chain verifies as before), in `seq` order. A `seq` that is not a whole
-- number — only a tampered row could hold one, SQLite's `BIGINT PRIMARY KEY` accepts anything —
-- stops the migration (datatype mismatch) and changes nothing: the migration runs in one
-- transaction. PostgreSQL keeps its schema: its primary key is already the table's one index
-- on `seq`, and the outbox's `id` key and `seq` constraint are unchanged there.
--@ sqlite
CREATE TABLE audit_log_rowid (
    seq INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    request_id TEXT NOT NULL,
    summary TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- A NULL `seq` would be given a new rowid silently: COALESCE turns it into a text, refused.
INSERT INTO audit_log_rowid (seq, at, actor, action, target_type, target_id, scope, request_id,
    summary, prev_hash, hash)
SELECT COALESCE(seq, 'NULL'), at, actor, action, target_type, target_id, scope, request_id,
    summary, prev_hash, hash
FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_rowid RENAME TO audit_log;
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE outbox_rowid (
    id TEXT NOT NULL UNIQUE,
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO outbox_rowid (id, seq, topic, payload, created_at)
SELECT id, seq, topic, payload, created_at FROM outbox ORDER BY seq;
DROP TABLE outbox;
ALTER TABLE outbox_rowid RENAME TO outbox;
