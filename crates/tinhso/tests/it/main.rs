//! End-to-end tests over HTTP (kiểm thử đầu cuối): a real server on a loopback port, the demo
//! data loaded, driven with reqwest. They run on SQLite by default and on PostgreSQL when
//! `TINHSO_TEST_PG_URL` is set (each test in a fresh database):
//!
//! ```text
//! cargo test -p tinhso --test it
//! TINHSO_TEST_PG_URL=postgres://postgres@127.0.0.1:5432 cargo test -p tinhso --test it
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_auth;
mod audit;
mod authz;
mod bad_input;
mod border;
mod border_checks;
mod calendar;
mod connectors;
mod crl_page;
mod errors;
mod exchange_forms;
mod feedback;
mod forms;
mod lookup_limit;
mod openapi;
mod operations;
mod ops;
mod pages;
mod regimes_ui;
mod reports;
mod results;
mod services;
mod services_files;
mod services_pay;
mod signin;
mod targets;
mod targets_review;

use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use tinhso::demo::{DEMO_PASSWORD, DEMO_TOTP_SECRET};
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;
use tokio::sync::oneshot;

/// A running server with the demo data, on its own database. Dropping it stops the server
/// and removes the database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub db: Db,
    /// The server's sign-in rate limiter (per client address).
    pub auth_limiter: std::sync::Arc<tinhso_http::ratelimit::RateLimiter>,
    shutdown: Option<oneshot::Sender<()>>,
    // Dropped after the shutdown signal: the database (and its directory) must outlive the
    // server's last request.
    _data_dir: tempfile::TempDir,
    _test_db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Start a server: fresh migrated database, reference data, demo data, loopback port.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with the web settings changed by `configure` (as `tinhso.toml` would).
pub async fn spawn_app_with(configure: impl FnOnce(&mut tinhso_web::WebConfig)) -> TestApp {
    let test_db = fresh(&tinhso::all_migrations()).await;
    let db = test_db.db.clone();
    tinhso::prepare(&db).await.expect("prepare");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let data_dir = tempfile::tempdir().expect("tempdir");
    let public_url = format!("http://{addr}");
    let files = tinhso_http::file_store(data_dir.path());
    let issuing = tinhso_services::results::Issuing {
        files: &files,
        public_url: &public_url,
        tsa: None,
    };
    let created = tinhso::demo::load(&db, issuing).await.expect("demo data");
    assert_eq!(created, tinhso::demo::accounts_list().len());
    let mut config = tinhso_web::WebConfig {
        secure_cookies: false,
        data_dir: data_dir.path().to_path_buf(),
        demo: true,
        public_url: public_url.clone(),
        ..Default::default()
    };
    configure(&mut config);
    let state = tinhso_web::AppState::new(db.clone(), config);
    let auth_limiter = state.auth_limiter.clone();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let stop = async move {
            let _ = rx.await;
        };
        if let Err(e) = tinhso_web::serve(listener, state, stop).await {
            eprintln!("test server stopped with an error: {e}");
        }
    });
    TestApp {
        base: format!("http://{addr}"),
        db,
        auth_limiter,
        shutdown: Some(tx),
        _data_dir: data_dir,
        _test_db: test_db,
    }
}

/// A browser-like client: keeps cookies, does not follow redirects (tests look at them).
pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The current TOTP code of the demo accounts that need one.
pub fn totp() -> String {
    tinhso_identity::auth::totp_now(DEMO_TOTP_SECRET).expect("totp code")
}

/// Whether a demo account must give a TOTP code.
pub fn needs_totp(username: &str) -> bool {
    tinhso::demo::accounts_list()
        .iter()
        .find(|d| d.username == username)
        .unwrap_or_else(|| panic!("{username} is not a demo account"))
        .role
        .requires_totp()
}

/// The value of the hidden form field `name` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_string())
}

/// The text of the element with `id` (up to its first `<`), for messages in pages.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let start = at + html[at..].find('>')? + 1;
    let len = html[start..].find('<')?;
    Some(html[start..start + len].trim().to_string())
}

