//! Service indicators of Decision 766/QĐ-TTg (2022) computed from the dossiers table, for a
//! period `[from, to)` of local (UTC+7) dates and a set of agencies (one, a list, or the whole
//! province), per agency and in total.
//!
//! Every indicator carries its numerator, denominator, value (percent, one decimal, `null` when
//! the denominator is 0), its formula in Vietnamese and English and, where the domain notes give
//! both a weight and a full-marks threshold, its 766 score (`min(1, value / threshold) × weight`).
//! Nothing is made up: what the platform does not record yet (the payment channel) is either not measured (`null` with the reason) or approximated with
//! the approximation stated. Satisfaction subtracts the rate of dossiers complained about
//! (kiến nghị recorded by [`crate::feedback`]) and carries the applicants' rating distribution.
//!
//! Counting is done by the database with aggregates grouped by agency — one query per family of
//! indicators (dossiers finished, dossiers received, results returned) — in SQL that runs on
//! both SQLite and PostgreSQL (`$n` placeholders, counts cast to BIGINT, dates compared as day
//! numbers computed with integer arithmetic instead of dialect date functions).

use crate::catalogue::AgencyRef;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_refdata::agencies;
use tinhso_store::{Db, DbError};

/// Microseconds in a day, and Vietnam's offset from UTC.
const DAY_MICROS: i64 = 86_400_000_000;
const VN_OFFSET_MICROS: i64 = 7 * 3600 * 1_000_000;

/// Day number of a civil date (proleptic Gregorian, years counted from March so February is
/// last): the same integer arithmetic as [`due_day_sql`], which the database evaluates.
pub fn civil_day(d: NaiveDate) -> i64 {
    let (y, m, day) = (
        i64::from(d.year()),
        i64::from(d.month()),
        i64::from(d.day()),
    );
    let mm = (m + 9) % 12;
    let yy = y - mm / 10;
    365 * yy + yy / 4 - yy / 100 + yy / 400 + (mm * 306 + 5) / 10 + (day - 1)
}

/// The promised date the on-time rate measures against: the first one, when an apology (form
/// 04, [`crate::forms::apologise`]) moved `due_date` — the dossier stays late.
const MEASURED_DUE: &str = "COALESCE(original_due_date, due_date)";

/// The day number of [`MEASURED_DUE`] (`YYYY-MM-DD` text) in portable SQL (SUBSTR, CAST, integer
/// `/` and `%` behave alike on SQLite and PostgreSQL for these positive values).
fn due_day_sql() -> String {
    let y = format!("CAST(SUBSTR({MEASURED_DUE}, 1, 4) AS BIGINT)");
    let m = format!("CAST(SUBSTR({MEASURED_DUE}, 6, 2) AS BIGINT)");
    let d = format!("CAST(SUBSTR({MEASURED_DUE}, 9, 2) AS BIGINT)");
    let mm = format!("(({m} + 9) % 12)");
    let yy = format!("({y} - {mm} / 10)");
    format!("(365 * {yy} + {yy} / 4 - {yy} / 100 + {yy} / 400 + ({mm} * 306 + 5) / 10 + ({d} - 1))")
}

/// The local day number of `finished_at` (micros since the epoch, UTC).
fn finished_day_sql() -> String {
    let epoch = civil_day(NaiveDate::default());
    format!("((finished_at + {VN_OFFSET_MICROS}) / {DAY_MICROS} + {epoch})")
}

/// Micros (UTC) of local midnight starting `d`.
pub fn local_midnight_micros(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp_micros()
        - VN_OFFSET_MICROS
}

/// Parse a period `[from, to)` given as `YYYY-MM-DD` local dates. Missing `from` is the first
/// day of the current month, missing `to` tomorrow (so today is included). Errors are field
/// errors on `from` and `to`.
pub fn parse_period(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(NaiveDate, NaiveDate), AppError> {
    let today = crate::dossier::today_local();
    let mut errs = FieldErrors::new();
    let mut parse = |field: &str, v: Option<&str>, default: NaiveDate| -> Option<NaiveDate> {
        match v.map(str::trim).filter(|s| !s.is_empty()) {
            None => Some(default),
            Some(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) if (1970..=9999).contains(&d.year()) && s.len() == 10 => Some(d),
                _ => {
                    errs.push(
                        field,
                        Invalid::new(
                            "date",
                            "Ngày phải có dạng YYYY-MM-DD, ví dụ 2026-01-31",
                            "The date must look like YYYY-MM-DD, e.g. 2026-01-31",
                        ),
                    );
                    None
                }
            },
        }
    };
    let from = parse("from", from, today.with_day(1).unwrap_or(today));
    let to = parse("to", to, today.succ_opt().unwrap_or(today));
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            errs.push(
                "to",
                Invalid::new(
                    "period",
                    "Ngày kết thúc (không tính) phải sau ngày bắt đầu",
                    "The end date (excluded) must be after the start date",
                ),
            );
        }
    }
    errs.into_result()?;
    match (from, to) {
        (Some(f), Some(t)) => Ok((f, t)),
        _ => Err(AppError::internal("period parse")),
    }
}

/// Points of Decision 766 for an indicator, as the domain notes give them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Points {
    /// The indicator group of the 100-point scale (`progress`, `online`, ...).
    pub group: &'static str,
    /// The group's weight in points.
    pub group_weight: u32,
    /// Full marks at or above this value (percent), where the notes give one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_marks_at: Option<f64>,
}

