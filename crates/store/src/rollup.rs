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
use std::any::Any;
use std::collections::{HashMap, HashSet};
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
    /// What the view read once ([`once`]): configuration a page's parts all need.
    kept: Arc<Mutex<HashMap<&'static str, Kept>>>,
}

type Kept = Arc<dyn Any + Send + Sync>;

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

/// `read`'s value, read once per [`View`]: inside a view the first call under `key` reads and
/// keeps it and the later ones get a copy (the page is as fresh as its start, as for the
/// roll-ups); outside a view every call reads. For what several parts of one page read alike —
/// a module's configuration (the border gates: the queue, the forecast and the indicators of
/// one operations-centre screen read them once, not three times). A value of another type kept
/// under the same key is read again, not mistaken.
pub async fn once<T, E, F>(key: &'static str, read: F) -> Result<T, E>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Result<T, E>>,
{
    let view = VIEW.try_with(|v| v.clone()).ok();
    if let Some(v) = &view {
        let hit = v
            .kept
            .lock()
            .ok()
            .and_then(|k| k.get(key).cloned())
            .and_then(|a| a.downcast_ref::<T>().cloned());
        if let Some(value) = hit {
            return Ok(value);
        }
    }
    let value = read.await?;
    if let Some(v) = &view {
        if let Ok(mut k) = v.kept.lock() {
            k.insert(key, Arc::new(value.clone()));
        }
    }
    Ok(value)
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

/// The disjoint pieces (tranches) of a set of windows of local days that may overlap — a year,
/// its quarters, a month and a day — so that one pass over a roll-up feeds every window: the
/// roll-up is summed once per piece (each row read once, not once per window containing it),
/// then each window adds up its pieces ([`Segments::fold`]).
///
/// Pieces are the intervals between consecutive window bounds that lie inside at least one
/// window; a window is a run of consecutive pieces (`parts`). Empty windows (`lo ≥ hi`) have no
/// piece. Joined like [`windows_sql`]: `… FROM (segments.sql(1)) w JOIN t ON t.day >= w.lo AND
/// t.day < w.hi GROUP BY w.i, …`, binding [`Segments::bounds`] in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segments {
    /// Each piece `[lo, hi)`, in day order, disjoint.
    pub bounds: Vec<(i64, i64)>,
    /// For each window, in the order given, the pieces it is made of.
    pub parts: Vec<std::ops::Range<usize>>,
}

impl Segments {
    /// The pieces of `windows` (`[lo, hi)` each).
    pub fn of(windows: &[(i64, i64)]) -> Self {
        let mut cuts: Vec<i64> = windows
            .iter()
            .filter(|(lo, hi)| lo < hi)
            .flat_map(|&(lo, hi)| [lo, hi])
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let bounds: Vec<(i64, i64)> = cuts
            .windows(2)
            .map(|c| (c[0], c[1]))
            .filter(|&(a, b)| windows.iter().any(|&(lo, hi)| lo <= a && b <= hi))
            .collect();
        let parts = windows
            .iter()
            .map(|&(lo, hi)| {
                if lo >= hi {
                    return 0..0;
                }
                let first = bounds.partition_point(|&(a, _)| a < lo);
                let end = bounds.partition_point(|&(_, b)| b <= hi);
                first..end.max(first)
            })
            .collect();
        Segments { bounds, parts }
    }

    /// The derived table of the pieces, `(i, lo, hi)`, bounds numbered from `$first`
    /// ([`windows_sql`]).
    pub fn sql(&self, first: usize) -> String {
        windows_sql(self.bounds.len(), first)
    }

    /// Each window's total from its pieces' values (`per_piece[j]` for piece `j`): `add` adds a
    /// piece's value into a window's.
    pub fn fold<P, T: Default>(&self, per_piece: &[P], mut add: impl FnMut(&mut T, &P)) -> Vec<T> {
        self.parts
            .iter()
            .map(|r| {
                let mut total = T::default();
                for p in per_piece.get(r.clone()).unwrap_or_default() {
                    add(&mut total, p);
                }
                total
            })
            .collect()
    }
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
    fn overlapping_windows_become_disjoint_pieces() {
        // A year [0, 365), its quarters [0, 90) … [270, 365), a month [300, 331), a day
        // [330, 331), a window repeated, an empty one, and one apart [400, 410).
        let windows = [
            (0, 365),
            (0, 90),
            (90, 181),
            (181, 270),
            (270, 365),
            (300, 331),
            (330, 331),
            (0, 90),
            (5, 5),
            (400, 410),
        ];
        let s = Segments::of(&windows);
        assert_eq!(
            s.bounds,
            vec![
                (0, 90),
                (90, 181),
                (181, 270),
                (270, 300),
                (300, 330),
                (330, 331),
                (331, 365),
                (400, 410)
            ]
        );
        // Each window is exactly its pieces: same days, none counted twice.
        for (w, r) in windows.iter().zip(&s.parts) {
            let days: i64 = s.bounds[r.clone()].iter().map(|(a, b)| b - a).sum();
            assert_eq!(days, (w.1 - w.0).max(0), "{w:?}");
            if let (Some(first), Some(last)) = (s.bounds.get(r.start), r.end.checked_sub(1)) {
                assert_eq!((first.0, s.bounds[last].1), *w);
            }
        }
        assert_eq!(s.parts[8], 0..0);
        // Sums by hand: one count per day (day d counts d), added per piece, then per window.
        let per_piece: Vec<i64> = s.bounds.iter().map(|&(a, b)| (a..b).sum()).collect();
        let totals: Vec<i64> = s.fold(&per_piece, |t: &mut i64, p| *t += p);
        for (w, t) in windows.iter().zip(totals) {
            assert_eq!(t, (w.0..w.1).sum::<i64>(), "{w:?}");
        }
        assert_eq!(s.sql(3), windows_sql(8, 3));
        assert_eq!(Segments::of(&[]).bounds, vec![]);
    }

    #[tokio::test]
    async fn a_view_reads_once_what_its_parts_share() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let reads = AtomicUsize::new(0);
        let read = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(vec![1, 2, 3])
        };
        // Outside a view: every call reads.
        once("gates", read()).await.unwrap();
        once("gates", read()).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        let view = View::new();
        let got = view
            .run(async {
                let a = once("gates", read()).await.unwrap();
                let b = once("gates", read()).await.unwrap();
                // Another type under the key: read, not mistaken for the kept one.
                let c: Result<String, ()> = once("gates", async { Ok("x".to_string()) }).await;
                (a, b, c)
            })
            .await;
        assert_eq!(got, (vec![1, 2, 3], vec![1, 2, 3], Ok("x".to_string())));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
        // A new view reads again; an error is not kept.
        View::new()
            .run(async {
                assert_eq!(
                    once::<Vec<i32>, _, _>("gates", async { Err(()) }).await,
                    Err(())
                );
                once("gates", read()).await.unwrap();
            })
            .await;
        assert_eq!(reads.load(Ordering::SeqCst), 4);
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
