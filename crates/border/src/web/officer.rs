//! The agencies' workbench on the web (bàn làm việc của các lực lượng tại cửa khẩu): staff pages
//! under `/nghiep-vu/cua-khau` in Vietnamese (English with the platform's language switch), and
//! the two machine APIs the gates need: customs releases received from customs
//! (`POST /api/v1/border/customs-releases`) and camera / QR / GPS event batches
//! (`POST /api/v1/border/events`).
//!
//! Access: every route needs `BorderInspect` somewhere; inside, each action is checked against
//! the agency it concerns — a check kind against that kind's agency at the trip's gate, a
//! review item or an event batch against the agencies at its gate, a trip through
//! [`super::trip_for`].

use super::{trip_for, TripAccess};
use crate::checks::{self, DecisionInput, ReleaseInput, ReleaseOutcome};
use crate::declaration::{self, Trip};
use crate::events::{self, BatchReport, Ingestor, NewEvent};
use crate::gates::{self, CheckKind, Gate};
use crate::journey::{self, Stage};
use crate::slots::Queues;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::{Arc, Mutex, RwLock};
use tinhso_http::access::{Access, Rule};
use tinhso_http::context::require;
use tinhso_http::error::{ApiError, PageError};
use tinhso_http::layout::{render, Chrome};
use tinhso_http::{ApiJson, AppState, Lang, ReqCtx};
use tinhso_identity::{authorize, Permission, ResourceScope};
use tinhso_kernel::{AppError, Invalid};
use tinhso_store::{now_micros, Db, DbError};

/// (method, route template, rule) of the workbench's routes.
pub const OFFICER_RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        ("GET", "/nghiep-vu/cua-khau", Perm(BorderInspect)),
        ("GET", "/nghiep-vu/cua-khau/{gate}", Perm(BorderInspect)),
        (
            "GET",
            "/nghiep-vu/cua-khau/{gate}/xem-xet",
            Perm(BorderInspect),
        ),
        (
            "POST",
            "/nghiep-vu/cua-khau/{gate}/xem-xet/{event}",
            Perm(BorderInspect),
        ),
        (
            "GET",
            "/nghiep-vu/cua-khau/chuyen/{code}",
            Perm(BorderInspect),
        ),
        (
            "POST",
            "/nghiep-vu/cua-khau/chuyen/{code}/kiem-tra",
            Perm(BorderInspect),
        ),
        (
            "POST",
            "/nghiep-vu/cua-khau/chuyen/{code}/giai-doan",
            Perm(BorderInspect),
        ),
        (
            "GET",
            "/api/v1/border/trips/{code}/checks",
            Perm(BorderInspect),
        ),
        (
            "POST",
            "/api/v1/border/trips/{code}/checks",
            Perm(BorderInspect),
        ),
        (
            "POST",
            "/api/v1/border/customs-releases",
            Perm(BorderInspect),
        ),
        ("POST", "/api/v1/border/events", Perm(BorderInspect)),
        // Fee refunds (hoàn phí): the fee officers; each refund's gate is checked inside.
        ("GET", "/nghiep-vu/cua-khau/hoan-phi", Perm(BorderManage)),
        ("POST", "/nghiep-vu/cua-khau/hoan-phi", Perm(BorderManage)),
        // {step}: duyet (approve) or chi (paid back).
        (
            "POST",
            "/nghiep-vu/cua-khau/hoan-phi/{id}/{step}",
            Perm(BorderManage),
        ),
        ("GET", "/api/v1/border/fees/refunds", Perm(BorderManage)),
        (
            "POST",
            "/api/v1/border/trips/{code}/fee/refund",
            Perm(BorderManage),
        ),
        (
            "POST",
            "/api/v1/border/fees/refunds/{id}/approval",
            Perm(BorderManage),
        ),
        (
            "POST",
            "/api/v1/border/fees/refunds/{id}/payment",
            Perm(BorderManage),
        ),
    ]
};

/// The workbench's routes (the [`EventsHub`] travels with them as an extension).
pub fn officer_routes() -> Router<AppState> {
    Router::new()
        .route("/nghiep-vu/cua-khau", get(home))
        .route("/nghiep-vu/cua-khau/{gate}", get(gate_page))
        .route("/nghiep-vu/cua-khau/{gate}/xem-xet", get(review_page))
        .route(
            "/nghiep-vu/cua-khau/{gate}/xem-xet/{event}",
            post(review_post),
        )
        .route("/nghiep-vu/cua-khau/chuyen/{code}", get(trip_page))
        .route(
            "/nghiep-vu/cua-khau/chuyen/{code}/kiem-tra",
            post(check_post),
        )
        .route(
            "/nghiep-vu/cua-khau/chuyen/{code}/giai-doan",
            post(override_post),
        )
        .route(
            "/api/v1/border/trips/{code}/checks",
            get(api_checks).post(api_decide),
        )
        .route("/api/v1/border/customs-releases", post(api_release))
        .route("/api/v1/border/events", post(api_events))
        .merge(super::refunds::routes())
        .layer(Extension(EventsHub::default()))
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

// ------------------------------------------------------------------ the shared ingestor

/// The process's event ingestor (bộ tiếp nhận sự kiện), shared by the events API: loaded on
/// first use (after seeding the shipped sensors, which is idempotent), and refreshed before a batch whenever the trips changed since it last looked
/// (new or corrected declarations, cancellations, journeys moved by other modules), judged by
/// the trips' count and latest `updated_at`.
#[derive(Clone, Default)]
pub struct EventsHub {
    inner: Arc<HubInner>,
}

#[derive(Default)]
struct HubInner {
    ingestor: RwLock<Option<Arc<Ingestor>>>,
    /// (trips, latest updated_at) when the index was last rebuilt.
    seen: Mutex<Option<(i64, i64)>>,
}

fn poisoned<T>(_: T) -> AppError {
    AppError::internal("border events hub: lock poisoned")
}

async fn trips_fingerprint(db: &Db) -> Result<(i64, i64), AppError> {
    let r = sqlx::query("SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM border_trips")
        .fetch_one(db.pool())
        .await
        .map_err(db_err)?;
    Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?))
}

