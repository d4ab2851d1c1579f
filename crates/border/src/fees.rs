//! The infrastructure fee (phí sử dụng công trình kết cấu hạ tầng, công trình dịch vụ, tiện ích
//! công cộng trong khu vực cửa khẩu) as dated data: Resolution 09/2025/NQ-HĐND from 8 May 2025.
//!
//! Each resolution is one file in `data/fees/` (a [`Schedule`]: `effective_from`, optional
//! `effective_to`, sources); [`schedule_on`] picks the one in force on a day and [`quote`]
//! prices one vehicle trip (lượt xe): the rate row for the table the journey uses (ordinary or
//! temporary-import goods), the goods' rate group and the vehicle class, then the goods
//! category's coefficient (hệ số, ore ×5) and the journey's percentage (inland delivery 130 %,
//! wharf transfer 30 %). A mixed load pays the highest rate. The collector (đơn vị thu) keeps
//! its share (10 %), the rest goes to the budget (ngân sách).
//!
//! Only some figures could be confirmed from public reports of the resolution; the others are
//! placeholders marked `confirmed = false` in the data ("to be confirmed against the
//! resolution's text") and every [`FeeQuote`] says whether all the figures it used are
//! confirmed.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use tinhso_kernel::money::Vnd;
use tinhso_kernel::{AppError, FieldErrors, Invalid};

/// The schedules shipped with the crate, one file per resolution.
pub const SCHEDULE_FILES: &[(&str, &str)] = &[(
    "data/fees/2025-05-08-nq09-2025.toml",
    include_str!("../data/fees/2025-05-08-nq09-2025.toml"),
)];

/// Basis points in one whole (×1 = 100 % = 10 000 bp).
const WHOLE_BP: i64 = 10_000;

/// What kind of vehicle (loại phương tiện) decides its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleKind {
    /// Xe tải: classed by rated payload (tải trọng).
    Truck,
    /// Xe đầu kéo không kéo rơ moóc.
    Tractor,
    /// Xe chở container 20 feet.
    #[serde(rename = "container_20")]
    Container20,
    /// Xe chở container 40 feet.
    #[serde(rename = "container_40")]
    Container40,
}

impl VehicleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleKind::Truck => "truck",
            VehicleKind::Tractor => "tractor",
            VehicleKind::Container20 => "container_20",
            VehicleKind::Container40 => "container_40",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            VehicleKind::Truck,
            VehicleKind::Tractor,
            VehicleKind::Container20,
            VehicleKind::Container40,
        ]
        .into_iter()
        .find(|k| k.as_str() == s.trim())
    }
}

/// A rate table (biểu mức thu).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Table {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
}

/// A rate group within a table (nhóm hàng: nông sản / hàng khác).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
}

/// A vehicle class (loại phương tiện): a payload band `[min_kg, max_kg)` for trucks, or a kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VehicleClass {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub kind: VehicleKind,
    #[serde(default)]
    pub min_kg: Option<i64>,
    #[serde(default)]
    pub max_kg: Option<i64>,
    pub confirmed: bool,
}

/// A goods category (loại hàng) a goods line maps to, priced on a group with a coefficient.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Category {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub group: String,
    /// Hệ số in basis points (50 000 = ×5).
    pub coefficient_bp: i64,
    pub confirmed: bool,
}

/// A journey (hành trình): the table it uses and the percentage of it charged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Journey {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub table: String,
    /// Tỷ lệ thu in basis points (13 000 = 130 %).
    pub percent_bp: i64,
    pub confirmed: bool,
}

/// One rate (mức thu), đồng per vehicle trip.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rate {
    pub table: String,
    pub group: String,
    pub vehicle_class: String,
    pub amount: i64,
    pub confirmed: bool,
}

/// One resolution's fee schedule (biểu phí), in force from `effective_from` to `effective_to`
/// (inclusive; open-ended when absent).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Schedule {
    pub id: String,
    pub title_vi: String,
    pub title_en: String,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub replaces: Option<String>,
    pub source: String,
    pub collector_vi: String,
    /// The collector's share (tỷ lệ để lại) in basis points.
    pub collector_share_bp: i64,
    pub collector_share_confirmed: bool,
    pub tables: Vec<Table>,
    pub groups: Vec<Group>,
    pub vehicle_classes: Vec<VehicleClass>,
    pub categories: Vec<Category>,
    pub journeys: Vec<Journey>,
    pub rates: Vec<Rate>,
}

