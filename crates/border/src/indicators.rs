//! The border gate's shares for the plan's targets (chỉ số cửa khẩu số), counted over a window
//! of local dates `[from, to)` and, optionally, the gates of one commune. The targets module
//! reads them through [`shares`]; the operations centre lists the trips behind a number with
//! [`crossed_trips`].
//!
//! A trip "crossed in the window" has its `crossed` stage recorded in it. The crossings the
//! platform did *not* see declared are the crossing cameras' reads that matched no declared
//! trip (review reason `no_match` at the `crossed` stage) and were not attached to a trip by an
//! officer: an approximation (a misread left open also counts until it is resolved).

use crate::checks::required_for;
use crate::gates;
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};
use tinhso_kernel::AppError;
use tinhso_services::indicators::{agency_clause_on, local_midnight_micros, window_rows};
use tinhso_store::{Db, DbError};

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// The counts behind the border indicators for one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Shares {
    /// Declared trips that crossed in the window.
    pub crossed: i64,
    /// Crossing-camera reads that matched no declared trip and were not attached.
    pub undeclared_crossings: i64,
    /// …of the crossed trips: with a slot booking used.
    pub crossed_booked: i64,
    /// …of the crossed trips: with the infrastructure fee paid on the platform.
    pub crossed_fee_paid: i64,
    /// Checks the crossed trips needed at their gates ([`required_for`]).
    pub checks_required: i64,
    /// …of which decided on the platform.
    pub checks_recorded: i64,
    /// Agencies present at the gates (distinct agency codes).
    pub gate_agencies: i64,
    /// …of which decided at least one check in the window.
    pub agencies_active: i64,
}

impl Shares {
    /// All crossings seen: declared ones and undeclared camera reads.
    pub fn all_crossings(&self) -> i64 {
        self.crossed + self.undeclared_crossings
    }
}

/// Trips crossed in the window (`s` the stage, `t` the trip).
const CROSSED: &str = "border_trip_stages s JOIN border_trips t ON t.id = s.trip_id \
     WHERE s.stage = 'crossed' AND s.at >= $1 AND s.at < $2";
/// 1 when the trip used a booking, else 0; then when its fee was paid. Uncorrelated `IN`
/// subqueries: without an index on the trip a correlated `EXISTS` was quadratic on SQLite (7 s
/// for 18,000 trips against 80 ms), and the `IN` set was built from the whole table for each
/// window; with the indexes of migration 8006 SQLite probes them per crossed trip instead.
const BOOKED: &str =
    "CASE WHEN t.id IN (SELECT trip_id FROM border_bookings WHERE status = 'used') \
     THEN 1 ELSE 0 END";
const PAID: &str = "CASE WHEN t.code IN (SELECT trip_code FROM border_fee_payments \
     WHERE status = 'paid') THEN 1 ELSE 0 END";

/// The gate codes to count (`None`: every gate), for a commune filter.
async fn gate_codes(db: &Db, commune: Option<&str>) -> Result<Vec<gates::Gate>, AppError> {
    let all = gates::list(db).await?;
    Ok(match commune {
        None => all,
        Some(c) => all.into_iter().filter(|g| g.commune_code == c).collect(),
    })
}

/// The roll-up's name in `rollup_marks` (migration 8007 marks its days).
pub const ROLLUP: &str = "border";

