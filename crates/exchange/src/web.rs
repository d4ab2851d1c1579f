//! Routes of the exchange hub: the exchange endpoint for members (authenticated by their
//! signatures, not by sessions: `Public` in the access table), the hub's public key, and the
//! administrators' JSON API for the registry, rights and the message log. `tinhso-web`
//! composes [`RULES`], [`routes`] and [`ExchangeApiDoc`].
//!
//! Administration needs `exchange_manage` over the whole province (quản trị trục liên thông:
//! the hub administrator's role, or the system administrator), checked in one place:
//! [`require_admin`], by every API route, the page and each of its forms.

use crate::hub::{self, Hub};
use crate::{log, registry, webhooks};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use tinhso_http::access::{Access, Rule};
use tinhso_http::error::{ApiError, Problem};
use tinhso_http::{context, ApiJson, AppState, ReqCtx};
use tinhso_identity::{Permission, ResourceScope};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// (method, route template, rule) of every route of the hub.
pub const RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        // Members authenticate each request with their signature (checked by the hub).
        ("GET", "/lgsp/v1/hub-key", Public),
        // The registry snapshot for members' nodes: the member's signature, checked by the hub.
        ("GET", "/lgsp/v1/registry", Public),
        // Every method is routed the same way (signature over the method, the right of that
        // method's operation, logged); HEAD goes with GET in this table.
        ("GET", "/lgsp/v1/{provider}/{service}", Public),
        ("POST", "/lgsp/v1/{provider}/{service}", Public),
        ("PUT", "/lgsp/v1/{provider}/{service}", Public),
        ("PATCH", "/lgsp/v1/{provider}/{service}", Public),
        ("DELETE", "/lgsp/v1/{provider}/{service}", Public),
        ("GET", "/lgsp/v1/{provider}/{service}/{*path}", Public),
        ("POST", "/lgsp/v1/{provider}/{service}/{*path}", Public),
        ("PUT", "/lgsp/v1/{provider}/{service}/{*path}", Public),
        ("PATCH", "/lgsp/v1/{provider}/{service}/{*path}", Public),
        ("DELETE", "/lgsp/v1/{provider}/{service}/{*path}", Public),
        ("GET", "/lgsp/v1/_subscriptions", Public),
        ("POST", "/lgsp/v1/_subscriptions", Public),
        ("DELETE", "/lgsp/v1/_subscriptions/{id}", Public),
        // Members' event pulls (`pull`, `ack`): the member's signature and topic rights,
        // checked by the hub.
        ("POST", "/lgsp/v1/_events/{action}", Public),
        // The service catalogue for staff of member agencies (back_office over a member
        // agency, checked again inside by `require_catalogue`), without the admin actions.
        ("GET", "/nghiep-vu/lien-thong", Perm(BackOffice)),
        (
            "GET",
            "/nghiep-vu/lien-thong/{provider}/{code}",
            Perm(BackOffice),
        ),
        // Administration (province-wide exchange_manage, checked again inside).
        ("GET", "/quan-tri/truc-lien-thong", Perm(ExchangeManage)),
        (
            "GET",
            "/quan-tri/truc-lien-thong/dich-vu/{provider}/{code}",
            Perm(ExchangeManage),
        ),
        // The page's forms (CSRF checked by the context layer like every page form).
        (
            "POST",
            "/quan-tri/truc-lien-thong/thanh-vien",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/quyen",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/quyen/thu-hoi",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/tan-suat",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/thu-chet/{id}/gui-lai",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/dang-ky/{id}/trang-thai",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/thanh-vien/{code}/trang-thai",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/khoa",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/thanh-vien/{code}/khoa/{id}/thu-hoi",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/dich-vu",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/dich-vu/{provider}/{code}/trang-thai",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/chu-de",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/quan-tri/truc-lien-thong/chu-de/thu-hoi",
            Perm(ExchangeManage),
        ),
        ("GET", "/api/v1/exchange/members", Perm(ExchangeManage)),
        ("POST", "/api/v1/exchange/members", Perm(ExchangeManage)),
        (
            "POST",
            "/api/v1/exchange/members/{code}/keys",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/api/v1/exchange/members/{code}/keys/{id}/revocation",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/api/v1/exchange/members/{code}/status",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/api/v1/exchange/members/{code}/rate-limit",
            Perm(ExchangeManage),
        ),
        (
            "PUT",
            "/api/v1/exchange/members/{code}/gateway",
            Perm(ExchangeManage),
        ),
        ("GET", "/api/v1/exchange/rate-limits", Perm(ExchangeManage)),
        ("GET", "/api/v1/exchange/services", Perm(ExchangeManage)),
        ("POST", "/api/v1/exchange/services", Perm(ExchangeManage)),
        (
            "POST",
            "/api/v1/exchange/services/{provider}/{code}/status",
            Perm(ExchangeManage),
        ),
        ("GET", "/api/v1/exchange/rights", Perm(ExchangeManage)),
        ("POST", "/api/v1/exchange/rights", Perm(ExchangeManage)),
        (
            "POST",
            "/api/v1/exchange/rights/revocation",
            Perm(ExchangeManage),
        ),
        ("GET", "/api/v1/exchange/log", Perm(ExchangeManage)),
        (
            "GET",
            "/api/v1/exchange/log/verification",
            Perm(ExchangeManage),
        ),
        (
            "GET",
            "/api/v1/exchange/log/{exchange_id}/bodies",
            Perm(ExchangeManage),
        ),
        ("GET", "/api/v1/exchange/topic-rights", Perm(ExchangeManage)),
        (
            "POST",
            "/api/v1/exchange/topic-rights",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/api/v1/exchange/topic-rights/revocation",
            Perm(ExchangeManage),
        ),
        (
            "GET",
            "/api/v1/exchange/subscriptions",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/api/v1/exchange/subscriptions/{id}/status",
            Perm(ExchangeManage),
        ),
        (
            "POST",
            "/api/v1/exchange/subscriptions/{id}/replay",
            Perm(ExchangeManage),
        ),
        ("GET", "/api/v1/exchange/dead-letters", Perm(ExchangeManage)),
        (
            "POST",
            "/api/v1/exchange/dead-letters/{id}/replay",
            Perm(ExchangeManage),
        ),
    ]
};

/// The members' endpoint (`/lgsp/v1/…`). It is merged **outside** the request-context layer:
/// members authenticate every request with their signature, never with a session cookie, so
/// sessions and CSRF (which the context layer requires of non-API form posts) do not apply,
/// and no session lookup is paid per exchange. Its entries in [`RULES`] document it as
/// public. Starts the hub's sweep of exchanges a crash cut off ([`Hub::start_sweeping`]).
pub fn member_routes(hub: Arc<Hub>) -> Router<AppState> {
    hub.start_sweeping();
    Router::new()
        .route("/lgsp/v1/hub-key", get(hub::hub_key_handler))
        .route("/lgsp/v1/registry", get(hub::registry_handler))
        .route(
            "/lgsp/v1/_subscriptions",
            get(hub::subscriptions_handler).post(hub::subscriptions_handler),
        )
        .route(
            "/lgsp/v1/_subscriptions/{id}",
            delete(hub::subscription_handler),
        )
        .route("/lgsp/v1/_events/{action}", post(hub::events_handler))
        .merge(exchange_routes())
        .layer(Extension(hub))
}

/// The exchange itself, `/lgsp/v1/{provider}/{service}[/{*path}]` with every method: on the
/// hub (in [`member_routes`]) and on a member's gateway for direct calls
/// ([`crate::direct::gateway_routes`]). The [`Hub`] comes as an extension.
pub fn exchange_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/lgsp/v1/{provider}/{service}",
            get(hub::handle)
                .head(hub::handle)
                .post(hub::handle)
                .put(hub::handle)
                .patch(hub::handle)
                .delete(hub::handle),
        )
        .route(
            "/lgsp/v1/{provider}/{service}/{*path}",
            get(hub::handle_with_path)
                .head(hub::handle_with_path)
                .post(hub::handle_with_path)
                .put(hub::handle_with_path)
                .patch(hub::handle_with_path)
                .delete(hub::handle_with_path),
        )
}

