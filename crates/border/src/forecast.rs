//! Congestion forecasting (dự báo ùn tắc): arrivals and queue length per gate and direction,
//! hour by hour, for the next 72 hours; alerts when the projected queue exceeds the gate's
//! yards and staging areas (bãi kiểm hoá + bãi chờ), with advisories.
//!
//! **Arrivals** in hour `h` (lead `L` hours from now) combine
//! - (a) declarations not yet arrived whose expected arrival is in `h` — (b) at their booked
//!   slot's hour instead when they hold a booking — times the show rate measured on history;
//! - (c) history: the mean arrivals of the same hour of the week over the past
//!   [`Params::history_weeks`] weeks, (d) scaled by the harvest calendar
//!   ([`crate::sim::MONTH_FACTOR`], exports only: target month over the history week's month);
//!
//! as an additive "pick-up" model: `A(h) = D(h) + (1 − f(L)) · H(h)`, where `f(L)` is the share
//! of past arrivals that had been declared at least `L` hours ahead (measured per gate on the
//! history window). Near hours are carried by the declarations, far hours by the history.
//!
//! **Queue** (trucks arrived, not crossed) by a fluid model per direction:
//! `Q(h+1) = Q(h) + A(h) − X(h)`, `X(h) = min(C(h), μ · Q(h))` (so an uncongested queue
//! settles at `A / μ`, Little's law), from the queue now;
//! `C(h)` is the declared hourly capacity prorated by open minutes, with the board's overrides
//! ([`crate::slots::capacity`]), and at most the day's cap; `μ` is one over the median dwell
//! (arrival → crossing) on history, capped at 1 an hour.
//!
//! Everything is computed **as of `now`**: trips declared by then, stage times up to then,
//! bookings made by then — so a forecast can be evaluated on a database that already holds
//! what came after ([`evaluate`]) against the seasonal naive baseline (same hour last week).

use crate::gates::{self, Direction, Gate};
use crate::sim::MONTH_FACTOR;
use crate::slots::{self, capacity, HOUR};
use chrono::Datelike;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use tinhso_kernel::{AppError, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::{Db, DbError};

const WEEK: i64 = 168 * HOUR;

/// Settings of the forecast.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Params {
    pub horizon_hours: i64,
    pub history_weeks: i64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            horizon_hours: 72,
            history_weeks: 4,
        }
    }
}

/// One hour of one direction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HourForecast {
    pub hour_start: i64,
    pub local: String,
    /// Declared (or booked) for this hour, not arrived, times the show rate.
    pub declared: f64,
    /// Same hour of the week, history mean × season.
    pub history: f64,
    /// Combined arrivals.
    pub arrivals: f64,
    pub capacity: i64,
    /// Projected queue at the hour's end.
    pub queue: f64,
}

/// One direction of a gate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DirectionForecast {
    pub direction: Direction,
    pub queue_now: usize,
    pub hours: Vec<HourForecast>,
}

/// A congestion alert (cảnh báo ùn tắc): hours where the projected queue of the gate exceeds
/// its yards and staging areas.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    pub gate: String,
    pub from: i64,
    pub to: i64,
    pub from_local: String,
    pub to_local: String,
    pub peak_queue: f64,
    pub peak_at_local: String,
    pub yard_capacity: i64,
    /// Declared trips expected in the alert's hours (not arrived), per enterprise MST.
    pub enterprises: BTreeMap<String, usize>,
    pub advice_vi: String,
    pub advice_en: String,
}

/// The forecast of one gate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateForecast {
    pub gate: String,
    pub name_vi: String,
    /// Yards plus staging areas.
    pub yard_capacity: i64,
    pub as_of: i64,
    pub directions: Vec<DirectionForecast>,
    /// Sum over directions, per hour.
    pub total_arrivals: Vec<f64>,
    pub total_queue: Vec<f64>,
    pub alerts: Vec<Alert>,
    /// Share of declared trips that arrived (history), used on declarations.
    pub show_rate: f64,
    /// Median dwell, hours (history).
    pub median_dwell_h: f64,
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// What the forecast knows of one trip.
#[derive(Debug, Clone)]
struct TripRow {
    id: String,
    direction: Direction,
    mst: String,
    created_at: i64,
    expected: i64,
    booked_hour: Option<(i64, i64)>,
    arrived: Option<i64>,
    crossed: Option<i64>,
    cancelled: bool,
}

