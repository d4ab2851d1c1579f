//! Hải quan — pulling release decisions from customs' queue (lấy quyết định thông quan theo
//! hàng đợi), beside receiving them pushed (`POST /api/v1/connectors/customs/decisions`).
//!
//! The queue (this project's contract, like the message: VNACCS/VASSCM's is not public, see
//! `docs/connectors.md`) hands decisions out on a lease (thuê giữ), with `Authorization:
//! Bearer <key>`:
//!
//! * `POST {base}{path}/nhan` `{"SoLuong": n, "ThoiGianGiuGiay": s}` → `{"MaKetQua": "00",
//!   "QuyetDinh": [{"ViTri", "MaNhan", "SoLanGiao", …the fields of a customs::Message}]}`: at
//!   most `n` decisions no one holds, oldest first, each now invisible to every other puller
//!   for `s` seconds under a receipt (`MaNhan`) of this delivery (`SoLanGiao`: how many times
//!   it was handed out);
//! * `POST {base}{path}/xac-nhan` `{"MaNhan": […]}` → `{"MaKetQua": "00", "DaXacNhan": k}`:
//!   the decisions acknowledged, gone from the queue; a receipt of an earlier delivery (the
//!   lease ran out and the decision was handed out again) acknowledges nothing.
//!
//! [`Puller::run_once`] leases a page and hands each decision to [`crate::customs::receive`] —
//! the same checks and the same idempotent recording as a push — as the customs system (a
//! system principal holding `border_inspect` over the province: the queue is as trusted as
//! the bearer key it is read with), then acknowledges the decisions stored: recorded,
//! `duplicate`, or refused for good (a field error, an unknown trip, another declaration: kept
//! in `connectors_customs_refused`, migration 9002, and on the admin API, so the queue is never
//! stuck behind one bad message). So two nodes never both apply a decision (the second cannot
//! lease it while the first holds it), and a crash loses none: a decision leased and not
//! acknowledged — the node died, or the database failed on it, which stops the round — is
//! handed out again when its lease runs out, and if it had been stored it answers `duplicate`
//! with nothing written. `connectors_customs_pull` keeps the position (`ViTri`) of the last
//! decision stored, the counts and the last error, for the admin page.

use crate::customs::{self, Message};
use crate::endpoint::Endpoint;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::time::Duration;
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError};

/// Path of the queue (default of `TINHSO_CUSTOMS_PATH`).
pub const PATH: &str = "/api/v1/quyet-dinh-thong-quan";

/// Where customs' decision queue is (`TINHSO_CUSTOMS_URL`, `TINHSO_CUSTOMS_KEY`,
/// `TINHSO_CUSTOMS_PATH`).
#[derive(Clone, Debug)]
pub struct Config {
    pub endpoint: Endpoint,
    /// Decisions asked for per page.
    pub page: u32,
    /// How long a leased decision stays invisible to other pullers (`TINHSO_CUSTOMS_LEASE`,
    /// seconds; default 60): longer than a page takes to store.
    pub lease: Duration,
}

impl Config {
    pub fn new(base_url: &str, api_key: &str) -> Self {
        Self {
            endpoint: Endpoint::new(base_url, PATH, api_key),
            page: 100,
            lease: Duration::from_secs(60),
        }
    }

    /// From the environment; `None` when `TINHSO_CUSTOMS_URL` is not set.
    pub fn from_env() -> Option<Self> {
        let mut c = Self {
            endpoint: Endpoint::from_env("TINHSO_CUSTOMS", PATH)?,
            page: 100,
            lease: Duration::from_secs(60),
        };
        if let Some(s) = crate::endpoint::env_var("TINHSO_CUSTOMS_LEASE")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
        {
            c.lease = Duration::from_secs(s);
        }
        Some(c)
    }
}

/// One decision handed out by the queue: its position, the receipt of this delivery and the
/// message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    #[serde(rename = "ViTri")]
    pub position: String,
    /// Mã nhận: acknowledges this delivery ([`Puller::ack`]).
    #[serde(rename = "MaNhan", default)]
    pub receipt: String,
    /// Số lần giao: 1 the first time, more when a lease ran out unacknowledged.
    #[serde(rename = "SoLanGiao", default)]
    pub deliveries: u32,
    #[serde(flatten)]
    pub message: Message,
}

/// A page of leased decisions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    #[serde(rename = "MaKetQua")]
    pub code: String,
    #[serde(rename = "QuyetDinh", default)]
    pub decisions: Vec<Queued>,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Round {
    pub recorded: u32,
    pub duplicates: u32,
    pub refused: u32,
    /// Decisions the queue took the acknowledgement of.
    pub acked: u32,
    /// The position kept after the round.
    pub position: String,
}

