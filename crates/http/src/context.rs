//! The request context (ngữ cảnh yêu cầu): request id, language, the authenticated principal,
//! CSRF verification and the route access rules — the one place where every route is checked.

use crate::access::Access;
use crate::error::{problem_response, PageError};
use crate::i18n::Lang;
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use tinhso_identity::auth::{self, SessionState};
use tinhso_identity::{authorize, Permission, Principal, ResourceScope};
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_store::audit::{self, Ctx};

/// Cookie holding the session token.
pub const SESSION_COOKIE: &str = "tinhso_session";
/// Cookie holding the pre-session CSRF token (sign-in form).
pub const CSRF_COOKIE: &str = "tinhso_csrf";
/// Cookie holding the chosen language.
pub const LANG_COOKIE: &str = "tinhso_lang";
/// Header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Everything a handler needs to know about who is asking.
#[derive(Debug, Clone)]
pub struct ReqCtx {
    pub request_id: String,
    pub lang: Lang,
    pub principal: Option<Principal>,
    /// CSRF token to embed in forms.
    pub csrf: String,
    pub ip: String,
    pub path: String,
}

impl ReqCtx {
    /// The audit context of this request.
    pub fn audit(&self) -> Ctx {
        Ctx {
            actor: self
                .principal
                .as_ref()
                .map(Principal::actor)
                .unwrap_or_else(|| format!("anonymous:{}", self.ip)),
            request_id: self.request_id.clone(),
        }
    }

    /// A page error in this request's language, remembering the page for sign-in.
    pub fn page_err(&self, e: impl Into<AppError>) -> PageError {
        PageError {
            error: e.into(),
            lang: self.lang,
            back_to: Some(self.path.clone()),
        }
    }

    pub fn principal(&self) -> Result<&Principal, AppError> {
        self.principal
            .as_ref()
            .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ReqCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ReqCtx>()
            .cloned()
            .ok_or_else(|| problem_response(&AppError::internal("request context missing")))
    }
}

/// Read a cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name || k.strip_prefix("__Host-") == Some(name))
        .map(|(_, v)| v)
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Check `perm` on `res` for this request, logging and auditing a denial. Every resource-level
/// check in handlers goes through here (and so through [`authorize`]).
pub async fn require(
    state: &AppState,
    ctx: &ReqCtx,
    perm: Permission,
    res: &ResourceScope,
    target: &str,
) -> Result<(), AppError> {
    match authorize(ctx.principal.as_ref(), perm, res) {
        Ok(()) => Ok(()),
        Err(e) => {
            log_denial(state, ctx, perm, target).await;
            Err(e)
        }
    }
}

/// Record a denial in the metrics, the log and the audit trail.
pub async fn log_denial(state: &AppState, ctx: &ReqCtx, perm: Permission, target: &str) {
    state
        .metrics
        .denials
        .get_or_create(&crate::metrics::DenialLabels {
            permission: perm.as_str().to_string(),
        })
        .inc();
    tracing::warn!(request_id = %ctx.request_id, permission = perm.as_str(), target, "authorization denied");
    let entry = ctx.audit().entry(
        "authz.denied",
        "route",
        target,
        "",
        serde_json::json!({"permission": perm.as_str(), "path": ctx.path}),
    );
    if let Err(e) = audit::append(&state.db, &entry).await {
        tracing::error!(error = %e, "cannot audit a denial");
    }
}

