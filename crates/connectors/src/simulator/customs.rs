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
