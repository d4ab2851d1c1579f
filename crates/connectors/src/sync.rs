//! Đồng bộ hồ sơ lên Cổng DVCQG — the sync worker: every dossier, on every status change, to
//! the national public service portal, with per-dossier state in `dvcqg_sync`.
//!
//! [`SyncWorker`] is the outbox consumer [`CONSUMER`] on `dossier.status_changed` (written by
//! `tinhso_services::dossier`). For each event it records that the dossier is due
//! ([`SyncWorker::enqueue`], `pending = 1`) and syncs it at once ([`SyncWorker::sync_one`]);
//! a portal failure is kept in the row (attempts, last error, next attempt with exponential
//! back-off) and [`SyncWorker::retry_due`] tries again later, so the outbox is never held up
//! by the portal and no dossier is lost: the row exists before the event is acknowledged.
//!
//! Syncing a dossier replays its history the portal has not acknowledged yet, from the
//! dossier's own events: the first time, confirm the code (`LayMaHoSo`), upload its files,
//! create it (`DongBoHoSoMC`, status of its first event) and record that first step
//! (`CapNhatTienDoHoSoMC`); then for each later event, its progress step and the status update
//! (`DongBoHoSoMC`, `isUpdating = True`). Progress is saved after each acknowledged event, so
//! a retry resumes where it stopped, and the portal is idempotent by dossier code (a create
//! that finds the dossier there becomes an update; a repeated progress step is ignored).
//!
//! [`sync_rate`] is the Decision 766 figure: dossiers received in a period whose portal copy
//! is up to date, over the dossiers received in that period (from
//! `tinhso_services::indicators::counts`, so a dossier the worker never saw counts as not
//! synced).

use crate::dvcqg::{self, Client, DvcqgError, HoSo, TienDo};
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::Arc;
use tinhso_kernel::AppError;
use tinhso_services::dossier::{self, Dossier};
use tinhso_services::status::{Action, Status};
use tinhso_store::audit::Ctx;
use tinhso_store::files::FileStore;
use tinhso_store::outbox::{DispatcherBuilder, Event};
use tinhso_store::{now_micros, Db, DbError};
use utoipa::ToSchema;

/// The consumer's name (keys its progress in the outbox).
pub const CONSUMER: &str = "connectors.dvcqg";
/// The topic it syncs on.
pub const TOPIC: &str = "dossier.status_changed";
/// The prefix it reads (the outbox matches prefixes with `LIKE`, dropping `_`).
pub const TOPIC_PREFIX: &str = "dossier.";

/// Back-off before the next attempt after `attempts` consecutive failures: 30 s doubling,
/// capped at one hour.
pub fn backoff_micros(attempts: i64) -> i64 {
    let secs = 30i64.saturating_mul(1i64 << attempts.clamp(1, 20).saturating_sub(1));
    secs.min(3_600) * 1_000_000
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// What one sync attempt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The portal is up to date with the dossier (`sent` calls were needed: 0 = nothing to do).
    Synced { sent: usize },
    /// The portal failed or refused; recorded, retried after `next_attempt_at`.
    Failed {
        error: String,
        attempts: i64,
        next_attempt_at: i64,
    },
    /// No such dossier in the platform.
    Unknown,
    /// Another task of this process is pushing this dossier now.
    Busy,
}

/// The longest the outbox consumer spends syncing one event inline before leaving the rest
/// to the retries (the dispatcher serves its consumers one after the other).
pub const INLINE_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);

/// The sync worker.
#[derive(Clone)]
pub struct SyncWorker {
    db: Db,
    client: Arc<Client>,
    files: Option<FileStore>,
    /// Dossiers being synced by this process now (the outbox consumer and the retries never
    /// push the same dossier at once).
    in_flight: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    inline_budget: std::time::Duration,
}

/// Removes a dossier from the in-flight set when its sync ends (or is cancelled).
struct InFlight {
    set: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    code: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.code);
    }
}