/// The request id of a request: the caller's `x-request-id` when usable (1–100 printable
/// ASCII characters), a new one otherwise.
pub fn request_id_of(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 100 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The context middleware: request id, language, principal, CSRF, route access rule.
pub async fn context_layer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = request_id_of(req.headers());
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let headers = req.headers().clone();
    let lang = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("lang=")))
        .and_then(Lang::parse)
        .or_else(|| cookie(&headers, LANG_COOKIE).and_then(Lang::parse))
        .unwrap_or_default();

    // Who is asking: a bearer token, or a session cookie.
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let mut principal = None;
    let mut session_csrf = None;
    let mut session_state = None;
    if let Some(token) = bearer {
        match auth::token_principal(&state.db, token).await {
            Ok(Some(p)) => principal = Some(p),
            Ok(None) => {
                return problem_response(&AppError::new(ErrorCode::TokenInvalid));
            }
            Err(e) => return problem_response(&e),
        }
    } else if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        match auth::session(&state.db, token).await {
            Ok(Ok(info)) => {
                principal = Some(info.principal);
                session_csrf = Some(info.csrf_token);
            }
            Ok(Err(s)) => session_state = Some(s),
            Err(e) => return problem_response(&e),
        }
    }
    let pre_session_csrf = cookie(&headers, CSRF_COOKIE).map(str::to_string);
    // A visitor without a session gets a pre-session CSRF token for the sign-in form.
    let fresh_csrf = (session_csrf.is_none() && pre_session_csrf.is_none() && !is_api(&path))
        .then(new_csrf_token);
    let csrf = session_csrf
        .clone()
        .or(pre_session_csrf.clone())
        .or(fresh_csrf.clone())
        .unwrap_or_default();
    let ctx = ReqCtx {
        request_id: request_id.clone(),
        lang,
        principal,
        csrf: csrf.clone(),
        ip,
        path: path_and_query,
    };

    // CSRF: a page form must prove it came from our own page (also before sign-in, so a
    // foreign site cannot sign a browser in as someone else), and an API call that rides on a
    // session cookie must send the session's token. API calls without a session cookie (bearer
    // tokens, programs, the JSON sign-in) carry no ambient authority and need none.
    let session_cookie = cookie(&headers, SESSION_COOKIE).is_some();
    // Only for a route that exists with this method: a wrong method or path is answered 405/404
    // and runs nothing.
    let handled = matched
        .as_deref()
        .is_some_and(|r| state.rules.rule(req.method(), r).is_some());
    let needs_csrf = handled && bearer.is_none() && (!is_api(&path) || session_cookie);
    if unsafe_method(req.method()) && needs_csrf {
        let from_header = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let is_multipart_page = !is_api(&path)
            && headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("multipart/form-data"));
        let (token, rebuilt) = if from_header.is_some() {
            (from_header, req)
        } else if is_multipart_page {
            // A page form carrying files: its body is left to the handler (streamed, not
            // buffered here), and an HTML form cannot set a header, so the page puts the token
            // on the form's action URL (`?csrf=`). Only for multipart page posts; the access
            // log records paths without queries, and the referrer policy keeps the query from
            // other origins.
            let field = req
                .uri()
                .query()
                .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
                .and_then(|kv| kv.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v));
            (field, req)
        } else if is_form {
            let (parts, body) = req.into_parts();
            let bytes: Bytes = match axum::body::to_bytes(body, state.config.body_limit).await {
                Ok(b) => b,
                Err(_) => return problem_response(&AppError::new(ErrorCode::PayloadTooLarge)),
            };
            let field = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .ok()
                .and_then(|kv| kv.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v));
            (field, Request::from_parts(parts, Body::from(bytes)))
        } else {
            (None, req)
        };
        req = rebuilt;
        let expected = session_csrf.as_deref().or(pre_session_csrf.as_deref());
        let ok = match (token.as_deref(), expected) {
            (Some(t), Some(e)) => !e.is_empty() && constant_time_eq(t.as_bytes(), e.as_bytes()),
            _ => false,
        };
        if !ok {
            let err = AppError::new(ErrorCode::CsrfFailed);
            return if is_api(&path) {
                problem_response(&err)
            } else {
                PageError::new(err, lang).into_response()
            };
        }
    }

    // Route access rule (deny by default: a route without a rule is refused).
    if let Some(route) = &matched {
        let rule = state.rules.rule(req.method(), route);
        if rule.is_none() && !state.rules.allowed_methods(route).is_empty() {
            // The route exists, but not with this method.
            let err = AppError::new(ErrorCode::MethodNotAllowed);
            let mut resp = if is_api(&path) {
                problem_response(&err)
            } else {
                PageError::new(err, lang).into_response()
            };
            if let Ok(v) = state.rules.allowed_methods(route).join(", ").parse() {
                resp.headers_mut().insert(header::ALLOW, v);
            }
            return resp;
        }
        let refusal = match rule {
            None => {
                tracing::error!(route, method = %req.method(), "route has no access rule: denied");
                Some(AppError::forbidden())
            }
            Some(Access::Public) => None,
            Some(Access::SignedIn) if ctx.principal.is_none() => Some(unauth(session_state)),
            Some(Access::SignedIn) => None,
            Some(Access::Perm(perm)) => match &ctx.principal {
                None => Some(unauth(session_state)),
                Some(p) if !p.can_somewhere(perm) => {
                    log_denial(&state, &ctx, perm, route).await;
                    Some(AppError::forbidden())
                }
                Some(_) => None,
            },
        };
        if let Some(err) = refusal {
            return if is_api(&path) {
                problem_response(&err)
            } else {
                ctx.page_err(err).into_response()
            };
        }
    }

    req.extensions_mut().insert(ctx);
    let mut resp = next.run(req).await;
    if let Ok(v) = request_id.parse() {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    if let Some(token) = fresh_csrf {
        if let Ok(v) = format!(
            "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
            if state.config.secure_cookies {
                "; Secure"
            } else {
                ""
            }
        )
        .parse()
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn unauth(state: Option<SessionState>) -> AppError {
    match state {
        Some(SessionState::Expired) => AppError::new(ErrorCode::SessionExpired),
        _ => AppError::new(ErrorCode::Unauthenticated),
    }
}

/// A random token for CSRF cookies.
pub fn new_csrf_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
