//! Working-day calendar (lịch ngày làm việc): public holidays, compensatory days off and
//! deadlines counted in working days or office hours.
//!
//! # Rules
//!
//! - Weekly rest days (ngày nghỉ hằng tuần): Saturday and Sunday, as for state agencies.
//! - Public holidays (ngày nghỉ lễ, tết) of Labour Code 2019, art. 112(1): Tết Dương lịch
//!   (1/1); Tết Âm lịch, 5 days, modelled by default as the last day of the lunar year and
//!   lunar 1/1–4/1 (the Prime Minister fixes the actual days each year); Giỗ Tổ Hùng Vương
//!   (10/3 lunar); 30/4; 1/5; Quốc khánh 2/9 plus one adjacent day — 1/9 by default (the
//!   government chooses 1/9 or 3/9 each year; the second day exists since 2021, the Labour Code
//!   2012 had 2/9 only).
//! - Compensatory days (nghỉ bù), art. 111(3): a holiday falling on a weekly rest day is given
//!   back on the next working day. This applies to every holiday of art. 112(1), Tết included;
//!   a holiday coinciding with another holiday is compensated the same way.
//! - Overrides ([`DayOverride`]): days the government swaps or adds in a given year (hoán đổi
//!   ngày làm việc, e.g. a Friday off made up on a Saturday), entered by administrators.
//!   An override always wins over the rules above.
//!
//! Holiday rules are dated data (`RULES` in this module): when the law changes, add a rule
//! with the year it takes effect. Example: the planned "Ngày Văn hóa Việt Nam" (24/11) —
//! Politburo Resolution 80-NQ/TW and Government Resolution 30/NQ-CP (2026) direct amending
//! art. 112 to make it a paid holiday, but no amendment was enacted when this was written.
//! Until it is, such a day can be entered as an override.
//!
//! Years before 2013 (Labour Code 2012) are computed with the same rules and are approximate.

use crate::lunar::{lunar_to_solar, LunarDate};
use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, RwLock};

/// Loại ngày nghỉ (kind of day off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidayKind {
    /// Ngày nghỉ lễ, tết theo luật (statutory public holiday).
    Statutory,
    /// Ngày nghỉ bù (compensatory day for a holiday on a weekly rest day).
    Compensatory,
    /// Ngày nghỉ do cơ quan có thẩm quyền quyết định (day off set by an override).
    Override,
}

/// Ngày nghỉ (a day off other than an ordinary weekend day).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Holiday {
    /// Ngày (local date).
    pub date: NaiveDate,
    /// Tên tiếng Việt.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Loại ngày nghỉ.
    pub kind: HolidayKind,
}

/// Điều chỉnh ngày (per-date override decided by the government or the province).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DayOverride {
    /// Ngày nghỉ (a day off, e.g. a swapped working day or a holiday not in the rules).
    DayOff {
        /// Tên ngày nghỉ (Vietnamese name shown to users).
        name_vi: String,
        /// English name.
        name_en: String,
    },
    /// Ngày làm việc (a working day, e.g. a Saturday worked to make up a swapped day, or the
    /// default 1/9 when the government chose 3/9).
    WorkingDay {
        /// Lý do (reason, e.g. "Làm bù cho ngày 2/1/2026").
        reason_vi: String,
    },
}

/// When a statutory holiday falls in a given year.
#[derive(Debug, Clone, Copy)]
enum When {
    /// A solar date (month, day).
    Solar(u32, u32),
    /// A lunar date (month, day) of the lunar year numbered as the solar year, shifted by a
    /// number of days (−1 = the day before).
    Lunar(u8, u8, i8),
}

/// One statutory holiday rule, in force for `from..=until` (inclusive years).
#[derive(Debug, Clone, Copy)]
struct Rule {
    from: i32,
    until: i32,
    when: When,
    name_vi: &'static str,
    name_en: &'static str,
}

const ALWAYS: i32 = i32::MIN;
const ONWARDS: i32 = i32::MAX;

