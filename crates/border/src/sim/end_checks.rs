//! The simulation's end checks (kiểm tra bất biến cuối lượt mô phỏng) as set-based SQL: the
//! database finds the violations in a few statements per check, and Rust gets the counts and
//! the offending trips for the message — no longer every crossed trip's rows, one by one.
//! The simulator's own lists (trips it let cross, prepaid, graced, swept, joined) go in as one
//! JSON parameter each ([`rows_sql`]). The invariants and the messages are those documented
//! on each function.

use super::{db_err, verdict, Invariants};
use crate::bulk::{json_rows, rows_sql, Col};
use crate::checks;
use crate::gates::{self, Direction, Gate};
use crate::slots::{self, capacity, HOUR};
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, HashSet};
use tinhso_kernel::AppError;
use tinhso_store::{Backend, Db};

/// The longest a crossing can stay unknown to the platform in a run: its reads delivered up to
/// 120 minutes late, at the end of the following simulated hour.
pub(super) const EXIT_UNSEEN_MAX: i64 = 3 * HOUR;

/// Columns of the trips checked for clearance: (input index, trip id, crossing time).
const CROSSED_COLS: [(&str, Col); 3] = [("i", Col::Int), ("id", Col::Text), ("at", Col::Int)];

/// Columns of the required checks (kiểm tra bắt buộc) per gate and quarantine mark.
const REQUIRED_COLS: [(&str, Col); 4] = [
    ("gate_code", Col::Text),
    ("quarantine", Col::Text),
    ("prio", Col::Int),
    ("kind", Col::Text),
];

/// Rank of an unknown gate in [`CLEARED_VIOLATIONS`]; a required check's rank is this + 1 +
/// its place in [`checks::required_for`].
const RANK_GATE: i64 = 3;

/// The violations of "crossed only when cleared" for the trips of CTE `x(i, id, at)`, one row
/// each: (i, trip id, trip code, rank, kind, what). Ranks (the order the single-trip check
/// looked in): 0 the trip is missing; 1 no paid fee (`unpaid`) or paid after `at` (`late`);
/// 2 a top-up (thu bổ sung) assessed before `at` and not paid by then; [`RANK_GATE`] the
/// trip's gate unknown (kind = the gate); above it each required check of CTE
/// `req(gate_code, quarantine, prio, kind)` not passed (`without`) or passed after `at`
/// (`after`).
const CLEARED_VIOLATIONS: &str = "\
 SELECT x.i, x.id, x.id AS code, CAST(0 AS BIGINT) AS prio, '' AS kind, '' AS what FROM x \
   WHERE NOT EXISTS (SELECT 1 FROM border_trips t WHERE t.id = x.id) \
 UNION ALL \
 SELECT x.i, x.id, t.code, CAST(1 AS BIGINT), '', CASE WHEN a.id IS NULL THEN 'unpaid' ELSE 'late' END \
   FROM x JOIN border_trips t ON t.id = x.id \
   LEFT JOIN border_fee_assessments a ON a.trip_id = x.id AND a.status = 'paid' \
     AND a.topup_of IS NULL \
   WHERE a.id IS NULL OR a.paid_at IS NULL OR a.paid_at > x.at \
 UNION ALL \
 SELECT x.i, x.id, t.code, CAST(2 AS BIGINT), '', '' FROM x JOIN border_trips t ON t.id = x.id \
   WHERE EXISTS (SELECT 1 FROM border_fee_assessments u WHERE u.trip_id = x.id \
     AND u.topup_of IS NOT NULL AND u.status IN ('paid', 'due') AND u.assessed_at < x.at \
     AND (u.paid_at IS NULL OR u.paid_at > x.at)) \
 UNION ALL \
 SELECT x.i, x.id, t.code, r.prio, r.kind, \
   CASE WHEN c.trip_id IS NULL THEN 'without' ELSE 'after' END \
   FROM x JOIN border_trips t ON t.id = x.id \
   JOIN req r ON r.gate_code = t.gate_code AND r.quarantine = t.quarantine \
   LEFT JOIN border_checks c ON c.trip_id = x.id AND c.kind = r.kind AND c.status = 'passed' \
   WHERE c.trip_id IS NULL OR c.decided_at IS NULL OR c.decided_at > x.at";