/// One indicator for one agency (or the total).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Indicator {
    pub key: &'static str,
    pub name_vi: &'static str,
    pub name_en: &'static str,
    /// `null` only for what is not measured.
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    /// Percent, one decimal; `null` when the denominator is 0 or the indicator is not measured.
    pub value: Option<f64>,
    pub formula_vi: &'static str,
    pub formula_en: &'static str,
    pub points: Points,
    /// `min(1, value / full_marks_at) × group_weight`, two decimals: only where the notes give
    /// the indicator both its weight and its threshold, and the value is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_measured_reason: Option<&'static str>,
    /// An approximation or limit of the measure (in English; `note_vi` in Vietnamese).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// The same note in Vietnamese (ghi chú), shown on Vietnamese pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note_vi: Option<&'static str>,
    /// Satisfaction only: whether complaints are in the formula.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaints_counted: Option<bool>,
    /// Satisfaction only: the dossiers finished in the period that were complained about
    /// (subtracted as a rate), and the applicants' ratings given in the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaints: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratings: Option<Ratings>,
}

/// How many applicants rated each level ([`crate::feedback::Level`]) in the period, by the
/// agency of the rated dossier. Shown beside the satisfaction indicator; not part of its
/// Decision 766 formula.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Ratings {
    pub rat_hai_long: i64,
    pub hai_long: i64,
    pub khong_hai_long: i64,
    pub total: i64,
}

/// The indicators of one agency, or of the total (`agency_code` null).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgencyIndicators {
    pub agency_code: Option<String>,
    pub agency_name: String,
    pub indicators: Vec<Indicator>,
}

impl AgencyIndicators {
    /// The indicator with this key.
    pub fn get(&self, key: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.key == key)
    }
}

/// The report: the period, each agency with dossiers in it (or named in the filter), the total.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// First day (local), included.
    pub from: String,
    /// Last day (local), excluded.
    pub to: String,
    /// `province` (every agency) or `agencies` (the listed ones).
    pub scope: &'static str,
    pub agencies: Vec<AgencyIndicators>,
    pub total: AgencyIndicators,
}

/// Raw counts of one agency (or the total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Finished (status 9 or 10) with `finished_at` in the period.
    pub finished: i64,
    /// …of which on time (local finished date ≤ due date, at most one supplement request).
    pub on_time: i64,
    /// …of which with a complaint (kiến nghị about the dossier, not rejected).
    pub complained: i64,
    /// Received (`submitted_at` in the period).
    pub received: i64,
    /// …of which online (channel 2).
    pub online: i64,
    /// …of which with a fee.
    pub with_fee: i64,
    /// …of which with the fee paid, online.
    pub paid_online: i64,
    /// Returned (status 10) with `returned_at` in the period.
    pub returned: i64,
    /// …of which with an electronic result issued and not revoked ([`crate::results`]).
    pub electronic: i64,
    /// …of which also with digitised components: filed online (the e-form and the required
    /// scans are electronic by construction) or with scans attached at the counter.
    pub digitised: i64,
    /// Active procedures offered (by this agency), and those fully online.
    pub procedures: i64,
    pub procedures_full: i64,
    /// Ratings given in the period, by level.
    pub rated_very: i64,
    pub rated_satisfied: i64,
    pub rated_unsatisfied: i64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.finished += o.finished;
        self.on_time += o.on_time;
        self.complained += o.complained;
        self.rated_very += o.rated_very;
        self.rated_satisfied += o.rated_satisfied;
        self.rated_unsatisfied += o.rated_unsatisfied;
        self.received += o.received;
        self.online += o.online;
        self.with_fee += o.with_fee;
        self.paid_online += o.paid_online;
        self.returned += o.returned;
        self.electronic += o.electronic;
        self.digitised += o.digitised;
        // Procedures are not additive (communes share theirs): the total sets them itself.
    }
}

/// Percent with one decimal; `None` for an empty denominator.
pub fn percent(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| ((num as f64) * 1000.0 / den as f64).round() / 10.0)
}

fn score(value: Option<f64>, threshold: f64, weight: u32) -> Option<f64> {
    value.map(|v| ((v / threshold).min(1.0) * f64::from(weight) * 100.0).round() / 100.0)
}

