#!/usr/bin/env python3
"""Generate the PostgreSQL statement-level roll-up triggers (migrations 4008 and 8011).

The per-row triggers of migrations 4007/8007 upsert `rollup_marks` once per changed row. On
PostgreSQL a bulk load of a million rows in a few transactions then updates the same marks
rows hundreds of thousands of times inside one transaction; every update leaves a dead row
version that the next one has to step over, and the load slows to a crawl. These triggers run
once per statement over its transition tables and upsert each (scope, day) once.

Transition tables cannot be combined with a column list (`AFTER UPDATE OF …`), so an update
trigger compares the old and new rows itself: a row counts only when one of the columns the
per-row trigger listed changed (or its key did), exactly the rows the per-row trigger fired
for. SQLite keeps its per-row triggers (one writer, no row versions to pile up).

Usage: python3 scripts/rollup/pg_statement_triggers.py services > crates/services/migrations/4008_rollup_statement_triggers.sql
       python3 scripts/rollup/pg_statement_triggers.py border   > crates/border/migrations/8011_rollup_statement_triggers.sql
"""
import sys

DAY = "(({} + 25200000000) / 86400000000)"

# table: (rollup, key columns, update columns or None for any update, insert?, delete?,
#         marks(R): SELECT of (a, d) from the row source R)
SERVICES = {
    "dossiers": (
        ["code"],
        ["status", "agency_code", "channel", "submitted_at", "finished_at", "returned_at",
         "supplement_count", "due_date", "original_due_date", "fee_vnd", "paid_vnd"],
        True, False,
        lambda R: (
            f"SELECT r.agency_code AS a, {DAY.format('r.submitted_at')} AS d FROM {R} r "
            f"UNION ALL SELECT r.agency_code, {DAY.format('r.finished_at')} FROM {R} r "
            f"UNION ALL SELECT r.agency_code, {DAY.format('r.returned_at')} FROM {R} r"
        ),
    ),
    "feedback": (
        ["code"], ["kind", "status", "dossier_code"], True, True,
        lambda R: f"SELECT x.agency_code AS a, {DAY.format('x.finished_at')} AS d FROM {R} r JOIN dossiers x ON x.code = r.dossier_code",
    ),
    "dossier_results": (
        ["id"], ["revoked_at", "dossier_code"], True, True,
        lambda R: f"SELECT x.agency_code AS a, {DAY.format('x.returned_at')} AS d FROM {R} r JOIN dossiers x ON x.code = r.dossier_code",
    ),
    "dossier_files": (
        None, "no update trigger", True, True,
        lambda R: f"SELECT x.agency_code AS a, {DAY.format('x.returned_at')} AS d FROM {R} r JOIN dossiers x ON x.code = r.dossier_code",
    ),
    "dossier_ratings": (
        ["dossier_code"], None, True, True,
        lambda R: f"SELECT r.agency_code AS a, {DAY.format('r.rated_at')} AS d FROM {R} r",
    ),
}

CROSSED_OF_TRIP = "JOIN border_trip_stages s ON s.trip_id = {} AND s.stage = 'crossed' JOIN border_trips t ON t.id = s.trip_id"
BORDER = {
    "border_trip_stages": (
        ["trip_id", "stage"], None, True, True,
        lambda R: f"SELECT t.gate_code AS a, {DAY.format('r.at')} AS d FROM {R} r JOIN border_trips t ON t.id = r.trip_id WHERE r.stage = 'crossed'",
    ),
    "border_trips": (
        ["id"], ["gate_code", "quarantine"], False, False,
        lambda R: f"SELECT r.gate_code AS a, {DAY.format('s.at')} AS d FROM {R} r JOIN border_trip_stages s ON s.trip_id = r.id AND s.stage = 'crossed'",
    ),
    "border_bookings": (
        ["id"], ["status", "trip_id"], True, True,
        lambda R: f"SELECT t.gate_code AS a, {DAY.format('s.at')} AS d FROM {R} r " + CROSSED_OF_TRIP.format("r.trip_id"),
    ),
    "border_fee_payments": (
        ["id"], ["status", "trip_code"], True, True,
        lambda R: (
            f"SELECT t.gate_code AS a, {DAY.format('s.at')} AS d FROM {R} r JOIN border_trips t ON t.code = r.trip_code "
            "JOIN border_trip_stages s ON s.trip_id = t.id AND s.stage = 'crossed'"
        ),
    ),
    "border_checks": (
        ["trip_id", "kind"], None, True, True,
        lambda R: (
            f"SELECT t.gate_code AS a, {DAY.format('s.at')} AS d FROM {R} r " + CROSSED_OF_TRIP.format("r.trip_id")
            + f" UNION ALL SELECT r.gate_code, {DAY.format('r.decided_at')} FROM {R} r"
        ),
    ),
    "border_review_queue": (
        ["event_id"], ["status", "stage", "reason", "at", "gate_code"], True, True,
        lambda R: f"SELECT r.gate_code AS a, {DAY.format('r.at')} AS d FROM {R} r WHERE r.stage = 'crossed'",
    ),
}


