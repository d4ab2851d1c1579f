//! What the back-office pages that list stored items and import one more by a file upload
//! share (chứng thư số `certificates`, danh sách thu hồi `crls`; their template is
//! `_upload_page.html`): the notice shown after an import's redirect, the page's status, the
//! upload form's action and the parts of its multipart body.

use super::view::FormErrors;
use axum::extract::Multipart;
use axum::http::StatusCode;
use serde::Deserialize;
use tinhso_http::i18n::Lang;
use tinhso_http::layout::url_encode;
use tinhso_http::ReqCtx;
use tinhso_kernel::{AppError, ErrorCode};

/// The query of such a page: `?ok=<what was done>` after a redirect.
#[derive(Deserialize)]
pub struct Notice {
    #[serde(default)]
    ok: String,
}

impl Notice {
    /// The notice of `ok` among `notices` (key, Vietnamese, English); empty for none.
    pub fn text(&self, lang: Lang, notices: &[(&str, &str, &str)]) -> String {
        notices
            .iter()
            .find(|(k, _, _)| *k == self.ok)
            .map(|(_, vi, en)| lang.s(vi, en).to_string())
            .unwrap_or_default()
    }
}

/// 200, or 422 when the form came back with errors.
pub fn status(errors: &FormErrors) -> StatusCode {
    if errors.summary.is_empty() && errors.general.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// The upload form's action: `path` with the CSRF token on the URL (a multipart body is not
/// read before the token is checked).
pub fn action(path: &str, ctx: &ReqCtx) -> String {
    format!("{path}?csrf={}", url_encode(&ctx.csrf))
}

/// The parts of a multipart body that are not empty, by name, in order; a body that cannot
/// be read is a 400.
pub async fn parts(mut form: Multipart) -> Result<Vec<(String, Vec<u8>)>, AppError> {
    let mut out = Vec::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| AppError::new(ErrorCode::BadRequest))?;
        if !bytes.is_empty() {
            out.push((name, bytes.to_vec()));
        }
    }
    Ok(out)
}