impl EventsHub {
    /// The ingestor, loaded if needed and refreshed if the trips changed.
    pub async fn get(&self, db: &Db) -> Result<Arc<Ingestor>, AppError> {
        let now = trips_fingerprint(db).await?;
        let current = self.inner.ingestor.read().map_err(poisoned)?.clone();
        let ing = match current {
            Some(i) => {
                let stale = *self.inner.seen.lock().map_err(poisoned)? != Some(now);
                if stale {
                    i.refresh(db).await?;
                }
                i
            }
            None => {
                // The shipped sensor layout (idempotent), then the index.
                events::seed_sensors(db).await?;
                let i = Arc::new(Ingestor::load(db).await?);
                *self.inner.ingestor.write().map_err(poisoned)? = Some(i.clone());
                i
            }
        };
        *self.inner.seen.lock().map_err(poisoned)? = Some(now);
        Ok(ing)
    }

    /// Forget what was seen: the next batch rebuilds the index.
    pub fn invalidate(&self) {
        if let Ok(mut s) = self.inner.seen.lock() {
            *s = None;
        }
    }
}

// ------------------------------------------------------------------ scopes

/// Every agency at a gate (and their parents): who sees the gate's review queue and events.
pub(super) async fn gate_scope(db: &Db, gate: &Gate) -> Result<ResourceScope, AppError> {
    let mut agencies = Vec::new();
    for a in &gate.agencies {
        for code in tinhso_refdata::agencies::ancestors(db, &a.agency).await? {
            if !agencies.contains(&code) {
                agencies.push(code);
            }
        }
    }
    Ok(ResourceScope {
        agencies,
        commune: None,
        owner_user_id: None,
    })
}

async fn gate_of(state: &AppState, code: &str) -> Result<Gate, AppError> {
    gates::get(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)
}

/// The gate, if the caller is an officer of one of its agencies.
async fn officer_gate(state: &AppState, ctx: &ReqCtx, code: &str) -> Result<Gate, AppError> {
    let gate = gate_of(state, code).await?;
    let scope = gate_scope(&state.db, &gate).await?;
    require(
        state,
        ctx,
        Permission::BorderInspect,
        &scope,
        &format!("border_gate:{}", gate.code),
    )
    .await?;
    Ok(gate)
}

fn when(micros: i64) -> String {
    declaration::local(micros)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

fn kind_name(k: CheckKind, t: Lang) -> String {
    match t {
        Lang::Vi => k.name_vi().to_string(),
        _ => match k {
            CheckKind::Customs => "Customs",
            CheckKind::BorderGuard => "Border guard",
            CheckKind::PlantQuarantine => "Plant quarantine",
            CheckKind::AnimalQuarantine => "Animal quarantine",
            CheckKind::HealthQuarantine => "Health quarantine",
            CheckKind::ManagementBoard => "Management board",
        }
        .to_string(),
    }
}

fn status_name(s: &str, t: Lang) -> String {
    let (vi, en) = match s {
        "pending" => ("Chưa kiểm tra", "Not checked yet"),
        "started" => ("Đang kiểm tra", "Being checked"),
        "passed" => ("Đạt", "Passed"),
        "held" => ("Tạm giữ", "Held"),
        "rejected" => ("Không cho qua", "Rejected"),
        other => (other, other),
    };
    t.s(vi, en).to_string()
}

fn stage_name(s: &str, t: Lang) -> String {
    Stage::parse(s)
        .map(|s| t.s(s.name_vi(), s.name_en()).to_string())
        .unwrap_or_else(|| s.to_string())
}

fn seconds(s: i64) -> String {
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} ph {:02} s", s / 60, s % 60)
    }
}