/// The indicators from raw counts.
pub fn indicators(c: &Counts) -> Vec<Indicator> {
    let on_time = percent(c.on_time, c.finished);
    let late = c.finished - c.on_time;
    // 100% − (late rate + complaint rate), as Decision 766 writes it: a late dossier that was
    // also complained about counts in both rates; never below 0%.
    let unsatisfied = (late + c.complained).min(c.finished);
    let satisfied = c.finished - unsatisfied;
    let satisfaction = (c.finished > 0).then(|| {
        ((100.0 - (unsatisfied as f64) * 100.0 / c.finished as f64) * 10.0).round() / 10.0
    });
    let online_share = percent(c.online, c.received);
    let full_share = percent(c.procedures_full, c.procedures);
    vec![
        Indicator {
            key: "on_time",
            name_vi: "Tỷ lệ hồ sơ giải quyết đúng hạn",
            name_en: "Dossiers settled on time",
            numerator: Some(c.on_time),
            denominator: Some(c.finished),
            value: on_time,
            formula_vi: "Số hồ sơ đã giải quyết xong (trạng thái 9, 10) trong kỳ có ngày xong ≤ ngày hẹn trả (đã trừ thời gian chờ bổ sung) và yêu cầu bổ sung không quá 1 lần / tổng số hồ sơ đã giải quyết xong trong kỳ",
            formula_en: "Dossiers finished (status 9, 10) in the period whose finishing date is on or before the promised date (supplement pauses excluded) with at most one supplement request / all dossiers finished in the period",
            points: Points { group: "progress", group_weight: 20, full_marks_at: None },
            score: None,
            not_measured_reason: None,
            note: Some("More than one supplement request counts as late. The notes give no threshold for this indicator: no score."),
            note_vi: Some("Hồ sơ bị yêu cầu bổ sung quá một lần được tính là trễ hạn. Tài liệu hướng dẫn không nêu ngưỡng cho chỉ số này: không tính điểm."),
            complaints_counted: None,
            complaints: None,
            ratings: None,
        },
        Indicator {
            key: "online",
            name_vi: "Tỷ lệ hồ sơ trực tuyến",
            name_en: "Online dossiers",
            numerator: Some(c.online),
            denominator: Some(c.received),
            value: online_share,
            formula_vi: "Số hồ sơ tiếp nhận trực tuyến (kênh 2) trong kỳ / tổng số hồ sơ tiếp nhận trong kỳ",
            formula_en: "Dossiers received online (channel 2) in the period / all dossiers received in the period",
            points: Points { group: "online", group_weight: 12, full_marks_at: Some(50.0) },
            score: None,
            not_measured_reason: None,
            note: Some("The notes give 12 points to the online group as a whole, not how they split between the online rate and the share of procedures offered online: no score."),
            note_vi: Some("Tài liệu hướng dẫn cho cả nhóm trực tuyến 12 điểm, không nêu cách chia giữa tỷ lệ hồ sơ trực tuyến và tỷ lệ thủ tục cung cấp trực tuyến: không tính điểm."),
            complaints_counted: None,
            complaints: None,
            ratings: None,
        },
        Indicator {
            key: "fully_online_procedures",
            name_vi: "Tỷ lệ thủ tục cung cấp dịch vụ công trực tuyến toàn trình",
            name_en: "Procedures offered fully online",
            numerator: Some(c.procedures_full),
            denominator: Some(c.procedures),
            value: full_share,
            formula_vi: "Số thủ tục đang áp dụng có mức độ trực tuyến toàn trình / tổng số thủ tục đang áp dụng (theo danh mục hiện hành, không phụ thuộc kỳ)",
            formula_en: "Active procedures offered fully online (toan_trinh) / all active procedures (current catalogue, independent of the period)",
            points: Points { group: "online", group_weight: 12, full_marks_at: Some(80.0) },
            score: None,
            not_measured_reason: None,
            note: Some("An agency's procedures: commune-level ones for each commune People's Committee, the others for the agency the catalogue names. The 12 online points are not split by the notes: no score."),
            note_vi: Some("Thủ tục của một cơ quan: thủ tục cấp xã tính cho từng Ủy ban nhân dân cấp xã, các thủ tục khác tính cho cơ quan ghi trong danh mục. Tài liệu hướng dẫn không chia 12 điểm của nhóm trực tuyến: không tính điểm."),
            complaints_counted: None,
            complaints: None,
            ratings: None,
        },
        Indicator {
            key: "online_payment",
            name_vi: "Tỷ lệ thanh toán trực tuyến",
            name_en: "Fees paid online",
            numerator: Some(c.paid_online),
            denominator: Some(c.with_fee),
            value: percent(c.paid_online, c.with_fee),
            formula_vi: "Số hồ sơ tiếp nhận trong kỳ có phí, lệ phí > 0 đã nộp đủ và nộp trực tuyến / số hồ sơ tiếp nhận trong kỳ có phí, lệ phí > 0",
            formula_en: "Dossiers received in the period with a non-zero fee that was paid in full online / dossiers received in the period with a non-zero fee",
            points: Points { group: "online_payment", group_weight: 10, full_marks_at: None },
            score: None,
            not_measured_reason: None,
            note: Some("Approximation until the payment module records the payment channel: a fee counts as paid online when it is paid in full (paid ≥ fee) on a dossier filed online (channel 2)."),
            note_vi: Some("Tạm tính cho đến khi phân hệ thanh toán ghi nhận kênh thanh toán: một khoản phí được coi là thanh toán trực tuyến khi đã nộp đủ (số đã nộp ≥ phí) trên hồ sơ nộp trực tuyến (kênh 2)."),
            complaints_counted: None,
            complaints: None,
            ratings: None,
        },
        Indicator {
            key: "electronic_result",
            name_vi: "Tỷ lệ hồ sơ trả kết quả điện tử",
            name_en: "Electronic results",
            numerator: Some(c.electronic),
            denominator: Some(c.returned),
            value: percent(c.electronic, c.returned),
            formula_vi: "Số hồ sơ đã trả kết quả (trạng thái 10) trong kỳ mà phiên bản thủ tục có kết quả điện tử / tổng số hồ sơ đã trả kết quả trong kỳ",
            formula_en: "Dossiers whose result was returned (status 10) in the period with a signed electronic result issued and not revoked / all dossiers whose result was returned in the period",
            points: Points { group: "digitisation", group_weight: 22, full_marks_at: None },
            score: None,
            not_measured_reason: None,
            note: Some("Counts the results actually issued and signed (table dossier_results), not what the procedure promises."),
            note_vi: Some("Đếm các kết quả thực tế đã ban hành và ký số (bảng dossier_results), không phải kết quả mà thủ tục cam kết."),
            complaints_counted: None,
            complaints: None,
            ratings: None,
        },
        Indicator {
            key: "digitisation",
            name_vi: "Tỷ lệ số hoá hồ sơ, kết quả giải quyết",
            name_en: "Digitised dossiers and results",
            numerator: Some(c.digitised),
            denominator: Some(c.returned),
            value: percent(c.digitised, c.returned),
            formula_vi: "Số hồ sơ đã trả kết quả trong kỳ có kết quả điện tử đã ký số và thành phần hồ sơ được số hoá (nộp trực tuyến, hoặc có bản quét đính kèm khi nộp tại quầy) / tổng số hồ sơ đã trả kết quả trong kỳ",
            formula_en: "Dossiers whose result was returned in the period with a signed electronic result and digitised components (filed online, or with scans attached at the counter) / all dossiers whose result was returned in the period",
            points: Points { group: "digitisation", group_weight: 22, full_marks_at: Some(80.0) },
            score: score(percent(c.digitised, c.returned), 80.0, 22),
            not_measured_reason: None,
            note: Some("A counter dossier counts as digitised when at least one scan is attached; that every paper component was scanned is not checked."),
            note_vi: Some("Hồ sơ tiếp nhận tại quầy được coi là đã số hóa khi có ít nhất một bản quét đính kèm; chưa kiểm tra việc mọi thành phần hồ sơ giấy đều đã được quét."),
            complaints_counted: None,
            complaints: None,
            ratings: None,
        },
        Indicator {
            key: "satisfaction",
            name_vi: "Mức độ hài lòng",
            name_en: "Satisfaction",
            numerator: Some(satisfied),
            denominator: Some(c.finished),
            value: satisfaction,
            formula_vi: "100% − (tỷ lệ hồ sơ giải quyết xong trong kỳ bị trễ hạn + tỷ lệ hồ sơ giải quyết xong trong kỳ có kiến nghị của người nộp về hồ sơ, trừ kiến nghị bị từ chối xử lý)",
            formula_en: "100% − (rate of dossiers finished in the period late + rate of dossiers finished in the period with a complaint (kiến nghị) about them, rejected ones excepted)",
            points: Points { group: "satisfaction", group_weight: 18, full_marks_at: Some(90.0) },
            score: score(satisfaction, 90.0, 18),
            not_measured_reason: None,
            note: Some("Numerator: dossiers finished in the period minus the late ones and minus those complained about; a late dossier also complained about counts in both rates, as the formula adds them (never below 0). `ratings` (applicants' ratings given in the period) is shown beside it and is not part of the formula."),
            note_vi: Some("Tử số: hồ sơ giải quyết xong trong kỳ trừ hồ sơ trễ hạn và hồ sơ bị phản ánh, kiến nghị; hồ sơ vừa trễ hạn vừa bị kiến nghị được tính ở cả hai tỷ lệ, đúng như công thức cộng hai tỷ lệ (không nhỏ hơn 0). `ratings` (đánh giá của người nộp hồ sơ trong kỳ) được hiển thị bên cạnh, không thuộc công thức."),
            complaints_counted: Some(true),
            complaints: Some(c.complained),
            ratings: Some(Ratings {
                rat_hai_long: c.rated_very,
                hai_long: c.rated_satisfied,
                khong_hai_long: c.rated_unsatisfied,
                total: c.rated_very + c.rated_satisfied + c.rated_unsatisfied,
            }),
        },
    ]
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// ` AND agency_code IN ($3, …)` for `codes`, placeholders starting at `first`.
fn agency_clause(codes: Option<&[String]>, first: usize) -> String {
    agency_clause_on(codes, first, "agency_code")
}

/// The same restriction on a qualified column (`d.agency_code` in joins): ` AND <column> IN
/// ($first, …)` for the codes, nothing for `None`.
pub fn agency_clause_on(codes: Option<&[String]>, first: usize, column: &str) -> String {
    match codes {
        None => String::new(),
        Some(c) => {
            let marks: Vec<String> = (0..c.len()).map(|i| format!("${}", first + i)).collect();
            format!(" AND {column} IN ({})", marks.join(", "))
        }
    }
}

async fn grouped(
    db: &Db,
    sql: &str,
    from: i64,
    to: i64,
    codes: Option<&[String]>,
) -> Result<Vec<sqlx::any::AnyRow>, AppError> {
    window_rows(db, sql, from, to, codes, None).await
}

/// The rows of `sql` with the window bound to `$1`, `$2` (Unix microseconds), the codes from
/// `$3` on (see [`agency_clause_on`]) and, when given, the limit (1–1000) after them.
pub async fn window_rows(
    db: &Db,
    sql: &str,
    from: i64,
    to: i64,
    codes: Option<&[String]>,
    limit: Option<i64>,
) -> Result<Vec<sqlx::any::AnyRow>, AppError> {
    let mut q = sqlx::query(sql).bind(from).bind(to);
    for c in codes.unwrap_or_default() {
        q = q.bind(c);
    }
    if let Some(l) = limit {
        q = q.bind(l.clamp(1, 1000));
    }
    q.fetch_all(db.pool()).await.map_err(db_err)
}

#[derive(Deserialize)]
struct AgencyOnly {
    agency: AgencyRef,
}

/// The roll-up's name in `rollup_marks` (migration 4007 marks its days).
pub const ROLLUP: &str = "services";

/// The columns of `dossier_day_counts`, in [`Counts`] order.
const DAY_COLUMNS: [&str; 13] = [
    "finished",
    "on_time",
    "complained",
    "received",
    "online",
    "with_fee",
    "paid_online",
    "returned",
    "electronic",
    "digitised",
    "rated_very",
    "rated_satisfied",
    "rated_unsatisfied",
];

impl Counts {
    fn day_values(&self) -> [i64; 13] {
        [
            self.finished,
            self.on_time,
            self.complained,
            self.received,
            self.online,
            self.with_fee,
            self.paid_online,
            self.returned,
            self.electronic,
            self.digitised,
            self.rated_very,
            self.rated_satisfied,
            self.rated_unsatisfied,
        ]
    }

    fn from_day_values(v: [i64; 13]) -> Self {
        Counts {
            finished: v[0],
            on_time: v[1],
            complained: v[2],
            received: v[3],
            online: v[4],
            with_fee: v[5],
            paid_online: v[6],
            returned: v[7],
            electronic: v[8],
            digitised: v[9],
            rated_very: v[10],
            rated_satisfied: v[11],
            rated_unsatisfied: v[12],
            procedures: 0,
            procedures_full: 0,
        }
    }
}

/// Bring the daily roll-up up to date: recompute every (agency, day) a change marked since the
/// last refresh (see [`tinhso_store::rollup`]). Returns the days stored. [`counts`] calls it
/// first; `tinhso serve` also runs it every minute so readers seldom wait.
pub async fn refresh_rollup(db: &Db) -> Result<usize, AppError> {
    let marks = tinhso_store::rollup::pending(db, ROLLUP).await?;
    let mut stored = 0;
    for (first, last, marks) in tinhso_store::rollup::runs(marks, 7) {
        let agencies: BTreeSet<&str> = marks.iter().map(|m| m.scope.as_str()).collect();
        // A few agencies: only theirs; many: the whole province (one pass, no long IN list).
        let codes: Option<Vec<String>> =
            (agencies.len() <= 20).then(|| agencies.iter().map(|a| a.to_string()).collect());
        let lo = first * DAY_MICROS - VN_OFFSET_MICROS;
        let hi = (last + 1) * DAY_MICROS - VN_OFFSET_MICROS;
        let fresh = grouped_counts(db, lo, hi, codes.as_deref(), true).await?;
        let mut tx = db.begin_write().await?;
        for m in &marks {
            if !tinhso_store::rollup::claim(&mut tx, ROLLUP, m).await? {
                continue;
            }
            sqlx::query("DELETE FROM dossier_day_counts WHERE agency_code = $1 AND day = $2")
                .bind(&m.scope)
                .bind(m.day)
                .execute(tx.conn())
                .await
                .map_err(db_err)?;
            if let Some(c) = fresh.get(&(m.scope.clone(), m.day)) {
                let marks: Vec<String> = (3..3 + DAY_COLUMNS.len())
                    .map(|i| format!("${i}"))
                    .collect();
                let sql = format!(
                    "INSERT INTO dossier_day_counts (agency_code, day, {}) VALUES ($1, $2, {})",
                    DAY_COLUMNS.join(", "),
                    marks.join(", ")
                );
                let mut q = sqlx::query(&sql).bind(&m.scope).bind(m.day);
                for v in c.day_values() {
                    q = q.bind(v);
                }
                q.execute(tx.conn()).await.map_err(db_err)?;
            }
            stored += 1;
        }
        tx.commit().await?;
    }
    Ok(stored)
}

/// Count, per agency, over local dates `[from, to)`: the daily roll-up brought up to date
/// ([`refresh_rollup`]) and summed — the same numbers as [`counts_from_dossiers`], read from
/// at most one row per agency and day.
pub async fn counts(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    codes: Option<&[String]>,
) -> Result<BTreeMap<String, Counts>, AppError> {
    counts_windows(db, &[(from, to)], codes)
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("counts: no window"))
}

