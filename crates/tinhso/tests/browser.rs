//! Browser test (kiểm thử trình duyệt): a real headless Chromium, driven through WebDriver (W3C
//! protocol) by chromedriver, against `tinhso serve --demo`:
//!
//! 1. the one-stop officer signs in and lands on the back-office home;
//! 2. a citizen files a birth registration with a PDF attached, the commune officer and the
//!    leader (with TOTP) take it to a signed electronic result, the citizen downloads the PDF
//!    from the tracking page, and the verification page the result's QR code points to says
//!    it is valid;
//! 3. the border pass on a phone;
//! 4. the province leader opens the operations centre and drills down from a target to a
//!    commune;
//! 5. (its own test) the head of an agency opens the agency's yearly report task, fills in a
//!    value and submits; the recipient's leader approves; the approved value shows on the
//!    targets page with the report it came from.
//!
//! Skipped unless `TINHSO_BROWSER_TESTS=1`. When it is set, a missing Chromium or chromedriver
//! is a failure, not a skip. Run it with:
//!
//! ```text
//! TINHSO_BROWSER_TESTS=1 cargo test -p tinhso --test browser --locked -- --nocapture
//! ```
//!
//! Overrides: `TINHSO_CHROMIUM` (default `/usr/bin/chromium`), `TINHSO_CHROMEDRIVER` (default
//! `chromedriver` on `PATH`). Screenshots go to `$CARGO_TARGET_TMPDIR/tinhso-browser/`, which
//! outlives the test so CI can keep it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEMO_USERNAME: &str = "motcua.tinh";
const DEMO_PASSWORD: &str = "LangSon@2026";
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
/// The key under which W3C WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

type TestResult<T> = Result<T, String>;

// ---------------------------------------------------------------------------------------------
// Child processes, killed on drop (also when the test panics).
// ---------------------------------------------------------------------------------------------

/// A child process started in its own process group; dropping it kills the whole group, so the
/// browsers chromedriver started go with it.
struct ProcessGuard {
    name: &'static str,
    child: Child,
}

impl ProcessGuard {
    fn spawn(name: &'static str, cmd: &mut Command) -> Self {
        let child = cmd
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        ProcessGuard { name, child }
    }

    /// Fails when the process has already exited.
    fn check_alive(&mut self) -> TestResult<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!("{} exited early: {status}", self.name)),
            Ok(None) => Ok(()),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        // The group id is the child's pid (process_group(0)). `kill -KILL -- -PGID` reaches
        // every process of the group; then reap our direct child.
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (bound then released: good enough for a test).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local_addr")
        .port()
}

/// Find an executable: an explicit path, or a name looked up on `PATH`.
fn find_executable(name_or_path: &str) -> Option<PathBuf> {
    let p = Path::new(name_or_path);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name_or_path))
            .find(|candidate| candidate.is_file())
    })
}

/// Start `tinhso serve --demo` on a free port and wait for its "listening" line.
fn start_server(data_dir: &Path) -> (ProcessGuard, String) {
    let mut server = ProcessGuard::spawn(
        "tinhso serve",
        Command::new(env!("CARGO_BIN_EXE_tinhso"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--demo")
            // The test decides; do not let the caller's environment redirect the server.
            .env_remove("TINHSO_DATABASE_URL")
            .env_remove("TINHSO_LISTEN")
            .env_remove("TINHSO_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let stdout = server.child.stdout.take().expect("server stdout");
    let (tx, rx) = mpsc::channel::<String>();
    // Keep draining stdout for the server's whole life so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("tinhso listening on ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(rest.trim().to_string());
                }
            } else {
                eprintln!("[tinhso stdout] {line}");
            }
        }
    });
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    loop {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(url) => return (server, url.trim_end_matches('/').to_string()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = server.check_alive() {
                    panic!("{e} before printing 'tinhso listening on'");
                }
                if Instant::now() > deadline {
                    panic!("tinhso serve did not print 'tinhso listening on' within {SERVER_START_TIMEOUT:?}");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.child.wait().ok();
                panic!("tinhso serve closed stdout without printing 'tinhso listening on' (status {status:?})");
            }
        }
    }
}

