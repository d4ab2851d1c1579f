//! The border page of the leaders' dashboard (trang lãnh đạo — cửa khẩu): vehicles crossed per
//! gate, day and direction, trucks in each yard against its capacity, dwell time per stage
//! (p50/p90), fees collected per day, and today's counters. Computed live from the journey,
//! the yards and the fee payments; drawn as SVG by the page.

use crate::gates::{self, Direction};
use crate::journey::Stage;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use tinhso_kernel::AppError;
use tinhso_store::{Db, DbError};

const DAY: i64 = 86_400_000_000;
const VN: i64 = 7 * 3_600_000_000;

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// The local day number (days since 1970-01-01 in Vietnam time) of an instant.
pub fn local_day(t: i64) -> i64 {
    (t + VN).div_euclid(DAY)
}

fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%d/%m").to_string())
        .unwrap_or_default()
}

/// Trucks in one yard now.
#[derive(Debug, Clone, Serialize)]
pub struct YardLoad {
    pub gate: String,
    pub gate_name: String,
    pub yard: String,
    pub name: String,
    /// `staging` or `yard`.
    pub kind: String,
    pub capacity: i64,
    pub trucks: i64,
}

/// Time spent between two stages of the journey, over trips crossed in the window.
#[derive(Debug, Clone, Serialize)]
pub struct Dwell {
    /// `staging→yard`, …, `arrival→crossed`.
    pub segment: String,
    pub label_vi: String,
    pub trips: usize,
    pub p50_minutes: f64,
    pub p90_minutes: f64,
}

/// Everything the border dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub as_of: i64,
    /// Local day labels `dd/mm`, oldest first.
    pub days: Vec<String>,
    /// (gate, direction) → vehicles crossed per day (aligned with `days`).
    pub crossings: BTreeMap<String, BTreeMap<String, Vec<i64>>>,
    pub yards: Vec<YardLoad>,
    pub dwell: Vec<Dwell>,
    /// Fees received per day net of the refunds paid back that day (VND, aligned with `days`)
    /// and the collector's share.
    pub fees_per_day: Vec<i64>,
    pub collector_per_day: Vec<i64>,
    pub crossed_today: i64,
    pub at_border_now: i64,
    pub declared_for_today: i64,
    pub review_open: i64,
}

