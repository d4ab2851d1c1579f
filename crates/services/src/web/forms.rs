//! Forms 02, 03, 04, 06 and 07 (Circular 01/2018/TT-VPCP) on the web: the notices as PDF for
//! the applicant (lookup code or owner) and the officers in scope, the apology (form 04) page
//! and its post, the process control slip (form 06) as a page and a PDF, the dossier register
//! (form 07) as a page, CSV and PDF, and their JSON API ([`FormsApiDoc`], merged by
//! `tinhso-web`).

use super::view::{self, FormErrors};
use crate::dossier::{self, Dossier};
use crate::forms::{self, ApologyInput, ControlSlip, Notice, Register};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use tinhso_http::context::require;
use tinhso_http::error::{ApiError, PageError, Problem};
use tinhso_http::layout::{local_time, render, url_encode, Chrome};
use tinhso_http::{ApiJson, AppState, ReqCtx};
use tinhso_identity::Permission;
use tinhso_kernel::{AppError, ErrorCode, FieldErrors, Invalid};
use tinhso_refdata::agencies;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ho-so/{code}/mau-02.pdf", get(form02_pdf))
        .route("/ho-so/{code}/mau-03.pdf", get(form03_pdf))
        .route("/ho-so/{code}/mau-04.pdf", get(form04_pdf))
        .route(
            "/nghiep-vu/ho-so/{code}/xin-loi",
            get(apology_page).post(apology_post),
        )
        .route("/nghiep-vu/ho-so/{code}/mau-06", get(slip_page))
        .route("/nghiep-vu/ho-so/{code}/mau-06.pdf", get(slip_pdf))
        .route("/nghiep-vu/so-theo-doi", get(register_page))
        .route("/nghiep-vu/so-theo-doi.csv", get(register_csv))
        .route("/nghiep-vu/so-theo-doi.pdf", get(register_pdf))
        .route("/api/v1/dossiers/{code}/forms/{form}", get(api_form))
        .route("/api/v1/dossiers/{code}/apology", post(api_apology))
        .route("/api/v1/dossier-register", get(api_register))
}

/// The forms' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(api_form, api_apology, api_register),
    components(schemas(ApologyBody)),
    tags((name = "services", description = "Online public services: procedure catalogue, dossiers, one-stop workflow"))
)]
pub struct FormsApiDoc;

/// Rows of the register shown on its page (the CSV has them all, up to the cap).
const PAGE_ROWS: usize = 200;
/// Rows of the register in its PDF.
pub const PDF_ROWS: usize = 1000;

