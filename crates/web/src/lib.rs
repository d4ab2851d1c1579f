//! The web layer of Tỉnh số (cổng thông tin và API): composes routers, layout, sessions and
//! middleware. Domain rules live in the module crates; handlers here translate HTTP to service
//! calls and back.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod access;
pub mod api;
pub mod pages;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::time::Instant;
use tinhso_http::{context, error, metrics};
use tinhso_kernel::{AppError, ErrorCode};

pub use tinhso_http::{AppState, WebConfig};

/// Every module's route access rules, in one table.
pub fn all_rules() -> Vec<tinhso_http::access::Rule> {
    [
        access::RULES,
        tinhso_services::web::RULES,
        tinhso_targets::web::RULES,
        tinhso_targets::web_reports::RULES,
        tinhso_targets::web_review::RULES,
        tinhso_targets::ops_web::RULES,
        tinhso_exchange::web::RULES,
        tinhso_border::web::RULES,
        tinhso_border::web::officer::OFFICER_RULES,
        tinhso_connectors::web::RULES,
    ]
    .concat()
}

async fn metrics_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let elapsed = start.elapsed().as_secs_f64();
    state
        .metrics
        .requests
        .get_or_create(&metrics::RequestLabels {
            method,
            route: route.clone(),
            status: resp.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&metrics::RouteLabels { route })
        .observe(elapsed);
    resp
}

/// Body limits: file uploads (`multipart/form-data`) may be as large as `upload_limit`,
/// everything else `body_limit`. A declared length over the limit gets a 413 problem before
/// anything reads the body; a body without a length is cut at the limit while it is read
/// (the extractors then answer 413 as well). `None`: the declared length is over the limit.
fn limit_body(state: &AppState, req: Request) -> Option<Request> {
    // The exchange hub reads its members' bodies under its own limit (`[exchange] max_body`)
    // and answers 413 as a signed, logged refusal: not cut here.
    if req.uri().path().starts_with("/lgsp/v1/") {
        return Some(req);
    }
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"));
    let limit = if multipart {
        state.config.upload_limit
    } else {
        state.config.body_limit
    };
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limit);
    if too_big {
        return None;
    }
    Some(req.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, limit))))
}

/// The content security policy of every page.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The security headers every response carries (tiêu đề bảo mật). A page that needs the camera
/// (the border gate's pass scanner) sets its own `permissions-policy`, and a response that
/// may be cached its own `cache-control`.
fn secure_headers(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.entry(HeaderName::from_static("permissions-policy"))
        .or_insert(HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=()",
        ));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// The edge of every request (lớp ngoài cùng), one middleware around the whole router rather
/// than a stack of layers on each of its routes (axum clones and boxes a per-route stack on
/// every request): the access log, the request id (the caller's when usable, a new one
/// otherwise; on the request for the context layer, and on every response, refusals
/// included), the body limits, the API's 405 as a problem, and the security headers.
async fn edge_layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let log = tracing::enabled!(target: "tinhso::http", tracing::Level::INFO);
    let method_path = log.then(|| (req.method().clone(), req.uri().path().to_string()));
    let id = context::request_id_of(req.headers());
    let id_value = HeaderValue::from_str(&id).ok();
    if let Some(v) = &id_value {
        req.headers_mut().insert(context::REQUEST_ID, v.clone());
    }
    let mut resp = match limit_body(&state, req) {
        None => error::problem_response(&AppError::new(ErrorCode::PayloadTooLarge)),
        Some(req) => {
            let is_api = req.uri().path().starts_with("/api/");
            let resp = next.run(req).await;
            if resp.status() == StatusCode::METHOD_NOT_ALLOWED && is_api {
                // As a problem, keeping the `Allow` header.
                let mut problem =
                    error::problem_response(&AppError::new(ErrorCode::MethodNotAllowed));
                if let Some(allow) = resp.headers().get(header::ALLOW) {
                    problem.headers_mut().insert(header::ALLOW, allow.clone());
                }
                problem
            } else {
                resp
            }
        }
    };
    secure_headers(resp.headers_mut());
    if let Some(v) = id_value {
        resp.headers_mut().insert(context::REQUEST_ID, v);
    }
    if let Some((method, path)) = method_path {
        tracing::info!(
            target: "tinhso::http",
            request_id = id,
            %method,
            path,
            status = resp.status().as_u16(),
            ms = start.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    }
    resp
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            error::problem_response(&AppError::new(ErrorCode::Unavailable).with_detail(
                "Không kết nối được cơ sở dữ liệu",
                "The database is unreachable",
            ))
        }
    }
}

