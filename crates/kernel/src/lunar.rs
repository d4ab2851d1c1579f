//! Vietnamese lunar calendar (âm lịch), computed for the Vietnamese time zone UTC+7.
//!
//! A port of Hồ Ngọc Đức's well-known algorithm ("Âm lịch Việt Nam",
//! <https://www.informatik.uni-leipzig.de/~duc/amlich/>): new moons and solar longitudes from
//! the astronomical series in Jean Meeus, *Astronomical Algorithms*; month 11 is the month
//! containing the winter solstice; in a 13-month year the leap month (tháng nhuận) is the first
//! month after month 11 that contains no major solar term (trung khí).
//!
//! The results agree with the official Vietnamese calendar for 1900–2100. Outside that range
//! the astronomy is approximate, but every function stays total (no panics).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::fmt;

/// Múi giờ Việt Nam (UTC+7), in hours.
const TIME_ZONE: f64 = 7.0;
/// Julian day number of chrono's day 0 (0000-12-31 proleptic Gregorian) is this minus one.
const JD_OF_CE_DAY_1: i64 = 1_721_426;

/// Ngày âm lịch: a date of the Vietnamese lunar calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LunarDate {
    /// Năm âm lịch (the lunar year, numbered as the solar year in which it mostly falls).
    pub year: i32,
    /// Tháng (1–12).
    pub month: u8,
    /// Ngày (1–30).
    pub day: u8,
    /// Tháng nhuận: true in the leap (intercalary) month.
    pub leap: bool,
}

impl LunarDate {
    /// A lunar date in a regular (non-leap) month.
    pub const fn new(year: i32, month: u8, day: u8) -> Self {
        Self {
            year,
            month,
            day,
            leap: false,
        }
    }
}

impl fmt::Display for LunarDate {
    /// `10/3/2024`, or `1/2 nhuận/2023` in a leap month.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.leap {
            write!(f, "{}/{} nhuận/{}", self.day, self.month, self.year)
        } else {
            write!(f, "{}/{}/{}", self.day, self.month, self.year)
        }
    }
}

/// Dương lịch → âm lịch: the lunar date of a solar (Gregorian) date, in Vietnam (UTC+7).
pub fn solar_to_lunar(d: NaiveDate) -> LunarDate {
    let day_number = jd_from_date(d);
    let k = ((day_number as f64 - 2_415_021.076_998_695) / 29.530_588_853).floor() as i64;
    let mut month_start = new_moon_day(k + 1);
    if month_start > day_number {
        month_start = new_moon_day(k);
    }
    // Deviation from the original: the mean-lunation estimate of `k` can overshoot by one
    // (e.g. 2054-05-07, where the original yields lunar day 0), so step back until the month
    // starts on or before the day. Never more than a couple of iterations.
    let mut back = k;
    while month_start > day_number && back > k - 3 {
        back -= 1;
        month_start = new_moon_day(back);
    }
    let yy = d.year();
    let mut a11 = lunar_month11(yy);
    let mut b11 = a11;
    let mut lunar_year;
    if a11 >= month_start {
        lunar_year = yy;
        a11 = lunar_month11(yy - 1);
    } else {
        lunar_year = yy + 1;
        b11 = lunar_month11(yy + 1);
    }
    let lunar_day = day_number - month_start + 1;
    let diff = (month_start - a11).div_euclid(29);
    let mut leap = false;
    let mut lunar_month = diff + 11;
    if b11 - a11 > 365 {
        let leap_month_diff = leap_month_offset(a11);
        if diff >= leap_month_diff {
            lunar_month = diff + 10;
            if diff == leap_month_diff {
                leap = true;
            }
        }
    }
    if lunar_month > 12 {
        lunar_month -= 12;
    }
    if lunar_month >= 11 && diff < 4 {
        lunar_year -= 1;
    }
    LunarDate {
        year: lunar_year,
        month: u8::try_from(lunar_month.clamp(1, 12)).unwrap_or(1),
        day: u8::try_from(lunar_day.clamp(1, 30)).unwrap_or(1),
        leap,
    }
}