impl Schedule {
    /// Whether the schedule is in force on `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        date >= self.effective_from && self.effective_to.is_none_or(|to| date <= to)
    }

    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.code == code)
    }

    pub fn journey(&self, code: &str) -> Option<&Journey> {
        self.journeys.iter().find(|j| j.code == code)
    }

    pub fn rate(&self, table: &str, group: &str, class: &str) -> Option<&Rate> {
        self.rates
            .iter()
            .find(|r| r.table == table && r.group == group && r.vehicle_class == class)
    }

    /// The class of a vehicle; None when no class fits (a gap in the bands).
    pub fn vehicle_class(&self, kind: VehicleKind, payload_kg: i64) -> Option<&VehicleClass> {
        self.vehicle_classes.iter().find(|c| {
            c.kind == kind
                && (kind != VehicleKind::Truck
                    || (c.min_kg.is_none_or(|m| payload_kg >= m)
                        && c.max_kg.is_none_or(|m| payload_kg < m)))
        })
    }
}

#[derive(Deserialize)]
struct ScheduleFile {
    id: String,
    title_vi: String,
    title_en: String,
    effective_from: String,
    #[serde(default)]
    effective_to: Option<String>,
    #[serde(default)]
    replaces: Option<String>,
    source: String,
    collector_vi: String,
    collector_share_bp: i64,
    collector_share_confirmed: bool,
    mixed_load: String,
    table: Vec<Table>,
    group: Vec<Group>,
    vehicle_class: Vec<VehicleClass>,
    category: Vec<Category>,
    journey: Vec<Journey>,
    rate: Vec<Rate>,
}

fn date_of(field: &str, s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{field} {s:?} is not YYYY-MM-DD"))
}

fn unique<'a>(what: &str, codes: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for c in codes {
        if c.trim().is_empty() {
            return Err(format!("{what}: empty code"));
        }
        if !seen.insert(c) {
            return Err(format!("{what} {c} appears twice"));
        }
    }
    Ok(())
}

/// Parse and check one schedule file: every error names what is wrong.
pub fn parse(toml_text: &str) -> Result<Schedule, String> {
    let f: ScheduleFile = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    let from = date_of("effective_from", &f.effective_from)?;
    let to = match &f.effective_to {
        Some(s) => Some(date_of("effective_to", s)?),
        None => None,
    };
    if to.is_some_and(|t| t < from) {
        return Err(format!("{}: effective_to is before effective_from", f.id));
    }
    if !(0..=WHOLE_BP).contains(&f.collector_share_bp) {
        return Err(format!("{}: collector_share_bp must be 0..=10000", f.id));
    }
    if f.mixed_load != "highest" {
        return Err(format!(
            "{}: mixed_load {:?} is not supported (only \"highest\")",
            f.id, f.mixed_load
        ));
    }
    unique("table", f.table.iter().map(|t| t.code.as_str()))?;
    unique("group", f.group.iter().map(|t| t.code.as_str()))?;
    unique(
        "vehicle_class",
        f.vehicle_class.iter().map(|t| t.code.as_str()),
    )?;
    unique("category", f.category.iter().map(|t| t.code.as_str()))?;
    unique("journey", f.journey.iter().map(|t| t.code.as_str()))?;
    for c in &f.category {
        if !f.group.iter().any(|g| g.code == c.group) {
            return Err(format!("category {}: unknown group {}", c.code, c.group));
        }
        if c.coefficient_bp <= 0 {
            return Err(format!("category {}: coefficient_bp must be > 0", c.code));
        }
    }
    for j in &f.journey {
        if !f.table.iter().any(|t| t.code == j.table) {
            return Err(format!("journey {}: unknown table {}", j.code, j.table));
        }
        if j.percent_bp <= 0 {
            return Err(format!("journey {}: percent_bp must be > 0", j.code));
        }
    }
    for c in &f.vehicle_class {
        match c.kind {
            VehicleKind::Truck => {
                let lo = c.min_kg.unwrap_or(0);
                if lo < 0 || c.max_kg.is_some_and(|hi| hi <= lo) {
                    return Err(format!("vehicle_class {}: bad payload band", c.code));
                }
            }
            _ => {
                if c.min_kg.is_some() || c.max_kg.is_some() {
                    return Err(format!(
                        "vehicle_class {}: only trucks have a payload band",
                        c.code
                    ));
                }
            }
        }
    }
    // Truck bands: no overlap, no gap, from 0 up to an open end.
    let mut bands: Vec<(i64, Option<i64>)> = f
        .vehicle_class
        .iter()
        .filter(|c| c.kind == VehicleKind::Truck)
        .map(|c| (c.min_kg.unwrap_or(0), c.max_kg))
        .collect();
    bands.sort_by_key(|b| b.0);
    let mut next = 0;
    for (i, (lo, hi)) in bands.iter().enumerate() {
        if *lo != next {
            return Err(format!("truck payload bands: gap or overlap at {next} kg"));
        }
        match hi {
            Some(h) => next = *h,
            None if i + 1 == bands.len() => {}
            None => return Err("truck payload bands: only the last may be open".into()),
        }
    }
    if bands.last().is_some_and(|b| b.1.is_some()) {
        return Err("truck payload bands: the last band must be open-ended".into());
    }
    for r in &f.rate {
        if !f.table.iter().any(|t| t.code == r.table)
            || !f.group.iter().any(|g| g.code == r.group)
            || !f.vehicle_class.iter().any(|c| c.code == r.vehicle_class)
        {
            return Err(format!(
                "rate {}/{}/{}: unknown table, group or vehicle class",
                r.table, r.group, r.vehicle_class
            ));
        }
        if r.amount <= 0 {
            return Err(format!(
                "rate {}/{}/{}: amount must be > 0",
                r.table, r.group, r.vehicle_class
            ));
        }
    }
    for t in &f.table {
        for g in &f.group {
            for c in &f.vehicle_class {
                let n = f
                    .rate
                    .iter()
                    .filter(|r| r.table == t.code && r.group == g.code && r.vehicle_class == c.code)
                    .count();
                if n != 1 {
                    return Err(format!(
                        "rate {}/{}/{}: {n} rows (exactly one needed)",
                        t.code, g.code, c.code
                    ));
                }
            }
        }
    }
    Ok(Schedule {
        id: f.id,
        title_vi: f.title_vi,
        title_en: f.title_en,
        effective_from: from,
        effective_to: to,
        replaces: f.replaces,
        source: f.source,
        collector_vi: f.collector_vi,
        collector_share_bp: f.collector_share_bp,
        collector_share_confirmed: f.collector_share_confirmed,
        tables: f.table,
        groups: f.group,
        vehicle_classes: f.vehicle_class,
        categories: f.category,
        journeys: f.journey,
        rates: f.rate,
    })
}

