//! View helpers shared by the module's pages: e-form fields as the templates draw them, error
//! messages tied to their fields, labels in both languages, dates, money, the QR code.

use crate::catalogue::{Field, Procedure, TimeUnit};
use crate::dossier::{Dossier, Event};
use crate::status::{Action, Status};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use tinhso_http::i18n::Lang;
use tinhso_http::layout::local_time;
use tinhso_http::AppState;
use tinhso_identity::Role;
use tinhso_kernel::money::Vnd;
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_refdata::units::units;

/// The module's stylesheet (linked from its pages; the layout's stays the base).
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("dich-vu-cong.css"),
    )
        .into_response()
}

/// Lạng Sơn's province code (2025).
pub const PROVINCE: &str = "20";

/// Error messages of a form, by input name, plus the summary shown above the form.
#[derive(Default)]
pub struct FormErrors {
    pub by_field: HashMap<String, String>,
    /// (anchor id, message) in field order, for the summary.
    pub summary: Vec<(String, String)>,
    /// A message not tied to a field (conflict, refusal).
    pub general: String,
}

impl FormErrors {
    pub fn of(e: &AppError, lang: Lang) -> Self {
        let mut out = FormErrors::default();
        for f in &e.fields {
            let msg = lang.s(&f.message_vi, &f.message_en).to_string();
            out.summary.push((input_id(&f.field), msg.clone()));
            out.by_field.entry(f.field.clone()).or_insert(msg);
        }
        if e.fields.is_empty() {
            out.general = error_text(e, lang);
        }
        out
    }

    /// Put the summary in the order of the page's fields, each message naming its field
    /// (unless it already does); messages of fields not on the page stay at the end.
    pub fn order_by<'a>(&mut self, fields: impl IntoIterator<Item = &'a FieldView>) {
        let mut ordered = Vec::new();
        for f in fields {
            if let Some(i) = self.summary.iter().position(|(id, _)| *id == f.id) {
                let (id, msg) = self.summary.remove(i);
                let short = f.label.split(" (").next().unwrap_or(&f.label).trim();
                let named =
                    tinhso_kernel::text::fold(&msg).contains(&tinhso_kernel::text::fold(short));
                ordered.push((
                    id,
                    if named {
                        msg
                    } else {
                        format!("{short}: {msg}")
                    },
                ));
            }
        }
        ordered.append(&mut self.summary);
        self.summary = ordered;
    }

    pub fn get(&self, name: &str) -> String {
        self.by_field.get(name).cloned().unwrap_or_default()
    }
}

/// The title and detail of an error in one sentence.
pub fn error_text(e: &AppError, lang: Lang) -> String {
    let title = lang.s(e.code.title_vi(), e.code.title_en());
    let detail = match lang {
        Lang::Vi => e.detail_vi.as_deref(),
        Lang::En => e.detail_en.as_deref(),
    };
    match detail {
        Some(d) if !d.is_empty() => format!("{title}. {d}"),
        _ => title.to_string(),
    }
}

/// The HTML id of an input from its name (`form.ho_ten` → `form-ho_ten`).
pub fn input_id(name: &str) -> String {
    name.replace(['.', '[', ']'], "-")
}

/// One option of a select.
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// A form field as the template draws it (`_field.html`).
pub struct FieldView {
    /// Input name, e.g. `form.ho_ten_tre`; also the key of its error.
    pub name: String,
    pub id: String,
    pub label: String,
    /// text, textarea, date, number, select, checkbox, cccd, mst, phone, email, admin_unit.
    pub kind: String,
    pub required: bool,
    pub value: String,
    pub checked: bool,
    pub options: Vec<OptionView>,
    pub help: String,
    pub error: String,
    pub min: String,
    pub max: String,
    pub maxlength: String,
    /// A date field holding something that is not a date: drawn as text so it stays visible.
    pub date_as_text: bool,
    /// `aria-describedby`: the help and error ids.
    pub describedby: String,
    pub autocomplete: String,
}

