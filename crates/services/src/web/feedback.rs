//! Ratings and PAKN on the web: the applicant's rating of a finished dossier (a form on the
//! tracking page, `/tra-cuu/danh-gia`), the public PAKN form and its tracking
//! (`/phan-anh-kien-nghi`), the officers' queue and answer page
//! (`/nghiep-vu/phan-anh-kien-nghi`), and the JSON API with its OpenAPI part
//! ([`FeedbackApiDoc`]). The applicant is proven as for withdrawals
//! ([`super::portal::applicant_dossier`]: lookup code or owner's session); officers need the
//! dossier-processing right on the PAKN's agency, checked through [`require`] so every
//! refusal is audited.

use super::portal::applicant_dossier;
use super::view::{self, FieldView, FormErrors};
use crate::dossier::{ActingAs, Dossier};
use crate::feedback::{self, ActionInput, Feedback, FeedbackAction, Level, NewFeedback};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tinhso_http::context::require;
use tinhso_http::error::{ApiError, PageError, Problem};
use tinhso_http::i18n::Lang;
use tinhso_http::layout::{local_time, render, url_encode, Chrome};
use tinhso_http::{ApiJson, AppState, ReqCtx};
use tinhso_identity::{Permission, Principal};
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_refdata::agencies;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tra-cuu/danh-gia", get(rating_page).post(rating_post))
        .route("/phan-anh-kien-nghi", get(form_page).post(form_post))
        .route("/phan-anh-kien-nghi/tra-cuu", get(track_page))
        .route("/nghiep-vu/phan-anh-kien-nghi", get(queue_page))
        .route("/nghiep-vu/phan-anh-kien-nghi/{code}", get(office_page))
        .route(
            "/nghiep-vu/phan-anh-kien-nghi/{code}/xu-ly",
            post(office_action),
        )
        .route(
            "/api/v1/dossiers/{code}/rating",
            get(api_get_rating).post(api_rate),
        )
        .route("/api/v1/feedback", get(api_list).post(api_send))
        .route("/api/v1/feedback/{code}", get(api_get))
        .route("/api/v1/feedback/{code}/actions", post(api_act))
}

fn status_of(e: &AppError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
}

fn level_name(l: Level, lang: Lang) -> String {
    lang.s(l.name_vi(), l.name_en()).to_string()
}

// ---------------------------------------------------------------- rating (applicant)

#[derive(Template)]
#[template(path = "rating.html")]
struct RatingPage {
    c: Chrome,
    code: String,
    lookup: String,
    procedure: String,
    status: String,
    rateable: bool,
    rated: bool,
    rated_level: String,
    rated_comment: String,
    rated_at: String,
    thanks: bool,
    /// (value, label) best first.
    levels: Vec<(String, String)>,
    level: String,
    comment: String,
    errors: FormErrors,
    tracking: String,
    feedback_link: String,
}

#[derive(Deserialize)]
pub struct RatingQuery {
    #[serde(default)]
    ma_ho_so: String,
    #[serde(default)]
    ma: String,
    #[serde(default)]
    da_gui: String,
}