/// The administration API (behind the request-context layer: sessions, tokens, CSRF, rules).
pub fn routes(hub: Arc<Hub>) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/exchange/members",
            get(api_members).post(api_register_member),
        )
        .route("/api/v1/exchange/members/{code}/keys", post(api_rotate_key))
        .route(
            "/api/v1/exchange/members/{code}/keys/{id}/revocation",
            post(api_revoke_key),
        )
        .route("/api/v1/exchange/members/{code}/status", post(api_status))
        .route(
            "/api/v1/exchange/members/{code}/gateway",
            axum::routing::put(api_set_gateway),
        )
        .route(
            "/api/v1/exchange/members/{code}/rate-limit",
            post(api_set_rate_limit),
        )
        .route("/api/v1/exchange/rate-limits", get(api_rate_limits))
        .route(
            "/api/v1/exchange/services",
            get(api_services).post(api_register_service),
        )
        .route(
            "/api/v1/exchange/services/{provider}/{code}/status",
            post(api_service_status),
        )
        .route("/api/v1/exchange/rights", get(api_rights).post(api_grant))
        .route("/api/v1/exchange/rights/revocation", post(api_revoke))
        .route("/api/v1/exchange/log", get(api_log))
        .route("/api/v1/exchange/log/verification", get(api_verify))
        .route("/api/v1/exchange/log/{exchange_id}/bodies", get(api_bodies))
        .route(
            "/api/v1/exchange/topic-rights",
            get(api_topic_rights).post(api_grant_topic),
        )
        .route(
            "/api/v1/exchange/topic-rights/revocation",
            post(api_revoke_topic),
        )
        .route("/api/v1/exchange/subscriptions", get(api_subscriptions))
        .route(
            "/api/v1/exchange/subscriptions/{id}/status",
            post(api_subscription_status),
        )
        .route(
            "/api/v1/exchange/subscriptions/{id}/replay",
            post(api_replay_subscription),
        )
        .route("/api/v1/exchange/dead-letters", get(api_dead_letters))
        .route(
            "/api/v1/exchange/dead-letters/{id}/replay",
            post(api_replay),
        )
        .route("/nghiep-vu/lien-thong", get(catalogue_page))
        .route(
            "/nghiep-vu/lien-thong/{provider}/{code}",
            get(member_service_page),
        )
        .route("/quan-tri/truc-lien-thong", get(hub_page))
        .route(
            "/quan-tri/truc-lien-thong/dich-vu/{provider}/{code}",
            get(service_page),
        )
        .route(
            "/quan-tri/truc-lien-thong/thanh-vien",
            post(form_register_member),
        )
        .route("/quan-tri/truc-lien-thong/quyen", post(form_grant))
        .route("/quan-tri/truc-lien-thong/quyen/thu-hoi", post(form_revoke))
        .route("/quan-tri/truc-lien-thong/tan-suat", post(form_rate))
        .route(
            "/quan-tri/truc-lien-thong/thu-chet/{id}/gui-lai",
            post(form_replay),
        )
        .route(
            "/quan-tri/truc-lien-thong/dang-ky/{id}/trang-thai",
            post(form_subscription_status),
        )
        .route(
            "/quan-tri/truc-lien-thong/thanh-vien/{code}/trang-thai",
            post(form_member_status),
        )
        .route("/quan-tri/truc-lien-thong/khoa", post(form_rotate_key))
        .route(
            "/quan-tri/truc-lien-thong/thanh-vien/{code}/khoa/{id}/thu-hoi",
            post(form_revoke_key),
        )
        .route(
            "/quan-tri/truc-lien-thong/dich-vu",
            post(form_register_service),
        )
        .route(
            "/quan-tri/truc-lien-thong/dich-vu/{provider}/{code}/trang-thai",
            post(form_service_status),
        )
        .route("/quan-tri/truc-lien-thong/chu-de", post(form_grant_topic))
        .route(
            "/quan-tri/truc-lien-thong/chu-de/thu-hoi",
            post(form_revoke_topic),
        )
        .layer(Extension(hub))
}

struct MemberRow {
    code: String,
    name: String,
    /// `active`, or `revoked` (suspended: every request refused).
    status: String,
    keys: Vec<KeyRow>,
    /// The topic prefixes it may receive.
    topics: Vec<String>,
    /// `burst / per second`.
    rate: String,
    rate_default: bool,
    /// Its exchanges as a client, from the message log: requests / errors, mean / worst ms.
    requests: String,
    latency: String,
}

/// One of a member's keys (khóa): its fingerprint and dates; `revoked` empty while valid.
struct KeyRow {
    id: String,
    fingerprint: String,
    created: String,
    revoked: String,
    /// The certificate it was taken from, if any.
    certificate: Option<CertificateRow>,
}

/// A key's X.509 certificate on the page (chứng thư số): subject, SHA-256 fingerprint,
/// validity (UTC), whether it has expired, and the PEM.
struct CertificateRow {
    subject: String,
    sha256: String,
    not_before: String,
    not_after: String,
    expired: bool,
    pem: String,
}

/// A topic right with its date.
struct TopicRow {
    member: String,
    topic_prefix: String,
    granted: String,
    granted_by: String,
}

struct ServiceRow {
    provider: String,
    code: String,
    name: String,
    classification: String,
    active: bool,
    paths: usize,
    clients: usize,
    requests: i64,
    errors: i64,
    mean_ms: String,
    max_ms: String,
}

struct LogRow {
    seq: i64,
    at: String,
    client: String,
    method: String,
    provider: String,
    service: String,
    status: i64,
    outcome: String,
    ms: String,
}

struct SubscriptionRow {
    id: String,
    member: String,
    topic_prefix: String,
    url: String,
    status: String,
    status_reason: String,
    pending: i64,
    dead: i64,
}

struct DeadRow {
    id: String,
    at: String,
    member: String,
    subscription_id: String,
    topic: String,
    event_id: String,
    attempts: i64,
    last_error: String,
}

#[derive(askama::Template)]
#[template(path = "hub.html")]
struct HubPage {
    c: tinhso_http::layout::Chrome,
    hub_key: String,
    members: Vec<MemberRow>,
    services: Vec<ServiceRow>,
    recent: Vec<LogRow>,
    /// The newest anchors and whether a TSA time-stamped them.
    anchors: Vec<AnchorLine>,
    /// The configured TSA's address, if any.
    tsa_url: String,
    topic_rights: Vec<TopicRow>,
    /// Topic families that can be granted, for the form's list.
    topic_roots: &'static [&'static str],
    /// (value, label, chosen) of the service form's classification list.
    classifications: Vec<(&'static str, &'static str, bool)>,
    subscriptions: Vec<SubscriptionRow>,
    dead: Vec<DeadRow>,
    rights: Vec<RightRow>,
    /// (member code, name) for the forms' lists.
    member_codes: Vec<(String, String)>,
    /// (provider, service code, name).
    service_codes: Vec<(String, String, String)>,
    forms: Forms,
}

/// One anchor on the page (neo chuỗi): when the hub signed it, and the TSA's time-stamp.
struct AnchorLine {
    seq: i64,
    at: String,
    /// Empty: signed by the hub's key only.
    tsa_name: String,
    tsa_time: String,
}

struct RightRow {
    client: String,
    provider: String,
    service: String,
    /// The operations it is limited to, or empty: the whole service.
    operations: String,
}

/// Đăng ký thành viên: the member form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub public_key: String,
    /// Or an X.509 certificate (PEM) holding the key.
    #[serde(default)]
    pub certificate: String,
}

/// Cấp / thu hồi quyền: the right form; `operations` one per line (none: the whole service).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RightForm {
    #[serde(default)]
    pub client: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub operations: String,
}

/// Giới hạn tần suất: the rate form; both empty: back to the hub's default.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RateForm {
    #[serde(default)]
    pub member: String,
    #[serde(default)]
    pub burst: String,
    #[serde(default)]
    pub per_second: String,
}