/// One row of `border_day_counts`: gate, day, measure, quarantine, item, count.
type DayRow = (String, i64, &'static str, String, String, i64);

/// The raw counts of the local days `[first, last]` for `gates` (`None`: every gate), one
/// [`DayRow`] per gate, day, measure, quarantine and item — what `border_day_counts` keeps.
async fn day_rows(
    db: &Db,
    first: i64,
    last: i64,
    gates: Option<&[String]>,
) -> Result<Vec<DayRow>, AppError> {
    let lo = first * 86_400_000_000 - 25_200_000_000;
    let hi = (last + 1) * 86_400_000_000 - 25_200_000_000;
    let rows = |sql: String| async move { window_rows(db, &sql, lo, hi, gates, None).await };
    let on = |column: &str| agency_clause_on(gates, 3, column);
    let day = tinhso_store::rollup::day_sql;
    let mut out: Vec<DayRow> = Vec::new();

    let sql = format!(
        "SELECT t.gate_code, {d}, t.quarantine, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM({BOOKED}) AS BIGINT), CAST(SUM({PAID}) AS BIGINT) \
         FROM {CROSSED}{} GROUP BY t.gate_code, {d}, t.quarantine",
        on("t.gate_code"),
        d = day("s.at"),
    );
    for r in rows(sql).await? {
        let (gate, d, q): (String, i64, String) = (
            r.try_get(0).map_err(db_err)?,
            r.try_get(1).map_err(db_err)?,
            r.try_get(2).map_err(db_err)?,
        );
        for (i, measure) in [(3, "crossed"), (4, "booked"), (5, "fee_paid")] {
            let n: i64 = r.try_get(i).map_err(db_err)?;
            if n > 0 {
                out.push((gate.clone(), d, measure, q.clone(), String::new(), n));
            }
        }
    }

    let sql = format!(
        "SELECT t.gate_code, {d}, t.quarantine, c.kind, CAST(COUNT(*) AS BIGINT) FROM border_checks c \
         JOIN border_trips t ON t.id = c.trip_id JOIN border_trip_stages s ON s.trip_id = t.id \
         WHERE s.stage = 'crossed' AND s.at >= $1 AND s.at < $2 AND c.decided_at IS NOT NULL{} \
         GROUP BY t.gate_code, {d}, t.quarantine, c.kind",
        on("t.gate_code"),
        d = day("s.at"),
    );
    for r in rows(sql).await? {
        out.push((
            r.try_get(0).map_err(db_err)?,
            r.try_get(1).map_err(db_err)?,
            "check",
            r.try_get(2).map_err(db_err)?,
            r.try_get(3).map_err(db_err)?,
            r.try_get(4).map_err(db_err)?,
        ));
    }

    let sql = format!(
        "SELECT gate_code, {d}, CAST(COUNT(*) AS BIGINT) FROM border_review_queue \
         WHERE stage = 'crossed' AND reason = 'no_match' AND status <> 'attached' \
         AND at >= $1 AND at < $2{} GROUP BY gate_code, {d}",
        on("gate_code"),
        d = day("at"),
    );
    for r in rows(sql).await? {
        out.push((
            r.try_get(0).map_err(db_err)?,
            r.try_get(1).map_err(db_err)?,
            "undeclared",
            String::new(),
            String::new(),
            r.try_get(2).map_err(db_err)?,
        ));
    }

    let sql = format!(
        "SELECT gate_code, {d}, agency_code, CAST(COUNT(*) AS BIGINT) FROM border_checks \
         WHERE decided_at >= $1 AND decided_at < $2{} GROUP BY gate_code, {d}, agency_code",
        on("gate_code"),
        d = day("decided_at"),
    );
    for r in rows(sql).await? {
        out.push((
            r.try_get(0).map_err(db_err)?,
            r.try_get(1).map_err(db_err)?,
            "agency",
            String::new(),
            r.try_get(2).map_err(db_err)?,
            r.try_get(3).map_err(db_err)?,
        ));
    }
    Ok(out)
}

/// Bring the daily roll-up up to date: recompute every (gate, day) a change marked since the
/// last refresh (see [`tinhso_store::rollup`]). Returns the days stored. [`shares`] calls it
/// first; `tinhso serve` also runs it every minute so readers seldom wait.
pub async fn refresh_rollup(db: &Db) -> Result<usize, AppError> {
    let marks = tinhso_store::rollup::pending(db, ROLLUP).await?;
    let mut stored = 0;
    for (first, last, marks) in tinhso_store::rollup::runs(marks, 7) {
        let gates: BTreeSet<&str> = marks.iter().map(|m| m.scope.as_str()).collect();
        let gates: Vec<String> = gates.into_iter().map(str::to_string).collect();
        let mut fresh: HashMap<(String, i64), Vec<DayRow>> = HashMap::new();
        for row in day_rows(db, first, last, Some(&gates)).await? {
            fresh.entry((row.0.clone(), row.1)).or_default().push(row);
        }
        let mut tx = db.begin_write().await?;
        for m in &marks {
            if !tinhso_store::rollup::claim(&mut tx, ROLLUP, m).await? {
                continue;
            }
            sqlx::query("DELETE FROM border_day_counts WHERE gate_code = $1 AND day = $2")
                .bind(&m.scope)
                .bind(m.day)
                .execute(tx.conn())
                .await
                .map_err(db_err)?;
            for (gate, day, measure, quarantine, item, n) in
                fresh.get(&(m.scope.clone(), m.day)).into_iter().flatten()
            {
                sqlx::query(
                    "INSERT INTO border_day_counts (gate_code, day, measure, quarantine, item, n) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(gate)
                .bind(day)
                .bind(*measure)
                .bind(quarantine)
                .bind(item)
                .bind(n)
                .execute(tx.conn())
                .await
                .map_err(db_err)?;
            }
            stored += 1;
        }
        tx.commit().await?;
    }
    Ok(stored)
}

/// The counts for local dates `[from, to)`; `commune`: only its gates (administrative-unit
/// code). A commune without a gate gives zero counts. Read from the daily roll-up, brought up
/// to date first ([`refresh_rollup`]); [`shares_from_rows`] counts the raw rows instead.
pub async fn shares(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    commune: Option<&str>,
) -> Result<Shares, AppError> {
    shares_windows(db, &[(from, to)], commune)
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("shares: no window"))
}

/// [`shares`] for several windows at once, in the order given: the roll-up brought up to date
/// once and summed by one statement over the disjoint pieces of the windows
/// ([`tinhso_store::rollup::Segments`]: each `border_day_counts` row read once, however many of
/// the screen's overlapping windows contain it); each window then adds up its pieces.
pub async fn shares_windows(
    db: &Db,
    windows: &[(NaiveDate, NaiveDate)],
    commune: Option<&str>,
) -> Result<Vec<Shares>, AppError> {
    let (gates, rows) = rolled_up(db, windows, commune).await?;
    Ok(rows.iter().map(|rows| tally(&gates, rows)).collect())
}

/// A disaggregation of the border shares (phân tổ): by gate or by the trip's quarantine class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareBy {
    /// Cửa khẩu: every gate of the unit, each with its own counts.
    Gate,
    /// Loại kiểm dịch: `none`, `plant`, `animal`, `plant,animal` — the classes crossed trips
    /// have in the window. Undeclared crossings and the gates' agencies have no class and are
    /// not counted in any category.
    Quarantine,
}