/// What storing one decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Recorded,
    Duplicate,
    /// Refused for good and kept in `connectors_customs_refused`.
    Refused,
}

/// The state of the pull, for the admin API.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub position: String,
    pub pulled: i64,
    pub refused: i64,
    pub last_pulled_at: Option<i64>,
    pub last_error: Option<String>,
}

/// Reads customs' queue.
pub struct Puller {
    db: Db,
    cfg: Config,
    http: reqwest::Client,
}

/// The customs system as the caller of the border crate's release function.
pub fn customs_system() -> Principal {
    Principal {
        user_id: "system:customs-queue".into(),
        username: "customs-queue".into(),
        display_name: "Hàng đợi quyết định của hải quan".into(),
        kind: "system".into(),
        agency_code: None,
        roles: vec![RoleAssignment {
            role: Role::BorderOfficer,
            scope: Scope::Province,
        }],
        method: AuthMethod::Session,
    }
}

fn refused_for_good(e: &AppError) -> bool {
    !matches!(e.code, ErrorCode::Internal | ErrorCode::Unavailable)
}

impl Puller {
    pub fn new(db: Db, cfg: Config) -> Result<Self, AppError> {
        let http = cfg.endpoint.http_client()?;
        Ok(Self { db, cfg, http })
    }

    /// `POST {base}{path}{action}` with `body` and the bearer key; the answer's JSON once
    /// `MaKetQua` is `00`.
    async fn call(
        &self,
        action: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let r = self
            .http
            .post(format!("{}{action}", self.cfg.endpoint.url()))
            .bearer_auth(&self.cfg.endpoint.api_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("customs queue: {e}"))?;
        let status = r.status();
        if !status.is_success() {
            return Err(format!("customs queue: HTTP {status}"));
        }
        let v: serde_json::Value = r
            .json()
            .await
            .map_err(|e| format!("customs queue: not JSON: {e}"))?;
        match v["MaKetQua"].as_str() {
            Some("00") => Ok(v),
            other => Err(format!("customs queue: MaKetQua {other:?}")),
        }
    }

    /// Lease a page: at most [`Config::page`] decisions, invisible to other pullers for
    /// [`Config::lease`].
    pub async fn lease(&self) -> Result<Vec<Queued>, String> {
        let v = self
            .call(
                "/nhan",
                serde_json::json!({
                    "SoLuong": self.cfg.page,
                    "ThoiGianGiuGiay": self.cfg.lease.as_secs().max(1),
                }),
            )
            .await?;
        let page: Page =
            serde_json::from_value(v).map_err(|e| format!("customs queue: not a page: {e}"))?;
        Ok(page.decisions)
    }

    /// Acknowledge stored decisions by their receipts; how many the queue took.
    pub async fn ack(&self, receipts: &[String]) -> Result<u32, String> {
        if receipts.is_empty() {
            return Ok(0);
        }
        let v = self
            .call("/xac-nhan", serde_json::json!({ "MaNhan": receipts }))
            .await?;
        Ok(v["DaXacNhan"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0))
    }

    /// Store one leased decision (recorded, duplicate, or refused for good and kept) and move
    /// the kept position past it; `Err` when the database failed (the decision is then not to
    /// be acknowledged).
    pub async fn store(&self, ctx: &Ctx, q: &Queued) -> Result<Stored, String> {
        let stored = match customs::receive(
            &self.db,
            ctx,
            &customs_system(),
            &q.message,
            now_micros(),
        )
        .await
        {
            Ok(o) if o.outcome == "duplicate" => Stored::Duplicate,
            Ok(_) => Stored::Recorded,
            Err(e) if refused_for_good(&e) => {
                keep_refused(&self.db, q, &e)
                    .await
                    .map_err(|e| e.to_string())?;
                Stored::Refused
            }
            Err(e) => return Err(format!("customs decision at {}: {e}", q.position)),
        };
        save_position(&self.db, &q.position)
            .await
            .map_err(|e| e.to_string())?;
        Ok(stored)
    }