async fn metrics_endpoint(
    State(state): State<AppState>,
    hub: std::sync::Arc<tinhso_exchange::Hub>,
) -> Response {
    let (size, idle) = state.db.pool_stats();
    state.metrics.pool_size.set(i64::from(size));
    state.metrics.pool_idle.set(idle as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        // The exchange hub's series (per service, member, outcome) before the closing `# EOF`.
        tinhso_exchange::metrics::splice(&state.metrics.render(), &hub.render_metrics()),
    )
        .into_response()
}

async fn not_found(ctx: Option<axum::Extension<context::ReqCtx>>, req: Request) -> Response {
    let err = AppError::new(ErrorCode::RouteNotFound);
    if req.uri().path().starts_with("/api/") || req.uri().path().starts_with("/healthz") {
        return error::problem_response(&err);
    }
    let lang = ctx.map(|c| c.0.lang).unwrap_or_default();
    tinhso_http::layout::error_page(&err, lang)
}

/// The whole application router, the exchange hub with its default limits.
pub fn router(state: AppState) -> Router {
    router_with_hub(state, tinhso_exchange::HubConfig::default())
}

/// The whole application router, the exchange hub with `hub_config` (from `[exchange]` in
/// `tinhso.toml` and the environment).
pub fn router_with_hub(state: AppState, hub_config: tinhso_exchange::HubConfig) -> Router {
    let state = state.with_rules(all_rules());
    let limit = state.config.upload_limit.max(state.config.body_limit);
    let hub = std::sync::Arc::new(tinhso_exchange::Hub::new(state.db.clone(), hub_config));
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", {
            let hub = hub.clone();
            get(move |state: State<AppState>| metrics_endpoint(state, hub.clone()))
        })
        .merge(pages::routes())
        .merge(api::routes())
        .merge(tinhso_services::web::routes())
        .merge(tinhso_targets::web::routes())
        .merge(tinhso_targets::web_reports::routes())
        .merge(tinhso_targets::web_review::routes())
        .merge(tinhso_targets::ops_web::routes())
        .merge(tinhso_border::web::routes(
            tinhso_border::web::default_queues(),
        ))
        .merge(tinhso_exchange::web::routes(hub.clone()))
        .merge(tinhso_connectors::web::routes())
        // Before the layers, so that unknown routes get the request context (language) too.
        .fallback(not_found)
        // The layers that need the matched route stay on the router.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            context::context_layer,
        ))
        // The exchange hub's member endpoint authenticates each request by its signature, not
        // by a session: outside the context layer (no cookies, no CSRF), inside the rest.
        .merge(tinhso_exchange::web::member_routes(hub))
        .layer(middleware::from_fn_with_state(state.clone(), metrics_layer))
        .with_state(state.clone());
    // The rest once around the whole router.
    let edge = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(state, edge_layer))
        .layer(DefaultBodyLimit::max(limit))
        .service(routes);
    Router::new().fallback_service(edge)
}

/// Serve until `shutdown` resolves, then finish the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_hub(
        listener,
        state,
        tinhso_exchange::HubConfig::default(),
        shutdown,
    )
    .await
}

/// [`serve`] with the exchange hub's limits.
pub async fn serve_with_hub(
    listener: tokio::net::TcpListener,
    state: AppState,
    hub_config: tinhso_exchange::HubConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app =
        router_with_hub(state, hub_config).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