/// Ngày nghỉ lễ, tết theo Điều 112 Bộ luật Lao động 2019 (statutory holiday rules).
static RULES: [Rule; 11] = [
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Solar(1, 1),
        name_vi: "Tết Dương lịch",
        name_en: "New Year's Day",
    },
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Lunar(1, 1, -1),
        name_vi: "Tết Nguyên đán (ngày cuối năm Âm lịch)",
        name_en: "Lunar New Year (last day of the lunar year)",
    },
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Lunar(1, 1, 0),
        name_vi: "Tết Nguyên đán (mùng 1)",
        name_en: "Lunar New Year (1st day)",
    },
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Lunar(1, 1, 1),
        name_vi: "Tết Nguyên đán (mùng 2)",
        name_en: "Lunar New Year (2nd day)",
    },
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Lunar(1, 1, 2),
        name_vi: "Tết Nguyên đán (mùng 3)",
        name_en: "Lunar New Year (3rd day)",
    },
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Lunar(1, 1, 3),
        name_vi: "Tết Nguyên đán (mùng 4)",
        name_en: "Lunar New Year (4th day)",
    },
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Lunar(3, 10, 0),
        name_vi: "Giỗ Tổ Hùng Vương (10/3 Âm lịch)",
        name_en: "Hùng Kings' Commemoration Day",
    },
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Solar(4, 30),
        name_vi: "Ngày Chiến thắng (30/4)",
        name_en: "Reunification Day (30 April)",
    },
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Solar(5, 1),
        name_vi: "Ngày Quốc tế Lao động (1/5)",
        name_en: "International Labour Day (1 May)",
    },
    Rule {
        from: 2021,
        until: ONWARDS,
        when: When::Solar(9, 1),
        name_vi: "Quốc khánh (ngày liền kề 1/9)",
        name_en: "National Day (adjacent day, 1 September)",
    },
    Rule {
        from: ALWAYS,
        until: ONWARDS,
        when: When::Solar(9, 2),
        name_vi: "Quốc khánh (2/9)",
        name_en: "National Day (2 September)",
    },
];

/// Years whose statutory days are kept in the shared cache (others are recomputed).
const CACHED_YEARS: std::ops::RangeInclusive<i32> = 1900..=2300;

type YearHolidays = Arc<Vec<Holiday>>;

/// Statutory and compensatory days of each year, shared by every calendar (they do not depend
/// on overrides). Filled lazily; a year costs a few lunar conversions once.
static STATUTORY: LazyLock<RwLock<HashMap<i32, YearHolidays>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn rule_date(rule: &Rule, year: i32) -> Option<NaiveDate> {
    if year < rule.from || year > rule.until {
        return None;
    }
    match rule.when {
        When::Solar(m, d) => NaiveDate::from_ymd_opt(year, m, d),
        When::Lunar(m, d, shift) => {
            let base = lunar_to_solar(LunarDate::new(year, m, d))?;
            if shift >= 0 {
                base.checked_add_days(Days::new(u64::from(shift.unsigned_abs())))
            } else {
                base.checked_sub_days(Days::new(u64::from(shift.unsigned_abs())))
            }
        }
    }
}

/// Statutory days of `year` by the rules, with their compensatory days (which may spill into
/// the next year in principle). Sorted by date, one entry per date.
fn compute_raw(year: i32) -> Vec<Holiday> {
    let mut days: Vec<Holiday> = Vec::with_capacity(RULES.len() + 4);
    // Days needing compensation: on a weekend, or a second holiday on the same date.
    let mut to_compensate: Vec<(NaiveDate, &'static str, &'static str)> = Vec::new();
    let mut dated: Vec<(NaiveDate, &Rule)> = RULES
        .iter()
        .filter_map(|r| rule_date(r, year).map(|d| (d, r)))
        .collect();
    dated.sort_by_key(|&(d, _)| d);
    for (date, rule) in dated {
        match days.last_mut() {
            Some(last) if last.date == date => {
                last.name_vi = format!("{}; {}", last.name_vi, rule.name_vi);
                last.name_en = format!("{}; {}", last.name_en, rule.name_en);
                to_compensate.push((date, rule.name_vi, rule.name_en));
            }
            _ => {
                days.push(Holiday {
                    date,
                    name_vi: rule.name_vi.to_owned(),
                    name_en: rule.name_en.to_owned(),
                    kind: HolidayKind::Statutory,
                });
                if is_weekend(date) {
                    to_compensate.push((date, rule.name_vi, rule.name_en));
                }
            }
        }
    }
    let mut comps: Vec<Holiday> = Vec::new();
    for (date, name_vi, name_en) in to_compensate {
        let mut c = date;
        while let Some(next) = c.succ_opt() {
            c = next;
            let taken = days.iter().any(|h| h.date == c) || comps.iter().any(|h| h.date == c);
            if !is_weekend(c) && !taken {
                comps.push(Holiday {
                    date: c,
                    name_vi: format!("Nghỉ bù {name_vi}"),
                    name_en: format!("Compensatory day off for {name_en}"),
                    kind: HolidayKind::Compensatory,
                });
                break;
            }
        }
    }
    days.extend(comps);
    days.sort_by_key(|h| h.date);
    days
}

/// Statutory + compensatory days falling in `year`.
fn compute_year(year: i32) -> Vec<Holiday> {
    let mut v: Vec<Holiday> = Vec::new();
    if let Some(prev) = year.checked_sub(1) {
        v.extend(
            compute_raw(prev)
                .into_iter()
                .filter(|h| h.date.year() == year),
        );
    }
    v.extend(
        compute_raw(year)
            .into_iter()
            .filter(|h| h.date.year() == year),
    );
    v.sort_by_key(|h| h.date);
    v.dedup_by_key(|h| h.date);
    v
}

