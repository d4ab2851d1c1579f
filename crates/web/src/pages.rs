//! Server-rendered pages (trang web): the public portal, sign-in, the back-office and leaders'
//! homes, and the admin lists. Templates are compiled and checked at build time (askama).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{Datelike, Utc};
use serde::Deserialize;
use tinhso_http::context::{require, ReqCtx, CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE};
use tinhso_http::error::PageError;
use tinhso_http::i18n::Lang;
use tinhso_http::layout::{local_time, render, static_file, vn_offset, Chrome};
use tinhso_http::AppState;
use tinhso_identity::auth::{self, LoginInput};
use tinhso_identity::{accounts, Permission, ResourceScope};
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_refdata::{address, agencies, calendar, units::units};
use tinhso_store::audit::{self, AuditFilter};

/// The page routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/dang-nhap", get(login_form).post(login_submit))
        .route("/dang-xuat", post(logout))
        .route("/ngon-ngu/{lang}", get(set_lang))
        .route("/don-vi-hanh-chinh", get(units_page))
        .route("/chuyen-doi-dia-chi", get(convert_page))
        .route("/co-quan", get(agencies_page))
        .route("/tai-khoan", get(account_page))
        .route("/tai-khoan/ma-truy-cap", post(create_token))
        .route("/nghiep-vu", get(back_office))
        .route("/lanh-dao", get(leaders))
        .route("/quan-tri/nguoi-dung", get(users_page))
        .route("/quan-tri/nhat-ky", get(audit_page))
        .route(
            "/quan-tri/lich-lam-viec",
            get(calendar_page).post(calendar_change),
        )
        .route("/static/{file}", get(static_file))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    stats_communes: usize,
    stats_agencies: usize,
    demo: bool,
}

async fn home(State(state): State<AppState>, ctx: ReqCtx) -> Result<Response, PageError> {
    let n_agencies = agencies::list(&state.db, &Default::default())
        .await
        .map_err(|e| ctx.page_err(e))?
        .len();
    Ok(render(&HomePage {
        c: Chrome::of(&ctx),
        stats_communes: units().communes_of("20").len(),
        stats_agencies: n_agencies,
        demo: state.config.demo,
    }))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    next: String,
    username: String,
    error: Option<String>,
    expired: bool,
    totp_needed: bool,
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// Only same-site paths are accepted as a place to return to.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => String::new(),
    }
}

async fn login_form(ctx: ReqCtx, Query(q): Query<LoginQuery>) -> Response {
    render(&LoginPage {
        c: Chrome::of(&ctx),
        next: safe_next(q.next.as_deref()),
        username: String::new(),
        error: None,
        expired: q.expired.is_some(),
        totp_needed: false,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    totp: Option<String>,
    next: Option<String>,
}

fn cookie_header(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = state.config.secure_cookies;
    let name = if secure && name == SESSION_COOKIE {
        format!("__Host-{name}")
    } else {
        name.to_string()
    };
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn login_submit(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let again = |error: AppError, username: &str| {
        let message = match ctx.lang {
            Lang::Vi => error
                .detail_vi
                .clone()
                .map(|d| format!("{} {d}", error.code.title_vi())),
            Lang::En => error
                .detail_en
                .clone()
                .map(|d| format!("{} {d}", error.code.title_en())),
        }
        .unwrap_or_else(|| {
            if let Some(f) = error.fields.first() {
                ctx.lang.s(&f.message_vi, &f.message_en).to_string()
            } else {
                ctx.lang
                    .s(error.code.title_vi(), error.code.title_en())
                    .to_string()
            }
        });
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        (
            status,
            render(&LoginPage {
                c: Chrome::of(&ctx),
                next: next.clone(),
                username: username.to_string(),
                error: Some(message),
                expired: false,
                totp_needed: matches!(error.code, ErrorCode::TotpRequired | ErrorCode::TotpInvalid),
            }),
        )
            .into_response()
    };
    if !state.auth_limiter.allow(&ctx.ip) {
        return again(AppError::new(ErrorCode::RateLimited), &form.username);
    }
    let input = LoginInput {
        username: form.username.clone(),
        password: form.password,
        totp: form.totp,
        ip: ctx.ip.clone(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
    };
    match auth::login(&state.db, &ctx.audit(), &input).await {
        Ok((account, session)) => {
            let principal =
                accounts::principal_of(&account, tinhso_identity::authz::AuthMethod::Session);
            let to = if !next.is_empty() {
                next
            } else if principal.can_somewhere(Permission::BackOffice) {
                "/nghiep-vu".to_string()
            } else {
                "/tai-khoan".to_string()
            };
            let mut resp = Redirect::to(&to).into_response();
            let max_age = auth::SESSION_ABSOLUTE_MICROS / 1_000_000;
            resp.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(&state, SESSION_COOKIE, &session.token, Some(max_age)),
            );
            resp.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(&state, CSRF_COOKIE, "", Some(0)),
            );
            resp
        }
        Err(e) => again(e, &form.username),
    }
}

async fn logout(State(state): State<AppState>, ctx: ReqCtx, headers: HeaderMap) -> Response {
    if let Some(token) = tinhso_http::context::cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = auth::logout(&state.db, &ctx.audit(), token).await {
            return ctx.page_err(e).into_response();
        }
    }
    let mut resp = Redirect::to("/").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, SESSION_COOKIE, "", Some(0)),
    );
    resp
}