impl TripRow {
    fn arrived_by(&self, t: i64) -> bool {
        self.arrived.is_some_and(|a| a <= t)
    }
    fn crossed_by(&self, t: i64) -> bool {
        self.crossed.is_some_and(|c| c <= t)
    }
    fn waiting_at(&self, t: i64) -> bool {
        self.arrived_by(t) && !self.crossed_by(t) && !self.cancelled
    }
}

async fn load_trips(db: &Db, gate: &str, since: i64) -> Result<Vec<TripRow>, AppError> {
    let rows = sqlx::query(
        "SELECT t.direction, t.enterprise_mst, t.created_at, t.expected_arrival, t.stage, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = t.id \
            AND s.stage IN ('staging', 'yard', 'checked', 'paid', 'crossed')) AS arrived, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = t.id \
            AND s.stage IN ('crossed', 'returned', 'exited')) AS crossed, t.id \
         FROM border_trips t WHERE t.gate_code = $1 AND t.expected_arrival >= $2",
    )
    .bind(gate)
    .bind(since)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let d: String = r.try_get(0).map_err(db_err)?;
        let Some(direction) = Direction::parse(&d) else {
            continue;
        };
        let stage: String = r.try_get(4).map_err(db_err)?;
        out.push(TripRow {
            id: r.try_get(7).map_err(db_err)?,
            direction,
            mst: r.try_get(1).map_err(db_err)?,
            created_at: r.try_get(2).map_err(db_err)?,
            expected: r.try_get(3).map_err(db_err)?,
            booked_hour: None,
            arrived: r.try_get(5).map_err(db_err)?,
            crossed: r.try_get(6).map_err(db_err)?,
            cancelled: stage == "cancelled",
        });
    }
    Ok(out)
}

/// Bookings of the gate's trips: (trip id, slot hour, when booked).
async fn load_bookings(
    db: &Db,
    gate: &str,
    since: i64,
) -> Result<Vec<(String, i64, i64)>, AppError> {
    sqlx::query_as(
        // Driven by the gate's trips expected since `since` (index on gate and expected
        // arrival), then their bookings by trip: filtering the bookings by gate first visited
        // every booking the gate ever had (1.8 s for two years of Hữu Nghị; 0.16 s this way).
        "SELECT b.trip_id, b.hour_start, b.created_at FROM border_trips t \
         JOIN border_bookings b ON b.trip_id = t.id \
         WHERE t.gate_code = $1 AND t.expected_arrival >= $2 AND b.status <> 'cancelled'",
    )
    .bind(gate)
    .bind(since)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)
}

fn month_of(t: i64) -> usize {
    crate::declaration::local(t).month0() as usize
}

fn season(direction: Direction, target: i64, source: i64) -> f64 {
    if direction == Direction::Export {
        MONTH_FACTOR[month_of(target)] / MONTH_FACTOR[month_of(source)]
    } else {
        1.0
    }
}

/// The gate's yards and staging areas.
pub fn alert_capacity(g: &Gate) -> i64 {
    g.yards.iter().map(|y| y.capacity).sum()
}

/// Arrivals of a direction per hour in `[from, from + n hours)` as of `as_of` (truth when
/// `as_of` is after the window).
fn arrivals_in(trips: &[TripRow], d: Direction, from: i64, n: i64, as_of: i64) -> Vec<f64> {
    let mut v = vec![0.0; n.max(0) as usize];
    for t in trips.iter().filter(|t| t.direction == d) {
        if let Some(a) = t.arrived {
            if a <= as_of && a >= from {
                let k = (a - from) / HOUR;
                if k < n {
                    v[k as usize] += 1.0;
                }
            }
        }
    }
    v
}