/// Đăng ký dịch vụ: the service form; `openapi` is the document pasted as text.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceForm {
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub classification: String,
    #[serde(default)]
    pub openapi: String,
}

/// Đổi khóa: a member's new public key (every older key is revoked).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    pub member: String,
    #[serde(default)]
    pub public_key: String,
    /// Or an X.509 certificate (PEM) holding the key.
    #[serde(default)]
    pub certificate: String,
}

/// Cấp / thu hồi quyền nhận sự kiện: the topic-right form and the rows' revoke buttons.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TopicForm {
    #[serde(default)]
    pub member: String,
    #[serde(default)]
    pub topic_prefix: String,
}

/// Tạm dừng / tiếp tục: the rows' buttons (`active` = `true` or `false`).
#[derive(Debug, Default, Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    pub active: String,
}

/// The forms of the page: what was typed and, after a refusal, which form failed and why.
#[derive(Debug, Default)]
struct Forms {
    member: MemberForm,
    right: RightForm,
    rate: RateForm,
    service: ServiceForm,
    key: KeyForm,
    topic: TopicForm,
    /// `member`, `right`, `rate`, `service`, `key`, `topic` or `row` (a button of a table).
    failed: &'static str,
    /// (id of the input to link to, message in the visitor's language).
    errors: Vec<(String, String)>,
    /// The note after a change that worked.
    done: String,
}

impl Forms {
    /// After a row's button: nothing typed to keep.
    fn row() -> Self {
        Self::typed("row", |_| ())
    }

    /// After form `failed`: `keep` puts what was typed in its place.
    fn typed(failed: &'static str, keep: impl FnOnce(&mut Self)) -> Self {
        let mut forms = Self {
            failed,
            ..Default::default()
        };
        keep(&mut forms);
        forms
    }
}

fn ms(us: i64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

/// The note after each form that worked: (`xong` value, Vietnamese, English).
const DONE: &[(&str, &str, &str)] = &[
    (
        "thanh-vien",
        "Đã đăng ký thành viên.",
        "The member is registered.",
    ),
    ("quyen", "Đã cấp quyền.", "The right is granted."),
    ("thu-hoi", "Đã thu hồi quyền.", "The right is revoked."),
    ("tan-suat", "Đã đặt giới hạn tần suất.", "The rate is set."),
    (
        "gui-lai",
        "Đã đưa lần gửi trở lại hàng đợi.",
        "The delivery is queued again.",
    ),
    (
        "trang-thai",
        "Đã đổi trạng thái đăng ký.",
        "The subscription's status is changed.",
    ),
    (
        "thanh-vien-trang-thai",
        "Đã đổi trạng thái thành viên.",
        "The member's status is changed.",
    ),
    (
        "khoa",
        "Đã đổi khóa; các khóa cũ của thành viên đã bị thu hồi.",
        "The key is rotated; the member's older keys are revoked.",
    ),
    ("thu-hoi-khoa", "Đã thu hồi khóa.", "The key is revoked."),
    (
        "dich-vu",
        "Đã đăng ký dịch vụ.",
        "The service is registered.",
    ),
    (
        "dich-vu-trang-thai",
        "Đã đổi trạng thái dịch vụ.",
        "The service's status is changed.",
    ),
    (
        "chu-de",
        "Đã cấp quyền nhận sự kiện.",
        "The topic right is granted.",
    ),
    (
        "thu-hoi-chu-de",
        "Đã thu hồi quyền nhận sự kiện.",
        "The topic right is revoked.",
    ),
];

#[derive(Deserialize)]
struct PageQuery {
    /// After a change made through a form: which one (`thanh-vien`, `quyen`, …).
    xong: Option<String>,
}

/// `GET /quan-tri/truc-lien-thong`: members, the service catalogue with its figures from the
/// log, the newest exchanges, and the forms that change them.
async fn hub_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Extension(hub): Extension<Arc<Hub>>,
    Query(q): Query<PageQuery>,
) -> Result<Response, tinhso_http::PageError> {
    require_admin(&state, &ctx, "exchange_hub")
        .await
        .map_err(|e| ctx.page_err(e))?;
    let done = DONE
        .iter()
        .find(|(key, _, _)| q.xong.as_deref() == Some(*key))
        .map_or("", |(_, vi, en)| ctx.lang.s(vi, en));
    let forms = Forms {
        done: done.to_string(),
        ..Default::default()
    };
    render(&state, &ctx, &hub, forms, StatusCode::OK).await
}

/// One service of the catalogue (danh mục dịch vụ): its entry, the operations its OpenAPI
/// document declares and the document itself.
#[derive(askama::Template)]
#[template(path = "hub_service.html")]
struct ServicePage {
    c: tinhso_http::layout::Chrome,
    /// The administrators' view (back to the hub page, the provider's endpoint shown), or
    /// the members' (back to the catalogue).
    admin: bool,
    s: registry::Service,
    /// (METHOD, path template, summary).
    operations: Vec<(String, String, String)>,
    /// The document, indented.
    document: String,
}

/// `GET /quan-tri/truc-lien-thong/dich-vu/{provider}/{code}`: a service's page in the
/// catalogue (administrators, like the hub page); 404 for an unknown service.
async fn service_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path((provider, code)): Path<(String, String)>,
) -> Result<Response, tinhso_http::PageError> {
    require_admin(&state, &ctx, "exchange_service")
        .await
        .map_err(|e| ctx.page_err(e))?;
    render_service(&state, &ctx, &provider, &code, true).await
}

/// A service's page: the administrators' (`admin`, every service) or the members' (active
/// services only); 404 for any other.
async fn render_service(
    state: &AppState,
    ctx: &ReqCtx,
    provider: &str,
    code: &str,
    admin: bool,
) -> Result<Response, tinhso_http::PageError> {
    let s = registry::get_service(&state.db, provider, code)
        .await
        .map_err(|e| ctx.page_err(tinhso_kernel::AppError::from(e)))?
        .filter(|s| admin || s.active)
        .ok_or_else(|| {
            ctx.page_err(tinhso_kernel::AppError::not_found().with_detail(
                format!("Không có dịch vụ {provider}/{code}"),
                format!("No service {provider}/{code}"),
            ))
        })?;
    let page = ServicePage {
        c: tinhso_http::layout::Chrome::of(ctx),
        admin,
        operations: registry::operations(&s.openapi),
        document: serde_json::to_string_pretty(&s.openapi).unwrap_or_default(),
        s,
    };
    Ok(tinhso_http::layout::render(&page))
}

/// The catalogue's scope (phạm vi danh mục dịch vụ) for `principal`: when its agency is a
/// hub member's (an active member's code, or that code followed by `-SYSTEM`), that agency
/// as the platform places it (the agency and its ancestors, and the commune of a commune
/// People's Committee: `tinhso_refdata::agencies::scope_of`); otherwise the province, which
/// only province-wide roles reach. Staff whose `back_office` covers it browse the catalogue.
pub async fn catalogue_scope(
    db: &tinhso_store::Db,
    principal: Option<&tinhso_identity::Principal>,
) -> Result<ResourceScope, tinhso_kernel::AppError> {
    let Some(agency) = principal.and_then(|p| p.agency_code.as_deref()) else {
        return Ok(ResourceScope::province());
    };
    let members: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM exchange_members WHERE status = 'active' AND (code = $1 OR code LIKE $2)",
    )
    .bind(agency)
    .bind(format!("{agency}-%"))
    .fetch_one(db.pool())
    .await
    .map_err(tinhso_store::DbError::from)?;
    if members == 0 {
        return Ok(ResourceScope::province());
    }
    Ok(match tinhso_refdata::agencies::get(db, agency).await? {
        Some(a) => tinhso_refdata::agencies::scope_of(db, &a).await?,
        None => ResourceScope {
            agencies: vec![agency.to_string()],
            ..ResourceScope::province()
        },
    })
}

