//! Error catalogue (danh mục mã lỗi): every error the platform returns has a stable code, an
//! HTTP status and a message in Vietnamese and English. API errors are rendered as RFC 9457
//! problem details by the web crate from [`AppError`].

use serde::Serialize;
use std::fmt;

/// A stable error code. The string form (`as_str`) is part of the public API: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ValidationFailed,
    BadRequest,
    NotFound,
    RouteNotFound,
    MethodNotAllowed,
    Unauthenticated,
    InvalidCredentials,
    TotpRequired,
    TotpInvalid,
    AccountLocked,
    AccountDisabled,
    SessionExpired,
    TokenInvalid,
    Forbidden,
    CsrfFailed,
    Conflict,
    IdempotencyConflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Every code, for the catalogue page and its tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::ValidationFailed,
        ErrorCode::BadRequest,
        ErrorCode::NotFound,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidCredentials,
        ErrorCode::TotpRequired,
        ErrorCode::TotpInvalid,
        ErrorCode::AccountLocked,
        ErrorCode::AccountDisabled,
        ErrorCode::SessionExpired,
        ErrorCode::TokenInvalid,
        ErrorCode::Forbidden,
        ErrorCode::CsrfFailed,
        ErrorCode::Conflict,
        ErrorCode::IdempotencyConflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The stable machine-readable code, e.g. `validation_failed`.
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// HTTP status the code maps to.
    pub fn http_status(self) -> u16 {
        self.entry().1
    }

    /// Short title in Vietnamese.
    pub fn title_vi(self) -> &'static str {
        self.entry().2
    }

    /// Short title in English.
    pub fn title_en(self) -> &'static str {
        self.entry().3
    }

    fn entry(self) -> (&'static str, u16, &'static str, &'static str) {
        use ErrorCode::*;
        match self {
            ValidationFailed => (
                "validation_failed",
                422,
                "Dữ liệu chưa hợp lệ, vui lòng sửa các trường được đánh dấu",
                "Some fields are invalid; please correct them",
            ),
            BadRequest => (
                "bad_request",
                400,
                "Yêu cầu không đúng định dạng",
                "The request is malformed",
            ),
            NotFound => (
                "not_found",
                404,
                "Không tìm thấy dữ liệu yêu cầu",
                "The requested record was not found",
            ),
            RouteNotFound => (
                "route_not_found",
                404,
                "Không có trang hoặc địa chỉ API này",
                "No such page or API route",
            ),
            MethodNotAllowed => (
                "method_not_allowed",
                405,
                "Phương thức không được hỗ trợ cho địa chỉ này",
                "This method is not allowed on this route",
            ),
            Unauthenticated => (
                "unauthenticated",
                401,
                "Bạn cần đăng nhập để tiếp tục",
                "You need to sign in to continue",
            ),
            InvalidCredentials => (
                "invalid_credentials",
                401,
                "Tên đăng nhập hoặc mật khẩu không đúng",
                "Wrong user name or password",
            ),
            TotpRequired => (
                "totp_required",
                401,
                "Cần nhập mã xác thực hai lớp (TOTP)",
                "A two-factor code (TOTP) is required",
            ),
            TotpInvalid => (
                "totp_invalid",
                401,
                "Mã xác thực hai lớp không đúng hoặc đã hết hạn",
                "The two-factor code is wrong or expired",
            ),
            AccountLocked => (
                "account_locked",
                429,
                "Đăng nhập sai quá nhiều lần, vui lòng thử lại sau",
                "Too many failed sign-ins; try again later",
            ),
            AccountDisabled => (
                "account_disabled",
                403,
                "Tài khoản đã bị khóa, liên hệ quản trị viên",
                "This account is disabled; contact an administrator",
            ),
            SessionExpired => (
                "session_expired",
                401,
                "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại",
                "Your session has expired; please sign in again",
            ),
            TokenInvalid => (
                "token_invalid",
                401,
                "Mã truy cập API không hợp lệ, đã hết hạn hoặc bị thu hồi",
                "The API token is invalid, expired or revoked",
            ),
            Forbidden => (
                "forbidden",
                403,
                "Bạn không có quyền thực hiện thao tác này",
                "You are not allowed to do this",
            ),
            CsrfFailed => (
                "csrf_failed",
                403,
                "Biểu mẫu đã hết hạn hoặc không hợp lệ, vui lòng tải lại trang",
                "The form expired or is invalid; reload the page",
            ),
            Conflict => (
                "conflict",
                409,
                "Dữ liệu đã tồn tại hoặc đã bị thay đổi",
                "The record already exists or was changed",
            ),
            IdempotencyConflict => (
                "idempotency_conflict",
                409,
                "Khóa chống trùng đã được dùng cho một yêu cầu khác",
                "The idempotency key was used for a different request",
            ),
            PayloadTooLarge => (
                "payload_too_large",
                413,
                "Dữ liệu gửi lên vượt quá dung lượng cho phép",
                "The request body is too large",
            ),
            UnsupportedMediaType => (
                "unsupported_media_type",
                415,
                "Định dạng dữ liệu không được hỗ trợ",
                "Unsupported content type",
            ),
            RateLimited => (
                "rate_limited",
                429,
                "Quá nhiều yêu cầu, vui lòng thử lại sau",
                "Too many requests; try again later",
            ),
            Unavailable => (
                "unavailable",
                503,
                "Hệ thống tạm thời không sẵn sàng",
                "The service is temporarily unavailable",
            ),
            Internal => (
                "internal",
                500,
                "Lỗi hệ thống, vui lòng thử lại sau",
                "Internal error; please try again later",
            ),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a single value is invalid, before it is attached to a field name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invalid {
    /// Stable reason code, e.g. `cccd_length`.
    pub code: &'static str,
    pub vi: String,
    pub en: String,
}

impl Invalid {
    pub fn new(code: &'static str, vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            code,
            vi: vi.into(),
            en: en.into(),
        }
    }

    /// Attach the field name (as the client sent it).
    pub fn on(self, field: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            code: self.code,
            message_vi: self.vi,
            message_en: self.en,
        }
    }
}

