//! Hải quan — pulling release decisions from customs' queue (lấy quyết định thông quan theo
//! hàng đợi), beside receiving them pushed (`POST /api/v1/connectors/customs/decisions`).
//!
//! The queue endpoint (this project's contract, like the message: VNACCS/VASSCM's is not
//! public, see `docs/connectors.md`): `GET {base}{path}?sau=<ViTri>&soLuong=<n>` with
//! `Authorization: Bearer <key>` answers `{"MaKetQua": "00", "QuyetDinh": [{"ViTri": "…",
//! …the fields of a customs::Message}], "ViTriCuoi": "…"}`: the decisions after position
//! `sau` (empty: from the start), oldest first, at most `soLuong`. `ViTri` is opaque to us.
//!
//! [`Puller::run_once`] reads one page after the position kept in `connectors_customs_pull`
//! (migration 9002) and hands each decision to [`crate::customs::receive`] — the same checks
//! and the same idempotent recording as a push — as the customs system (a system principal
//! holding `border_inspect` over the province: the queue is as trusted as the bearer key it
//! is read with). The position moves past a decision once it is recorded (`recorded` or
//! `duplicate`) or refused for good (a field error, an unknown trip, another declaration:
//! kept in `connectors_customs_refused`, migration 9003, and on the admin API, so the queue
//! is never stuck behind one bad message). A database failure stops the round before that
//! decision, which the next round reads again. The whole pull is idempotent: a position lost
//! (a crash before it was saved) re-reads decisions already recorded, and each answers
//! `duplicate` with nothing written.

use crate::customs::{self, Message};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::fmt;
use std::time::Duration;
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError};

/// Where customs' decision queue is.
#[derive(Clone)]
pub struct Config {
    pub base_url: String,
    /// Path of the queue (default `/api/v1/quyet-dinh-thong-quan`).
    pub path: String,
    pub api_key: String,
    pub timeout: Duration,
    /// Decisions asked for per page.
    pub page: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("path", &self.path)
            .field("api_key", &"***")
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn new(base_url: &str, api_key: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            path: "/api/v1/quyet-dinh-thong-quan".into(),
            api_key: api_key.into(),
            timeout: Duration::from_secs(10),
            page: 100,
        }
    }

    /// From `TINHSO_CUSTOMS_URL` (required), `TINHSO_CUSTOMS_KEY`, `TINHSO_CUSTOMS_PATH`.
    /// `None` when the URL is not set.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut c = Self::new(
            &var("TINHSO_CUSTOMS_URL")?,
            &var("TINHSO_CUSTOMS_KEY").unwrap_or_default(),
        );
        if let Some(p) = var("TINHSO_CUSTOMS_PATH") {
            c.path = p;
        }
        Some(c)
    }
}

/// One decision in the queue: its position and the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    #[serde(rename = "ViTri")]
    pub position: String,
    #[serde(flatten)]
    pub message: Message,
}

/// A page of the queue.
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
    /// The position kept after the round.
    pub position: String,
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
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(AppError::internal)?;
        Ok(Self { db, cfg, http })
    }

    /// One page of the queue after `after`.
    pub async fn fetch(&self, after: &str) -> Result<Vec<Queued>, String> {
        let url = format!("{}{}", self.cfg.base_url, self.cfg.path);
        let r = self
            .http
            .get(&url)
            .query(&[("sau", after), ("soLuong", &self.cfg.page.to_string())])
            .bearer_auth(&self.cfg.api_key)
            .send()
            .await
            .map_err(|e| format!("customs queue: {e}"))?;
        let status = r.status();
        if !status.is_success() {
            return Err(format!("customs queue: HTTP {status}"));
        }
        let page: Page = r
            .json()
            .await
            .map_err(|e| format!("customs queue: not a page: {e}"))?;
        if page.code != "00" {
            return Err(format!("customs queue: MaKetQua {}", page.code));
        }
        Ok(page.decisions)
    }

    /// Read one page and record it; the position is saved after each decision.
    pub async fn run_once(&self) -> Result<Round, String> {
        let mut round = Round {
            position: position(&self.db).await.map_err(|e| e.to_string())?,
            ..Default::default()
        };
        let page = match self.fetch(&round.position).await {
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
        let principal = customs_system();
        for q in page {
            let now = now_micros();
            match customs::receive(&self.db, &ctx, &principal, &q.message, now).await {
                Ok(o) if o.outcome == "duplicate" => round.duplicates += 1,
                Ok(_) => round.recorded += 1,
                Err(e) if refused_for_good(&e) => {
                    round.refused += 1;
                    keep_refused(&self.db, &q, &e)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Err(e) => {
                    let msg = format!("customs decision at {}: {e}", q.position);
                    let _ = note_error(&self.db, &msg).await;
                    return Err(msg);
                }
            }
            save_position(&self.db, &q.position)
                .await
                .map_err(|e| e.to_string())?;
            round.position = q.position;
        }
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