impl FieldView {
    #[allow(clippy::too_many_arguments)]
    pub fn simple(
        name: &str,
        label: &str,
        kind: &str,
        required: bool,
        value: &str,
        help: &str,
        errors: &FormErrors,
        autocomplete: &str,
    ) -> Self {
        let mut f = FieldView {
            name: name.to_string(),
            id: input_id(name),
            label: label.to_string(),
            kind: kind.to_string(),
            required,
            value: value.to_string(),
            checked: false,
            options: Vec::new(),
            help: help.to_string(),
            error: errors.get(name),
            min: String::new(),
            max: String::new(),
            maxlength: String::new(),
            describedby: String::new(),
            autocomplete: autocomplete.to_string(),
            date_as_text: kind == "date"
                && !value.is_empty()
                && chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_err(),
        };
        f.finish();
        f
    }

    pub fn with_options(mut self, options: Vec<(String, String)>) -> Self {
        self.options = options
            .into_iter()
            .map(|(value, label)| OptionView {
                selected: value == self.value,
                value,
                label,
            })
            .collect();
        self
    }

    pub fn with_maxlength(mut self, n: usize) -> Self {
        self.maxlength = n.to_string();
        self
    }

    fn finish(&mut self) {
        let mut ids = Vec::new();
        if !self.help.is_empty() {
            ids.push(format!("{}-help", self.id));
        }
        if !self.error.is_empty() {
            ids.push(format!("{}-err", self.id));
        }
        self.describedby = ids.join(" ");
    }
}

/// The communes and wards of Lạng Sơn, as (code, full name) in Vietnamese order.
pub fn commune_options() -> Vec<(String, String)> {
    units()
        .communes_of(PROVINCE)
        .into_iter()
        .map(|c| (c.code.clone(), c.full_name.clone()))
        .collect()
}

/// A JSON form value as an input's text.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "on" } else { "" }.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The e-form's fields with their values (as typed) and errors (under `form.<name>`).
pub fn eform_fields(
    fields: &[Field],
    values: &BTreeMap<String, String>,
    errors: &FormErrors,
) -> Vec<FieldView> {
    fields
        .iter()
        .map(|f| {
            let name = format!("form.{}", f.name);
            let value = values.get(&f.name).cloned().unwrap_or_default();
            let mut v = FieldView::simple(
                &name,
                &f.label,
                &f.kind,
                f.required,
                &value,
                f.help.as_deref().unwrap_or_default(),
                errors,
                match f.kind.as_str() {
                    "phone" => "tel",
                    "email" => "email",
                    _ => "off",
                },
            );
            v.checked = matches!(value.as_str(), "on" | "true" | "1" | "yes");
            v.min = f.min.map(|m| m.to_string()).unwrap_or_default();
            v.max = f.max.map(|m| m.to_string()).unwrap_or_default();
            v.maxlength = f.max_length.map(|m| m.to_string()).unwrap_or_default();
            match f.kind.as_str() {
                "select" => v.with_options(
                    f.options
                        .iter()
                        .flatten()
                        .map(|o| (o.value.clone(), o.label.clone()))
                        .collect(),
                ),
                "admin_unit" => v.with_options(commune_options()),
                _ => v,
            }
        })
        .collect()
}

/// A stored form value for reading (dates as DD/MM/YYYY, options and communes by name).
pub fn display_value(field: Option<&Field>, v: &Value, lang: Lang) -> String {
    let text = value_text(v);
    let Some(f) = field else { return text };
    match f.kind.as_str() {
        "checkbox" => lang
            .s(
                if v.as_bool().unwrap_or(false) {
                    "Có"
                } else {
                    "Không"
                },
                if v.as_bool().unwrap_or(false) {
                    "Yes"
                } else {
                    "No"
                },
            )
            .to_string(),
        "date" => date_vn(&text),
        "select" => f
            .options
            .iter()
            .flatten()
            .find(|o| o.value == text)
            .map(|o| o.label.clone())
            .unwrap_or(text),
        "admin_unit" => units()
            .commune(&text)
            .map(|c| c.full_name.clone())
            .unwrap_or(text),
        _ => text,
    }
}

/// (label, value) rows of a dossier's form, in the order of the procedure's fields.
pub fn form_rows(p: Option<&Procedure>, form: &Value, lang: Lang) -> Vec<(String, String)> {
    let Some(map) = form.as_object() else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    if let Some(p) = p {
        for f in &p.eform {
            if let Some(v) = map.get(&f.name) {
                rows.push((f.label.clone(), display_value(Some(f), v, lang)));
            }
        }
    }
    for (k, v) in map {
        if p.is_none_or(|p| !p.eform.iter().any(|f| f.name == *k)) {
            rows.push((k.clone(), display_value(None, v, lang)));
        }
    }
    rows
}