/// Whether `principal` may browse the catalogue (for links such as the back office's card;
/// not audited). The pages check the same through [`require_catalogue`].
pub async fn may_browse_catalogue(
    db: &tinhso_store::Db,
    principal: Option<&tinhso_identity::Principal>,
) -> Result<bool, tinhso_kernel::AppError> {
    let scope = catalogue_scope(db, principal).await?;
    Ok(tinhso_identity::authorize(principal, Permission::BackOffice, &scope).is_ok())
}

/// The catalogue's one check (`back_office` over the caller's member agency, or province-wide),
/// audited when refused.
async fn require_catalogue(
    state: &AppState,
    ctx: &ReqCtx,
    target: &str,
) -> Result<(), tinhso_kernel::AppError> {
    let scope = catalogue_scope(&state.db, ctx.principal.as_ref()).await?;
    context::require(state, ctx, Permission::BackOffice, &scope, target).await
}

/// One service in the members' catalogue.
struct CatalogueRow {
    provider: String,
    provider_name: String,
    code: String,
    name: String,
    classification: &'static str,
    operations: usize,
}

/// The members' catalogue (danh mục dịch vụ trục liên thông): the active services.
#[derive(askama::Template)]
#[template(path = "catalogue.html")]
struct CataloguePage {
    c: tinhso_http::layout::Chrome,
    services: Vec<CatalogueRow>,
}

/// A classification's label in the visitor's language.
fn classification_label(lang: tinhso_http::i18n::Lang, k: &str) -> &'static str {
    match k {
        "public" => lang.s("công khai", "public"),
        "internal" => lang.s("nội bộ", "internal"),
        _ => lang.s(
            "hạn chế (không lưu nội dung)",
            "restricted (bodies not kept)",
        ),
    }
}

/// `GET /nghiep-vu/lien-thong`: the service catalogue for staff of member agencies — each
/// active service with its provider, classification and operations, linked to its page.
async fn catalogue_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Response, tinhso_http::PageError> {
    require_catalogue(&state, &ctx, "exchange_catalogue")
        .await
        .map_err(|e| ctx.page_err(e))?;
    let members = registry::list_members(&state.db)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let services = registry::list_services(&state.db)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let page = CataloguePage {
        c: tinhso_http::layout::Chrome::of(&ctx),
        services: services
            .into_iter()
            .filter(|s| s.active)
            .map(|s| CatalogueRow {
                provider_name: members
                    .iter()
                    .find(|m| m.code == s.provider)
                    .map(|m| m.name.clone())
                    .unwrap_or_default(),
                operations: registry::operations(&s.openapi).len(),
                classification: classification_label(ctx.lang, &s.classification),
                provider: s.provider,
                code: s.code,
                name: s.name,
            })
            .collect(),
    };
    Ok(tinhso_http::layout::render(&page))
}

/// `GET /nghiep-vu/lien-thong/{provider}/{code}`: an active service's page for staff of
/// member agencies (operations and OpenAPI document, no endpoint, no admin actions).
async fn member_service_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path((provider, code)): Path<(String, String)>,
) -> Result<Response, tinhso_http::PageError> {
    require_catalogue(&state, &ctx, "exchange_catalogue")
        .await
        .map_err(|e| ctx.page_err(e))?;
    render_service(&state, &ctx, &provider, &code, false).await
}

/// The page with `forms` (the values typed, the refusals) and `status`.
async fn render(
    state: &AppState,
    ctx: &ReqCtx,
    hub: &Hub,
    forms: Forms,
    status: StatusCode,
) -> Result<Response, tinhso_http::PageError> {
    let page_err = |e: tinhso_kernel::AppError| ctx.page_err(e);
    let members = registry::list_members(&state.db).await.map_err(page_err)?;
    let rates = registry::list_rate_limits(&state.db)
        .await
        .map_err(|e| page_err(e.into()))?;
    let services = registry::list_services(&state.db)
        .await
        .map_err(|e| page_err(e.into()))?;
    let rights = registry::list_rights(&state.db)
        .await
        .map_err(|e| page_err(e.into()))?;
    let stats = log::stats_by_service(&state.db)
        .await
        .map_err(|e| page_err(e.into()))?;
    let by_client = log::stats_by_client(&state.db)
        .await
        .map_err(|e| page_err(e.into()))?;
    let recent = log::recent(&state.db, 50)
        .await
        .map_err(|e| page_err(e.into()))?;
    let topic_rights = webhooks::list_topic_rights(&state.db)
        .await
        .map_err(|e| page_err(e.into()))?;
    let anchors = log::recent_anchors(&state.db, 10)
        .await
        .map_err(|e| page_err(e.into()))?
        .into_iter()
        .map(|a| AnchorLine {
            seq: a.seq,
            at: chrono_time(a.at),
            tsa_name: a.tsa_name.unwrap_or_default(),
            tsa_time: a.tsa_gen_time.map(chrono_time).unwrap_or_default(),
        })
        .collect();
    let subscriptions = webhooks::list_subscriptions(&state.db, None)
        .await
        .map_err(|e| page_err(e.into()))?;
    let dead = webhooks::dead_letters(&state.db, None, 50)
        .await
        .map_err(|e| page_err(e.into()))?;
    let classifications = registry::CLASSIFICATIONS
        .iter()
        .map(|k| {
            let label = classification_label(ctx.lang, k);
            (*k, label, forms.service.classification == *k)
        })
        .collect();
    let page = HubPage {
        forms,
        anchors,
        tsa_url: hub
            .config()
            .tsa
            .as_ref()
            .map(|t| t.url.clone())
            .unwrap_or_default(),
        member_codes: members
            .iter()
            .map(|m| (m.code.clone(), m.name.clone()))
            .collect(),
        service_codes: services
            .iter()
            .map(|s| (s.provider.clone(), s.code.clone(), s.name.clone()))
            .collect(),
        rights: rights
            .iter()
            .map(|r| RightRow {
                client: r.client.clone(),
                provider: r.provider.clone(),
                service: r.service.clone(),
                operations: r.operations.join(", "),
            })
            .collect(),
        topic_rights: topic_rights
            .iter()
            .map(|r| TopicRow {
                member: r.member.clone(),
                topic_prefix: r.topic_prefix.clone(),
                granted: chrono_time(r.granted_at),
                granted_by: r.granted_by.clone(),
            })
            .collect(),
        topic_roots: webhooks::TOPIC_ROOTS,
        classifications,
        subscriptions: subscriptions
            .into_iter()
            .map(|s| SubscriptionRow {
                id: s.id,
                member: s.member,
                topic_prefix: s.topic_prefix,
                url: s.url,
                status: s.status,
                status_reason: s.status_reason.unwrap_or_default(),
                pending: s.pending,
                dead: s.dead,
            })
            .collect(),
        dead: dead
            .into_iter()
            .map(|d| DeadRow {
                at: chrono_time(d.updated_at),
                id: d.id,
                member: d.member,
                subscription_id: d.subscription_id,
                topic: d.topic,
                event_id: d.event_id,
                attempts: d.attempts,
                last_error: d.last_error.unwrap_or_default(),
            })
            .collect(),
        c: tinhso_http::layout::Chrome::of(ctx),
        hub_key: hub.public_key(),
        members: members
            .into_iter()
            .map(|m| {
                let own = rates.iter().find(|r| r.member == m.code);
                let (rate, rate_default) = match own {
                    Some(r) => (format!("{} / {}", r.burst, r.per_second), false),
                    None => (
                        format!(
                            "{} / {}",
                            hub.config().rate_burst,
                            hub.config().rate_per_second
                        ),
                        true,
                    ),
                };
                let st = by_client
                    .iter()
                    .find(|x| x.client == m.code)
                    .map(|x| &x.totals);
                MemberRow {
                    rate,
                    rate_default,
                    requests: st.map_or_else(
                        || "0 / 0".into(),
                        |x| format!("{} / {}", x.requests, x.errors),
                    ),
                    latency: st.map_or_else(
                        || "—".into(),
                        |x| format!("{} / {}", ms(x.mean_latency_us), ms(x.max_latency_us)),
                    ),
                    keys: m
                        .keys
                        .iter()
                        .map(|k| KeyRow {
                            id: k.id.clone(),
                            fingerprint: crate::signing::fingerprint(&k.public_key),
                            created: chrono_time(k.created_at),
                            revoked: k.revoked_at.map(chrono_time).unwrap_or_default(),
                            certificate: k.certificate.as_ref().map(|c| CertificateRow {
                                subject: c.subject.clone(),
                                sha256: c.sha256.clone(),
                                not_before: chrono_time(c.not_before),
                                not_after: chrono_time(c.not_after),
                                expired: !c.valid_at(tinhso_store::now_micros()),
                                pem: c.pem.clone(),
                            }),
                        })
                        .collect(),
                    topics: topic_rights
                        .iter()
                        .filter(|r| r.member == m.code)
                        .map(|r| r.topic_prefix.clone())
                        .collect(),
                    code: m.code,
                    name: m.name,
                    status: m.status,
                }
            })
            .collect(),
        services: services
            .into_iter()
            .map(|s| {
                let st = stats
                    .iter()
                    .find(|x| x.provider == s.provider && x.service == s.code);
                ServiceRow {
                    paths: s
                        .openapi
                        .get("paths")
                        .and_then(|p| p.as_object())
                        .map_or(0, |p| p.len()),
                    clients: rights
                        .iter()
                        .filter(|r| r.provider == s.provider && r.service == s.code)
                        .count(),
                    requests: st.map_or(0, |x| x.requests),
                    errors: st.map_or(0, |x| x.errors),
                    mean_ms: st.map_or_else(|| "—".into(), |x| ms(x.mean_latency_us)),
                    max_ms: st.map_or_else(|| "—".into(), |x| ms(x.max_latency_us)),
                    provider: s.provider,
                    code: s.code,
                    name: s.name,
                    classification: s.classification,
                    active: s.active,
                }
            })
            .collect(),
        recent: recent
            .into_iter()
            .map(|e| LogRow {
                seq: e.seq,
                at: chrono_time(e.at),
                client: e.client,
                method: e.method,
                provider: e.provider,
                service: e.service,
                status: e.status,
                outcome: e.outcome,
                ms: ms(e.latency_us),
            })
            .collect(),
    };
    let mut resp = tinhso_http::layout::render(&page);
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = status;
    }
    Ok(resp)
}