/// Trucks waiting at each hour's end in `[from, from + n hours)`, as of `as_of`.
fn queue_in(trips: &[TripRow], d: Option<Direction>, from: i64, n: i64, as_of: i64) -> Vec<f64> {
    (0..n)
        .map(|k| {
            let t_end = from + (k + 1) * HOUR;
            let at = t_end.min(as_of);
            trips
                .iter()
                .filter(|t| d.is_none_or(|d| t.direction == d))
                .filter(|t| {
                    t.arrived.is_some_and(|a| a <= at && a > t_end - WEEK)
                        && !t.cancelled
                        && t.crossed.is_none_or(|c| c > at)
                })
                .count() as f64
        })
        .collect()
}

/// The forecast of one gate as of `now`.
pub async fn gate_forecast(
    db: &Db,
    gate: &Gate,
    now: i64,
    p: &Params,
) -> Result<GateForecast, AppError> {
    let start = slots::floor_hour(now);
    let n = p.horizon_hours;
    let since = start - (p.history_weeks + 1) * WEEK;
    let mut trips = load_trips(db, &gate.code, since).await?;
    // Bookings made by now give the hour the truck is expected.
    let bookings = load_bookings(db, &gate.code, since).await?;
    let mut by_trip: HashMap<String, (i64, i64)> = HashMap::new();
    for (trip, hour, made) in bookings {
        if made <= now && by_trip.get(&trip).is_none_or(|b| made >= b.1) {
            by_trip.insert(trip, (hour, made));
        }
    }
    for t in &mut trips {
        t.booked_hour = by_trip.get(&t.id).copied();
    }
    let hist_from = start - p.history_weeks * WEEK;
    // History: show rate, lead times, dwell.
    let past: Vec<&TripRow> = trips
        .iter()
        .filter(|t| t.created_at <= now && t.expected >= hist_from && t.expected < now - 6 * HOUR)
        .collect();
    let show_rate = if past.is_empty() {
        0.97
    } else {
        past.iter().filter(|t| t.arrived_by(now)).count() as f64 / past.len() as f64
    };
    let mut leads: Vec<i64> = past
        .iter()
        .filter_map(|t| Some(t.arrived.filter(|a| *a <= now)? - t.created_at))
        .collect();
    leads.sort_unstable();
    let declared_ahead = |lead: i64| -> f64 {
        if leads.is_empty() {
            return 0.0;
        }
        let below = leads.partition_point(|&l| l < lead);
        1.0 - below as f64 / leads.len() as f64
    };
    let mut dwell: Vec<i64> = past
        .iter()
        .filter_map(|t| {
            let c = t.crossed.filter(|c| *c <= now)?;
            Some(c - t.arrived?)
        })
        .filter(|d| *d >= 0)
        .collect();
    dwell.sort_unstable();
    let median_dwell_h = if dwell.is_empty() {
        2.0
    } else {
        (dwell[dwell.len() / 2] as f64 / HOUR as f64).max(0.25)
    };
    let mu = (1.0 / median_dwell_h).min(1.0);
    let mut directions = Vec::new();
    let mut total_arrivals = vec![0.0; n as usize];
    let mut total_queue = vec![0.0; n as usize];
    for cap in &gate.capacity {
        let d = cap.direction;
        // (a)+(b) declared, not arrived by now.
        let mut declared = vec![0.0; n as usize];
        for t in trips.iter().filter(|t| t.direction == d) {
            if t.created_at > now || t.arrived_by(now) || t.cancelled {
                continue;
            }
            let hour = t.booked_hour.map_or(slots::floor_hour(t.expected), |b| b.0);
            if hour >= start && hour < start + n * HOUR {
                declared[((hour - start) / HOUR) as usize] += show_rate;
            }
        }
        // (c)+(d) history, same hour of the week.
        let mut history = vec![0.0; n as usize];
        let mut weeks = 0.0;
        for w in 1..=p.history_weeks {
            let from = start - w * WEEK;
            if from < hist_from || trips.iter().all(|t| t.expected >= from) {
                continue;
            }
            weeks += 1.0;
            let a = arrivals_in(&trips, d, from, n, now);
            for k in 0..n as usize {
                history[k] += a[k] * season(d, start + k as i64 * HOUR, from + k as i64 * HOUR);
            }
        }
        if weeks > 0.0 {
            history.iter_mut().for_each(|x| *x /= weeks);
        }
        let overrides: HashMap<i64, i64> =
            capacity::overrides(db, &gate.code, d, start, start + n * HOUR)
                .await?
                .into_iter()
                .map(|o| (o.0, o.1))
                .collect();
        let queue_now = trips
            .iter()
            .filter(|t| {
                t.direction == d && t.waiting_at(now) && t.arrived.is_some_and(|a| a > now - WEEK)
            })
            .count();
        let crossed_today = trips
            .iter()
            .filter(|t| {
                t.direction == d
                    && t.crossed
                        .is_some_and(|c| c <= now && slots::local_day(c) == slots::local_day(now))
            })
            .count() as f64;
        let mut q = queue_now as f64;
        let mut day = slots::local_day(start);
        let mut day_done = crossed_today;
        let mut hours = Vec::with_capacity(n as usize);
        for k in 0..n {
            let h = start + k * HOUR;
            if slots::local_day(h) != day {
                day = slots::local_day(h);
                day_done = 0.0;
            }
            let lead = h + HOUR / 2 - now;
            let a = declared[k as usize] + (1.0 - declared_ahead(lead)) * history[k as usize];
            let c = capacity::hour_capacity(gate, d, h, overrides.get(&h).copied());
            let room = (c as f64).min((cap.per_day as f64 - day_done).max(0.0));
            let x = room.min(mu * q);
            day_done += x;
            q = (q + a - x).max(0.0);
            total_arrivals[k as usize] += a;
            total_queue[k as usize] += q;
            hours.push(HourForecast {
                hour_start: h,
                local: slots::local_label(h),
                declared: declared[k as usize],
                history: history[k as usize],
                arrivals: a,
                capacity: c,
                queue: q,
            });
        }
        directions.push(DirectionForecast {
            direction: d,
            queue_now,
            hours,
        });
    }
    let limit = alert_capacity(gate);
    let mut alerts = Vec::new();
    let mut k = 0usize;
    while k < total_queue.len() {
        if total_queue[k] <= limit as f64 {
            k += 1;
            continue;
        }
        let first = k;
        while k < total_queue.len() && total_queue[k] > limit as f64 {
            k += 1;
        }
        let (from, to) = (start + first as i64 * HOUR, start + k as i64 * HOUR);
        let (peak_k, peak) = total_queue[first..k]
            .iter()
            .enumerate()
            .fold((0, 0.0), |m, (i, &q)| if q > m.1 { (i, q) } else { m });
        let mut enterprises = BTreeMap::new();
        for t in &trips {
            if t.created_at <= now && !t.arrived_by(now) && !t.cancelled {
                let hr = t.booked_hour.map_or(slots::floor_hour(t.expected), |b| b.0);
                if hr >= from && hr < to {
                    *enterprises.entry(t.mst.clone()).or_insert(0) += 1;
                }
            }
        }
        let staging = gate
            .yards
            .iter()
            .filter(|y| y.kind == "staging")
            .map(|y| y.name_vi.clone())
            .collect::<Vec<_>>()
            .join(", ");
        alerts.push(Alert {
            gate: gate.code.clone(),
            from,
            to,
            from_local: slots::local_label(from),
            to_local: slots::local_label(to),
            peak_queue: peak.round(),
            peak_at_local: slots::local_label(from + peak_k as i64 * HOUR),
            yard_capacity: limit,
            advice_vi: format!(
                "Dự báo {} xe chờ tại {} (sức chứa bãi {} xe) từ {} đến {}. Giữ xe tại các bãi chờ xa hơn{}; \
                 doanh nghiệp có chuyến trong khung giờ này nên dời lịch hoặc đặt khung giờ khác.",
                peak.round(),
                gate.name_vi,
                limit,
                slots::local_label(from),
                slots::local_label(to),
                if staging.is_empty() { String::new() } else { format!(" (ngoài {staging})") }
            ),
            advice_en: format!(
                "{} trucks forecast waiting at {} (yards hold {}) from {} to {}. Hold trucks at staging areas \
                 further back; enterprises with trips in these hours should reschedule or book other slots.",
                peak.round(),
                gate.name_en,
                limit,
                slots::local_label(from),
                slots::local_label(to)
            ),
            enterprises,
        });
    }
    Ok(GateForecast {
        gate: gate.code.clone(),
        name_vi: gate.name_vi.clone(),
        yard_capacity: limit,
        as_of: now,
        directions,
        total_arrivals,
        total_queue,
        alerts,
        show_rate,
        median_dwell_h,
    })
}