/// Âm lịch → dương lịch: the solar date of a lunar date, or `None` if that lunar date does not
/// exist (day 0 or past the month's end, month outside 1–12, a leap flag on a month that is not
/// the leap month of that year) or falls outside chrono's date range.
pub fn lunar_to_solar(l: LunarDate) -> Option<NaiveDate> {
    if !(1..=12).contains(&l.month) || !(1..=30).contains(&l.day) {
        return None;
    }
    let month = i64::from(l.month);
    let (a11, b11) = if month < 11 {
        (lunar_month11(l.year.checked_sub(1)?), lunar_month11(l.year))
    } else {
        (lunar_month11(l.year), lunar_month11(l.year.checked_add(1)?))
    };
    let k = (0.5 + (a11 as f64 - 2_415_021.076_998_695) / 29.530_588_853).floor() as i64;
    let mut off = month - 11;
    if off < 0 {
        off += 12;
    }
    if b11 - a11 > 365 {
        let leap_off = leap_month_offset(a11);
        let mut leap_month = leap_off - 2;
        if leap_month < 0 {
            leap_month += 12;
        }
        if l.leap && month != leap_month {
            return None;
        } else if l.leap || off >= leap_off {
            off += 1;
        }
    } else if l.leap {
        return None;
    }
    let month_start = new_moon_day(k + off);
    let next_month_start = new_moon_day(k + off + 1);
    if i64::from(l.day) > next_month_start - month_start {
        return None;
    }
    let solar = jd_to_date(month_start + i64::from(l.day) - 1)?;
    // Guard against edge cases of the month arithmetic: the answer must convert back.
    (solar_to_lunar(solar) == l).then_some(solar)
}

/// Tết Nguyên đán: the solar date of lunar 1/1 of lunar year `year`.
pub fn tet(year: i32) -> Option<NaiveDate> {
    lunar_to_solar(LunarDate::new(year, 1, 1))
}

/// Julian day number of a Gregorian date (jdFromDate).
fn jd_from_date(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce()) + JD_OF_CE_DAY_1 - 1
}

/// Gregorian date of a Julian day number (jdToDate); `None` outside chrono's range.
fn jd_to_date(jd: i64) -> Option<NaiveDate> {
    let days = i32::try_from(jd - JD_OF_CE_DAY_1 + 1).ok()?;
    NaiveDate::from_num_days_from_ce_opt(days)
}

/// Julian day number of 31 December of `year`, without going through chrono (so that it works
/// one year past chrono's range).
fn jd_of_dec31(year: i32) -> i64 {
    let y = i64::from(year) + 4800;
    // Month 12: a = 0, m = 9 in the usual jdFromDate formula.
    31 + (153 * 9 + 2) / 5 + 365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)
        - 32045
}

/// Day number of the k-th new moon after 1900-01-01 (getNewMoonDay), local time.
fn new_moon_day(k: i64) -> i64 {
    let k = k as f64;
    let t = k / 1236.85;
    let t2 = t * t;
    let t3 = t2 * t;
    let dr = PI / 180.0;
    let mut jd1 = 2_415_020.759_33 + 29.530_588_68 * k + 0.000_117_8 * t2 - 0.000_000_155 * t3;
    jd1 += 0.000_33 * ((166.56 + 132.87 * t - 0.009_173 * t2) * dr).sin();
    let m = 359.2242 + 29.105_356_08 * k - 0.000_033_3 * t2 - 0.000_003_47 * t3;
    let mpr = 306.0253 + 385.816_918_06 * k + 0.010_730_6 * t2 + 0.000_012_36 * t3;
    let f = 21.2964 + 390.670_506_46 * k - 0.001_652_8 * t2 - 0.000_002_39 * t3;
    let mut c1 = (0.1734 - 0.000_393 * t) * (m * dr).sin() + 0.0021 * (2.0 * dr * m).sin();
    c1 = c1 - 0.4068 * (mpr * dr).sin() + 0.0161 * (dr * 2.0 * mpr).sin();
    c1 -= 0.0004 * (dr * 3.0 * mpr).sin();
    c1 = c1 + 0.0104 * (dr * 2.0 * f).sin() - 0.0051 * (dr * (m + mpr)).sin();
    c1 = c1 - 0.0074 * (dr * (m - mpr)).sin() + 0.0004 * (dr * (2.0 * f + m)).sin();
    c1 = c1 - 0.0004 * (dr * (2.0 * f - m)).sin() - 0.0006 * (dr * (2.0 * f + mpr)).sin();
    c1 = c1 + 0.0010 * (dr * (2.0 * f - mpr)).sin() + 0.0005 * (dr * (2.0 * mpr + m)).sin();
    let deltat = if t < -11.0 {
        0.001 + 0.000_839 * t + 0.000_226_1 * t2 - 0.000_008_45 * t3 - 0.000_000_081 * t * t3
    } else {
        -0.000_278 + 0.000_265 * t + 0.000_262 * t2
    };
    let jd_new = jd1 + c1 - deltat;
    (jd_new + 0.5 + TIME_ZONE / 24.0).floor() as i64
}

