//! The JSON API under `/api/v1` and its OpenAPI 3.1 document (`/api/openapi.json`), generated
//! from the handlers' annotations.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tinhso_http::context::{require, ReqCtx};
use tinhso_http::error::{ApiError, Problem};
use tinhso_http::{ApiJson, AppState};
use tinhso_identity::accounts::{self, NewAccount};
use tinhso_identity::auth::{self, LoginInput};
use tinhso_identity::{Permission, ResourceScope};
use tinhso_kernel::{validate, AppError, ErrorCode, Invalid};
use tinhso_refdata::{address, agencies, calendar, units::units};
use tinhso_store::audit::{self, AuditFilter};
use utoipa::{IntoParams, OpenApi, ToSchema};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The API routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/v1/errors", get(errors))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/me/tokens/{id}", delete(revoke_token))
        .route("/api/v1/validate/{kind}", get(validate_value))
        .route("/api/v1/provinces", get(provinces))
        .route("/api/v1/admin-units", get(admin_units))
        .route("/api/v1/admin-units/{code}", get(admin_unit))
        .route("/api/v1/legacy-units", get(legacy_units))
        .route(
            "/api/v1/address/convert",
            get(convert_get).post(convert_post),
        )
        .route("/api/v1/agencies", get(list_agencies))
        .route(
            "/api/v1/agencies/{code}",
            get(get_agency).patch(patch_agency),
        )
        .route("/api/v1/agencies/{code}/staff", get(agency_staff))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", get(get_user))
        .route("/api/v1/users/{id}/disable", post(disable_user))
        .route("/api/v1/users/{id}/enable", post(enable_user))
        .route("/api/v1/audit", get(list_audit))
        .route("/api/v1/audit/verify", post(verify_audit))
        .route("/api/v1/calendar/holidays", get(holidays))
        .route("/api/v1/calendar/deadline", get(deadline))
        .route("/api/v1/calendar/overrides", get(list_overrides))
        .route(
            "/api/v1/calendar/overrides/{date}",
            put(set_override).delete(remove_override),
        )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tỉnh số API",
        version = "1",
        description = "API of the Tỉnh số digital-province platform. Errors are RFC 9457 problem details with a stable `code` and messages in Vietnamese and English."
    ),
    paths(
        errors,
        login,
        logout,
        me,
        list_tokens,
        create_token,
        revoke_token,
        validate_value,
        provinces,
        admin_units,
        admin_unit,
        legacy_units,
        convert_get,
        convert_post,
        list_agencies,
        get_agency,
        patch_agency,
        agency_staff,
        list_users,
        create_user,
        get_user,
        disable_user,
        enable_user,
        list_audit,
        verify_audit,
        holidays,
        deadline,
        list_overrides,
        set_override,
        remove_override
    ),
    components(schemas(
        Problem,
        tinhso_http::error::ProblemField,
        LoginBody,
        TokenBody,
        ConvertBody,
        ContactBody,
        OverrideBody,
        NewUserBody
    ))
)]
pub struct ApiDoc;

async fn openapi() -> Response {
    let mut doc = ApiDoc::openapi();
    doc.merge(tinhso_services::web::ApiDoc::openapi());
    doc.merge(tinhso_services::web::feedback::FeedbackApiDoc::openapi());
    doc.merge(tinhso_services::web::forms::FormsApiDoc::openapi());
    doc.merge(tinhso_targets::web::TargetsApiDoc::openapi());
    doc.merge(tinhso_targets::web_reports::ReportsApiDoc::openapi());
    doc.merge(tinhso_targets::web_review::ReviewApiDoc::openapi());
    doc.merge(tinhso_targets::ops_web::OperationsApiDoc::openapi());
    doc.merge(tinhso_exchange::web::ExchangeApiDoc::openapi());
    doc.merge(tinhso_border::web::api::BorderApiDoc::openapi());
    doc.merge(tinhso_border::web::officer::OfficerApiDoc::openapi());
    doc.merge(tinhso_connectors::web::ConnectorsApiDoc::openapi());
    doc.openapi = utoipa::openapi::OpenApiVersion::Version31;
    Json(doc).into_response()
}