/// [`counts`] for several windows `[from, to)` at once, in the order given: the roll-up is
/// brought up to date once and summed by one statement over the disjoint pieces of the windows
/// ([`tinhso_store::rollup::Segments`]: a year, its quarters, a month and a day overlap, and
/// each roll-up row is read once, not once per window containing it); each window then adds up
/// its pieces. A screen's year, quarters, month and day cost two round trips.
pub async fn counts_windows(
    db: &Db,
    windows: &[(NaiveDate, NaiveDate)],
    codes: Option<&[String]>,
) -> Result<Vec<BTreeMap<String, Counts>>, AppError> {
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    refresh_rollup(db).await?;
    let day = |d: NaiveDate| tinhso_store::rollup::day_of(local_midnight_micros(d));
    let days: Vec<(i64, i64)> = windows.iter().map(|(f, t)| (day(*f), day(*t))).collect();
    let pieces = tinhso_store::rollup::Segments::of(&days);
    let mut per_piece = vec![BTreeMap::<String, Counts>::new(); pieces.bounds.len()];
    if !pieces.bounds.is_empty() {
        let sums: Vec<String> = DAY_COLUMNS
            .iter()
            .map(|c| format!("CAST(SUM(c.{c}) AS BIGINT)"))
            .collect();
        let sql = format!(
            "SELECT w.i, c.agency_code, {} FROM ({}) w JOIN dossier_day_counts c \
             ON c.day >= w.lo AND c.day < w.hi WHERE 1 = 1{} GROUP BY w.i, c.agency_code",
            sums.join(", "),
            pieces.sql(1),
            agency_clause_on(codes, 1 + 2 * pieces.bounds.len(), "c.agency_code")
        );
        let mut q = sqlx::query(&sql);
        for (lo, hi) in &pieces.bounds {
            q = q.bind(*lo).bind(*hi);
        }
        for c in codes.unwrap_or_default() {
            q = q.bind(c);
        }
        for r in q.fetch_all(db.pool()).await.map_err(db_err)? {
            let i: i64 = r.try_get(0).map_err(db_err)?;
            let mut v = [0i64; 13];
            for (k, slot) in v.iter_mut().enumerate() {
                *slot = r.try_get(k + 2).map_err(db_err)?;
            }
            let slot = usize::try_from(i)
                .ok()
                .and_then(|i| per_piece.get_mut(i))
                .ok_or_else(|| AppError::internal(format!("counts: piece {i}")))?;
            slot.insert(r.try_get(1).map_err(db_err)?, Counts::from_day_values(v));
        }
    }
    Ok(pieces.fold(
        &per_piece,
        |window: &mut BTreeMap<String, Counts>, piece| {
            for (agency, c) in piece {
                *window.entry(agency.clone()).or_default() += *c;
            }
        },
    ))
}

