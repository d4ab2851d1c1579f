//! A customs-side simulator — **for tests and the demo only**: it emits release decisions in
//! the customs system's format ([`crate::customs::Message`]) for border trips, as customs
//! would after clearing their declarations, and delivers them through the connector.

use crate::customs::{self, Message};
use tinhso_border::checks::ReleaseOutcome;
use tinhso_border::declaration::Trip;
use tinhso_identity::Principal;
use tinhso_kernel::AppError;
use tinhso_store::audit::Ctx;
use tinhso_store::Db;

/// The message customs would send for `trip` with decision `code` (`TQ`, `GPH`, `TD`,
/// `KTQ`) at `at` (Unix µs) by `officer`.
pub fn message_for(trip: &Trip, code: &str, at: i64, officer: &str) -> Message {
    Message {
        so_to_khai: trip.customs_declaration.clone(),
        ma_quyet_dinh: code.into(),
        ngay_gio_quyet_dinh: customs::format_time(at),
        bien_so_phuong_tien: trip.vehicle_plate.clone(),
        ma_chuyen: trip.code.clone(),
        ma_cong_chuc: officer.into(),
    }
}

/// The decision code customs gives the `i`-th trip of a batch: mostly released (thông quan),
/// one in ten held, one in twenty-five rejected — deterministic, for repeatable demos.
pub fn code_for(i: usize) -> &'static str {
    if i % 25 == 24 {
        "KTQ"
    } else if i % 10 == 9 {
        "TD"
    } else if i % 2 == 1 {
        "GPH"
    } else {
        "TQ"
    }
}

/// Emit a decision for every trip, one second apart before `now`, through the connector as
/// `principal` (a customs officer or customs' API token). Returns each outcome in order.
pub async fn emit(
    db: &Db,
    ctx: &Ctx,
    principal: &Principal,
    trips: &[Trip],
    officer: &str,
    now: i64,
) -> Vec<Result<ReleaseOutcome, AppError>> {
    let mut out = Vec::with_capacity(trips.len());
    for (i, t) in trips.iter().enumerate() {
        // Whole seconds: the message format has no fractions.
        let at = (now / 1_000_000 - (trips.len() - i) as i64) * 1_000_000;
        let m = message_for(t, code_for(i), at, officer);
        out.push(customs::receive(db, ctx, principal, &m, now).await);
    }
    out
}

/// Customs' decision queue — **a simulator, for tests and the demo only**: serves the contract
/// of [`crate::customs_pull`] (`GET /api/v1/quyet-dinh-thong-quan?sau=&soLuong=` with the
/// bearer key) on a loopback port over the decisions it was given ([`QueueSimulator::push`]),
/// positions `1`, `2`, … A wrong key is 401; it can be told to answer 503.
pub struct QueueSimulator {
    addr: std::net::SocketAddr,
    state: std::sync::Arc<Queue>,
    task: tokio::task::JoinHandle<()>,
}

struct Queue {
    key: String,
    decisions: std::sync::Mutex<Vec<Message>>,
    down: std::sync::atomic::AtomicBool,
    requests: std::sync::atomic::AtomicU64,
}

impl Drop for QueueSimulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl QueueSimulator {
    /// Start on `127.0.0.1`, a free port, with this key and an empty queue.
    pub async fn start(key: &str) -> std::io::Result<Self> {
        let state = std::sync::Arc::new(Queue {
            key: key.into(),
            decisions: std::sync::Mutex::default(),
            down: std::sync::atomic::AtomicBool::new(false),
            requests: std::sync::atomic::AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .route(
                "/api/v1/quyet-dinh-thong-quan",
                axum::routing::get(serve_queue),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A puller configuration pointing here with the right key.
    pub fn config(&self) -> crate::customs_pull::Config {
        let mut c = crate::customs_pull::Config::new(&self.url(), &self.state.key);
        c.timeout = std::time::Duration::from_secs(5);
        c
    }

    /// Queue a decision; its position.
    pub fn push(&self, m: Message) -> String {
        let mut d = self
            .state
            .decisions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        d.push(m);
        d.len().to_string()
    }

    /// Answer 503 to everything (`true`) or serve again (`false`).
    pub fn set_down(&self, down: bool) {
        self.state
            .down
            .store(down, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn requests(&self) -> u64 {
        self.state
            .requests
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[derive(serde::Deserialize)]
struct QueueQuery {
    #[serde(default)]
    sau: String,
    #[serde(rename = "soLuong", default)]
    so_luong: Option<usize>,
}

async fn serve_queue(
    axum::extract::State(q): axum::extract::State<std::sync::Arc<Queue>>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(query): axum::extract::Query<QueueQuery>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering;
    q.requests.fetch_add(1, Ordering::SeqCst);
    if q.down.load(Ordering::SeqCst) {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "simulated outage",
        )
            .into_response();
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bearer.is_empty() || bearer != q.key {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"MaKetQua": "401"})),
        )
            .into_response();
    }
    let after: usize = if query.sau.is_empty() {
        0
    } else {
        match query.sau.parse() {
            Ok(n) => n,
            Err(_) => {
                return (
                    axum::http::StatusCode::BAD_REQUEST,
                    axum::Json(serde_json::json!({"MaKetQua": "02"})),
                )
                    .into_response()
            }
        }
    };
    let n = query.so_luong.unwrap_or(100).clamp(1, 500);
    let d = q.decisions.lock().unwrap_or_else(|e| e.into_inner());
    let page: Vec<crate::customs_pull::Queued> = d
        .iter()
        .enumerate()
        .skip(after)
        .take(n)
        .map(|(i, m)| crate::customs_pull::Queued {
            position: (i + 1).to_string(),
            message: m.clone(),
        })
        .collect();
    let last = page.last().map(|p| p.position.clone()).unwrap_or(query.sau);
    axum::Json(serde_json::json!({"MaKetQua": "00", "QuyetDinh": page, "ViTriCuoi": last}))
        .into_response()
}