/// Parse a set of schedule files and check that no two are in force on the same day; sorted
/// by `effective_from`.
pub fn parse_all(files: &[(&str, &str)]) -> Result<Vec<Schedule>, String> {
    let mut out = Vec::new();
    for (name, text) in files {
        out.push(parse(text).map_err(|e| format!("{name}: {e}"))?);
    }
    out.sort_by_key(|s| s.effective_from);
    for w in out.windows(2) {
        match w[0].effective_to {
            Some(to) if to < w[1].effective_from => {}
            _ => {
                return Err(format!(
                    "schedules {} and {} overlap: the earlier needs an effective_to before {}",
                    w[0].id, w[1].id, w[1].effective_from
                ))
            }
        }
    }
    unique("schedule", out.iter().map(|s| s.id.as_str()))?;
    Ok(out)
}

/// Every shipped schedule, oldest first.
pub fn schedules() -> Result<&'static [Schedule], AppError> {
    static ALL: OnceLock<Result<Vec<Schedule>, String>> = OnceLock::new();
    match ALL.get_or_init(|| parse_all(SCHEDULE_FILES)) {
        Ok(v) => Ok(v),
        Err(e) => Err(AppError::internal(format!("fee schedules: {e}"))),
    }
}

/// The schedule in force on `date`; a field error on `date` when none is.
pub fn schedule_on(date: NaiveDate) -> Result<&'static Schedule, AppError> {
    schedule_in(schedules()?, date)
}

/// The schedule of `all` (sorted by `effective_from`, as [`parse_all`] gives them) in force
/// on `date`; a field error on `date` when none is. [`schedule_on`] over the shipped ones.
pub fn schedule_in(all: &[Schedule], date: NaiveDate) -> Result<&Schedule, AppError> {
    all.iter().find(|s| s.covers(date)).ok_or_else(|| {
        let earliest = all
            .first()
            .map(|s| s.effective_from.format("%d/%m/%Y").to_string())
            .unwrap_or_default();
        AppError::field(
            "date",
            Invalid::new(
                "fee_no_schedule",
                format!(
                    "Không có biểu phí hạ tầng cửa khẩu áp dụng cho ngày {} (biểu phí trên hệ thống áp dụng từ ngày {earliest})",
                    date.format("%d/%m/%Y")
                ),
                format!(
                    "No border-gate infrastructure fee schedule is in force on {date} (the platform's schedules start on {earliest})"
                ),
            ),
        )
    })
}