def upsert(rollup, marks):
    return (
        f"    INSERT INTO rollup_marks (rollup, scope, day, gen, done)\n"
        f"    SELECT '{rollup}', a, d, 1, 0 FROM ({marks}) AS k WHERE d IS NOT NULL GROUP BY a, d\n"
        f"    ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1;\n"
    )


def changed(src, other, key, cols):
    """Rows of `src` with no row of `other` having the same key and the same listed columns."""
    same = " AND ".join(
        [f"o.{c} = c.{c}" for c in key] + [f"o.{c} IS NOT DISTINCT FROM c.{c}" for c in cols]
    )
    return f"(SELECT c.* FROM {src} c WHERE NOT EXISTS (SELECT 1 FROM {other} o WHERE {same}))"


def generate(rollup, tables):
    out = []
    out.append("--@ postgres")
    for table, (key, cols, ins, dele, marks) in tables.items():
        old = f"rollup_{table}"
        for suffix in ("ins", "upd", "del"):
            out.append(f"DROP TRIGGER IF EXISTS {old}_{suffix} ON {table};")
        out.append(f"DROP FUNCTION IF EXISTS {old}();")
        if ins:
            out.append(f"CREATE FUNCTION {old}_ins() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
                       + upsert(rollup, marks("new_rows")) + "    RETURN NULL;\nEND\n$$;")
            out.append(f"CREATE TRIGGER {old}_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {old}_ins();")
        if cols != "no update trigger":
            if cols is None:
                old_src, new_src = "old_rows", "new_rows"
            else:
                old_src = changed("old_rows", "new_rows", key, cols)
                new_src = changed("new_rows", "old_rows", key, cols)
            out.append(f"CREATE FUNCTION {old}_upd() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
                       + upsert(rollup, marks(old_src)) + upsert(rollup, marks(new_src))
                       + "    RETURN NULL;\nEND\n$$;")
            out.append(f"CREATE TRIGGER {old}_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
                       f"NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {old}_upd();")
        if dele:
            out.append(f"CREATE FUNCTION {old}_del() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
                       + upsert(rollup, marks("old_rows")) + "    RETURN NULL;\nEND\n$$;")
            out.append(f"CREATE TRIGGER {old}_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {old}_del();")
    out.append("--@ all")
    return "\n".join(out) + "\n"


HEADER = """-- Generated by scripts/rollup/pg_statement_triggers.py — edit the script, not this file.
-- PostgreSQL only: the {rollup} roll-up's per-row marking triggers (migration {prev}) become
-- statement-level triggers over transition tables, so a bulk load upserts each marked
-- (scope, day) once per statement instead of once per row (see the script for why). Same
-- marks as before; SQLite keeps its per-row triggers.
"""

if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "services":
        sys.stdout.write(HEADER.format(rollup="services", prev="4007") + generate("services", SERVICES))
    elif which == "border":
        sys.stdout.write(HEADER.format(rollup="border", prev="8007") + generate("border", BORDER))
    else:
        sys.exit("usage: pg_statement_triggers.py services|border")