/// The `p` quantile of sorted values, interpolated linearly between the nearest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => {
            let pos = (n as f64 - 1.0) * p.clamp(0.0, 1.0);
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            sorted[lo] + (sorted[hi.min(n - 1)] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// The dashboard at `now` over the last `days` local days (today included).
pub async fn compute(db: &Db, now: i64, days: i64) -> Result<Dashboard, AppError> {
    let days = days.clamp(1, 92);
    let today = local_day(now);
    let first = today - days + 1;
    let since = first * DAY - VN;
    let gates = gates::list(db).await?;
    let mut conn = db.read_conn().await?;

    // Crossings per gate, direction and day.
    let rows = sqlx::query(
        "SELECT t.gate_code, t.direction, s.at FROM border_trip_stages s \
         JOIN border_trips t ON t.id = s.trip_id WHERE s.stage = 'crossed' AND s.at >= $1",
    )
    .bind(since)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut crossings: BTreeMap<String, BTreeMap<String, Vec<i64>>> = BTreeMap::new();
    for g in &gates {
        let per = crossings.entry(g.code.clone()).or_default();
        for c in &g.capacity {
            per.insert(c.direction.as_str().to_string(), vec![0; days as usize]);
        }
    }
    let mut crossed_today = 0;
    for r in rows {
        let gate: String = r.try_get(0).map_err(db_err)?;
        let dir: String = r.try_get(1).map_err(db_err)?;
        let at: i64 = r.try_get(2).map_err(db_err)?;
        let d = local_day(at) - first;
        if (0..days).contains(&d) {
            let v = crossings
                .entry(gate)
                .or_default()
                .entry(dir)
                .or_insert_with(|| vec![0; days as usize]);
            v[d as usize] += 1;
            if d == days - 1 {
                crossed_today += 1;
            }
        }
    }

    // Trucks in each yard now: staging yards hold trucks at `staging`, inspection yards those
    // at `yard`, `checked` or `paid`.
    let counts = sqlx::query(
        "SELECT gate_code, stage, COUNT(*) FROM border_trips \
         WHERE stage IN ('staging', 'yard', 'checked', 'paid') GROUP BY gate_code, stage",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut by_gate: HashMap<(String, &'static str), i64> = HashMap::new();
    let mut at_border_now = 0;
    for r in counts {
        let gate: String = r.try_get(0).map_err(db_err)?;
        let stage: String = r.try_get(1).map_err(db_err)?;
        let n: i64 = r.try_get(2).map_err(db_err)?;
        at_border_now += n;
        let kind = if stage == "staging" {
            "staging"
        } else {
            "yard"
        };
        *by_gate.entry((gate, kind)).or_default() += n;
    }
    let mut yards = Vec::new();
    for g in &gates {
        for kind in ["staging", "yard"] {
            let of_kind: Vec<_> = g.yards.iter().filter(|y| y.kind == kind).collect();
            let total = by_gate.get(&(g.code.clone(), kind)).copied().unwrap_or(0);
            let cap_sum: i64 = of_kind.iter().map(|y| y.capacity).sum::<i64>().max(1);
            // Trucks are spread over the yards of a kind in proportion to their capacity.
            let mut left = total;
            for (i, y) in of_kind.iter().enumerate() {
                let n = if i + 1 == of_kind.len() {
                    left
                } else {
                    total * y.capacity / cap_sum
                };
                left -= n;
                yards.push(YardLoad {
                    gate: g.code.clone(),
                    gate_name: g.name_vi.clone(),
                    yard: y.code.clone(),
                    name: y.name_vi.clone(),
                    kind: kind.to_string(),
                    capacity: y.capacity,
                    trucks: n,
                });
            }
        }
    }

    // Dwell times over trips crossed in the window.
    let stage_rows = sqlx::query(
        "SELECT s.trip_id, s.stage, s.at FROM border_trip_stages s WHERE s.trip_id IN \
         (SELECT trip_id FROM border_trip_stages WHERE stage = 'crossed' AND at >= $1)",
    )
    .bind(since)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut per_trip: HashMap<String, HashMap<String, i64>> = HashMap::new();
    for r in stage_rows {
        let id: String = r.try_get(0).map_err(db_err)?;
        let stage: String = r.try_get(1).map_err(db_err)?;
        let at: i64 = r.try_get(2).map_err(db_err)?;
        per_trip.entry(id).or_default().insert(stage, at);
    }
    let segments: [(&str, &str, &str, &str); 5] = [
        ("staging→yard", "Bãi chờ → bãi kiểm hoá", "staging", "yard"),
        ("yard→checked", "Vào bãi → kiểm tra xong", "yard", "checked"),
        ("checked→paid", "Kiểm tra xong → nộp phí", "checked", "paid"),
        ("paid→crossed", "Nộp phí → qua cửa khẩu", "paid", "crossed"),
        (
            "arrival→crossed",
            "Đến → qua cửa khẩu (tổng)",
            "arrival",
            "crossed",
        ),
    ];
    let mut dwell = Vec::new();
    for (key, label, from, to) in segments {
        let mut mins: Vec<f64> = per_trip
            .values()
            .filter_map(|st| {
                let a = if from == "arrival" {
                    [Stage::Staging, Stage::Yard]
                        .iter()
                        .filter_map(|s| st.get(s.as_str()).copied())
                        .min()?
                } else {
                    *st.get(from)?
                };
                let b = *st.get(to)?;
                (b >= a).then(|| (b - a) as f64 / 60e6)
            })
            .collect();
        mins.sort_by(|a, b| a.total_cmp(b));
        dwell.push(Dwell {
            segment: key.to_string(),
            label_vi: label.to_string(),
            trips: mins.len(),
            p50_minutes: percentile(&mins, 0.5),
            p90_minutes: percentile(&mins, 0.9),
        });
    }

    // Fees received per day.
    let fee_rows = sqlx::query(
        "SELECT paid_at, amount_vnd, collector_vnd FROM border_fee_payments \
         WHERE status = 'paid' AND paid_at >= $1",
    )
    .bind(since)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut fees_per_day = vec![0; days as usize];
    let mut collector_per_day = vec![0; days as usize];
    // Net of the refunds paid back that day (hoàn phí): given back as negative rows.
    let refund_rows = sqlx::query(
        "SELECT paid_at, -amount_vnd, -collector_vnd FROM border_fee_refunds \
         WHERE status = 'paid' AND paid_at >= $1",
    )
    .bind(since)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in fee_rows.into_iter().chain(refund_rows) {
        let at: i64 = r.try_get(0).map_err(db_err)?;
        let d = local_day(at) - first;
        if (0..days).contains(&d) {
            fees_per_day[d as usize] += r.try_get::<i64, _>(1).map_err(db_err)?;
            collector_per_day[d as usize] += r.try_get::<i64, _>(2).map_err(db_err)?;
        }
    }

    let declared_for_today: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM border_trips WHERE expected_arrival >= $1 AND expected_arrival < $2 \
         AND stage <> 'cancelled'",
    )
    .bind(today * DAY - VN)
    .bind((today + 1) * DAY - VN)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    let review_open: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM border_review_queue WHERE status = 'open'")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
    Ok(Dashboard {
        as_of: now,
        days: (first..=today).map(day_label).collect(),
        crossings,
        yards,
        dwell,
        fees_per_day,
        collector_per_day,
        crossed_today,
        at_border_now,
        declared_for_today,
        review_open,
    })
}

/// The colour of a direction in the charts.
pub fn direction_colour(d: Direction) -> &'static str {
    match d {
        Direction::Export => "#1d4ed8",
        Direction::Import => "#b45309",
        Direction::Transit => "#047857",
        Direction::Transshipment => "#7c3aed",
    }
}
