//! Reporting regimes as data (chế độ báo cáo, Decree 09/2019/NĐ-CP): a regime file (TOML: one
//! `[regime]` table, one `[[element]]` per data element, optional `[[rule]]` cross-field
//! checks) is parsed and checked in full — every error names the file, the line and the field
//! — then imported into `report_regimes`. Importing is idempotent: an unchanged file (same
//! SHA-256) writes nothing. The shipped regimes are in `crates/targets/data/regimes/`.
//!
//! A data element (chỉ tiêu báo cáo) has a type (`integer`, `number`, `percent`, `text`,
//! `boolean`), rules (`required`, `min`, `max`, `max_length`), an optional `prefill` — a live
//! indicator of the engine, `services.on_time` (its value) or `services.on_time:numerator` /
//! `:denominator` (its counts) — and an optional `indicator`, the reported indicator
//! (`reported.…`) its approved value is recorded as.
//!
//! An element recorded as a reported indicator also says how the agencies' approved values
//! combine into the province's figure (cách tổng hợp số liệu của tỉnh), `combine`: `sum` (counts:
//! the province's number is the agencies' total), `ratio` (shares: the sum of the agencies'
//! numerators over the sum of their denominators × 100 — the element then names the elements
//! holding them, `numerator` and `denominator`, which are recorded with the value), `mean` (the
//! unweighted mean of the agencies' values), `latest` (the value approved last). The default:
//! `ratio` for a `percent` element that names its `numerator` and `denominator`, `mean` for any
//! other `percent` element, `sum` for `integer` and `number` elements. See
//! [`crate::province`] and `docs/targets/reporting-regimes.md`.

use crate::engine;
use crate::period::{Frequency, Period};
use crate::plan::{line_of, toml_error, Checker, PlanError};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeSet;
use std::fmt;
use tinhso_kernel::calendar::WorkingCalendar;
use tinhso_kernel::{text, AppError, Invalid};
use tinhso_refdata::agencies;
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError};
use toml::Spanned;

/// The regimes shipped with the platform: (file name, content).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "regimes/kh226-bao-cao-nam.toml",
        include_str!("../data/regimes/kh226-bao-cao-nam.toml"),
    ),
    (
        "regimes/tthc-quy.toml",
        include_str!("../data/regimes/tthc-quy.toml"),
    ),
    (
        "regimes/kh226-tong-hop.toml",
        include_str!("../data/regimes/kh226-tong-hop.toml"),
    ),
];

/// The type of a data element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ElementType {
    Integer,
    Number,
    Percent,
    Text,
    Boolean,
}

impl ElementType {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "integer" => Some(Self::Integer),
            "number" => Some(Self::Number),
            "percent" => Some(Self::Percent),
            "text" => Some(Self::Text),
            "boolean" => Some(Self::Boolean),
            _ => None,
        }
    }

    /// Whether values are numbers (and may take `min`, `max`, `prefill`, `indicator`).
    pub fn numeric(self) -> bool {
        matches!(self, Self::Integer | Self::Number | Self::Percent)
    }
}

/// Which part of a live observation pre-fills an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Value,
    Numerator,
    Denominator,
}

/// A live value that pre-fills an element (giá trị tự động).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prefill {
    pub indicator: String,
    pub part: Part,
}

/// How agencies' approved values of an indicator combine into the province's figure (cách
/// tổng hợp số liệu của tỉnh).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Tổng: the agencies' values added up (counts).
    Sum,
    /// Tỷ lệ gộp: Σ numerators / Σ denominators × 100 (shares weighted by their denominators).
    Ratio,
    /// Trung bình: the unweighted mean of the agencies' values.
    Mean,
    /// Mới nhất: the value approved last.
    Latest,
}

impl Combine {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sum" => Some(Self::Sum),
            "ratio" => Some(Self::Ratio),
            "mean" => Some(Self::Mean),
            "latest" => Some(Self::Latest),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Ratio => "ratio",
            Self::Mean => "mean",
            Self::Latest => "latest",
        }
    }

    /// (Vietnamese, English) description, for pages and documents.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Sum => ("tổng của các cơ quan", "sum over the agencies"),
            Self::Ratio => (
                "tổng tử số / tổng mẫu số của các cơ quan",
                "agencies' numerators over their denominators",
            ),
            Self::Mean => ("trung bình của các cơ quan", "mean of the agencies"),
            Self::Latest => ("giá trị được duyệt gần nhất", "value approved last"),
        }
    }

    /// The documented default for an element: `ratio` for a percentage with its counts,
    /// `mean` for one without, `sum` otherwise.
    pub fn default_for(kind: ElementType, has_counts: bool) -> Self {
        match kind {
            ElementType::Percent if has_counts => Self::Ratio,
            ElementType::Percent => Self::Mean,
            _ => Self::Sum,
        }
    }
}

/// One data element (chỉ tiêu báo cáo) of a regime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Element {
    pub key: String,
    pub name_vi: String,
    pub name_en: String,
    #[serde(rename = "type")]
    pub kind: ElementType,
    pub unit: String,
    pub required: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Texts: at most this many characters.
    pub max_length: usize,
    pub prefill: Option<Prefill>,
    /// The reported indicator the approved value is recorded as.
    pub indicator: Option<String>,
    /// How the agencies' values of `indicator` combine into the province's figure (absent in
    /// regimes stored before it existed: see [`Element::combine`]).
    #[serde(default)]
    pub combine: Option<Combine>,
    /// For a percentage: the elements holding its numerator and denominator (tử số, mẫu số),
    /// recorded with the value when approved.
    #[serde(default)]
    pub numerator: Option<String>,
    #[serde(default)]
    pub denominator: Option<String>,
}