/// The required checks of every (gate, quarantine mark) the trips have, as the JSON rows of
/// `req` in [`CLEARED_VIOLATIONS`] (a gate not in `gates` gets one row of rank
/// [`RANK_GATE`]).
async fn required_rows(conn: &mut AnyConnection, gates: &[Gate]) -> Result<String, AppError> {
    let pairs = sqlx::query("SELECT DISTINCT gate_code, quarantine FROM border_trips")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    let mut rows = Vec::new();
    for r in &pairs {
        let gate: String = r.try_get(0).map_err(db_err)?;
        let quarantine: String = r.try_get(1).map_err(db_err)?;
        match gates.iter().find(|g| g.code == gate) {
            Some(g) => {
                for (n, req) in checks::required_for(g, &quarantine).iter().enumerate() {
                    rows.push(json!([
                        gate,
                        quarantine,
                        RANK_GATE + 1 + n as i64,
                        req.kind.as_str()
                    ]));
                }
            }
            None => rows.push(json!([gate, quarantine, RANK_GATE, gate])),
        }
    }
    Ok(json_rows(rows))
}

/// The message of one [`CLEARED_VIOLATIONS`] row.
fn cleared_message(id: &str, code: &str, rank: i64, kind: &str, what: &str) -> String {
    match (rank, what) {
        (0, _) => format!("trip {id} missing"),
        (1, "unpaid") => format!("{code}: crossed without a paid fee"),
        (1, _) => format!("{code}: fee paid after crossing"),
        (2, _) => format!("{code}: crossed with a top-up unpaid"),
        (RANK_GATE, _) => format!("{code}: gate {kind} missing"),
        (_, "after") => format!("{code}: {kind} passed after crossing"),
        _ => format!("{code}: crossed without {kind}"),
    }
}

/// Check the run's invariants on the database, failing with every violation listed:
/// - every trip in `crossed` (id, crossing time) has a paid fee settled before the crossing
///   and every check its goods need at its gate passed (customs released) before it;
/// - every slot hour's seat counter equals its live bookings (active or used: cancelled,
///   rescheduled, no-show and released seats are freed) and is within the hour's capacity
///   (the board's override when set); every slot day's counter equals its live bookings;
/// - no trip holds more than one active booking.
pub async fn check_invariants(db: &Db, crossed: &[(String, i64)]) -> Result<Invariants, AppError> {
    let gates = gates::list(db).await?;
    let mut conn = db.read_conn().await?;
    check_invariants_on(&mut conn, db.backend(), &gates, crossed).await
}

/// [`check_invariants`] on one connection (all the end checks share one: each reader
/// connection maps the database file on its own).
pub(super) async fn check_invariants_on(
    conn: &mut AnyConnection,
    backend: Backend,
    gates: &[Gate],
    crossed: &[(String, i64)],
) -> Result<Invariants, AppError> {
    let mut broken: Vec<String> = Vec::new();
    let mut inv = Invariants {
        crossed_trips: crossed.len(),
        ..Invariants::default()
    };
    let req = required_rows(conn, gates).await?;
    let req_sql = rows_sql(backend, 1, &REQUIRED_COLS);
    // The trips the simulation let cross: the first violation of each, in input order.
    if !crossed.is_empty() {
        let sql = format!(
            "WITH req AS ({req_sql}), x AS ({}) {CLEARED_VIOLATIONS}",
            rows_sql(backend, 2, &CROSSED_COLS)
        );
        let input = json_rows(
            crossed
                .iter()
                .enumerate()
                .map(|(i, (id, at))| json!([i, id, at])),
        );
        let rows = sqlx::query(&sql)
            .bind(&req)
            .bind(input)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        let mut first: BTreeMap<i64, (i64, String)> = BTreeMap::new();
        for r in &rows {
            let i: i64 = r.try_get(0).map_err(db_err)?;
            let rank: i64 = r.try_get(3).map_err(db_err)?;
            if first.get(&i).is_some_and(|(k, _)| *k <= rank) {
                continue;
            }
            let id: String = r.try_get(1).map_err(db_err)?;
            let code: String = r.try_get(2).map_err(db_err)?;
            let kind: String = r.try_get(4).map_err(db_err)?;
            let what: String = r.try_get(5).map_err(db_err)?;
            first.insert(i, (rank, cleared_message(&id, &code, rank, &kind, &what)));
        }
        broken.extend(first.into_values().map(|(_, m)| m));
    }
    // Trips the database shows crossed (at their first crossing stage) without being cleared,
    // other than those the simulation let cross: reported, not failed.
    let sql = format!(
        "WITH req AS ({req_sql}), x AS (SELECT CAST(0 AS BIGINT) AS i, trip_id AS id, \
         MIN(at) AS at FROM border_trip_stages WHERE stage = 'crossed' GROUP BY trip_id) \
         SELECT DISTINCT v.id FROM ({CLEARED_VIOLATIONS}) v"
    );
    let uncleared: Vec<String> = sqlx::query_scalar(&sql)
        .bind(&req)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    let sim_crossed: HashSet<&str> = crossed.iter().map(|c| c.0.as_str()).collect();
    inv.db_crossed_uncleared = uncleared
        .iter()
        .filter(|id| !sim_crossed.contains(id.as_str()))
        .count();
    check_slots(conn, gates, &mut inv, &mut broken).await?;
    verdict("simulation invariants", broken, inv)
}