/// [`shares`] for `[from, to)` broken down `by` a disaggregation: one `(category, counts)` per
/// category, from the same one statement over the daily roll-up (the roll-up already keeps its
/// counts per gate and quarantine class). The categories' crossings, bookings, fees and checks
/// add up to the unit's [`shares`]; the agencies (a distinct count) do not.
pub async fn shares_by(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    commune: Option<&str>,
    by: ShareBy,
) -> Result<Vec<(String, Shares)>, AppError> {
    let (gates, mut rows) = rolled_up(db, &[(from, to)], commune).await?;
    let rows = rows.pop().unwrap_or_default();
    Ok(match by {
        ShareBy::Gate => gates
            .iter()
            .map(|g| {
                let own: Vec<DayRow> = rows.iter().filter(|r| r.0 == g.code).cloned().collect();
                (g.code.clone(), tally(std::slice::from_ref(g), &own))
            })
            .collect(),
        ShareBy::Quarantine => {
            let mut classes: std::collections::BTreeMap<String, Vec<DayRow>> = Default::default();
            for r in rows
                .iter()
                .filter(|r| !matches!(r.2, "undeclared" | "agency"))
            {
                let class = if r.3.is_empty() { "none" } else { r.3.as_str() };
                classes
                    .entry(class.to_string())
                    .or_default()
                    .push(r.clone());
            }
            classes
                .into_iter()
                .map(|(class, rows)| (class, tally(&gates, &rows)))
                .collect()
        }
    })
}