async fn set_lang(
    State(state): State<AppState>,
    Path(lang): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::parse(&lang).unwrap_or_default();
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.find("://")
                .and_then(|i| r[i + 3..].find('/').map(|j| r[i + 3 + j..].to_string()))
        })
        .map(|p| safe_next(Some(&p)))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    let mut resp = Redirect::to(&back).into_response();
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
        lang.code()
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

struct UnitRow {
    code: String,
    full_name: String,
    province: String,
    coords: String,
}

#[derive(Template)]
#[template(path = "units.html")]
struct UnitsPage {
    c: Chrome,
    q: String,
    province: String,
    provinces: Vec<(String, String)>,
    rows: Vec<UnitRow>,
    truncated: bool,
}

#[derive(Deserialize)]
struct UnitsQuery {
    q: Option<String>,
    tinh: Option<String>,
}

async fn units_page(ctx: ReqCtx, Query(q): Query<UnitsQuery>) -> Response {
    let u = units();
    let query = q.q.unwrap_or_default();
    let province = q.tinh.unwrap_or_else(|| {
        if query.is_empty() {
            "20".into()
        } else {
            String::new()
        }
    });
    let prov_filter = Some(province.as_str()).filter(|p| !p.is_empty());
    let mut hits = u.search(&query, prov_filter, 201);
    let truncated = hits.len() > 200;
    hits.truncate(200);
    let mut provinces: Vec<(String, String)> = u
        .provinces
        .iter()
        .map(|p| (p.code.clone(), p.full_name.clone()))
        .collect();
    provinces.sort_by(|a, b| tinhso_kernel::text::cmp_vi(&a.1, &b.1));
    render(&UnitsPage {
        c: Chrome::of(&ctx),
        q: query,
        province,
        provinces,
        rows: hits
            .into_iter()
            .map(|c| UnitRow {
                code: c.code.clone(),
                full_name: c.full_name.clone(),
                province: u
                    .province(&c.province_code)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                coords: match (c.lat, c.lng) {
                    (Some(a), Some(b)) => format!("{a:.4}, {b:.4}"),
                    _ => "—".into(),
                },
            })
            .collect(),
        truncated,
    })
}