/// The slot part of [`check_invariants`]: counters against live bookings and capacity, one
/// active booking per trip.
async fn check_slots(
    conn: &mut AnyConnection,
    gates: &[Gate],
    inv: &mut Invariants,
    broken: &mut Vec<String>,
) -> Result<(), AppError> {
    let counts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM border_slots), (SELECT COUNT(*) FROM border_slot_days), \
         (SELECT COUNT(DISTINCT trip_id) FROM border_bookings)",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    let count = |i: usize| -> Result<usize, AppError> {
        let n: i64 = counts.try_get(i).map_err(db_err)?;
        Ok(usize::try_from(n).unwrap_or_default())
    };
    inv.slots = count(0)?;
    inv.slot_days = count(1)?;
    inv.booked_trips = count(2)?;
    let doubles = sqlx::query(
        "SELECT trip_id, COUNT(*) FROM border_bookings WHERE status = 'active' \
         GROUP BY trip_id HAVING COUNT(*) > 1 ORDER BY trip_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &doubles {
        let trip: String = r.try_get(0).map_err(db_err)?;
        let n: i64 = r.try_get(1).map_err(db_err)?;
        broken.push(format!("trip {trip}: {n} active bookings"));
    }
    // Hour counters that differ from the live bookings, and live bookings without a counter.
    let live = "SELECT gate_code, direction, hour_start, COUNT(*) AS n FROM border_bookings \
                WHERE status IN ('active', 'used') GROUP BY gate_code, direction, hour_start";
    let rows = sqlx::query(&format!(
        "SELECT s.gate_code, s.direction, s.hour_start, s.booked, COALESCE(l.n, 0) \
         FROM border_slots s LEFT JOIN ({live}) l ON l.gate_code = s.gate_code \
         AND l.direction = s.direction AND l.hour_start = s.hour_start \
         WHERE s.booked <> COALESCE(l.n, 0) \
         ORDER BY s.gate_code, s.direction, s.hour_start"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let (gate, dir, hour, booked, n): (String, String, i64, i64, i64) = (
            r.try_get(0).map_err(db_err)?,
            r.try_get(1).map_err(db_err)?,
            r.try_get(2).map_err(db_err)?,
            r.try_get(3).map_err(db_err)?,
            r.try_get(4).map_err(db_err)?,
        );
        let label = format!("slot {gate} {dir} {}", slots::local_label(hour));
        broken.push(format!("{label}: counter {booked}, live bookings {n}"));
    }
    let rows = sqlx::query(&format!(
        "SELECT l.gate_code, l.direction, l.hour_start, l.n FROM ({live}) l \
         WHERE NOT EXISTS (SELECT 1 FROM border_slots s WHERE s.gate_code = l.gate_code \
         AND s.direction = l.direction AND s.hour_start = l.hour_start) \
         ORDER BY l.gate_code, l.direction, l.hour_start"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let (gate, dir, hour, n): (String, String, i64, i64) = (
            r.try_get(0).map_err(db_err)?,
            r.try_get(1).map_err(db_err)?,
            r.try_get(2).map_err(db_err)?,
            r.try_get(3).map_err(db_err)?,
        );
        broken.push(format!(
            "slot {gate} {dir} {}: {n} live bookings, no counter",
            slots::local_label(hour)
        ));
    }
    // Capacity: computed from the gate's settings (and the board's override), so the hours
    // with a seat taken come to Rust (a few hundred a gate and direction a month).
    let rows = sqlx::query(
        "SELECT s.gate_code, s.direction, s.hour_start, s.booked, o.capacity FROM border_slots s \
         LEFT JOIN border_slot_overrides o ON o.gate_code = s.gate_code \
         AND o.direction = s.direction AND o.hour_start = s.hour_start \
         WHERE s.booked > 0 ORDER BY s.gate_code, s.direction, s.hour_start",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let gate: String = r.try_get(0).map_err(db_err)?;
        let dir: String = r.try_get(1).map_err(db_err)?;
        let hour: i64 = r.try_get(2).map_err(db_err)?;
        let booked: i64 = r.try_get(3).map_err(db_err)?;
        let over: Option<i64> = r.try_get(4).map_err(db_err)?;
        let cap = match (
            gates.iter().find(|g| g.code == gate),
            Direction::parse(&dir),
        ) {
            (Some(g), Some(d)) => capacity::hour_capacity(g, d, hour, over),
            _ => 0,
        };
        if booked > cap {
            broken.push(format!(
                "slot {gate} {dir} {}: {booked} booked over capacity {cap}",
                slots::local_label(hour)
            ));
        }
    }
    // Day counters against the live bookings of their local day.
    let rows = sqlx::query(
        "SELECT d.gate_code, d.direction, d.day, d.booked, COALESCE(l.n, 0) \
         FROM border_slot_days d LEFT JOIN (SELECT gate_code, direction, day, COUNT(*) AS n \
           FROM (SELECT gate_code, direction, (hour_start + $1) / $2 AS day FROM border_bookings \
                 WHERE status IN ('active', 'used')) b \
           GROUP BY gate_code, direction, day) l \
         ON l.gate_code = d.gate_code AND l.direction = d.direction AND l.day = d.day \
         WHERE d.booked <> COALESCE(l.n, 0) ORDER BY d.gate_code, d.direction, d.day",
    )
    .bind(slots::VN_OFFSET)
    .bind(slots::DAY)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let (gate, dir, day, booked, n): (String, String, i64, i64, i64) = (
            r.try_get(0).map_err(db_err)?,
            r.try_get(1).map_err(db_err)?,
            r.try_get(2).map_err(db_err)?,
            r.try_get(3).map_err(db_err)?,
            r.try_get(4).map_err(db_err)?,
        );
        broken.push(format!(
            "slot day {gate} {dir} {day}: counter {booked}, live bookings {n}"
        ));
    }
    Ok(())
}