/// The action URL, with its CSRF token, of the form in `html` that posts to `path` (an upload
/// form carries the token on its URL).
pub fn csrf_action(html: &str, path: &str) -> String {
    let marker = format!("action=\"{path}?csrf=");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no form posting to {path}"))
        + "action=\"".len();
    let len = html[start..].find('"').expect("end of the action");
    html[start..start + len]
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

pub fn location(resp: &Response) -> String {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Status, content type and body of a problem+json response; fails on anything else.
pub async fn problem(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ct = content_type(resp.headers());
    let body = resp.text().await.expect("body");
    assert_eq!(
        ct, "application/problem+json",
        "status {status}, body {body}"
    );
    let v: Value = serde_json::from_str(&body).expect("problem JSON");
    assert_eq!(
        v["status"].as_u64(),
        Some(u64::from(status.as_u16())),
        "{v}"
    );
    (status, v)
}

/// Status and JSON body.
/// The (field, code) pairs of a problem's field errors, in order.
pub fn field_codes(p: &Value) -> Vec<(String, String)> {
    p["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().expect("field").into(),
                e["code"].as_str().expect("code").into(),
            )
        })
        .collect()
}

pub async fn json(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let body = resp.text().await.expect("body");
    let v = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {body}"));
    (status, v)
}

/// Status and text body.
pub async fn text(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    /// Sign in through the form: GET /dang-nhap for the CSRF field, then POST it. Returns the
    /// POST's response (a 303 on success).
    pub async fn sign_in(
        &self,
        client: &Client,
        username: &str,
        password: &str,
        totp: Option<&str>,
    ) -> Response {
        let page = self.get(client, "/dang-nhap").await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("sign-in page");
        let csrf = hidden_field(&html, "csrf").expect("csrf field in the sign-in form");
        assert!(!csrf.is_empty(), "empty csrf field");
        let mut form = vec![
            ("csrf", csrf),
            ("username", username.to_string()),
            ("password", password.to_string()),
        ];
        if let Some(code) = totp {
            form.push(("totp", code.to_string()));
        }
        client
            .post(self.url("/dang-nhap"))
            .form(&form)
            .send()
            .await
            .expect("POST /dang-nhap")
    }

    /// A client signed in (through the form) as a demo account; asserts the 303.
    pub async fn signed_in(&self, username: &str) -> Client {
        let c = client();
        let code = needs_totp(username).then(totp);
        let resp = self
            .sign_in(&c, username, DEMO_PASSWORD, code.as_deref())
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::SEE_OTHER,
            "sign-in of {username}: {}",
            resp.text().await.unwrap_or_default()
        );
        c
    }

    /// A client signed in through `POST /api/v1/auth/login`, and its session's CSRF token.
    pub async fn api_signed_in(&self, username: &str) -> (Client, String) {
        let c = client();
        let mut body = serde_json::json!({"username": username, "password": DEMO_PASSWORD});
        if needs_totp(username) {
            body["totp"] = Value::String(totp());
        }
        let resp = c
            .post(self.url("/api/v1/auth/login"))
            .json(&body)
            .send()
            .await
            .expect("login");
        let (status, v) = json(resp).await;
        assert_eq!(status, StatusCode::OK, "API login of {username}: {v}");
        let csrf = v["csrf_token"].as_str().expect("csrf_token").to_string();
        (c, csrf)
    }

    /// `SELECT COUNT(*)` on the app's database.
    pub async fn count(&self, sql: &str) -> i64 {
        tinhso_store::db::count(&self.db, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Audit entries with this action.
    pub async fn audit_count(&self, action: &str) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(self.db.pool())
            .await
            .expect("count audit entries")
    }

    /// The single agency the public directory finds for this query and kind.
    pub async fn agency(&self, q: &str, kind: &str) -> Value {
        let resp = client()
            .get(self.url("/api/v1/agencies"))
            .query(&[("q", q), ("kind", kind)])
            .send()
            .await
            .expect("agencies");
        let (status, v) = json(resp).await;
        assert_eq!(status, StatusCode::OK);
        let list = v.as_array().expect("agency list");
        assert_eq!(list.len(), 1, "agencies for {q:?}/{kind}: {v}");
        list[0].clone()
    }

    /// An agency row as stored (the fields the contact form edits).
    pub async fn agency_row(&self, code: &str) -> tinhso_refdata::agencies::Agency {
        tinhso_refdata::agencies::get(&self.db, code)
            .await
            .expect("agency row")
            .unwrap_or_else(|| panic!("no agency {code}"))
    }
}
