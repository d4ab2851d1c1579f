//! A customs-side simulator — **for tests and the demo only**: it emits release decisions in
//! the customs system's format ([`crate::customs::Message`]) for border trips, as customs
//! would after clearing their declarations, and delivers them through the connector.

use crate::customs::{self, Message};
use axum::response::IntoResponse;
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

/// Customs' decision queue — **a simulator, for tests and the demo only**: serves the lease
/// contract of [`crate::customs_pull`] (`POST /api/v1/quyet-dinh-thong-quan/nhan` and
/// `/xac-nhan` with the bearer key) on a loopback port over the decisions it was given
/// ([`QueueSimulator::push`]), positions `1`, `2`, … A wrong key is 401; it can be told to
/// answer 503.
pub struct QueueSimulator {
    addr: std::net::SocketAddr,
    state: std::sync::Arc<Queue>,
    task: tokio::task::JoinHandle<()>,
}

/// One decision in the simulated queue.
struct Slot {
    message: Message,
    acked: bool,
    /// The lease's end (Unix µs); 0: never handed out.
    leased_until: i64,
    /// The receipt of the latest delivery.
    receipt: String,
    deliveries: u32,
}

struct Queue {
    key: String,
    slots: std::sync::Mutex<Vec<Slot>>,
    down: std::sync::atomic::AtomicBool,
    requests: std::sync::atomic::AtomicU64,
}

impl Queue {
    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
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
            slots: std::sync::Mutex::default(),
            down: std::sync::atomic::AtomicBool::new(false),
            requests: std::sync::atomic::AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .route(
                "/api/v1/quyet-dinh-thong-quan/nhan",
                axum::routing::post(lease),
            )
            .route(
                "/api/v1/quyet-dinh-thong-quan/xac-nhan",
                axum::routing::post(ack),
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
        c.endpoint.timeout = std::time::Duration::from_secs(5);
        c
    }

    /// Queue a decision; its position.
    pub fn push(&self, m: Message) -> String {
        let mut d = self.state.slots();
        d.push(Slot {
            message: m,
            acked: false,
            leased_until: 0,
            receipt: String::new(),
            deliveries: 0,
        });
        d.len().to_string()
    }

    /// Decisions not yet acknowledged (held under a lease or waiting).
    pub fn unacked(&self) -> usize {
        self.state.slots().iter().filter(|s| !s.acked).count()
    }

    /// How many times the decision at `position` was handed out.
    pub fn deliveries(&self, position: &str) -> u32 {
        position
            .parse::<usize>()
            .ok()
            .and_then(|i| {
                self.state
                    .slots()
                    .get(i.wrapping_sub(1))
                    .map(|s| s.deliveries)
            })
            .unwrap_or(0)
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

/// 503 when down, 401 without the key; `None` when the request may be served.
fn refuse(q: &Queue, headers: &axum::http::HeaderMap) -> Option<axum::response::Response> {
    use std::sync::atomic::Ordering;
    q.requests.fetch_add(1, Ordering::SeqCst);
    if q.down.load(Ordering::SeqCst) {
        return Some(
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "simulated outage",
            )
                .into_response(),
        );
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    (bearer.is_empty() || bearer != q.key).then(|| {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"MaKetQua": "401"})),
        )
            .into_response()
    })
}

/// The request's JSON body, or the answer refusing it (503 down, 401 key, 400 body).
fn accept<T: serde::de::DeserializeOwned>(
    q: &Queue,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<T, Box<axum::response::Response>> {
    if let Some(r) = refuse(q, headers) {
        return Err(Box::new(r));
    }
    serde_json::from_slice(body).map_err(|_| Box::new(bad_request()))
}

#[derive(serde::Deserialize)]
struct LeaseRequest {
    #[serde(rename = "SoLuong", default)]
    so_luong: Option<usize>,
    #[serde(rename = "ThoiGianGiuGiay", default)]
    thoi_gian_giu_giay: Option<i64>,
}

async fn lease(
    axum::extract::State(q): axum::extract::State<std::sync::Arc<Queue>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let req: LeaseRequest = match accept(&q, &headers, &body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let n = req.so_luong.unwrap_or(100).clamp(1, 500);
    let secs = req.thoi_gian_giu_giay.unwrap_or(60).clamp(1, 3600);
    let now = tinhso_store::now_micros();
    let mut slots = q.slots();
    let mut page = Vec::new();
    for (i, slot) in slots.iter_mut().enumerate() {
        if page.len() == n {
            break;
        }
        if slot.acked || slot.leased_until > now {
            continue;
        }
        slot.deliveries += 1;
        slot.leased_until = now + secs * 1_000_000;
        slot.receipt = uuid::Uuid::new_v4().simple().to_string();
        page.push(crate::customs_pull::Queued {
            position: (i + 1).to_string(),
            receipt: slot.receipt.clone(),
            deliveries: slot.deliveries,
            message: slot.message.clone(),
        });
    }
    axum::Json(serde_json::json!({"MaKetQua": "00", "QuyetDinh": page})).into_response()
}

#[derive(serde::Deserialize)]
struct AckRequest {
    #[serde(rename = "MaNhan", default)]
    ma_nhan: Vec<String>,
}

async fn ack(
    axum::extract::State(q): axum::extract::State<std::sync::Arc<Queue>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let req: AckRequest = match accept(&q, &headers, &body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let mut slots = q.slots();
    let mut acked = 0u32;
    for receipt in &req.ma_nhan {
        // Only the latest delivery's receipt: after a re-delivery the old one is stale.
        if let Some(slot) = slots
            .iter_mut()
            .find(|s| !s.acked && !receipt.is_empty() && s.receipt == *receipt)
        {
            slot.acked = true;
            acked += 1;
        }
    }
    axum::Json(serde_json::json!({"MaKetQua": "00", "DaXacNhan": acked})).into_response()
}

fn bad_request() -> axum::response::Response {
    (
        axum::http::StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"MaKetQua": "02"})),
    )
        .into_response()
}