struct State {
    on_portal: bool,
    synced_seq: i64,
}

impl SyncWorker {
    /// `files`: where the dossiers' attachments are, to upload them (`None`: files are not
    /// uploaded, only the dossier).
    pub fn new(db: Db, client: Arc<Client>, files: Option<FileStore>) -> Self {
        Self {
            db,
            client,
            files,
            in_flight: Arc::default(),
            inline_budget: INLINE_BUDGET,
        }
    }

    /// Change the inline budget (default [`INLINE_BUDGET`]).
    pub fn with_inline_budget(mut self, budget: std::time::Duration) -> Self {
        self.inline_budget = budget;
        self
    }

    /// Register as the outbox consumer [`CONSUMER`].
    pub fn subscribe(self, builder: DispatcherBuilder) -> DispatcherBuilder {
        builder.subscribe(CONSUMER, TOPIC_PREFIX, move |ev| {
            let w = self.clone();
            async move { w.handle(&ev).await }
        })
    }

    /// Handle one event: enqueue, then try at once. `Err` only when the state could not be
    /// written (the outbox then delivers the event again).
    pub async fn handle(&self, ev: &Event) -> Result<(), String> {
        if ev.topic != TOPIC {
            return Ok(());
        }
        let Some(code) = ev.payload.get("code").and_then(|c| c.as_str()) else {
            tracing::warn!(event = %ev.id, "dossier event without a code: not synced");
            return Ok(());
        };
        let now = now_micros();
        match self.enqueue(code, now).await {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(format!("recording sync of {code}: {e}")),
        }
        match tokio::time::timeout(self.inline_budget, self.sync_one(code, now)).await {
            Ok(Ok(Outcome::Failed { error, .. })) => {
                tracing::warn!(dossier = code, %error, "DVCQG sync failed; will retry")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(dossier = code, error = %e, "DVCQG sync state"),
            Err(_) => {
                let error = format!(
                    "sync took longer than {:?}; continued by the retries",
                    self.inline_budget
                );
                tracing::warn!(dossier = code, %error, "DVCQG sync");
                if let Err(e) = self.record_failure(code, now, &error).await {
                    tracing::warn!(dossier = code, error = %e, "DVCQG sync state");
                }
            }
        }
        Ok(())
    }

    /// Mark a dossier due for sync now (creating its row). `false` when no such dossier.
    pub async fn enqueue(&self, code: &str, now: i64) -> Result<bool, AppError> {
        let Some(d) = dossier::get(&self.db, code).await? else {
            return Ok(false);
        };
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO dvcqg_sync (dossier_code, agency_code, received_at, pending, attempts, \
             next_attempt_at, updated_at) VALUES ($1, $2, $3, 1, 0, $4, $4) \
             ON CONFLICT (dossier_code) DO UPDATE SET pending = 1, \
             next_attempt_at = CASE WHEN dvcqg_sync.attempts = 0 THEN excluded.next_attempt_at \
             ELSE dvcqg_sync.next_attempt_at END, updated_at = excluded.updated_at",
        )
        .bind(&d.code)
        .bind(&d.agency_code)
        .bind(d.submitted_at)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(true)
    }