/// The forecast of every road gate (or one), as of `now` — the function the dashboard calls.
pub async fn forecast(
    db: &Db,
    gate: Option<&str>,
    now: i64,
    p: &Params,
) -> Result<Vec<GateForecast>, AppError> {
    let all = gates::list(db).await?;
    if let Some(code) = gate {
        if !all.iter().any(|g| g.code == code) {
            let mut errs = tinhso_kernel::FieldErrors::new();
            errs.push(
                "gate",
                Invalid::new(
                    "gate",
                    format!("Không có cửa khẩu {code}; chọn HN, TT, CM hoặc CN"),
                    format!("No gate {code}; choose HN, TT, CM or CN"),
                ),
            );
            errs.into_result()?;
        }
    }
    let mut out = Vec::new();
    for g in all
        .iter()
        .filter(|g| g.kind == "road" && gate.is_none_or(|c| c == g.code))
    {
        out.push(gate_forecast(db, g, now, p).await?);
    }
    Ok(out)
}

/// How long a stored forecast serves page views, within its hour: the server's forecast job
/// recomputes every few minutes (`serve`, [`announce`]).
pub const SNAPSHOT_FRESH: i64 = 10 * 60 * 1_000_000;

/// Compute every road gate's forecast as of `now` and keep each as its gate's latest snapshot
/// (ảnh chụp dự báo), for the pages that read [`current`].
pub async fn refresh(db: &Db, now: i64, p: &Params) -> Result<Vec<GateForecast>, AppError> {
    let out = forecast(db, None, now, p).await?;
    for f in &out {
        store_snapshot(db, f, p).await?;
    }
    Ok(out)
}