fn statutory(year: i32) -> YearHolidays {
    if !CACHED_YEARS.contains(&year) {
        return Arc::new(compute_year(year));
    }
    {
        let cache = STATUTORY.read().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(&year) {
            return Arc::clone(v);
        }
    }
    let v = Arc::new(compute_year(year));
    let mut cache = STATUTORY.write().unwrap_or_else(|e| e.into_inner());
    Arc::clone(cache.entry(year).or_insert(v))
}

/// Holds one year's statutory days while walking through dates, to avoid a lock per day.
struct YearCursor {
    year: i32,
    days: YearHolidays,
}

impl YearCursor {
    fn new() -> Self {
        Self {
            year: i32::MIN,
            days: Arc::new(Vec::new()),
        }
    }

    fn statutory_on(&mut self, d: NaiveDate) -> Option<&Holiday> {
        if d.year() != self.year {
            self.year = d.year();
            self.days = statutory(self.year);
        }
        self.days
            .binary_search_by_key(&d, |h| h.date)
            .ok()
            .map(|i| &self.days[i])
    }
}

/// Giờ hành chính (office hours, local time UTC+7): 07:30–11:30 and 13:00–17:00, the 8-hour
/// working day of Decision 188/1999/QĐ-TTg (40 hours a week), so a procedure "trong ngày"
/// (8 working hours) received at 07:30 is due at 17:00 the same day.
const MORNING_START: u32 = 7 * 3600 + 30 * 60;
const MORNING_END: u32 = 11 * 3600 + 30 * 60;
const AFTERNOON_START: u32 = 13 * 3600;
const AFTERNOON_END: u32 = 17 * 3600;
/// Seconds of office time in a working day (8 h).
const DAY_SECONDS: u64 = ((MORNING_END - MORNING_START) + (AFTERNOON_END - AFTERNOON_START)) as u64;

/// Lịch ngày làm việc: the working-day calendar with administrators' overrides.
///
/// Cheap to clone; statutory days are computed once per year and shared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    overrides: BTreeMap<NaiveDate, DayOverride>,
}

impl WorkingCalendar {
    /// Lịch với các ngày điều chỉnh (a calendar with per-date overrides; a later entry for the
    /// same date replaces an earlier one).
    pub fn new(overrides: impl IntoIterator<Item = (NaiveDate, DayOverride)>) -> Self {
        Self {
            overrides: overrides.into_iter().collect(),
        }
    }

    /// Các ngày điều chỉnh (the overrides, by date).
    pub fn overrides(&self) -> impl Iterator<Item = (&NaiveDate, &DayOverride)> {
        self.overrides.iter()
    }

    /// Ngày nghỉ trong năm (days off in `year`): statutory, compensatory and override days off,
    /// sorted by date; statutory days overridden as working days are left out. Ordinary
    /// weekends are not listed.
    pub fn holidays(&self, year: i32) -> Vec<Holiday> {
        let mut v: Vec<Holiday> = statutory(year)
            .iter()
            .filter(|h| !self.overrides.contains_key(&h.date))
            .cloned()
            .collect();
        if let (Some(from), Some(to)) = (
            NaiveDate::from_ymd_opt(year, 1, 1),
            NaiveDate::from_ymd_opt(year, 12, 31),
        ) {
            for (d, o) in self.overrides.range(from..=to) {
                if let DayOverride::DayOff { name_vi, name_en } = o {
                    v.push(Holiday {
                        date: *d,
                        name_vi: name_vi.clone(),
                        name_en: name_en.clone(),
                        kind: HolidayKind::Override,
                    });
                }
            }
        }
        v.sort_by_key(|h| h.date);
        v
    }

    /// Ngày nghỉ vào ngày `date` (the holiday on that date, if any; not ordinary weekends).
    pub fn holiday(&self, date: NaiveDate) -> Option<Holiday> {
        match self.overrides.get(&date) {
            Some(DayOverride::DayOff { name_vi, name_en }) => Some(Holiday {
                date,
                name_vi: name_vi.clone(),
                name_en: name_en.clone(),
                kind: HolidayKind::Override,
            }),
            Some(DayOverride::WorkingDay { .. }) => None,
            None => YearCursor::new().statutory_on(date).cloned(),
        }
    }

