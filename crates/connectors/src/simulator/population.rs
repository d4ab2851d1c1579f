//! A local conformance simulator of the national population database's verification service
//! — **for tests and `tinhso serve --demo` only**; it holds a small seeded population
//! ([`seeded`]), never real people. It serves the contract of [`crate::population`] on a
//! loopback port: a wrong bearer key is 401, a malformed request 400, a known number answers
//! `MaKetQua` `00` with the record, an unknown one `01`. It can be switched to answer 503 (to
//! test "unavailable"), and to serve behind the data exchange hub
//! ([`PopulationSimulator::set_behind_hub`]).

use crate::population::{self, Citizen};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tinhso_exchange::registry;
use tinhso_kernel::AppError;
use tinhso_store::audit::Ctx;
use tinhso_store::Db;

/// The provider member that stands for the population database on the hub when the
/// simulator is registered there ([`PopulationSimulator::register_on_hub`]).
pub const HUB_PROVIDER: &str = "000.00.00.G12-DANCU";
/// Its verification service on the hub.
pub const HUB_SERVICE: &str = "xac-thuc-cong-dan";
/// The member `tinhso serve --demo` signs its population checks as (this platform).
pub const HUB_PLATFORM: &str = "000.00.00.H37-TINHSO";

/// The demo population: invented people with well-formed Lạng Sơn numbers.
pub fn seeded() -> Vec<Citizen> {
    [
        ("020190001234", "Hoàng Thị Mai", "05/03/1990"),
        ("020085004321", "Nguyễn Văn An", "17/08/1985"),
        ("020304000111", "Đặng Thị Hoa", "29/02/2004"),
        ("020079012345", "Lương Văn Tri", "02/09/1979"),
        ("020196000777", "Vi Thị Ngọc Ánh", "12/12/1996"),
    ]
    .into_iter()
    .map(|(n, name, dob)| Citizen {
        so_dinh_danh: n.into(),
        ho_va_ten: name.into(),
        ngay_thang_nam_sinh: dob.into(),
    })
    .collect()
}

struct Registry {
    key: String,
    people: BTreeMap<String, Citizen>,
    down: AtomicBool,
    requests: AtomicU64,
    behind_hub: AtomicBool,
    hub_requests: AtomicU64,
}

/// A running simulator. Dropping it stops the server.
pub struct PopulationSimulator {
    addr: SocketAddr,
    registry: Arc<Registry>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PopulationSimulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PopulationSimulator {
    /// Start on `127.0.0.1`, a free port, with this key and population.
    pub async fn start(key: &str, people: Vec<Citizen>) -> std::io::Result<Self> {
        let registry = Arc::new(Registry {
            key: key.into(),
            people: people
                .into_iter()
                .map(|c| (c.so_dinh_danh.clone(), c))
                .collect(),
            down: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            behind_hub: AtomicBool::new(false),
            hub_requests: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/api/v1/cong-dan/xac-thuc", post(verify))
            .with_state(registry.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            registry,
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client configuration pointing here with the right key.
    pub fn config(&self) -> population::Config {
        let mut e =
            crate::endpoint::Endpoint::new(&self.url(), population::PATH, &self.registry.key);
        e.timeout = std::time::Duration::from_secs(5);
        population::Config {
            direct: Some(e),
            hub: None,
        }
    }

    /// Serve behind a data exchange hub too (`true`): a request the hub forwards (it carries
    /// `x-lgsp-exchange-id`) needs no bearer key — standing in for the provider's trust in the
    /// hub's connection, which in production is the transport's (mutual TLS, allow-list).
    pub fn set_behind_hub(&self, on: bool) {
        self.registry.behind_hub.store(on, Ordering::SeqCst);
    }

    /// Register this simulator on the hub whose registry is in `db` (đăng ký trên trục): the
    /// provider member [`HUB_PROVIDER`] (its key derived from the master key; it never signs
    /// anything, the hub calls it), its service [`HUB_SERVICE`] in front of this simulator
    /// (classification `restricted`: no body kept), and `platform` with `platform_key`, the
    /// member the checks are signed as; then serve behind the hub ([`Self::set_behind_hub`]).
    /// Idempotent: members and keys already there are kept, the service's endpoint follows
    /// the simulator's port. No right is granted here.
    pub async fn register_on_hub(
        &self,
        db: &Db,
        ctx: &Ctx,
        platform: &str,
        platform_key: &str,
    ) -> Result<(), AppError> {
        let provider_key = tinhso_exchange::signing::public_key_b64(
            &tinhso_exchange::direct::member_key(HUB_PROVIDER),
        );
        registry::ensure_member(
            db,
            ctx,
            HUB_PROVIDER,
            "CSDL quốc gia về dân cư (mô phỏng)",
            &provider_key,
        )
        .await?;
        registry::register_service(
            db,
            ctx,
            &registry::NewService {
                provider: HUB_PROVIDER.into(),
                code: HUB_SERVICE.into(),
                name: "Xác thực công dân".into(),
                endpoint: self.url(),
                openapi: population::openapi(),
                classification: "restricted".into(),
            },
        )
        .await?;
        registry::ensure_member(db, ctx, platform, "Nền tảng Tỉnh số", platform_key).await?;
        self.set_behind_hub(true);
        Ok(())
    }

    /// Requests that came through a hub.
    pub fn hub_requests(&self) -> u64 {
        self.registry.hub_requests.load(Ordering::SeqCst)
    }

    /// Answer 503 to everything (`true`) or serve again (`false`).
    pub fn set_down(&self, down: bool) {
        self.registry.down.store(down, Ordering::SeqCst);
    }

    pub fn requests(&self) -> u64 {
        self.registry.requests.load(Ordering::SeqCst)
    }
}

async fn verify(State(r): State<Arc<Registry>>, headers: HeaderMap, body: Bytes) -> Response {
    r.requests.fetch_add(1, Ordering::SeqCst);
    if r.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "simulated outage").into_response();
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let forwarded =
        r.behind_hub.load(Ordering::SeqCst) && headers.contains_key("x-lgsp-exchange-id");
    if forwarded {
        r.hub_requests.fetch_add(1, Ordering::SeqCst);
    } else if bearer.is_empty() || bearer != r.key {
        return (StatusCode::UNAUTHORIZED, Json(json!({"MaKetQua": "401"}))).into_response();
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"MaKetQua": "02"}))).into_response();
    };
    let number = v
        .get("SoDinhDanh")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = v.get("HoVaTen").and_then(Value::as_str).unwrap_or_default();
    if number.len() != 12 || !number.bytes().all(|b| b.is_ascii_digit()) || name.trim().is_empty() {
        return (StatusCode::BAD_REQUEST, Json(json!({"MaKetQua": "02"}))).into_response();
    }
    match r.people.get(number) {
        Some(c) => Json(json!({"MaKetQua": "00", "CongDan": c})).into_response(),
        None => Json(json!({"MaKetQua": "01"})).into_response(),
    }
}