pub(super) fn error_text(e: &AppError, t: Lang) -> String {
    let mut parts: Vec<String> = e
        .fields
        .iter()
        .map(|f| match t {
            Lang::Vi => f.message_vi.clone(),
            _ => f.message_en.clone(),
        })
        .collect();
    if parts.is_empty() {
        let d = match t {
            Lang::Vi => e.detail_vi.clone(),
            _ => e.detail_en.clone(),
        };
        parts.push(d.unwrap_or_else(|| match t {
            Lang::Vi => e.code.title_vi().to_string(),
            _ => e.code.title_en().to_string(),
        }));
    }
    parts.join(" ")
}

// ------------------------------------------------------------------ gate picker

#[derive(Template)]
#[template(path = "officer_home.html")]
struct HomePage {
    c: Chrome,
    gates: Vec<(String, String, String)>,
}

async fn home(State(state): State<AppState>, ctx: ReqCtx) -> Result<Response, PageError> {
    let principal = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let mut list = Vec::new();
    for g in gates::list(&state.db).await.map_err(|e| ctx.page_err(e))? {
        let kinds = checks::kinds_for(&state.db, principal, &g)
            .await
            .map_err(|e| ctx.page_err(e))?;
        let scope = gate_scope(&state.db, &g)
            .await
            .map_err(|e| ctx.page_err(e))?;
        if authorize(Some(principal), Permission::BorderInspect, &scope).is_ok() {
            let k: Vec<String> = kinds.iter().map(|k| kind_name(*k, ctx.lang)).collect();
            list.push((
                g.code.clone(),
                g.name(ctx.lang.code()).to_string(),
                k.join(", "),
            ));
        }
    }
    Ok(render(&HomePage {
        c: Chrome::of(&ctx),
        gates: list,
    }))
}

// ------------------------------------------------------------------ a gate's queues

#[derive(Template)]
#[template(path = "officer_gate.html")]
struct GatePage {
    c: Chrome,
    gate_code: String,
    gate_name: String,
    queues: Vec<QueueView>,
    review_open: usize,
    service: Vec<(String, usize, String, String)>,
    today: String,
}

struct QueueView {
    kind: String,
    rows: Vec<QueueRow>,
}

struct QueueRow {
    code: String,
    plate: String,
    goods: String,
    quarantine: String,
    perishable: bool,
    arrived: String,
    status: String,
    stage: String,
}

fn quarantine_name(q: &str, t: Lang) -> String {
    let parts: Vec<&str> = q
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "plant" => t.s("thực vật", "plant"),
            "animal" => t.s("động vật", "animal"),
            other => other,
        })
        .collect();
    if parts.is_empty() {
        t.s("không", "none").to_string()
    } else {
        parts.join(", ")
    }
}

async fn gate_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let view = async {
        let gate = officer_gate(&state, &ctx, &code).await?;
        let principal = ctx.principal()?;
        let t = ctx.lang;
        let mut queues = Vec::new();
        for kind in checks::kinds_for(&state.db, principal, &gate).await? {
            let rows = checks::agency_queue(&state.db, &gate, kind, 200)
                .await?
                .into_iter()
                .map(|q| QueueRow {
                    plate: match &q.trailer_plate {
                        Some(r) => format!("{} + {r}", q.plate),
                        None => q.plate.clone(),
                    },
                    code: q.trip_code,
                    goods: q.goods,
                    quarantine: quarantine_name(&q.quarantine, t),
                    perishable: q.perishable,
                    arrived: when(q.arrived_at),
                    status: status_name(&q.status, t),
                    stage: stage_name(&q.stage, t),
                })
                .collect();
            queues.push(QueueView {
                kind: kind_name(kind, t),
                rows,
            });
        }
        let review_open = events::review_open(&state.db, Some(&gate.code), 500)
            .await?
            .len();
        let today = declaration::local(now_micros()).date_naive();
        let service = checks::service_times(&state.db, Some(&gate.code), today)
            .await?
            .into_iter()
            .map(|s| {
                (
                    kind_name(s.kind, t),
                    s.checks,
                    seconds(s.p50_s),
                    seconds(s.p90_s),
                )
            })
            .collect();
        Ok::<_, AppError>(GatePage {
            c: Chrome::of(&ctx),
            gate_name: gate.name(t.code()).to_string(),
            gate_code: gate.code,
            queues,
            review_open,
            service,
            today: today.format("%d/%m/%Y").to_string(),
        })
    }
    .await
    .map_err(|e| ctx.page_err(e))?;
    Ok(render(&view))
}

// ------------------------------------------------------------------ a trip's checks

/// One changed field of a declaration version: (field, before, after).
type Change = (String, String, String);

#[derive(Template)]
#[template(path = "officer_trip.html")]
struct TripPage {
    c: Chrome,
    trip: Trip,
    gate_name: String,
    stage: String,
    quarantine: String,
    checks: Vec<(String, String, String, String)>,
    /// (kind code, kind name) the officer decides.
    mine: Vec<(String, String)>,
    decisions: Vec<(String, String, String, String, String)>,
    versions: Vec<(i64, String, String, Vec<Change>)>,
    stage_options: Vec<(String, String)>,
    error: String,
    done: String,
}

