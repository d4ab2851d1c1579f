//! Daily roll-ups (tổng hợp theo ngày): per-day counts a module keeps beside its raw rows so
//! that a report over two years reads about 730 rows per scope instead of millions.
//!
//! The module owns a table of counts keyed by scope (an agency, a gate…) and local day, and
//! triggers on its source tables (in its migrations) that mark every (roll-up, scope, day) a
//! change touches in `rollup_marks`: `gen` goes up by one, in the same transaction as the
//! change, whoever wrote it. A refresh then:
//! 1. reads the marked days and their `gen` ([`pending`]);
//! 2. recomputes their counts from the raw rows (a read after step 1, so it sees at least every
//!    change that `gen` counts);
//! 3. in one write transaction, for each day it can [`claim`] (`done < gen read`: no refresh that
//!    read a later generation got there first), replaces the day's counts, and sets `done`.
//!
//! A change committed during the refresh raises `gen` again and leaves the day marked for the
//! next one; two refreshes racing cannot leave older counts over newer ones. Readers refresh
//! before they sum, so a report is never staler than its own start.
//!
//! A page that sums a roll-up many times (the operations centre: every provider, the map) runs
//! inside one [`View`] (một lượt xem): there the marks of each roll-up are read once, at its
//! first refresh, and the later refreshes of the same view find nothing to do — the page is
//! never staler than its own start, and pays one check per roll-up, not one per sum.

use crate::db::{Db, DbError, WriteTx};
use sqlx::Row;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static VIEW: View;
}

/// One page view (một lượt xem): the roll-ups it has brought up to date. Futures run through
/// [`View::run`] read each roll-up's marks ([`pending`]) at most once per view; outside a view
/// every refresh reads them. Clones share the same record.
#[derive(Clone, Default)]
pub struct View {
    checked: Arc<Mutex<HashSet<String>>>,
}

impl View {
    pub fn new() -> Self {
        Self::default()
    }

    /// Run `fut` as part of this view.
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        VIEW.scope(self.clone(), fut).await
    }

    /// True the first time `rollup` is asked for in this view (it is then recorded).
    fn first(&self, rollup: &str) -> bool {
        match self.checked.lock() {
            Ok(mut seen) => seen.insert(rollup.to_string()),
            // A poisoned record: check again rather than skip.
            Err(_) => true,
        }
    }

    /// The roll-ups this view has checked.
    pub fn checked(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .checked
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        out.sort();
        out
    }
}

/// Whether a refresh of `rollup` in the current task must read its marks: always outside a
/// [`View`], the first time only inside one.
fn must_check(rollup: &str) -> bool {
    VIEW.try_with(|v| v.first(rollup)).unwrap_or(true)
}

/// Local (UTC+7) day number since 1970-01-01 of a Unix-microsecond instant, as the triggers
/// compute it: `(micros + 25200000000) / 86400000000` (instants after 1970).
pub fn day_of(micros: i64) -> i64 {
    (micros + 25_200_000_000).div_euclid(86_400_000_000)
}

/// The SQL expression of [`day_of`] over a column.
pub fn day_sql(column: &str) -> String {
    format!("(({column} + 25200000000) / 86400000000)")
}

/// A day waiting for its counts: scope, day, the generation read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub scope: String,
    pub day: i64,
    pub gen: i64,
}

/// The marked days of `rollup`, by day then scope. Inside a [`View`] that has already read
/// them: none (the view's first refresh stored them).
pub async fn pending(db: &Db, rollup: &str) -> Result<Vec<Mark>, DbError> {
    if !must_check(rollup) {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT scope, day, gen FROM rollup_marks WHERE rollup = $1 AND gen > done \
         ORDER BY day, scope",
    )
    .bind(rollup)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Mark {
                scope: r.try_get(0)?,
                day: r.try_get(1)?,
                gen: r.try_get(2)?,
            })
        })
        .collect()
}

/// Take a day for this refresh: true when no refresh that read a later generation stored it
/// already. The caller then replaces the day's counts in the same transaction.
pub async fn claim(tx: &mut WriteTx, rollup: &str, mark: &Mark) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE rollup_marks SET done = $1 WHERE rollup = $2 AND scope = $3 AND day = $4 \
         AND done < $1",
    )
    .bind(mark.gen)
    .bind(rollup)
    .bind(&mark.scope)
    .bind(mark.day)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The marked days grouped into runs of nearby days (gaps of at most `max_gap` days), so one
/// grouped query recomputes each run: `(first day, last day, marks)`.
pub fn runs(marks: Vec<Mark>, max_gap: i64) -> Vec<(i64, i64, Vec<Mark>)> {
    let mut out: Vec<(i64, i64, Vec<Mark>)> = Vec::new();
    for m in marks {
        match out.last_mut() {
            Some((_, last, group)) if m.day - *last <= max_gap => {
                *last = (*last).max(m.day);
                group.push(m);
            }
            _ => out.push((m.day, m.day, vec![m])),
        }
    }
    out
}

/// A derived table of `n` windows of local days, `(i, lo, hi)`: window `i` (0, 1, …) is the days
/// `lo ≤ day < hi`, its two bounds bound as `$first + 2i` and `$first + 2i + 1` (BIGINT). Joined
/// to a roll-up (`… FROM (windows) w JOIN t ON t.day >= w.lo AND t.day < w.hi GROUP BY w.i, …`)
/// it sums every window of a screen in one statement, the same SQL on SQLite and PostgreSQL
/// (`UNION ALL` of one-row `SELECT`s: both name the columns alike, unlike a bare `VALUES`).
pub fn windows_sql(n: usize, first: usize) -> String {
    (0..n)
        .map(|i| {
            let (lo, hi) = (first + 2 * i, first + 2 * i + 1);
            format!(
                "SELECT CAST({i} AS BIGINT) AS i, CAST(${lo} AS BIGINT) AS lo, \
                 CAST(${hi} AS BIGINT) AS hi"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_number_their_bounds_in_order() {
        assert_eq!(windows_sql(0, 1), "");
        let two = windows_sql(2, 3);
        assert_eq!(
            two,
            "SELECT CAST(0 AS BIGINT) AS i, CAST($3 AS BIGINT) AS lo, CAST($4 AS BIGINT) AS hi \
             UNION ALL SELECT CAST(1 AS BIGINT) AS i, CAST($5 AS BIGINT) AS lo, \
             CAST($6 AS BIGINT) AS hi"
        );
    }

    #[test]
    fn local_days_turn_at_vietnam_midnight() {
        // 2026-01-01T00:00:00+07:00 = 2025-12-31T17:00:00Z.
        let midnight = 1_767_200_400_000_000;
        assert_eq!(day_of(midnight), 20454);
        assert_eq!(day_of(midnight - 1), 20453);
        assert_eq!(
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1).map(|d| d + chrono::Duration::days(20454)),
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        );
    }

    #[test]
    fn runs_split_at_gaps() {
        let m = |day| Mark {
            scope: "a".into(),
            day,
            gen: 1,
        };
        let r = runs(vec![m(1), m(2), m(5), m(30), m(31)], 7);
        let shape: Vec<(i64, i64, usize)> = r.iter().map(|(a, b, g)| (*a, *b, g.len())).collect();
        assert_eq!(shape, vec![(1, 5, 3), (30, 31, 2)]);
    }
}
