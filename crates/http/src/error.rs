//! Turning [`AppError`] into HTTP responses: RFC 9457 problem details for the API, a friendly
//! page for browsers.

use crate::i18n::Lang;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tinhso_kernel::{AppError, ErrorCode};

/// RFC 9457 problem details, with the catalogue code and both languages.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the error type: `/errors/<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    pub title_vi: String,
    pub title_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail_vi: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// One invalid field in a problem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub code: String,
    pub message_vi: String,
    pub message_en: String,
}

impl Problem {
    pub fn from_error(e: &AppError, instance: Option<String>) -> Self {
        Problem {
            type_uri: format!("/errors/{}", e.code.as_str()),
            title: e.code.title_en().to_string(),
            status: e.status(),
            code: e.code.as_str().to_string(),
            title_vi: e.code.title_vi().to_string(),
            title_en: e.code.title_en().to_string(),
            detail: e.detail_en.clone(),
            detail_vi: e.detail_vi.clone(),
            instance,
            errors: e
                .fields
                .iter()
                .map(|f| ProblemField {
                    field: f.field.clone(),
                    code: f.code.to_string(),
                    message_vi: f.message_vi.clone(),
                    message_en: f.message_en.clone(),
                })
                .collect(),
        }
    }
}

fn log(e: &AppError) {
    if e.code == ErrorCode::Internal {
        tracing::error!(error = %e, "internal error");
    } else {
        tracing::debug!(error = %e, "request refused");
    }
}

/// Error of a JSON API handler.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

/// Render a problem+json response.
pub fn problem_response(e: &AppError) -> Response {
    log(e);
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&Problem::from_error(e, None)).unwrap_or_default();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if e.code == ErrorCode::RateLimited || e.code == ErrorCode::AccountLocked {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem_response(&self.0)
    }
}

/// Error of an HTML page handler: a page in the visitor's language, or a redirect to sign-in.
#[derive(Debug)]
pub struct PageError {
    pub error: AppError,
    pub lang: Lang,
    /// Where to come back to after signing in.
    pub back_to: Option<String>,
}

impl PageError {
    pub fn new(error: AppError, lang: Lang) -> Self {
        Self {
            error,
            lang,
            back_to: None,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        log(&self.error);
        if matches!(
            self.error.code,
            ErrorCode::Unauthenticated | ErrorCode::SessionExpired
        ) {
            let mut to = "/dang-nhap".to_string();
            if let Some(back) = &self.back_to {
                to.push_str("?next=");
                to.push_str(&crate::layout::url_encode(back));
                if self.error.code == ErrorCode::SessionExpired {
                    to.push_str("&expired=1");
                }
            }
            return axum::response::Redirect::to(&to).into_response();
        }
        crate::layout::error_page(&self.error, self.lang)
    }
}