impl Element {
    /// The rule combining agencies' values: as written, or the documented default.
    pub fn combine(&self) -> Combine {
        self.combine.unwrap_or_else(|| {
            Combine::default_for(
                self.kind,
                self.numerator.is_some() && self.denominator.is_some(),
            )
        })
    }
}

/// A comparison operator of a cross-field rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    pub fn holds(self, a: f64, b: f64) -> bool {
        const EPS: f64 = 1e-9;
        match self {
            Op::Le => a <= b + EPS,
            Op::Lt => a < b - EPS,
            Op::Ge => a + EPS >= b,
            Op::Gt => a > b + EPS,
            Op::Eq => (a - b).abs() <= EPS,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Le => "≤",
            Op::Lt => "<",
            Op::Ge => "≥",
            Op::Gt => ">",
            Op::Eq => "=",
        }
    }
}

/// A term of a sum: an element's value or a constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    Key(String),
    Const(f64),
}

/// A cross-field consistency rule: `sum of terms  op  sum of terms`, e.g. `a + b <= c`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossRule {
    /// As written in the file.
    pub check: String,
    pub lhs: Vec<Term>,
    pub op: Op,
    pub rhs: Vec<Term>,
    /// Optional explanation shown with the rule.
    pub message_vi: String,
    pub message_en: String,
}

/// When a report is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deadline {
    /// This many working days after the last day of the cut-off window.
    WorkingDays(u32),
    /// A fixed day (month, day) of the report year (yearly regimes only).
    Fixed { month: u32, day: u32 },
}

/// A checked regime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regime {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    /// Content of the report (nội dung báo cáo).
    pub content: String,
    /// Legal basis (căn cứ).
    pub legal_basis: String,
    pub frequency: Frequency,
    /// Recipient agency (cơ quan nhận báo cáo).
    pub recipient: String,
    /// Reporting agencies by code (cơ quan thực hiện báo cáo).
    pub reporters: Vec<String>,
    /// Also every commune People's Committee (UBND cấp xã).
    pub every_commune: bool,
    pub deadline: Deadline,
    /// Headings of the printed report (đề cương).
    pub template: Vec<String>,
    pub elements: Vec<Element>,
    pub rules: Vec<CrossRule>,
    pub source: String,
    pub sha256: String,
    /// The regime's version (phiên bản): 1 when first imported, one more at each change.
    #[serde(default)]
    pub version: i64,
    /// Lines of fields checked against the database on import (not stored).
    #[serde(skip)]
    pub lines: Vec<(String, usize)>,
}

impl Regime {
    /// The deadline of a period (hạn gửi báo cáo): the fixed day of the report year, or the
    /// n-th working day after the last day of the cut-off window.
    pub fn due_date(&self, period: Period, cal: &WorkingCalendar) -> Option<NaiveDate> {
        match self.deadline {
            Deadline::Fixed { month, day } => NaiveDate::from_ymd_opt(period.year(), month, day),
            Deadline::WorkingDays(n) => Some(cal.add_working_days(period.window()?.last_day(), n)),
        }
    }

    pub fn element(&self, key: &str) -> Option<&Element> {
        self.elements.iter().find(|e| e.key == key)
    }

    fn line(&self, field: &str) -> usize {
        self.lines
            .iter()
            .find(|(f, _)| f == field)
            .map_or(1, |(_, l)| *l)
    }
}

/// Every problem found in a regime file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegimeErrors(pub Vec<PlanError>);

impl fmt::Display for RegimeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for RegimeErrors {}

