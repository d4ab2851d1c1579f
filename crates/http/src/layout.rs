//! Page layout (bố cục trang): the data every page's header needs, rendering, the error page,
//! and small formatting helpers shared by the modules' pages.

use crate::context::ReqCtx;
use crate::i18n::Lang;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::FixedOffset;
use tinhso_identity::Permission;
use tinhso_kernel::AppError;

/// Vietnam's time zone (UTC+7, no daylight saving).
pub fn vn_offset() -> FixedOffset {
    const UTC_PLUS_7: FixedOffset = match FixedOffset::east_opt(7 * 3600) {
        Some(o) => o,
        None => panic!("UTC+7 is a valid offset"),
    };
    UTC_PLUS_7
}

/// Format Unix microseconds as local date and time.
pub fn local_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| {
            t.with_timezone(&vn_offset())
                .format("%d/%m/%Y %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// A stored file as a download: its media type, `Content-Disposition: attachment` with an
/// ASCII name and the UTF-8 one, and `Cache-Control: private, no-store`.
pub fn attachment(file_name: &str, media_type: &str, bytes: Vec<u8>) -> Response {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        url_encode(file_name)
    );
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = media_type.parse() {
        h.insert(axum::http::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = disposition.parse() {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    resp
}

/// Percent-encode a string for a query parameter.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Layout data every page carries.
pub struct Chrome {
    pub t: Lang,
    pub csrf: String,
    pub user: Option<String>,
    pub back_office: bool,
    pub leader: bool,
    pub user_read: bool,
    pub audit_read: bool,
}

impl Chrome {
    pub fn of(ctx: &ReqCtx) -> Self {
        let can = |p| ctx.principal.as_ref().is_some_and(|pr| pr.can_somewhere(p));
        Self {
            t: ctx.lang,
            csrf: ctx.csrf.clone(),
            user: ctx.principal.as_ref().map(|p| p.display_name.clone()),
            back_office: can(Permission::BackOffice),
            leader: can(Permission::LeaderDashboard),
            user_read: can(Permission::UserRead),
            audit_read: can(Permission::AuditRead),
        }
    }
}

/// Render a template into a response (500 problem if rendering fails).
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => crate::error::problem_response(&AppError::internal(e)),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    title: String,
    detail: String,
    code: String,
    status: u16,
}

/// An error page in the visitor's language.
pub fn error_page(e: &AppError, lang: Lang) -> Response {
    let page = ErrorPage {
        c: Chrome {
            t: lang,
            csrf: String::new(),
            user: None,
            back_office: false,
            leader: false,
            user_read: false,
            audit_read: false,
        },
        title: lang.s(e.code.title_vi(), e.code.title_en()).to_string(),
        detail: match lang {
            Lang::Vi => e.detail_vi.clone().unwrap_or_default(),
            Lang::En => e.detail_en.clone().unwrap_or_default(),
        },
        code: e.code.as_str().to_string(),
        status: e.status(),
    };
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, render(&page)).into_response()
}

/// The stylesheet (`/static/app.css`), cached for an hour.
pub async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match file.as_str() {
        "app.css" => (
            [
                (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
                (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            include_str!("../static/app.css"),
        )
            .into_response(),
        _ => {
            crate::error::problem_response(&AppError::new(tinhso_kernel::ErrorCode::RouteNotFound))
        }
    }
}