/// The vehicle of a trip, as the fee sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VehicleInput {
    pub kind: VehicleKind,
    /// Rated payload (tải trọng) in kilograms; needed for trucks.
    #[serde(default)]
    pub payload_kg: i64,
}

/// What a fee quote needs: the day of the crossing, the vehicle, the journey (a code of the
/// schedule) and the fee category of every goods line (codes of the schedule, see
/// [`crate::hs::HsEntry::fee_category`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeeInput {
    pub date: NaiveDate,
    pub vehicle: VehicleInput,
    pub journey: String,
    pub categories: Vec<String>,
}

/// A multiplier applied to the rate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Applied {
    /// `category:<code>` or `journey:<code>`.
    pub code: String,
    pub name_vi: String,
    pub basis_points: i64,
    pub confirmed: bool,
}

/// A priced trip (số phí phải nộp).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeeQuote {
    pub schedule_id: String,
    pub schedule_title_vi: String,
    pub vehicle_class: String,
    /// The goods category that decided the fee (the highest, for a mixed load).
    pub category: String,
    pub journey: String,
    /// The rate row used.
    pub rate: Rate,
    /// Coefficient then percentage, in the order applied.
    pub multipliers: Vec<Applied>,
    /// Số tiền phí, đồng.
    pub amount: Vnd,
    /// Phần để lại cho đơn vị thu.
    pub collector_share: Vnd,
    /// Phần nộp ngân sách.
    pub budget_share: Vnd,
    /// Every figure used (rate, class, coefficient, percentage, share) is confirmed.
    pub confirmed: bool,
    pub explanation_vi: String,
    pub explanation_en: String,
}

/// Heaviest payload accepted (tải trọng), kilograms: larger values are typing errors.
pub const MAX_PAYLOAD_KG: i64 = 100_000;

fn apply_bp(amount: Vnd, bp: i64) -> Result<Vnd, AppError> {
    if bp == WHOLE_BP {
        return Ok(amount);
    }
    amount
        .percent(bp)
        .ok_or_else(|| AppError::internal("fee overflow"))
}

/// Price one vehicle trip under the schedule in force on `input.date`.
pub fn quote(input: &FeeInput) -> Result<FeeQuote, AppError> {
    quote_in(schedules()?, input)
}

/// Price one vehicle trip under the schedule of `all` in force on `input.date`.
pub fn quote_in(all: &[Schedule], input: &FeeInput) -> Result<FeeQuote, AppError> {
    quote_with(schedule_in(all, input.date)?, input)
}