#[allow(clippy::too_many_arguments)]
async fn rating_render(
    state: &AppState,
    ctx: &ReqCtx,
    d: &Dossier,
    lookup: &str,
    errors: FormErrors,
    level: &str,
    comment: &str,
    thanks: bool,
    status: StatusCode,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let existing = feedback::rating(&state.db, &d.code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let rated_level = existing
        .as_ref()
        .and_then(|r| Level::from_code(r.level_code))
        .map(|l| level_name(l, lang))
        .unwrap_or_default();
    let lookup = lookup.trim();
    let query = if lookup.is_empty() {
        format!("ma_ho_so={}", url_encode(&d.code))
    } else {
        format!("ma_ho_so={}&ma={}", url_encode(&d.code), url_encode(lookup))
    };
    Ok((
        status,
        render(&RatingPage {
            c: Chrome::of(ctx),
            code: d.code.clone(),
            lookup: lookup.to_string(),
            procedure: d.procedure_name.clone(),
            status: view::status_label(d.status, lang),
            rateable: feedback::rateable(d.status),
            rated: existing.is_some(),
            rated_level,
            rated_comment: existing
                .as_ref()
                .map(|r| r.comment.clone())
                .unwrap_or_default(),
            rated_at: existing
                .as_ref()
                .map(|r| local_time(r.rated_at))
                .unwrap_or_default(),
            thanks,
            levels: Level::ALL
                .iter()
                .map(|l| (l.as_str().to_string(), level_name(*l, lang)))
                .collect(),
            level: level.to_string(),
            comment: comment.to_string(),
            errors,
            tracking: format!("/tra-cuu?{query}"),
            feedback_link: format!("/phan-anh-kien-nghi?{query}"),
        }),
    )
        .into_response())
}

pub async fn rating_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<RatingQuery>,
) -> Result<Response, PageError> {
    let d = applicant_dossier(&state, &ctx, &q.ma_ho_so, &q.ma)
        .await
        .map_err(|e| ctx.page_err(e))?;
    rating_render(
        &state,
        &ctx,
        &d,
        &q.ma,
        FormErrors::default(),
        "",
        "",
        !q.da_gui.is_empty(),
        StatusCode::OK,
    )
    .await
}