    async fn state(&self, code: &str) -> Result<Option<State>, AppError> {
        let row =
            sqlx::query("SELECT on_portal, synced_seq FROM dvcqg_sync WHERE dossier_code = $1")
                .bind(code)
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err)?;
        row.map(|r| {
            Ok(State {
                on_portal: r.try_get::<i64, _>(0).map_err(db_err)? == 1,
                synced_seq: r.try_get(1).map_err(db_err)?,
            })
        })
        .transpose()
    }

    async fn save_progress(&self, code: &str, seq: i64, status: i64) -> Result<(), AppError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE dvcqg_sync SET on_portal = 1, synced_seq = $2, synced_status = $3, \
             updated_at = $4 WHERE dossier_code = $1",
        )
        .bind(code)
        .bind(seq)
        .bind(status)
        .bind(now_micros())
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(())
    }

    /// Bring the portal up to date with one dossier. Portal failures are recorded in the row
    /// and returned as [`Outcome::Failed`]; `Err` is a local (database) failure.
    pub async fn sync_one(&self, code: &str, now: i64) -> Result<Outcome, AppError> {
        let Some(d) = dossier::get(&self.db, code).await? else {
            return Ok(Outcome::Unknown);
        };
        if self.state(code).await?.is_none() {
            self.enqueue(code, now).await?;
        }
        let _guard = {
            let mut set = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if !set.insert(code.to_string()) {
                // Being pushed right now by another task of this process; the row stays
                // pending if that push does not cover the latest event.
                return Ok(Outcome::Busy);
            }
            InFlight {
                set: self.in_flight.clone(),
                code: code.to_string(),
            }
        };
        let mut sent = 0usize;
        let mut result = self.push(&d, &mut sent).await;
        // Events committed while pushing (or pushed by nobody because this task held the
        // dossier): push again before calling the dossier up to date.
        let mut caught_up = false;
        for _ in 0..3 {
            if result.is_err() {
                break;
            }
            let Some(fresh) = dossier::get(&self.db, code).await? else {
                break;
            };
            let latest = fresh.events.iter().map(|e| e.seq).max().unwrap_or(0);
            let synced = self.state(code).await?.map_or(0, |s| s.synced_seq);
            if latest <= synced {
                caught_up = true;
                break;
            }
            result = self.push(&fresh, &mut sent).await;
        }
        let outcome = match result {
            Ok(()) => {
                let mut tx = self.db.begin_write().await?;
                sqlx::query(
                    "UPDATE dvcqg_sync SET pending = $3, attempts = 0, last_error = NULL, \
                     last_attempt_at = $2, synced_at = $2, next_attempt_at = $2, updated_at = $2 \
                     WHERE dossier_code = $1",
                )
                .bind(code)
                .bind(now)
                .bind(if caught_up { 0i64 } else { 1i64 })
                .execute(tx.conn())
                .await
                .map_err(db_err)?;
                tx.commit().await?;
                Outcome::Synced { sent }
            }
            Err(Failure::Portal(e)) => self.record_failure(code, now, &e.to_string()).await?,
            Err(Failure::Local(e)) => return Err(e),
        };
        Ok(outcome)
    }

    /// Record a failed attempt: attempts + 1, the error, the next attempt after the back-off.
    async fn record_failure(&self, code: &str, now: i64, error: &str) -> Result<Outcome, AppError> {
        let mut tx = self.db.begin_write().await?;
        let attempts: i64 =
            sqlx::query_scalar("SELECT attempts FROM dvcqg_sync WHERE dossier_code = $1")
                .bind(code)
                .fetch_one(tx.conn())
                .await
                .map_err(db_err)?;
        let attempts = attempts + 1;
        let next = now + backoff_micros(attempts);
        let error: String = error.chars().take(1_000).collect();
        sqlx::query(
            "UPDATE dvcqg_sync SET pending = 1, attempts = $2, last_error = $3, \
             last_attempt_at = $4, next_attempt_at = $5, updated_at = $4 \
             WHERE dossier_code = $1",
        )
        .bind(code)
        .bind(attempts)
        .bind(&error)
        .bind(now)
        .bind(next)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(Outcome::Failed {
            error,
            attempts,
            next_attempt_at: next,
        })
    }

    /// The calls that bring the portal up to date, saving progress after each event.
    async fn push(&self, d: &Dossier, sent: &mut usize) -> Result<(), Failure> {
        let state = self.state(&d.code).await?.unwrap_or(State {
            on_portal: false,
            synced_seq: 0,
        });
        let mut events: Vec<&dossier::Event> = d.events.iter().collect();
        events.sort_by_key(|e| e.seq);
        let mut synced_seq = state.synced_seq;
        if !state.on_portal {
            let Some(first) = events.first() else {
                return Ok(());
            };
            self.client.confirm_code(&d.code, &d.procedure_code).await?;
            *sent += 1;
            let mut ho_so = ho_so(d, first.to_status);
            ho_so.tai_lieu_nop = self.upload_files(d, sent).await?;
            // A copy already there (an earlier attempt created it before failing) is updated.
            let there = self.client.exists(&d.code).await?;
            *sent += 1;
            self.client.sync_dossier(&ho_so, there).await?;
            *sent += 1;
            self.client.update_progress(&tien_do(d, first)).await?;
            *sent += 1;
            self.save_progress(&d.code, first.seq, first.to_status)
                .await?;
            synced_seq = first.seq;
        }
        for e in events.iter().filter(|e| e.seq > synced_seq) {
            self.client.update_progress(&tien_do(d, e)).await?;
            *sent += 1;
            self.client
                .sync_dossier(&ho_so(d, e.to_status), true)
                .await?;
            *sent += 1;
            self.save_progress(&d.code, e.seq, e.to_status).await?;
        }
        Ok(())
    }

    async fn upload_files(
        &self,
        d: &Dossier,
        sent: &mut usize,
    ) -> Result<Vec<dvcqg::TaiLieuNop>, Failure> {
        let Some(store) = &self.files else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for a in dossier::files(&self.db, &d.code).await? {
            let bytes = dossier::file_bytes(&self.db, store, &d.code, &a.sha256).await?;
            let t = self
                .client
                .upload_file(&d.code, &a.component_id, &a.file_name, &bytes)
                .await?;
            *sent += 1;
            out.push(t);
        }
        Ok(out)
    }

    /// Sync every pending dossier whose next attempt is due at `now` (at most `limit`).
    pub async fn retry_due(&self, now: i64, limit: i64) -> Result<RetryReport, AppError> {
        let codes: Vec<String> = sqlx::query_scalar(
            "SELECT dossier_code FROM dvcqg_sync WHERE pending = 1 AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, dossier_code LIMIT $2",
        )
        .bind(now)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let mut report = RetryReport::default();
        for code in codes {
            match self.sync_one(&code, now).await? {
                Outcome::Synced { .. } => report.synced += 1,
                Outcome::Failed { .. } => report.failed += 1,
                Outcome::Unknown => report.unknown += 1,
                Outcome::Busy => {}
            }
        }
        Ok(report)
    }

    /// Run [`Self::retry_due`] every `every` until `shutdown` resolves.
    pub async fn run_retries(
        self,
        every: std::time::Duration,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match self.retry_due(now_micros(), 200).await {
                        Ok(r) if r.synced + r.failed > 0 => tracing::info!(synced = r.synced, failed = r.failed, "DVCQG sync retries"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "DVCQG sync retries"),
                    }
                }
                _ = &mut shutdown => break,
            }
        }
    }
}