/// One invalid field (trường không hợp lệ) with messages that say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message_vi: String,
    pub message_en: String,
}

/// The error every service returns. Carries a catalogue code, an optional detail and
/// field-level errors. `Internal` errors keep their cause for the log, never for the client.
#[derive(Debug, Clone)]
pub struct AppError {
    pub code: ErrorCode,
    pub detail_vi: Option<String>,
    pub detail_en: Option<String>,
    pub fields: Vec<FieldError>,
    /// Logged, never shown to clients.
    pub cause: Option<String>,
}

impl AppError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            detail_vi: None,
            detail_en: None,
            fields: Vec::new(),
            cause: None,
        }
    }

    pub fn with_detail(mut self, vi: impl Into<String>, en: impl Into<String>) -> Self {
        self.detail_vi = Some(vi.into());
        self.detail_en = Some(en.into());
        self
    }

    /// A 422 with these field errors.
    pub fn fields(fields: Vec<FieldError>) -> Self {
        Self {
            fields,
            ..Self::new(ErrorCode::ValidationFailed)
        }
    }

    /// A 422 for one field.
    pub fn field(field: impl Into<String>, invalid: Invalid) -> Self {
        Self::fields(vec![invalid.on(field)])
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden)
    }

    pub fn conflict(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict).with_detail(vi, en)
    }

    /// An internal error; `cause` goes to the log only.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self {
            cause: Some(cause.to_string()),
            ..Self::new(ErrorCode::Internal)
        }
    }

    pub fn status(&self) -> u16 {
        self.code.http_status()
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(d) = &self.detail_en {
            write!(f, ": {d}")?;
        }
        for fe in &self.fields {
            write!(f, "; {}: {}", fe.field, fe.message_en)?;
        }
        if let Some(c) = &self.cause {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AppError {}

/// Collects field errors while validating a whole form, so that the user sees every problem
/// at once rather than one per submit.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record the error of `result` under `field`, returning the value when valid.
    pub fn check<T>(&mut self, field: &str, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e.on(field));
                None
            }
        }
    }

    pub fn push(&mut self, field: &str, invalid: Invalid) {
        self.0.push(invalid.on(field));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing failed, else a 422 carrying every field error.
    pub fn into_result(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::fields(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_have_both_languages() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
            assert!(!c.title_vi().is_empty() && !c.title_en().is_empty());
            assert!((400..600).contains(&c.http_status()));
            // serde name equals the catalogue name
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
    }

    #[test]
    fn field_errors_collect_all() {
        let mut errs = FieldErrors::new();
        assert_eq!(errs.check::<u8>("a", Ok(1)), Some(1));
        errs.check::<u8>("b", Err(Invalid::new("x", "sai", "wrong")));
        errs.check::<u8>("c", Err(Invalid::new("y", "sai", "wrong")));
        let err = errs.into_result().unwrap_err();
        assert_eq!(err.status(), 422);
        assert_eq!(err.fields.len(), 2);
        assert_eq!(err.fields[1].field, "c");
    }
}
