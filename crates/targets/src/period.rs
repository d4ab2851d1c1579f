//! Reporting periods and their cut-off windows (thời gian chốt số liệu) under Decree
//! 09/2019/NĐ-CP, art. 12 — pure functions, no I/O.
//!
//! | period | key | window (first day – last day, both included) |
//! |---|---|---|
//! | day | `2026-01-31` | that day |
//! | month | `2026-01` | 15th of the previous month – 14th of the month (January 2026: 15 Dec 2025 – 14 Jan 2026) |
//! | quarter | `2026-Q1` | 15th of the month before the quarter – 14th of its last month (Q1 2026: 15 Dec 2025 – 14 Mar 2026) |
//! | 6 months | `2026-6M` | 15 Dec of the previous year – 14 Jun |
//! | 9 months | `2026-9M` | 15 Dec of the previous year – 14 Sep |
//! | year | `2026` | 15 Dec of the previous year – 14 Dec |
//!
//! Source: Decree 09/2019/NĐ-CP on the reporting regimes of state administrative agencies,
//! art. 12 (thời gian chốt số liệu báo cáo định kỳ), as summarised in the project's domain
//! notes. Windows are kept as `[start, end)` with `end` excluded (the day after the last day),
//! which is what [`tinhso_services::indicators::report`] takes.
//!
//! To check against the decree's text: the 9-month window comes from the domain notes, and
//! the decree may also define a window for the last six months (15 June – 14 December), which
//! is not modelled here.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How often a figure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Day,
    Month,
    Quarter,
    SixMonths,
    NineMonths,
    Year,
}

impl Frequency {
    pub const ALL: &'static [Frequency] = &[
        Frequency::Day,
        Frequency::Month,
        Frequency::Quarter,
        Frequency::SixMonths,
        Frequency::NineMonths,
        Frequency::Year,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Day => "day",
            Frequency::Month => "month",
            Frequency::Quarter => "quarter",
            Frequency::SixMonths => "six_months",
            Frequency::NineMonths => "nine_months",
            Frequency::Year => "year",
        }
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Frequency::Day => "ngày",
            Frequency::Month => "tháng",
            Frequency::Quarter => "quý",
            Frequency::SixMonths => "6 tháng",
            Frequency::NineMonths => "9 tháng",
            Frequency::Year => "năm",
        }
    }
}

/// One reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Day(NaiveDate),
    Month { year: i32, month: u32 },
    Quarter { year: i32, quarter: u32 },
    SixMonths { year: i32 },
    NineMonths { year: i32 },
    Year { year: i32 },
}

/// A cut-off window: `start` included, `end` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Window {
    /// The last day included.
    pub fn last_day(&self) -> NaiveDate {
        self.end.pred_opt().unwrap_or(self.end)
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        self.start <= d && d < self.end
    }

    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }
}

/// The 15th of `month` of `year` (month may be 0 = December of the year before, or 13).
fn fifteenth(year: i32, month: i64) -> Option<NaiveDate> {
    let m0 = i64::from(year) * 12 + (month - 1);
    let y = i32::try_from(m0.div_euclid(12)).ok()?;
    let m = u32::try_from(m0.rem_euclid(12) + 1).ok()?;
    NaiveDate::from_ymd_opt(y, m, 15)
}

impl Period {
    pub fn frequency(&self) -> Frequency {
        match self {
            Period::Day(_) => Frequency::Day,
            Period::Month { .. } => Frequency::Month,
            Period::Quarter { .. } => Frequency::Quarter,
            Period::SixMonths { .. } => Frequency::SixMonths,
            Period::NineMonths { .. } => Frequency::NineMonths,
            Period::Year { .. } => Frequency::Year,
        }
    }