/// The rating form of the tracking page: once, by the applicant; errors and a second rating
/// come back on the rating page with what was typed.
pub async fn rating_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = view::parse_form(&body).map_err(|e| ctx.page_err(e))?;
    let code = view::form_get(&pairs, "ma_ho_so");
    let lookup = view::form_get(&pairs, "ma");
    let d = applicant_dossier(&state, &ctx, &code, &lookup)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let input = feedback::RatingInput {
        level: view::form_get(&pairs, "level"),
        comment: view::form_get(&pairs, "comment"),
    };
    let who = ActingAs::Applicant {
        principal: ctx.principal.as_ref(),
        name: &d.applicant.name,
    };
    match feedback::rate(&state.db, &ctx.audit(), &d, who, &input).await {
        Ok(_) => {
            let mut to = format!("/tra-cuu/danh-gia?ma_ho_so={}", url_encode(&d.code));
            if !lookup.trim().is_empty() {
                to.push_str(&format!("&ma={}", url_encode(lookup.trim())));
            }
            to.push_str("&da_gui=1");
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Internal) => {
            Err(ctx.page_err(e))
        }
        Err(e) => {
            rating_render(
                &state,
                &ctx,
                &d,
                &lookup,
                FormErrors::of(&e, ctx.lang),
                &input.level,
                &input.comment,
                false,
                status_of(&e),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- PAKN form (anyone)

#[derive(Template)]
#[template(path = "feedback_form.html")]
struct FormPage {
    c: Chrome,
    kind: String,
    /// (value, label, hint).
    kinds: Vec<(String, String, String)>,
    dossier_fields: Vec<FieldView>,
    fields: Vec<FieldView>,
    errors: FormErrors,
    due_days: u32,
}

#[derive(Deserialize, Default)]
pub struct FormQuery {
    #[serde(default)]
    ma_ho_so: String,
    #[serde(default)]
    ma: String,
}

async fn agency_options(state: &AppState) -> Result<Vec<(String, String)>, AppError> {
    let mut list = agencies::list(
        &state.db,
        &agencies::AgencyFilter {
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await?;
    list.sort_by(|a, b| tinhso_kernel::text::cmp_vi(&a.name, &b.name));
    Ok(list.into_iter().map(|a| (a.code, a.name)).collect())
}

async fn form_render(
    state: &AppState,
    ctx: &ReqCtx,
    typed: &NewFeedback,
    errors: FormErrors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let options = agency_options(state).await.map_err(|e| ctx.page_err(e))?;
    let dossier_fields = vec![
        FieldView::simple(
            "dossier_code",
            lang.s("Mã hồ sơ", "Dossier code"),
            "text",
            false,
            &typed.dossier_code,
            lang.s(
                "Nếu phản ánh, kiến nghị về một hồ sơ đã nộp: mã hồ sơ trên giấy tiếp nhận.",
                "If it is about a dossier you filed: the code on its receipt.",
            ),
            &errors,
            "off",
        ),
        FieldView::simple(
            "lookup_code",
            lang.s("Mã tra cứu của hồ sơ", "The dossier's lookup code"),
            "text",
            false,
            &typed.lookup_code,
            lang.s(
                "8 ký tự in trên giấy tiếp nhận.",
                "8 characters printed on the receipt.",
            ),
            &errors,
            "off",
        )
        .with_maxlength(12),
        FieldView::simple(
            "agency_code",
            lang.s("Cơ quan nhận", "Agency addressed"),
            "select",
            false,
            &typed.agency_code,
            lang.s(
                "Bắt buộc nếu không nhập mã hồ sơ; phản ánh về hồ sơ được gửi đến cơ quan giải quyết hồ sơ.",
                "Required without a dossier code; one about a dossier goes to the agency handling it.",
            ),
            &errors,
            "",
        )
        .with_options(options),
    ];
    let fields = vec![
        FieldView::simple(
            "name",
            lang.s("Họ và tên", "Full name"),
            "text",
            true,
            &typed.name,
            "",
            &errors,
            "name",
        )
        .with_maxlength(200),
        FieldView::simple(
            "phone",
            lang.s("Số điện thoại", "Phone"),
            "phone",
            false,
            &typed.phone,
            lang.s(
                "Số điện thoại hoặc thư điện tử: ít nhất một trong hai, để cơ quan trả lời.",
                "Phone or e-mail: at least one, for the answer.",
            ),
            &errors,
            "tel",
        ),
        FieldView::simple(
            "email",
            lang.s("Thư điện tử", "E-mail"),
            "email",
            false,
            &typed.email,
            "",
            &errors,
            "email",
        ),
        FieldView::simple(
            "subject",
            lang.s("Tiêu đề", "Subject"),
            "text",
            true,
            &typed.subject,
            "",
            &errors,
            "off",
        )
        .with_maxlength(200),
        FieldView::simple(
            "content",
            lang.s("Nội dung", "Content"),
            "textarea",
            true,
            &typed.content,
            lang.s(
                "Nêu rõ sự việc, thời gian, địa điểm và đề xuất của bạn (10–5000 ký tự).",
                "Say what happened, when and where, and what you propose (10–5000 characters).",
            ),
            &errors,
            "",
        )
        .with_maxlength(5000),
    ];
    let mut errors = errors;
    errors.order_by(dossier_fields.iter().chain(fields.iter()));
    Ok((
        status,
        render(&FormPage {
            c: Chrome::of(ctx),
            kind: typed.kind.clone(),
            kinds: vec![
                (
                    "phan_anh".into(),
                    lang.s("Phản ánh", "Feedback").into(),
                    lang.s(
                        "Về quy định hành chính hoặc hành vi, thái độ của cán bộ, cơ quan.",
                        "On an administrative regulation, or an officer's or agency's conduct.",
                    )
                    .into(),
                ),
                (
                    "kien_nghi".into(),
                    lang.s("Kiến nghị", "Complaint or proposal").into(),
                    lang.s(
                        "Đề nghị cơ quan xem xét, giải quyết hoặc sửa đổi; kiến nghị về hồ sơ được tính vào chỉ số hài lòng.",
                        "Asking the agency to review, settle or change something; one about a dossier counts in the satisfaction indicator.",
                    )
                    .into(),
                ),
            ],
            dossier_fields,
            fields,
            errors,
            due_days: feedback::PROCESSING_WORKING_DAYS,
        }),
    )
        .into_response())
}

pub async fn form_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<FormQuery>,
) -> Result<Response, PageError> {
    let mut typed = NewFeedback {
        dossier_code: q.ma_ho_so.trim().to_string(),
        lookup_code: q.ma.trim().to_string(),
        ..Default::default()
    };
    if !typed.dossier_code.is_empty() {
        typed.kind = "kien_nghi".into();
    }
    if let Some(p) = ctx.principal.as_ref().filter(|p| !p.is_staff()) {
        if let Some(acc) = tinhso_identity::accounts::get(&state.db, &p.user_id)
            .await
            .map_err(|e| ctx.page_err(e))?
        {
            typed.name = acc.display_name.clone();
            typed.phone = acc.phone.clone().unwrap_or_default();
            typed.email = acc.email.clone().unwrap_or_default();
        }
    }
    form_render(&state, &ctx, &typed, FormErrors::default(), StatusCode::OK).await
}

fn track_link(code: &str, lookup: &str) -> String {
    format!(
        "/phan-anh-kien-nghi/tra-cuu?ma_pakn={}&ma={}",
        url_encode(code),
        url_encode(lookup)
    )
}

pub async fn form_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = view::parse_form(&body).map_err(|e| ctx.page_err(e))?;
    let typed = NewFeedback {
        kind: view::form_get(&pairs, "kind"),
        name: view::form_get(&pairs, "name"),
        phone: view::form_get(&pairs, "phone"),
        email: view::form_get(&pairs, "email"),
        agency_code: view::form_get(&pairs, "agency_code"),
        dossier_code: view::form_get(&pairs, "dossier_code"),
        lookup_code: view::form_get(&pairs, "lookup_code"),
        subject: view::form_get(&pairs, "subject"),
        content: view::form_get(&pairs, "content"),
    };
    let sent = super::lookup_limit::send_feedback(&state, &ctx, &typed).await;
    match sent {
        Ok(sent) => Ok(Redirect::to(&format!(
            "{}&moi=1",
            track_link(&sent.feedback.code, &sent.lookup_code)
        ))
        .into_response()),
        Err(e) if view::is_validation(&e) => {
            let errors = FormErrors::of(&e, ctx.lang);
            form_render(&state, &ctx, &typed, errors, status_of(&e)).await
        }
        Err(e) => Err(ctx.page_err(e)),
    }
}

// ---------------------------------------------------------------- PAKN tracking (sender)

/// A PAKN as pages show it.
struct FeedbackView {
    f: Feedback,
    kind: String,
    status: String,
    received_at: String,
    due: String,
    overdue: bool,
    answered_at: String,
    closed_at: String,
}

fn feedback_view(f: Feedback, lang: Lang) -> FeedbackView {
    let open = matches!(f.status.as_str(), "received" | "processing");
    let overdue = open && f.due_date < crate::dossier::today_local().format("%Y-%m-%d").to_string();
    FeedbackView {
        kind: lang.s(&f.kind_vi, &f.kind_en).to_string(),
        status: lang.s(&f.status_vi, &f.status_en).to_string(),
        received_at: local_time(f.received_at),
        due: view::date_vn(&f.due_date),
        overdue,
        answered_at: f.answered_at.map(local_time).unwrap_or_default(),
        closed_at: f.closed_at.map(local_time).unwrap_or_default(),
        f,
    }
}

#[derive(Template)]
#[template(path = "feedback_track.html")]
struct TrackPage {
    c: Chrome,
    code: String,
    lookup: String,
    not_found: bool,
    just_sent: bool,
    found: Option<FeedbackView>,
}

#[derive(Deserialize)]
pub struct TrackQuery {
    #[serde(default)]
    ma_pakn: String,
    #[serde(default)]
    ma: String,
    #[serde(default)]
    moi: String,
}

pub async fn track_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<TrackQuery>,
) -> Result<Response, PageError> {
    let searched = !(q.ma_pakn.trim().is_empty() && q.ma.trim().is_empty());
    let found = if searched {
        match super::lookup_limit::track_feedback(&state, &ctx.ip, &q.ma_pakn, &q.ma).await {
            Ok(f) => Some(feedback_view(f, ctx.lang)),
            Err(e) if e.code == ErrorCode::NotFound => None,
            Err(e) => return Err(ctx.page_err(e)),
        }
    } else {
        None
    };
    let status = if searched && found.is_none() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        render(&TrackPage {
            c: Chrome::of(&ctx),
            code: q.ma_pakn.trim().to_string(),
            lookup: q.ma.trim().to_string(),
            not_found: searched && found.is_none(),
            just_sent: !q.moi.is_empty() && found.is_some(),
            found,
        }),
    )
        .into_response())
}