fn safe_name(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn today_tuple() -> (u32, u32, i32) {
    let t = dossier::today_local();
    (t.day(), t.month(), t.year())
}

/// The dossier for whoever may read its forms: the applicant (lookup code, or signed in as the
/// owner) or staff holding `dossier_read` on its agency (a denial is audited). Anyone else gets
/// "not found", whether the dossier exists or not.
async fn readable(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    lookup: &str,
) -> Result<Dossier, AppError> {
    if !lookup.trim().is_empty() {
        return super::lookup_limit::track(state, &ctx.ip, code, lookup).await;
    }
    let Some(p) = ctx.principal.as_ref() else {
        return Err(AppError::not_found());
    };
    let d = dossier::get(&state.db, code.trim())
        .await?
        .ok_or_else(AppError::not_found)?;
    if d.applicant_user_id.as_deref() == Some(p.user_id.as_str()) {
        return Ok(d);
    }
    if !p.can_somewhere(Permission::DossierRead) {
        return Err(AppError::not_found());
    }
    office(state, ctx, &d, Permission::DossierRead).await?;
    Ok(d)
}

/// Check that the principal holds `perm` on the dossier's agency (audited when refused).
async fn office(
    state: &AppState,
    ctx: &ReqCtx,
    d: &Dossier,
    perm: Permission,
) -> Result<(), AppError> {
    let scope = dossier::scope_of(&state.db, d).await?;
    require(state, ctx, perm, &scope, &format!("dossier:{}", d.code)).await
}

/// The dossier `code` for an officer holding `perm` over it (refusals audited).
pub(super) async fn office_dossier(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    perm: Permission,
) -> Result<Dossier, AppError> {
    let d = dossier::get(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    office(state, ctx, &d, perm).await?;
    Ok(d)
}

/// Form 02, 03 or 04 of `d` as PDF bytes (event `seq`, else the latest).
async fn notice_pdf_of(
    state: &AppState,
    headers: &HeaderMap,
    d: &Dossier,
    kind: Notice,
    seq: Option<i64>,
) -> Result<Response, AppError> {
    let data = forms::notice(d, kind, seq).ok_or_else(AppError::not_found)?;
    let (_, issuer) = crate::results::issuer_of(&state.db, &d.agency_code).await?;
    let components = match kind {
        Notice::Supplement => {
            crate::catalogue::version(&state.db, &d.procedure_code, d.procedure_version)
                .await?
                .map(|p| {
                    p.components
                        .iter()
                        .filter(|c| c.required)
                        .map(|c| c.name.clone())
                        .collect()
                })
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let lookup = dossier::lookup_code(&d.code);
    let doc = forms::NoticeDoc {
        issuer,
        data,
        tracking_url: format!(
            "{}{}",
            view::public_url(state, headers),
            view::tracking_path(&d.code, &lookup)
        ),
        components,
    };
    Ok(super::results::pdf_response(
        forms::notice_pdf(&doc),
        &format!("mau-{}-{}.pdf", kind.number(), safe_name(&d.code)),
        true,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct NoticeQuery {
    /// The dossier's lookup code (the applicant without signing in).
    #[serde(default)]
    ma: String,
    /// Which event (its sequence number in the history); the latest of the kind otherwise.
    #[serde(default)]
    seq: String,
}

fn seq_of(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

async fn notice_page_pdf(
    state: AppState,
    ctx: ReqCtx,
    headers: HeaderMap,
    code: String,
    q: NoticeQuery,
    kind: Notice,
) -> Result<Response, PageError> {
    let d = readable(&state, &ctx, &code, &q.ma)
        .await
        .map_err(|e| ctx.page_err(e))?;
    notice_pdf_of(&state, &headers, &d, kind, seq_of(&q.seq))
        .await
        .map_err(|e| ctx.page_err(e))
}

pub async fn form02_pdf(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    notice_page_pdf(state, ctx, headers, code, q, Notice::Supplement).await
}

pub async fn form03_pdf(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    notice_page_pdf(state, ctx, headers, code, q, Notice::Refusal).await
}

pub async fn form04_pdf(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    notice_page_pdf(state, ctx, headers, code, q, Notice::Apology).await
}

/// A link to one notice of a dossier.
pub struct NoticeLink {
    pub label: String,
    pub href: String,
    pub at: String,
}

/// Links to every notice (forms 02, 03, 04) of `d`; with the lookup code for the applicant.
pub fn notice_links(
    d: &Dossier,
    lookup: Option<&str>,
    lang: tinhso_http::i18n::Lang,
) -> Vec<NoticeLink> {
    forms::notices(d)
        .into_iter()
        .map(|(k, seq)| {
            let at = d
                .events
                .iter()
                .find(|e| e.seq == seq)
                .map(|e| local_time(e.at))
                .unwrap_or_default();
            let ma = lookup
                .map(|l| format!("ma={}&", url_encode(l)))
                .unwrap_or_default();
            NoticeLink {
                label: format!(
                    "{} ({} {})",
                    lang.s(k.name_vi(), k.name_en()),
                    lang.s("mẫu", "form"),
                    k.number()
                ),
                href: format!(
                    "/ho-so/{}/mau-{}.pdf?{ma}seq={seq}",
                    url_encode(&d.code),
                    k.number()
                ),
                at,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- form 04 page

#[derive(Template)]
#[template(path = "forms_apology.html")]
struct ApologyPage {
    c: Chrome,
    d: Dossier,
    due: String,
    overdue: bool,
    /// The form applies now (open, late or about to be).
    eligible: bool,
    window: u32,
    reason: String,
    new_due_date: String,
    errors: FormErrors,
    notices: Vec<NoticeLink>,
}

async fn apology_view(
    state: &AppState,
    ctx: &ReqCtx,
    d: Dossier,
    typed: Option<&ApologyInput>,
    errors: FormErrors,
) -> Result<ApologyPage, AppError> {
    let cal = tinhso_refdata::calendar::working_calendar(&state.db).await?;
    let today = dossier::today_local();
    let due = d
        .due_date
        .as_deref()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
    // A suggestion: the working day after the later of today and the current promised date.
    let suggested = due
        .map(|due| {
            cal.add_working_days(due.max(today), 1)
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_default();
    Ok(ApologyPage {
        c: Chrome::of(ctx),
        due: d.due_date.as_deref().map(view::date_vn).unwrap_or_default(),
        overdue: view::overdue(d.status, d.due_date.as_deref()),
        eligible: forms::apology_open(&d, &cal, today),
        window: forms::APOLOGY_NOTICE_WORKING_DAYS,
        reason: typed.map(|t| t.reason.clone()).unwrap_or_default(),
        new_due_date: typed.map(|t| t.new_due_date.clone()).unwrap_or(suggested),
        errors,
        notices: notice_links(&d, None, ctx.lang),
        d,
    })
}

pub async fn apology_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let d = office_dossier(&state, &ctx, &code, Permission::DossierProcess)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let page = apology_view(&state, &ctx, d, None, FormErrors::default())
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(render(&page))
}

pub async fn apology_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = view::parse_form(&body).map_err(|e| ctx.page_err(e))?;
    let input = ApologyInput {
        reason: view::form_get(&pairs, "reason"),
        new_due_date: view::form_get(&pairs, "new_due_date"),
    };
    let d = office_dossier(&state, &ctx, &code, Permission::DossierProcess)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    match forms::apologise(&state.db, &ctx.audit(), &code, p, &input).await {
        Ok(_) => Ok(
            Redirect::to(&format!("/nghiep-vu/ho-so/{}#h-history", url_encode(&code)))
                .into_response(),
        ),
        Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Forbidden) => {
            Err(ctx.page_err(e))
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let errors = FormErrors::of(&e, ctx.lang);
            let d = dossier::get(&state.db, &code)
                .await
                .map_err(|e| ctx.page_err(e))?
                .unwrap_or(d);
            let page = apology_view(&state, &ctx, d, Some(&input), errors)
                .await
                .map_err(|e| ctx.page_err(e))?;
            Ok((status, render(&page)).into_response())
        }
    }
}

// ---------------------------------------------------------------- form 06

async fn slip_of(state: &AppState, d: &Dossier) -> Result<ControlSlip, AppError> {
    let p = crate::catalogue::version(&state.db, &d.procedure_code, d.procedure_version).await?;
    let cal = tinhso_refdata::calendar::working_calendar(&state.db).await?;
    Ok(forms::control_slip(d, p.as_ref(), &cal))
}

struct SlipRow {
    no: usize,
    giver: String,
    receiver: String,
    at: String,
    deadline: String,
    timing: String,
    late: bool,
    note: String,
}

#[derive(Template)]
#[template(path = "forms_slip.html")]
struct SlipPage {
    c: Chrome,
    s: ControlSlip,
    received: String,
    due: String,
    original_due: String,
    rows: Vec<SlipRow>,
}

pub async fn slip_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let d = office_dossier(&state, &ctx, &code, Permission::DossierRead)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let s = slip_of(&state, &d).await.map_err(|e| ctx.page_err(e))?;
    let lang = ctx.lang;
    Ok(render(&SlipPage {
        c: Chrome::of(&ctx),
        received: s.received_at.map(local_time).unwrap_or_default(),
        due: s.due.as_deref().map(view::date_vn).unwrap_or_default(),
        original_due: s
            .original_due
            .as_deref()
            .map(view::date_vn)
            .unwrap_or_default(),
        rows: s
            .rows
            .iter()
            .map(|r| SlipRow {
                no: r.no,
                giver: format!("{} – {}", r.giver_unit, r.giver),
                receiver: format!("{} – {}", r.receiver_unit, r.receiver),
                at: local_time(r.at),
                deadline: r.deadline.clone(),
                timing: lang.s(r.timing.label_vi(), r.timing.label_en()).to_string(),
                late: r.timing == forms::Timing::Late,
                note: r.note.clone(),
            })
            .collect(),
        s,
    }))
}

async fn slip_pdf_of(state: &AppState, d: &Dossier) -> Result<Response, AppError> {
    let s = slip_of(state, d).await?;
    let (_, issuer) = crate::results::issuer_of(&state.db, &d.agency_code).await?;
    Ok(super::results::pdf_response(
        forms::control_slip_pdf(&s, &issuer, today_tuple()),
        &format!("mau-06-{}.pdf", safe_name(&d.code)),
        true,
    ))
}

pub async fn slip_pdf(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let d = office_dossier(&state, &ctx, &code, Permission::DossierRead)
        .await
        .map_err(|e| ctx.page_err(e))?;
    slip_pdf_of(&state, &d).await.map_err(|e| ctx.page_err(e))
}

// ---------------------------------------------------------------- form 07

#[derive(Deserialize, IntoParams, Default)]
pub struct RegisterQuery {
    /// The agency's code (required).
    #[serde(default)]
    agency: String,
    /// First day, `YYYY-MM-DD` (default: the first of this month).
    #[serde(default)]
    from: String,
    /// Last day, included, `YYYY-MM-DD` (default: today).
    #[serde(default)]
    to: String,
    /// API only: `json` (default) or `csv`.
    #[serde(default)]
    format: String,
}

/// The period `[from, to]` of a register query as `[from, to + 1)`; field errors on `from`,
/// `to`.
fn register_period(q: &RegisterQuery) -> Result<(NaiveDate, NaiveDate), AppError> {
    let today = dossier::today_local();
    let to_excl = match q.to.trim() {
        "" => today
            .succ_opt()
            .unwrap_or(today)
            .format("%Y-%m-%d")
            .to_string(),
        t => match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            Ok(d) => d.succ_opt().unwrap_or(d).format("%Y-%m-%d").to_string(),
            Err(_) => t.to_string(),
        },
    };
    crate::indicators::parse_period(Some(q.from.as_str()), Some(to_excl.as_str())).map_err(
        |mut e| {
            for f in &mut e.fields {
                if f.code == "period" {
                    f.message_vi = "Ngày kết thúc không được trước ngày bắt đầu".into();
                    f.message_en = "The last day cannot be before the first".into();
                }
            }
            e
        },
    )
}

/// The register for a query, checked (the agency in the principal's scope, audited when not).
async fn register_of(
    state: &AppState,
    ctx: &ReqCtx,
    q: &RegisterQuery,
    cap: usize,
) -> Result<Register, AppError> {
    let p = ctx.principal()?;
    let mut errs = FieldErrors::new();
    let period = match register_period(q) {
        Ok(p) => Some(p),
        Err(e) => {
            for f in e.fields {
                errs.push(&f.field, Invalid::new(f.code, f.message_vi, f.message_en));
            }
            None
        }
    };
    let agency = match q.agency.trim() {
        "" => {
            errs.push(
                "agency",
                Invalid::new("required", "Vui lòng chọn cơ quan", "Choose the agency"),
            );
            None
        }
        code => match agencies::get(&state.db, code).await? {
            Some(a) => Some(a),
            None => {
                errs.push(
                    "agency",
                    Invalid::new("agency_unknown", "Không có cơ quan này", "No such agency"),
                );
                None
            }
        },
    };
    errs.into_result()?;
    let (Some((from, to)), Some(agency)) = (period, agency) else {
        return Err(AppError::internal("register query after validation"));
    };
    let scope = dossier::agency_scope(&state.db, &agency).await?;
    require(
        state,
        ctx,
        Permission::DossierRead,
        &scope,
        &format!("agency:{}", agency.code),
    )
    .await?;
    forms::register(&state.db, p, &agency.code, from, to, cap).await
}

struct RegisterRowView {
    code: String,
    procedure: String,
    applicant: String,
    received: String,
    due: String,
    original_due: String,
    finished: String,
    status: String,
    outcome: String,
    late: bool,
}

#[derive(Template)]
#[template(path = "forms_register.html")]
struct RegisterPage {
    c: Chrome,
    agencies: Vec<(String, String)>,
    agency: String,
    from: String,
    to: String,
    errors: FormErrors,
    /// Shown when the query is complete and valid.
    register: Option<RegisterView>,
}

struct RegisterView {
    agency_name: String,
    total: usize,
    truncated: bool,
    cap: usize,
    shown: usize,
    page_rows: usize,
    pdf_rows: usize,
    rows: Vec<RegisterRowView>,
    csv_href: String,
    pdf_href: String,
}

fn query_string(q: &RegisterQuery) -> String {
    format!(
        "agency={}&from={}&to={}",
        url_encode(q.agency.trim()),
        url_encode(q.from.trim()),
        url_encode(q.to.trim())
    )
}

pub async fn register_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(mut q): Query<RegisterQuery>,
) -> Result<Response, PageError> {
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let scope = super::readable_agencies(&state, p, Permission::DossierRead)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let mut list: Vec<(String, String)> = agencies::list(
        &state.db,
        &agencies::AgencyFilter {
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| ctx.page_err(e))?
    .into_iter()
    .filter(|a| scope.as_ref().is_none_or(|s| s.contains(&a.code)))
    .map(|a| (a.code, a.name))
    .collect();
    list.sort_by(|a, b| tinhso_kernel::text::cmp_vi(&a.1, &b.1));
    let asked = !q.agency.trim().is_empty();
    if !asked {
        // Preselect the officer's own agency (or the only one in scope); show nothing yet.
        q.agency = p
            .agency_code
            .clone()
            .filter(|c| list.iter().any(|a| a.0 == *c))
            .or_else(|| (list.len() == 1).then(|| list[0].0.clone()))
            .unwrap_or_default();
    }
    let today = dossier::today_local();
    if q.from.trim().is_empty() {
        q.from = today
            .with_day(1)
            .unwrap_or(today)
            .format("%Y-%m-%d")
            .to_string();
    }
    if q.to.trim().is_empty() {
        q.to = today.format("%Y-%m-%d").to_string();
    }
    let lang = ctx.lang;
    let (register, errors, status) = if asked {
        match register_of(&state, &ctx, &q, forms::REGISTER_MAX_ROWS).await {
            Ok(r) => {
                let qs = query_string(&q);
                let view = RegisterView {
                    agency_name: r.agency_name.clone(),
                    total: r.rows.len(),
                    truncated: r.truncated,
                    cap: r.cap,
                    shown: r.rows.len().min(PAGE_ROWS),
                    page_rows: PAGE_ROWS,
                    pdf_rows: PDF_ROWS,
                    csv_href: format!("/nghiep-vu/so-theo-doi.csv?{qs}"),
                    pdf_href: format!("/nghiep-vu/so-theo-doi.pdf?{qs}"),
                    rows: r
                        .rows
                        .iter()
                        .take(PAGE_ROWS)
                        .map(|row| RegisterRowView {
                            code: row.code.clone(),
                            procedure: row.procedure.clone(),
                            applicant: row.applicant_name.clone(),
                            received: local_time(row.accepted_at.unwrap_or(row.submitted_at)),
                            due: row
                                .due_date
                                .as_deref()
                                .map(view::date_vn)
                                .unwrap_or_default(),
                            original_due: row
                                .original_due_date
                                .as_deref()
                                .map(view::date_vn)
                                .unwrap_or_default(),
                            finished: row.finished_at.map(local_time).unwrap_or_default(),
                            status: view::status_label(row.status, lang),
                            outcome: lang
                                .s(row.outcome.label_vi(), row.outcome.label_en())
                                .to_string(),
                            late: matches!(
                                row.outcome,
                                forms::Outcome::Late | forms::Outcome::Overdue
                            ),
                        })
                        .collect(),
                };
                (Some(view), FormErrors::default(), StatusCode::OK)
            }
            Err(e) if view::is_validation(&e) => (
                None,
                FormErrors::of(&e, lang),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Err(e) => return Err(ctx.page_err(e)),
        }
    } else {
        (None, FormErrors::default(), StatusCode::OK)
    };
    Ok((
        status,
        render(&RegisterPage {
            c: Chrome::of(&ctx),
            agencies: list,
            agency: q.agency.trim().to_string(),
            from: q.from.trim().to_string(),
            to: q.to.trim().to_string(),
            errors,
            register,
        }),
    )
        .into_response())
}

fn csv_response(r: &Register) -> Response {
    let name = format!(
        "so-theo-doi-{}-{}-{}.csv",
        safe_name(&r.agency_code),
        r.from,
        r.to
    );
    let mut resp = forms::register_csv(r).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = format!("attachment; filename=\"{name}\"").parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    resp
}

pub async fn register_csv(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<RegisterQuery>,
) -> Result<Response, PageError> {
    let r = register_of(&state, &ctx, &q, forms::REGISTER_MAX_ROWS)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(csv_response(&r))
}

pub async fn register_pdf(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<RegisterQuery>,
) -> Result<Response, PageError> {
    let r = register_of(&state, &ctx, &q, PDF_ROWS)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let (_, issuer) = crate::results::issuer_of(&state.db, &r.agency_code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(super::results::pdf_response(
        forms::register_pdf(&r, &issuer, today_tuple()),
        &format!(
            "so-theo-doi-{}-{}-{}.pdf",
            safe_name(&r.agency_code),
            r.from,
            r.to
        ),
        true,
    ))
}

// ---------------------------------------------------------------- JSON API

#[derive(Deserialize, IntoParams)]
pub struct FormQuery {
    /// The dossier's lookup code (the applicant without signing in; forms 02–04).
    #[serde(default)]
    lookup: String,
    /// Which event (sequence number in the history); the latest of the kind otherwise.
    seq: Option<i64>,
}

/// A form of a dossier as PDF: `02` supplement request, `03` refusal, `04` apology and new
/// date (the applicant with the lookup code or as the owner, or staff allowed to read the
/// dossier); `06` process control slip (staff only).
#[utoipa::path(get, path = "/api/v1/dossiers/{code}/forms/{form}", tag = "services",
    params(("code" = String, Path), ("form" = String, Path, description = "02, 03, 04 or 06"), FormQuery),
    responses((status = 200, description = "The form", content_type = "application/pdf"),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn api_form(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path((code, form)): Path<(String, String)>,
    Query(q): Query<FormQuery>,
) -> Result<Response, ApiError> {
    let f = form.trim().trim_end_matches(".pdf");
    if f == "06" || f == "6" {
        let d = office_dossier(&state, &ctx, &code, Permission::DossierRead).await?;
        return Ok(slip_pdf_of(&state, &d).await?);
    }
    let kind = Notice::parse(f).ok_or_else(AppError::not_found)?;
    let d = readable(&state, &ctx, &code, &q.lookup).await?;
    Ok(notice_pdf_of(&state, &headers, &d, kind, q.seq).await?)
}

/// Form 04: the apology and the new promised date.
#[derive(Deserialize, ToSchema)]
pub struct ApologyBody {
    /// Why the dossier is (or will be) late (at least 10 characters).
    #[serde(default)]
    reason: String,
    /// The new promised return date, `YYYY-MM-DD`: a working day after the current one.
    #[serde(default)]
    new_due_date: String,
}

/// Record form 04 on an open dossier that is late or due within a few working days: signed
/// event (status unchanged), new promised date; the first promised date stays the measure of
/// the on-time indicator.
#[utoipa::path(post, path = "/api/v1/dossiers/{code}/apology", tag = "services", params(("code" = String, Path)),
    request_body = ApologyBody,
    responses((status = 200, description = "The dossier, with the new promised date"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub(crate) async fn api_apology(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<ApologyBody>,
) -> Result<Json<Dossier>, ApiError> {
    office_dossier(&state, &ctx, &code, Permission::DossierProcess).await?;
    let p = ctx.principal()?;
    let input = ApologyInput {
        reason: b.reason,
        new_due_date: b.new_due_date,
    };
    Ok(Json(
        forms::apologise(&state.db, &ctx.audit(), &code, p, &input).await?,
    ))
}

/// Form 07, the dossier register of an agency for a period (`from`..=`to`), oldest first, at
/// most 5,000 dossiers (`truncated` says when the period had more); `format=csv` gives it as
/// CSV (UTF-8 with a byte-order mark).
#[utoipa::path(get, path = "/api/v1/dossier-register", tag = "services", params(RegisterQuery),
    responses((status = 200, description = "The register (JSON, or CSV with format=csv)"),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn api_register(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<RegisterQuery>,
) -> Result<Response, ApiError> {
    let r = register_of(&state, &ctx, &q, forms::REGISTER_MAX_ROWS).await?;
    Ok(match q.format.trim() {
        "csv" => csv_response(&r),
        _ => Json(r).into_response(),
    })
}