/// What [`SyncWorker::retry_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetryReport {
    pub synced: usize,
    pub failed: usize,
    pub unknown: usize,
}

enum Failure {
    Portal(DvcqgError),
    Local(AppError),
}

impl From<DvcqgError> for Failure {
    fn from(e: DvcqgError) -> Self {
        Failure::Portal(e)
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Failure::Local(e)
    }
}

/// LoaiDoiTuong: 1 citizen, 2 organisation (the platform's applicant kind 0 citizen,
/// 1 enterprise, 2 household business).
pub fn loai_doi_tuong(kind: i64) -> &'static str {
    if kind == 0 {
        "1"
    } else {
        "2"
    }
}

/// The dossier as the portal's `HoSo`, at `status`.
pub fn ho_so(d: &Dossier, status: i64) -> HoSo {
    let due = d
        .due_date
        .as_deref()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .map(|day| format!("{}235959", day.format("%Y%m%d")))
        .unwrap_or_default();
    let opt = |t: Option<i64>| t.map(dvcqg::portal_time).unwrap_or_default();
    HoSo {
        ma_ho_so: d.code.clone(),
        ma_tthc: d.procedure_code.clone(),
        ten_tthc: d.procedure_name.clone(),
        chu_ho_so: d.applicant.name.clone(),
        loai_doi_tuong: loai_doi_tuong(d.applicant.kind).into(),
        email: d.applicant.email.clone(),
        so_dien_thoai: d.applicant.phone.clone(),
        trich_yeu_ho_so: d.procedure_name.clone(),
        ngay_tiep_nhan: dvcqg::portal_time(d.accepted_at.unwrap_or(d.submitted_at)),
        ngay_hen_tra: due,
        trang_thai_ho_so: status.to_string(),
        ngay_tra: opt(d.returned_at),
        hinh_thuc: "0".into(),
        kenh_thuc_hien: d.channel.clamp(1, 3).to_string(),
        ngay_ket_thuc_xu_ly: opt(d.finished_at),
        don_vi_xu_ly: d.agency_name.clone(),
        ..Default::default()
    }
}

