//! Where a national system's service is (điểm kết nối): the settings every connector reads
//! the same way — base URL, path, bearer key, time-out — from `{PREFIX}_URL` (required),
//! `{PREFIX}_KEY` and `{PREFIX}_PATH`, and the HTTP client built from them (no redirects).

use std::fmt;
use std::time::Duration;
use tinhso_kernel::AppError;

/// A connector's endpoint; the key never shows in `Debug`.
#[derive(Clone)]
pub struct Endpoint {
    pub base_url: String,
    /// Path of the service below `base_url`.
    pub path: String,
    /// Bearer key issued to the province.
    pub api_key: String,
    pub timeout: Duration,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("path", &self.path)
            .field("api_key", &"***")
            .finish_non_exhaustive()
    }
}

/// A non-empty environment variable.
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Endpoint {
    /// `base_url` (a trailing `/` dropped), `path`, `api_key`, a 10 s time-out.
    pub fn new(base_url: &str, path: &str, api_key: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            path: path.into(),
            api_key: api_key.into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// From `{prefix}_URL` (required), `{prefix}_KEY`, `{prefix}_PATH` (else `default_path`).
    /// `None` when the URL is not set.
    pub fn from_env(prefix: &str, default_path: &str) -> Option<Self> {
        let mut e = Self::new(
            &env_var(&format!("{prefix}_URL"))?,
            default_path,
            &env_var(&format!("{prefix}_KEY")).unwrap_or_default(),
        );
        if let Some(p) = env_var(&format!("{prefix}_PATH")) {
            e.path = p;
        }
        Some(e)
    }

    /// `base_url` + `path`.
    pub fn url(&self) -> String {
        format!("{}{}", self.base_url, self.path)
    }

    /// An HTTP client with this endpoint's time-out that follows no redirect.
    pub fn http_client(&self) -> Result<reqwest::Client, AppError> {
        http_client(self.timeout)
    }
}

/// An HTTP client with `timeout` that follows no redirect (what every connector uses).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, AppError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_hidden_and_the_url_joined() {
        let e = Endpoint::new("http://h:1/", "/p", "bi-mat");
        assert_eq!(e.url(), "http://h:1/p");
        let shown = format!("{e:?}");
        assert!(
            !shown.contains("bi-mat") && shown.contains("***"),
            "{shown}"
        );
    }
}