async fn trip_view(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    error: String,
    done: String,
) -> Result<TripPage, AppError> {
    let t = ctx.lang;
    let (trip, access) = trip_for(state, ctx, code).await?;
    if access != TripAccess::Officer && !is_officer(state, ctx, &trip).await? {
        return Err(AppError::forbidden());
    }
    let gate = gate_of(state, &trip.gate).await?;
    let principal = ctx.principal()?;
    let (states, _) = checks::states(&state.db, &gate, &trip).await?;
    let mine_kinds = checks::kinds_for(&state.db, principal, &gate).await?;
    let mine = states
        .iter()
        .filter(|s| s.kind != CheckKind::Customs && mine_kinds.contains(&s.kind))
        .filter(|s| !matches!(s.status.as_str(), "passed" | "rejected"))
        .map(|s| (s.kind.as_str().to_string(), kind_name(s.kind, t)))
        .collect();
    let checks = states
        .iter()
        .map(|s| {
            let c = s.check.as_ref();
            (
                kind_name(s.kind, t),
                match &s.agency {
                    Some(_) => status_name(&s.status, t),
                    None => t
                        .s(
                            "Cửa khẩu không có lực lượng này: cần điều chỉnh thủ công",
                            "No such agency at this gate: a manual override is needed",
                        )
                        .to_string(),
                },
                c.and_then(|c| c.reason.clone()).unwrap_or_default(),
                c.map(|c| {
                    format!(
                        "{} → {}",
                        c.started_at.map(when).unwrap_or_else(|| "—".into()),
                        c.decided_at.map(when).unwrap_or_else(|| "—".into())
                    )
                })
                .unwrap_or_default(),
            )
        })
        .collect();
    let decisions = checks::decisions(&state.db, &trip.id)
        .await?
        .into_iter()
        .map(|d| {
            (
                when(d.at),
                CheckKind::parse(&d.kind)
                    .map(|k| kind_name(k, t))
                    .unwrap_or(d.kind),
                d.decision,
                d.reason.unwrap_or_default(),
                d.actor,
            )
        })
        .collect();
    let versions = declaration::versions(&state.db, &trip.id)
        .await?
        .into_iter()
        .rev()
        .map(|v| {
            (
                v.version,
                when(v.changed_at),
                v.reason,
                v.changes.into_iter().map(|(k, (b, a))| (k, b, a)).collect(),
            )
        })
        .collect();
    let stage_options = Stage::ALL
        .iter()
        .filter(|s| **s != Stage::Cancelled)
        .map(|s| {
            (
                s.as_str().to_string(),
                t.s(s.name_vi(), s.name_en()).to_string(),
            )
        })
        .collect();
    Ok(TripPage {
        c: Chrome::of(ctx),
        gate_name: gate.name(t.code()).to_string(),
        stage: stage_name(&trip.stage, t),
        quarantine: quarantine_name(&trip.quarantine, t),
        checks,
        mine,
        decisions,
        versions,
        stage_options,
        error,
        done,
        trip,
    })
}

/// A declarer who is also an officer at the gate (a test or a small office): the officer
/// pages still need BorderInspect over the gate.
async fn is_officer(state: &AppState, ctx: &ReqCtx, trip: &Trip) -> Result<bool, AppError> {
    let gate = gate_of(state, &trip.gate).await?;
    let scope = gate_scope(&state.db, &gate).await?;
    Ok(authorize(ctx.principal.as_ref(), Permission::BorderInspect, &scope).is_ok())
}

#[derive(Deserialize, Default)]
struct TripQuery {
    ok: Option<String>,
}

async fn trip_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<TripQuery>,
) -> Result<Response, PageError> {
    let done = match q.ok.as_deref() {
        Some("kiem-tra") => ctx.lang.s("Đã ghi quyết định.", "Decision recorded."),
        Some("giai-doan") => ctx.lang.s("Đã điều chỉnh giai đoạn.", "Stage changed."),
        _ => "",
    };
    let view = trip_view(&state, &ctx, &code, String::new(), done.to_string())
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(render(&view))
}

/// A form that failed: the page again with the message (422/409), or the error page.
async fn form_failed(state: &AppState, ctx: &ReqCtx, code: &str, e: AppError) -> Response {
    refused_form(ctx, e, |msg| {
        trip_view(state, ctx, code, msg, String::new())
    })
    .await
}

/// A refused form (409, 422): the page again (`again` with the message) with that status;
/// any other error: the error page.
pub(super) async fn refused_form<T, Fut>(
    ctx: &ReqCtx,
    e: AppError,
    again: impl FnOnce(String) -> Fut,
) -> Response
where
    T: Template,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    if !matches!(e.status(), 409 | 422) {
        return ctx.page_err(e).into_response();
    }
    match again(error_text(&e, ctx.lang)).await {
        Ok(view) => {
            let mut resp = render(&view);
            *resp.status_mut() =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            resp
        }
        Err(e2) => ctx.page_err(e2).into_response(),
    }
}