/// Check the late trucks' extensions, failing with every violation listed: each trip in
/// `graced` (id, its deadline before the extension) has exactly one booking with the
/// extension, whose deadline is the old one plus `extension`, and no arrival at the gate
/// area (staging) recorded after it; no other booking carries an extension. Returns the
/// number of trips checked.
pub async fn check_grace(
    db: &Db,
    graced: &[(String, i64)],
    extension: i64,
) -> Result<usize, AppError> {
    check_grace_on(&mut *db.read_conn().await?, db.backend(), graced, extension).await
}

pub(super) async fn check_grace_on(
    conn: &mut AnyConnection,
    backend: Backend,
    graced: &[(String, i64)],
    extension: i64,
) -> Result<usize, AppError> {
    let mut broken = Vec::new();
    let input = json_rows(
        graced
            .iter()
            .map(|(id, before)| json!([id, before + extension])),
    );
    let x = rows_sql(backend, 1, &[("id", Col::Text), ("deadline", Col::Int)]);
    // The graced trips whose bookings with the extension (count, lowest and highest
    // deadline) or first arrival at the staging area break the rule.
    let rows = sqlx::query(&format!(
        "WITH x AS ({x}) SELECT id, deadline, n, lo, hi, arrived FROM (SELECT x.id, x.deadline, \
         (SELECT COUNT(*) FROM border_bookings b WHERE b.trip_id = x.id AND b.grace_used = 1) AS n, \
         (SELECT MIN(b.arrive_by) FROM border_bookings b WHERE b.trip_id = x.id \
          AND b.grace_used = 1) AS lo, \
         (SELECT MAX(b.arrive_by) FROM border_bookings b WHERE b.trip_id = x.id \
          AND b.grace_used = 1) AS hi, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = x.id \
          AND s.stage = 'staging') AS arrived \
         FROM x) g \
         WHERE n <> 1 OR lo <> deadline OR hi <> deadline OR arrived > deadline"
    ))
    .bind(input)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let id: String = r.try_get(0).map_err(db_err)?;
        let deadline: i64 = r.try_get(1).map_err(db_err)?;
        let n: i64 = r.try_get(2).map_err(db_err)?;
        let (lo, hi): (Option<i64>, Option<i64>) =
            (r.try_get(3).map_err(db_err)?, r.try_get(4).map_err(db_err)?);
        let arrived: Option<i64> = r.try_get(5).map_err(db_err)?;
        if n == 0 {
            broken.push(format!("trip {id}: no booking with its extension"));
        } else if n != 1 || lo != Some(deadline) || hi != Some(deadline) {
            let deadlines: Vec<i64> = sqlx::query_scalar(
                "SELECT arrive_by FROM border_bookings WHERE trip_id = $1 AND grace_used = 1",
            )
            .bind(&id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
            broken.push(format!(
                "trip {id}: extended deadlines {deadlines:?}, expected {deadline}"
            ));
        } else if arrived.is_some_and(|a| a > deadline) {
            broken.push(format!("trip {id}: arrived after its extended deadline"));
        }
    }
    // Extensions the simulation did not ask for.
    let rows: Vec<String> = sqlx::query_scalar(&format!(
        "WITH x AS ({x}) SELECT DISTINCT b.trip_id FROM border_bookings b \
         WHERE b.grace_used = 1 AND NOT EXISTS (SELECT 1 FROM x WHERE x.id = b.trip_id) \
         ORDER BY b.trip_id"
    ))
    .bind(json_rows(graced.iter().map(|(id, _)| json!([id, 0]))))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for id in rows {
        broken.push(format!(
            "trip {id}: an extension the simulation did not ask for"
        ));
    }
    verdict("grace extensions", broken, graced.len())
}