    /// Có phải ngày làm việc (is `date` a working day): Monday–Friday and not a holiday, unless
    /// an override says otherwise (an override can make a Saturday a working day).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.working(date, &mut YearCursor::new())
    }

    fn working(&self, date: NaiveDate, cursor: &mut YearCursor) -> bool {
        match self.overrides.get(&date) {
            Some(DayOverride::WorkingDay { .. }) => true,
            Some(DayOverride::DayOff { .. }) => false,
            None => !is_weekend(date) && cursor.statutory_on(date).is_none(),
        }
    }

    /// Ngày làm việc kế tiếp: the first working day strictly after `date` (`NaiveDate::MAX`
    /// if none exists within chrono's range).
    pub fn next_working_day(&self, date: NaiveDate) -> NaiveDate {
        let mut cursor = YearCursor::new();
        let mut d = date;
        loop {
            let Some(next) = d.succ_opt() else {
                return NaiveDate::MAX;
            };
            d = next;
            if self.working(d, &mut cursor) {
                return d;
            }
        }
    }

    /// Hạn xử lý sau `n` ngày làm việc (deadline): the n-th working day after `start`, `start`
    /// itself not counted. `n = 0` gives `start` if it is a working day, else the next one.
    /// Whole years are skipped by counting, so large `n` stays fast; saturates at
    /// `NaiveDate::MAX`.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        if n == 0 {
            return if self.is_working_day(start) {
                start
            } else {
                self.next_working_day(start)
            };
        }
        let mut remaining = i64::from(n);
        let mut cur = start;
        let mut cursor = YearCursor::new();
        loop {
            let Some(next) = cur.succ_opt() else {
                return NaiveDate::MAX;
            };
            let Some(year_end) = NaiveDate::from_ymd_opt(next.year(), 12, 31) else {
                return NaiveDate::MAX;
            };
            let in_rest_of_year = self.count_between(cur, year_end);
            if in_rest_of_year >= remaining {
                let mut d = cur;
                loop {
                    let Some(next) = d.succ_opt() else {
                        return NaiveDate::MAX;
                    };
                    d = next;
                    if self.working(d, &mut cursor) {
                        remaining -= 1;
                        if remaining == 0 {
                            return d;
                        }
                    }
                }
            }
            remaining -= in_rest_of_year;
            cur = year_end;
        }
    }

    /// Số ngày làm việc giữa hai ngày: working days in `(from, to]`; negative (minus the
    /// working days in `(to, from]`) when `to` is before `from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        if to >= from {
            self.count_between(from, to)
        } else {
            -self.count_between(to, from)
        }
    }

    /// Working days in `(a, b]`, `a <= b`, counted year by year without walking every day.
    fn count_between(&self, a: NaiveDate, b: NaiveDate) -> i64 {
        let Some(start) = a.succ_opt() else { return 0 };
        if start > b {
            return 0;
        }
        let mut total = 0;
        for year in start.year()..=b.year() {
            let (Some(jan1), Some(dec31)) = (
                NaiveDate::from_ymd_opt(year, 1, 1),
                NaiveDate::from_ymd_opt(year, 12, 31),
            ) else {
                continue;
            };
            let s = start.max(jan1);
            let e = b.min(dec31);
            let days = statutory(year);
            let mut count = weekdays_in(s, e);
            for h in days.iter().filter(|h| h.date >= s && h.date <= e) {
                if !is_weekend(h.date) && !self.overrides.contains_key(&h.date) {
                    count -= 1;
                }
            }
            // So far an overridden date counts as 1 if it is a weekday (its statutory day, if
            // any, was not subtracted); replace that with what the override says.
            for (d, o) in self.overrides.range(s..=e) {
                let with = matches!(o, DayOverride::WorkingDay { .. });
                count += i64::from(with) - i64::from(!is_weekend(*d));
            }
            total += count;
        }
        total
    }

    /// Hạn xử lý tính theo giờ làm việc: `start` plus `hours` of office time (07:30–11:30,
    /// 13:00–17:00 local time, working days only). A start outside office hours begins at the
    /// next office period; `hours = 0` returns that beginning. A deadline that ends exactly at
    /// the end of a period is that end (e.g. 11:30, not 13:30). Saturates at the end of
    /// chrono's range.
    pub fn add_working_hours(&self, start: NaiveDateTime, hours: u32) -> NaiveDateTime {
        let start_sec = start.time().num_seconds_from_midnight();
        let (day, sec) = if !self.is_working_day(start.date()) || start_sec >= AFTERNOON_END {
            (self.next_working_day(start.date()), MORNING_START)
        } else if start_sec < MORNING_START {
            (start.date(), MORNING_START)
        } else if (MORNING_END..AFTERNOON_START).contains(&start_sec) {
            (start.date(), AFTERNOON_START)
        } else {
            (start.date(), start_sec)
        };
        // Keep the start's sub-second part only when the clock starts at `start` itself.
        let nanos = if day == start.date() && sec == start_sec {
            start.time().nanosecond()
        } else {
            0
        };
        let at = |day: NaiveDate, sec: u32, nanos: u32| -> NaiveDateTime {
            let t =
                NaiveTime::from_num_seconds_from_midnight_opt(sec, nanos).unwrap_or(NaiveTime::MIN);
            day.and_time(t)
        };
        let mut remaining = u64::from(hours) * 3600;
        let left_today = u64::from(office_seconds_after(sec));
        if remaining <= left_today {
            return at(day, advance(sec, remaining), nanos);
        }
        remaining -= left_today;
        // `remaining` > 0: skip whole days, leaving 1..=DAY_SECONDS for the last day.
        let full_days = (remaining - 1) / DAY_SECONDS;
        remaining -= full_days * DAY_SECONDS;
        let n = u32::try_from(full_days + 1).unwrap_or(u32::MAX);
        at(
            self.add_working_days(day, n),
            advance(MORNING_START, remaining),
            0,
        )
    }
}