#[derive(Deserialize)]
struct CheckForm {
    #[serde(default)]
    check: String,
    /// `start`, `pass`, `hold`, `reject`.
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

/// Start a check or record a decision (page and API). Returns what it did, as JSON.
async fn record(
    state: &AppState,
    queues: &Queues,
    ctx: &ReqCtx,
    code: &str,
    f: &CheckForm,
) -> Result<serde_json::Value, AppError> {
    let kind = checks::parse_kind(&f.check).map_err(|e| AppError::field("check", e))?;
    let trip = declaration::get(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let gate = gate_of(state, &trip.gate).await?;
    // Another agency's check: refused here, with the denial logged.
    let scope = checks::kind_scope(&state.db, &gate, kind).await?;
    require(
        state,
        ctx,
        Permission::BorderInspect,
        &scope,
        &format!("border_trip:{code}:{}", kind.as_str()),
    )
    .await?;
    let principal = ctx.principal()?;
    if f.decision.trim() == "start" {
        let c = checks::start(&state.db, &ctx.audit(), principal, code, kind, now_micros()).await?;
        Ok(
            serde_json::json!({"trip_code": trip.code, "check": kind, "status": c.status,
            "stage": trip.stage, "started_at": c.started_at}),
        )
    } else {
        let o = checks::decide(
            &state.db,
            &ctx.audit(),
            principal,
            code,
            kind,
            &DecisionInput::new(&f.decision, &f.reason),
            now_micros(),
        )
        .await?;
        queues.invalidate();
        serde_json::to_value(&o).map_err(AppError::internal)
    }
}

async fn check_post(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Form(f): Form<CheckForm>,
) -> Response {
    match record(&state, &queues, &ctx, &code, &f).await {
        Ok(_) => {
            Redirect::to(&format!("/nghiep-vu/cua-khau/chuyen/{code}?ok=kiem-tra")).into_response()
        }
        Err(e) => form_failed(&state, &ctx, &code, e).await,
    }
}

#[derive(Deserialize)]
struct OverrideForm {
    #[serde(default)]
    stage: String,
    #[serde(default)]
    reason: String,
}

async fn override_post(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Form(f): Form<OverrideForm>,
) -> Response {
    let r = async {
        let (trip, access) = trip_for(&state, &ctx, &code).await?;
        if access != TripAccess::Officer && !is_officer(&state, &ctx, &trip).await? {
            return Err(AppError::forbidden());
        }
        let mut errs = tinhso_kernel::FieldErrors::new();
        let stage = errs.check("stage", Stage::parse_input(&f.stage));
        errs.check("reason", journey::reason(&f.reason));
        if stage == Some(Stage::Cancelled) {
            errs.push(
                "stage",
                Invalid::new(
                    "stage_cancelled",
                    "Chỉ người khai báo huỷ được chuyến",
                    "Only the declarer cancels a trip",
                ),
            );
        }
        errs.into_result()?;
        let stage = stage.ok_or_else(|| AppError::internal("stage"))?;
        journey::override_stage(&state.db, &ctx.audit(), &trip.id, stage, &f.reason).await?;
        queues.invalidate();
        Ok(())
    }
    .await;
    match r {
        Ok(()) => {
            Redirect::to(&format!("/nghiep-vu/cua-khau/chuyen/{code}?ok=giai-doan")).into_response()
        }
        Err(e) => form_failed(&state, &ctx, &code, e).await,
    }
}

// ------------------------------------------------------------------ camera review queue

#[derive(Template)]
#[template(path = "officer_review.html")]
struct ReviewPage {
    c: Chrome,
    gate_code: String,
    gate_name: String,
    items: Vec<ReviewRow>,
    error: String,
    done: bool,
}

struct ReviewRow {
    event_id: String,
    at: String,
    plate_text: String,
    stage: String,
    reason: String,
    /// (trip id, trip code, plate)
    candidates: Vec<(String, String, String)>,
    /// Why the scoring rule left it here (empty when it did not look at it).
    note: String,
}

/// The scoring rule's reason for the officer: why not settled, the best and runner-up trips
/// (by code) with their scores, the camera's confidence.
fn note_text(n: &events::MatchNote, codes: &[(String, String, String)], t: Lang) -> String {
    let (vi, en) = match n.why.as_str() {
        "margin" => (
            "Các ứng viên gần như ngang nhau",
            "The candidates are nearly as likely",
        ),
        "not_near" => (
            "Không chuyến nào được dự kiến đến gần giờ đọc",
            "No candidate trip is expected near the time of the read",
        ),
        "low_confidence" => (
            "Camera không chắc chắn (độ tin cậy thấp)",
            "The camera was unsure (low confidence)",
        ),
        "below_floor" => ("Điểm quá thấp", "The score is too low"),
        "unseen" => (
            "Chỉ đọc được dãy số: có thể là xe chưa khai báo",
            "Digits alone: possibly a truck with no declaration",
        ),
        "unscored" => (
            "Có ứng viên không giải thích được bằng lỗi đọc",
            "A candidate the misread model cannot explain",
        ),
        _ => ("Không có ứng viên", "No candidate"),
    };
    let code = |id: &Option<String>| -> Option<String> {
        let id = id.as_deref()?;
        Some(
            codes
                .iter()
                .find(|c| c.0 == id)
                .map_or_else(|| id.to_string(), |c| c.1.clone()),
        )
    };
    let mut out = format!(
        "{} — {} {:.2}",
        t.s(vi, en),
        t.s("độ tin cậy", "confidence"),
        n.confidence
    );
    for (label, id, score) in [
        (t.s("tốt nhất", "best"), &n.best_trip, n.best_score),
        (
            t.s("kế tiếp", "runner-up"),
            &n.runner_up_trip,
            n.runner_up_score,
        ),
    ] {
        if let (Some(c), Some(s)) = (code(id), score) {
            out.push_str(&format!("; {label} {c}: {s:.2}"));
        }
    }
    out
}

fn queue_reason(r: &str, t: Lang) -> String {
    let (vi, en) = match r {
        "no_match" => ("Không khớp chuyến nào", "Matches no trip"),
        "ambiguous" => ("Khớp nhiều biển số", "Matches several plates"),
        "several_trips" => ("Biển số có nhiều chuyến", "The plate has several trips"),
        "pass_bad_signature" | "pass_unknown_key" | "pass_revoked_key" | "pass_malformed" => (
            "Thẻ QR không hợp lệ: chữ ký không khớp hoặc thẻ giả",
            "Invalid QR pass: the signature does not match or the pass is forged",
        ),
        "pass_expired" | "pass_not_yet_valid" => (
            "Thẻ QR ngoài thời gian hiệu lực",
            "The QR pass is outside its validity",
        ),
        "pass_other_gate" => (
            "Thẻ QR của cửa khẩu khác",
            "The QR pass is for another gate",
        ),
        "pass_mismatch" => (
            "Thẻ QR ghi chuyến khác với đầu đọc",
            "The QR pass names another trip than the reader",
        ),
        other => (other, other),
    };
    t.s(vi, en).to_string()
}

async fn review_view(
    state: &AppState,
    ctx: &ReqCtx,
    gate_code: &str,
    error: String,
    done: bool,
) -> Result<ReviewPage, AppError> {
    let t = ctx.lang;
    let gate = officer_gate(state, ctx, gate_code).await?;
    let mut items = Vec::new();
    for i in events::review_open(&state.db, Some(&gate.code), 200).await? {
        let mut candidates = Vec::new();
        for c in &i.candidates {
            let code: Option<String> =
                sqlx::query_scalar("SELECT code FROM border_trips WHERE id = $1")
                    .bind(&c.trip_id)
                    .fetch_optional(state.db.pool())
                    .await
                    .map_err(db_err)?;
            candidates.push((
                c.trip_id.clone(),
                code.unwrap_or_else(|| c.trip_id.clone()),
                c.plate.clone(),
            ));
        }
        let note = i
            .match_note
            .as_ref()
            .map(|n| note_text(n, &candidates, t))
            .unwrap_or_default();
        items.push(ReviewRow {
            note,
            event_id: i.event_id,
            at: when(i.at),
            plate_text: i.plate_text,
            stage: stage_name(&i.stage, t),
            reason: queue_reason(&i.reason, t),
            candidates,
        });
    }
    Ok(ReviewPage {
        c: Chrome::of(ctx),
        gate_name: gate.name(t.code()).to_string(),
        gate_code: gate.code,
        items,
        error,
        done,
    })
}

#[derive(Deserialize, Default)]
struct ReviewQuery {
    ok: Option<String>,
}

async fn review_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(gate): Path<String>,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, PageError> {
    let view = review_view(&state, &ctx, &gate, String::new(), q.ok.is_some())
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(render(&view))
}

#[derive(Deserialize)]
struct ReviewForm {
    /// `attach` or `dismiss`.
    #[serde(default)]
    action: String,
    /// The trip to attach to (one of the candidates).
    #[serde(default)]
    trip_id: String,
    #[serde(default)]
    reason: String,
}

async fn review_post(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path((gate_code, event)): Path<(String, String)>,
    Form(f): Form<ReviewForm>,
) -> Response {
    let r = async {
        let gate = officer_gate(&state, &ctx, &gate_code).await?;
        let item = events::review_get(&state.db, &event)
            .await?
            .filter(|i| i.gate_code == gate.code)
            .ok_or_else(AppError::not_found)?;
        match f.action.as_str() {
            "attach" => {
                if !item.candidates.iter().any(|c| c.trip_id == f.trip_id) {
                    // Attaching to a trip that is not a candidate is refused here: the page
                    // offers the candidates only (the library accepts any trip).
                    let mut errs = tinhso_kernel::FieldErrors::new();
                    errs.push(
                        "trip_id",
                        Invalid::new(
                            "trip_not_candidate",
                            "Chọn một trong các chuyến được gợi ý",
                            "Choose one of the suggested trips",
                        ),
                    );
                    errs.check("reason", journey::reason(&f.reason));
                    errs.into_result()?;
                }
                events::review_attach(&state.db, &ctx.audit(), &event, &f.trip_id, &f.reason)
                    .await?;
                queues.invalidate();
            }
            "dismiss" => {
                events::review_dismiss(&state.db, &ctx.audit(), &event, &f.reason).await?;
            }
            _ => {
                return Err(AppError::field(
                    "action",
                    Invalid::new(
                        "action",
                        "Chọn gắn vào chuyến hoặc bỏ qua",
                        "Choose attach or dismiss",
                    ),
                ))
            }
        }
        Ok(())
    }
    .await;
    match r {
        Ok(()) => {
            Redirect::to(&format!("/nghiep-vu/cua-khau/{gate_code}/xem-xet?ok=1")).into_response()
        }
        Err(e) if matches!(e.status(), 409 | 422) => {
            let msg = error_text(&e, ctx.lang);
            match review_view(&state, &ctx, &gate_code, msg, false).await {
                Ok(view) => {
                    let mut resp = render(&view);
                    *resp.status_mut() = StatusCode::from_u16(e.status())
                        .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
                    resp
                }
                Err(e2) => ctx.page_err(e2).into_response(),
            }
        }
        Err(e) => ctx.page_err(e).into_response(),
    }
}

// ------------------------------------------------------------------ APIs

/// The workbench's JSON API, merged into the platform's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api_checks,
        api_decide,
        api_release,
        api_events,
        super::refunds::api_list,
        super::refunds::api_open,
        super::refunds::api_approve,
        super::refunds::api_paid
    ),
    components(schemas(
        CheckRequest,
        ReleaseInput,
        ReleaseOutcome,
        crate::fee_refund::Refund,
        crate::fee_refund::RefundInput,
        super::refunds::PaidBody,
        tinhso_http::error::Problem
    ))
)]
pub struct OfficerApiDoc;