/// Start chromedriver on a free port and wait until `/status` reports ready.
async fn start_chromedriver(
    http: &reqwest::Client,
    chromedriver: &Path,
    log: &Path,
) -> (ProcessGuard, String) {
    let port = free_port();
    let mut driver = ProcessGuard::spawn(
        "chromedriver",
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + DRIVER_START_TIMEOUT;
    loop {
        if let Err(e) = driver.check_alive() {
            panic!("{e} (log: {})", log.display());
        }
        if let Ok(resp) = http.get(format!("{base}/status")).send().await {
            if let Ok(v) = resp.json::<Value>().await {
                if v["value"]["ready"] == json!(true) {
                    return (driver, base);
                }
            }
        }
        if Instant::now() > deadline {
            panic!(
                "chromedriver not ready within {DRIVER_START_TIMEOUT:?} (log: {})",
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A tiny W3C WebDriver client.
// ---------------------------------------------------------------------------------------------

struct WebDriver {
    http: reqwest::Client,
    base: String,
    session: String,
    /// Set once the session has been deleted, so the drop guard does not delete it again.
    closed: bool,
}

/// An element reference.
#[derive(Debug, Clone)]
struct Element(String);

impl WebDriver {
    /// `POST /session` with headless Chromium.
    async fn new_session(
        http: reqwest::Client,
        base: &str,
        chromium: &Path,
        user_data_dir: &Path,
    ) -> TestResult<Self> {
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--no-proxy-server".into(),
            "--window-size=1280,900".into(),
            "--lang=vi-VN".into(),
            format!("--user-data-dir={}", user_data_dir.display()),
        ];
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 10_000 },
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": args,
                    }
                }
            }
        });
        let v = send(
            &http,
            reqwest::Method::POST,
            &format!("{base}/session"),
            Some(caps),
        )
        .await?;
        let session = v["sessionId"]
            .as_str()
            .ok_or_else(|| format!("POST /session: no sessionId in {v}"))?
            .to_string();
        Ok(WebDriver {
            http,
            base: base.to_string(),
            session,
            closed: false,
        })
    }

    async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> TestResult<Value> {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        send(&self.http, method, &url, body).await
    }

    async fn goto(&self, url: &str) -> TestResult<()> {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await?;
        Ok(())
    }

    async fn current_url(&self) -> TestResult<String> {
        let v = self.cmd(reqwest::Method::GET, "/url", None).await?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("GET /url: not a string: {v}"))
    }

    async fn find(&self, css: &str) -> TestResult<Element> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        v[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_string()))
            .ok_or_else(|| format!("find {css}: unexpected reply {v}"))
    }

    /// Poll for an element until it appears or `WAIT_TIMEOUT` passes.
    async fn wait_for(&self, css: &str) -> TestResult<Element> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            match self.find(css).await {
                Ok(el) => return Ok(el),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!(
                        "element {css} did not appear within {WAIT_TIMEOUT:?}: {e}"
                    ))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn send_keys(&self, el: &Element, text: &str) -> TestResult<()> {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": text })),
        )
        .await?;
        Ok(())
    }

    async fn click(&self, el: &Element) -> TestResult<()> {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/click", el.0),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    async fn text(&self, el: &Element) -> TestResult<String> {
        let v = self
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{}/text", el.0),
                None,
            )
            .await?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("element text: not a string: {v}"))
    }

    /// Run `script` in the page (`arguments[i]` are `args`) and return its value.
    async fn execute(&self, script: &str, args: Value) -> TestResult<Value> {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Sign out the browser: forget every cookie of the current site.
    async fn delete_cookies(&self) -> TestResult<()> {
        self.cmd(reqwest::Method::DELETE, "/cookie", None).await?;
        Ok(())
    }

    async fn attribute(&self, el: &Element, name: &str) -> TestResult<String> {
        let v = self
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{}/property/{name}", el.0),
                None,
            )
            .await?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("property {name}: not a string: {v}"))
    }

    /// Save a PNG screenshot of the viewport to `path`.
    async fn screenshot(&self, path: &Path) -> TestResult<()> {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await?;
        let b64 = v
            .as_str()
            .ok_or_else(|| format!("screenshot: not a string: {v}"))?;
        let png = decode_base64(b64)?;
        if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err("screenshot: not a PNG".into());
        }
        std::fs::write(path, png).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// `DELETE /session/{id}`: closes the browser.
    async fn quit(&mut self) -> TestResult<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.cmd(reqwest::Method::DELETE, "", None).await?;
        Ok(())
    }
}

impl Drop for WebDriver {
    /// On an early exit (panic), delete the session with a plain blocking HTTP request so the
    /// browser closes cleanly; the chromedriver guard then kills whatever is left.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let Some(addr) = self.base.strip_prefix("http://") else {
            return;
        };
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            // chromedriver answers once the browser is closed; the first bytes are enough.
            let _ = s.read(&mut [0u8; 512]);
        }
    }
}