/// `YYYY-MM-DD` as `DD/MM/YYYY` (unchanged when it is something else).
pub fn date_vn(s: &str) -> String {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| s.to_string())
}

/// Whether an open dossier is past its promised date.
pub fn overdue(status: i64, due: Option<&str>) -> bool {
    let today = crate::dossier::today_local().format("%Y-%m-%d").to_string();
    matches!(status, 1 | 2 | 4 | 6) && due.is_some_and(|d| !d.is_empty() && d < today.as_str())
}

pub fn vnd(amount: i64) -> String {
    Vnd(amount).to_string()
}

pub fn level_label(level: &str, lang: Lang) -> String {
    match level {
        "xa" => lang.s("Cấp xã", "Commune level"),
        "tinh" => lang.s("Cấp tỉnh", "Provincial level"),
        other => other,
    }
    .to_string()
}

pub fn online_label(online: &str, lang: Lang) -> String {
    match online {
        "toan_trinh" => lang.s("Toàn trình", "Fully online"),
        "mot_phan" => lang.s("Một phần", "Partly online"),
        other => other,
    }
    .to_string()
}

pub fn time_limit_label(p: &Procedure, lang: Lang) -> String {
    let v = p.time_limit.value;
    match p.time_limit.unit {
        TimeUnit::WorkingDays => format!("{v} {}", lang.s("ngày làm việc", "working days")),
        TimeUnit::WorkingHours => format!("{v} {}", lang.s("giờ làm việc", "working hours")),
    }
}

pub fn component_form_label(form: &str, lang: Lang) -> String {
    match form {
        "electronic" => lang.s("Bản điện tử", "Electronic"),
        "original" => lang.s("Bản chính", "Original"),
        "copy" => lang.s("Bản sao", "Copy"),
        "original_or_copy" => lang.s("Bản chính hoặc bản sao", "Original or copy"),
        other => other,
    }
    .to_string()
}

pub fn role_label(role: &str, lang: Lang) -> String {
    match (Role::parse(role), lang) {
        (Some(r), Lang::Vi) => r.name_vi().to_string(),
        (Some(r), Lang::En) => match r {
            Role::Citizen => "Citizen",
            Role::Enterprise => "Enterprise, household business",
            Role::OneStopOfficer => "One-stop officer",
            Role::CommuneOfficer => "Commune officer",
            Role::Specialist => "Specialist",
            Role::DepartmentLeader => "Agency leader",
            Role::ProvinceLeader => "Province leader",
            Role::Admin => "Administrator",
            Role::Auditor => "Auditor",
            Role::BorderOfficer => "Border-gate officer",
            Role::BorderManager => "Border-gate manager",
            Role::ExchangeAdmin => "Data exchange hub administrator",
        }
        .to_string(),
        (None, _) => role.to_string(),
    }
}

pub fn status_label(code: i64, lang: Lang) -> String {
    Status::from_code(code)
        .map(|s| lang.s(s.name_vi(), s.name_en()).to_string())
        .unwrap_or_else(|| code.to_string())
}

/// The name of an action (or of the submission events) in the page's language.
pub fn action_label(action: &str, lang: Lang) -> String {
    let en = match action {
        "submit" => return lang.s("Nộp hồ sơ trực tuyến", "Submitted online").into(),
        "receive_at_counter" => {
            return lang
                .s("Tiếp nhận hồ sơ trực tiếp", "Received at the counter")
                .into()
        }
        crate::forms::APOLOGY_ACTION => {
            return lang
                .s(
                    "Xin lỗi, hẹn lại ngày trả kết quả (mẫu 04)",
                    "Apology and new return date (form 04)",
                )
                .into()
        }
        "accept" => "Accept the dossier",
        "refuse" => "Refuse to accept",
        "request_supplement" => "Request a supplement",
        "supplement" => "Supplement the dossier",
        "forward" => "Forward to the next step",
        "request_payment" => "Request payment of fees",
        "payment_received" => "Fees paid",
        "approve" => "Approve the result",
        "return_result" => "Return the result",
        "withdraw" => "Withdraw the dossier",
        "stop" => "Stop processing",
        other => other,
    };
    match (Action::parse(action), lang) {
        (Some(a), Lang::Vi) => a.name_vi().to_string(),
        _ => en.to_string(),
    }
}