/// Count, per agency, from the dossiers of `[from, to)` (local dates), straight from the raw
/// rows (every dossier of the window is read). [`counts`] gives the same numbers from the daily
/// roll-up.
pub async fn counts_from_dossiers(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    codes: Option<&[String]>,
) -> Result<BTreeMap<String, Counts>, AppError> {
    let (lo, hi) = (local_midnight_micros(from), local_midnight_micros(to));
    Ok(grouped_counts(db, lo, hi, codes, false)
        .await?
        .into_iter()
        .map(|((agency, _), c)| (agency, c))
        .collect())
}

/// The raw counts of `[lo, hi)` (Unix microseconds) per agency and, with `by_day`, per local
/// day of each counter's own date ([`tinhso_store::rollup::day_of`]); without, the day is 0.
async fn grouped_counts(
    db: &Db,
    lo: i64,
    hi: i64,
    codes: Option<&[String]>,
    by_day: bool,
) -> Result<BTreeMap<(String, i64), Counts>, AppError> {
    let day = |column: &str| {
        if by_day {
            tinhso_store::rollup::day_sql(column)
        } else {
            "CAST(0 AS BIGINT)".to_string()
        }
    };
    let key = |r: &sqlx::any::AnyRow| -> Result<(String, i64), AppError> {
        Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?))
    };
    let filter = agency_clause(codes, 3);
    let mut out: BTreeMap<(String, i64), Counts> = BTreeMap::new();

    // Finished: on time and satisfaction.
    let sql = format!(
        "SELECT agency_code, {dd}, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN supplement_count <= 1 AND {due_col} IS NOT NULL AND LENGTH({due_col}) = 10 \
         AND {fin} <= {due} THEN 1 ELSE 0 END) AS BIGINT) \
         FROM dossiers WHERE status IN (9, 10) AND finished_at >= $1 AND finished_at < $2{filter} \
         GROUP BY agency_code, {dd}",
        dd = day("finished_at"),
        fin = finished_day_sql(),
        due = due_day_sql(),
        due_col = MEASURED_DUE,
    );
    for r in grouped(db, &sql, lo, hi, codes).await? {
        let c = out.entry(key(&r)?).or_default();
        c.finished = r.try_get(2).map_err(db_err)?;
        c.on_time = r.try_get(3).map_err(db_err)?;
    }

    // Complained about: driven by the (small) complaints table, joined to the dossiers it
    // names, so the million-row scan above stays on its covering index.
    let filter_d = agency_clause_on(codes, 3, "d.agency_code");
    let dd = day("d.finished_at");
    let sql = format!(
        "SELECT d.agency_code, {dd}, CAST(COUNT(DISTINCT d.code) AS BIGINT) FROM feedback f \
         JOIN dossiers d ON d.code = f.dossier_code \
         WHERE f.kind = 'kien_nghi' AND f.status <> 'rejected' AND d.status IN (9, 10) \
         AND d.finished_at >= $1 AND d.finished_at < $2{filter_d} GROUP BY d.agency_code, {dd}"
    );
    for r in grouped(db, &sql, lo, hi, codes).await? {
        let c = out.entry(key(&r)?).or_default();
        c.complained = r.try_get(2).map_err(db_err)?;
    }

    // Ratings given in the period, by the rated dossier's agency and level.
    let dd = day("rated_at");
    let sql = format!(
        "SELECT agency_code, {dd}, level, CAST(COUNT(*) AS BIGINT) FROM dossier_ratings \
         WHERE rated_at >= $1 AND rated_at < $2{filter} GROUP BY agency_code, {dd}, level"
    );
    for r in grouped(db, &sql, lo, hi, codes).await? {
        let c = out.entry(key(&r)?).or_default();
        let level: i64 = r.try_get(2).map_err(db_err)?;
        let n: i64 = r.try_get(3).map_err(db_err)?;
        match crate::feedback::Level::from_code(level) {
            Some(crate::feedback::Level::RatHaiLong) => c.rated_very += n,
            Some(crate::feedback::Level::HaiLong) => c.rated_satisfied += n,
            Some(crate::feedback::Level::KhongHaiLong) => c.rated_unsatisfied += n,
            None => {}
        }
    }

    // Received: online and online payment.
    let dd = day("submitted_at");
    let sql = format!(
        "SELECT agency_code, {dd}, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN channel = 2 THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN fee_vnd > 0 THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN fee_vnd > 0 AND paid_vnd >= fee_vnd AND channel = 2 THEN 1 ELSE 0 END) AS BIGINT) \
         FROM dossiers WHERE submitted_at >= $1 AND submitted_at < $2{filter} GROUP BY agency_code, {dd}"
    );
    for r in grouped(db, &sql, lo, hi, codes).await? {
        let c = out.entry(key(&r)?).or_default();
        c.received = r.try_get(2).map_err(db_err)?;
        c.online = r.try_get(3).map_err(db_err)?;
        c.with_fee = r.try_get(4).map_err(db_err)?;
        c.paid_online = r.try_get(5).map_err(db_err)?;
    }

    // Returned in the period (covering index), then those of them with an electronic result
    // issued and not revoked, driven by the results table, and of those the digitised ones.
    let dd = day("returned_at");
    let sql = format!(
        "SELECT agency_code, {dd}, CAST(COUNT(*) AS BIGINT) FROM dossiers \
         WHERE status = 10 AND returned_at >= $1 AND returned_at < $2{filter} GROUP BY agency_code, {dd}"
    );
    for r in grouped(db, &sql, lo, hi, codes).await? {
        let c = out.entry(key(&r)?).or_default();
        c.returned = r.try_get(2).map_err(db_err)?;
    }
    let dd = day("d.returned_at");
    let sql = format!(
        "SELECT d.agency_code, {dd}, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN d.channel = 2 OR EXISTS \
         (SELECT 1 FROM dossier_files f WHERE f.dossier_code = d.code) THEN 1 ELSE 0 END) AS BIGINT) \
         FROM dossier_results r JOIN dossiers d ON d.code = r.dossier_code \
         WHERE r.revoked_at IS NULL AND d.status = 10 AND d.returned_at >= $1 AND d.returned_at < $2{filter_d} \
         GROUP BY d.agency_code, {dd}"
    );
    for r in grouped(db, &sql, lo, hi, codes).await? {
        let c = out.entry(key(&r)?).or_default();
        c.electronic = r.try_get(2).map_err(db_err)?;
        c.digitised = r.try_get(3).map_err(db_err)?;
    }
    Ok(out)
}