/// After a form: 303 back to the page on success; the page again with the refusal (the
/// values typed kept, each message linked to its input) and the error's status otherwise.
/// A refusal of the right itself is the error page (403).
async fn after_form(
    state: &AppState,
    ctx: &ReqCtx,
    hub: &Hub,
    result: Result<(), tinhso_kernel::AppError>,
    done: &str,
    mut forms: Forms,
    prefix: &str,
) -> Result<Response, tinhso_http::PageError> {
    use tinhso_kernel::ErrorCode;
    let err = match result {
        Ok(()) => {
            return Ok(axum::response::Redirect::to(&format!(
                "/quan-tri/truc-lien-thong?xong={done}#ket-qua"
            ))
            .into_response())
        }
        Err(e) => e,
    };
    if matches!(
        err.code,
        ErrorCode::Forbidden | ErrorCode::Unauthenticated | ErrorCode::Internal
    ) {
        return Err(ctx.page_err(err));
    }
    let lang = ctx.lang;
    forms.errors = if err.fields.is_empty() {
        let detail = match lang {
            tinhso_http::i18n::Lang::Vi => err.detail_vi.clone(),
            tinhso_http::i18n::Lang::En => err.detail_en.clone(),
        };
        vec![(
            String::new(),
            detail.unwrap_or_else(|| lang.s(err.code.title_vi(), err.code.title_en()).to_string()),
        )]
    } else {
        err.fields
            .iter()
            .map(|f| {
                // `operations[2]` → the operations box.
                let field = f.field.split('[').next().unwrap_or_default();
                // A row's button has no input to link to.
                let anchor = if prefix == "row" {
                    String::new()
                } else {
                    format!("{prefix}-{field}")
                };
                (anchor, lang.s(&f.message_vi, &f.message_en).to_string())
            })
            .collect()
    };
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    render(state, ctx, hub, forms, status).await
}

/// What each form of the page works with — the state, the request's context, the hub —
/// taken from the request at once.
struct HubForm {
    state: AppState,
    ctx: ReqCtx,
    hub: Arc<Hub>,
}

impl FromRequestParts<AppState> for HubForm {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = ReqCtx::from_request_parts(parts, state).await?;
        let Extension(hub) = Extension::<Arc<Hub>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            state: state.clone(),
            ctx,
            hub,
        })
    }
}

type PageResult = Result<Response, tinhso_http::PageError>;

impl HubForm {
    /// A form's work: the administrator's right is checked first, then `act` runs (a future
    /// does nothing until awaited, so nothing is written without the right); then
    /// [`after_form`] with what was typed (`forms`) and the input ids' `prefix`.
    async fn done(
        &self,
        target: &str,
        act: impl std::future::Future<Output = Result<(), tinhso_kernel::AppError>>,
        done: &str,
        forms: Forms,
        prefix: &str,
    ) -> PageResult {
        let result = match require_admin(&self.state, &self.ctx, target).await {
            Ok(()) => act.await,
            Err(e) => Err(e),
        };
        after_form(
            &self.state,
            &self.ctx,
            &self.hub,
            result,
            done,
            forms,
            prefix,
        )
        .await
    }

    /// A row's button: [`HubForm::done`] with nothing typed to keep.
    async fn row(
        &self,
        target: &str,
        act: impl std::future::Future<Output = Result<(), tinhso_kernel::AppError>>,
        done: &str,
    ) -> PageResult {
        self.done(target, act, done, Forms::row(), "row").await
    }
}

/// `POST /quan-tri/truc-lien-thong/thanh-vien`: register a member (the API's function).
async fn form_register_member(p: HubForm, axum::Form(f): axum::Form<MemberForm>) -> PageResult {
    let (db, audit) = (&p.state.db, p.ctx.audit());
    let act = async {
        let credential = registry::Credential {
            public_key: f.public_key.clone(),
            certificate: f.certificate.clone(),
        };
        registry::register_member_with(db, &audit, &f.code, &f.name, &credential)
            .await
            .map(|_| ())
    };
    let forms = Forms::typed("member", |fs| fs.member = f.clone());
    p.done("exchange_member", act, "thanh-vien", forms, "tv")
        .await
}

/// The operations typed one per line (blank lines ignored).
fn operations_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `POST /quan-tri/truc-lien-thong/quyen`: grant a right, limited to the operations typed.
async fn form_grant(p: HubForm, axum::Form(f): axum::Form<RightForm>) -> PageResult {
    let (db, audit) = (&p.state.db, p.ctx.audit());
    let operations = operations_of(&f.operations);
    let (client, provider, service) = (f.client.trim(), f.provider.trim(), f.service.trim());
    let act = registry::grant_operations(db, &audit, client, provider, service, &operations);
    let forms = Forms::typed("right", |fs| fs.right = f.clone());
    p.done("exchange_right", act, "quyen", forms, "q").await
}

/// `POST /quan-tri/truc-lien-thong/quyen/thu-hoi`: revoke a right (a row's button).
async fn form_revoke(p: HubForm, axum::Form(f): axum::Form<RightForm>) -> PageResult {
    let (db, audit) = (&p.state.db, p.ctx.audit());
    let (client, provider, service) = (f.client.trim(), f.provider.trim(), f.service.trim());
    let act = registry::revoke(db, &audit, client, provider, service);
    p.row("exchange_right", act, "thu-hoi").await
}

/// A number typed in a form: empty → `None`; a decimal comma is accepted.
fn typed<T: std::str::FromStr>(
    errs: &mut tinhso_kernel::FieldErrors,
    field: &str,
    raw: &str,
    what: (&str, &str),
) -> Option<T> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match raw.replace(',', ".").parse::<T>() {
        Ok(v) => Some(v),
        Err(_) => {
            errs.push(
                field,
                tinhso_kernel::Invalid::new(
                    "not_a_number",
                    format!("{} phải là một số, không phải «{raw}»", what.0),
                    format!("{} must be a number, not “{raw}”", what.1),
                ),
            );
            None
        }
    }
}