/// A trip's required checks and where they stand.
#[derive(Debug, Serialize)]
struct ChecksOut {
    trip_code: String,
    stage: String,
    all_clear: bool,
    checks: Vec<checks::CheckState>,
    /// The check kinds the caller decides on this trip.
    mine: Vec<CheckKind>,
    decisions: Vec<checks::DecisionRow>,
}

#[utoipa::path(get, path = "/api/v1/border/trips/{code}/checks", tag = "border",
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "trip_code, stage, all_clear, checks (kind, agency, status pending/started/passed/held/rejected, the recorded check with reason, started_at, decided_at), mine (the check kinds the caller decides), decisions (every start/pass/hold/reject in order)"),
        (status = 403, body = tinhso_http::error::Problem), (status = 404, body = tinhso_http::error::Problem)))]
/// `GET /api/v1/border/trips/{code}/checks`: the trip's checks, for an officer at its gate.
async fn api_checks(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Json<ChecksOut>, ApiError> {
    let (trip, access) = trip_for(&state, &ctx, &code).await?;
    if access != TripAccess::Officer && !is_officer(&state, &ctx, &trip).await? {
        return Err(AppError::forbidden().into());
    }
    let gate = gate_of(&state, &trip.gate).await?;
    let (states, all_clear) = checks::states(&state.db, &gate, &trip).await?;
    let kinds = checks::kinds_for(&state.db, ctx.principal()?, &gate).await?;
    Ok(Json(ChecksOut {
        mine: states
            .iter()
            .map(|s| s.kind)
            .filter(|k| *k != CheckKind::Customs && kinds.contains(k))
            .collect(),
        decisions: checks::decisions(&state.db, &trip.id).await?,
        trip_code: trip.code,
        stage: trip.stage,
        all_clear,
        checks: states,
    }))
}

/// An agency's decision through the API.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct CheckRequest {
    /// `border_guard`, `plant_quarantine`, `animal_quarantine` or `health_quarantine`.
    #[serde(default)]
    check: String,
    /// `start`, `pass`, `hold` or `reject`.
    #[serde(default)]
    decision: String,
    /// Required for hold and reject (1–500 characters).
    #[serde(default)]
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/border/trips/{code}/checks", tag = "border", request_body = CheckRequest,
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "trip_code, check, status after the decision, the trip's stage, all_clear (the trip advanced to checked when every required check passed; reject turns it back)"),
        (status = 403, body = tinhso_http::error::Problem, description = "Not the agency making this check at the trip's gate"),
        (status = 404, body = tinhso_http::error::Problem),
        (status = 409, body = tinhso_http::error::Problem, description = "The check is already closed, or the trip's journey is over"),
        (status = 422, body = tinhso_http::error::Problem, description = "Field errors (check, decision, reason)")))]