/// A 422 whose field errors are named `file:line:field`.
impl From<RegimeErrors> for AppError {
    fn from(e: RegimeErrors) -> Self {
        let file = e.0.first().map(|p| p.file.clone()).unwrap_or_default();
        AppError::fields(
            e.0.into_iter()
                .map(|p| {
                    Invalid::new("regime_file", p.message_vi, p.message_en)
                        .on(format!("{}:{}:{}", p.file, p.line, p.field))
                })
                .collect(),
        )
        .with_detail(
            format!("Tệp chế độ báo cáo {file} có lỗi"),
            format!("The reporting regime file {file} has errors"),
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    regime: Option<Spanned<RawRegime>>,
    #[serde(default)]
    element: Vec<Spanned<RawElement>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegime {
    code: Spanned<String>,
    name_vi: Spanned<String>,
    name_en: Spanned<String>,
    content: Spanned<String>,
    legal_basis: Spanned<String>,
    frequency: Spanned<String>,
    recipient: Spanned<String>,
    #[serde(default)]
    reporters: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    every_commune: Option<Spanned<bool>>,
    deadline_working_days: Option<Spanned<i64>>,
    deadline_date: Option<Spanned<String>>,
    template: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElement {
    key: Spanned<String>,
    vi: Spanned<String>,
    en: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    unit: Option<Spanned<String>>,
    #[serde(default)]
    required: Option<Spanned<bool>>,
    min: Option<Spanned<f64>>,
    max: Option<Spanned<f64>>,
    max_length: Option<Spanned<i64>>,
    prefill: Option<Spanned<String>>,
    indicator: Option<Spanned<String>>,
    combine: Option<Spanned<String>>,
    numerator: Option<Spanned<String>>,
    denominator: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    check: Spanned<String>,
    #[serde(default)]
    vi: Option<Spanned<String>>,
    #[serde(default)]
    en: Option<Spanned<String>>,
}

fn frequency(s: &str) -> Option<Frequency> {
    Frequency::ALL
        .iter()
        .copied()
        .find(|f| f.as_str() == s && *f != Frequency::Day)
}

/// An agency code as the registry writes them (`000.00.06.H37`).
fn agency_code_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Parse `a + b <= c + 10` into its sides.
fn parse_check(s: &str) -> Result<(Vec<Term>, Op, Vec<Term>), String> {
    let ops = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let (at, len, op) = ops
        .iter()
        .find_map(|(sym, op)| s.find(sym).map(|i| (i, sym.len(), *op)))
        .ok_or_else(|| "no comparison (<=, <, >=, >, ==)".to_string())?;
    let side = |t: &str| -> Result<Vec<Term>, String> {
        let mut out = Vec::new();
        for part in t.split('+') {
            let p = part.trim();
            if p.is_empty() {
                return Err("an empty term".into());
            }
            if let Ok(n) = p.parse::<f64>() {
                if !n.is_finite() {
                    return Err(format!("`{p}` is not a finite number"));
                }
                out.push(Term::Const(n));
            } else if p
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                out.push(Term::Key(p.to_string()));
            } else {
                return Err(format!("`{p}` is neither an element key nor a number"));
            }
        }
        Ok(out)
    };
    let (l, r) = (&s[..at], &s[at + len..]);
    if r.contains(['<', '>', '=']) {
        return Err("more than one comparison".into());
    }
    Ok((side(l)?, op, side(r)?))
}

/// Parse and check a regime file. `file` names it in errors.
pub fn parse(file: &str, src: &str) -> Result<Regime, RegimeErrors> {
    let raw: RawFile =
        toml::from_str(src).map_err(|e| RegimeErrors(vec![toml_error(file, src, &e)]))?;
    let mut c = Checker {
        file,
        src,
        errors: Vec::new(),
    };
    let Some(rr) = raw.regime else {
        return Err(RegimeErrors(vec![PlanError {
            file: file.into(),
            line: 1,
            field: "regime".into(),
            message_vi: "thiếu bảng [regime] (mã, tên, tần suất, cơ quan nhận của chế độ báo cáo)"
                .into(),
            message_en:
                "the [regime] table (the regime's code, name, frequency, recipient) is missing"
                    .into(),
        }]));
    };
    let rr = rr.into_inner();
    let mut lines = Vec::new();
    let code = c.text(&rr.code, "regime.code", 40);
    if !code
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    {
        c.push(
            &rr.code,
            "regime.code",
            "chỉ gồm chữ in hoa không dấu, chữ số và gạch ngang".into(),
            "only upper-case ASCII letters, digits and hyphens".into(),
        );
    }
    let name_vi = c.text(&rr.name_vi, "regime.name_vi", 500);
    let name_en = c.text(&rr.name_en, "regime.name_en", 500);
    let content = c.text(&rr.content, "regime.content", 4000);
    let legal_basis = c.text(&rr.legal_basis, "regime.legal_basis", 2000);
    let freq = frequency(rr.frequency.get_ref().trim()).unwrap_or_else(|| {
        c.push(
            &rr.frequency,
            "regime.frequency",
            format!(
                "tần suất `{}` không có; dùng month, quarter, six_months, nine_months hoặc year",
                rr.frequency.get_ref()
            ),
            format!(
                "unknown frequency `{}`; use month, quarter, six_months, nine_months or year",
                rr.frequency.get_ref()
            ),
        );
        Frequency::Year
    });
    let recipient = rr.recipient.get_ref().trim().to_string();
    if !agency_code_ok(&recipient) {
        c.push(
            &rr.recipient,
            "regime.recipient",
            "mã cơ quan nhận báo cáo không hợp lệ (ví dụ 000.00.06.H37)".into(),
            "the recipient's agency code is not valid (e.g. 000.00.06.H37)".into(),
        );
    }
    lines.push((
        "regime.recipient".to_string(),
        line_of(src, rr.recipient.span().start),
    ));
    let every_commune = rr.every_commune.as_ref().is_some_and(|b| *b.get_ref());
    let mut reporters: Vec<String> = Vec::new();
    if let Some(list) = &rr.reporters {
        lines.push((
            "regime.reporters".to_string(),
            line_of(src, list.span().start),
        ));
        for r in list.get_ref() {
            let r = r.trim().to_string();
            if !agency_code_ok(&r) {
                c.push(
                    list,
                    "regime.reporters",
                    format!("mã cơ quan `{r}` không hợp lệ"),
                    format!("the agency code `{r}` is not valid"),
                );
            } else if reporters.contains(&r) {
                c.push(
                    list,
                    "regime.reporters",
                    format!("cơ quan `{r}` được kê hai lần"),
                    format!("the agency `{r}` is listed twice"),
                );
            } else {
                reporters.push(r);
            }
        }
    }
    if reporters.is_empty() && !every_commune {
        c.push(
            &rr.code,
            "regime.reporters",
            "chưa có cơ quan thực hiện báo cáo (reporters hoặc every_commune = true)".into(),
            "no reporting agency (reporters, or every_commune = true)".into(),
        );
    }
    let deadline = match (&rr.deadline_working_days, &rr.deadline_date) {
        (Some(n), None) => {
            let v = *n.get_ref();
            if !(1..=60).contains(&v) {
                c.push(
                    n,
                    "regime.deadline_working_days",
                    "số ngày làm việc phải từ 1 đến 60".into(),
                    "the number of working days must be between 1 and 60".into(),
                );
            }
            Deadline::WorkingDays(u32::try_from(v.clamp(1, 60)).unwrap_or(1))
        }
        (None, Some(d)) => {
            let s = d.get_ref().trim();
            // A non-leap year: 29 February is no fixed deadline.
            let parsed = NaiveDate::parse_from_str(&format!("2023-{s}"), "%Y-%m-%d").ok();
            if parsed.is_none() || s.len() != 5 {
                c.push(
                    d,
                    "regime.deadline_date",
                    "ngày hạn viết theo dạng MM-DD, ví dụ 11-20 (20 tháng 11)".into(),
                    "write the deadline as MM-DD, e.g. 11-20 (20 November)".into(),
                );
            }
            if freq != Frequency::Year {
                c.push(
                    d,
                    "regime.deadline_date",
                    "hạn cố định chỉ dùng cho báo cáo năm".into(),
                    "a fixed deadline is for yearly regimes only".into(),
                );
            }
            let p = parsed.unwrap_or_default();
            Deadline::Fixed {
                month: p.month(),
                day: p.day(),
            }
        }
        _ => {
            c.push(
                &rr.code,
                "regime.deadline",
                "cần đúng một trong deadline_working_days (số ngày làm việc sau ngày chốt số liệu) và deadline_date (MM-DD)".into(),
                "give exactly one of deadline_working_days (working days after the cut-off) and deadline_date (MM-DD)".into(),
            );
            Deadline::WorkingDays(1)
        }
    };
    let template: Vec<String> = rr
        .template
        .get_ref()
        .iter()
        .map(|t| text::clean(t))
        .collect();
    if template.is_empty()
        || template
            .iter()
            .any(|t| t.is_empty() || t.chars().count() > 500)
    {
        c.push(
            &rr.template,
            "regime.template",
            "đề cương cần ít nhất một đề mục, mỗi đề mục 1–500 ký tự".into(),
            "the template needs at least one heading, each of 1–500 characters".into(),
        );
    }
    if raw.element.is_empty() {
        c.errors.push(PlanError {
            file: file.into(),
            line: line_of(src, src.len()),
            field: "element".into(),
            message_vi: "chế độ báo cáo không có chỉ tiêu nào ([[element]])".into(),
            message_en: "the regime has no data element ([[element]])".into(),
        });
    }
    let mut elements: Vec<Element> = Vec::new();
    // Numerator and denominator references, checked once every element is known.
    let mut count_refs: Vec<(String, &'static str, &Spanned<String>)> = Vec::new();
    for re in &raw.element {
        let re = re.get_ref();
        let key = c.text(&re.key, "key", 60);
        if !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            c.push(
                &re.key,
                "key",
                "chỉ gồm chữ thường không dấu, chữ số và gạch dưới".into(),
                "only lower-case ASCII letters, digits and underscores".into(),
            );
        }
        if elements.iter().any(|e| e.key == key) {
            c.push(
                &re.key,
                "key",
                format!("mã chỉ tiêu `{key}` bị trùng"),
                format!("the element key `{key}` repeats"),
            );
        }
        let kind = ElementType::parse(re.kind.get_ref().trim()).unwrap_or_else(|| {
            c.push(
                &re.kind,
                "type",
                format!(
                    "kiểu `{}` không có; dùng integer, number, percent, text hoặc boolean",
                    re.kind.get_ref()
                ),
                format!(
                    "unknown type `{}`; use integer, number, percent, text or boolean",
                    re.kind.get_ref()
                ),
            );
            ElementType::Text
        });
        let mut bound = |v: &Option<Spanned<f64>>, field: &str| -> Option<f64> {
            let s = v.as_ref()?;
            let x = *s.get_ref();
            if !kind.numeric() {
                c.push(
                    s,
                    field,
                    "chỉ chỉ tiêu kiểu số mới có giới hạn".into(),
                    "only numeric elements take bounds".into(),
                );
            } else if kind == ElementType::Percent && !(0.0..=100.0).contains(&x) {
                c.push(
                    s,
                    field,
                    "giới hạn của tỷ lệ phải trong 0–100".into(),
                    "a percentage's bounds must be within 0–100".into(),
                );
            }
            Some(x)
        };
        let mut min = bound(&re.min, "min");
        let mut max = bound(&re.max, "max");
        if let (Some(a), Some(b), Some(s)) = (min, max, &re.max) {
            if a > b {
                c.push(
                    s,
                    "max",
                    "max phải lớn hơn hoặc bằng min".into(),
                    "max must be at least min".into(),
                );
            }
        }
        if kind == ElementType::Percent {
            min = Some(min.unwrap_or(0.0));
            max = Some(max.unwrap_or(100.0));
        }
        let max_length = match &re.max_length {
            None => 4000,
            Some(m) => {
                let v = *m.get_ref();
                if kind != ElementType::Text || !(1..=20000).contains(&v) {
                    c.push(
                        m,
                        "max_length",
                        "max_length chỉ dùng cho kiểu text, từ 1 đến 20000".into(),
                        "max_length is for text elements, from 1 to 20000".into(),
                    );
                }
                usize::try_from(v.clamp(1, 20000)).unwrap_or(4000)
            }
        };
        let prefill = re.prefill.as_ref().and_then(|p| {
            let s = p.get_ref().trim();
            let (key, part) = match s.split_once(':') {
                None => (s, Some(Part::Value)),
                Some((k, "numerator")) => (k, Some(Part::Numerator)),
                Some((k, "denominator")) => (k, Some(Part::Denominator)),
                Some((k, _)) => (k, None),
            };
            if engine::live_indicator(key).is_none() || part.is_none() {
                c.push(
                    p,
                    "prefill",
                    format!("`{s}` không phải chỉ số đo trực tiếp; dùng ví dụ services.on_time hoặc services.on_time:numerator"),
                    format!("`{s}` is not a live indicator; use e.g. services.on_time or services.on_time:numerator"),
                );
                return None;
            }
            if !kind.numeric() {
                c.push(
                    p,
                    "prefill",
                    "chỉ chỉ tiêu kiểu số mới được điền tự động".into(),
                    "only numeric elements can be pre-filled".into(),
                );
            }
            Some(Prefill {
                indicator: key.to_string(),
                part: part.unwrap_or(Part::Value),
            })
        });
        let indicator = re.indicator.as_ref().map(|i| {
            let s = i.get_ref().trim().to_string();
            if !s.starts_with("reported.") || !kind.numeric() {
                c.push(
                    i,
                    "indicator",
                    format!("`{s}`: chỉ chỉ tiêu kiểu số mới ghi vào một chỉ số báo cáo (reported.…)"),
                    format!("`{s}`: only numeric elements are recorded, as a reported indicator (reported.…)"),
                );
            }
            lines.push((format!("element.{key}.indicator"), line_of(src, i.span().start)));
            s
        });
        let unit = re
            .unit
            .as_ref()
            .map(|u| text::clean(u.get_ref()))
            .unwrap_or_else(|| match kind {
                ElementType::Percent => "%".into(),
                _ => String::new(),
            });
        let combine = re.combine.as_ref().and_then(|m| {
            let v = Combine::parse(m.get_ref().trim());
            if v.is_none() {
                c.push(
                    m,
                    "combine",
                    format!(
                        "cách tổng hợp `{}` không có; dùng sum, ratio, mean hoặc latest",
                        m.get_ref()
                    ),
                    format!(
                        "unknown combination `{}`; use sum, ratio, mean or latest",
                        m.get_ref()
                    ),
                );
            } else if indicator.is_none() {
                c.push(
                    m,
                    "combine",
                    "combine chỉ dùng cho chỉ tiêu ghi vào một chỉ số báo cáo (indicator)".into(),
                    "combine is for elements recorded as a reported indicator (indicator)".into(),
                );
            }
            v
        });
        fn count_ref(v: &Option<Spanned<String>>) -> Option<(String, &Spanned<String>)> {
            v.as_ref().map(|s| (s.get_ref().trim().to_string(), s))
        }
        let (numerator, denominator) = (count_ref(&re.numerator), count_ref(&re.denominator));
        for (field, r) in [("numerator", &numerator), ("denominator", &denominator)] {
            if let Some((_, at)) = r {
                if kind != ElementType::Percent || indicator.is_none() {
                    c.push(
                        *at,
                        field,
                        "tử số, mẫu số chỉ dùng cho chỉ tiêu kiểu percent ghi vào một chỉ số báo cáo".into(),
                        "numerator and denominator are for percent elements recorded as a reported indicator".into(),
                    );
                }
            }
        }
        if numerator.is_some() != denominator.is_some() {
            let at = numerator
                .as_ref()
                .or(denominator.as_ref())
                .map(|(_, at)| *at);
            if let Some(at) = at {
                c.push(
                    at,
                    "numerator",
                    "cần cả tử số (numerator) và mẫu số (denominator)".into(),
                    "give both numerator and denominator".into(),
                );
            }
        }
        if combine == Some(Combine::Ratio) && (numerator.is_none() || denominator.is_none()) {
            if let Some(m) = &re.combine {
                c.push(
                    m,
                    "combine",
                    "combine = ratio cần tử số (numerator) và mẫu số (denominator)".into(),
                    "combine = ratio needs numerator and denominator".into(),
                );
            }
        }
        count_refs.extend(
            [("numerator", &numerator), ("denominator", &denominator)]
                .into_iter()
                .filter_map(|(f, r)| r.as_ref().map(|(k, at)| (k.clone(), f, *at))),
        );
        elements.push(Element {
            combine,
            numerator: numerator.map(|(k, _)| k),
            denominator: denominator.map(|(k, _)| k),
            name_vi: c.text(&re.vi, "vi", 500),
            name_en: c.text(&re.en, "en", 500),
            key,
            kind,
            unit,
            required: re.required.as_ref().is_some_and(|r| *r.get_ref()),
            min,
            max,
            max_length,
            prefill,
            indicator,
        });
    }
    for (k, field, at) in &count_refs {
        match elements.iter().find(|e| &e.key == k) {
            Some(e) if matches!(e.kind, ElementType::Integer | ElementType::Number) => {}
            Some(_) => c.push(
                *at,
                field,
                format!("chỉ tiêu `{k}` phải có kiểu integer hoặc number"),
                format!("the element `{k}` must be of type integer or number"),
            ),
            None => c.push(
                *at,
                field,
                format!("không có chỉ tiêu `{k}`"),
                format!("no element `{k}`"),
            ),
        }
    }
    let mut rules = Vec::new();
    for rr in &raw.rule {
        let rr = rr.get_ref();
        let check = rr.check.get_ref().trim().to_string();
        match parse_check(&check) {
            Err(why) => c.push(
                &rr.check,
                "check",
                format!("quy tắc `{check}` không đọc được ({why}); viết ví dụ `a + b <= c`"),
                format!("cannot read the rule `{check}` ({why}); write e.g. `a + b <= c`"),
            ),
            Ok((lhs, op, rhs)) => {
                for t in lhs.iter().chain(&rhs) {
                    if let Term::Key(k) = t {
                        match elements.iter().find(|e| &e.key == k) {
                            Some(e) if e.kind.numeric() => {}
                            Some(_) => c.push(
                                &rr.check,
                                "check",
                                format!("chỉ tiêu `{k}` không phải kiểu số"),
                                format!("the element `{k}` is not numeric"),
                            ),
                            None => c.push(
                                &rr.check,
                                "check",
                                format!("không có chỉ tiêu `{k}`"),
                                format!("no element `{k}`"),
                            ),
                        }
                    }
                }
                rules.push(CrossRule {
                    check,
                    lhs,
                    op,
                    rhs,
                    message_vi: rr
                        .vi
                        .as_ref()
                        .map(|v| text::clean(v.get_ref()))
                        .unwrap_or_default(),
                    message_en: rr
                        .en
                        .as_ref()
                        .map(|v| text::clean(v.get_ref()))
                        .unwrap_or_default(),
                });
            }
        }
    }
    if !c.errors.is_empty() {
        return Err(RegimeErrors(c.errors));
    }
    Ok(Regime {
        code,
        name_vi,
        name_en,
        content,
        legal_basis,
        frequency: freq,
        recipient,
        reporters,
        every_commune,
        deadline,
        template,
        elements,
        rules,
        source: file.into(),
        sha256: hex::encode(Sha256::digest(src.as_bytes())),
        version: 0,
        lines,
    })
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// The checks that need the database: agencies exist, recorded indicators are wired to a
/// target of an imported plan (and a share is recorded from a percentage).
pub async fn check_refs(db: &Db, r: &Regime) -> Result<(), AppError> {
    let errors = ref_errors(db, r).await?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RegimeErrors(errors).into())
    }
}

/// The problems [`check_refs`] finds, one per field (`regime.recipient`, `regime.reporters`,
/// `element.<key>.indicator`).
pub async fn ref_errors(db: &Db, r: &Regime) -> Result<Vec<PlanError>, AppError> {
    let mut errors = Vec::new();
    let mut err = |field: &str, vi: String, en: String| {
        errors.push(PlanError {
            file: r.source.clone(),
            line: r.line(field),
            field: field.into(),
            message_vi: vi,
            message_en: en,
        })
    };
    if agencies::get(db, &r.recipient).await?.is_none() {
        err(
            "regime.recipient",
            format!("không có cơ quan mã {} trong danh mục cơ quan", r.recipient),
            format!("no agency has the code {} in the registry", r.recipient),
        );
    }
    for a in &r.reporters {
        if agencies::get(db, a).await?.is_none() {
            err(
                "regime.reporters",
                format!("không có cơ quan mã {a} trong danh mục cơ quan"),
                format!("no agency has the code {a} in the registry"),
            );
        }
    }
    let others: Vec<Regime> = all(db)
        .await?
        .into_iter()
        .filter(|o| o.code != r.code)
        .collect();
    for e in &r.elements {
        let Some(ind) = &e.indicator else { continue };
        let field = format!("element.{}.indicator", e.key);
        // One indicator, one way to make the province's figure.
        for o in &others {
            if let Some(oe) = o
                .elements
                .iter()
                .find(|oe| oe.indicator.as_ref() == Some(ind) && oe.combine() != e.combine())
            {
                err(
                    &field,
                    format!(
                        "chế độ báo cáo {} tổng hợp `{ind}` theo cách `{}`, ở đây là `{}`: một chỉ số chỉ có một cách tổng hợp",
                        o.code,
                        oe.combine().as_str(),
                        e.combine().as_str()
                    ),
                    format!(
                        "the regime {} combines `{ind}` by `{}`, this one by `{}`: an indicator has one way to combine",
                        o.code,
                        oe.combine().as_str(),
                        e.combine().as_str()
                    ),
                );
            }
        }
        match crate::reported::kind_of(db, ind).await? {
            None => err(
                &field,
                format!("không có chỉ số báo cáo `{ind}` trong kế hoạch nào"),
                format!("no plan has the reported indicator `{ind}`"),
            ),
            Some(engine::Kind::Percent) if e.kind != ElementType::Percent => err(
                &field,
                format!("`{ind}` là tỷ lệ: chỉ tiêu phải có kiểu percent"),
                format!("`{ind}` is a share: the element's type must be percent"),
            ),
            Some(_) => {}
        }
    }
    Ok(errors)
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Imported {
    Unchanged,
    Written,
}

/// Import a checked regime: idempotent (same content → nothing written); otherwise a new
/// version of the regime is written (the previous ones stay in `report_regime_versions`) with
/// one audit entry. Tasks already opened keep the version they were opened with.
pub async fn import(db: &Db, ctx: &Ctx, r: &Regime) -> Result<Imported, AppError> {
    let stored = sqlx::query("SELECT content_sha256, version FROM report_regimes WHERE code = $1")
        .bind(&r.code)
        .fetch_optional(db.pool())
        .await
        .map_err(db_err)?;
    let stored: Option<(String, i64)> = match stored {
        Some(row) => Some((
            row.try_get(0).map_err(db_err)?,
            row.try_get(1).map_err(db_err)?,
        )),
        None => None,
    };
    if stored.as_ref().map(|s| s.0.as_str()) == Some(r.sha256.as_str()) {
        return Ok(Imported::Unchanged);
    }
    check_refs(db, r).await?;
    let mut r = r.clone();
    r.version = stored.as_ref().map_or(1, |s| s.1 + 1);
    let definition = serde_json::to_string(&r).map_err(AppError::internal)?;
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO report_regime_versions (code, version, definition, source, content_sha256, \
         created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&r.code)
    .bind(r.version)
    .bind(&definition)
    .bind(&r.source)
    .bind(&r.sha256)
    .bind(&ctx.actor)
    .bind(now)
    .execute(tx.conn())
    .await;
    if let Err(e) = inserted {
        let e = DbError::from(e);
        if e.is_unique_violation() {
            return Err(AppError::conflict(
                "Chế độ báo cáo vừa được sửa bởi người khác; hãy tải lại và sửa lại",
                "The regime was just changed by someone else; reload and edit it again",
            ));
        }
        return Err(e.into());
    }
    sqlx::query(
        "INSERT INTO report_regimes (code, name_vi, name_en, frequency, recipient_code, definition, \
         source, content_sha256, imported_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (code) DO UPDATE SET name_vi = excluded.name_vi, name_en = excluded.name_en, \
         frequency = excluded.frequency, recipient_code = excluded.recipient_code, \
         definition = excluded.definition, source = excluded.source, \
         content_sha256 = excluded.content_sha256, imported_at = excluded.imported_at, \
         version = excluded.version",
    )
    .bind(&r.code)
    .bind(&r.name_vi)
    .bind(&r.name_en)
    .bind(r.frequency.as_str())
    .bind(&r.recipient)
    .bind(&definition)
    .bind(&r.source)
    .bind(&r.sha256)
    .bind(now)
    .bind(r.version)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    tx.audit(&ctx.entry(
        "report_regime.import",
        "report_regime",
        &r.code,
        &r.recipient,
        serde_json::json!({"source": r.source, "sha256": r.sha256,
            "previous_sha256": stored.map(|s| s.0), "version": r.version,
            "elements": r.elements.len()}),
    ))
    .await?;
    tx.commit().await?;
    Ok(Imported::Written)
}

/// Parse and import a regime file's text.
pub async fn import_text(db: &Db, ctx: &Ctx, file: &str, src: &str) -> Result<Imported, AppError> {
    let r = parse(file, src)?;
    import(db, ctx, &r).await
}

/// Import the shipped regimes (idempotent; run by `tinhso::prepare` after the plan): a file
/// whose content was imported before is skipped, so an edit made in the platform stays until
/// the shipped file itself changes. Returns how many were written.
pub async fn seed(db: &Db, ctx: &Ctx) -> Result<usize, AppError> {
    let mut n = 0;
    for (file, src) in SHIPPED {
        let r = parse(file, src)?;
        // A shipped file already imported once (e.g. since edited in the platform) is not
        // imported again: only a changed file makes a new version.
        let known: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM report_regime_versions WHERE code = $1 AND content_sha256 = $2",
        )
        .bind(&r.code)
        .bind(&r.sha256)
        .fetch_one(db.pool())
        .await
        .map_err(db_err)?;
        if known == 0 && import(db, ctx, &r).await? == Imported::Written {
            n += 1;
        }
    }
    Ok(n)
}

fn regime_row(r: &sqlx::any::AnyRow) -> Result<Regime, AppError> {
    let d: String = r.try_get(0).map_err(db_err)?;
    let mut regime: Regime = serde_json::from_str(&d).map_err(AppError::internal)?;
    regime.version = r.try_get(1).map_err(db_err)?;
    Ok(regime)
}

/// Every imported regime (its current version), by code.
pub async fn all(db: &Db) -> Result<Vec<Regime>, AppError> {
    let rows = sqlx::query("SELECT definition, version FROM report_regimes ORDER BY code")
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
    rows.iter().map(regime_row).collect()
}

/// One imported regime (its current version).
pub async fn get(db: &Db, code: &str) -> Result<Option<Regime>, AppError> {
    let row = sqlx::query("SELECT definition, version FROM report_regimes WHERE code = $1")
        .bind(code)
        .fetch_optional(db.pool())
        .await
        .map_err(db_err)?;
    row.as_ref().map(regime_row).transpose()
}

/// One version of a regime.
pub async fn get_version(db: &Db, code: &str, version: i64) -> Result<Option<Regime>, AppError> {
    let row = sqlx::query(
        "SELECT definition, version FROM report_regime_versions WHERE code = $1 AND version = $2",
    )
    .bind(code)
    .bind(version)
    .fetch_optional(db.pool())
    .await
    .map_err(db_err)?;
    row.as_ref().map(regime_row).transpose()
}

/// The regime as a task was opened with (its version), whatever was changed since.
pub async fn for_task(db: &Db, task: &crate::reports::Task) -> Result<Option<Regime>, AppError> {
    get_version(db, &task.regime_code, task.regime_version).await
}

/// One stored version of a regime, without its definition.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: i64,
    /// The file imported, or `nền tảng` for an edit in the platform.
    pub source: String,
    pub sha256: String,
    /// Who wrote it (`user:…`, `cli:…`).
    pub created_by: String,
    /// Unix microseconds.
    pub created_at: i64,
}

/// Every version of a regime, oldest first.
pub async fn versions(db: &Db, code: &str) -> Result<Vec<VersionInfo>, AppError> {
    let rows = sqlx::query(
        "SELECT version, source, content_sha256, created_by, created_at \
         FROM report_regime_versions WHERE code = $1 ORDER BY version",
    )
    .bind(code)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok(VersionInfo {
                version: r.try_get(0).map_err(db_err)?,
                source: r.try_get(1).map_err(db_err)?,
                sha256: r.try_get(2).map_err(db_err)?,
                created_by: r.try_get(3).map_err(db_err)?,
                created_at: r.try_get(4).map_err(db_err)?,
            })
        })
        .collect()
}