/// One dossier event as the portal's `TienDo`.
pub fn tien_do(d: &Dossier, e: &dossier::Event) -> TienDo {
    let what = Action::parse(&e.action)
        .map(|a| a.name_vi().to_string())
        .unwrap_or_else(|| match e.action.as_str() {
            "submit" => "Nộp hồ sơ trực tuyến".into(),
            "receive_at_counter" => "Tiếp nhận hồ sơ tại bộ phận một cửa".into(),
            other => other.to_string(),
        });
    let status = Status::from_code(e.to_status)
        .map(|s| s.name_vi())
        .unwrap_or_default();
    let mut content = format!("{what} ({status})");
    if !e.reason.trim().is_empty() {
        content.push_str(": ");
        content.push_str(e.reason.trim());
    }
    TienDo {
        ma_ho_so: d.code.clone(),
        nguoi_xu_ly: if e.actor_name.trim().is_empty() {
            d.agency_name.clone()
        } else {
            e.actor_name.clone()
        },
        thoi_diem_xu_ly: dvcqg::portal_time(e.at),
        phong_ban_xu_ly: e.step.clone(),
        noi_dung_xu_ly: content,
        trang_thai: e.to_status.to_string(),
        ..Default::default()
    }
}

/// A dossier the portal lags behind on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailingDossier {
    pub dossier_code: String,
    pub agency_code: String,
    /// The last status the portal acknowledged (none: not on the portal yet).
    pub synced_status: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// Unix µs.
    pub last_attempt_at: Option<i64>,
    /// Unix µs.
    pub next_attempt_at: i64,
}

/// Counts of the sync state and the dossiers that are failing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncStatus {
    /// Dossiers the worker has seen.
    pub tracked: i64,
    /// …up to date on the portal.
    pub synced: i64,
    /// …waiting for their first attempt (no failure yet).
    pub queued: i64,
    /// …whose last attempt failed.
    pub failing: i64,
    /// The failing ones, most attempts first (at most `limit`).
    pub failing_dossiers: Vec<FailingDossier>,
}

