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

/// The counts for local dates `[from, to)`; `commune`: only its gates (administrative-unit
/// code). A commune without a gate gives zero counts.
pub async fn shares(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    commune: Option<&str>,
) -> Result<Shares, AppError> {
    let (lo, hi) = (local_midnight_micros(from), local_midnight_micros(to));
    let gates = gate_codes(db, commune).await?;
    let mut out = Shares {
        gate_agencies: gates
            .iter()
            .flat_map(|g| g.agencies.iter().map(|a| a.agency.as_str()))
            .collect::<BTreeSet<_>>()
            .len() as i64,
        ..Default::default()
    };
    if gates.is_empty() {
        return Ok(out);
    }
    let codes: Option<Vec<String>> =
        commune.map(|_| gates.iter().map(|g| g.code.clone()).collect());
    let codes = codes.as_deref();
    let by_code: HashMap<&str, &gates::Gate> = gates.iter().map(|g| (g.code.as_str(), g)).collect();
    let rows = |sql: String| async move { window_rows(db, &sql, lo, hi, codes, None).await };

    // Crossed trips per gate and quarantine, with bookings used and fees paid.
    let sql = format!(
        "SELECT t.gate_code, t.quarantine, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM({BOOKED}) AS BIGINT), CAST(SUM({PAID}) AS BIGINT) \
         FROM {CROSSED}{} GROUP BY t.gate_code, t.quarantine",
        agency_clause_on(codes, 3, "t.gate_code")
    );
    let mut required: HashMap<(String, String), BTreeSet<&'static str>> = HashMap::new();
    for r in rows(sql).await? {
        let gate: String = r.try_get(0).map_err(db_err)?;
        let quarantine: String = r.try_get(1).map_err(db_err)?;
        let n: i64 = r.try_get(2).map_err(db_err)?;
        out.crossed += n;
        out.crossed_booked += r.try_get::<i64, _>(3).map_err(db_err)?;
        out.crossed_fee_paid += r.try_get::<i64, _>(4).map_err(db_err)?;
        if let Some(g) = by_code.get(gate.as_str()) {
            let kinds = required_for(g, &quarantine);
            out.checks_required += n * kinds.len() as i64;
            required.insert(
                (gate, quarantine),
                kinds.iter().map(|k| k.kind.as_str()).collect(),
            );
        }
    }

    // Checks of those trips decided on the platform, counted only where the trip needed them.
    let sql = format!(
        "SELECT t.gate_code, t.quarantine, c.kind, CAST(COUNT(*) AS BIGINT) FROM border_checks c \
         JOIN border_trips t ON t.id = c.trip_id JOIN border_trip_stages s ON s.trip_id = t.id \
         WHERE s.stage = 'crossed' AND s.at >= $1 AND s.at < $2 AND c.decided_at IS NOT NULL{} \
         GROUP BY t.gate_code, t.quarantine, c.kind",
        agency_clause_on(codes, 3, "t.gate_code")
    );
    for r in rows(sql).await? {
        let key: (String, String) = (r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?);
        let kind: String = r.try_get(2).map_err(db_err)?;
        if required
            .get(&key)
            .is_some_and(|k| k.contains(kind.as_str()))
        {
            out.checks_recorded += r.try_get::<i64, _>(3).map_err(db_err)?;
        }
    }

    // Crossing reads that matched no declared trip.
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM border_review_queue WHERE stage = 'crossed' \
         AND reason = 'no_match' AND status <> 'attached' AND at >= $1 AND at < $2{}",
        agency_clause_on(codes, 3, "gate_code")
    );
    out.undeclared_crossings = match rows(sql).await?.first() {
        Some(r) => r.try_get(0).map_err(db_err)?,
        None => 0,
    };

    // Agencies at these gates that decided a check in the window.
    let sql = format!(
        "SELECT DISTINCT agency_code FROM border_checks WHERE decided_at >= $1 AND decided_at < $2{}",
        agency_clause_on(codes, 3, "gate_code")
    );
    let present: BTreeSet<&str> = gates
        .iter()
        .flat_map(|g| g.agencies.iter().map(|a| a.agency.as_str()))
        .collect();
    for r in rows(sql).await? {
        let a: String = r.try_get(0).map_err(db_err)?;
        if present.contains(a.as_str()) {
            out.agencies_active += 1;
        }
    }
    Ok(out)
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
