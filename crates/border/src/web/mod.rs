//! The border gate's web layer: the JSON API (`/api/v1/border/…`, [`api`]) and the pages
//! ([`pages`]) — driver and enterprise pages in Vietnamese, Chinese (simplified) and English,
//! the officers' offline pass check — with the module's access rules.
//!
//! Access: the gate list, the goods catalogue, slot availability, the wait-time feed, the
//! pass keys and the offline pass-check page are public (no personal data). Declaring and
//! booking need `BorderDeclare`; a trip is then read and corrected by its declarer (scope
//! *own*) or by the agencies at its gate (`BorderInspect` over one of them), checked inside
//! with [`tinhso_http::context::require`].

pub mod api;
pub mod leaders;
pub mod officer;
pub mod pages;
pub mod refunds;
pub mod zh;

use crate::declaration::{self, Trip};
use crate::slots::{Policy, Queues};
use axum::Router;
use tinhso_http::access::{Access, Rule};
use tinhso_http::context::require;
use tinhso_http::{AppState, ReqCtx};
use tinhso_identity::Permission;
use tinhso_kernel::AppError;

/// (method, route template, rule) of every route of the module.
pub const RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        ("GET", "/cua-khau", Public),
        ("GET", "/cua-khau/tai-nguyen/{file}", Public),
        ("GET", "/cua-khau/kiem-tra-the", Public),
        ("GET", "/cua-khau/khai-bao", Perm(BorderDeclare)),
        ("POST", "/cua-khau/khai-bao", Perm(BorderDeclare)),
        ("GET", "/cua-khau/chuyen", Perm(BorderDeclare)),
        // The trip's own scope (declarer or gate agency) is checked inside.
        ("GET", "/cua-khau/chuyen/{code}", SignedIn),
        ("GET", "/cua-khau/chuyen/{code}/sua", SignedIn),
        ("POST", "/cua-khau/chuyen/{code}/sua", SignedIn),
        (
            "POST",
            "/cua-khau/chuyen/{code}/dat-cho",
            Perm(BorderDeclare),
        ),
        ("GET", "/api/v1/border/gates", Public),
        ("GET", "/api/v1/border/hs", Public),
        ("GET", "/api/v1/border/pass-keys", Public),
        ("GET", "/api/v1/border/wait-times", Public),
        ("GET", "/api/v1/border/slots", Public),
        ("POST", "/api/v1/border/trips", Perm(BorderDeclare)),
        ("GET", "/api/v1/border/trips/{code}", SignedIn),
        ("PUT", "/api/v1/border/trips/{code}", SignedIn),
        ("GET", "/api/v1/border/trips/{code}/versions", SignedIn),
        ("GET", "/api/v1/border/trips/{code}/pass", SignedIn),
        ("GET", "/api/v1/border/trips/{code}/queue", SignedIn),
        (
            "POST",
            "/api/v1/border/trips/{code}/booking",
            Perm(BorderDeclare),
        ),
        (
            "DELETE",
            "/api/v1/border/trips/{code}/booking",
            Perm(BorderDeclare),
        ),
        (
            "POST",
            "/api/v1/border/trips/{code}/booking/extension",
            Perm(BorderDeclare),
        ),
        (
            "POST",
            "/api/v1/border/trips/{code}/standby",
            Perm(BorderDeclare),
        ),
        ("POST", "/api/v1/border/passes/check", Perm(BorderInspect)),
        // The trip's declarer or an officer at its gate (checked inside).
        ("GET", "/api/v1/border/trips/{code}/fee", SignedIn),
        ("POST", "/api/v1/border/trips/{code}/fee", SignedIn),
        ("POST", "/api/v1/border/trips/{code}/fee/payment", SignedIn),
        ("GET", "/api/v1/border/fees/receipts/{no}", SignedIn),
        // The payment gateway: no session; the body's HMAC signature is checked inside.
        ("POST", "/api/v1/border/fees/callback", Public),
        (
            "GET",
            "/api/v1/border/fees/reconciliation",
            Perm(BorderManage),
        ),
        ("POST", "/cua-khau/chuyen/{code}/phi", SignedIn),
        // Aggregates only (no personal data): every leader, and the management board.
        ("GET", "/lanh-dao/cua-khau", Perm(LeaderDashboard)),
    ]
};

/// The module's routes; `queues` is the process's queue snapshot holder.
pub fn routes(queues: Queues) -> Router<AppState> {
    api::routes()
        .merge(pages::routes())
        .merge(leaders::routes())
        .merge(officer::officer_routes())
        .layer(axum::Extension(queues))
}

/// A queue holder with the default policy (what `tinhso serve` uses).
pub fn default_queues() -> Queues {
    Queues::new(Policy::default())
}

/// What the caller may do with a trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripAccess {
    /// The declarer (correct, book, see the pass).
    Owner,
    /// An officer of an agency at its gate (read, check passes).
    Officer,
}

/// Load a trip and check the caller may see it (404 for an unknown code; 403 otherwise).
pub async fn trip_for(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
) -> Result<(Trip, TripAccess), AppError> {
    let trip = declaration::get(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let scope = declaration::scope_of(&state.db, &trip).await?;
    let principal = ctx.principal()?;
    if principal.user_id == trip.created_by
        && tinhso_identity::authorize(Some(principal), Permission::BorderDeclare, &scope).is_ok()
    {
        return Ok((trip, TripAccess::Owner));
    }
    require(
        state,
        ctx,
        Permission::BorderInspect,
        &scope,
        &format!("border_trip:{code}"),
    )
    .await?;
    Ok((trip, TripAccess::Officer))
}

/// The owner of a trip, or a refusal.
pub async fn own_trip(state: &AppState, ctx: &ReqCtx, code: &str) -> Result<Trip, AppError> {
    match trip_for(state, ctx, code).await? {
        (t, TripAccess::Owner) => Ok(t),
        (_, TripAccess::Officer) => Err(AppError::forbidden().with_detail(
            "Chỉ người khai báo sửa được tờ khai và đặt chỗ",
            "Only the declarer corrects the declaration and books slots",
        )),
    }
}