// ---------------------------------------------------------------- back office

#[derive(Template)]
#[template(path = "feedback_queue.html")]
struct QueuePage {
    c: Chrome,
    status: String,
    dossier: String,
    statuses: Vec<(String, String)>,
    rows: Vec<FeedbackView>,
    /// The rating of the dossier filtered on, if any.
    rating: String,
}

#[derive(Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    trang_thai: String,
    #[serde(default)]
    ma_ho_so: String,
}

pub async fn queue_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let lang = ctx.lang;
    let scope = super::readable_agencies(&state, p, Permission::DossierProcess)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let status = Some(q.trang_thai.trim())
        .filter(|s| feedback::STATUSES.contains(s))
        .map(str::to_string);
    let dossier = q.ma_ho_so.trim().to_uppercase();
    let rows = feedback::list(
        &state.db,
        &feedback::FeedbackFilter {
            agency_codes: scope.clone(),
            status: status.clone(),
            dossier_code: Some(dossier.clone()).filter(|d| !d.is_empty()),
            limit: Some(200),
        },
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    // The rating of the dossier filtered on, when the officer may see that dossier.
    let mut rating = String::new();
    if !dossier.is_empty() {
        if let Some(d) = crate::dossier::get(&state.db, &dossier)
            .await
            .map_err(|e| ctx.page_err(e))?
        {
            let visible = scope
                .as_ref()
                .is_none_or(|codes| codes.contains(&d.agency_code));
            if visible {
                if let Some(r) = feedback::rating(&state.db, &d.code)
                    .await
                    .map_err(|e| ctx.page_err(e))?
                {
                    let level = Level::from_code(r.level_code)
                        .map(|l| level_name(l, lang))
                        .unwrap_or_default();
                    rating = if r.comment.is_empty() {
                        level
                    } else {
                        format!("{level} — “{}”", r.comment)
                    };
                }
            }
        }
    }
    Ok(render(&QueuePage {
        c: Chrome::of(&ctx),
        status: status.unwrap_or_default(),
        dossier,
        statuses: feedback::STATUSES
            .iter()
            .map(|s| {
                (
                    s.to_string(),
                    lang.s(feedback::status_vi(s), feedback::status_en(s))
                        .to_string(),
                )
            })
            .collect(),
        rows: rows.into_iter().map(|f| feedback_view(f, lang)).collect(),
        rating,
    }))
}