    /// The cut-off window, or `None` outside chrono's calendar.
    pub fn window(&self) -> Option<Window> {
        let (start, end) = match *self {
            Period::Day(d) => (d, d.succ_opt()?),
            Period::Month { year, month } => (
                fifteenth(year, i64::from(month) - 1)?,
                fifteenth(year, i64::from(month))?,
            ),
            Period::Quarter { year, quarter } => {
                let last = i64::from(quarter) * 3;
                (fifteenth(year, last - 3)?, fifteenth(year, last)?)
            }
            Period::SixMonths { year } => (fifteenth(year, 0)?, fifteenth(year, 6)?),
            Period::NineMonths { year } => (fifteenth(year, 0)?, fifteenth(year, 9)?),
            Period::Year { year } => (fifteenth(year, 0)?, fifteenth(year, 12)?),
        };
        Some(Window { start, end })
    }

    /// The period of `freq` whose window contains `d`. Six- and nine-month reports cover the
    /// start of the report year only: a day after their cut-off belongs to next year's.
    pub fn containing(freq: Frequency, d: NaiveDate) -> Period {
        // The report month of `d`: from the 15th on, the next month's report.
        let (y, m) = if d.day() >= 15 {
            if d.month() == 12 {
                (d.year() + 1, 1)
            } else {
                (d.year(), d.month() + 1)
            }
        } else {
            (d.year(), d.month())
        };
        match freq {
            Frequency::Day => Period::Day(d),
            Frequency::Month => Period::Month { year: y, month: m },
            Frequency::Quarter => Period::Quarter {
                year: y,
                quarter: (m - 1) / 3 + 1,
            },
            Frequency::SixMonths if m <= 6 => Period::SixMonths { year: y },
            Frequency::SixMonths => Period::SixMonths { year: y + 1 },
            Frequency::NineMonths if m <= 9 => Period::NineMonths { year: y },
            Frequency::NineMonths => Period::NineMonths { year: y + 1 },
            Frequency::Year => Period::Year { year: y },
        }
    }

    /// The report year (the year of the window's end).
    pub fn year(&self) -> i32 {
        match *self {
            Period::Day(d) => d.year(),
            Period::Month { year, .. }
            | Period::Quarter { year, .. }
            | Period::SixMonths { year }
            | Period::NineMonths { year }
            | Period::Year { year } => year,
        }
    }

    /// Parse a key: `2026-01-31`, `2026-01`, `2026-Q1`, `2026-6M`, `2026-9M`, `2026`.
    pub fn parse(s: &str) -> Option<Period> {
        let s = s.trim();
        let year = |t: &str| -> Option<i32> {
            (t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse().ok())
                .flatten()
                .filter(|y| (1900..=9998).contains(y))
        };
        let p = match s.split('-').collect::<Vec<_>>().as_slice() {
            [y] => Period::Year { year: year(y)? },
            [y, "6M"] => Period::SixMonths { year: year(y)? },
            [y, "9M"] => Period::NineMonths { year: year(y)? },
            [y, q] if q.len() == 2 && q.starts_with('Q') => {
                let quarter: u32 = q[1..].parse().ok()?;
                if !(1..=4).contains(&quarter) {
                    return None;
                }
                Period::Quarter {
                    year: year(y)?,
                    quarter,
                }
            }
            [y, m] if m.len() == 2 && m.bytes().all(|b| b.is_ascii_digit()) => {
                let month: u32 = m.parse().ok()?;
                if !(1..=12).contains(&month) {
                    return None;
                }
                Period::Month {
                    year: year(y)?,
                    month,
                }
            }
            [y, _, _] if s.len() == 10 => {
                year(y)?;
                Period::Day(NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?)
            }
            _ => return None,
        };
        p.window().map(|_| p)
    }