pub fn channel_label(channel: i64, lang: Lang) -> String {
    match channel {
        1 => lang.s("Trực tiếp", "In person"),
        2 => lang.s("Trực tuyến", "Online"),
        3 => lang.s("Bưu chính công ích", "Public postal service"),
        _ => "—",
    }
    .to_string()
}

pub fn applicant_kind_label(kind: i64, lang: Lang) -> String {
    match kind {
        0 => lang.s("Công dân", "Citizen"),
        1 => lang.s("Doanh nghiệp", "Enterprise"),
        2 => lang.s("Hộ kinh doanh", "Household business"),
        _ => "—",
    }
    .to_string()
}

/// Mask all but the last `keep` characters (identity numbers and phones on public pages).
pub fn mask(s: &str, keep: usize) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i + keep < n { '•' } else { c })
        .collect()
}

/// One line of a dossier's history.
pub struct EventView {
    pub at: String,
    pub action: String,
    pub status: String,
    pub step: String,
    pub actor: String,
    pub reason: String,
    pub signed: bool,
    /// The signature checks against the recorded public key.
    pub verified: bool,
}

pub fn events(d: &Dossier, p: Option<&Procedure>, lang: Lang) -> Vec<EventView> {
    d.events
        .iter()
        .map(|e: &Event| EventView {
            at: local_time(e.at),
            action: action_label(&e.action, lang),
            status: status_label(e.to_status, lang),
            step: step_name(p, &e.step),
            actor: e.actor_name.clone(),
            reason: e.reason.clone(),
            signed: e.signed,
            verified: match (&e.public_key, &e.signature) {
                (Some(pk), Some(sig)) => {
                    tinhso_identity::keys::verify(pk, e.signed_payload.as_bytes(), sig)
                }
                _ => false,
            },
        })
        .collect()
}

pub fn step_name(p: Option<&Procedure>, step: &str) -> String {
    p.and_then(|p| p.workflow.iter().find(|s| s.step == step))
        .map(|s| s.name.clone())
        .unwrap_or_else(|| step.to_string())
}

/// The site's own address as the visitor reached it (for the QR code on receipts).
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(h) => format!(
            "{}://{h}",
            if state.config.secure_cookies {
                "https"
            } else {
                "http"
            }
        ),
        None => String::new(),
    }
}

/// The portal's public address for links that outlive the request (QR codes on signed
/// results): the configured `public_url`, else the request's host, else `http://localhost`.
pub fn public_url(state: &AppState, headers: &HeaderMap) -> String {
    let configured = state.config.public_url.trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_string();
    }
    let base = public_base(state, headers);
    if base.is_empty() {
        "http://localhost".to_string()
    } else {
        base
    }
}

/// A QR code of `text` as an inline SVG element (no XML declaration), labelled for screen
/// readers.
pub fn qr_svg(text: &str, label: &str) -> Result<String, AppError> {
    tinhso_pdf::qr_svg(text, label).map_err(AppError::internal)
}

/// Tracking URL of a dossier (path and query).
pub fn tracking_path(code: &str, lookup: &str) -> String {
    format!(
        "/tra-cuu?ma_ho_so={}&ma={}",
        tinhso_http::layout::url_encode(code),
        tinhso_http::layout::url_encode(lookup)
    )
}

/// Receipt URL of a dossier (path and query).
pub fn receipt_path(code: &str, lookup: &str) -> String {
    format!(
        "/ho-so/{}/bien-nhan?ma={}",
        tinhso_http::layout::url_encode(code),
        tinhso_http::layout::url_encode(lookup)
    )
}

/// Whether an error is the "validation failed" kind a form shows beside its fields.
pub fn is_validation(e: &AppError) -> bool {
    e.code == ErrorCode::ValidationFailed
}

/// Form fields of a urlencoded body, in order.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, AppError> {
    serde_urlencoded::from_bytes(body).map_err(|_| AppError::new(ErrorCode::BadRequest))
}

/// The first value of `key` in a parsed form ("" when absent).
pub fn form_get(pairs: &[(String, String)], key: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The e-form values (`form.<name>`) of a parsed form.
pub fn form_values(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("form.").map(|n| (n.to_string(), v.clone())))
        .collect()
}