#[derive(Serialize)]
struct CatalogueEntry {
    code: &'static str,
    status: u16,
    title_vi: &'static str,
    title_en: &'static str,
}

/// The error-code catalogue.
#[utoipa::path(get, path = "/api/v1/errors", tag = "kernel", responses((status = 200, description = "Every stable error code with its HTTP status and messages")))]
async fn errors() -> Json<Vec<CatalogueEntry>> {
    Json(
        ErrorCode::ALL
            .iter()
            .map(|c| CatalogueEntry {
                code: c.as_str(),
                status: c.http_status(),
                title_vi: c.title_vi(),
                title_en: c.title_en(),
            })
            .collect(),
    )
}

#[derive(Deserialize, ToSchema)]
struct LoginBody {
    username: String,
    password: String,
    totp: Option<String>,
}

/// Sign in; answers with the account and sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "identity", request_body = LoginBody,
    responses((status = 200, description = "Signed in"), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    if !state.auth_limiter.allow(&ctx.ip) {
        return Err(AppError::new(ErrorCode::RateLimited).into());
    }
    let (account, session) = auth::login(
        &state.db,
        &ctx.audit(),
        &LoginInput {
            username: body.username,
            password: body.password,
            totp: body.totp,
            ip: ctx.ip.clone(),
            user_agent: String::new(),
        },
    )
    .await?;
    let secure = state.config.secure_cookies;
    let name = if secure {
        "__Host-tinhso_session"
    } else {
        "tinhso_session"
    };
    let cookie = format!(
        "{name}={}; Path=/; HttpOnly; SameSite=Lax{}; Max-Age={}",
        session.token,
        if secure { "; Secure" } else { "" },
        auth::SESSION_ABSOLUTE_MICROS / 1_000_000
    );
    let mut resp = Json(serde_json::json!({"account": account, "csrf_token": session.csrf_token, "expires_at": session.expires_at})).into_response();
    if let Ok(v) = cookie.parse() {
        resp.headers_mut().insert(axum::http::header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Sign out (ends the session of the cookie).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "identity", responses((status = 204, description = "Signed out")))]
async fn logout(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: axum::http::HeaderMap,
) -> Result<StatusCode, ApiError> {
    if let Some(t) = tinhso_http::context::cookie(&headers, tinhso_http::context::SESSION_COOKIE) {
        auth::logout(&state.db, &ctx.audit(), t).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity", responses((status = 200, description = "The account"), (status = 401, body = Problem)))]
async fn me(State(state): State<AppState>, ctx: ReqCtx) -> ApiResult<accounts::Account> {
    let p = ctx.principal()?;
    Ok(Json(
        accounts::get(&state.db, &p.user_id)
            .await?
            .ok_or_else(AppError::not_found)?,
    ))
}

/// The signed-in account's API tokens.
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "identity", responses((status = 200, description = "Tokens (secrets are never shown again)")))]
async fn list_tokens(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> ApiResult<Vec<auth::TokenInfo>> {
    Ok(Json(
        auth::list_tokens(&state.db, &ctx.principal()?.user_id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
struct TokenBody {
    name: String,
    scopes: Vec<String>,
    ttl_days: i64,
}

/// Issue an API token limited to some of the account's permissions.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "identity", request_body = TokenBody,
    responses((status = 201, description = "The token, shown once"), (status = 422, body = Problem)))]
async fn create_token(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Response, ApiError> {
    let mut scopes = Vec::new();
    for s in &body.scopes {
        scopes.push(Permission::parse(s).ok_or_else(|| {
            AppError::field(
                "scopes",
                Invalid::new(
                    "scope_unknown",
                    format!("Không có quyền \"{s}\""),
                    format!("Unknown scope \"{s}\""),
                ),
            )
        })?);
    }
    let p = ctx.principal()?;
    let (token, info) = auth::create_token(
        &state.db,
        &ctx.audit(),
        &p.user_id,
        &body.name,
        &scopes,
        body.ttl_days,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"token": token, "info": info})),
    )
        .into_response())
}

/// Revoke one of the account's tokens.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "identity", params(("id" = String, Path)), responses((status = 204, description = "Revoked"), (status = 404, body = Problem)))]
async fn revoke_token(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth::revoke_token(&state.db, &ctx.audit(), &ctx.principal()?.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
struct ValueQuery {
    value: String,
}

/// Live validation of an identifier (kind: cccd, mst, phone, email) for forms.
#[utoipa::path(get, path = "/api/v1/validate/{kind}", tag = "kernel", params(("kind" = String, Path), ValueQuery),
    responses((status = 200, description = "Valid; the canonical form"), (status = 422, body = Problem)))]
async fn validate_value(
    Path(kind): Path<String>,
    Query(q): Query<ValueQuery>,
) -> ApiResult<serde_json::Value> {
    let v = &q.value;
    let out = match kind.as_str() {
        "cccd" => validate::cccd(v).map(|c| {
            serde_json::json!({"canonical": c.number, "province_code": c.province_code,
                "birth_year": c.birth_year, "gender": format!("{:?}", c.gender).to_lowercase()})
        }),
        "mst" => validate::mst(v).map(
            |m| serde_json::json!({"canonical": m.canonical, "kind": format!("{:?}", m.kind)}),
        ),
        "phone" => validate::phone(v).map(|p| serde_json::json!({"canonical": p})),
        "email" => validate::email(v).map(|e| serde_json::json!({"canonical": e})),
        _ => return Err(AppError::new(ErrorCode::RouteNotFound).into()),
    };
    out.map(Json)
        .map_err(|e| AppError::field("value", e).into())
}

/// The 34 provinces after 12 June 2025.
#[utoipa::path(get, path = "/api/v1/provinces", tag = "refdata", responses((status = 200, description = "Provinces")))]
async fn provinces() -> Json<Vec<tinhso_refdata::units::Province>> {
    Json(units().provinces.clone())
}

#[derive(Deserialize, IntoParams)]
struct UnitsQuery {
    /// Words of the name or the code; diacritics optional.
    q: Option<String>,
    /// Province code, e.g. 20.
    province: Option<String>,
    limit: Option<usize>,
}

/// Search commune-level units (2025).
#[utoipa::path(get, path = "/api/v1/admin-units", tag = "refdata", params(UnitsQuery), responses((status = 200, description = "Units")))]
async fn admin_units(Query(q): Query<UnitsQuery>) -> Json<Vec<tinhso_refdata::units::Commune>> {
    let u = units();
    Json(
        u.search(
            q.q.as_deref().unwrap_or(""),
            q.province.as_deref(),
            q.limit.unwrap_or(100).min(5000),
        )
        .into_iter()
        .cloned()
        .collect(),
    )
}

/// One commune-level unit with the legacy communes merged into it.
#[utoipa::path(get, path = "/api/v1/admin-units/{code}", tag = "refdata", params(("code" = String, Path)), responses((status = 200, description = "Unit"), (status = 404, body = Problem)))]
async fn admin_unit(Path(code): Path<String>) -> ApiResult<serde_json::Value> {
    let u = units();
    let c = u.commune(&code).ok_or_else(AppError::not_found)?;
    Ok(Json(
        serde_json::json!({"unit": c, "province": u.province(&c.province_code), "predecessors": u.predecessors(&code)}),
    ))
}

/// Lạng Sơn's districts and communes before 1 July 2025.
#[utoipa::path(get, path = "/api/v1/legacy-units", tag = "refdata", responses((status = 200, description = "Legacy units")))]
async fn legacy_units() -> Json<serde_json::Value> {
    let u = units();
    Json(
        serde_json::json!({"province_code": u.legacy_province_code, "districts": u.legacy_districts, "communes": u.legacy_communes}),
    )
}

#[derive(Deserialize, ToSchema, IntoParams)]
struct ConvertBody {
    /// The old address, e.g. "Xã Tân Thanh, Huyện Văn Lãng, Tỉnh Lạng Sơn".
    address: String,
}

/// Convert a pre-reform address to the new units.
#[utoipa::path(get, path = "/api/v1/address/convert", tag = "refdata", params(ConvertBody), responses((status = 200, description = "Converted"), (status = 422, body = Problem)))]
async fn convert_get(Query(q): Query<ConvertBody>) -> ApiResult<address::Conversion> {
    Ok(Json(address::convert(&q.address)?))
}

/// Convert a pre-reform address to the new units.
#[utoipa::path(post, path = "/api/v1/address/convert", tag = "refdata", request_body = ConvertBody, responses((status = 200, description = "Converted"), (status = 422, body = Problem)))]
async fn convert_post(ApiJson(b): ApiJson<ConvertBody>) -> ApiResult<address::Conversion> {
    Ok(Json(address::convert(&b.address)?))
}

#[derive(Deserialize, IntoParams)]
struct AgencyQuery {
    q: Option<String>,
    kind: Option<String>,
    parent_code: Option<String>,
}

/// The agency directory (public).
#[utoipa::path(get, path = "/api/v1/agencies", tag = "refdata", params(AgencyQuery), responses((status = 200, description = "Agencies")))]
async fn list_agencies(
    State(state): State<AppState>,
    Query(q): Query<AgencyQuery>,
) -> ApiResult<Vec<agencies::Agency>> {
    Ok(Json(
        agencies::list(
            &state.db,
            &agencies::AgencyFilter {
                q: q.q,
                kind: q.kind,
                parent_code: q.parent_code,
                limit: None,
            },
        )
        .await?,
    ))
}

async fn agency_or_404(state: &AppState, code: &str) -> Result<agencies::Agency, AppError> {
    agencies::get(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)
}

/// One agency (public).
#[utoipa::path(get, path = "/api/v1/agencies/{code}", tag = "refdata", params(("code" = String, Path)), responses((status = 200, description = "Agency"), (status = 404, body = Problem)))]
async fn get_agency(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<agencies::Agency> {
    Ok(Json(agency_or_404(&state, &code).await?))
}

#[derive(Deserialize, ToSchema)]
struct ContactBody {
    address: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    website: Option<String>,
    working_hours: Option<String>,
}

/// Update an agency's contact details (its own staff, or anyone with a covering scope).
#[utoipa::path(patch, path = "/api/v1/agencies/{code}", tag = "refdata", params(("code" = String, Path)), request_body = ContactBody,
    responses((status = 200, description = "Updated"), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn patch_agency(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<ContactBody>,
) -> ApiResult<agencies::Agency> {
    let a = agency_or_404(&state, &code).await?;
    let scope = agencies::scope_of(&state.db, &a).await?;
    require(
        &state,
        &ctx,
        Permission::AgencyUpdate,
        &scope,
        &format!("agency:{code}"),
    )
    .await?;
    let patch = agencies::ContactPatch {
        address: b.address,
        phone: b.phone,
        email: b.email,
        website: b.website,
        working_hours: b.working_hours,
    };
    Ok(Json(
        agencies::update_contact(&state.db, &ctx.audit(), &code, &patch).await?,
    ))
}

/// Staff accounts of an agency.
#[utoipa::path(get, path = "/api/v1/agencies/{code}/staff", tag = "identity", params(("code" = String, Path)), responses((status = 200, description = "Staff"), (status = 403, body = Problem)))]
async fn agency_staff(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> ApiResult<Vec<accounts::Account>> {
    let a = agency_or_404(&state, &code).await?;
    let scope = agencies::scope_of(&state.db, &a).await?;
    require(
        &state,
        &ctx,
        Permission::AgencyRead,
        &scope,
        &format!("agency:{code}"),
    )
    .await?;
    Ok(Json(
        accounts::list(
            &state.db,
            &accounts::AccountFilter {
                agency_codes: Some(vec![code]),
                limit: Some(500),
                ..Default::default()
            },
        )
        .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
struct UserQuery {
    q: Option<String>,
    kind: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Accounts the caller may read (its scopes decide which agencies).
#[utoipa::path(get, path = "/api/v1/users", tag = "identity", params(UserQuery), responses((status = 200, description = "Accounts")))]
async fn list_users(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<UserQuery>,
) -> ApiResult<Vec<accounts::Account>> {
    let p = ctx.principal()?;
    let scope = crate::pages::readable_agencies(&state, p).await?;
    Ok(Json(
        accounts::list(
            &state.db,
            &accounts::AccountFilter {
                q: q.q,
                kind: q.kind,
                agency_codes: scope,
                limit: q.limit,
                offset: q.offset,
            },
        )
        .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
struct NewUserBody {
    kind: String,
    display_name: String,
    username: Option<String>,
    cccd: Option<String>,
    mst: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    agency_code: Option<String>,
    title: Option<String>,
    password: String,
}

async fn user_scope(state: &AppState, acc: &accounts::Account) -> Result<ResourceScope, AppError> {
    Ok(match &acc.agency_code {
        Some(code) => match agencies::get(&state.db, code).await? {
            Some(a) => agencies::scope_of(&state.db, &a).await?,
            None => ResourceScope::province(),
        },
        None => ResourceScope::owned_by(&acc.id),
    })
}

/// Create an account (administrators; staff within the agencies they manage).
#[utoipa::path(post, path = "/api/v1/users", tag = "identity", request_body = NewUserBody,
    responses((status = 201, description = "Created; `totp_uri` shown once for staff who need a second factor"), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(body): ApiJson<NewAccount>,
) -> Result<Response, ApiError> {
    let scope = match body.agency_code.as_deref() {
        Some(code) => match agencies::get(&state.db, code).await? {
            Some(a) => agencies::scope_of(&state.db, &a).await?,
            None => {
                return Err(AppError::field(
                    "agency_code",
                    Invalid::new(
                        "agency_unknown",
                        format!("Không có cơ quan mã {code}"),
                        format!("No agency with code {code}"),
                    ),
                )
                .into())
            }
        },
        None => ResourceScope::province(),
    };
    require(&state, &ctx, Permission::UserManage, &scope, "users").await?;
    let created = accounts::create(&state.db, &ctx.audit(), &body).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// One account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "identity", params(("id" = String, Path)), responses((status = 200, description = "Account"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_user(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> ApiResult<accounts::Account> {
    let acc = accounts::get(&state.db, &id)
        .await?
        .ok_or_else(AppError::not_found)?;
    require(
        &state,
        &ctx,
        Permission::UserRead,
        &user_scope(&state, &acc).await?,
        &format!("user:{id}"),
    )
    .await?;
    Ok(Json(acc))
}

async fn set_disabled(
    state: &AppState,
    ctx: &ReqCtx,
    id: &str,
    disabled: bool,
) -> ApiResult<accounts::Account> {
    let acc = accounts::get(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    require(
        state,
        ctx,
        Permission::UserManage,
        &user_scope(state, &acc).await?,
        &format!("user:{id}"),
    )
    .await?;
    Ok(Json(
        accounts::set_disabled(&state.db, &ctx.audit(), id, disabled).await?,
    ))
}

/// Disable an account (ends its sessions, revokes its tokens).
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "identity", params(("id" = String, Path)), responses((status = 200, description = "Disabled"), (status = 403, body = Problem)))]
async fn disable_user(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> ApiResult<accounts::Account> {
    set_disabled(&state, &ctx, &id, true).await
}

/// Re-enable an account.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "identity", params(("id" = String, Path)), responses((status = 200, description = "Enabled"), (status = 403, body = Problem)))]
async fn enable_user(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> ApiResult<accounts::Account> {
    set_disabled(&state, &ctx, &id, false).await
}

#[derive(Deserialize, IntoParams)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
    before_seq: Option<i64>,
    limit: Option<i64>,
}

/// Browse the audit trail, newest first (province-wide auditors; others within their agency).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200, description = "Entries"), (status = 403, body = Problem)))]
async fn list_audit(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Vec<audit::AuditEntry>> {
    let scope_prefix = crate::pages::audit_scope(&state, &ctx).await?;
    Ok(Json(
        audit::list(
            &state.db,
            &AuditFilter {
                actor: q.actor,
                action: q.action,
                target_type: q.target_type,
                target_id: q.target_id,
                scope_prefix,
                before_seq: q.before_seq,
                limit: q.limit,
            },
        )
        .await?,
    ))
}

/// Verify the whole audit chain.
#[utoipa::path(post, path = "/api/v1/audit/verify", tag = "audit", responses((status = 200, description = "Report; `first_broken` is null when intact")))]
async fn verify_audit(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> ApiResult<audit::VerifyReport> {
    require(
        &state,
        &ctx,
        Permission::AuditVerify,
        &ResourceScope::province(),
        "audit",
    )
    .await?;
    Ok(Json(audit::verify(&state.db).await?))
}

#[derive(Deserialize, IntoParams)]
struct YearQuery {
    year: i32,
}

/// Days off of a year (statutory, compensatory, overrides).
#[utoipa::path(get, path = "/api/v1/calendar/holidays", tag = "calendar", params(YearQuery), responses((status = 200, description = "Holidays"), (status = 422, body = Problem)))]
async fn holidays(
    State(state): State<AppState>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Vec<tinhso_kernel::calendar::Holiday>> {
    if !(1900..=2199).contains(&q.year) {
        return Err(AppError::field(
            "year",
            Invalid::new(
                "range",
                "Năm phải từ 1900 đến 2199",
                "The year must be 1900 to 2199",
            ),
        )
        .into());
    }
    Ok(Json(
        calendar::working_calendar(&state.db)
            .await?
            .holidays(q.year),
    ))
}

#[derive(Deserialize, IntoParams)]
struct DeadlineQuery {
    /// Start date, YYYY-MM-DD (the day of receipt).
    from: String,
    /// Working days allowed.
    days: u32,
}

/// The due date `days` working days after `from`.
#[utoipa::path(get, path = "/api/v1/calendar/deadline", tag = "calendar", params(DeadlineQuery), responses((status = 200, description = "Due date"), (status = 422, body = Problem)))]
async fn deadline(
    State(state): State<AppState>,
    Query(q): Query<DeadlineQuery>,
) -> ApiResult<serde_json::Value> {
    let from = calendar::parse_day("from", &q.from)?;
    if q.days > 3650 {
        return Err(AppError::field(
            "days",
            Invalid::new(
                "range",
                "Số ngày làm việc tối đa 3650",
                "At most 3650 working days",
            ),
        )
        .into());
    }
    let cal = calendar::working_calendar(&state.db).await?;
    let due = cal.add_working_days(from, q.days);
    Ok(Json(
        serde_json::json!({"from": from, "working_days": q.days, "due": due,
        "calendar_days": (due - from).num_days()}),
    ))
}

/// Overrides entered by administrators.
#[utoipa::path(get, path = "/api/v1/calendar/overrides", tag = "calendar", responses((status = 200, description = "Overrides")))]
async fn list_overrides(State(state): State<AppState>) -> ApiResult<Vec<calendar::Override>> {
    Ok(Json(calendar::overrides(&state.db).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
struct OverrideBody {
    /// `day_off` or `working_day`.
    kind: String,
    name_vi: String,
    #[serde(default)]
    name_en: String,
}

/// Set a day off or a working day on a date.
#[utoipa::path(put, path = "/api/v1/calendar/overrides/{date}", tag = "calendar", params(("date" = String, Path)), request_body = OverrideBody,
    responses((status = 200, description = "Saved"), (status = 422, body = Problem)))]
async fn set_override(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(date): Path<String>,
    ApiJson(b): ApiJson<OverrideBody>,
) -> ApiResult<calendar::Override> {
    require(
        &state,
        &ctx,
        Permission::CalendarManage,
        &ResourceScope::province(),
        "calendar",
    )
    .await?;
    let input = calendar::OverrideInput {
        kind: b.kind,
        name_vi: b.name_vi,
        name_en: b.name_en,
    };
    Ok(Json(
        calendar::set(&state.db, &ctx.audit(), &date, &input).await?,
    ))
}

/// Remove the override of a date.
#[utoipa::path(delete, path = "/api/v1/calendar/overrides/{date}", tag = "calendar", params(("date" = String, Path)), responses((status = 204, description = "Removed"), (status = 404, body = Problem)))]
async fn remove_override(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(date): Path<String>,
) -> Result<StatusCode, ApiError> {
    require(
        &state,
        &ctx,
        Permission::CalendarManage,
        &ResourceScope::province(),
        "calendar",
    )
    .await?;
    calendar::remove(&state.db, &ctx.audit(), &date).await?;
    Ok(StatusCode::NO_CONTENT)
}
