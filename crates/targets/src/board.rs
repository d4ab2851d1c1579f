//! The targets board: every target of every imported plan with its current value, where the
//! value comes from and whether the target is on track.
//!
//! **Current value.** Live indicators: the value over the Decree 09 *year* window that contains
//! today (e.g. on 29 Nov 2026: 15 Dec 2025 – 14 Dec 2026), for the whole province. Reported
//! indicators: the current version of the latest period the province reported (on a tie of
//! window ends, the longer period). [`board_for`] does the same for a chosen period: live
//! values over its window, reported periods ending by its end, status as of its last day.
//!
//! **Status rule** ([`status`]): a linear projection from the plan's base year to the target's
//! horizon. `progress` is the share of time elapsed from 1 January of the base year to
//! 31 December of the horizon year (0 to 1, 1 once the horizon is past). The expected value now
//! is `base + (target − base) × progress`, where `base` is the target's base value from the plan
//! file, or 0 when the plan gives none (for "at most" targets without a base, such as ranks,
//! there is nothing to project from: the expected value is the target itself). Then, with a
//! tolerance of 10 % of `|target − base|`:
//! - **on track** — the value is at or beyond the expected value (≥ for "at least", ≤ for
//!   "at most");
//! - **at risk** — it misses the expected value by at most the tolerance;
//! - **off track** — it misses by more;
//! - **no data** — there is no value yet.

use crate::engine::{Direction, Observation, OrgUnit, Registry, Source};
use crate::period::{Frequency, Period};
use crate::plan::{self, Target};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::HashMap;
use tinhso_kernel::AppError;
use tinhso_store::Db;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    OnTrack,
    AtRisk,
    OffTrack,
    NoData,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::OnTrack => "on_track",
            Status::AtRisk => "at_risk",
            Status::OffTrack => "off_track",
            Status::NoData => "no_data",
        }
    }

    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Status::OnTrack => ("Đúng tiến độ", "On track"),
            Status::AtRisk => ("Có nguy cơ chậm", "At risk"),
            Status::OffTrack => ("Chậm tiến độ", "Off track"),
            Status::NoData => ("Chưa có số liệu", "No data"),
        }
    }
}

/// Share of time elapsed from 1 January of `base_year` to 31 December of `horizon_year`.
pub fn progress(base_year: i32, horizon_year: i32, today: NaiveDate) -> f64 {
    let (Some(start), Some(end)) = (
        NaiveDate::from_ymd_opt(base_year, 1, 1),
        NaiveDate::from_ymd_opt(horizon_year, 12, 31),
    ) else {
        return 1.0;
    };
    let total = (end - start).num_days();
    if total <= 0 {
        return 1.0;
    }
    ((today - start).num_days() as f64 / total as f64).clamp(0.0, 1.0)
}

/// The value expected now under the linear projection.
pub fn expected(direction: Direction, base: Option<f64>, target: f64, progress: f64) -> f64 {
    match (direction, base) {
        (Direction::AtMost, None) => target,
        (_, b) => {
            let b = b.unwrap_or(0.0);
            b + (target - b) * progress
        }
    }
}

/// The status of a value against a target (see the module notes), and the expected value.
pub fn status(
    direction: Direction,
    base: Option<f64>,
    target: f64,
    value: Option<f64>,
    progress: f64,
) -> (Status, f64) {
    let exp = expected(direction, base, target, progress);
    let Some(v) = value else {
        return (Status::NoData, exp);
    };
    let tolerance = 0.1 * (target - base.unwrap_or(0.0)).abs();
    let shortfall = match direction {
        Direction::AtLeast => exp - v,
        Direction::AtMost => v - exp,
    };
    let s = if shortfall <= 1e-9 {
        Status::OnTrack
    } else if shortfall <= tolerance + 1e-9 {
        Status::AtRisk
    } else {
        Status::OffTrack
    };
    (s, exp)
}

/// Live indicators shown beside a reported one for context, never as its value: (reported
/// indicator, live indicator). The share of the population with an e-payment account cannot
/// be observed, but the share of fees paid online on the platform is a related signal.
pub const RELATED_LIVE: &[(&str, &str)] =
    &[("reported.soc.e-payment-accounts", "services.online_payment")];

/// One line of the board.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    #[serde(flatten)]
    pub target: Target,
    pub source: Source,
    /// The current value and how it was obtained; `null` when nothing is known yet.
    pub current: Option<Observation>,
    /// The expected value now (linear projection).
    pub expected: f64,
    pub progress: f64,
    pub status: Status,
    /// A related live indicator shown for context (see [`RELATED_LIVE`]); not the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Observation>,
}

/// Every target with its status, as of `today`, over the Decree 09 year window containing it.
pub async fn board(db: &Db, registry: &Registry, today: NaiveDate) -> Result<Vec<Line>, AppError> {
    board_for(
        db,
        registry,
        today,
        Period::containing(Frequency::Year, today),
    )
    .await
}

