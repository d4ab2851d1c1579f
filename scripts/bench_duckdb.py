#!/usr/bin/env python3
"""The operations centre's aggregations in DuckDB, for `tinhso bench targets`.

Usage: bench_duckdb.py DIR FROM TODAY WARM_RUNS

DIR holds the CSV files the benchmark exported from the platform's database (dossiers,
agencies, trips, stages, bookings, payments, checks). The script loads them into an in-memory
DuckDB database (timed apart), then runs, once cold and WARM_RUNS times warm, the aggregations
the screen needs for every window it shows: the year, the last eight quarters, the month and
today — per window the dossiers finished (on time), received (online, with a fee, paid online)
and returned per agency, and the border trips crossed (with a booking used, a fee paid) per
gate and quarantine with their checks — plus the open dossiers past their due date and the
trucks at the border now. It prints one JSON line: version, load_s, cold_ms, warm_ms.

Needs the `duckdb` package from PyPI (`pip install duckdb`).
"""
import datetime as dt
import json
import statistics
import sys
import time

import duckdb

VN = dt.timezone(dt.timedelta(hours=7))


def micros(d: dt.date) -> int:
    """Local midnight of `d` in Unix microseconds (as the platform's windows)."""
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=VN).timestamp()) * 1_000_000


def quarter_start(d: dt.date) -> dt.date:
    return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def windows(today: dt.date):
    """[lo, hi) pairs: the year, the last eight quarters (to the current one), the month,
    today. The platform's Decree 09 cut-offs shift these by a few days; the work is the same."""
    out = [(dt.date(today.year, 1, 1), dt.date(today.year + 1, 1, 1))]
    q = quarter_start(today)
    for _ in range(8):
        nxt = dt.date(q.year + (q.month + 2) // 12, (q.month + 2) % 12 + 1, 1)
        out.append((q, nxt))
        m = q.month - 3
        q = dt.date(q.year - 1, m + 12, 1) if m < 1 else dt.date(q.year, m, 1)
    month = dt.date(today.year, today.month, 1)
    nxt = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    out.append((month, nxt))
    out.append((today, today + dt.timedelta(days=1)))
    return [(micros(a), micros(b)) for a, b in out]


SERVICES = [
    """SELECT agency_code, COUNT(*),
         SUM(CASE WHEN supplement_count <= 1 AND due_date IS NOT NULL AND LENGTH(due_date) = 10
             AND CAST(make_timestamp(finished_at + 25200000000) AS DATE) <= CAST(due_date AS DATE)
             THEN 1 ELSE 0 END)
       FROM dossiers WHERE status IN (9, 10) AND finished_at >= ? AND finished_at < ?
       GROUP BY agency_code""",
    """SELECT agency_code, COUNT(*),
         SUM(CASE WHEN channel = 2 THEN 1 ELSE 0 END),
         SUM(CASE WHEN fee_vnd > 0 THEN 1 ELSE 0 END),
         SUM(CASE WHEN fee_vnd > 0 AND paid_vnd >= fee_vnd AND channel = 2 THEN 1 ELSE 0 END)
       FROM dossiers WHERE submitted_at >= ? AND submitted_at < ? GROUP BY agency_code""",
    """SELECT agency_code, COUNT(*) FROM dossiers
       WHERE status = 10 AND returned_at >= ? AND returned_at < ? GROUP BY agency_code""",
]

BORDER = [
    """SELECT t.gate_code, t.quarantine, COUNT(*),
         SUM(CASE WHEN EXISTS (SELECT 1 FROM bookings b WHERE b.trip_id = t.id
             AND b.status = 'used') THEN 1 ELSE 0 END),
         SUM(CASE WHEN EXISTS (SELECT 1 FROM payments p WHERE p.trip_code = t.code
             AND p.status = 'paid') THEN 1 ELSE 0 END)
       FROM stages s JOIN trips t ON t.id = s.trip_id
       WHERE s.stage = 'crossed' AND s.at >= ? AND s.at < ? GROUP BY t.gate_code, t.quarantine""",
    """SELECT t.gate_code, t.quarantine, c.kind, COUNT(*) FROM checks c
       JOIN trips t ON t.id = c.trip_id JOIN stages s ON s.trip_id = t.id
       WHERE s.stage = 'crossed' AND s.at >= ? AND s.at < ? AND c.decided_at IS NOT NULL
       GROUP BY t.gate_code, t.quarantine, c.kind""",
    """SELECT DISTINCT agency_code FROM checks WHERE decided_at >= ? AND decided_at < ?""",
]

COLUMNS = {
    "dossiers": "agency_code VARCHAR, status BIGINT, channel BIGINT, submitted_at BIGINT, "
    "finished_at BIGINT, returned_at BIGINT, due_date VARCHAR, supplement_count BIGINT, "
    "fee_vnd BIGINT, paid_vnd BIGINT",
    "agencies": "code VARCHAR, admin_unit_code VARCHAR",
    "trips": "id VARCHAR, code VARCHAR, gate_code VARCHAR, quarantine VARCHAR, stage VARCHAR",
    "stages": "trip_id VARCHAR, stage VARCHAR, at BIGINT",
    "bookings": "trip_id VARCHAR, status VARCHAR",
    "payments": "trip_code VARCHAR, status VARCHAR",
    "checks": "trip_id VARCHAR, kind VARCHAR, agency_code VARCHAR, decided_at BIGINT",
}


def screen(con, wins, today_us):
    rows = 0
    for lo, hi in wins:
        for q in SERVICES + BORDER:
            rows += len(con.execute(q, [lo, hi]).fetchall())
    # Open dossiers past their due date; trucks at the border now.
    today = dt.datetime.fromtimestamp(today_us / 1e6, VN).date().isoformat()
    rows += len(
        con.execute(
            "SELECT COUNT(*) FROM dossiers WHERE status NOT IN (9, 10) AND due_date < ?",
            [today],
        ).fetchall()
    )
    rows += len(
        con.execute(
            "SELECT gate_code, COUNT(*) FROM trips WHERE stage IN "
            "('staging', 'yard', 'checked', 'paid') GROUP BY gate_code"
        ).fetchall()
    )
    return rows


def main():
    folder, _from, today_s, warm = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    today = dt.date.fromisoformat(today_s)
    con = duckdb.connect()
    t = time.perf_counter()
    for name, cols in COLUMNS.items():
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv(?, header = false, "
            f"columns = {{{', '.join(repr(c.split()[0]) + ': ' + repr(c.split()[1]) for c in cols.split(', '))}}})",
            [f"{folder}/{name}.csv"],
        )
    load_s = time.perf_counter() - t
    wins = windows(today)
    t = time.perf_counter()
    screen(con, wins, micros(today))
    cold = (time.perf_counter() - t) * 1000
    runs = []
    for _ in range(max(warm, 1)):
        t = time.perf_counter()
        screen(con, wins, micros(today))
        runs.append((time.perf_counter() - t) * 1000)
    print(
        json.dumps(
            {
                "version": duckdb.__version__,
                "load_s": load_s,
                "cold_ms": cold,
                "warm_ms": statistics.median(runs),
                "windows": len(wins),
            }
        )
    )


if __name__ == "__main__":
    main()