/// Check every recorded queue call (`border_queue_calls`) against the trips' stage history:
/// the truck had arrived (a `staging` or `yard` stage) by the call, and had not been turned
/// back or cancelled before it, nor crossed — except a crossing whose camera and QR reads had
/// not reached the platform yet (at most [`EXIT_UNSEEN_MAX`] before the call; the stage keeps
/// the read's own time): those are counted. Returns (calls, calls of trucks whose crossing was
/// still unseen).
pub async fn check_queue_calls(db: &Db) -> Result<(usize, usize), AppError> {
    check_queue_calls_on(&mut *db.read_conn().await?).await
}

pub(super) async fn check_queue_calls_on(
    conn: &mut AnyConnection,
) -> Result<(usize, usize), AppError> {
    let calls = "SELECT c.trip_id, c.called_at AS at, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = c.trip_id \
          AND s.stage IN ('staging', 'yard')) AS arrived, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = c.trip_id \
          AND s.stage IN ('returned', 'cancelled')) AS ended, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = c.trip_id \
          AND s.stage = 'crossed') AS crossed \
         FROM border_queue_calls c";
    let totals = sqlx::query(&format!(
        "SELECT COUNT(*), COUNT(CASE WHEN crossed < at AND crossed >= at - $1 THEN 1 END) \
         FROM ({calls}) k"
    ))
    .bind(EXIT_UNSEEN_MAX)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    let n: i64 = totals.try_get(0).map_err(db_err)?;
    let unseen: i64 = totals.try_get(1).map_err(db_err)?;
    let rows = sqlx::query(&format!(
        "SELECT trip_id, at, arrived, ended, crossed FROM ({calls}) k \
         WHERE arrived IS NULL OR arrived > at OR ended < at OR crossed < at - $1 \
         ORDER BY trip_id"
    ))
    .bind(EXIT_UNSEEN_MAX)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut broken = Vec::new();
    for r in &rows {
        let trip: String = r.try_get(0).map_err(db_err)?;
        let at: i64 = r.try_get(1).map_err(db_err)?;
        let arrived: Option<i64> = r.try_get(2).map_err(db_err)?;
        let over: Option<i64> = r.try_get(3).map_err(db_err)?;
        let crossed: Option<i64> = r.try_get(4).map_err(db_err)?;
        if arrived.is_none_or(|a| a > at) {
            broken.push(format!("trip {trip}: called before it arrived"));
        }
        if over.is_some_and(|o| o < at) {
            broken.push(format!(
                "trip {trip}: called after it turned back or was cancelled"
            ));
        }
        if crossed.is_some_and(|x| x < at - EXIT_UNSEEN_MAX) {
            broken.push(format!("trip {trip}: called long after it crossed"));
        }
    }
    let as_usize = |v: i64| usize::try_from(v).unwrap_or_default();
    verdict(
        "recorded queue calls",
        broken,
        (as_usize(n), as_usize(unseen)),
    )
}

/// Per trip with a paid payment: its stage, what its payments brought in, its assessments'
/// lowest status, whether it crossed (`did_cross` 1/0), whether it is over (`ended`:
/// cancelled, returned, exited), its whole refunds (count, lowest status, amount) and its
/// rate-change refunds (asked, paid back).
const REFUND_TRIPS: &str = "\
 WITH pay AS (SELECT a.trip_id, CAST(SUM(p.amount_vnd) AS BIGINT) AS amount, \
     MIN(a.status) AS status FROM border_fee_payments p \
     JOIN border_fee_assessments a ON a.id = p.assessment_id \
     WHERE p.status = 'paid' GROUP BY a.trip_id), \
 ref AS (SELECT trip_id, \
     CAST(SUM(CASE WHEN reason <> 'rate_change' THEN 1 ELSE 0 END) AS BIGINT) AS n, \
     MIN(CASE WHEN reason <> 'rate_change' THEN status END) AS whole_status, \
     CAST(SUM(CASE WHEN reason <> 'rate_change' THEN amount_vnd ELSE 0 END) AS BIGINT) AS back, \
     CAST(SUM(CASE WHEN reason = 'rate_change' THEN amount_vnd ELSE 0 END) AS BIGINT) AS lower_vnd, \
     CAST(SUM(CASE WHEN reason = 'rate_change' AND status = 'paid' THEN amount_vnd ELSE 0 END) \
       AS BIGINT) AS lower_paid \
     FROM border_fee_refunds GROUP BY trip_id), \
 per AS (SELECT t.id, pay.amount, pay.status, \
     CASE WHEN EXISTS (SELECT 1 FROM border_trip_stages s WHERE s.trip_id = t.id \
       AND s.stage = 'crossed') THEN 1 ELSE 0 END AS did_cross, \
     CASE WHEN t.stage IN ('cancelled', 'returned', 'exited') THEN 1 ELSE 0 END AS ended, \
     COALESCE(ref.n, 0) AS refunds, ref.whole_status AS refund_status, \
     COALESCE(ref.back, 0) AS back, COALESCE(ref.lower_vnd, 0) AS lower_vnd, \
     COALESCE(ref.lower_paid, 0) AS lower_paid \
     FROM pay JOIN border_trips t ON t.id = pay.trip_id LEFT JOIN ref ON ref.trip_id = t.id) ";