/// Price one vehicle trip under a given schedule (every problem reported at once).
pub fn quote_with(s: &Schedule, input: &FeeInput) -> Result<FeeQuote, AppError> {
    let mut errs = FieldErrors::new();
    let journey = s.journey(&input.journey);
    if journey.is_none() {
        let known: Vec<&str> = s.journeys.iter().map(|j| j.code.as_str()).collect();
        errs.push(
            "journey",
            Invalid::new(
                "fee_unknown_journey",
                format!(
                    "Hành trình «{}» không có trong biểu phí; chọn một trong: {}",
                    input.journey,
                    known.join(", ")
                ),
                format!(
                    "Journey {:?} is not in the fee schedule; use one of: {}",
                    input.journey,
                    known.join(", ")
                ),
            ),
        );
    }
    let truck = input.vehicle.kind == VehicleKind::Truck;
    let payload = input.vehicle.payload_kg;
    if truck && payload <= 0 {
        errs.push(
            "vehicle.payload_kg",
            Invalid::new(
                "fee_payload_not_positive",
                "Tải trọng của xe phải lớn hơn 0 kg",
                "The vehicle's payload must be more than 0 kg",
            ),
        );
    } else if !(0..=MAX_PAYLOAD_KG).contains(&payload) {
        errs.push(
            "vehicle.payload_kg",
            Invalid::new(
                "fee_payload_out_of_range",
                format!("Tải trọng {payload} kg không hợp lệ (tối đa {MAX_PAYLOAD_KG} kg)"),
                format!("A payload of {payload} kg is not valid (at most {MAX_PAYLOAD_KG} kg)"),
            ),
        );
    }
    if input.categories.is_empty() {
        errs.push(
            "categories",
            Invalid::new(
                "fee_no_goods",
                "Chưa có dòng hàng nào để tính phí",
                "There are no goods lines to price",
            ),
        );
    }
    let mut cats = Vec::new();
    for (i, code) in input.categories.iter().enumerate() {
        match s.category(code) {
            Some(c) => cats.push(c),
            None => errs.push(
                &format!("categories[{i}]"),
                Invalid::new(
                    "fee_unknown_category",
                    format!("Loại hàng «{code}» không có trong biểu phí"),
                    format!("Goods category {code:?} is not in the fee schedule"),
                ),
            ),
        }
    }
    errs.into_result()?;
    let journey = journey.ok_or_else(|| AppError::internal("journey checked above"))?;
    let class = s
        .vehicle_class(input.vehicle.kind, payload)
        .ok_or_else(|| {
            AppError::field(
                "vehicle.kind",
                Invalid::new(
                    "fee_no_vehicle_class",
                    "Biểu phí không có loại phương tiện phù hợp với xe này",
                    "The fee schedule has no vehicle class for this vehicle",
                ),
            )
        })?;
    // Each category's rate after its coefficient; a mixed load pays the highest.
    let mut best: Option<(Vnd, &Category, &Rate)> = None;
    for c in cats {
        let rate = s
            .rate(&journey.table, &c.group, &class.code)
            .ok_or_else(|| AppError::internal("schedule is missing a rate row"))?;
        let after = apply_bp(Vnd(rate.amount), c.coefficient_bp)?;
        if best.is_none_or(|(b, _, _)| after > b) {
            best = Some((after, c, rate));
        }
    }
    let (after_coefficient, cat, rate) =
        best.ok_or_else(|| AppError::internal("no category after checks"))?;
    let amount = apply_bp(after_coefficient, journey.percent_bp)?;
    let collector_share = amount
        .percent(s.collector_share_bp)
        .ok_or_else(|| AppError::internal("fee overflow"))?;
    let budget_share = amount
        .checked_sub(collector_share)
        .ok_or_else(|| AppError::internal("fee overflow"))?;
    let multipliers = vec![
        Applied {
            code: format!("category:{}", cat.code),
            name_vi: format!("Hệ số loại hàng «{}»", cat.name_vi),
            basis_points: cat.coefficient_bp,
            confirmed: cat.confirmed,
        },
        Applied {
            code: format!("journey:{}", journey.code),
            name_vi: format!("Tỷ lệ thu theo hành trình «{}»", journey.name_vi),
            basis_points: journey.percent_bp,
            confirmed: journey.confirmed,
        },
    ];
    let confirmed = rate.confirmed
        && class.confirmed
        && multipliers.iter().all(|m| m.confirmed)
        && s.collector_share_confirmed;
    let pending_vi = if confirmed {
        ""
    } else {
        " Lưu ý: mức thu này có số liệu chưa được đối chiếu với văn bản Nghị quyết."
    };
    let pending_en = if confirmed {
        ""
    } else {
        " Note: some figures of this fee are not yet confirmed against the resolution's text."
    };
    let explanation_vi = format!(
        "{}, {}, {}: mức thu {}/lượt × hệ số {} × {} = {}; đơn vị thu để lại {}: {}, nộp ngân sách: {} (theo {}).{pending_vi}",
        class.name_vi,
        journey.name_vi.to_lowercase(),
        cat.name_vi.to_lowercase(),
        Vnd(rate.amount),
        ratio_vi(cat.coefficient_bp),
        percent_vi(journey.percent_bp),
        amount,
        percent_vi(s.collector_share_bp),
        collector_share,
        budget_share,
        s.title_vi,
    );
    let explanation_en = format!(
        "{}, {}, {}: rate {} per trip × coefficient {} × {} = {}; the collector keeps {}: {}, to the budget: {} ({}).{pending_en}",
        class.name_en,
        journey.name_en.to_lowercase(),
        cat.name_en.to_lowercase(),
        Vnd(rate.amount),
        ratio_vi(cat.coefficient_bp).replace(',', "."),
        percent_vi(journey.percent_bp).replace(',', "."),
        amount,
        percent_vi(s.collector_share_bp).replace(',', "."),
        collector_share,
        budget_share,
        s.title_en,
    );
    Ok(FeeQuote {
        schedule_id: s.id.clone(),
        schedule_title_vi: s.title_vi.clone(),
        vehicle_class: class.code.clone(),
        category: cat.code.clone(),
        journey: journey.code.clone(),
        rate: rate.clone(),
        multipliers,
        amount,
        collector_share,
        budget_share,
        confirmed,
        explanation_vi,
        explanation_en,
    })
}

/// `13000` → "130 %", `1050` → "10,5 %" (Vietnamese decimal comma).
fn percent_vi(bp: i64) -> String {
    let whole = bp / 100;
    let frac = bp % 100;
    if frac == 0 {
        format!("{whole} %")
    } else {
        format!("{whole},{} %", format!("{frac:02}").trim_end_matches('0'))
    }
}