/// Active procedures: (code, fully online, handling agency).
async fn active_procedures(db: &Db) -> Result<Vec<(String, bool, AgencyRef)>, AppError> {
    let rows = sqlx::query(
        "SELECT p.code, p.online_level, p.definition FROM procedure_current c \
         JOIN procedures p ON p.code = c.code AND p.version = c.version WHERE c.active = 1",
    )
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let def: String = r.try_get(2).map_err(db_err)?;
            let a = serde_json::from_str::<AgencyOnly>(&def)
                .map_err(|e| AppError::internal(format!("stored procedure: {e}")))?;
            let level: String = r.try_get(1).map_err(db_err)?;
            Ok((
                r.try_get(0).map_err(db_err)?,
                level == "toan_trinh",
                a.agency,
            ))
        })
        .collect()
}

fn offers(p: &AgencyRef, a: &agencies::Agency) -> bool {
    if p.kind.as_deref() == Some("ubnd_xa") {
        a.kind == "ubnd_xa"
    } else {
        p.name.as_deref() == Some(a.name.as_str())
    }
}

/// The report for `[from, to)` (local dates) over `codes` (`None`: the whole province).
pub async fn report(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    codes: Option<&[String]>,
) -> Result<Report, AppError> {
    reports(db, &[(from, to)], codes)
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("report: no window"))
}