/// The sync state now.
pub async fn status(db: &Db, limit: i64) -> Result<SyncStatus, AppError> {
    let r = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN pending = 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN pending = 1 AND attempts = 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN pending = 1 AND attempts > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM dvcqg_sync",
    )
    .fetch_one(db.pool())
    .await
    .map_err(db_err)?;
    let rows = sqlx::query(
        "SELECT dossier_code, agency_code, synced_status, attempts, last_error, last_attempt_at, \
         next_attempt_at FROM dvcqg_sync WHERE pending = 1 AND attempts > 0 \
         ORDER BY attempts DESC, dossier_code LIMIT $1",
    )
    .bind(limit.clamp(1, 1_000))
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let failing_dossiers = rows
        .iter()
        .map(|r| {
            Ok(FailingDossier {
                dossier_code: r.try_get(0)?,
                agency_code: r.try_get(1)?,
                synced_status: r.try_get(2)?,
                attempts: r.try_get(3)?,
                last_error: r.try_get(4)?,
                last_attempt_at: r.try_get(5)?,
                next_attempt_at: r.try_get(6)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(db_err)?;
    Ok(SyncStatus {
        tracked: r.try_get(0).map_err(db_err)?,
        synced: r.try_get(1).map_err(db_err)?,
        queued: r.try_get(2).map_err(db_err)?,
        failing: r.try_get(3).map_err(db_err)?,
        failing_dossiers,
    })
}

/// Tỷ lệ đồng bộ hồ sơ lên Cổng DVCQG for dossiers received in `[from, to)` (local dates).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncRate {
    pub from: String,
    pub to: String,
    /// Dossiers received in the period (`tinhso_services::indicators::counts`).
    pub received: i64,
    /// …of which the portal holds and is up to date.
    pub synced: i64,
    /// synced / received × 100 (none when nothing was received).
    pub rate_percent: Option<f64>,
}

impl SyncRate {
    fn of(from: NaiveDate, to: NaiveDate, received: i64, synced: i64) -> Self {
        SyncRate {
            from: from.to_string(),
            to: to.to_string(),
            received,
            synced,
            rate_percent: tinhso_services::indicators::percent(synced, received),
        }
    }
}

/// The sync rate of a period: dossiers received in `[from, to)` that are up to date on the
/// portal, over the dossiers received (`agencies`: only these; `None`: all).
pub async fn sync_rate(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    agencies: Option<&[String]>,
) -> Result<SyncRate, AppError> {
    sync_rates(db, &[(from, to)], agencies)
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("sync rate: no window"))
}

/// [`sync_rate`] for several windows at once, in the order given: the dossiers received from
/// the services roll-up for every window in one statement
/// (`tinhso_services::indicators::counts_windows`), the synchronised ones counted by one more
/// over the windows' disjoint pieces (`tinhso_store::rollup::Segments`: each row once).
pub async fn sync_rates(
    db: &Db,
    windows: &[(NaiveDate, NaiveDate)],
    agencies: Option<&[String]>,
) -> Result<Vec<SyncRate>, AppError> {
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    let received: Vec<i64> = tinhso_services::indicators::counts_windows(db, windows, agencies)
        .await?
        .iter()
        .map(|per_agency| per_agency.values().map(|c| c.received).sum())
        .collect();
    // Counted over the windows' disjoint pieces, each row once, then added up per window.
    let micros = tinhso_services::indicators::local_midnight_micros;
    let spans: Vec<(i64, i64)> = windows
        .iter()
        .map(|(f, t)| (micros(*f), micros(*t)))
        .collect();
    let pieces = tinhso_store::rollup::Segments::of(&spans);
    let mut per_piece = vec![0i64; pieces.bounds.len()];
    if !pieces.bounds.is_empty() {
        let filter = tinhso_services::indicators::agency_clause_on(
            agencies,
            1 + 2 * pieces.bounds.len(),
            "s.agency_code",
        );
        let sql = format!(
            "SELECT w.i, CAST(COUNT(*) AS BIGINT) FROM ({}) w JOIN dvcqg_sync s \
             ON s.received_at >= w.lo AND s.received_at < w.hi \
             WHERE s.pending = 0 AND s.on_portal = 1{filter} GROUP BY w.i",
            pieces.sql(1)
        );
        let mut q = sqlx::query(&sql);
        for (lo, hi) in &pieces.bounds {
            q = q.bind(*lo).bind(*hi);
        }
        for a in agencies.unwrap_or_default() {
            q = q.bind(a);
        }
        for r in q.fetch_all(db.pool()).await.map_err(db_err)? {
            let i: i64 = r.try_get(0).map_err(db_err)?;
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| per_piece.get_mut(i)) {
                *slot = r.try_get(1).map_err(db_err)?;
            }
        }
    }
    let synced = pieces.fold(&per_piece, |t: &mut i64, n| *t += n);
    Ok(windows
        .iter()
        .zip(received.into_iter().zip(synced))
        .map(|(&(from, to), (received, synced))| SyncRate::of(from, to, received, synced))
        .collect())
}