/// Sector (0–11, 30° each) of the sun's longitude at local midnight starting day `jdn`
/// (getSunLongitude).
fn sun_longitude(jdn: i64) -> i64 {
    let t = (jdn as f64 - 2_451_545.5 - TIME_ZONE / 24.0) / 36525.0;
    let t2 = t * t;
    let dr = PI / 180.0;
    let m = 357.529_10 + 35_999.050_30 * t - 0.000_155_9 * t2 - 0.000_000_48 * t * t2;
    let l0 = 280.466_45 + 36_000.769_83 * t + 0.000_303_2 * t2;
    let mut dl = (1.914_600 - 0.004_817 * t - 0.000_014 * t2) * (dr * m).sin();
    dl += (0.019_993 - 0.000_101 * t) * (dr * 2.0 * m).sin() + 0.000_290 * (dr * 3.0 * m).sin();
    let mut l = (l0 + dl) * dr;
    l -= 2.0 * PI * (l / (2.0 * PI)).floor();
    (l / PI * 6.0).floor() as i64
}

/// Day number of the start of lunar month 11 of `year` (getLunarMonth11).
fn lunar_month11(year: i32) -> i64 {
    let off = jd_of_dec31(year) as f64 - 2_415_021.0;
    let k = (off / 29.530_588_853).floor() as i64;
    let nm = new_moon_day(k);
    if sun_longitude(nm) >= 9 {
        new_moon_day(k - 1)
    } else {
        nm
    }
}

