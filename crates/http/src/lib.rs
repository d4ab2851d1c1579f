//! Shared HTTP foundations of Tỉnh số (nền tảng web dùng chung): application state, the request
//! context middleware (request id, language, principal, CSRF, route access rules), errors as
//! problem details or pages, languages, page layout, metrics and rate limits. Every module's
//! routes and pages are written against this crate; `tinhso-web` composes them.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod access;
pub mod context;
pub mod error;
pub mod i18n;
pub mod layout;
pub mod metrics;
pub mod ratelimit;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::Json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_store::files::FileStore;
use tinhso_store::Db;

pub use context::ReqCtx;
pub use error::{ApiError, PageError};
pub use i18n::Lang;

/// Settings the web layer needs.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Largest request body accepted, in bytes (everything but file uploads).
    pub body_limit: usize,
    /// Largest `multipart/form-data` body (file uploads: up to 10 MiB a file, 50 MiB a
    /// dossier, plus the form).
    pub upload_limit: usize,
    /// Mark cookies `Secure` (on unless serving plain HTTP on loopback).
    pub secure_cookies: bool,
    pub data_dir: PathBuf,
    /// Demo data loaded: pages show the demo accounts.
    pub demo: bool,
    /// The public address of the portal (địa chỉ công khai), e.g.
    /// `https://dichvucong.langson.gov.vn`, printed in QR codes of signed results that must
    /// keep working for years. Empty: taken from each request's `Host` header.
    pub public_url: String,
    /// The time-stamp authority for PAdES-B-T signatures on results (`[pades] tsa_url`);
    /// `None`: results are signed PAdES-B-B.
    pub pades_tsa: Option<tinhso_tsa::TsaClient>,
    /// The TSA certificates trusted when verifying result time-stamps (`[pades]
    /// tsa_certificate`); the PAdES trust list is trusted for them too.
    pub pades_tsa_trust: tinhso_tsa::TrustedTsa,
    /// Wrong look-up codes allowed per item and per client address (`[services]`).
    pub lookup_budgets: ratelimit::LookupBudgets,
    /// Attachments up to this many bytes are kept in the database, not as files
    /// (`[services] inline_file_max_kib`; 0: every one a file; see
    /// `FileStore::keeps_inline`).
    pub inline_file_max: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            body_limit: 2 * 1024 * 1024,
            upload_limit: 55 * 1024 * 1024,
            secure_cookies: true,
            data_dir: PathBuf::from("./data"),
            demo: false,
            public_url: String::new(),
            pades_tsa: None,
            pades_tsa_trust: tinhso_tsa::TrustedTsa::default(),
            lookup_budgets: ratelimit::LookupBudgets::DEFAULT,
            inline_file_max: tinhso_store::files::INLINE_MAX_DEFAULT,
        }
    }
}

/// The file store under a data directory (`<data-dir>/files`, files up to 20 MiB, attachments
/// up to the default inline limit kept in the database): the one the server uses (with the
/// configured limit, [`WebConfig::inline_file_max`]), for tools that write files outside a
/// request (demo data, benchmarks).
pub fn file_store(data_dir: &std::path::Path) -> FileStore {
    FileStore::local(data_dir.join("files"), 20 * 1024 * 1024)
        .with_inline_max(tinhso_store::files::INLINE_MAX_DEFAULT)
}

/// Shared state of every handler: one `Arc`, so that the copy each layer and handler takes
/// is one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct AppStateInner {
    pub db: Db,
    pub config: Arc<WebConfig>,
    pub files: FileStore,
    pub metrics: Arc<metrics::Metrics>,
    pub auth_limiter: Arc<ratelimit::RateLimiter>,
    pub started: Instant,
    /// Every module's route access rules (filled by the composing router).
    pub rules: Arc<access::AccessTable>,
}

impl AppState {
    /// State without access rules: the composing router (`tinhso_web::router`) installs every
    /// module's table; until then every route is refused.
    pub fn new(db: Db, config: WebConfig) -> Self {
        let files = file_store(&config.data_dir).with_inline_max(config.inline_file_max);
        Self(Arc::new(AppStateInner {
            db,
            config: Arc::new(config),
            files,
            metrics: Arc::default(),
            // 10 sign-in attempts per minute per client address, bursts of 10.
            auth_limiter: Arc::new(ratelimit::RateLimiter::new(10.0, 10.0 / 60.0)),
            started: Instant::now(),
            rules: Arc::default(),
        }))
    }

    /// The same state with every module's route access rules installed (the composing
    /// router's job).
    pub fn with_rules(mut self, rules: Vec<access::Rule>) -> Self {
        Arc::make_mut(&mut self.0).rules = Arc::new(access::AccessTable::new(&rules));
        self
    }
}

/// JSON body extractor whose rejections are problem details.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = error::ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rej) => {
                let status = rej.status();
                let code = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
                    StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationFailed,
                    _ => ErrorCode::BadRequest,
                };
                Err(error::ApiError(AppError::new(code).with_detail(
                    format!("Nội dung JSON không hợp lệ: {}", rej.body_text()),
                    format!("Invalid JSON body: {}", rej.body_text()),
                )))
            }
        }
    }
}