struct ActionView {
    action: String,
    label: String,
    needs_text: bool,
    text_label: String,
    danger: bool,
}

#[derive(Template)]
#[template(path = "feedback_office.html")]
struct OfficePage {
    c: Chrome,
    v: FeedbackView,
    actions: Vec<ActionView>,
    errors: FormErrors,
    /// The action whose form was posted, and its text as typed.
    posted: String,
    text: String,
}

/// The PAKN, after checking the officer's right on its agency (a refusal is audited).
async fn officer_feedback(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
) -> Result<(Feedback, Principal), AppError> {
    let p = ctx.principal()?.clone();
    let f = feedback::get(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let scope = feedback::scope_of(&state.db, &f).await?;
    require(
        state,
        ctx,
        Permission::DossierProcess,
        &scope,
        &format!("feedback:{}", f.code),
    )
    .await?;
    Ok((f, p))
}

fn office_render(
    ctx: &ReqCtx,
    f: Feedback,
    errors: FormErrors,
    posted: &str,
    text: &str,
    status: StatusCode,
) -> Response {
    let lang = ctx.lang;
    let actions = FeedbackAction::allowed_from(&f.status)
        .into_iter()
        .map(|a| ActionView {
            action: a.as_str().into(),
            label: lang.s(a.name_vi(), a.name_en()).into(),
            needs_text: matches!(a, FeedbackAction::Answer | FeedbackAction::Reject),
            text_label: match a {
                FeedbackAction::Reject => lang.s("Lý do không xử lý", "Why it is rejected"),
                _ => lang.s("Nội dung trả lời", "The answer"),
            }
            .into(),
            danger: a == FeedbackAction::Reject,
        })
        .collect();
    (
        status,
        render(&OfficePage {
            c: Chrome::of(ctx),
            v: feedback_view(f, lang),
            actions,
            errors,
            posted: posted.to_string(),
            text: text.to_string(),
        }),
    )
        .into_response()
}

pub async fn office_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let (f, _) = officer_feedback(&state, &ctx, &code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(office_render(
        &ctx,
        f,
        FormErrors::default(),
        "",
        "",
        StatusCode::OK,
    ))
}

pub async fn office_action(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = view::parse_form(&body).map_err(|e| ctx.page_err(e))?;
    let (f, p) = officer_feedback(&state, &ctx, &code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let input = ActionInput {
        action: view::form_get(&pairs, "action"),
        text: view::form_get(&pairs, "text"),
    };
    match feedback::act(&state.db, &ctx.audit(), &f.code, &p, &input).await {
        Ok(f) => Ok(Redirect::to(&format!(
            "/nghiep-vu/phan-anh-kien-nghi/{}",
            url_encode(&f.code)
        ))
        .into_response()),
        Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Internal) => {
            Err(ctx.page_err(e))
        }
        Err(e) => {
            let current = feedback::get(&state.db, &f.code)
                .await
                .map_err(|e| ctx.page_err(e))?
                .unwrap_or(f);
            Ok(office_render(
                &ctx,
                current,
                FormErrors::of(&e, ctx.lang),
                &input.action,
                &input.text,
                status_of(&e),
            ))
        }
    }
}

// ---------------------------------------------------------------- JSON API

/// The module's feedback part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(api_rate, api_get_rating, api_send, api_list, api_get, api_act),
    components(schemas(RatingBody, FeedbackBody, ActionBody, RatingDoc, PublicFeedback, SentOut, Problem)),
    tags((name = "feedback", description = "Satisfaction ratings, feedback and complaints (phản ánh, kiến nghị)"))
)]
pub struct FeedbackApiDoc;

