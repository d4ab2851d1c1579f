//! Reporting regimes created and edited in the platform (soạn, sửa chế độ báo cáo): the form's
//! (or the API's) fields are written as a regime file and go through the very checks of the
//! TOML import ([`regimes::parse`], [`regimes::ref_errors`]); each problem comes back on the
//! field that was typed (`name_vi`, `elements.2.max`, `rules`), in Vietnamese and English.
//! Saving is an import: a new version of the regime, never overwriting one; tasks already
//! opened keep the version they were opened with ([`regimes::for_task`]).

use crate::plan::PlanError;
use crate::regimes::{self, Deadline, ElementType, Imported, Part, Regime, Term};
use crate::reported::parse_number;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tinhso_kernel::{AppError, FieldError, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::Db;

/// What a regime edited in the platform is recorded as coming from.
pub const SOURCE: &str = "nền tảng";

/// A regime as typed in the form or sent to the API: every field as text, so that bad input
/// is reported on its field.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RegimeInput {
    /// `A–Z`, `0–9`, `-` (ignored when editing: the code is the page's).
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    /// Nội dung báo cáo.
    pub content: String,
    /// Căn cứ.
    pub legal_basis: String,
    /// `month`, `quarter`, `six_months`, `nine_months`, `year`.
    pub frequency: String,
    /// The recipient agency's code (cơ quan nhận báo cáo).
    pub recipient: String,
    /// Reporting agencies' codes, separated by spaces, commas or lines.
    pub reporters: String,
    /// Also every commune People's Committee.
    pub every_commune: bool,
    /// Working days after the cut-off (1–60) …
    pub deadline_working_days: String,
    /// … or a fixed day `MM-DD` (yearly regimes).
    pub deadline_date: String,
    /// Headings of the printed report, one a line.
    pub template: String,
    pub elements: Vec<ElementInput>,
    /// Cross-field rules, one a line: `a + b <= c | giải thích | explanation`.
    pub rules: String,
}

/// A data element as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ElementInput {
    pub key: String,
    pub vi: String,
    pub en: String,
    /// `integer`, `number`, `percent`, `text`, `boolean`.
    #[serde(rename = "type")]
    pub kind: String,
    pub unit: String,
    pub required: bool,
    pub min: String,
    pub max: String,
    pub max_length: String,
    /// A live indicator (`services.on_time`, `services.online:denominator`).
    pub prefill: String,
    /// The reported indicator (`reported.…`) the approved value is recorded as.
    pub indicator: String,
    /// `sum`, `ratio`, `mean`, `latest` (empty: the default).
    pub combine: String,
    pub numerator: String,
    pub denominator: String,
}

impl ElementInput {
    /// Whether nothing was typed (a blank row of the form).
    pub fn is_blank(&self) -> bool {
        [
            &self.key,
            &self.vi,
            &self.en,
            &self.unit,
            &self.min,
            &self.max,
            &self.max_length,
            &self.prefill,
            &self.indicator,
            &self.combine,
            &self.numerator,
            &self.denominator,
        ]
        .iter()
        .all(|s| s.trim().is_empty())
    }
}

fn num_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