/// `POST /quan-tri/truc-lien-thong/tan-suat`: a member's own rate, or back to the default.
async fn form_rate(p: HubForm, axum::Form(f): axum::Form<RateForm>) -> PageResult {
    let member = f.member.trim();
    let act = async {
        let mut errs = tinhso_kernel::FieldErrors::new();
        let burst = typed::<i64>(
            &mut errs,
            "burst",
            &f.burst,
            ("Số yêu cầu tức thời", "The burst"),
        );
        let per_second = typed::<f64>(
            &mut errs,
            "per_second",
            &f.per_second,
            ("Số yêu cầu mỗi giây", "Requests per second"),
        );
        errs.into_result()?;
        let rate = registry::rate_of(burst, per_second)?;
        set_rate(&p.state, &p.ctx, &p.hub, member, rate).await
    };
    let forms = Forms::typed("rate", |fs| fs.rate = f.clone());
    p.done(member, act, "tan-suat", forms, "ts").await
}

/// `POST /quan-tri/truc-lien-thong/thu-chet/{id}/gui-lai`: replay a dead delivery.
async fn form_replay(p: HubForm, Path(id): Path<String>) -> PageResult {
    let audit = p.ctx.audit();
    let act = webhooks::replay(&p.state.db, &audit, &id);
    p.row("exchange_subscription", act, "gui-lai").await
}

/// The rows' suspend / resume buttons: `true` (tiếp tục) or `false` (tạm dừng).
fn active_of(raw: &str) -> Result<bool, tinhso_kernel::AppError> {
    match raw.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(tinhso_kernel::AppError::field(
            "active",
            tinhso_kernel::Invalid::new(
                "active_value",
                format!("Trạng thái phải là «true» (tiếp tục) hoặc «false» (tạm dừng), không phải «{other}»"),
                format!("The status must be “true” (resume) or “false” (suspend), not “{other}”"),
            ),
        )),
    }
}

/// `POST /quan-tri/truc-lien-thong/dang-ky/{id}/trang-thai`: suspend (`active=false`) or
/// resume (`active=true`) a subscription.
async fn form_subscription_status(
    p: HubForm,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<ActiveForm>,
) -> PageResult {
    let (db, audit) = (&p.state.db, p.ctx.audit());
    let act =
        async { webhooks::set_subscription_active(db, &audit, &id, active_of(&f.active)?).await };
    p.row("exchange_subscription", act, "trang-thai").await
}

/// `POST /quan-tri/truc-lien-thong/thanh-vien/{code}/trang-thai`: suspend (every request of
/// the member refused) or reinstate a member.
async fn form_member_status(
    p: HubForm,
    Path(code): Path<String>,
    axum::Form(f): axum::Form<ActiveForm>,
) -> PageResult {
    let (db, audit) = (&p.state.db, p.ctx.audit());
    let act = async { registry::set_member_active(db, &audit, &code, active_of(&f.active)?).await };
    p.row(&code, act, "thanh-vien-trang-thai").await
}

/// `POST /quan-tri/truc-lien-thong/khoa`: rotate a member's key (the new key is added, every
/// older one revoked, in one transaction).
async fn form_rotate_key(p: HubForm, axum::Form(f): axum::Form<KeyForm>) -> PageResult {
    let (db, audit) = (&p.state.db, p.ctx.audit());
    let member = f.member.trim();
    let act = async {
        registry::member_code(member).map_err(|e| tinhso_kernel::AppError::field("member", e))?;
        let credential = registry::Credential {
            public_key: f.public_key.clone(),
            certificate: f.certificate.clone(),
        };
        registry::rotate_credential(db, &audit, member, &credential)
            .await
            .map(|_| ())
    };
    let forms = Forms::typed("key", |fs| fs.key = f.clone());
    p.done(member, act, "khoa", forms, "k").await
}

/// `POST /quan-tri/truc-lien-thong/thanh-vien/{code}/khoa/{id}/thu-hoi`: revoke one key (lost
/// or compromised); the member keeps its other keys.
async fn form_revoke_key(p: HubForm, Path((code, id)): Path<(String, String)>) -> PageResult {
    let audit = p.ctx.audit();
    let act = registry::revoke_key(&p.state.db, &audit, &code, &id);
    p.row(&code, act, "thu-hoi-khoa").await
}

/// `POST /quan-tri/truc-lien-thong/dich-vu`: register (or update) a service; the OpenAPI
/// document pasted is parsed by the API's function, which refuses a malformed one with the
/// parser's message.
async fn form_register_service(p: HubForm, axum::Form(f): axum::Form<ServiceForm>) -> PageResult {
    let new = registry::NewService {
        provider: f.provider.trim().to_string(),
        code: f.code.trim().to_string(),
        name: f.name.clone(),
        endpoint: f.endpoint.clone(),
        openapi: serde_json::Value::String(f.openapi.clone()),
        classification: f.classification.trim().to_string(),
    };
    let (db, audit) = (&p.state.db, p.ctx.audit());
    let act = async {
        registry::register_service(db, &audit, &new)
            .await
            .map(|_| ())
    };
    let forms = Forms::typed("service", |fs| fs.service = f);
    p.done("exchange_service", act, "dich-vu", forms, "dv")
        .await
}

/// `POST /quan-tri/truc-lien-thong/dich-vu/{provider}/{code}/trang-thai`: withdraw a service
/// (calls answer 404) or bring it back.
async fn form_service_status(
    p: HubForm,
    Path((provider, code)): Path<(String, String)>,
    axum::Form(f): axum::Form<ActiveForm>,
) -> PageResult {
    let (db, audit) = (&p.state.db, p.ctx.audit());
    let act = async {
        let active = active_of(&f.active)?;
        registry::set_service_active(db, &audit, &provider, &code, active).await
    };
    p.row("exchange_service", act, "dich-vu-trang-thai").await
}

/// `POST /quan-tri/truc-lien-thong/chu-de`: grant a member a topic prefix (the API's
/// function: `api_grant_topic`).
async fn form_grant_topic(p: HubForm, axum::Form(f): axum::Form<TopicForm>) -> PageResult {
    let audit = p.ctx.audit();
    let act = webhooks::grant_topic(&p.state.db, &audit, &f.member, &f.topic_prefix);
    let forms = Forms::typed("topic", |fs| fs.topic = f.clone());
    p.done("exchange_topic_right", act, "chu-de", forms, "cd")
        .await
}

/// `POST /quan-tri/truc-lien-thong/chu-de/thu-hoi`: revoke a topic right (a row's button);
/// pending deliveries it no longer covers are dropped.
async fn form_revoke_topic(p: HubForm, axum::Form(f): axum::Form<TopicForm>) -> PageResult {
    let audit = p.ctx.audit();
    let act = webhooks::revoke_topic(&p.state.db, &audit, &f.member, &f.topic_prefix);
    p.row("exchange_topic_right", act, "thu-hoi-chu-de").await
}

/// Set a member's rate (the API and the page) and make the hub apply it at once.
async fn set_rate(
    state: &AppState,
    ctx: &ReqCtx,
    hub: &Hub,
    member: &str,
    rate: Option<(i64, f64)>,
) -> Result<(), tinhso_kernel::AppError> {
    registry::set_rate_limit(&state.db, &ctx.audit(), member, rate).await?;
    hub.rates_changed();
    Ok(())
}

fn chrono_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times() {
        assert_eq!(super::chrono_time(0), "1970-01-01 00:00:00");
        assert_eq!(
            super::chrono_time(1_795_951_531_000_000),
            "2026-11-29 11:25:31"
        );
    }
}

/// The hub administrator's right (province-wide `exchange_manage`): the one check of every
/// administration route, the API's, the page's and its forms'.
async fn require_admin(
    state: &AppState,
    ctx: &ReqCtx,
    target: &str,
) -> Result<(), tinhso_kernel::AppError> {
    context::require(
        state,
        ctx,
        Permission::ExchangeManage,
        &ResourceScope::province(),
        target,
    )
    .await?;
    Ok(())
}