/// The reporting agencies of a regime: the listed ones, then every commune People's
/// Committee when the regime says so.
pub async fn reporters(db: &Db, r: &Regime) -> Result<Vec<String>, AppError> {
    let mut out = r.reporters.clone();
    if r.every_commune {
        let communes = agencies::list(
            db,
            &agencies::AgencyFilter {
                kind: Some("ubnd_xa".into()),
                limit: Some(2000),
                ..Default::default()
            },
        )
        .await?;
        let seen: BTreeSet<String> = out.iter().cloned().collect();
        out.extend(
            communes
                .into_iter()
                .map(|a| a.code)
                .filter(|c| !seen.contains(c)),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_regimes_parse() {
        for (file, src) in SHIPPED {
            let r = parse(file, src).unwrap_or_else(|e| panic!("{e}"));
            assert!(!r.elements.is_empty());
        }
        let r = parse(SHIPPED[0].0, SHIPPED[0].1).unwrap();
        assert_eq!(r.deadline, Deadline::Fixed { month: 11, day: 20 });
        assert_eq!(r.recipient, "000.00.06.H37");
        let q = parse(SHIPPED[1].0, SHIPPED[1].1).unwrap();
        assert_eq!(q.frequency, Frequency::Quarter);
        assert!(q.every_commune);
        assert!(q.elements.iter().any(|e| e.prefill.is_some()));
    }

    #[test]
    fn checks_parse() {
        let (l, op, r) = parse_check("a + b <= c").unwrap();
        assert_eq!(l, vec![Term::Key("a".into()), Term::Key("b".into())]);
        assert_eq!(op, Op::Le);
        assert_eq!(r, vec![Term::Key("c".into())]);
        let (_, op, r) = parse_check("x >= 10.5").unwrap();
        assert_eq!((op, r), (Op::Ge, vec![Term::Const(10.5)]));
        for bad in [
            "a b",
            "a <= ",
            "a <= b <= c",
            "A <= b",
            "a ++ b == c",
            "a <= inf",
        ] {
            assert!(parse_check(bad).is_err(), "{bad}");
        }
    }

    const HEAD: &str = "[regime]\ncode = \"T-1\"\nname_vi = \"Thử\"\nname_en = \"Test\"\ncontent = \"Nội dung\"\nlegal_basis = \"Căn cứ\"\nfrequency = \"quarter\"\nrecipient = \"000.00.06.H37\"\nreporters = [\"000.00.23.H37\"]\ndeadline_working_days = 5\ntemplate = [\"I. Kết quả\"]\n";

    fn errs(src: &str) -> Vec<(usize, String)> {
        parse("t.toml", src)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| {
                assert!(!e.message_vi.is_empty() && !e.message_en.is_empty());
                (e.line, e.field)
            })
            .collect()
    }

    fn el(extra: &str) -> String {
        format!(
            "{HEAD}\n[[element]]\nkey = \"a\"\nvi = \"A\"\nen = \"A\"\ntype = \"integer\"\n{extra}"
        )
    }

    #[test]
    fn errors_name_file_line_and_field() {
        assert!(parse("t.toml", &el("")).is_ok());
        assert_eq!(
            errs(&el("").replace("quarter", "weekly")),
            [(7, "regime.frequency".to_string())]
        );
        assert_eq!(
            errs(&el("").replace("\"integer\"", "\"money\"")),
            [(17, "type".to_string())]
        );
        assert_eq!(errs(&el("min = 5\nmax = 1\n")), [(19, "max".to_string())]);
        assert_eq!(
            errs(&el("prefill = \"services.nothing\"\n")),
            [(18, "prefill".to_string())]
        );
        assert_eq!(
            errs(&el("indicator = \"gov.x\"\n")),
            [(18, "indicator".to_string())]
        );
        assert_eq!(
            errs(&format!("{}\n[[rule]]\ncheck = \"a <= b\"\n", el(""))),
            [(20, "check".to_string())]
        );
        assert_eq!(
            errs(&el("").replace("deadline_working_days = 5", "deadline_date = \"02-30\"")),
            [
                (10, "regime.deadline_date".to_string()),
                (10, "regime.deadline_date".to_string())
            ]
        );
        assert_eq!(
            errs(&el("").replace("deadline_working_days = 5\n", ""))[0].1,
            "regime.deadline"
        );
        // Several at once, and reader errors.
        let e = errs(
            &el("")
                .replace("\"integer\"", "\"money\"")
                .replace("vi = \"A\"", "vi = \"\""),
        );
        assert_eq!(e.len(), 2);
        assert_eq!(errs(&el("colour = 1\n"))[0], (18, "colour".to_string()));
        assert_eq!(errs(&el("")[HEAD.len()..])[0].1, "regime");
        assert_eq!(errs(HEAD)[0].1, "element");
    }

    #[test]
    fn combining_rules_are_checked() {
        let share = |extra: &str| {
            format!(
                "{HEAD}\n[[element]]\nkey = \"n\"\nvi = \"N\"\nen = \"N\"\ntype = \"integer\"\n\n\
                 [[element]]\nkey = \"d\"\nvi = \"D\"\nen = \"D\"\ntype = \"integer\"\n\n\
                 [[element]]\nkey = \"s\"\nvi = \"S\"\nen = \"S\"\ntype = \"percent\"\n\
                 indicator = \"reported.gov.x\"\n{extra}"
            )
        };
        let r = parse("t.toml", &share("numerator = \"n\"\ndenominator = \"d\"\n")).unwrap();
        assert_eq!(r.elements[2].combine(), Combine::Ratio);
        assert_eq!(
            parse("t.toml", &share("")).unwrap().elements[2].combine(),
            Combine::Mean
        );
        let r = parse("t.toml", &share("combine = \"latest\"\n")).unwrap();
        assert_eq!(r.elements[2].combine(), Combine::Latest);
        assert_eq!(
            parse("t.toml", &el("")).unwrap().elements[0].combine(),
            Combine::Sum
        );
        let fields = |src: &str| -> Vec<String> { errs(src).into_iter().map(|e| e.1).collect() };
        assert_eq!(fields(&share("combine = \"median\"\n")), ["combine"]);
        assert_eq!(fields(&share("combine = \"ratio\"\n")), ["combine"]);
        assert_eq!(fields(&share("numerator = \"n\"\n")), ["numerator"]);
        assert_eq!(
            fields(&share("numerator = \"n\"\ndenominator = \"zz\"\n")),
            ["denominator"]
        );
        assert_eq!(
            fields(&share("numerator = \"s\"\ndenominator = \"d\"\n")),
            ["numerator"]
        );
        // Only an element recorded as an indicator combines.
        assert_eq!(fields(&el("combine = \"sum\"\n")), ["combine"]);
    }

    #[test]
    fn the_parser_never_panics_on_mangled_files() {
        // Cheap fuzzing: every prefix, and every line dropped or doubled, of the shipped files.
        for (file, src) in SHIPPED {
            let mut cut = 0;
            while cut < src.len() {
                if src.is_char_boundary(cut) {
                    let _ = parse(file, &src[..cut]);
                }
                cut += 97;
            }
            let lines: Vec<&str> = src.lines().collect();
            for i in 0..lines.len() {
                let mut dropped = lines.clone();
                dropped.remove(i);
                let _ = parse(file, &dropped.join("\n"));
                let mut doubled = lines.clone();
                doubled.insert(i, lines[i]);
                let _ = parse(file, &doubled.join("\n"));
            }
        }
    }
}