/// One WebDriver HTTP exchange; W3C errors become `Err` with their message.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> TestResult<Value> {
    let mut req = http.request(method.clone(), url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .map_err(|e| format!("{method} {url}: HTTP {status}, body is not JSON: {e}"))?;
    if !status.is_success() || v["value"].get("error").is_some() {
        let error = v["value"]["error"].as_str().unwrap_or("unknown error");
        let message = v["value"]["message"].as_str().unwrap_or("");
        let first_line = message.lines().next().unwrap_or("");
        return Err(format!(
            "{method} {url}: HTTP {status}: {error}: {first_line}"
        ));
    }
    Ok(v["value"].clone())
}

/// Standard base64 (with or without padding) without another dependency.
fn decode_base64(s: &str) -> TestResult<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s.as_bytes() {
        if c == b'=' || c.is_ascii_whitespace() {
            continue;
        }
        let v = val(c).ok_or_else(|| format!("invalid base64 byte {c:#x}"))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------------

/// Poll the current URL until its path is `path` or `WAIT_TIMEOUT` passes.
async fn wait_for_path(wd: &WebDriver, path: &str) -> TestResult<reqwest::Url> {
    wait_for_url(wd, &format!("to reach {path}"), |url| url.path() == path).await
}

/// Poll the current URL until `arrived` holds for it (`expected` says what in the error)
/// or `WAIT_TIMEOUT` passes.
async fn wait_for_url(
    wd: &WebDriver,
    expected: &str,
    arrived: impl Fn(&reqwest::Url) -> bool,
) -> TestResult<reqwest::Url> {
    let deadline = Instant::now() + WAIT_TIMEOUT;
    loop {
        let current = wd.current_url().await?;
        let url =
            reqwest::Url::parse(&current).map_err(|e| format!("current URL {current}: {e}"))?;
        if arrived(&url) {
            return Ok(url);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "expected {expected} within {WAIT_TIMEOUT:?}, still at {current}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The scenario itself. Returns `Err` rather than panicking so the caller can take a failure
/// screenshot and close the browser before failing the test.
async fn sign_in_scenario(wd: &WebDriver, base: &str, shots: &Path) -> TestResult<()> {
    // 1. Signed out, the back office sends us to the sign-in page with ?next=.
    wd.goto(&format!("{base}/nghiep-vu")).await?;
    let url = wait_for_path(wd, "/dang-nhap").await?;
    let next = url
        .query_pairs()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned());
    if next.as_deref() != Some("/nghiep-vu") {
        return Err(format!(
            "expected the sign-in page with next=/nghiep-vu, got {url}"
        ));
    }
    eprintln!("redirected to sign-in: {url}");

    // 2. Sign in as the demo one-stop officer (no TOTP), on a form that has the field.
    wd.wait_for("#username").await?;
    wd.find("#totp")
        .await
        .map_err(|e| format!("the sign-in form has no #totp field: {e}"))?;

    // 3. Back at the back-office home.
    let url = fill_sign_in(wd, DEMO_USERNAME, None).await?;
    eprintln!("signed in, now at: {url}");
    let title = wd.wait_for("#page-title").await?;
    let text = wd.text(&title).await?;
    if !text.contains("Trang nghiệp vụ") {
        return Err(format!(
            "#page-title is {text:?}, expected it to contain \"Trang nghiệp vụ\""
        ));
    }

    screenshot(wd, shots, "sign-in-back-office.png").await?;
    Ok(())
}

/// Sign in as `username` on the sign-in page (with the demo TOTP code when the role needs
/// one) and wait for the back-office home.
async fn sign_in_as(wd: &WebDriver, base: &str, username: &str) -> TestResult<()> {
    wd.delete_cookies().await?;
    wd.goto(&format!("{base}/dang-nhap?next=/nghiep-vu"))
        .await?;
    let needs_totp = tinhso::demo::accounts_list()
        .iter()
        .any(|a| a.username == username && a.role.requires_totp());
    let code = if needs_totp {
        Some(
            tinhso_identity::auth::totp_now(tinhso::demo::DEMO_TOTP_SECRET)
                .ok_or("cannot compute the demo TOTP code")?,
        )
    } else {
        None
    };
    fill_sign_in(wd, username, code.as_deref()).await?;
    Ok(())
}

/// On the sign-in page (with `next=/nghiep-vu`), sign in as the demo account `username` with
/// the demo password and `totp` (if any), and wait for the back-office home.
async fn fill_sign_in(
    wd: &WebDriver,
    username: &str,
    totp: Option<&str>,
) -> TestResult<reqwest::Url> {
    let user = wd.wait_for("#username").await?;
    wd.send_keys(&user, username).await?;
    wd.send_keys(&wd.find("#password").await?, DEMO_PASSWORD)
        .await?;
    if let Some(code) = totp {
        wd.send_keys(&wd.find("#totp").await?, code).await?;
    }
    wd.click(&wd.find("#sign-in").await?).await?;
    wait_for_path(wd, "/nghiep-vu").await
}

/// A screenshot of the page as `shots/name`, kept after the test (its path is printed).
async fn screenshot(wd: &WebDriver, shots: &Path, name: &str) -> TestResult<()> {
    let shot = shots.join(name);
    wd.screenshot(&shot).await?;
    println!("screenshot: {}", shot.display());
    Ok(())
}

/// On the officer's dossier page, press the button of `action` and wait to be back on it.
async fn officer_action(wd: &WebDriver, base: &str, code: &str, action: &str) -> TestResult<()> {
    let path = format!("/nghiep-vu/ho-so/{code}");
    wd.goto(&format!("{base}{path}")).await?;
    let button = wd
        .wait_for(&format!(
            "form.action-form:has(input[name=action][value={action}]) button[type=submit]"
        ))
        .await
        .map_err(|e| format!("no {action} button on {path}: {e}"))?;
    // The form posts and redirects back to the same path: mark the current document, and
    // wait for a new one (the path alone would match before the post has even been sent).
    wd.execute("window.__tinhso_old_page = true;", json!([]))
        .await?;
    wd.click(&button).await?;
    let deadline = Instant::now() + WAIT_TIMEOUT;
    loop {
        let fresh = wd
            .execute(
                "return window.__tinhso_old_page !== true && document.readyState === 'complete';",
                json!([]),
            )
            .await
            .unwrap_or(Value::Bool(false));
        if fresh == Value::Bool(true) {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{action} on {path}: no new page within {WAIT_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_path(wd, &path).await?;
    Ok(())
}

/// A citizen files a birth registration with a PDF attached, officers take it to a signed
/// result, the citizen downloads the PDF, and the verification page its QR code points to
/// says it is valid.
async fn citizen_to_result_scenario(
    wd: &WebDriver,
    base: &str,
    shots: &Path,
    attachment: &Path,
) -> TestResult<()> {
    // 1. The citizen fills the e-form on the portal and attaches a scan.
    wd.goto(&format!("{base}/dich-vu-cong/1.001193/nop"))
        .await?;
    let name = wd.wait_for("#applicant-name").await?;
    wd.send_keys(&name, "Lục Thị Hoa").await?;
    wd.send_keys(&wd.find("#applicant-id_number").await?, "020090012345")
        .await?;
    wd.send_keys(&wd.find("#applicant-phone").await?, "0912345678")
        .await?;
    wd.send_keys(&wd.find("#form-ho_ten_tre").await?, "Nguyễn Minh Châu")
        .await?;
    wd.send_keys(
        &wd.find("#form-noi_sinh").await?,
        "Bệnh viện Đa khoa tỉnh Lạng Sơn",
    )
    .await?;
    wd.send_keys(&wd.find("#form-so_dien_thoai").await?, "0912345678")
        .await?;
    // Selects, the date and the number are set as a user's picks would set them.
    wd.execute(
        "const set = (id, v) => { const e = document.getElementById(id); if (!e) throw new Error('no #' + id); e.value = v; e.dispatchEvent(new Event('change', {bubbles: true})); };
         set('commune_code', '05986'); set('form-que_quan', '05986'); set('form-gioi_tinh', 'nu');
         set('form-dan_toc', 'kinh'); set('form-ngay_sinh_tre', arguments[0]); set('form-so_ban_sao', '1');",
        json!(["2026-01-05"]),
    )
    .await?;
    let file_input = wd.find("input[type=file]").await?;
    wd.send_keys(&file_input, &attachment.display().to_string())
        .await?;
    let submit = wd.find("form.svc-form button[type=submit]").await?;
    wd.click(&submit).await?;
    let receipt = wait_for_path_prefix(wd, "/ho-so/").await?;
    let code = receipt
        .path()
        .trim_start_matches("/ho-so/")
        .trim_end_matches("/bien-nhan")
        .to_string();
    let lookup = wd.text(&wd.wait_for("#lookup-code").await?).await?;
    let files = wd.text(&wd.find("#tep-dinh-kem").await?).await?;
    if !files.contains("giay-chung-sinh.pdf") {
        return Err(format!("the receipt does not list the attachment: {files}"));
    }
    wd.screenshot(&shots.join("result-1-receipt.png")).await?;
    eprintln!("filed {code} (lookup {lookup})");

    // 2. The commune officer accepts and forwards twice; the leader approves.
    sign_in_as(wd, base, "congchuc.tamthanh").await?;
    for action in ["accept", "forward", "forward"] {
        officer_action(wd, base, &code, action).await?;
    }
    sign_in_as(wd, base, "lanhdao.tamthanh").await?;
    officer_action(wd, base, &code, "approve").await?;
    let result_box = wd.text(&wd.wait_for("#ket-qua").await?).await?;
    if !result_box.contains("KQĐT") {
        return Err(format!("no result on the officer's page: {result_box}"));
    }
    wd.delete_cookies().await?;

    // 3. The citizen tracks the dossier and downloads the signed PDF.
    wd.goto(&format!("{base}/tra-cuu?ma_ho_so={code}&ma={lookup}"))
        .await?;
    let download = wd.wait_for("#tai-ket-qua").await?;
    let href = wd.attribute(&download, "href").await?;
    wd.screenshot(&shots.join("result-2-tracking.png")).await?;
    let pdf = reqwest::get(&href)
        .await
        .map_err(|e| format!("download {href}: {e}"))?;
    if pdf.status() != reqwest::StatusCode::OK {
        return Err(format!("download {href}: {}", pdf.status()));
    }
    let bytes = pdf.bytes().await.map_err(|e| e.to_string())?;
    if !bytes.starts_with(b"%PDF-") {
        return Err("the result is not a PDF".into());
    }
    // The address the QR code carries is also printed under it and kept in the document's
    // metadata with the verification code.
    let id = tinhso_pdf::custom_entry(&bytes, "TinhSoResultId")
        .ok_or("the PDF carries no verification code")?;

    // 4. The verification page says the result is valid.
    wd.goto(&format!("{base}/xac-thuc/{id}")).await?;
    let verdict = wd.text(&wd.wait_for("#ket-luan").await?).await?;
    wd.screenshot(&shots.join("result-3-verified.png")).await?;
    if !verdict.contains("HỢP LỆ") {
        return Err(format!("the verification page says: {verdict}"));
    }
    eprintln!("verified {id}: {verdict}");
    Ok(())
}

/// Poll until the current path starts with `prefix`.
async fn wait_for_path_prefix(wd: &WebDriver, prefix: &str) -> TestResult<reqwest::Url> {
    wait_for_url(wd, &format!("a page under {prefix}"), |url| {
        url.path().starts_with(prefix)
    })
    .await
}

/// The digital border gate on a phone-sized screen: an enterprise declares a trip in Chinese
/// and gets its signed QR pass; the customs officer's pass-check page verifies it in the
/// browser (WebCrypto Ed25519, no server call for the signature) and refuses an altered copy.
async fn border_pass_scenario(wd: &WebDriver, base: &str, shots: &Path) -> TestResult<()> {
    wd.cmd(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({"width": 390, "height": 844})),
    )
    .await?;
    wd.delete_cookies().await?;
    wd.goto(&format!(
        "{base}/dang-nhap?next=/cua-khau/khai-bao%3Flang%3Dzh"
    ))
    .await?;
    wd.send_keys(&wd.wait_for("#username").await?, "4900123467")
        .await?;
    wd.send_keys(&wd.find("#password").await?, DEMO_PASSWORD)
        .await?;
    wd.click(&wd.find("#sign-in").await?).await?;
    wait_for_path(wd, "/cua-khau/khai-bao").await?;
    let title = wd.text(&wd.wait_for("#page-title").await?).await?;
    if !title.contains("申报") {
        return Err(format!("the declaration form is not in Chinese: {title}"));
    }
    let tomorrow = (chrono::Utc::now() + chrono::Duration::hours(31))
        .format("%Y-%m-%d")
        .to_string();
    wd.execute(
        "document.getElementById('expected_arrival').value = arguments[0];",
        json!([format!("{tomorrow}T10:00")]),
    )
    .await?;
    for (id, value) in [
        ("customs_declaration", "305123456789"),
        ("enterprise_mst", "4900123467"),
        ("enterprise_name", "Công ty TNHH Xuất nhập khẩu Hữu Nghị"),
        ("vehicle_plate", "桂a 12345"),
        ("vehicle_payload_kg", "30000"),
        ("driver-id_number", "020090001234"),
        ("driver-full_name", "Hoàng Văn Bình"),
        ("driver-phone", "0912 345 678"),
        ("goods-0--hs_code", "08106000"),
        ("goods-0--quantity", "900"),
        ("goods-0--unit", "thùng"),
        ("goods-0--weight_kg", "18000"),
    ] {
        let el = wd.find(&format!("#{id}")).await?;
        wd.send_keys(&el, value).await?;
    }
    wd.click(&wd.find("#submit").await?).await?;
    let url = wait_for_path_prefix(wd, "/cua-khau/chuyen/").await?;
    wd.wait_for(".qr-box svg").await?;
    let plate = wd.text(&wd.find("#plate").await?).await?;
    if !plate.contains("桂A·12345") {
        return Err(format!(
            "the plate is not canonical on the trip page: {plate}"
        ));
    }
    let pass = wd
        .execute(
            "return document.getElementById('pass-text').textContent;",
            json!([]),
        )
        .await?
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    if !pass.starts_with("TSB1.") {
        return Err(format!("no pass text on {url}: {pass:?}"));
    }
    screenshot(wd, shots, "border-pass-phone.png").await?;

    // The customs officer at Hữu Nghị checks the pass on the gate's phone page.
    sign_in_as(wd, base, "haiquan.huunghi").await?;
    for (text, expect) in [
        (pass.clone(), "HỢP LỆ"),
        (pass.replacen("TSB1.e", "TSB1.f", 1), "KHÔNG HỢP LỆ"),
    ] {
        wd.goto(&format!("{base}/cua-khau/kiem-tra-the")).await?;
        let input = wd.wait_for("#pass-input").await?;
        wd.execute(
            "arguments[0].value = arguments[1];",
            json!([{ (ELEMENT_KEY): input.0 }, text]),
        )
        .await?;
        wd.click(&wd.find("#check").await?).await?;
        let verdict = wd.text(&wd.wait_for("#verdict").await?).await?;
        let ok = if expect == "HỢP LỆ" {
            verdict.starts_with("HỢP LỆ")
        } else {
            verdict.starts_with("KHÔNG HỢP LỆ")
        };
        if !ok {
            return Err(format!("pass check said {verdict:?}, expected {expect}"));
        }
        if expect == "HỢP LỆ" {
            let online = wd.text(&wd.wait_for("#online").await?).await?;
            if !online.contains("Thẻ hợp lệ") {
                return Err(format!("online check: {online}"));
            }
            screenshot(wd, shots, "border-pass-checked.png").await?;
        }
    }
    Ok(())
}

/// The leaders' operations centre on a wall screen: the province leader opens it from the
/// leaders' page, sees the 65 communes on the map, drills down from a target to the province's
/// communes and on to one commune, then the page on a tablet.
async fn operations_centre_scenario(wd: &WebDriver, base: &str, shots: &Path) -> TestResult<()> {
    wd.cmd(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({"width": 1600, "height": 1000})),
    )
    .await?;
    sign_in_as(wd, base, "lanhdao.tinh").await?;
    wd.goto(&format!("{base}/lanh-dao")).await?;
    wd.click(&wd.wait_for("#dieu-hanh").await?).await?;
    wait_for_path(wd, "/lanh-dao/dieu-hanh").await?;
    wd.wait_for("svg.ops-map path.cell").await?;
    let cells = wd
        .execute(
            "return document.querySelectorAll('svg.ops-map path.cell').length;",
            json!([]),
        )
        .await?;
    if cells.as_u64() != Some(65) {
        return Err(format!("the map has {cells} cells, expected 65"));
    }
    // The live part refreshes in place (the test does not wait the 60 s).
    wd.execute("window.tinhsoOpsRefresh();", json!([])).await?;
    let deadline = Instant::now() + WAIT_TIMEOUT;
    loop {
        let done = wd
            .execute(
                "var b = document.getElementById('ops-live'); return b.hasAttribute('data-refreshed') && b.querySelectorAll('path.cell').length;",
                json!([]),
            )
            .await?;
        if done.as_u64() == Some(65) {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the live part was not refreshed in place: {done}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screenshot(wd, shots, "operations-wall.png").await?;

    // A live target → its value by commune → one commune.
    wd.click(&wd.find("#chi-tieu-gov-records-electronic a.drill").await?)
        .await?;
    wait_for_path(wd, "/lanh-dao/dieu-hanh/chi-so").await?;
    wd.wait_for("#bang-cap-duoi").await?;
    wd.click(
        &wd.find("#bang-cap-duoi a.drill[href*='org=commune:05986']")
            .await?,
    )
    .await?;
    let deadline = Instant::now() + WAIT_TIMEOUT;
    loop {
        let title = wd.text(&wd.wait_for("#page-title").await?).await?;
        if title.contains("Phường Tam Thanh") {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("no commune page after the drill-down: {title}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let crumbs = wd.text(&wd.find("#duong-dan").await?).await?;
    if !crumbs.contains("Tỉnh") || !crumbs.contains("Phường Tam Thanh") {
        return Err(format!("breadcrumbs: {crumbs}"));
    }
    screenshot(wd, shots, "operations-commune.png").await?;

    // On a tablet the same page stacks its panels.
    wd.cmd(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({"width": 820, "height": 1180})),
    )
    .await?;
    wd.goto(&format!(
        "{base}/lanh-dao/dieu-hanh?chi_so=services.on_time"
    ))
    .await?;
    wd.wait_for("svg.ops-map").await?;
    screenshot(wd, shots, "operations-tablet.png").await?;
    Ok(())
}

/// A real server on a fresh data directory, chromedriver and a headless Chromium session
/// (the browser tests' set-up). Fields drop in order: the session, then both processes, then
/// the temporary directory, once nothing uses it any more.
struct Browser {
    wd: WebDriver,
    /// The server's address, e.g. `http://127.0.0.1:PORT`.
    base: String,
    /// Where screenshots go (kept after the test).
    shots: PathBuf,
    _chromedriver: ProcessGuard,
    _server: ProcessGuard,
    tmp: tempfile::TempDir,
}

impl Browser {
    /// Starts everything, or `None` (the test is skipped, and says so) unless
    /// `TINHSO_BROWSER_TESTS=1`; with it, missing Chromium or chromedriver FAILS the test.
    async fn launch(prefix: &str) -> Option<Browser> {
        if std::env::var("TINHSO_BROWSER_TESTS").as_deref() != Ok("1") {
            eprintln!("browser test SKIPPED: set TINHSO_BROWSER_TESTS=1 to run it (needs chromium and chromedriver)");
            return None;
        }
        let chromium = PathBuf::from(
            std::env::var("TINHSO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        );
        assert!(
            chromium.is_file(),
            "TINHSO_BROWSER_TESTS=1 but Chromium is missing at {} (apt-get install chromium, or set TINHSO_CHROMIUM)",
            chromium.display()
        );
        let driver_name =
            std::env::var("TINHSO_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromedriver = find_executable(&driver_name).unwrap_or_else(|| {
            panic!("TINHSO_BROWSER_TESTS=1 but chromedriver ({driver_name}) is missing (apt-get install chromium-driver, or set TINHSO_CHROMEDRIVER)")
        });
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("tempdir");
        let data_dir = tmp.path().join("data");
        let profile_dir = tmp.path().join("chromium-profile");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        std::fs::create_dir_all(&profile_dir).expect("profile dir");
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tinhso-browser");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let (server, base) = start_server(&data_dir);
        eprintln!("tinhso serving at {base}");
        let (chromedriver, driver_base) =
            start_chromedriver(&http, &chromedriver, &tmp.path().join("chromedriver.log")).await;
        let wd = WebDriver::new_session(http, &driver_base, &chromium, &profile_dir)
            .await
            .unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}"));
        Some(Browser {
            wd,
            base,
            shots,
            _chromedriver: chromedriver,
            _server: server,
            tmp,
        })
    }

    /// Ends the test: on a failed scenario a screenshot (`failure_shot`) and the page's
    /// address, then the session is closed and the scenario's error fails the test.
    async fn finish(mut self, outcome: TestResult<()>, failure_shot: &str) {
        if outcome.is_err() {
            let shot = self.shots.join(failure_shot);
            if self.wd.screenshot(&shot).await.is_ok() {
                eprintln!("failure screenshot: {}", shot.display());
            }
            if let Ok(url) = self.wd.current_url().await {
                eprintln!("browser was at: {url}");
            }
        }
        let quit = self.wd.quit().await;
        outcome.unwrap_or_else(|e| panic!("browser journey failed: {e}"));
        quit.expect("closing the browser session");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officer_signs_in_and_a_citizen_gets_a_verified_result() {
    let Some(b) = Browser::launch("tinhso-browser-").await else {
        return;
    };
    let (wd, base, shots) = (&b.wd, b.base.as_str(), b.shots.as_path());
    // A small but real PDF scan to attach (sniffed as PDF by the server).
    let attachment = b.tmp.path().join("giay-chung-sinh.pdf");
    let mut scan = b"%PDF-1.4\n% Giay chung sinh (scan)\n".to_vec();
    scan.extend_from_slice(&[b'0'; 2048]);
    std::fs::write(&attachment, scan).expect("attachment");
    let mut outcome = sign_in_scenario(wd, base, shots).await;
    if outcome.is_ok() {
        outcome = citizen_to_result_scenario(wd, base, shots, &attachment).await;
    }
    if outcome.is_ok() {
        outcome = border_pass_scenario(wd, base, shots).await;
    }
    if outcome.is_ok() {
        outcome = operations_centre_scenario(wd, base, shots).await;
    }
    b.finish(outcome, "failure.png").await;
}

/// Click `el` (a submit button) and wait for the page it posts to to load: the current
/// document is marked and a new one is awaited (its path alone could match too early).
async fn click_to_new_page(wd: &WebDriver, el: &Element, what: &str) -> TestResult<()> {
    wd.execute("window.__tinhso_old_page = true;", json!([]))
        .await?;
    wd.click(el).await?;
    let deadline = Instant::now() + WAIT_TIMEOUT;
    loop {
        let fresh = wd
            .execute(
                "return window.__tinhso_old_page !== true && document.readyState === 'complete';",
                json!([]),
            )
            .await
            .unwrap_or(Value::Bool(false));
        if fresh == Value::Bool(true) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: no new page within {WAIT_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Tam Thanh ward's head opens the ward's yearly Plan 226 report task (opened by the
/// demo), fills it in and submits it; the Science and Technology department's leader (the
/// recipient) approves it; the targets page shows the approved share with its report.
async fn yearly_report_scenario(wd: &WebDriver, base: &str, shots: &Path) -> TestResult<()> {
    let period = tinhso_targets::period::Period::containing(
        tinhso_targets::period::Frequency::Year,
        tinhso_services::dossier::today_local(),
    )
    .to_string();
    let id = tinhso_targets::reports::task_id("KH226-NAM", &period, "000.00.23.H37");
    let path = format!("/nghiep-vu/bao-cao/{id}");

    // 1. The agency's head finds the task in the list of reports and opens it.
    sign_in_as(wd, base, "lanhdao.tamthanh").await?;
    wd.goto(&format!("{base}/nghiep-vu/bao-cao")).await?;
    let link = wd
        .wait_for(&format!("a[href=\"{path}\"]"))
        .await
        .map_err(|e| format!("the ward's task {id} is not in its list of reports: {e}"))?;
    wd.click(&link).await?;
    wait_for_path(wd, &path).await?;

    // 2. Fills in the values (the on-time share is pre-filled by the platform) and submits.
    for (field, value) in [
        ("v_ho_so_cong_viec", "200"),
        ("v_ho_so_cong_viec_tren_mang", "151"),
        ("v_ty_le_ho_so_cong_viec_tren_mang", "75,5"),
    ] {
        let el = wd.wait_for(&format!("#{field}")).await?;
        wd.execute("arguments[0].value = '';", json!([{ ELEMENT_KEY: el.0 }]))
            .await?;
        wd.send_keys(&el, value).await?;
    }
    wd.execute(
        "document.getElementById('v_dich_vu_24_7').value = 'có';",
        json!([]),
    )
    .await?;
    let text = wd.find("#v_ket_qua_noi_bat").await?;
    wd.send_keys(&text, "Triển khai hệ thống quản lý văn bản điều hành")
        .await?;
    let submit = wd
        .find("button[name=action][value=gui]")
        .await
        .map_err(|e| format!("no submit button for the ward's head on {path}: {e}"))?;
    click_to_new_page(wd, &submit, "submitting the report").await?;
    wait_for_path(wd, &path).await?;
    let body = wd.text(&wd.find("main").await?).await?;
    if !body.contains("đã gửi, chờ duyệt") {
        return Err(format!(
            "after submitting, the report is not awaiting approval:\n{body}"
        ));
    }
    screenshot(wd, shots, "report-submitted.png").await?;

    // 3. The recipient's leader approves it.
    sign_in_as(wd, base, "lanhdao.sokhcn").await?;
    wd.goto(&format!("{base}{path}")).await?;
    let approve = wd
        .wait_for("button[name=action][value=duyet]")
        .await
        .map_err(|e| format!("no approve button for the recipient on {path}: {e}"))?;
    click_to_new_page(wd, &approve, "approving the report").await?;
    let body = wd.text(&wd.find("main").await?).await?;
    if !body.contains("đã duyệt") {
        return Err(format!(
            "after approval, the report is not approved:\n{body}"
        ));
    }

    // 4. The approved value shows on the targets page, with the report it came from.
    wd.goto(&format!("{base}/nghiep-vu/muc-tieu")).await?;
    let table = wd
        .wait_for("#so-lieu-bao-cao")
        .await
        .map_err(|e| format!("no approved reports' values on the targets page: {e}"))?;
    let rows = wd.text(&table).await?;
    for s in [
        "Ủy ban nhân dân phường Tam Thanh",
        "75,5%",
        &format!("KH226-NAM, năm {period}, phiên bản 2"),
    ] {
        if !rows.contains(s) {
            return Err(format!(
                "{s:?} not in the approved reports' values:\n{rows}"
            ));
        }
    }
    screenshot(wd, shots, "targets-approved-report.png").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agency_report_is_submitted_approved_and_shown_on_the_targets_page() {
    let Some(b) = Browser::launch("tinhso-browser-reports-").await else {
        return;
    };
    let outcome = yearly_report_scenario(&b.wd, &b.base, &b.shots).await;
    b.finish(outcome, "failure-reports.png").await;
}