async fn admin(state: &AppState, ctx: &ReqCtx, target: &str) -> Result<(), ApiError> {
    Ok(require_admin(state, ctx, target).await?)
}

/// A member to register, identified by an ed25519 key or an X.509 certificate holding one
/// (exactly one of `public_key` and `certificate`).
#[derive(Deserialize, ToSchema)]
pub struct MemberBody {
    /// Agency code (QCVN 102:2016), optionally `-SYSTEM`.
    pub code: String,
    pub name: String,
    #[serde(flatten)]
    pub credential: registry::Credential,
}

#[derive(Deserialize, ToSchema)]
pub struct StatusBody {
    /// `false` suspends every request of the member.
    pub active: bool,
}

/// A member's own rate; both absent: back to the hub's default (200 at once, 100 a second).
#[derive(Deserialize, ToSchema)]
pub struct RateLimitBody {
    /// Requests accepted at once (1–100000).
    pub burst: Option<i64>,
    /// Requests a second after the burst (more than 0, at most 100000).
    pub per_second: Option<f64>,
}

#[derive(Deserialize, ToSchema)]
pub struct RightBody {
    pub client: String,
    pub provider: String,
    pub service: String,
    /// Operations of the service's OpenAPI document the right is limited to (`GET
    /// /citizens/{id}`); absent or empty: the whole service. Ignored on revocation.
    #[serde(default)]
    pub operations: Vec<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct LogQuery {
    /// How many of the newest entries (1–1000, default 100).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/exchange/members", tag = "exchange",
    responses((status = 200, body = [registry::Member]), (status = 403, body = Problem)))]
async fn api_members(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<Vec<registry::Member>>, ApiError> {
    admin(&state, &ctx, "exchange_member").await?;
    Ok(Json(registry::list_members(&state.db).await?))
}

#[utoipa::path(post, path = "/api/v1/exchange/members", tag = "exchange", request_body = MemberBody,
    responses((status = 201, body = registry::Member), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn api_register_member(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(b): ApiJson<MemberBody>,
) -> Result<Response, ApiError> {
    admin(&state, &ctx, "exchange_member").await?;
    let m =
        registry::register_member_with(&state.db, &ctx.audit(), &b.code, &b.name, &b.credential)
            .await?;
    Ok((StatusCode::CREATED, Json(m)).into_response())
}

#[utoipa::path(post, path = "/api/v1/exchange/members/{code}/keys", tag = "exchange",
    params(("code" = String, Path)), request_body = registry::Credential,
    responses((status = 201, body = registry::MemberKey, description = "The new key; older keys are revoked"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn api_rotate_key(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<registry::Credential>,
) -> Result<Response, ApiError> {
    admin(&state, &ctx, &code).await?;
    let k = registry::rotate_credential(&state.db, &ctx.audit(), &code, &b).await?;
    Ok((StatusCode::CREATED, Json(k)).into_response())
}

#[utoipa::path(post, path = "/api/v1/exchange/members/{code}/keys/{id}/revocation", tag = "exchange",
    params(("code" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn api_revoke_key(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path((code, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, &code).await?;
    registry::revoke_key(&state.db, &ctx.audit(), &code, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/exchange/members/{code}/status", tag = "exchange",
    params(("code" = String, Path)), request_body = StatusBody,
    responses((status = 204), (status = 404, body = Problem)))]
async fn api_status(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<StatusBody>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, &code).await?;
    registry::set_member_active(&state.db, &ctx.audit(), &code, b.active).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member's gateway address for direct calls.
#[derive(Deserialize, ToSchema)]
pub struct GatewayBody {
    /// `https://host[:port][/path]`; empty: remove it.
    #[serde(default)]
    pub gateway_url: String,
}

#[utoipa::path(put, path = "/api/v1/exchange/members/{code}/gateway", tag = "exchange",
    params(("code" = String, Path)), request_body = GatewayBody,
    responses((status = 204, description = "Set (or removed); the next registry snapshot carries it"),
        (status = 404, body = Problem), (status = 422, body = Problem, description = "Not an http(s) address")))]
async fn api_set_gateway(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<GatewayBody>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, &code).await?;
    registry::set_gateway(&state.db, &ctx.audit(), &code, &b.gateway_url).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/exchange/members/{code}/rate-limit", tag = "exchange",
    params(("code" = String, Path)), request_body = RateLimitBody,
    responses((status = 204, description = "Set (applied to the next request, no restart)"), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "Burst or rate out of range, or only one of them given")))]
async fn api_set_rate_limit(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Extension(hub): Extension<Arc<Hub>>,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<RateLimitBody>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, &code).await?;
    let rate = registry::rate_of(b.burst, b.per_second)?;
    set_rate(&state, &ctx, &hub, &code, rate).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/exchange/rate-limits", tag = "exchange",
    responses((status = 200, body = [registry::RateLimit], description = "Members with their own rate; the others have the default")))]
async fn api_rate_limits(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<Vec<registry::RateLimit>>, ApiError> {
    admin(&state, &ctx, "exchange_member").await?;
    Ok(Json(
        registry::list_rate_limits(&state.db)
            .await
            .map_err(|e| ApiError(tinhso_kernel::AppError::from(e)))?,
    ))
}

#[utoipa::path(get, path = "/api/v1/exchange/services", tag = "exchange",
    responses((status = 200, body = [registry::Service]), (status = 403, body = Problem)))]
async fn api_services(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<Vec<registry::Service>>, ApiError> {
    admin(&state, &ctx, "exchange_service").await?;
    Ok(Json(
        registry::list_services(&state.db)
            .await
            .map_err(|e| ApiError(tinhso_kernel::AppError::from(e)))?,
    ))
}

#[utoipa::path(post, path = "/api/v1/exchange/services", tag = "exchange", request_body = registry::NewService,
    responses((status = 201, body = registry::Service), (status = 404, body = Problem, description = "Unknown provider"),
        (status = 422, body = Problem, description = "Invalid fields; a malformed OpenAPI document with the parser's message")))]
async fn api_register_service(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(b): ApiJson<registry::NewService>,
) -> Result<Response, ApiError> {
    admin(&state, &ctx, "exchange_service").await?;
    let s = registry::register_service(&state.db, &ctx.audit(), &b).await?;
    Ok((StatusCode::CREATED, Json(s)).into_response())
}

#[utoipa::path(post, path = "/api/v1/exchange/services/{provider}/{code}/status", tag = "exchange",
    params(("provider" = String, Path), ("code" = String, Path)), request_body = StatusBody,
    responses((status = 204, description = "Withdrawn (calls answer 404) or back"), (status = 404, body = Problem)))]
async fn api_service_status(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path((provider, code)): Path<(String, String)>,
    ApiJson(b): ApiJson<StatusBody>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, "exchange_service").await?;
    registry::set_service_active(&state.db, &ctx.audit(), &provider, &code, b.active).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/exchange/rights", tag = "exchange",
    responses((status = 200, body = [registry::Right]), (status = 403, body = Problem)))]
async fn api_rights(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<Vec<registry::Right>>, ApiError> {
    admin(&state, &ctx, "exchange_right").await?;
    Ok(Json(
        registry::list_rights(&state.db)
            .await
            .map_err(|e| ApiError(tinhso_kernel::AppError::from(e)))?,
    ))
}

#[utoipa::path(post, path = "/api/v1/exchange/rights", tag = "exchange", request_body = RightBody,
    responses((status = 204, description = "Granted (or already held); operations named replace those of an earlier grant"),
        (status = 404, body = Problem), (status = 422, body = Problem, description = "An operation the service's OpenAPI document does not declare")))]
async fn api_grant(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(b): ApiJson<RightBody>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, "exchange_right").await?;
    registry::grant_operations(
        &state.db,
        &ctx.audit(),
        &b.client,
        &b.provider,
        &b.service,
        &b.operations,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/exchange/rights/revocation", tag = "exchange", request_body = RightBody,
    responses((status = 204, description = "Revoked (or not held)")))]