#[derive(Deserialize, IntoParams)]
struct LookupQuery {
    /// The lookup code (mã tra cứu) of the dossier or of the PAKN.
    #[serde(default)]
    lookup: String,
}

/// A rating (request body).
#[derive(Deserialize, ToSchema)]
struct RatingBody {
    /// `rat_hai_long` (very satisfied), `hai_long` (satisfied) or `khong_hai_long` (not
    /// satisfied); `3`, `2`, `1` are accepted too.
    level: String,
    /// Optional, at most 2000 characters.
    #[serde(default)]
    comment: String,
}

/// A recorded rating (documentation of [`feedback::Rating`]).
#[derive(ToSchema)]
#[allow(dead_code)]
struct RatingDoc {
    dossier_code: String,
    agency_code: String,
    level: String,
    level_code: i64,
    level_vi: String,
    level_en: String,
    comment: String,
    /// Microseconds since the epoch.
    rated_at: i64,
}

/// The applicant (lookup code or owner's session) of the dossier `code`, for the API.
async fn api_applicant(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    lookup: &str,
) -> Result<Dossier, AppError> {
    if ctx.principal.is_none() && lookup.trim().is_empty() {
        return Err(AppError::new(ErrorCode::Unauthenticated));
    }
    applicant_dossier(state, ctx, code, lookup).await
}

/// Rate a finished dossier (statuses 3, 7, 8, 9, 10) once, as its applicant: with the lookup
/// code (`?lookup=`) or signed in as its owner. A second rating is a 409.
#[utoipa::path(post, path = "/api/v1/dossiers/{code}/rating", tag = "feedback",
    params(("code" = String, Path), LookupQuery), request_body = RatingBody,
    responses((status = 201, body = RatingDoc, description = "Recorded"), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "Unknown dossier or wrong lookup code"),
        (status = 409, body = Problem, description = "Not finished yet, or already rated"),
        (status = 422, body = Problem)))]