/// Office seconds from `sec` (inside office hours or at a period start) to the day's end.
fn office_seconds_after(sec: u32) -> u32 {
    if sec < MORNING_END {
        (MORNING_END - sec) + (AFTERNOON_END - AFTERNOON_START)
    } else {
        AFTERNOON_END.saturating_sub(sec.max(AFTERNOON_START))
    }
}

/// The time of day after spending `secs` office seconds from `sec` (`secs` fits in the day).
fn advance(sec: u32, secs: u64) -> u32 {
    let secs = u32::try_from(secs).unwrap_or(u32::MAX);
    if sec < MORNING_END {
        let morning_left = MORNING_END - sec;
        if secs <= morning_left {
            sec + secs
        } else {
            AFTERNOON_START + (secs - morning_left)
        }
    } else {
        sec.max(AFTERNOON_START) + secs
    }
}

/// Monday–Friday days in `[s, e]` (`s <= e`).
fn weekdays_in(s: NaiveDate, e: NaiveDate) -> i64 {
    let n = (e - s).num_days() + 1;
    let full_weeks = n / 7;
    let rest = n % 7;
    let w = i64::from(s.weekday().num_days_from_monday());
    let extra = (0..rest).filter(|i| (w + i) % 7 < 5).count();
    full_weeks * 5 + i64::try_from(extra).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        ymd(y, m, d).and_hms_opt(h, min, 0).unwrap()
    }

    fn off(name: &str) -> DayOverride {
        DayOverride::DayOff {
            name_vi: name.to_owned(),
            name_en: name.to_owned(),
        }
    }

    fn work(reason: &str) -> DayOverride {
        DayOverride::WorkingDay {
            reason_vi: reason.to_owned(),
        }
    }

    fn dates(v: &[Holiday]) -> Vec<NaiveDate> {
        v.iter().map(|h| h.date).collect()
    }

    #[test]
    fn holidays_2026_default() {
        let cal = WorkingCalendar::default();
        let h = cal.holidays(2026);
        assert_eq!(
            dates(&h),
            [
                ymd(2026, 1, 1),
                ymd(2026, 2, 16), // 29 tháng Chạp Ất Tỵ (the month has 29 days)
                ymd(2026, 2, 17), // mùng 1 Tết Bính Ngọ
                ymd(2026, 2, 18),
                ymd(2026, 2, 19),
                ymd(2026, 2, 20),
                ymd(2026, 4, 26), // Giỗ Tổ, a Sunday
                ymd(2026, 4, 27), // … compensated on Monday
                ymd(2026, 4, 30),
                ymd(2026, 5, 1),
                ymd(2026, 9, 1),
                ymd(2026, 9, 2),
            ]
        );
        assert_eq!(h[7].kind, HolidayKind::Compensatory);
        assert!(h[7].name_vi.starts_with("Nghỉ bù Giỗ Tổ Hùng Vương"));
        assert!(h.iter().all(|x| x.kind != HolidayKind::Override));
    }

    #[test]
    fn tet_2026_matches_the_government_decision() {
        // Officially: công chức, viên chức nghỉ Tết từ thứ Bảy 14/2/2026 (27 tháng Chạp) đến
        // hết Chủ nhật 22/2/2026 (mùng 6), 9 days = 5 Tết days + 2 weekends, which is exactly
        // the default rule.
        let cal = WorkingCalendar::default();
        assert!(cal.is_working_day(ymd(2026, 2, 13)));
        let mut d = ymd(2026, 2, 14);
        while d <= ymd(2026, 2, 22) {
            assert!(!cal.is_working_day(d), "{d}");
            d = d.succ_opt().unwrap();
        }
        assert!(cal.is_working_day(ymd(2026, 2, 23)));
        assert_eq!(
            cal.working_days_between(ymd(2026, 2, 13), ymd(2026, 2, 23)),
            1
        );
    }

    #[test]
    fn new_year_2026_swap_override() {
        // Văn bản 12729/VPCP-KGVX (25/12/2025): nghỉ 1/1–4/1/2026, hoán đổi thứ Sáu 2/1/2026
        // sang thứ Bảy 10/1/2026.
        let cal = WorkingCalendar::new([
            (ymd(2026, 1, 2), off("Nghỉ hoán đổi Tết Dương lịch")),
            (ymd(2026, 1, 10), work("Làm bù cho ngày 2/1/2026")),
        ]);
        assert!(!cal.is_working_day(ymd(2026, 1, 2)));
        assert!(cal.is_working_day(ymd(2026, 1, 10)));
        assert!(cal.is_working_day(ymd(2026, 1, 5)));
        let h = cal.holidays(2026);
        assert_eq!(h[1].date, ymd(2026, 1, 2));
        assert_eq!(h[1].kind, HolidayKind::Override);
        // Same number of working days in January as without the swap.
        let plain = WorkingCalendar::default();
        assert_eq!(
            cal.working_days_between(ymd(2025, 12, 31), ymd(2026, 1, 31)),
            plain.working_days_between(ymd(2025, 12, 31), ymd(2026, 1, 31))
        );
        assert_eq!(cal.add_working_days(ymd(2026, 1, 9), 1), ymd(2026, 1, 10));
        assert_eq!(plain.add_working_days(ymd(2026, 1, 9), 1), ymd(2026, 1, 12));
    }

    #[test]
    fn national_day_2025() {
        // 2/9/2025 is a Tuesday; with 1/9 (Monday) the holiday runs 30/8–2/9.
        let cal = WorkingCalendar::default();
        let h = cal.holidays(2025);
        assert!(h.iter().any(|x| x.date == ymd(2025, 9, 1)));
        assert!(h.iter().any(|x| x.date == ymd(2025, 9, 2)));
        assert!(cal.is_working_day(ymd(2025, 8, 29)));
        for d in 30..=31 {
            assert!(!cal.is_working_day(ymd(2025, 8, d)));
        }
        assert!(!cal.is_working_day(ymd(2025, 9, 1)));
        assert!(!cal.is_working_day(ymd(2025, 9, 2)));
        assert!(cal.is_working_day(ymd(2025, 9, 3)));
    }

    #[test]
    fn national_day_2021_third_of_september_override() {
        // 2021: the government chose 3/9 (Friday) instead of 1/9.
        let cal = WorkingCalendar::new([
            (
                ymd(2021, 9, 1),
                work("Ngày liền kề Quốc khánh năm 2021 là 3/9"),
            ),
            (ymd(2021, 9, 3), off("Quốc khánh (ngày liền kề 3/9)")),
        ]);
        assert!(cal.is_working_day(ymd(2021, 9, 1)));
        assert!(!cal.is_working_day(ymd(2021, 9, 2)));
        assert!(!cal.is_working_day(ymd(2021, 9, 3)));
        let h = dates(&cal.holidays(2021));
        assert!(!h.contains(&ymd(2021, 9, 1)));
        assert!(h.contains(&ymd(2021, 9, 3)));
        // Before 2021 (Labour Code 2012) there was no adjacent day.
        let plain = WorkingCalendar::default();
        assert!(plain.is_working_day(ymd(2020, 9, 1)));
        assert!(!plain.is_working_day(ymd(2020, 9, 2)));
    }

    #[test]
    fn weekend_holidays_are_compensated() {
        let cal = WorkingCalendar::default();
        // 30/4/2022 Saturday, 1/5/2022 Sunday → nghỉ bù Monday 2/5 and Tuesday 3/5.
        let h = cal.holidays(2022);
        let comp: Vec<NaiveDate> = h
            .iter()
            .filter(|x| x.kind == HolidayKind::Compensatory)
            .map(|x| x.date)
            .collect();
        assert!(comp.contains(&ymd(2022, 5, 2)));
        assert!(comp.contains(&ymd(2022, 5, 3)));
        assert!(cal.is_working_day(ymd(2022, 5, 4)));
        // 1/1/2022 Saturday → Monday 3/1/2022.
        assert!(comp.contains(&ymd(2022, 1, 3)));
        // 2/9/2023 Saturday (1/9 Friday) → Monday 4/9/2023.
        assert!(!cal.is_working_day(ymd(2023, 9, 1)));
        assert!(!cal.is_working_day(ymd(2023, 9, 4)));
        assert!(cal.is_working_day(ymd(2023, 9, 5)));
    }

    #[test]
    fn tet_on_weekend_is_compensated_too() {
        // Tết 2024: 1/1 on Saturday 10/2; default days 9–13/2 include Sat and Sun, so two
        // compensatory days follow (14 and 15/2). (The government actually gave 8–14/2.)
        let cal = WorkingCalendar::default();
        assert!(!cal.is_working_day(ymd(2024, 2, 14)));
        assert!(!cal.is_working_day(ymd(2024, 2, 15)));
        assert!(cal.is_working_day(ymd(2024, 2, 16)));
    }

    #[test]
    fn swap_2025_reunification_day() {
        // 2025: hoán đổi thứ Sáu 2/5 sang thứ Bảy 26/4; nghỉ 30/4–4/5.
        let cal = WorkingCalendar::new([
            (ymd(2025, 5, 2), off("Nghỉ hoán đổi dịp 30/4–1/5")),
            (ymd(2025, 4, 26), work("Làm bù cho ngày 2/5/2025")),
        ]);
        assert!(cal.is_working_day(ymd(2025, 4, 26)));
        for d in [
            ymd(2025, 4, 30),
            ymd(2025, 5, 1),
            ymd(2025, 5, 2),
            ymd(2025, 5, 3),
        ] {
            assert!(!cal.is_working_day(d), "{d}");
        }
        assert_eq!(cal.add_working_days(ymd(2025, 4, 29), 1), ymd(2025, 5, 5));
    }

    #[test]
    fn add_working_days_basics() {
        let cal = WorkingCalendar::default();
        // Thursday 12/2/2026 + 3 working days across Tết: 13/2, 23/2, 24/2.
        assert_eq!(cal.add_working_days(ymd(2026, 2, 12), 3), ymd(2026, 2, 24));
        assert_eq!(cal.add_working_days(ymd(2026, 2, 12), 1), ymd(2026, 2, 13));
        // n = 0.
        assert_eq!(cal.add_working_days(ymd(2026, 3, 4), 0), ymd(2026, 3, 4));
        assert_eq!(cal.add_working_days(ymd(2026, 3, 7), 0), ymd(2026, 3, 9));
        // Start on a holiday: counting starts after it.
        assert_eq!(cal.add_working_days(ymd(2026, 2, 17), 1), ymd(2026, 2, 23));
        // Across a year boundary.
        assert_eq!(cal.add_working_days(ymd(2025, 12, 30), 2), ymd(2026, 1, 2));
        assert_eq!(cal.next_working_day(ymd(2026, 4, 24)), ymd(2026, 4, 28));
        assert_eq!(
            cal.working_days_between(ymd(2026, 1, 1), ymd(2026, 1, 1)),
            0
        );
        assert_eq!(
            cal.working_days_between(ymd(2026, 1, 9), ymd(2026, 1, 5)),
            -4
        );
    }

    #[test]
    fn working_days_per_year() {
        let cal = WorkingCalendar::default();
        // 2026: 261 weekdays minus 12 holidays/comps on weekdays − Giỗ Tổ on Sunday = 250.
        let n = cal.working_days_between(ymd(2025, 12, 31), ymd(2026, 12, 31));
        let weekday_holidays = cal
            .holidays(2026)
            .iter()
            .filter(|h| !is_weekend(h.date))
            .count();
        assert_eq!(n, 261 - i64::try_from(weekday_holidays).unwrap());
        assert_eq!(n, 250);
    }

    #[test]
    fn large_n_is_fast_and_consistent() {
        let cal = WorkingCalendar::default();
        let start = ymd(2024, 1, 1);
        let end = cal.add_working_days(start, 1000);
        assert_eq!(cal.working_days_between(start, end), 1000);
        let far = cal.add_working_days(start, 250_000);
        assert_eq!(cal.working_days_between(start, far), 250_000);
        assert_eq!(cal.add_working_days(NaiveDate::MAX, 1), NaiveDate::MAX);
        // 1000 deadlines of 1000 working days each, day by day from the start of 2024.
        let mut d = start;
        for _ in 0..1000 {
            let e = cal.add_working_days(d, 1000);
            assert!(e > d);
            d = d.succ_opt().unwrap();
        }
    }

    #[test]
    fn working_hours() {
        let cal = WorkingCalendar::default();
        // Friday 16:00 + 2 h → 1 h on Friday, 1 h on Monday → Monday 08:30.
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 6, 16, 0), 2),
            at(2026, 3, 9, 8, 30)
        );
        // 11:00 + 1 h → 30 min before lunch, 30 min after → 13:30.
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 4, 11, 0), 1),
            at(2026, 3, 4, 13, 30)
        );
        // Ending exactly at 11:30.
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 4, 7, 30), 4),
            at(2026, 3, 4, 11, 30)
        );
        // Lunch-time start counts from 13:00; early start from 07:30.
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 4, 12, 0), 1),
            at(2026, 3, 4, 14, 0)
        );
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 4, 6, 0), 1),
            at(2026, 3, 4, 8, 30)
        );
        // 8 h ("trong ngày") from Monday 07:30 ends Monday 17:00.
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 2, 7, 30), 8),
            at(2026, 3, 2, 17, 0)
        );
        // Two full 8 h days = 16 h: ends at 17:00 of the second day; 15 h at 16:00.
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 2, 7, 30), 16),
            at(2026, 3, 3, 17, 0)
        );
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 2, 7, 30), 15),
            at(2026, 3, 3, 16, 0)
        );
        // Saturday start, 0 h → Monday 07:30; 24 h across Tết 2026.
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 7, 10, 0), 0),
            at(2026, 3, 9, 7, 30)
        );
        assert_eq!(
            cal.add_working_hours(at(2026, 2, 13, 17, 30), 8),
            at(2026, 2, 23, 17, 0)
        );
        // Inside office hours, 0 h is the start itself.
        assert_eq!(
            cal.add_working_hours(at(2026, 3, 4, 9, 17), 0),
            at(2026, 3, 4, 9, 17)
        );
    }

    #[test]
    fn hung_kings_never_collides_unnoticed() {
        // If Giỗ Tổ ever falls on 30/4 or 1/5, the merged day is compensated.
        let cal = WorkingCalendar::default();
        for year in 1990..=2100 {
            let h = cal.holidays(year);
            let statutory = h
                .iter()
                .filter(|x| x.kind == HolidayKind::Statutory)
                .count();
            let comps = h
                .iter()
                .filter(|x| x.kind == HolidayKind::Compensatory)
                .count();
            let rules = if year >= 2021 { 11 } else { 10 };
            // Every rule day is either its own statutory day or compensated.
            assert!(statutory + comps >= rules, "{year}");
            let mut sorted = dates(&h);
            sorted.dedup();
            assert_eq!(sorted.len(), h.len(), "{year}");
        }
    }

    fn naive_count(cal: &WorkingCalendar, a: NaiveDate, b: NaiveDate) -> i64 {
        let mut n = 0;
        let mut d = a;
        while d < b {
            d = d.succ_opt().unwrap();
            if cal.is_working_day(d) {
                n += 1;
            }
        }
        n
    }

    fn sample_calendar() -> WorkingCalendar {
        WorkingCalendar::new([
            (ymd(2026, 1, 2), off("x")),
            (ymd(2026, 1, 10), work("y")),
            (ymd(2026, 2, 16), work("y")), // a statutory day made working
            (ymd(2026, 2, 21), work("y")), // a Saturday during Tết made working
            (ymd(2026, 11, 24), off("Ngày Văn hóa Việt Nam")),
            (ymd(2027, 3, 6), off("x")), // a Saturday marked off: no change
        ])
    }

    proptest! {
        #[test]
        fn between_matches_add(offset in 0i64..1500, n in 0u32..400) {
            let cal = sample_calendar();
            let start = ymd(2025, 6, 1) + chrono::Duration::days(offset);
            let end = cal.add_working_days(start, n);
            prop_assert!(cal.is_working_day(end));
            // n = 0 from a day off gives the next working day, one working day later.
            let expected = if n == 0 && !cal.is_working_day(start) { 1 } else { i64::from(n) };
            prop_assert_eq!(cal.working_days_between(start, end), expected);
            prop_assert_eq!(cal.working_days_between(end, start), -expected);
            if n > 0 {
                prop_assert!(end > start);
                // The day before the deadline has one working day less.
                prop_assert_eq!(cal.working_days_between(start, end.pred_opt().unwrap()), i64::from(n) - 1);
            }
        }

        #[test]
        fn between_matches_naive_count(a in 0i64..900, len in 0i64..500) {
            let cal = sample_calendar();
            let from = ymd(2025, 9, 1) + chrono::Duration::days(a);
            let to = from + chrono::Duration::days(len);
            prop_assert_eq!(cal.working_days_between(from, to), naive_count(&cal, from, to));
        }

        #[test]
        fn hours_are_inside_office_time(offset in 0i64..400, minute in 0u32..1440, hours in 0u32..100) {
            let cal = WorkingCalendar::default();
            let start = (ymd(2026, 1, 1) + chrono::Duration::days(offset))
                .and_hms_opt(minute / 60, minute % 60, 0)
                .unwrap();
            let end = cal.add_working_hours(start, hours);
            prop_assert!(end >= start);
            prop_assert!(cal.is_working_day(end.date()));
            let s = end.time().num_seconds_from_midnight();
            prop_assert!((MORNING_START..=MORNING_END).contains(&s) || (AFTERNOON_START..=AFTERNOON_END).contains(&s), "{}", end);
            // Adding hours one by one gives the same deadline.
            if hours > 0 && hours < 20 {
                let mut t = cal.add_working_hours(start, 0);
                for _ in 0..hours {
                    t = cal.add_working_hours(t, 1);
                }
                // A step ending at 11:30 or 17:00 continues at the next period: same office time.
                let again = cal.add_working_hours(start, hours);
                prop_assert_eq!(cal.add_working_hours(t, 0), cal.add_working_hours(again, 0));
            }
        }
    }
}