/// Offset (in months after month 11 starting at `a11`) of the leap month (getLeapMonthOffset).
fn leap_month_offset(a11: i64) -> i64 {
    let k = ((a11 as f64 - 2_415_021.076_998_695) / 29.530_588_853 + 0.5).floor() as i64;
    let mut i = 1;
    let mut arc = sun_longitude(new_moon_day(k + 1));
    loop {
        let last = arc;
        i += 1;
        arc = sun_longitude(new_moon_day(k + i));
        if arc == last || i >= 14 {
            break;
        }
    }
    i - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn julian_day_numbers() {
        assert_eq!(jd_from_date(ymd(2000, 1, 1)), 2_451_545);
        assert_eq!(jd_from_date(ymd(1900, 1, 1)), 2_415_021);
        assert_eq!(jd_to_date(2_451_545), Some(ymd(2000, 1, 1)));
        assert_eq!(jd_of_dec31(2024), jd_from_date(ymd(2024, 12, 31)));
        assert_eq!(jd_of_dec31(1), jd_from_date(ymd(1, 12, 31)));
    }

    #[test]
    fn tet_dates() {
        let known = [
            (2021, ymd(2021, 2, 12)),
            (2022, ymd(2022, 2, 1)),
            (2023, ymd(2023, 1, 22)),
            (2024, ymd(2024, 2, 10)),
            (2025, ymd(2025, 1, 29)),
            (2026, ymd(2026, 2, 17)),
            (2027, ymd(2027, 2, 6)),
        ];
        for (year, date) in known {
            assert_eq!(tet(year), Some(date), "Tết {year}");
            assert_eq!(solar_to_lunar(date), LunarDate::new(year, 1, 1));
        }
    }

    #[test]
    fn hung_kings_commemoration() {
        for (year, date) in [
            (2024, ymd(2024, 4, 18)),
            (2025, ymd(2025, 4, 7)),
            (2026, ymd(2026, 4, 26)),
        ] {
            assert_eq!(lunar_to_solar(LunarDate::new(year, 3, 10)), Some(date));
        }
    }

    #[test]
    fn leap_month_2023() {
        // Năm Quý Mão 2023 có tháng 2 nhuận, bắt đầu ngày 22/3/2023.
        let start = LunarDate {
            year: 2023,
            month: 2,
            day: 1,
            leap: true,
        };
        assert_eq!(solar_to_lunar(ymd(2023, 3, 22)), start);
        assert_eq!(lunar_to_solar(start), Some(ymd(2023, 3, 22)));
        assert!(!solar_to_lunar(ymd(2023, 3, 21)).leap);
        assert_eq!(solar_to_lunar(ymd(2023, 3, 21)).month, 2);
        assert_eq!(start.to_string(), "1/2 nhuận/2023");
        // No leap 3rd month in 2023, and no leap month at all in 2024.
        assert_eq!(
            lunar_to_solar(LunarDate {
                leap: true,
                ..LunarDate::new(2023, 3, 1)
            }),
            None
        );
        assert_eq!(
            lunar_to_solar(LunarDate {
                leap: true,
                ..LunarDate::new(2024, 2, 1)
            }),
            None
        );
    }

    #[test]
    fn other_leap_months() {
        // 2020: tháng 4 nhuận from 23/5/2020; 2025: tháng 6 nhuận from 25/7/2025.
        for (year, month, date) in [(2020, 4, ymd(2020, 5, 23)), (2025, 6, ymd(2025, 7, 25))] {
            let l = LunarDate {
                year,
                month,
                day: 1,
                leap: true,
            };
            assert_eq!(solar_to_lunar(date), l);
            assert_eq!(lunar_to_solar(l), Some(date));
        }
    }

    #[test]
    fn invalid_lunar_dates() {
        assert_eq!(lunar_to_solar(LunarDate::new(2024, 0, 1)), None);
        assert_eq!(lunar_to_solar(LunarDate::new(2024, 13, 1)), None);
        assert_eq!(lunar_to_solar(LunarDate::new(2024, 1, 0)), None);
        assert_eq!(lunar_to_solar(LunarDate::new(2024, 1, 31)), None);
        // Tháng Chạp Ất Tỵ (lunar year 2025) has 29 days: 29 Chạp = 16/2/2026, no 30 Chạp.
        assert_eq!(
            lunar_to_solar(LunarDate::new(2025, 12, 29)),
            Some(ymd(2026, 2, 16))
        );
        assert_eq!(lunar_to_solar(LunarDate::new(2025, 12, 30)), None);
    }

    #[test]
    fn round_trip_1900_to_2100() {
        let mut d = ymd(1900, 1, 1);
        let end = ymd(2100, 12, 31);
        let mut prev = solar_to_lunar(d);
        while d <= end {
            let l = solar_to_lunar(d);
            assert_eq!(lunar_to_solar(l), Some(d), "{d} -> {l}");
            // Consecutive days: next lunar day or the first of a new month.
            if d > ymd(1900, 1, 1) {
                assert!(
                    l.day == prev.day + 1 || (l.day == 1 && prev.day >= 29),
                    "{d}"
                );
            }
            prev = l;
            d = d.succ_opt().unwrap();
        }
    }

    proptest! {
        #[test]
        fn never_panics(
            days in -100_000_000i32..100_000_000,
            m in 0u8..20,
            dd in 0u8..40,
            leap in any::<bool>(),
            y in any::<i32>(),
        ) {
            if let Some(d) = NaiveDate::from_num_days_from_ce_opt(days) {
                let _ = solar_to_lunar(d);
            }
            let _ = lunar_to_solar(LunarDate { year: y, month: m, day: dd, leap });
        }
    }
}