/// [`report`] for several windows at once, in the order given: the counts of every window in
/// one statement ([`counts_windows`]), the agencies and the procedure catalogue read once.
pub async fn reports(
    db: &Db,
    windows: &[(NaiveDate, NaiveDate)],
    codes: Option<&[String]>,
) -> Result<Vec<Report>, AppError> {
    let per_window = match codes {
        Some([]) => vec![BTreeMap::new(); windows.len()],
        _ => counts_windows(db, windows, codes).await?,
    };
    let all = agencies::list(
        db,
        &agencies::AgencyFilter {
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await?;
    let procedures = active_procedures(db).await?;
    Ok(windows
        .iter()
        .zip(per_window)
        .map(|(&(from, to), per_agency)| assemble(from, to, codes, &per_agency, &all, &procedures))
        .collect())
}

/// One window's report from its counts per agency, the agency list and the active procedures.
fn assemble(
    from: NaiveDate,
    to: NaiveDate,
    codes: Option<&[String]>,
    per_agency: &BTreeMap<String, Counts>,
    all: &[agencies::Agency],
    procedures: &[(String, bool, AgencyRef)],
) -> Report {
    let by_code: HashMap<&str, &agencies::Agency> =
        all.iter().map(|a| (a.code.as_str(), a)).collect();
    // Listed: agencies with dossiers in the period, and every agency named in the filter.
    let mut listed: BTreeSet<String> = per_agency.keys().cloned().collect();
    listed.extend(codes.unwrap_or_default().iter().cloned());
    let mut offered_total: BTreeSet<&str> = BTreeSet::new();
    let mut total = Counts::default();
    let mut rows = Vec::new();
    for code in &listed {
        let mut c = per_agency.get(code).copied().unwrap_or_default();
        let agency = by_code.get(code.as_str());
        if let Some(a) = agency {
            for (pcode, full, p) in procedures {
                if offers(p, a) {
                    c.procedures += 1;
                    c.procedures_full += i64::from(*full);
                    offered_total.insert(pcode.as_str());
                }
            }
        }
        total += c;
        rows.push(AgencyIndicators {
            agency_code: Some(code.clone()),
            agency_name: agency.map(|a| a.name.clone()).unwrap_or_default(),
            indicators: indicators(&c),
        });
    }
    let fully: HashMap<&str, bool> = procedures
        .iter()
        .map(|(c, f, _)| (c.as_str(), *f))
        .collect();
    match codes {
        None => {
            total.procedures = procedures.len() as i64;
            total.procedures_full = procedures.iter().filter(|p| p.1).count() as i64;
        }
        Some(_) => {
            total.procedures = offered_total.len() as i64;
            total.procedures_full = offered_total
                .iter()
                .filter(|c| fully.get(*c).copied().unwrap_or(false))
                .count() as i64;
        }
    }
    Report {
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        scope: if codes.is_none() {
            "province"
        } else {
            "agencies"
        },
        agencies: rows,
        total: AgencyIndicators {
            agency_code: None,
            agency_name: if codes.is_none() {
                "Toàn tỉnh".into()
            } else {
                "Tổng các cơ quan đã chọn".into()
            },
            indicators: indicators(&total),
        },
    }
}

/// A dossier behind an indicator's number (the drill-down of the leaders' operations centre).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Record {
    pub code: String,
    pub agency_code: String,
    pub procedure_code: String,
    /// When it entered the denominator: finished (`on_time`), received (`online`,
    /// `online_payment`) or returned (`electronic_result`), Unix microseconds.
    pub at: i64,
    /// Whether it is also in the numerator.
    pub counted: bool,
}

/// The dossiers in the denominator of indicator `key` over `[from, to)` (local dates) and
/// `codes`, newest first, at most `limit`, each marked when it is in the numerator — the same
/// conditions as [`counts`]. `None` for an indicator without a dossier list
/// (`fully_online_procedures` counts procedures; `satisfaction` is not listed).
pub async fn records(
    db: &Db,
    key: &str,
    from: NaiveDate,
    to: NaiveDate,
    codes: Option<&[String]>,
    limit: i64,
) -> Result<Option<Vec<Record>>, AppError> {
    let (lo, hi) = (local_midnight_micros(from), local_midnight_micros(to));
    let filter = agency_clause(codes, 3);
    let n = codes.map_or(0, <[String]>::len);
    let (at, counted, set) = match key {
        "on_time" => (
            "finished_at",
            format!(
                "supplement_count <= 1 AND {MEASURED_DUE} IS NOT NULL AND LENGTH({MEASURED_DUE}) = 10 AND {} <= {}",
                finished_day_sql(),
                due_day_sql()
            ),
            "status IN (9, 10) AND finished_at >= $1 AND finished_at < $2",
        ),
        "online" => (
            "submitted_at",
            "channel = 2".to_string(),
            "submitted_at >= $1 AND submitted_at < $2",
        ),
        "online_payment" => (
            "submitted_at",
            "paid_vnd >= fee_vnd AND channel = 2".to_string(),
            "fee_vnd > 0 AND submitted_at >= $1 AND submitted_at < $2",
        ),
        "electronic_result" => (
            "returned_at",
            "EXISTS (SELECT 1 FROM dossier_results r WHERE r.dossier_code = dossiers.code \
             AND r.revoked_at IS NULL)"
                .to_string(),
            "status = 10 AND returned_at >= $1 AND returned_at < $2",
        ),
        _ => return Ok(None),
    };
    let sql = format!(
        "SELECT code, agency_code, procedure_code, {at}, \
         CAST(CASE WHEN {counted} THEN 1 ELSE 0 END AS BIGINT) FROM dossiers \
         WHERE {set}{filter} ORDER BY {at} DESC, code DESC LIMIT ${}",
        3 + n
    );
    let rows = window_rows(db, &sql, lo, hi, codes, Some(limit)).await?;
    rows.iter()
        .map(|r| {
            Ok(Record {
                code: r.try_get(0).map_err(db_err)?,
                agency_code: r.try_get(1).map_err(db_err)?,
                procedure_code: r.try_get(2).map_err(db_err)?,
                at: r.try_get(3).map_err(db_err)?,
                counted: r.try_get::<i64, _>(4).map_err(db_err)? == 1,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()
        .map(Some)
}

/// Open dossiers past their promised date on `today` (submitted, accepted, in progress, waiting
/// for the fee: statuses 1, 2, 4, 6; a supplement request stops the clock), as
/// [`crate::dossier::DossierFilter::overdue`] lists them.
pub async fn overdue_open(db: &Db, today: NaiveDate) -> Result<i64, AppError> {
    sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM dossiers WHERE due_date < $1 AND status IN (1, 2, 4, 6)",
    )
    .bind(today.format("%Y-%m-%d").to_string())
    .fetch_one(db.pool())
    .await
    .map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_note_has_its_vietnamese() {
        let all = indicators(&Counts::default());
        assert!(all.iter().filter(|i| i.note.is_some()).count() >= 7);
        for i in &all {
            assert_eq!(i.note.is_some(), i.note_vi.is_some(), "{}", i.key);
            if let (Some(en), Some(vi)) = (i.note, i.note_vi) {
                assert_ne!(en, vi, "{}", i.key);
                assert_eq!(tinhso_kernel::text::nfc(vi), vi, "{}: NFC", i.key);
                // Full diacritics: Vietnamese letters outside ASCII are there.
                assert!(
                    vi.chars()
                        .any(|c| "ăâđêôơưàáảãạếềệốồộớờợứừựíìịóòọúùụ".contains(c)),
                    "{}",
                    i.key
                );
            }
        }
    }

    #[test]
    fn civil_day_counts_days() {
        let epoch = NaiveDate::default();
        let mut d = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2102, 3, 1).unwrap();
        while d < end {
            assert_eq!(
                civil_day(d) - civil_day(epoch),
                (d - epoch).num_days(),
                "{d}"
            );
            d = d.succ_opt().unwrap();
        }
    }

    #[test]
    fn percent_rounds_to_one_decimal() {
        assert_eq!(percent(1, 3), Some(33.3));
        assert_eq!(percent(2, 3), Some(66.7));
        assert_eq!(percent(0, 0), None);
        assert_eq!(percent(5, 5), Some(100.0));
    }

    #[test]
    fn satisfaction_scores_against_ninety() {
        let c = Counts {
            finished: 4,
            on_time: 3,
            ..Default::default()
        };
        let s = indicators(&c);
        let sat = s.iter().find(|i| i.key == "satisfaction").unwrap();
        assert_eq!(sat.value, Some(75.0));
        assert_eq!(sat.score, Some(15.0));
        let dig = s.iter().find(|i| i.key == "digitisation").unwrap();
        // Nothing returned: no rate, and no score made up from nothing.
        assert_eq!((dig.value, dig.score), (None, None));
    }

    #[test]
    fn complaints_lower_satisfaction() {
        let sat = |c: &Counts| {
            indicators(c)
                .into_iter()
                .find(|i| i.key == "satisfaction")
                .unwrap()
        };
        // 10 finished, 1 late: 90%; one complaint about an on-time dossier: 80%.
        let mut c = Counts {
            finished: 10,
            on_time: 9,
            ..Default::default()
        };
        assert_eq!(sat(&c).value, Some(90.0));
        c.complained = 1;
        let s = sat(&c);
        assert_eq!(
            (s.numerator, s.denominator, s.value),
            (Some(8), Some(10), Some(80.0))
        );
        assert_eq!(s.complaints_counted, Some(true));
        assert_eq!(s.complaints, Some(1));
        assert_eq!(s.score, Some(16.0));
        // The rates add up and never go below 0%.
        c.on_time = 0;
        c.complained = 10;
        assert_eq!(sat(&c).value, Some(0.0));
        // Ratings are carried beside it.
        c.rated_very = 2;
        c.rated_unsatisfied = 1;
        let r = sat(&c).ratings.unwrap();
        assert_eq!(
            (r.rat_hai_long, r.hai_long, r.khong_hai_long, r.total),
            (2, 0, 1, 3)
        );
    }

    #[test]
    fn bad_periods_are_field_errors() {
        let e = parse_period(Some("2026-13-01"), Some("x")).unwrap_err();
        let f: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(f, ["from", "to"]);
        let e = parse_period(Some("2026-02-01"), Some("2026-02-01")).unwrap_err();
        assert_eq!(e.fields[0].field, "to");
        let (f, t) = parse_period(Some("2026-01-01"), Some("2026-02-01")).unwrap();
        assert_eq!((f.month(), t.month()), (1, 2));
    }
}