    /// A name for pages, in Vietnamese and English.
    pub fn label(&self) -> (String, String) {
        match *self {
            Period::Day(d) => (
                format!("ngày {}", d.format("%d/%m/%Y")),
                d.format("%Y-%m-%d").to_string(),
            ),
            Period::Month { year, month } => (
                format!("tháng {month:02}/{year}"),
                format!("month {month:02}/{year}"),
            ),
            Period::Quarter { year, quarter } => (
                format!("quý {quarter}/{year}"),
                format!("quarter {quarter} of {year}"),
            ),
            Period::SixMonths { year } => {
                (format!("6 tháng năm {year}"), format!("6 months of {year}"))
            }
            Period::NineMonths { year } => {
                (format!("9 tháng năm {year}"), format!("9 months of {year}"))
            }
            Period::Year { year } => (format!("năm {year}"), format!("year {year}")),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year:04}-Q{quarter}"),
            Period::SixMonths { year } => write!(f, "{year:04}-6M"),
            Period::NineMonths { year } => write!(f, "{year:04}-9M"),
            Period::Year { year } => write!(f, "{year:04}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn w(p: Period) -> (NaiveDate, NaiveDate) {
        let w = p.window().unwrap();
        (w.start, w.last_day())
    }

    #[test]
    fn month_runs_from_the_15th_to_the_14th_across_the_year_boundary() {
        let jan = Period::Month {
            year: 2026,
            month: 1,
        };
        assert_eq!(w(jan), (d(2025, 12, 15), d(2026, 1, 14)));
        assert_eq!(jan.window().unwrap().end, d(2026, 1, 15));
        let dec = Period::Month {
            year: 2025,
            month: 12,
        };
        assert_eq!(w(dec), (d(2025, 11, 15), d(2025, 12, 14)));
        let mar = Period::Month {
            year: 2024,
            month: 3,
        };
        // Leap February inside.
        assert_eq!(w(mar), (d(2024, 2, 15), d(2024, 3, 14)));
        assert_eq!(mar.window().unwrap().days(), 29);
        assert_eq!(
            Period::Month {
                year: 2025,
                month: 3
            }
            .window()
            .unwrap()
            .days(),
            28
        );
    }

    #[test]
    fn months_tile_the_calendar() {
        // Every month ends where the next begins, for 30 years.
        let mut p = Period::Month {
            year: 2020,
            month: 1,
        };
        for _ in 0..360 {
            let next = match p {
                Period::Month { year, month: 12 } => Period::Month {
                    year: year + 1,
                    month: 1,
                },
                Period::Month { year, month } => Period::Month {
                    year,
                    month: month + 1,
                },
                _ => unreachable!(),
            };
            assert_eq!(p.window().unwrap().end, next.window().unwrap().start, "{p}");
            p = next;
        }
    }

    #[test]
    fn quarters() {
        let q = |quarter| Period::Quarter {
            year: 2026,
            quarter,
        };
        assert_eq!(w(q(1)), (d(2025, 12, 15), d(2026, 3, 14)));
        assert_eq!(w(q(2)), (d(2026, 3, 15), d(2026, 6, 14)));
        assert_eq!(w(q(3)), (d(2026, 6, 15), d(2026, 9, 14)));
        assert_eq!(w(q(4)), (d(2026, 9, 15), d(2026, 12, 14)));
        assert_eq!(
            q(4).window().unwrap().end,
            q(1).window().unwrap().start + chrono::Days::new(365)
        );
    }

    #[test]
    fn six_nine_months_and_year() {
        assert_eq!(
            w(Period::SixMonths { year: 2026 }),
            (d(2025, 12, 15), d(2026, 6, 14))
        );
        assert_eq!(
            w(Period::NineMonths { year: 2026 }),
            (d(2025, 12, 15), d(2026, 9, 14))
        );
        assert_eq!(
            w(Period::Year { year: 2026 }),
            (d(2025, 12, 15), d(2026, 12, 14))
        );
        // A leap year's window holds 366 days when it contains 29 February.
        assert_eq!(Period::Year { year: 2024 }.window().unwrap().days(), 366);
        assert_eq!(Period::Year { year: 2025 }.window().unwrap().days(), 365);
    }

    #[test]
    fn day_is_itself() {
        let p = Period::Day(d(2025, 12, 31));
        assert_eq!(w(p), (d(2025, 12, 31), d(2025, 12, 31)));
        assert_eq!(p.window().unwrap().end, d(2026, 1, 1));
    }

    #[test]
    fn containing_respects_the_cut_off() {
        use Frequency::*;
        let cases = [
            // (day, frequency, period key)
            (d(2025, 12, 14), Month, "2025-12"),
            (d(2025, 12, 15), Month, "2026-01"),
            (d(2025, 12, 31), Month, "2026-01"),
            (d(2026, 1, 1), Month, "2026-01"),
            (d(2026, 1, 14), Month, "2026-01"),
            (d(2026, 1, 15), Month, "2026-02"),
            (d(2025, 12, 15), Quarter, "2026-Q1"),
            (d(2026, 3, 14), Quarter, "2026-Q1"),
            (d(2026, 3, 15), Quarter, "2026-Q2"),
            (d(2026, 12, 14), Quarter, "2026-Q4"),
            (d(2026, 12, 15), Quarter, "2027-Q1"),
            (d(2025, 12, 15), SixMonths, "2026-6M"),
            (d(2026, 6, 14), SixMonths, "2026-6M"),
            (d(2026, 6, 15), SixMonths, "2027-6M"),
            (d(2026, 9, 14), NineMonths, "2026-9M"),
            (d(2026, 9, 15), NineMonths, "2027-9M"),
            (d(2025, 12, 14), Year, "2025"),
            (d(2025, 12, 15), Year, "2026"),
            (d(2026, 11, 29), Year, "2026"),
            (d(2026, 12, 31), Year, "2027"),
            (d(2026, 2, 28), Day, "2026-02-28"),
        ];
        for (day, f, key) in cases {
            let p = Period::containing(f, day);
            assert_eq!(p.to_string(), key, "{day} {f:?}");
            // Six and nine months: a day after the cut-off waits for next year's report.
            let w = p.window().unwrap();
            assert!(w.contains(day) || day < w.start, "{day} in {p}");
        }
        assert!(Period::containing(SixMonths, d(2026, 6, 14))
            .window()
            .unwrap()
            .contains(d(2026, 6, 14)));
    }

    #[test]
    fn containing_is_consistent_with_windows_every_day() {
        let mut day = d(2023, 1, 1);
        while day < d(2027, 1, 1) {
            for f in Frequency::ALL {
                let p = Period::containing(*f, day);
                let win = p.window().unwrap();
                match f {
                    // Six and nine months leave the rest of the year out.
                    Frequency::SixMonths | Frequency::NineMonths => {
                        assert!(win.contains(day) || day < win.start, "{day} {p}")
                    }
                    _ => assert!(win.contains(day), "{day} {p}"),
                }
                assert_eq!(p.frequency(), *f);
            }
            day = day.succ_opt().unwrap();
        }
    }

    #[test]
    fn keys_round_trip_and_bad_keys_are_refused() {
        for key in [
            "2026",
            "2026-6M",
            "2026-9M",
            "2026-Q1",
            "2026-Q4",
            "2026-01",
            "2026-12",
            "2024-02-29",
        ] {
            assert_eq!(Period::parse(key).unwrap().to_string(), key);
        }
        for bad in [
            "",
            "26",
            "2026-13",
            "2026-00",
            "2026-Q5",
            "2026-Q0",
            "2026-5M",
            "2025-02-29",
            "2026-1",
            "abcd",
            "2026-01-1",
            "2026-H1",
        ] {
            assert_eq!(Period::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Period::parse(" 2026-Q2 ").unwrap().year(), 2026);
    }

    #[test]
    fn labels_name_the_period() {
        assert_eq!(Period::parse("2026-Q1").unwrap().label().0, "quý 1/2026");
        assert_eq!(Period::parse("2026-01").unwrap().label().1, "month 01/2026");
    }
}