/// [`sync_rate`] of `[from, to)` for each of `agencies` on its own (tỷ lệ đồng bộ theo cơ
/// quan), in two statements however many agencies are asked: the received dossiers from the
/// services roll-up grouped by agency, the synchronised ones counted grouped by agency. The
/// communes map asks it once for the 65 communes' People's Committees instead of once per
/// committee. Every agency asked is in the answer (0 of 0 when it received nothing).
pub async fn sync_rate_by_agency(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    agencies: &[String],
) -> Result<BTreeMap<String, SyncRate>, AppError> {
    if agencies.is_empty() {
        return Ok(BTreeMap::new());
    }
    let received = tinhso_services::indicators::counts_windows(db, &[(from, to)], Some(agencies))
        .await?
        .pop()
        .unwrap_or_default();
    let micros = tinhso_services::indicators::local_midnight_micros;
    let sql = format!(
        "SELECT s.agency_code, CAST(COUNT(*) AS BIGINT) FROM dvcqg_sync s \
         WHERE s.received_at >= $1 AND s.received_at < $2 AND s.pending = 0 \
         AND s.on_portal = 1{} GROUP BY s.agency_code",
        tinhso_services::indicators::agency_clause_on(Some(agencies), 3, "s.agency_code")
    );
    let mut q = sqlx::query(&sql).bind(micros(from)).bind(micros(to));
    for a in agencies {
        q = q.bind(a);
    }
    let mut synced = BTreeMap::new();
    for r in q.fetch_all(db.pool()).await.map_err(db_err)? {
        let agency: String = r.try_get(0).map_err(db_err)?;
        synced.insert(agency, r.try_get::<i64, _>(1).map_err(db_err)?);
    }
    Ok(agencies
        .iter()
        .map(|a| {
            let received = received.get(a).map_or(0, |c| c.received);
            let synced = synced.get(a).copied().unwrap_or(0);
            (a.clone(), SyncRate::of(from, to, received, synced))
        })
        .collect())
}

/// Re-queue every failing dossier for an attempt now (`tinhso connectors dvcqg-resync`, the
/// admin API). Audited (`connectors.dvcqg.resync`). Returns how many were re-queued.
pub async fn requeue_failed(db: &Db, ctx: &Ctx) -> Result<u64, AppError> {
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE dvcqg_sync SET next_attempt_at = $1, updated_at = $1 \
         WHERE pending = 1 AND attempts > 0",
    )
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(db_err)?
    .rows_affected();
    tx.audit(&ctx.entry(
        "connectors.dvcqg.resync",
        "dvcqg_sync",
        "*",
        "",
        serde_json::json!({"requeued": n}),
    ))
    .await?;
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_micros(1), 30_000_000);
        assert_eq!(backoff_micros(2), 60_000_000);
        assert_eq!(backoff_micros(3), 120_000_000);
        assert_eq!(backoff_micros(8), 3_600_000_000);
        assert_eq!(backoff_micros(500), 3_600_000_000);
    }

    #[test]
    fn applicant_kinds_map_to_the_portals() {
        assert_eq!(loai_doi_tuong(0), "1");
        assert_eq!(loai_doi_tuong(1), "2");
        assert_eq!(loai_doi_tuong(2), "2");
    }
}
