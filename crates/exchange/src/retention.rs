//! Retention jobs (thời hạn lưu): a purge run at start and then once a day until the server
//! stops. Used for the kept bodies of exchanges ([`crate::bodies::purge_every_day`]) and the
//! delivered webhooks ([`crate::webhooks::purge_delivered_every_day`]).

use tinhso_store::audit::Ctx;
use tinhso_store::{Db, DbError};

/// Days in Unix microseconds before `now`: the cut-off of a retention of `days`.
pub fn cutoff(now: i64, days: u32) -> i64 {
    now.saturating_sub(i64::from(days).saturating_mul(86_400_000_000))
}

/// Run `purge(db, ctx, days, now)` at start and then daily, until `stop` resolves; what it
/// deleted is logged as `what`, a failure is logged and tried again the next day. `job` names
/// the purges' audit entries (actor `system`, request id `job`).
pub async fn daily<F, Fut>(
    db: Db,
    job: &'static str,
    what: &'static str,
    days: u32,
    purge: F,
    stop: impl std::future::Future<Output = ()>,
) where
    F: Fn(Db, Ctx, u32, i64) -> Fut,
    Fut: std::future::Future<Output = Result<u64, DbError>>,
{
    let mut every = tokio::time::interval(std::time::Duration::from_secs(86_400));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = every.tick() => {
                match purge(db.clone(), Ctx::system(job), days, tinhso_store::now_micros()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, days, "{what} past their retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "{what}: retention failed"),
                }
            }
            _ = &mut stop => break,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cutoff_is_days_before_now() {
        assert_eq!(super::cutoff(100 * 86_400_000_000, 30), 70 * 86_400_000_000);
        assert_eq!(super::cutoff(0, 1), -86_400_000_000);
        assert_eq!(super::cutoff(i64::MIN + 1, u32::MAX), i64::MIN, "saturates");
    }
}