/// The unit's gates and, for each window in order, its roll-up rows: the roll-up brought up to
/// date once and summed by one statement over the disjoint pieces of the windows
/// ([`tinhso_store::rollup::Segments`]); a window's rows are its pieces' rows.
async fn rolled_up(
    db: &Db,
    windows: &[(NaiveDate, NaiveDate)],
    commune: Option<&str>,
) -> Result<(Vec<gates::Gate>, Vec<Vec<DayRow>>), AppError> {
    let gates = gate_codes(db, commune).await?;
    let day = |d: NaiveDate| tinhso_store::rollup::day_of(local_midnight_micros(d));
    let days: Vec<(i64, i64)> = windows.iter().map(|(f, t)| (day(*f), day(*t))).collect();
    let pieces = tinhso_store::rollup::Segments::of(&days);
    let mut counted: Vec<Vec<DayRow>> = vec![Vec::new(); pieces.bounds.len()];
    if !gates.is_empty() && !pieces.bounds.is_empty() {
        refresh_rollup(db).await?;
        let codes: Option<Vec<String>> =
            commune.map(|_| gates.iter().map(|g| g.code.clone()).collect());
        let sql = format!(
            "SELECT w.i, c.gate_code, c.measure, c.quarantine, c.item, CAST(SUM(c.n) AS BIGINT) \
             FROM ({}) w JOIN border_day_counts c ON c.day >= w.lo AND c.day < w.hi WHERE 1 = 1{} \
             GROUP BY w.i, c.gate_code, c.measure, c.quarantine, c.item",
            pieces.sql(1),
            agency_clause_on(codes.as_deref(), 1 + 2 * pieces.bounds.len(), "c.gate_code")
        );
        let mut q = sqlx::query(&sql);
        for (lo, hi) in &pieces.bounds {
            q = q.bind(*lo).bind(*hi);
        }
        for c in codes.iter().flatten() {
            q = q.bind(c);
        }
        for r in q.fetch_all(db.pool()).await.map_err(db_err)? {
            let i: i64 = r.try_get(0).map_err(db_err)?;
            let measure: String = r.try_get(2).map_err(db_err)?;
            let measure = match measure.as_str() {
                "crossed" => "crossed",
                "booked" => "booked",
                "fee_paid" => "fee_paid",
                "check" => "check",
                "undeclared" => "undeclared",
                "agency" => "agency",
                _ => continue,
            };
            let slot = usize::try_from(i)
                .ok()
                .and_then(|i| counted.get_mut(i))
                .ok_or_else(|| AppError::internal(format!("shares: piece {i}")))?;
            slot.push((
                r.try_get(1).map_err(db_err)?,
                0,
                measure,
                r.try_get(3).map_err(db_err)?,
                r.try_get(4).map_err(db_err)?,
                r.try_get(5).map_err(db_err)?,
            ));
        }
    }
    // A window's rows are its pieces' rows: `tally` adds the counts of equal keys.
    let rows = pieces.fold(&counted, |window: &mut Vec<DayRow>, piece| {
        window.extend(piece.iter().cloned())
    });
    Ok((gates, rows))
}

/// The same counts straight from the raw rows (every trip and check of the window is read).
pub async fn shares_from_rows(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    commune: Option<&str>,
) -> Result<Shares, AppError> {
    let day = |d: NaiveDate| tinhso_store::rollup::day_of(local_midnight_micros(d));
    let gates = gate_codes(db, commune).await?;
    if gates.is_empty() {
        return Ok(tally(&gates, &[]));
    }
    let codes: Option<Vec<String>> =
        commune.map(|_| gates.iter().map(|g| g.code.clone()).collect());
    let rows = day_rows(db, day(from), day(to) - 1, codes.as_deref()).await?;
    Ok(tally(&gates, &rows))
}