/// Keep `f` as its gate's snapshot unless a newer one is already there.
async fn store_snapshot(db: &Db, f: &GateForecast, p: &Params) -> Result<(), AppError> {
    let params = serde_json::to_string(p).map_err(AppError::internal)?;
    let body = serde_json::to_string(f).map_err(AppError::internal)?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO border_forecast_snapshots (gate_code, as_of, computed_at, params, body) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (gate_code) DO UPDATE SET as_of = excluded.as_of, \
           computed_at = excluded.computed_at, params = excluded.params, body = excluded.body \
         WHERE excluded.as_of >= border_forecast_snapshots.as_of",
    )
    .bind(&f.gate)
    .bind(f.as_of)
    .bind(tinhso_store::db::now_micros())
    .bind(&params)
    .bind(&body)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    tx.commit().await?;
    Ok(())
}

/// The forecast the pages show (the leaders' border page, the operations centre): each road
/// gate's snapshot when it was computed with the same settings, in the hour of `now`, at most
/// [`SNAPSHOT_FRESH`] before `now` and not after it; otherwise the gate's forecast is computed
/// now and kept. A page view then costs a read, not 72 hours recomputed from a month of trips.
pub async fn current(db: &Db, now: i64, p: &Params) -> Result<Vec<GateForecast>, AppError> {
    let params = serde_json::to_string(p).map_err(AppError::internal)?;
    let oldest = (now - SNAPSHOT_FRESH).max(slots::floor_hour(now) - 1);
    let rows = sqlx::query(
        "SELECT body FROM border_forecast_snapshots \
         WHERE as_of <= $1 AND as_of > $2 AND params = $3",
    )
    .bind(now)
    .bind(oldest)
    .bind(&params)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut kept: HashMap<String, GateForecast> = HashMap::new();
    for r in rows {
        let body: String = r.try_get(0).map_err(db_err)?;
        // A body this version cannot read is computed again, not an error for the page.
        if let Ok(f) = serde_json::from_str::<GateForecast>(&body) {
            kept.insert(f.gate.clone(), f);
        }
    }
    let mut out = Vec::new();
    for g in gates::list(db).await?.iter().filter(|g| g.kind == "road") {
        match kept.remove(&g.code) {
            Some(f) => out.push(f),
            None => {
                let f = gate_forecast(db, g, now, p).await?;
                store_snapshot(db, &f, p).await?;
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// Forecast (kept as the gates' snapshots, [`refresh`]), then announce each new alert window once: outbox `border.congestion_alert` (the
/// alert) and `border.advisory` (hold at staging areas further back; the enterprises whose
/// trips fall in the congested hours, for the notify module). A window that overlaps the last
/// one announced for the gate is the same alert (extended, not announced again). Returns the
/// alerts announced now.
pub async fn announce(db: &Db, ctx: &Ctx, now: i64, p: &Params) -> Result<Vec<Alert>, AppError> {
    let mut out = Vec::new();
    for f in refresh(db, now, p).await? {
        for a in f.alerts {
            let name = format!("congestion:{}", a.gate);
            let mut tx = db.begin_write().await?;
            let last: Option<i64> =
                sqlx::query("SELECT value FROM border_counters WHERE name = $1")
                    .bind(&name)
                    .fetch_optional(tx.conn())
                    .await
                    .map_err(db_err)?
                    .map(|r| r.try_get(0))
                    .transpose()
                    .map_err(db_err)?;
            let fresh = last.is_none_or(|end| a.from > end);
            sqlx::query(
                "INSERT INTO border_counters (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(&name)
            .bind(a.to.max(last.unwrap_or(0)))
            .execute(tx.conn())
            .await
            .map_err(db_err)?;
            if fresh {
                let body = serde_json::to_value(&a).map_err(AppError::internal)?;
                tx.emit("border.congestion_alert", &body).await?;
                tx.emit(
                    "border.advisory",
                    &serde_json::json!({"gate": a.gate, "from": a.from, "to": a.to,
                        "advice_vi": a.advice_vi, "advice_en": a.advice_en,
                        "enterprises": a.enterprises}),
                )
                .await?;
                tx.audit(&ctx.entry(
                    "border.congestion_alert",
                    "border_gate",
                    &a.gate,
                    &a.gate,
                    serde_json::json!({"from": a.from, "to": a.to, "peak_queue": a.peak_queue,
                        "yard_capacity": a.yard_capacity}),
                ))
                .await?;
                out.push(a);
            }
            tx.commit().await?;
        }
    }
    Ok(out)
}

/// Forecast errors of one gate over the horizon.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Accuracy {
    pub gate: String,
    pub hours: usize,
    pub arrivals_mae: f64,
    pub arrivals_rmse: f64,
    pub baseline_arrivals_mae: f64,
    pub baseline_arrivals_rmse: f64,
    pub queue_mae: f64,
    pub queue_rmse: f64,
    pub baseline_queue_mae: f64,
    pub baseline_queue_rmse: f64,
    /// Mean actual arrivals an hour and mean actual queue, for scale.
    pub mean_arrivals: f64,
    pub mean_queue: f64,
    /// Hour by hour: (forecast, baseline, actual) arrivals and queue.
    #[serde(skip)]
    pub arrivals: Vec<(f64, f64, f64)>,
    #[serde(skip)]
    pub queue: Vec<(f64, f64, f64)>,
}

fn errors(pred: &[f64], truth: &[f64]) -> (f64, f64) {
    let n = pred.len().min(truth.len()).max(1) as f64;
    let (mut a, mut s) = (0.0, 0.0);
    for (p, t) in pred.iter().zip(truth) {
        a += (p - t).abs();
        s += (p - t) * (p - t);
    }
    (a / n, (s / n).sqrt())
}

/// Forecast as of `at` and compare, per gate (all directions together), with what the
/// database shows happened after `at` (a simulation run past `at`), and with the seasonal naive
/// baseline (the same hour one week earlier).
pub async fn evaluate(db: &Db, at: i64, p: &Params) -> Result<Vec<Accuracy>, AppError> {
    let start = slots::floor_hour(at);
    let n = p.horizon_hours;
    let mut out = Vec::new();
    for f in forecast(db, None, at, p).await? {
        let trips = load_trips(db, &f.gate, start - 2 * WEEK).await?;
        let mut truth_a = vec![0.0; n as usize];
        let mut base_a = vec![0.0; n as usize];
        for d in Direction::ALL {
            for (k, x) in arrivals_in(&trips, d, start, n, i64::MAX)
                .iter()
                .enumerate()
            {
                truth_a[k] += x;
            }
            for (k, x) in arrivals_in(&trips, d, start - WEEK, n, at)
                .iter()
                .enumerate()
            {
                base_a[k] += x;
            }
        }
        let truth_q = queue_in(&trips, None, start, n, i64::MAX);
        let base_q = queue_in(&trips, None, start - WEEK, n, at);
        let (am, ar) = errors(&f.total_arrivals, &truth_a);
        let (bam, bar) = errors(&base_a, &truth_a);
        let (qm, qr) = errors(&f.total_queue, &truth_q);
        let (bqm, bqr) = errors(&base_q, &truth_q);
        out.push(Accuracy {
            gate: f.gate.clone(),
            hours: n as usize,
            arrivals_mae: am,
            arrivals_rmse: ar,
            baseline_arrivals_mae: bam,
            baseline_arrivals_rmse: bar,
            queue_mae: qm,
            queue_rmse: qr,
            baseline_queue_mae: bqm,
            baseline_queue_rmse: bqr,
            mean_arrivals: truth_a.iter().sum::<f64>() / n.max(1) as f64,
            mean_queue: truth_q.iter().sum::<f64>() / n.max(1) as f64,
            arrivals: (0..n as usize)
                .map(|k| (f.total_arrivals[k], base_a[k], truth_a[k]))
                .collect(),
            queue: (0..n as usize)
                .map(|k| (f.total_queue[k], base_q[k], truth_q[k]))
                .collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_mae_and_rmse() {
        let (mae, rmse) = errors(&[1.0, 2.0, 3.0], &[1.0, 4.0, 0.0]);
        assert!((mae - 5.0 / 3.0).abs() < 1e-12);
        assert!((rmse - (13.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    fn trip(arrived: Option<i64>, crossed: Option<i64>) -> TripRow {
        TripRow {
            id: "t".into(),
            direction: Direction::Export,
            mst: "0100109106".into(),
            created_at: 0,
            expected: 0,
            booked_hour: None,
            arrived,
            crossed,
            cancelled: false,
        }
    }

    #[test]
    fn arrivals_and_queue_are_counted_as_of() {
        let from = 1_000 * HOUR;
        let trips = vec![
            trip(Some(from + 10), Some(from + HOUR + 5)),
            trip(Some(from + HOUR + 1), None),
            trip(Some(from + 2 * HOUR + 1), Some(from + 2 * HOUR + 2)),
        ];
        assert_eq!(
            arrivals_in(&trips, Direction::Export, from, 3, i64::MAX),
            [1.0, 1.0, 1.0]
        );
        // As of the second hour, the third arrival is not known yet.
        assert_eq!(
            arrivals_in(&trips, Direction::Export, from, 3, from + 2 * HOUR),
            [1.0, 1.0, 0.0]
        );
        assert_eq!(queue_in(&trips, None, from, 3, i64::MAX), [1.0, 1.0, 1.0]);
        assert_eq!(
            arrivals_in(&trips, Direction::Import, from, 3, i64::MAX),
            [0.0, 0.0, 0.0]
        );
    }
}