/// Every target with its status for a chosen period: live values over its window, reported
/// values of the latest period ending by its end, and the status as of its last day (or today,
/// if earlier).
pub async fn board_for(
    db: &Db,
    registry: &Registry,
    today: NaiveDate,
    period: Period,
) -> Result<Vec<Line>, AppError> {
    let window = period
        .window()
        .ok_or_else(|| AppError::internal(format!("period {period} has no window")))?;
    let today = today.min(window.last_day());
    let base_years: HashMap<String, i32> = plan::plans(db)
        .await?
        .into_iter()
        .map(|p| (p.code, p.base_year))
        .collect();
    let mut cache: HashMap<String, Option<Observation>> = HashMap::new();
    let mut out = Vec::new();
    for t in plan::targets(db).await? {
        let source = if t.indicator_key.starts_with("reported.") {
            Source::Reported
        } else {
            Source::Live
        };
        let current = match cache.get(&t.indicator_key) {
            Some(c) => c.clone(),
            None => {
                let c = match source {
                    Source::Live => {
                        registry
                            .observe(db, &t.indicator_key, period, &OrgUnit::Province)
                            .await?
                    }
                    Source::Reported => {
                        let pre = registry.province_reported(db).await?;
                        crate::reported::province_latest_observation(
                            db,
                            &pre,
                            &t.indicator_key,
                            Some(window.end),
                        )
                        .await?
                    }
                };
                cache.insert(t.indicator_key.clone(), c.clone());
                c
            }
        };
        let related = match RELATED_LIVE.iter().find(|(r, _)| *r == t.indicator_key) {
            Some((_, live)) => {
                registry
                    .observe(db, live, period, &OrgUnit::Province)
                    .await?
            }
            None => None,
        };
        let base_year = base_years
            .get(&t.plan_code)
            .copied()
            .unwrap_or(today.year());
        let p = progress(base_year, t.horizon_year, today);
        let (st, exp) = status(
            t.direction,
            t.base_value,
            t.target_value,
            current.as_ref().and_then(|c| c.value),
            p,
        );
        out.push(Line {
            target: t,
            source,
            current,
            expected: crate::engine::round1(exp),
            progress: (p * 1000.0).round() / 1000.0,
            status: st,
            related,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn progress_runs_from_the_base_year_to_the_horizon() {
        assert_eq!(progress(2021, 2025, d(2021, 1, 1)), 0.0);
        assert_eq!(progress(2021, 2025, d(2025, 12, 31)), 1.0);
        assert_eq!(progress(2021, 2025, d(2026, 11, 29)), 1.0);
        assert_eq!(progress(2021, 2025, d(2020, 6, 1)), 0.0);
        let mid = progress(2021, 2030, d(2026, 1, 1));
        assert!((mid - 0.5).abs() < 0.001, "{mid}");
    }

    #[test]
    fn at_least_targets() {
        use Status::*;
        // 2030 target 70 % from 0: half way, 35 % expected; tolerance 7 points.
        let s = |v| status(Direction::AtLeast, None, 70.0, v, 0.5);
        assert_eq!(s(Some(35.0)), (OnTrack, 35.0));
        assert_eq!(s(Some(50.0)).0, OnTrack);
        assert_eq!(s(Some(28.0)).0, AtRisk);
        assert_eq!(s(Some(27.9)).0, OffTrack);
        assert_eq!(s(None).0, NoData);
        // A base value moves the projection: from 40 to 80, half way = 60, tolerance 4.
        let s = |v| status(Direction::AtLeast, Some(40.0), 80.0, v, 0.5);
        assert_eq!(s(Some(60.0)), (OnTrack, 60.0));
        assert_eq!(s(Some(56.0)).0, AtRisk);
        assert_eq!(s(Some(55.0)).0, OffTrack);
        // Past the horizon the target itself is expected.
        assert_eq!(
            status(Direction::AtLeast, None, 100.0, Some(95.0), 1.0),
            (AtRisk, 100.0)
        );
        assert_eq!(
            status(Direction::AtLeast, None, 100.0, Some(100.0), 1.0).0,
            OnTrack
        );
    }

    #[test]
    fn at_most_targets() {
        use Status::*;
        // Among the top 10 (rank ≤ 10), no base: compared with 10, tolerance 1 rank.
        let s = |v| status(Direction::AtMost, None, 10.0, v, 0.3);
        assert_eq!(s(Some(4.0)), (OnTrack, 10.0));
        assert_eq!(s(Some(10.0)).0, OnTrack);
        assert_eq!(s(Some(11.0)).0, AtRisk);
        assert_eq!(s(Some(12.0)).0, OffTrack);
        // With a base rank of 16 in 2021, half way expects 13; tolerance 0.6.
        let s = |v| status(Direction::AtMost, Some(16.0), 10.0, v, 0.5);
        assert_eq!(s(Some(13.0)), (OnTrack, 13.0));
        assert_eq!(s(Some(13.5)).0, AtRisk);
        assert_eq!(s(Some(14.0)).0, OffTrack);
    }
}