impl RegimeInput {
    /// The fields of a stored regime, to edit it.
    pub fn from_regime(r: &Regime) -> Self {
        let type_name = |k: ElementType| match k {
            ElementType::Integer => "integer",
            ElementType::Number => "number",
            ElementType::Percent => "percent",
            ElementType::Text => "text",
            ElementType::Boolean => "boolean",
        };
        let term = |t: &Term| match t {
            Term::Key(k) => k.clone(),
            Term::Const(c) => num_text(*c),
        };
        let side = |ts: &[Term]| ts.iter().map(term).collect::<Vec<_>>().join(" + ");
        RegimeInput {
            code: r.code.clone(),
            name_vi: r.name_vi.clone(),
            name_en: r.name_en.clone(),
            content: r.content.clone(),
            legal_basis: r.legal_basis.clone(),
            frequency: r.frequency.as_str().to_string(),
            recipient: r.recipient.clone(),
            reporters: r.reporters.join("\n"),
            every_commune: r.every_commune,
            deadline_working_days: match r.deadline {
                Deadline::WorkingDays(n) => n.to_string(),
                Deadline::Fixed { .. } => String::new(),
            },
            deadline_date: match r.deadline {
                Deadline::Fixed { month, day } => format!("{month:02}-{day:02}"),
                Deadline::WorkingDays(_) => String::new(),
            },
            template: r.template.join("\n"),
            elements: r
                .elements
                .iter()
                .map(|e| {
                    let percent = e.kind == ElementType::Percent;
                    ElementInput {
                        key: e.key.clone(),
                        vi: e.name_vi.clone(),
                        en: e.name_en.clone(),
                        kind: type_name(e.kind).into(),
                        unit: if percent && e.unit == "%" {
                            String::new()
                        } else {
                            e.unit.clone()
                        },
                        required: e.required,
                        // A percentage's 0–100 are its defaults: shown only when narrower.
                        min: e
                            .min
                            .filter(|m| !(percent && *m == 0.0))
                            .map(num_text)
                            .unwrap_or_default(),
                        max: e
                            .max
                            .filter(|m| !(percent && *m == 100.0))
                            .map(num_text)
                            .unwrap_or_default(),
                        max_length: if e.kind == ElementType::Text && e.max_length != 4000 {
                            e.max_length.to_string()
                        } else {
                            String::new()
                        },
                        prefill: e
                            .prefill
                            .as_ref()
                            .map(|p| match p.part {
                                Part::Value => p.indicator.clone(),
                                Part::Numerator => format!("{}:numerator", p.indicator),
                                Part::Denominator => format!("{}:denominator", p.indicator),
                            })
                            .unwrap_or_default(),
                        indicator: e.indicator.clone().unwrap_or_default(),
                        combine: e
                            .combine
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default(),
                        numerator: e.numerator.clone().unwrap_or_default(),
                        denominator: e.denominator.clone().unwrap_or_default(),
                    }
                })
                .collect(),
            rules: r
                .rules
                .iter()
                .map(|c| {
                    let mut line = format!("{} {} {}", side(&c.lhs), op_text(c.op), side(&c.rhs));
                    if !c.message_vi.is_empty() || !c.message_en.is_empty() {
                        line.push_str(&format!(" | {} | {}", c.message_vi, c.message_en));
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

fn op_text(op: regimes::Op) -> &'static str {
    match op {
        regimes::Op::Le => "<=",
        regimes::Op::Lt => "<",
        regimes::Op::Ge => ">=",
        regimes::Op::Gt => ">",
        regimes::Op::Eq => "==",
    }
}

/// A TOML basic string (JSON's escapes are TOML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The regime file of the input, and for each of its lines the form field it came from.
/// Numbers that are not numbers are refused here, on their field (the file could not say it).
struct Written {
    src: String,
    fields: BTreeMap<usize, String>,
    errors: Vec<FieldError>,
}

impl Written {
    fn line(&mut self, field: &str, text: String) {
        self.src.push_str(&text);
        self.src.push('\n');
        let n = self.src.lines().count();
        self.fields.insert(n, field.to_string());
    }

    fn text(&mut self, field: &str, key: &str, v: &str) {
        self.line(field, format!("{key} = {}", quoted(v)));
    }

    fn number(&mut self, field: &str, key: &str, v: &str, integer: bool) {
        let v = v.trim();
        if v.is_empty() {
            return;
        }
        match parse_number(v) {
            Some(x) if !integer || x.fract() == 0.0 => {
                let lit = if integer {
                    num_text(x)
                } else {
                    format!("{x:?}")
                };
                self.line(field, format!("{key} = {lit}"));
            }
            _ => self.errors.push(
                Invalid::new(
                    "number",
                    format!(
                        "Quy tắc «số»: phải là {} (đã nhập «{v}»)",
                        if integer {
                            "một số nguyên"
                        } else {
                            "một số, ví dụ 12,5"
                        }
                    ),
                    format!(
                        "Rule “number”: must be {} (entered “{v}”)",
                        if integer {
                            "a whole number"
                        } else {
                            "a number, e.g. 12.5"
                        }
                    ),
                )
                .on(field),
            ),
        }
    }
}

fn list(s: &str, sep: &[char]) -> Vec<String> {
    s.split(sep)
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn write(input: &RegimeInput, elements: &[(usize, &ElementInput)]) -> Written {
    let mut w = Written {
        src: String::new(),
        fields: BTreeMap::new(),
        errors: Vec::new(),
    };
    w.line("", "[regime]".into());
    w.text("code", "code", &input.code);
    w.text("name_vi", "name_vi", &input.name_vi);
    w.text("name_en", "name_en", &input.name_en);
    w.text("content", "content", &input.content);
    w.text("legal_basis", "legal_basis", &input.legal_basis);
    w.text("frequency", "frequency", &input.frequency);
    w.text("recipient", "recipient", &input.recipient);
    let reporters: Vec<String> = list(&input.reporters, &[' ', ',', ';', '\n', '\r', '\t'])
        .iter()
        .map(|r| quoted(r))
        .collect();
    w.line(
        "reporters",
        format!("reporters = [{}]", reporters.join(", ")),
    );
    w.line(
        "every_commune",
        format!("every_commune = {}", input.every_commune),
    );
    w.number(
        "deadline_working_days",
        "deadline_working_days",
        &input.deadline_working_days,
        true,
    );
    if !input.deadline_date.trim().is_empty() {
        w.text("deadline_date", "deadline_date", input.deadline_date.trim());
    }
    let template: Vec<String> = list(&input.template, &['\n', '\r'])
        .iter()
        .map(|t| quoted(t))
        .collect();
    w.line("template", format!("template = [{}]", template.join(", ")));
    for (i, e) in elements {
        let f = |k: &str| format!("elements.{i}.{k}");
        w.line("", String::new());
        w.line(&f("key"), "[[element]]".into());
        w.text(&f("key"), "key", &e.key);
        w.text(&f("vi"), "vi", &e.vi);
        w.text(&f("en"), "en", &e.en);
        w.text(&f("type"), "type", &e.kind);
        for (k, v) in [
            ("unit", &e.unit),
            ("prefill", &e.prefill),
            ("indicator", &e.indicator),
            ("combine", &e.combine),
            ("numerator", &e.numerator),
            ("denominator", &e.denominator),
        ] {
            if !v.trim().is_empty() {
                w.text(&f(k), k, v.trim());
            }
        }
        w.line(&f("required"), format!("required = {}", e.required));
        w.number(&f("min"), "min", &e.min, false);
        w.number(&f("max"), "max", &e.max, false);
        w.number(&f("max_length"), "max_length", &e.max_length, true);
    }
    for line in list(&input.rules, &['\n', '\r']) {
        let mut parts = line.splitn(3, '|').map(str::trim);
        let check = parts.next().unwrap_or_default();
        let vi = parts.next().unwrap_or_default();
        let en = parts.next().unwrap_or_default();
        w.line("", String::new());
        w.line("rules", "[[rule]]".into());
        w.text("rules", "check", check);
        if !vi.is_empty() {
            w.text("rules", "vi", vi);
        }
        if !en.is_empty() {
            w.text("rules", "en", en);
        }
    }
    w
}

/// The form field of a problem the regime checks found.
fn field_of(e: &PlanError, w: &Written, r_keys: &[(String, usize)]) -> String {
    if let Some(f) = e.field.strip_prefix("regime.") {
        return match f {
            "deadline" => "deadline_working_days".into(),
            other => other.into(),
        };
    }
    if let Some(rest) = e.field.strip_prefix("element.") {
        // From the database checks: `element.<key>.indicator`.
        if let Some((key, what)) = rest.rsplit_once('.') {
            if let Some((_, i)) = r_keys.iter().find(|(k, _)| k == key) {
                return format!("elements.{i}.{what}");
            }
        }
    }
    if e.field == "element" {
        return "elements".into();
    }
    match w.fields.get(&e.line) {
        Some(f) if f.starts_with("elements.") => {
            let prefix = f.rsplit_once('.').map_or(f.as_str(), |(p, _)| p);
            format!("{prefix}.{}", e.field)
        }
        Some(f) if !f.is_empty() => f.clone(),
        _ => "form".into(),
    }
}

fn problems(errors: Vec<PlanError>, w: &Written, r_keys: &[(String, usize)]) -> Vec<FieldError> {
    errors
        .iter()
        .map(|e| {
            Invalid::new("regime", e.message_vi.clone(), e.message_en.clone())
                .on(field_of(e, w, r_keys))
        })
        .collect()
}

/// Check the input in full (the import's checks) into a regime; nothing is written.
pub async fn check(db: &Db, input: &RegimeInput) -> Result<Regime, AppError> {
    // Blank rows of the form are no elements; the others keep their row number.
    let elements: Vec<(usize, &ElementInput)> = input
        .elements
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.is_blank())
        .collect();
    let keys: Vec<(String, usize)> = elements
        .iter()
        .map(|(i, e)| (e.key.trim().to_string(), *i))
        .collect();
    let w = write(input, &elements);
    let mut errs = w.errors.clone();
    let r = match regimes::parse(SOURCE, &w.src) {
        Ok(r) => Some(r),
        Err(e) => {
            errs.extend(problems(e.0, &w, &keys));
            None
        }
    };
    if let Some(r) = &r {
        errs.extend(problems(regimes::ref_errors(db, r).await?, &w, &keys));
    }
    match r {
        Some(r) if errs.is_empty() => Ok(r),
        _ => Err(AppError::fields(errs).with_detail(
            "Chế độ báo cáo có lỗi; chưa ghi gì",
            "The reporting regime has errors; nothing was saved",
        )),
    }
}

/// The checked regime of the input: when `editing`, the stored regime's code (404 if none);
/// otherwise a new code (a taken one is refused on `code`). Nothing is written.
pub async fn prepare(
    db: &Db,
    input: &RegimeInput,
    editing: Option<&str>,
) -> Result<Regime, AppError> {
    let mut input = input.clone();
    input.code = match editing {
        Some(code) => {
            if regimes::get(db, code).await?.is_none() {
                return Err(AppError::not_found());
            }
            code.to_string()
        }
        None => {
            let code = input.code.trim().to_string();
            if !code.is_empty() && regimes::get(db, &code).await?.is_some() {
                return Err(AppError::field(
                    "code",
                    Invalid::new(
                        "taken",
                        format!("Quy tắc «mã»: đã có chế độ báo cáo mã {code}; hãy sửa chế độ đó"),
                        format!(
                            "Rule “code”: a regime with the code {code} exists; edit it instead"
                        ),
                    ),
                ));
            }
            code
        }
    };
    check(db, &input).await
}

/// [`prepare`] then save: a new regime, or a new version of it (unchanged content writes
/// nothing). Returns the regime as stored and whether anything was written.
pub async fn save(
    db: &Db,
    ctx: &Ctx,
    input: &RegimeInput,
    editing: Option<&str>,
) -> Result<(Regime, Imported), AppError> {
    let r = prepare(db, input, editing).await?;
    let done = regimes::import(db, ctx, &r).await?;
    let stored = regimes::get(db, &r.code)
        .await?
        .ok_or_else(|| AppError::internal("regime just saved"))?;
    Ok((stored, done))
}