/// [`Shares`] from per-gate counts: the checks each crossed trip needed at its gate
/// ([`required_for`]), those recorded among them, the agencies present and active.
fn tally(gates: &[gates::Gate], rows: &[DayRow]) -> Shares {
    let present: BTreeSet<&str> = gates
        .iter()
        .flat_map(|g| g.agencies.iter().map(|a| a.agency.as_str()))
        .collect();
    let by_code: HashMap<&str, &gates::Gate> = gates.iter().map(|g| (g.code.as_str(), g)).collect();
    let mut out = Shares {
        gate_agencies: present.len() as i64,
        ..Default::default()
    };
    let mut active: BTreeSet<&str> = BTreeSet::new();
    for (gate, _, measure, quarantine, item, n) in rows {
        let Some(g) = by_code.get(gate.as_str()) else {
            continue;
        };
        match *measure {
            "crossed" => {
                out.crossed += n;
                out.checks_required += n * required_for(g, quarantine).len() as i64;
            }
            "booked" => out.crossed_booked += n,
            "fee_paid" => out.crossed_fee_paid += n,
            "check"
                if required_for(g, quarantine)
                    .iter()
                    .any(|k| k.kind.as_str() == item.as_str()) =>
            {
                out.checks_recorded += n;
            }
            "undeclared" => out.undeclared_crossings += n,
            "agency" if *n > 0 => {
                if let Some(a) = present.get(item.as_str()) {
                    active.insert(a);
                }
            }
            _ => {}
        }
    }
    out.agencies_active = active.len() as i64;
    out
}

/// A trip behind a border number.
#[derive(Debug, Clone, Serialize)]
pub struct CrossedTrip {
    pub code: String,
    pub gate_code: String,
    pub direction: String,
    pub vehicle_plate: String,
    pub crossed_at: i64,
    pub booked: bool,
    pub fee_paid: bool,
}

/// The trips that crossed in `[from, to)` (local dates), newest first, at most `limit`;
/// `commune`: only its gates.
pub async fn crossed_trips(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    commune: Option<&str>,
    limit: i64,
) -> Result<Vec<CrossedTrip>, AppError> {
    let (lo, hi) = (local_midnight_micros(from), local_midnight_micros(to));
    let gates = gate_codes(db, commune).await?;
    if gates.is_empty() {
        return Ok(Vec::new());
    }
    let codes: Option<Vec<String>> =
        commune.map(|_| gates.iter().map(|g| g.code.clone()).collect());
    let n = codes.as_ref().map_or(0, Vec::len);
    let sql = format!(
        "SELECT t.code, t.gate_code, t.direction, t.vehicle_plate, s.at, \
         CAST({BOOKED} AS BIGINT), CAST({PAID} AS BIGINT) \
         FROM {CROSSED}{} ORDER BY s.at DESC, t.code LIMIT ${}",
        agency_clause_on(codes.as_deref(), 3, "t.gate_code"),
        3 + n
    );
    let rows = window_rows(db, &sql, lo, hi, codes.as_deref(), Some(limit)).await?;
    rows.iter()
        .map(|r| {
            Ok(CrossedTrip {
                code: r.try_get(0).map_err(db_err)?,
                gate_code: r.try_get(1).map_err(db_err)?,
                direction: r.try_get(2).map_err(db_err)?,
                vehicle_plate: r.try_get(3).map_err(db_err)?,
                crossed_at: r.try_get(4).map_err(db_err)?,
                booked: r.try_get::<i64, _>(5).map_err(db_err)? == 1,
                fee_paid: r.try_get::<i64, _>(6).map_err(db_err)? == 1,
            })
        })
        .collect()
}

/// Trucks at the border now (at the staging yard, the inspection yard, checked or paid) and
/// open review items, for the live counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Now {
    pub at_border: i64,
    pub review_open: i64,
}

/// The live border counters.
pub async fn now(db: &Db) -> Result<Now, AppError> {
    let mut conn = db.read_conn().await?;
    let at_border: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM border_trips \
         WHERE stage IN ('staging', 'yard', 'checked', 'paid')",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    let review_open: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM border_review_queue WHERE status = 'open'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(Now {
        at_border,
        review_open,
    })
}