/// `POST /api/v1/border/trips/{code}/checks`: an agency records its decision (or starts the
/// check), as the trip page does.
async fn api_decide(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<CheckRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let f = CheckForm {
        check: body.check,
        decision: body.decision,
        reason: body.reason,
    };
    let out = record(&state, &queues, &ctx, &code, &f).await?;
    Ok(Json(out))
}

/// `POST /api/v1/border/customs-releases`: customs' release decision for a trip. 201 when
/// recorded, 200 for a duplicate or superseded message (nothing written).
#[utoipa::path(post, path = "/api/v1/border/customs-releases", tag = "border", request_body = ReleaseInput,
    responses((status = 201, body = ReleaseOutcome, description = "Recorded: the customs check follows the decision (released passes it, held holds it, rejected turns the truck back); the trip advances to checked when every required check has passed"),
        (status = 200, body = ReleaseOutcome, description = "duplicate (already received) or superseded (older than the decision held): nothing written"),
        (status = 401, body = tinhso_http::error::Problem), (status = 403, body = tinhso_http::error::Problem, description = "Not the customs office at the trip's gate (or above it)"),
        (status = 422, body = tinhso_http::error::Problem, description = "Field errors (customs_declaration, trip_code, decision, decided_at, officer_ref), every one at once")))]