/// `50000` → "5", `12500` → "1,25".
fn ratio_vi(bp: i64) -> String {
    let whole = bp / WHOLE_BP;
    let frac = bp % WHOLE_BP;
    if frac == 0 {
        format!("{whole}")
    } else {
        format!("{whole},{}", format!("{frac:04}").trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn input(kind: VehicleKind, kg: i64, journey: &str, cats: &[&str]) -> FeeInput {
        FeeInput {
            date: d(2025, 6, 1),
            vehicle: VehicleInput {
                kind,
                payload_kg: kg,
            },
            journey: journey.into(),
            categories: cats.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn fields(e: &AppError) -> Vec<(&str, &str)> {
        e.fields
            .iter()
            .map(|f| (f.field.as_str(), f.code))
            .collect()
    }

    #[test]
    fn shipped_schedules_parse_and_start_on_8_may_2025() {
        let all = schedules().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].effective_from, d(2025, 5, 8));
        assert_eq!(all[0].collector_share_bp, 1000);
        assert_eq!(schedule_on(d(2025, 5, 8)).unwrap().id, "NQ-09-2025-LS");
        assert_eq!(schedule_on(d(2030, 1, 1)).unwrap().id, "NQ-09-2025-LS");
    }

    #[test]
    fn a_trip_before_the_resolution_gets_a_field_error() {
        let e = schedule_on(d(2025, 5, 7)).unwrap_err();
        assert_eq!(fields(&e), [("date", "fee_no_schedule")]);
        assert!(e.fields[0].message_vi.contains("07/05/2025"));
        assert!(e.fields[0].message_vi.contains("08/05/2025"));
        let mut i = input(VehicleKind::Truck, 1500, "export", &["fresh_produce"]);
        i.date = d(2024, 12, 31);
        assert_eq!(
            fields(&quote(&i).unwrap_err()),
            [("date", "fee_no_schedule")]
        );
    }

    /// [S1] Fresh vegetables exported on a vehicle under 2 t: 100.000 đ.
    #[test]
    fn fresh_vegetables_export_under_2t_is_100_000() {
        let q = quote(&input(
            VehicleKind::Truck,
            1500,
            "export",
            &["fresh_produce"],
        ))
        .unwrap();
        assert_eq!(q.amount, Vnd(100_000));
        assert_eq!(q.vehicle_class, "under_2t");
        assert_eq!(q.collector_share, Vnd(10_000));
        assert_eq!(q.budget_share, Vnd(90_000));
        assert!(
            q.confirmed,
            "every figure of this example is from the sources"
        );
        assert!(
            q.explanation_vi.contains("100.000 ₫"),
            "{}",
            q.explanation_vi
        );
        assert!(q.explanation_vi.contains("dưới 2 tấn"));
        // 1 999 kg is still under 2 t; 2 000 kg is not.
        let q = quote(&input(
            VehicleKind::Truck,
            1999,
            "export",
            &["fresh_produce"],
        ))
        .unwrap();
        assert_eq!(q.vehicle_class, "under_2t");
        let q = quote(&input(
            VehicleKind::Truck,
            2000,
            "export",
            &["fresh_produce"],
        ))
        .unwrap();
        assert_eq!(q.vehicle_class, "2t_4t");
        assert!(!q.confirmed, "the 2–4 t row is a placeholder");
    }

    /// [S1] A 40-ft container of temporarily imported / re-exported farm goods: 4.000.000 đ.
    #[test]
    fn temporary_import_farm_goods_40ft_is_4_000_000() {
        for cat in ["fresh_produce", "farm_produce"] {
            let q = quote(&input(
                VehicleKind::Container40,
                0,
                "temporary_reexport",
                &[cat],
            ))
            .unwrap();
            assert_eq!(q.amount, Vnd(4_000_000), "{cat}");
            assert_eq!(q.rate.table, "temporary");
            assert_eq!(q.collector_share, Vnd(400_000));
            assert_eq!(q.budget_share, Vnd(3_600_000));
        }
        let q = quote(&input(
            VehicleKind::Container40,
            0,
            "temporary_reexport",
            &["fresh_produce"],
        ))
        .unwrap();
        assert!(q.confirmed);
    }

    #[test]
    fn ore_is_five_times_ordinary_goods() {
        for kg in [1000, 3000, 8000, 15000, 30000] {
            let base = quote(&input(VehicleKind::Truck, kg, "export", &["ordinary"])).unwrap();
            let ore = quote(&input(VehicleKind::Truck, kg, "export", &["ore"])).unwrap();
            assert_eq!(ore.amount.0, base.amount.0 * 5, "{kg} kg");
            assert_eq!(ore.multipliers[0].basis_points, 50_000);
            assert!(ore.explanation_vi.contains("hệ số 5"));
        }
    }

    #[test]
    fn inland_delivery_is_130_percent_and_wharf_transfer_30_percent() {
        for kind in [
            VehicleKind::Container20,
            VehicleKind::Container40,
            VehicleKind::Tractor,
        ] {
            for cat in ["ordinary", "fresh_produce", "ore"] {
                let base = quote(&input(kind, 0, "import", &[cat])).unwrap().amount.0;
                let inland = quote(&input(kind, 0, "import_inland", &[cat])).unwrap();
                let wharf = quote(&input(kind, 0, "wharf_transfer", &[cat])).unwrap();
                assert_eq!(inland.amount.0 * 100, base * 130, "{kind:?} {cat}");
                assert_eq!(wharf.amount.0 * 100, base * 30, "{kind:?} {cat}");
                assert!(wharf.explanation_vi.contains("30 %"));
            }
        }
    }

    #[test]
    fn mixed_load_pays_the_highest_rate() {
        let farm = quote(&input(
            VehicleKind::Truck,
            8000,
            "export",
            &["fresh_produce"],
        ))
        .unwrap();
        let ore = quote(&input(VehicleKind::Truck, 8000, "export", &["ore"])).unwrap();
        let mixed = quote(&input(
            VehicleKind::Truck,
            8000,
            "export",
            &["fresh_produce", "ore", "ordinary"],
        ))
        .unwrap();
        assert!(ore.amount > farm.amount);
        assert_eq!(mixed.amount, ore.amount);
        assert_eq!(mixed.category, "ore");
        // Order does not matter.
        let other = quote(&input(
            VehicleKind::Truck,
            8000,
            "export",
            &["ordinary", "ore", "fresh_produce"],
        ))
        .unwrap();
        assert_eq!(other.amount, mixed.amount);
    }

    #[test]
    fn bad_input_gets_every_field_error_at_once() {
        let e = quote(&input(
            VehicleKind::Truck,
            0,
            "smuggling",
            &["fruit", "ore"],
        ))
        .unwrap_err();
        assert_eq!(
            fields(&e),
            [
                ("journey", "fee_unknown_journey"),
                ("vehicle.payload_kg", "fee_payload_not_positive"),
                ("categories[0]", "fee_unknown_category"),
            ]
        );
        for f in &e.fields {
            assert!(!f.message_vi.is_empty() && !f.message_en.is_empty());
        }
        let e = quote(&input(VehicleKind::Truck, -5, "export", &[])).unwrap_err();
        assert_eq!(
            fields(&e),
            [
                ("vehicle.payload_kg", "fee_payload_not_positive"),
                ("categories", "fee_no_goods"),
            ]
        );
        let e = quote(&input(VehicleKind::Truck, 250_000, "export", &["ore"])).unwrap_err();
        assert_eq!(
            fields(&e),
            [("vehicle.payload_kg", "fee_payload_out_of_range")]
        );
    }

    #[test]
    fn every_combination_prices_and_no_confirmed_quote_hides_a_placeholder() {
        let s = schedule_on(d(2025, 6, 1)).unwrap();
        for j in &s.journeys {
            for c in &s.categories {
                for (kind, kg) in [
                    (VehicleKind::Truck, 500),
                    (VehicleKind::Truck, 3000),
                    (VehicleKind::Truck, 5000),
                    (VehicleKind::Truck, 12000),
                    (VehicleKind::Truck, 40000),
                    (VehicleKind::Tractor, 0),
                    (VehicleKind::Container20, 0),
                    (VehicleKind::Container40, 0),
                ] {
                    let q = quote(&input(kind, kg, &j.code, &[&c.code])).unwrap();
                    assert!(q.amount.0 > 0);
                    if q.confirmed {
                        assert!(q.rate.confirmed && j.confirmed && c.confirmed);
                    }
                }
            }
        }
    }

    #[test]
    fn a_later_resolution_is_a_new_file() {
        let first = SCHEDULE_FILES[0].1.replace(
            "# effective_to = \"YYYY-MM-DD\"   (the day before the next resolution takes effect)",
            "effective_to = \"2027-12-31\"",
        );
        let next = SCHEDULE_FILES[0]
            .1
            .replace("id = \"NQ-09-2025-LS\"", "id = \"NQ-NEXT\"")
            .replace(
                "effective_from = \"2025-05-08\"",
                "effective_from = \"2028-01-01\"",
            )
            .replace(
                "amount = 100000, confirmed = true",
                "amount = 120000, confirmed = true",
            );
        let all = parse_all(&[("next", &next), ("first", &first)]).unwrap();
        assert_eq!(all[0].id, "NQ-09-2025-LS");
        assert_eq!(all[1].id, "NQ-NEXT");
        let i = input(VehicleKind::Truck, 1500, "export", &["fresh_produce"]);
        let s27 = all.iter().find(|s| s.covers(d(2027, 12, 31))).unwrap();
        let s28 = all.iter().find(|s| s.covers(d(2028, 1, 1))).unwrap();
        assert_eq!(quote_with(s27, &i).unwrap().amount, Vnd(100_000));
        assert_eq!(quote_with(s28, &i).unwrap().amount, Vnd(120_000));
        // Without the effective_to the two overlap.
        let err = parse_all(&[("first", SCHEDULE_FILES[0].1), ("next", &next)]).unwrap_err();
        assert!(err.contains("overlap"), "{err}");
    }

    #[test]
    fn bad_schedule_files_say_what_is_wrong() {
        let text = SCHEDULE_FILES[0].1;
        let missing = text.replacen(
            "  { table = \"ordinary\", group = \"farm\", vehicle_class = \"2t_4t\", amount = 150000, confirmed = false },\n",
            "",
            1,
        );
        assert!(parse(&missing)
            .unwrap_err()
            .contains("ordinary/farm/2t_4t: 0 rows"));
        let gap = text.replacen("min_kg = 4000", "min_kg = 4500", 1);
        assert!(parse(&gap).unwrap_err().contains("gap"));
        let bad_group = text.replacen("group = \"other\"\n# ×5", "group = \"metal\"\n# ×5", 1);
        assert!(parse(&bad_group)
            .unwrap_err()
            .contains("unknown group metal"));
        let bad_date = text.replacen("\"2025-05-08\"", "\"8/5/2025\"", 1);
        assert!(parse(&bad_date).unwrap_err().contains("effective_from"));
    }

    #[test]
    fn percent_and_ratio_are_written_the_vietnamese_way() {
        assert_eq!(percent_vi(13000), "130 %");
        assert_eq!(percent_vi(1050), "10,5 %");
        assert_eq!(ratio_vi(50000), "5");
        assert_eq!(ratio_vi(12500), "1,25");
    }

    /// Timing of quotes (debug build unless run with --release):
    /// `cargo test -p tinhso-border --lib -- --ignored --nocapture measure_`.
    #[test]
    #[ignore]
    fn measure_quotes() {
        let inputs = [
            input(VehicleKind::Truck, 1500, "export", &["fresh_produce"]),
            input(
                VehicleKind::Container40,
                0,
                "temporary_reexport",
                &["farm_produce"],
            ),
            input(
                VehicleKind::Truck,
                30000,
                "import_inland",
                &["ordinary", "ore"],
            ),
        ];
        let n = 20_000;
        let t = std::time::Instant::now();
        let mut total = 0i64;
        for i in 0..n {
            total += quote(&inputs[i % inputs.len()]).unwrap().amount.0;
        }
        let each = t.elapsed() / n as u32;
        assert!(total > 0);
        println!("fees: {n} quotes, {each:?} each");
    }

    fn any_kind() -> impl Strategy<Value = VehicleKind> {
        prop_oneof![
            Just(VehicleKind::Truck),
            Just(VehicleKind::Tractor),
            Just(VehicleKind::Container20),
            Just(VehicleKind::Container40),
        ]
    }

    proptest! {
        #[test]
        fn shares_add_up_to_the_amount(
            kind in any_kind(),
            kg in 1i64..=MAX_PAYLOAD_KG,
            j in 0usize..7,
            cats in proptest::collection::vec(0usize..4, 1..5),
        ) {
            let s = schedule_on(d(2025, 6, 1)).unwrap();
            let journey = &s.journeys[j % s.journeys.len()].code;
            let cats: Vec<&str> = cats.iter().map(|c| s.categories[c % s.categories.len()].code.as_str()).collect();
            let q = quote(&input(kind, kg, journey, &cats)).unwrap();
            prop_assert_eq!(q.collector_share.0 + q.budget_share.0, q.amount.0);
            prop_assert_eq!(q.collector_share, q.amount.percent(1000).unwrap());
            // The mixed load is never cheaper than any one of its categories alone.
            for c in &cats {
                let one = quote(&input(kind, kg, journey, &[c])).unwrap();
                prop_assert!(q.amount >= one.amount);
            }
        }
    }
}