async fn api_revoke(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(b): ApiJson<RightBody>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, "exchange_right").await?;
    registry::revoke(&state.db, &ctx.audit(), &b.client, &b.provider, &b.service).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/exchange/log", tag = "exchange", params(LogQuery),
    responses((status = 200, body = [log::Entry], description = "Newest first")))]
async fn api_log(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<LogQuery>,
) -> Result<Json<Vec<log::Entry>>, ApiError> {
    admin(&state, &ctx, "exchange_log").await?;
    Ok(Json(
        log::recent(&state.db, q.limit.unwrap_or(100))
            .await
            .map_err(|e| ApiError(tinhso_kernel::AppError::from(e)))?,
    ))
}

#[utoipa::path(get, path = "/api/v1/exchange/log/verification", tag = "exchange",
    responses((status = 200, body = log::VerifyReport)))]
async fn api_verify(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Extension(hub): Extension<Arc<Hub>>,
) -> Result<Json<log::VerifyReport>, ApiError> {
    admin(&state, &ctx, "exchange_log").await?;
    Ok(Json(
        log::verify_with(
            &state.db,
            Some(&hub.public_key()),
            hub.config().tsa_trust.as_ref(),
        )
        .await
        .map_err(|e| ApiError(tinhso_kernel::AppError::from(e)))?,
    ))
}

#[utoipa::path(get, path = "/api/v1/exchange/log/{exchange_id}/bodies", tag = "exchange",
    params(("exchange_id" = String, Path)),
    responses((status = 200, body = crate::bodies::Bodies, description = "The exchange's request and response bodies, decrypted; the reading is audited"),
        (status = 404, body = Problem, description = "No bodies kept (restricted service, refused before the service was known, or no such exchange)")))]
async fn api_bodies(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(exchange_id): Path<String>,
) -> Result<Json<crate::bodies::Bodies>, ApiError> {
    admin(&state, &ctx, "exchange_log").await?;
    Ok(Json(
        crate::bodies::read(&state.db, &ctx.audit(), &exchange_id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct TopicRightBody {
    pub member: String,
    /// A topic prefix (`dossier.`, `border.`, `indicator.` …).
    pub topic_prefix: String,
}

#[derive(Deserialize, IntoParams)]
pub struct DeadLetterQuery {
    /// Only this subscription's.
    pub subscription: Option<String>,
    /// How many of the newest (1–1000, default 100).
    pub limit: Option<i64>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct ReplayReport {
    /// Deliveries put back in the queue.
    pub replayed: usize,
}

#[utoipa::path(get, path = "/api/v1/exchange/topic-rights", tag = "exchange",
    responses((status = 200, body = [webhooks::TopicRight]), (status = 403, body = Problem)))]
async fn api_topic_rights(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<Vec<webhooks::TopicRight>>, ApiError> {
    admin(&state, &ctx, "exchange_topic_right").await?;
    Ok(Json(
        webhooks::list_topic_rights(&state.db)
            .await
            .map_err(|e| ApiError(tinhso_kernel::AppError::from(e)))?,
    ))
}

#[utoipa::path(post, path = "/api/v1/exchange/topic-rights", tag = "exchange", request_body = TopicRightBody,
    responses((status = 204, description = "Granted (or already held)"), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "Bad member code or unknown topic family")))]
async fn api_grant_topic(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(b): ApiJson<TopicRightBody>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, "exchange_topic_right").await?;
    webhooks::grant_topic(&state.db, &ctx.audit(), &b.member, &b.topic_prefix).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/exchange/topic-rights/revocation", tag = "exchange", request_body = TopicRightBody,
    responses((status = 204, description = "Revoked (or not held); pending deliveries no longer covered are dropped")))]
async fn api_revoke_topic(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(b): ApiJson<TopicRightBody>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, "exchange_topic_right").await?;
    webhooks::revoke_topic(&state.db, &ctx.audit(), &b.member, &b.topic_prefix).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/exchange/subscriptions", tag = "exchange",
    responses((status = 200, body = [webhooks::Subscription]), (status = 403, body = Problem)))]
async fn api_subscriptions(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<Vec<webhooks::Subscription>>, ApiError> {
    admin(&state, &ctx, "exchange_subscription").await?;
    Ok(Json(
        webhooks::list_subscriptions(&state.db, None)
            .await
            .map_err(|e| ApiError(tinhso_kernel::AppError::from(e)))?,
    ))
}

#[utoipa::path(post, path = "/api/v1/exchange/subscriptions/{id}/status", tag = "exchange",
    params(("id" = String, Path)), request_body = StatusBody,
    responses((status = 204, description = "Suspended or resumed (also after 410 Gone)"), (status = 404, body = Problem)))]
async fn api_subscription_status(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<StatusBody>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &ctx, "exchange_subscription").await?;
    webhooks::set_subscription_active(&state.db, &ctx.audit(), &id, b.active).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/exchange/subscriptions/{id}/replay", tag = "exchange",
    params(("id" = String, Path)),
    responses((status = 200, body = ReplayReport, description = "Every dead delivery of the subscription queued again"),
        (status = 404, body = Problem)))]
async fn api_replay_subscription(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> Result<Json<ReplayReport>, ApiError> {
    admin(&state, &ctx, "exchange_subscription").await?;
    let replayed = webhooks::replay_subscription(&state.db, &ctx.audit(), &id).await?;
    Ok(Json(ReplayReport { replayed }))
}

#[utoipa::path(get, path = "/api/v1/exchange/dead-letters", tag = "exchange", params(DeadLetterQuery),
    responses((status = 200, body = [webhooks::Delivery], description = "Newest first")))]
async fn api_dead_letters(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<DeadLetterQuery>,
) -> Result<Json<Vec<webhooks::Delivery>>, ApiError> {
    admin(&state, &ctx, "exchange_subscription").await?;
    Ok(Json(
        webhooks::dead_letters(&state.db, q.subscription.as_deref(), q.limit.unwrap_or(100))
            .await
            .map_err(|e| ApiError(tinhso_kernel::AppError::from(e)))?,
    ))
}

#[utoipa::path(post, path = "/api/v1/exchange/dead-letters/{id}/replay", tag = "exchange",
    params(("id" = String, Path)),
    responses((status = 200, body = ReplayReport), (status = 404, body = Problem, description = "Not on the dead-letter list")))]
async fn api_replay(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> Result<Json<ReplayReport>, ApiError> {
    admin(&state, &ctx, "exchange_subscription").await?;
    webhooks::replay(&state.db, &ctx.audit(), &id).await?;
    Ok(Json(ReplayReport { replayed: 1 }))
}

/// The hub's administration API in the OpenAPI document. The exchange endpoint itself
/// (`/lgsp/v1/…`) is described in the README: its contract is the provider's own OpenAPI
/// document, registered with the service.
#[derive(OpenApi)]
#[openapi(
    paths(api_members, api_register_member, api_rotate_key, api_revoke_key, api_status,
        api_set_gateway, api_set_rate_limit, api_rate_limits,
        api_services, api_register_service, api_service_status, api_rights, api_grant, api_revoke, api_log, api_verify, api_bodies,
        api_topic_rights, api_grant_topic, api_revoke_topic, api_subscriptions, api_subscription_status,
        api_replay_subscription, api_dead_letters, api_replay),
    components(schemas(MemberBody, registry::Credential, registry::KeyCertificate, StatusBody, GatewayBody, RightBody, RateLimitBody, registry::RateLimit, registry::Member, registry::MemberKey,
        registry::Service, registry::NewService, registry::Right, crate::bodies::Bodies, log::Entry, log::VerifyReport, log::Broken, log::AnchorStamp, crate::tsa::Stamp, Problem,
        TopicRightBody, ReplayReport, webhooks::TopicRight, webhooks::Subscription, webhooks::Delivery)),
    tags((name = "exchange", description = "Data exchange hub (LGSP): members, services, access rights, message log, topic rights, webhook subscriptions, dead letters"))
)]
pub struct ExchangeApiDoc;