    /// Lease one page, store each decision, acknowledge those stored. A database failure
    /// stops the round before that decision, which is not acknowledged: the queue hands it
    /// out again when its lease runs out.
    pub async fn run_once(&self) -> Result<Round, String> {
        let mut round = Round {
            position: position(&self.db).await.map_err(|e| e.to_string())?,
            ..Default::default()
        };
        let page = match self.lease().await {
            Ok(p) => p,
            Err(e) => {
                let _ = note_error(&self.db, &e).await;
                return Err(e);
            }
        };
        let ctx = Ctx {
            actor: "system:customs-queue".into(),
            request_id: format!("customs-pull-{}", uuid::Uuid::now_v7()),
        };
        let mut receipts = Vec::with_capacity(page.len());
        let mut failed = None;
        for q in page {
            match self.store(&ctx, &q).await {
                Ok(Stored::Recorded) => round.recorded += 1,
                Ok(Stored::Duplicate) => round.duplicates += 1,
                Ok(Stored::Refused) => round.refused += 1,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            receipts.push(q.receipt);
            round.position = q.position;
        }
        let acked = self.ack(&receipts).await;
        if let Some(e) = failed.or_else(|| acked.as_ref().err().cloned()) {
            let _ = note_error(&self.db, &e).await;
            return Err(e);
        }
        round.acked = acked.unwrap_or(0);
        note_pulled(&self.db).await.map_err(|e| e.to_string())?;
        Ok(round)
    }

    /// [`Puller::run_once`] every `every` until `stop` resolves (a failure is logged and the
    /// next round tries again).
    pub async fn run(self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            match self.run_once().await {
                Ok(r) if r.recorded + r.refused > 0 => {
                    tracing::info!(
                        recorded = r.recorded,
                        refused = r.refused,
                        "customs decisions pulled"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "customs queue not read; next round retries"),
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

/// The position after the last decision handled ("" before the first).
pub async fn position(db: &Db) -> Result<String, DbError> {
    Ok(
        sqlx::query_scalar("SELECT position FROM connectors_customs_pull WHERE id = 1")
            .fetch_optional(db.pool())
            .await?
            .unwrap_or_default(),
    )
}

/// One statement on the pull's single row (made by migration 9002).
async fn update(db: &Db, sql: &str, text: Option<&str>, n: i64) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    let q = sqlx::query(sql);
    let q = match text {
        Some(t) => q.bind(t.to_string()),
        None => q,
    };
    q.bind(n).bind(now_micros()).execute(tx.conn()).await?;
    tx.commit().await?;
    Ok(())
}

async fn save_position(db: &Db, position: &str) -> Result<(), DbError> {
    update(
        db,
        "UPDATE connectors_customs_pull SET position = $1, pulled = pulled + $2, \
         last_pulled_at = $3, last_error = NULL WHERE id = 1",
        Some(position),
        1,
    )
    .await
}

async fn note_pulled(db: &Db) -> Result<(), DbError> {
    update(
        db,
        "UPDATE connectors_customs_pull SET pulled = pulled + $1, last_pulled_at = $2, \
         last_error = NULL WHERE id = 1",
        None,
        0,
    )
    .await
}

async fn note_error(db: &Db, error: &str) -> Result<(), DbError> {
    let cut: String = error.chars().take(500).collect();
    update(
        db,
        "UPDATE connectors_customs_pull SET last_error = $1, pulled = pulled + $2, \
         last_pulled_at = $3 WHERE id = 1",
        Some(&cut),
        0,
    )
    .await
}

async fn keep_refused(db: &Db, q: &Queued, e: &AppError) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO connectors_customs_refused (position, message, error, refused_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (position) DO NOTHING",
    )
    .bind(&q.position)
    .bind(serde_json::to_string(&q.message).unwrap_or_default())
    .bind(
        serde_json::to_string(&tinhso_http::error::Problem::from_error(e, None))
            .unwrap_or_default(),
    )
    .bind(now_micros())
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The pull's state.
pub async fn status(db: &Db) -> Result<Status, DbError> {
    let row = sqlx::query(
        "SELECT position, pulled, last_pulled_at, last_error FROM connectors_customs_pull WHERE id = 1",
    )
    .fetch_optional(db.pool())
    .await?;
    let refused: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM connectors_customs_refused")
        .fetch_one(db.pool())
        .await?;
    Ok(match row {
        Some(r) => Status {
            position: r.try_get(0)?,
            pulled: r.try_get(1)?,
            last_pulled_at: r.try_get(2)?,
            last_error: r.try_get(3)?,
            refused,
        },
        None => Status {
            refused,
            ..Default::default()
        },
    })
}

/// A decision refused for good, as kept.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Refused {
    pub position: String,
    pub message: serde_json::Value,
    pub error: serde_json::Value,
    pub refused_at: i64,
}

/// The newest refused decisions.
pub async fn refused(db: &Db, limit: i64) -> Result<Vec<Refused>, DbError> {
    sqlx::query(
        "SELECT position, message, error, refused_at FROM connectors_customs_refused \
         ORDER BY refused_at DESC, position DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        let m: String = r.try_get(1)?;
        let e: String = r.try_get(2)?;
        Ok(Refused {
            position: r.try_get(0)?,
            message: serde_json::from_str(&m).unwrap_or_default(),
            error: serde_json::from_str(&e).unwrap_or_default(),
            refused_at: r.try_get(3)?,
        })
    })
    .collect()
}