async fn api_release(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    ApiJson(input): ApiJson<ReleaseInput>,
) -> Result<(StatusCode, Json<ReleaseOutcome>), ApiError> {
    let principal = ctx.principal()?;
    let r = checks::receive_release(&state.db, &ctx.audit(), principal, &input, now_micros()).await;
    let r = match r {
        Err(e) if e.status() == 403 => {
            // Through require, for the denial log.
            let trip = declaration::get(&state.db, input.trip_code.trim()).await?;
            if let Some(trip) = trip {
                let gate = gate_of(&state, &trip.gate).await?;
                let scope = checks::kind_scope(&state.db, &gate, CheckKind::Customs).await?;
                require(
                    &state,
                    &ctx,
                    Permission::BorderInspect,
                    &scope,
                    &format!("border_trip:{}:customs", trip.code),
                )
                .await?;
            }
            return Err(e.into());
        }
        r => r?,
    };
    if r.outcome == "recorded" {
        queues.invalidate();
        Ok((StatusCode::CREATED, Json(r)))
    } else {
        Ok((StatusCode::OK, Json(r)))
    }
}

/// The most events in one batch.
pub const MAX_EVENTS: usize = 1000;

/// A batch of sensor events.
#[derive(Debug, Deserialize)]
struct EventsBody {
    events: Vec<NewEvent>,
}

/// What became of a batch, per event.
#[derive(Debug, Serialize)]
struct EventsOut {
    #[serde(flatten)]
    report: BatchReport,
}

#[utoipa::path(post, path = "/api/v1/border/events", tag = "border",
    request_body(content_type = "application/json", description = "`{\"events\": [...]}`, at most 1000: each `{\"event_id\", \"at\" (Unix µs), \"kind\": \"camera\", \"camera_id\", \"plate_text\", \"confidence\"}`, `{…, \"kind\": \"qr\", \"reader_id\", \"trip_code\"}` or `{…, \"kind\": \"gps\", \"geofence_id\", \"trip_id\"}`"),
    responses((status = 200, description = "received, duplicates, attached, review, unknown, moved, and per event: event_id, outcome (exact, fuzzy, qr, gps: attached; ambiguous, no_match, several_trips, pass_bad_signature, pass_unknown_key, pass_revoked_key, pass_malformed, pass_expired, pass_not_yet_valid, pass_other_gate, pass_mismatch: sent to review; unknown_trip; duplicate) and trip_id"),
        (status = 401, body = tinhso_http::error::Problem), (status = 403, body = tinhso_http::error::Problem, description = "Not an agency at the gate of every sensor in the batch"),
        (status = 422, body = tinhso_http::error::Problem, description = "Field errors `events[i].…`: nothing written")))]
/// `POST /api/v1/border/events`: a batch of camera / QR / GPS events (`{"events": [...]}`),
/// each answered (attached to a trip, duplicate, sent to review, unknown trip). The caller is
/// an officer (or a token) of an agency at every gate the batch's sensors are at.
async fn api_events(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    Extension(hub): Extension<EventsHub>,
    ctx: ReqCtx,
    ApiJson(body): ApiJson<EventsBody>,
) -> Result<Json<EventsOut>, ApiError> {
    if body.events.len() > MAX_EVENTS {
        return Err(AppError::field(
            "events",
            Invalid::new(
                "events_too_many",
                format!("Tối đa {MAX_EVENTS} sự kiện mỗi lần gửi"),
                format!("At most {MAX_EVENTS} events per batch"),
            ),
        )
        .into());
    }
    let ing = hub.get(&state.db).await?;
    let mut gates_seen: Vec<String> = Vec::new();
    for e in &body.events {
        let id = match &e.body {
            events::EventBody::Camera { camera_id, .. } => camera_id,
            events::EventBody::Qr { reader_id, .. } => reader_id,
            events::EventBody::Gps { geofence_id, .. } => geofence_id,
        };
        if let Some(s) = ing.sensor(id) {
            if !gates_seen.contains(&s.gate_code) {
                gates_seen.push(s.gate_code.clone());
            }
        }
    }
    for g in &gates_seen {
        officer_gate(&state, &ctx, g).await?;
    }
    let report = ing.ingest_batch(&state.db, &body.events).await?;
    if report.moved > 0 || report.attached > 0 {
        queues.invalidate();
    }
    Ok(Json(EventsOut { report }))
}