async fn api_rate(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
    ApiJson(b): ApiJson<RatingBody>,
) -> Result<Response, ApiError> {
    let d = api_applicant(&state, &ctx, &code, &q.lookup).await?;
    let who = ActingAs::Applicant {
        principal: ctx.principal.as_ref(),
        name: &d.applicant.name,
    };
    let r = feedback::rate(
        &state.db,
        &ctx.audit(),
        &d,
        who,
        &feedback::RatingInput {
            level: b.level,
            comment: b.comment,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

/// The rating of a dossier, for its applicant (lookup code or owner); 404 when not rated.
#[utoipa::path(get, path = "/api/v1/dossiers/{code}/rating", tag = "feedback",
    params(("code" = String, Path), LookupQuery),
    responses((status = 200, body = RatingDoc), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn api_get_rating(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
) -> Result<Json<feedback::Rating>, ApiError> {
    let d = api_applicant(&state, &ctx, &code, &q.lookup).await?;
    Ok(Json(
        feedback::rating(&state.db, &d.code)
            .await?
            .ok_or_else(AppError::not_found)?,
    ))
}

/// A PAKN (request body).
#[derive(Deserialize, ToSchema)]
struct FeedbackBody {
    /// `phan_anh` (feedback on a regulation or conduct) or `kien_nghi` (complaint, proposal).
    kind: String,
    name: String,
    /// Phone and/or e-mail: at least one.
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    /// The agency addressed; required unless `dossier_code` is given.
    #[serde(default)]
    agency_code: String,
    /// The dossier it is about; then `lookup_code` is required.
    #[serde(default)]
    dossier_code: String,
    #[serde(default)]
    lookup_code: String,
    /// 5–200 characters.
    subject: String,
    /// 10–5000 characters.
    content: String,
}

/// A PAKN as its sender (or the API) sees it: no contact details.
#[derive(Serialize, ToSchema)]
struct PublicFeedback {
    code: String,
    kind: String,
    kind_vi: String,
    /// received, processing, answered, closed, rejected.
    status: String,
    status_vi: String,
    status_en: String,
    agency_code: String,
    agency_name: String,
    dossier_code: Option<String>,
    subject: String,
    content: String,
    answer: String,
    reason: String,
    /// Microseconds since the epoch.
    received_at: i64,
    /// Local date, 10 working days after receipt.
    due_date: String,
    answered_at: Option<i64>,
    closed_at: Option<i64>,
}

fn public_feedback(f: Feedback) -> PublicFeedback {
    PublicFeedback {
        code: f.code,
        kind: f.kind,
        kind_vi: f.kind_vi,
        status: f.status,
        status_vi: f.status_vi,
        status_en: f.status_en,
        agency_code: f.agency_code,
        agency_name: f.agency_name,
        dossier_code: f.dossier_code,
        subject: f.subject,
        content: f.content,
        answer: f.answer,
        reason: f.reason,
        received_at: f.received_at,
        due_date: f.due_date,
        answered_at: f.answered_at,
        closed_at: f.closed_at,
    }
}

/// What sending returns: keep the lookup code to track the PAKN.
#[derive(Serialize, ToSchema)]
struct SentOut {
    lookup_code: String,
    tracking_url: String,
    feedback: PublicFeedback,
}

/// Send a PAKN (anyone). Field errors name every bad field; nothing is written on any. A
/// wrong lookup code of the dossier it is about counts as a wrong lookup code of that dossier
/// (see `lookup_limit`): too many answer 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/feedback", tag = "feedback", request_body = FeedbackBody,
    responses((status = 201, body = SentOut, description = "Received: its code, lookup code and due date"),
        (status = 422, body = Problem),
        (status = 429, body = Problem, description = "Too many wrong lookup codes; see Retry-After")))]
async fn api_send(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(b): ApiJson<FeedbackBody>,
) -> Result<Response, ApiError> {
    let input = NewFeedback {
        kind: b.kind,
        name: b.name,
        phone: b.phone,
        email: b.email,
        agency_code: b.agency_code,
        dossier_code: b.dossier_code,
        lookup_code: b.lookup_code,
        subject: b.subject,
        content: b.content,
    };
    let sent = super::lookup_limit::send_feedback(&state, &ctx, &input).await?;
    let out = SentOut {
        tracking_url: track_link(&sent.feedback.code, &sent.lookup_code),
        lookup_code: sent.lookup_code,
        feedback: public_feedback(sent.feedback),
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[derive(Deserialize, IntoParams)]
struct ListQuery {
    /// received, processing, answered, closed or rejected.
    status: Option<String>,
    /// Only those about this dossier.
    dossier_code: Option<String>,
    limit: Option<i64>,
}

/// PAKN of the agencies where the caller may process dossiers, newest first, with the
/// senders' contact details.
#[utoipa::path(get, path = "/api/v1/feedback", tag = "feedback", params(ListQuery),
    responses((status = 200, description = "PAKN, newest first"), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn api_list(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Feedback>>, ApiError> {
    let p = ctx.principal()?;
    let scope = super::readable_agencies(&state, p, Permission::DossierProcess).await?;
    Ok(Json(
        feedback::list(
            &state.db,
            &feedback::FeedbackFilter {
                agency_codes: scope,
                status: q.status,
                dossier_code: q.dossier_code,
                limit: q.limit,
            },
        )
        .await?,
    ))
}

/// One PAKN: for its sender with `?lookup=` (a wrong code answers like an unknown PAKN; too
/// many wrong codes for the PAKN or from the client address answer 429 with `Retry-After`,
/// see `lookup_limit`), without contact details; for officers who may process its agency's
/// dossiers, in full.
#[utoipa::path(get, path = "/api/v1/feedback/{code}", tag = "feedback", params(("code" = String, Path), LookupQuery),
    responses((status = 200, description = "The PAKN"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 429, body = Problem, description = "Too many wrong lookup codes; see Retry-After")))]
async fn api_get(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
) -> Result<Response, ApiError> {
    if !q.lookup.trim().is_empty() {
        let f = super::lookup_limit::track_feedback(&state, &ctx.ip, &code, &q.lookup).await?;
        return Ok(Json(public_feedback(f)).into_response());
    }
    match ctx.principal.as_ref() {
        None => Err(AppError::new(ErrorCode::Unauthenticated).into()),
        Some(p) if p.can_somewhere(Permission::DossierProcess) => {
            let (f, _) = officer_feedback(&state, &ctx, &code).await?;
            Ok(Json(f).into_response())
        }
        Some(_) => Err(AppError::not_found().into()),
    }
}

/// An officer's action (request body).
#[derive(Deserialize, ToSchema)]
struct ActionBody {
    /// `start` (received → processing), `answer` (→ answered), `close` (answered → closed),
    /// `reject` (→ rejected).
    action: String,
    /// The answer (`answer`, at least 10 characters) or the reason (`reject`, at least 5).
    #[serde(default)]
    text: String,
}

/// Act on a PAKN: officers who may process the dossiers of its agency. An illegal action is a
/// 409 naming the legal ones.
#[utoipa::path(post, path = "/api/v1/feedback/{code}/actions", tag = "feedback", params(("code" = String, Path)),
    request_body = ActionBody,
    responses((status = 200, description = "The PAKN after the action"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn api_act(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<ActionBody>,
) -> Result<Json<Feedback>, ApiError> {
    let (f, p) = officer_feedback(&state, &ctx, &code).await?;
    Ok(Json(
        feedback::act(
            &state.db,
            &ctx.audit(),
            &f.code,
            &p,
            &ActionInput {
                action: b.action,
                text: b.text,
            },
        )
        .await?,
    ))
}