/// Check the refunds (hoàn phí), failing with every violation listed: every trip over without
/// crossing (cancelled, turned back) whose fee was paid has one refund, paid back, of the whole
/// amount, and its assessment is `refunded`; no crossed trip has a refund; and the books
/// balance: paid − refunded = the fees of crossed trips + those of trips still under way.
/// Returns the number of refunded trips.
pub async fn check_refunds(db: &Db) -> Result<usize, AppError> {
    check_refunds_on(&mut *db.read_conn().await?).await
}

pub(super) async fn check_refunds_on(conn: &mut AnyConnection) -> Result<usize, AppError> {
    let mut broken = Vec::new();
    let sums = sqlx::query(&format!(
        "{REFUND_TRIPS} SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT), \
         CAST(COALESCE(SUM(lower_paid), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN did_cross = 1 THEN amount - lower_paid ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN did_cross = 0 AND ended = 1 THEN back ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN did_cross = 0 AND ended = 0 THEN amount - lower_paid ELSE 0 END), 0) AS BIGINT), \
         CAST(COUNT(CASE WHEN did_cross = 0 AND ended = 1 THEN 1 END) AS BIGINT), \
         (SELECT CAST(COALESCE(SUM(amount_vnd), 0) AS BIGINT) FROM border_fee_refunds \
          WHERE status = 'paid') \
         FROM per"
    ))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    let get = |i: usize| -> Result<i64, AppError> { sums.try_get(i).map_err(db_err) };
    let (paid, rate_change_back, crossed, refunded, under_way, trips, all_refunded) = (
        get(0)?,
        get(1)?,
        get(2)?,
        get(3)?,
        get(4)?,
        get(5)?,
        get(6)?,
    );
    let rows = sqlx::query(&format!(
        "{REFUND_TRIPS} SELECT id, amount, status, did_cross, ended, refunds, refund_status, \
         back, lower_vnd FROM per \
         WHERE (did_cross = 1 AND refunds > 0) OR (did_cross = 0 AND ended = 0 AND refunds > 0) \
         OR (did_cross = 0 AND ended = 1 AND (refunds <> 1 OR refund_status IS NULL \
             OR refund_status <> 'paid' OR back + lower_vnd <> amount OR status <> 'refunded')) \
         ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let trip: String = r.try_get(0).map_err(db_err)?;
        let amount: i64 = r.try_get(1).map_err(db_err)?;
        let status: String = r.try_get(2).map_err(db_err)?;
        let did_cross: i64 = r.try_get(3).map_err(db_err)?;
        let ended: i64 = r.try_get(4).map_err(db_err)?;
        let refunds: i64 = r.try_get(5).map_err(db_err)?;
        let refund_status: Option<String> = r.try_get(6).map_err(db_err)?;
        let back: i64 = r.try_get(7).map_err(db_err)?;
        let lower: i64 = r.try_get(8).map_err(db_err)?;
        if did_cross > 0 {
            broken.push(format!("trip {trip}: crossed, yet refunded"));
        } else if ended > 0 {
            if refunds != 1 || refund_status.as_deref() != Some("paid") || back + lower != amount {
                broken.push(format!(
                    "trip {trip}: over without crossing, {refunds} refunds ({refund_status:?}) of {back} (+ {lower} for a lower rate) for {amount} paid"
                ));
            }
            if status != "refunded" {
                broken.push(format!("trip {trip}: refunded, but its fee is {status}"));
            }
        } else {
            broken.push(format!("trip {trip}: still under way, yet refunded"));
        }
    }
    if all_refunded != refunded + rate_change_back {
        broken.push(format!(
            "refunds paid {all_refunded} VND ≠ {refunded} for trips over without crossing + {rate_change_back} for lower rates"
        ));
    }
    if paid - all_refunded != crossed + under_way {
        broken.push(format!(
            "paid {paid} − refunded {all_refunded} ≠ crossed {crossed} + under way {under_way}"
        ));
    }
    verdict(
        "refunds",
        broken,
        usize::try_from(trips).unwrap_or_default(),
    )
}

/// Check the prepaid trips, failing with every violation listed: each trip in `prepaid` has
/// its fee paid, before the truck was first recorded at the gate (staging or yard); no payment
/// was asked for after the fee was paid; and when the trip reached "fee paid" on its journey,
/// it did so when or after its checks cleared, never before. Returns the number checked.
pub async fn check_prepaid(db: &Db, prepaid: &[String]) -> Result<usize, AppError> {
    check_prepaid_on(&mut *db.read_conn().await?, db.backend(), prepaid).await
}

pub(super) async fn check_prepaid_on(
    conn: &mut AnyConnection,
    backend: Backend,
    prepaid: &[String],
) -> Result<usize, AppError> {
    let mut broken = Vec::new();
    let x = rows_sql(backend, 1, &[("i", Col::Int), ("id", Col::Text)]);
    // The prepaid trips (input order) whose fee's payment time, first arrival, last payment
    // request (found by the trip's code: the index the payments have) and first `checked`
    // and `paid` stages break the rule; a trip without a paid fee has no `f` row.
    let rows = sqlx::query(&format!(
        "WITH x AS ({x}), f AS (SELECT x.i, x.id, a.id AS fee, a.paid_at, t.code FROM x \
           JOIN border_fee_assessments a ON a.trip_id = x.id \
           AND a.status IN ('paid', 'refunded') AND a.topup_of IS NULL \
           JOIN border_trips t ON t.id = x.id) \
         SELECT i, id, fee, paid_at, arrived, asked, checked, paid FROM (SELECT x.i, x.id, f.fee, f.paid_at, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = x.id \
          AND s.stage IN ('staging', 'yard')) AS arrived, \
         (SELECT MAX(p.created_at) FROM border_fee_payments p WHERE p.trip_code = f.code \
          AND p.assessment_id = f.fee) AS asked, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = x.id \
          AND s.stage = 'checked') AS checked, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = x.id \
          AND s.stage = 'paid') AS paid \
         FROM x LEFT JOIN f ON f.i = x.i) v \
         WHERE fee IS NULL OR (arrived IS NOT NULL AND (paid_at IS NULL OR arrived < paid_at)) \
         OR (paid_at IS NOT NULL AND asked > paid_at) \
         OR (paid IS NOT NULL AND (checked IS NULL OR paid < checked)) ORDER BY i"
    ))
    .bind(json_rows(
        prepaid.iter().enumerate().map(|(i, id)| json!([i, id])),
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let id: String = r.try_get(1).map_err(db_err)?;
        let fee: Option<String> = r.try_get(2).map_err(db_err)?;
        if fee.is_none() {
            broken.push(format!("trip {id}: prepaid, but no paid fee"));
            continue;
        }
        let paid: Option<i64> = r.try_get(3).map_err(db_err)?;
        let arrived: Option<i64> = r.try_get(4).map_err(db_err)?;
        let last_request: Option<i64> = r.try_get(5).map_err(db_err)?;
        let checked: Option<i64> = r.try_get(6).map_err(db_err)?;
        let paid_stage: Option<i64> = r.try_get(7).map_err(db_err)?;
        let paid = paid.unwrap_or(i64::MAX);
        if arrived.is_some_and(|a| a < paid) {
            broken.push(format!("trip {id}: paid after the truck arrived"));
        }
        if last_request.is_some_and(|c| c > paid) {
            broken.push(format!(
                "trip {id}: a payment was asked for after it was paid"
            ));
        }
        match (paid_stage, checked) {
            (Some(p), Some(c)) if p < c => {
                broken.push(format!("trip {id}: \"fee paid\" before its checks cleared"))
            }
            (Some(_), None) => broken.push(format!("trip {id}: \"fee paid\" without its checks")),
            _ => {}
        }
    }
    verdict("prepaid fees", broken, prepaid.len())
}

/// Check the standby queue, failing with every violation listed: each trip in `swept` (sent
/// to standby by the no-show sweep) has a booking marked `no_show` and a standby entry from the
/// sweep; each trip in `joined` (id, when it joined) has a standby entry, and, when it was
/// given a seat, bookings from standby only in hours that had not ended when it joined; the
/// bookings from standby number `seated`. Returns the number of trips checked.
pub async fn check_standby(
    db: &Db,
    swept: &[String],
    joined: &[(String, i64)],
    seated: usize,
) -> Result<usize, AppError> {
    check_standby_on(
        &mut *db.read_conn().await?,
        db.backend(),
        swept,
        joined,
        seated,
    )
    .await
}

pub(super) async fn check_standby_on(
    conn: &mut AnyConnection,
    backend: Backend,
    swept: &[String],
    joined: &[(String, i64)],
    seated: usize,
) -> Result<usize, AppError> {
    let mut broken = Vec::new();
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM border_bookings WHERE source = 'from_standby'")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
    if usize::try_from(total).ok() != Some(seated) {
        broken.push(format!("{total} bookings from standby, {seated} seated"));
    }
    // Swept trips without a no-show booking, or not on standby as a no-show — a truck swept
    // that came late after all and joined the standby queue itself is there as `joined`.
    let joined_ids: HashSet<&str> = joined.iter().map(|(id, _)| id.as_str()).collect();
    let x = rows_sql(
        backend,
        1,
        &[("i", Col::Int), ("id", Col::Text), ("joined", Col::Int)],
    );
    let rows = sqlx::query(&format!(
        "WITH x AS ({x}) SELECT i, id, no_show, reason FROM (SELECT x.i, x.id, x.joined, \
         CASE WHEN EXISTS (SELECT 1 FROM border_bookings b WHERE b.trip_id = x.id \
           AND b.status = 'no_show') THEN 1 ELSE 0 END AS no_show, s.reason \
         FROM x LEFT JOIN border_standby s ON s.trip_id = x.id) w \
         WHERE no_show = 0 OR reason IS NULL \
         OR (reason <> 'no_show' AND NOT (reason = 'joined' AND joined = 1)) ORDER BY i"
    ))
    .bind(json_rows(swept.iter().enumerate().map(|(i, id)| {
        json!([i, id, i64::from(joined_ids.contains(id.as_str()))])
    })))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let id: String = r.try_get(1).map_err(db_err)?;
        let no_show: i64 = r.try_get(2).map_err(db_err)?;
        let reason: Option<String> = r.try_get(3).map_err(db_err)?;
        if no_show == 0 {
            broken.push(format!("trip {id}: swept, but no booking marked no-show"));
        }
        let from_sweep = match reason.as_deref() {
            Some("no_show") => true,
            Some("joined") => joined_ids.contains(id.as_str()),
            _ => false,
        };
        if !from_sweep {
            broken.push(format!("trip {id}: swept, but not on standby as a no-show"));
        }
    }
    // Trucks that joined: an entry; seated only with a booking from standby; a seat given
    // after the truck joined never in an hour already over when it joined (seats given before
    // belong to an earlier stay on standby: a truck seated, then swept as a no-show because
    // its arrival was not seen, may come and join again).
    let x = rows_sql(
        backend,
        1,
        &[("i", Col::Int), ("id", Col::Text), ("at", Col::Int)],
    );
    let rows = sqlx::query(&format!(
        "WITH x AS ({x}) SELECT i, id, at, entry, status, seats, stale FROM (SELECT x.i, x.id, \
         x.at, s.trip_id AS entry, s.status, \
         (SELECT COUNT(*) FROM border_bookings b WHERE b.trip_id = x.id \
          AND b.source = 'from_standby') AS seats, \
         (SELECT COUNT(*) FROM border_bookings b WHERE b.trip_id = x.id \
          AND b.source = 'from_standby' AND b.created_at >= x.at AND b.hour_start + $2 <= x.at) \
          AS stale \
         FROM x LEFT JOIN border_standby s ON s.trip_id = x.id) j \
         WHERE entry IS NULL OR (seats = 0 AND status = 'seated') OR stale > 0 ORDER BY i"
    ))
    .bind(json_rows(
        joined
            .iter()
            .enumerate()
            .map(|(i, (id, at))| json!([i, id, at])),
    ))
    .bind(HOUR)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let id: String = r.try_get(1).map_err(db_err)?;
        let at: i64 = r.try_get(2).map_err(db_err)?;
        let entry: Option<String> = r.try_get(3).map_err(db_err)?;
        let stale: i64 = r.try_get(6).map_err(db_err)?;
        if entry.is_none() {
            broken.push(format!("trip {id}: joined standby, no entry"));
        } else if stale == 0 {
            broken.push(format!("trip {id}: seated without a booking from standby"));
        } else {
            let seats = sqlx::query(
                "SELECT hour_start, created_at FROM border_bookings WHERE trip_id = $1 \
                 AND source = 'from_standby'",
            )
            .bind(&id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?
            .iter()
            .map(|s| Ok((s.try_get(0)?, s.try_get(1)?)))
            .collect::<Result<Vec<(i64, i64)>, sqlx::Error>>()
            .map_err(db_err)?;
            broken.push(format!(
                "trip {id}: joined at {at}, seats from standby (hour, given) {seats:?}"
            ));
        }
    }
    verdict("standby", broken, swept.len() + joined.len())
}