#[derive(Template)]
#[template(path = "convert.html")]
struct ConvertPage {
    c: Chrome,
    input: String,
    result: Option<address::Conversion>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ConvertQuery {
    dia_chi: Option<String>,
}

async fn convert_page(ctx: ReqCtx, Query(q): Query<ConvertQuery>) -> Response {
    let input = q.dia_chi.unwrap_or_default();
    let (result, error, status) = if input.trim().is_empty() {
        (None, None, StatusCode::OK)
    } else {
        match address::convert(&input) {
            Ok(r) => (Some(r), None, StatusCode::OK),
            Err(e) => {
                let msg = e
                    .fields
                    .first()
                    .map(|f| ctx.lang.s(&f.message_vi, &f.message_en).to_string())
                    .unwrap_or_default();
                (None, Some(msg), StatusCode::UNPROCESSABLE_ENTITY)
            }
        }
    };
    (
        status,
        render(&ConvertPage {
            c: Chrome::of(&ctx),
            input,
            result,
            error,
        }),
    )
        .into_response()
}

struct AgencyRow {
    code: String,
    name: String,
    parent: String,
    contact: String,
}

#[derive(Template)]
#[template(path = "agencies.html")]
struct AgenciesPage {
    c: Chrome,
    q: String,
    rows: Vec<AgencyRow>,
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn agencies_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let all = agencies::list(&state.db, &Default::default())
        .await
        .map_err(|e| ctx.page_err(e))?;
    let names: std::collections::HashMap<String, String> = all
        .iter()
        .map(|a| (a.code.clone(), a.short_name.clone()))
        .collect();
    let rows = agencies::list(
        &state.db,
        &agencies::AgencyFilter {
            q: q.q.clone(),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    Ok(render(&AgenciesPage {
        c: Chrome::of(&ctx),
        q: q.q.unwrap_or_default(),
        rows: rows
            .into_iter()
            .map(|a| AgencyRow {
                parent: a
                    .parent_code
                    .as_ref()
                    .and_then(|p| names.get(p).cloned())
                    .unwrap_or_default(),
                contact: [a.address.as_str(), a.phone.as_str(), a.email.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" · "),
                code: a.code,
                name: a.name,
            })
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    username: String,
    kind: String,
    roles: Vec<String>,
    totp: bool,
    tokens: Vec<(String, String, String, String)>,
    perms: Vec<&'static str>,
    new_token: Option<String>,
    error: Option<String>,
}

async fn account_view(
    state: &AppState,
    ctx: &ReqCtx,
    new_token: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let acc = accounts::get(&state.db, &p.user_id)
        .await
        .map_err(|e| ctx.page_err(e))?
        .ok_or_else(|| ctx.page_err(AppError::not_found()))?;
    let tokens = auth::list_tokens(&state.db, &p.user_id)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let perms = Permission::ALL
        .iter()
        .filter(|perm| p.can_somewhere(**perm))
        .map(|perm| perm.as_str())
        .collect();
    Ok(render(&AccountPage {
        c: Chrome::of(ctx),
        username: acc.username.clone(),
        kind: tinhso_identity::accounts::AccountKind::parse(&acc.kind)
            .map(|k| k.name_vi().to_string())
            .unwrap_or(acc.kind.clone()),
        roles: role_labels(&acc.roles, ctx.lang),
        totp: acc.totp_enabled,
        tokens: tokens
            .into_iter()
            .map(|t| {
                (
                    t.name,
                    t.scopes
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    local_time(t.expires_at),
                    if t.revoked {
                        ctx.lang.s("Đã thu hồi", "Revoked").to_string()
                    } else {
                        ctx.lang.s("Hiệu lực", "Active").to_string()
                    },
                )
            })
            .collect(),
        perms,
        new_token,
        error,
    }))
}

fn role_labels(roles: &[tinhso_identity::authz::RoleAssignment], lang: Lang) -> Vec<String> {
    roles
        .iter()
        .map(|a| {
            let name = lang.s(a.role.name_vi(), a.role.as_str());
            if a.scope.code().is_empty() {
                name.to_string()
            } else {
                format!("{name} ({})", a.scope.code())
            }
        })
        .collect()
}

async fn account_page(State(state): State<AppState>, ctx: ReqCtx) -> Result<Response, PageError> {
    account_view(&state, &ctx, None, None).await
}

async fn create_token(
    State(state): State<AppState>,
    ctx: ReqCtx,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ctx.page_err(AppError::new(ErrorCode::BadRequest)))?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let scopes: Vec<Permission> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .filter_map(|(_, v)| Permission::parse(v))
        .collect();
    let ttl: i64 = get("ttl_days").trim().parse().unwrap_or(0);
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    match auth::create_token(
        &state.db,
        &ctx.audit(),
        &p.user_id,
        &get("name"),
        &scopes,
        ttl,
    )
    .await
    {
        Ok((token, _)) => account_view(&state, &ctx, Some(token), None).await,
        Err(e) => {
            let msg = e
                .fields
                .iter()
                .map(|f| ctx.lang.s(&f.message_vi, &f.message_en).to_string())
                .collect::<Vec<_>>()
                .join(" ");
            let resp = account_view(&state, &ctx, None, Some(msg)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "backoffice.html")]
struct BackOfficePage {
    c: Chrome,
    name: String,
    agency: Option<agencies::Agency>,
    roles: Vec<String>,
    colleagues: Vec<String>,
    today: String,
    due10: String,
    /// May edit procedures (and run the platform): the administration cards are shown.
    admin: bool,
    /// Administers the data exchange hub (`exchange_manage`): its card is shown.
    hub: bool,
    /// Staff of a member agency of the hub (or province-wide): the service catalogue's card.
    hub_catalogue: bool,
    /// May read dossiers somewhere: the dossier register card is shown.
    dossiers: bool,
    /// May manage the signing certificates of some agency (approves its results).
    certificates: bool,
}

async fn back_office(State(state): State<AppState>, ctx: ReqCtx) -> Result<Response, PageError> {
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let agency = match &p.agency_code {
        Some(code) => agencies::get(&state.db, code)
            .await
            .map_err(|e| ctx.page_err(e))?,
        None => None,
    };
    let colleagues = match &p.agency_code {
        Some(code) => accounts::list(
            &state.db,
            &accounts::AccountFilter {
                agency_codes: Some(vec![code.clone()]),
                limit: Some(20),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ctx.page_err(e))?
        .into_iter()
        .map(|a| match a.title {
            Some(t) => format!("{} — {t}", a.display_name),
            None => a.display_name,
        })
        .collect(),
        None => Vec::new(),
    };
    let cal = calendar::working_calendar(&state.db)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let today = Utc::now().with_timezone(&vn_offset()).date_naive();
    Ok(render(&BackOfficePage {
        c: Chrome::of(&ctx),
        name: p.display_name.clone(),
        agency,
        roles: role_labels(&p.roles, ctx.lang),
        colleagues,
        today: today.format("%d/%m/%Y").to_string(),
        due10: cal
            .add_working_days(today, 10)
            .format("%d/%m/%Y")
            .to_string(),
        admin: p.can_somewhere(tinhso_identity::Permission::ProcedureManage),
        hub: p.can_somewhere(tinhso_identity::Permission::ExchangeManage),
        hub_catalogue: tinhso_exchange::web::may_browse_catalogue(&state.db, Some(p))
            .await
            .map_err(|e| ctx.page_err(e))?,
        dossiers: p.can_somewhere(tinhso_identity::Permission::DossierRead),
        certificates: p.can_somewhere(tinhso_identity::Permission::DossierApprove),
    }))
}

#[derive(Template)]
#[template(path = "leaders.html")]
struct LeadersPage {
    c: Chrome,
    communes: usize,
    agencies: usize,
    staff: i64,
    staff_with_key: i64,
    audit_today: i64,
}

async fn leaders(State(state): State<AppState>, ctx: ReqCtx) -> Result<Response, PageError> {
    let count = |sql: &'static str| tinhso_store::db::count(&state.db, sql);
    let staff = count("SELECT COUNT(*) FROM users WHERE kind = 'staff' AND disabled = 0")
        .await
        .map_err(|e| ctx.page_err(e))?;
    let staff_with_key =
        count("SELECT COUNT(DISTINCT user_id) FROM signing_keys WHERE revoked_at IS NULL")
            .await
            .map_err(|e| ctx.page_err(e))?;
    let midnight = Utc::now()
        .with_timezone(&vn_offset())
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc().timestamp_micros() - 7 * 3600 * 1_000_000)
        .unwrap_or(0);
    let audit_today: i64 = tinhso_store::audit::count_since(&state.db, midnight)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(render(&LeadersPage {
        c: Chrome::of(&ctx),
        communes: units().communes_of("20").len(),
        agencies: agencies::list(&state.db, &Default::default())
            .await
            .map_err(|e| ctx.page_err(e))?
            .len(),
        staff,
        staff_with_key,
        audit_today,
    }))
}

struct UserRow {
    name: String,
    username: String,
    kind: String,
    agency: String,
    roles: String,
    state: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    c: Chrome,
    q: String,
    scope_note: String,
    rows: Vec<UserRow>,
}

/// Agency codes whose accounts the principal may read: the union of the subtrees of its
/// `UserRead` scopes; `None` means everything (province scope).
pub async fn readable_agencies(
    state: &AppState,
    p: &tinhso_identity::Principal,
) -> Result<Option<Vec<String>>, AppError> {
    use tinhso_identity::Scope;
    let mut codes = Vec::new();
    for a in p
        .roles
        .iter()
        .filter(|a| a.role.permissions().contains(&Permission::UserRead))
    {
        match &a.scope {
            Scope::Province => return Ok(None),
            Scope::Agency(code) => codes.extend(agencies::subtree(&state.db, code).await?),
            Scope::Commune(unit) => {
                // As in `agencies::scope_of`: only the commune's People's Committee belongs to
                // the commune, not the central agencies located there (customs, border guards).
                let all = agencies::list(&state.db, &Default::default()).await?;
                codes.extend(
                    all.into_iter()
                        .filter(|ag| {
                            ag.kind == "ubnd_xa"
                                && ag.admin_unit_code.as_deref() == Some(unit.as_str())
                        })
                        .map(|ag| ag.code),
                );
            }
            Scope::Own => {}
        }
    }
    codes.sort();
    codes.dedup();
    Ok(Some(codes))
}

async fn users_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let scope = readable_agencies(&state, p)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let note = match &scope {
        None => ctx
            .lang
            .s("Phạm vi: toàn tỉnh.", "Scope: the whole province.")
            .to_string(),
        Some(c) => format!(
            "{} {}",
            ctx.lang.s("Phạm vi: tài khoản thuộc", "Scope: accounts of"),
            format_args!(
                "{} {}",
                c.len(),
                ctx.lang
                    .s("cơ quan bạn phụ trách.", "agencies in your charge.")
            )
        ),
    };
    let rows = accounts::list(
        &state.db,
        &accounts::AccountFilter {
            q: q.q.clone(),
            agency_codes: scope,
            limit: Some(200),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    Ok(render(&UsersPage {
        c: Chrome::of(&ctx),
        q: q.q.unwrap_or_default(),
        scope_note: note,
        rows: rows
            .into_iter()
            .map(|a| UserRow {
                roles: role_labels(&a.roles, ctx.lang).join("; "),
                state: if a.disabled {
                    ctx.lang.s("Đã khóa", "Disabled").to_string()
                } else {
                    ctx.lang.s("Hoạt động", "Active").to_string()
                },
                kind: tinhso_identity::accounts::AccountKind::parse(&a.kind)
                    .map(|k| k.name_vi().to_string())
                    .unwrap_or(a.kind.clone()),
                agency: a.agency_code.unwrap_or_default(),
                name: a.display_name,
                username: a.username,
            })
            .collect(),
    }))
}

struct AuditRow {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    chain_ok: bool,
    chain_status: String,
    actor: String,
    action: String,
    rows: Vec<AuditRow>,
    next_page: Option<i64>,
}

/// How much of the audit trail the caller may browse: all of it for province-wide auditors
/// (`None`), else the entries scoped to the caller's own agency (checked and audited).
pub async fn audit_scope(state: &AppState, ctx: &ReqCtx) -> Result<Option<String>, AppError> {
    let p = ctx.principal()?;
    if tinhso_identity::authorize(Some(p), Permission::AuditRead, &ResourceScope::province())
        .is_ok()
    {
        return Ok(None);
    }
    let code = p.agency_code.clone().ok_or_else(AppError::forbidden)?;
    let own = ResourceScope {
        agencies: vec![code.clone()],
        ..Default::default()
    };
    require(state, ctx, Permission::AuditRead, &own, &code).await?;
    Ok(Some(code))
}

#[derive(Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    before_seq: Option<i64>,
}

async fn audit_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let scope_prefix = audit_scope(&state, &ctx)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let filter = AuditFilter {
        actor: q.actor.clone().filter(|s| !s.is_empty()),
        action: q.action.clone().filter(|s| !s.is_empty()),
        scope_prefix,
        before_seq: q.before_seq,
        limit: Some(50),
        ..Default::default()
    };
    let rows = audit::list(&state.db, &filter)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let report = audit::verify(&state.db)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let (chain_ok, chain_status) = match &report.first_broken {
        None => (
            true,
            format!(
                "{} {} {}",
                ctx.lang.s("Chuỗi băm toàn vẹn:", "Hash chain intact:"),
                report.entries_checked,
                ctx.lang.s("bản ghi đã kiểm tra.", "entries checked.")
            ),
        ),
        Some(b) => (
            false,
            format!(
                "{} #{}: {}",
                ctx.lang.s(
                    "Chuỗi băm bị phá vỡ tại bản ghi",
                    "Hash chain broken at entry"
                ),
                b.seq,
                b.reason
            ),
        ),
    };
    let next_page = (rows.len() == 50)
        .then(|| rows.last().map(|e| e.seq))
        .flatten();
    Ok(render(&AuditPage {
        c: Chrome::of(&ctx),
        chain_ok,
        chain_status,
        actor: q.actor.unwrap_or_default(),
        action: q.action.unwrap_or_default(),
        rows: rows
            .into_iter()
            .map(|e| AuditRow {
                seq: e.seq,
                at: local_time(e.at),
                actor: e.actor,
                action: e.action,
                target: format!("{} {}", e.target_type, e.target_id),
                summary: e.summary.chars().take(300).collect(),
            })
            .collect(),
        next_page,
    }))
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    c: Chrome,
    year: i32,
    rows: Vec<(String, String, String, String)>,
    can_manage: bool,
    overrides: Vec<calendar::Override>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct YearQuery {
    nam: Option<i32>,
}

async fn calendar_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    calendar_view(&state, &ctx, q.nam, None).await
}

#[derive(Deserialize)]
struct OverrideForm {
    day: String,
    kind: String,
    #[serde(default)]
    name_vi: String,
    #[serde(default)]
    name_en: String,
    /// `set` or `remove`.
    action: String,
}

async fn calendar_change(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Form(f): Form<OverrideForm>,
) -> Result<Response, PageError> {
    require(
        &state,
        &ctx,
        Permission::CalendarManage,
        &ResourceScope::province(),
        "calendar",
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    let result = if f.action == "remove" {
        calendar::remove(&state.db, &ctx.audit(), &f.day).await
    } else {
        let input = calendar::OverrideInput {
            kind: f.kind,
            name_vi: f.name_vi,
            name_en: f.name_en,
        };
        calendar::set(&state.db, &ctx.audit(), &f.day, &input)
            .await
            .map(|_| ())
    };
    let year = f.day.get(0..4).and_then(|y| y.parse().ok());
    match result {
        Ok(()) => Ok(Redirect::to(&format!(
            "/quan-tri/lich-lam-viec?nam={}",
            year.unwrap_or(2026)
        ))
        .into_response()),
        Err(e) => {
            let msg = if e.fields.is_empty() {
                ctx.lang.s(e.code.title_vi(), e.code.title_en()).to_string()
            } else {
                e.fields
                    .iter()
                    .map(|f| ctx.lang.s(&f.message_vi, &f.message_en).to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let resp = calendar_view(&state, &ctx, year, Some(msg)).await?;
            Ok((
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                resp,
            )
                .into_response())
        }
    }
}

async fn calendar_view(
    state: &AppState,
    ctx: &ReqCtx,
    year: Option<i32>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let state = state.clone();
    let ctx = ctx.clone();
    let year = year
        .filter(|y| (1900..=2199).contains(y))
        .unwrap_or_else(|| Utc::now().with_timezone(&vn_offset()).year());
    let cal = calendar::working_calendar(&state.db)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let weekdays_vi = [
        "Thứ Hai",
        "Thứ Ba",
        "Thứ Tư",
        "Thứ Năm",
        "Thứ Sáu",
        "Thứ Bảy",
        "Chủ Nhật",
    ];
    let weekdays_en = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let rows = cal
        .holidays(year)
        .into_iter()
        .map(|h| {
            let wd = h.date.weekday().num_days_from_monday() as usize;
            (
                h.date.format("%d/%m/%Y").to_string(),
                ctx.lang.s(weekdays_vi[wd], weekdays_en[wd]).to_string(),
                ctx.lang.s(&h.name_vi, &h.name_en).to_string(),
                match h.kind {
                    tinhso_kernel::calendar::HolidayKind::Statutory => {
                        ctx.lang.s("Nghỉ lễ, Tết", "Public holiday")
                    }
                    tinhso_kernel::calendar::HolidayKind::Compensatory => {
                        ctx.lang.s("Nghỉ bù", "Compensatory day")
                    }
                    tinhso_kernel::calendar::HolidayKind::Override => {
                        ctx.lang.s("Điều chỉnh", "Adjustment")
                    }
                }
                .to_string(),
            )
        })
        .collect();
    let can_manage = ctx
        .principal
        .as_ref()
        .is_some_and(|p| p.can_somewhere(Permission::CalendarManage));
    let overrides = calendar::overrides(&state.db)
        .await
        .map_err(|e| ctx.page_err(e))?
        .into_iter()
        .filter(|o| o.day.starts_with(&year.to_string()))
        .collect();
    Ok(render(&CalendarPage {
        c: Chrome::of(&ctx),
        year,
        rows,
        can_manage,
        overrides,
        error,
    }))
}
