//! Retention jobs (thời hạn lưu): a purge of what is older than a number of days, run at
//! start and then once a day until the server stops. Used for the kept bodies of exchanges
//! ([`crate::bodies::BODIES`]) and the delivered webhooks ([`crate::webhooks::DELIVERED`]).

use tinhso_store::audit::Ctx;
use tinhso_store::{Db, DbError};

/// What one retention deletes and how its purges are audited.
pub struct Purge {
    /// `DELETE … WHERE <time column> < $1`: the cut-off is bound as `$1`.
    pub delete: &'static str,
    /// The audit entry of a purge that deleted something (`exchange.bodies_purge`, …).
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: &'static str,
    /// The audit request id of the daily job, and what its log lines call the rows.
    pub job: &'static str,
    pub what: &'static str,
}

/// Days in Unix microseconds before `now`: the cut-off of a retention of `days`.
pub fn cutoff(now: i64, days: u32) -> i64 {
    now.saturating_sub(i64::from(days).saturating_mul(86_400_000_000))
}

/// Delete what `p` keeps longer than `days` before `now` (Unix microseconds). A purge that
/// deletes something is audited (`p.action`, with the count, the days and the cut-off) in the
/// same transaction. Returns how many rows were deleted.
pub async fn purge(db: &Db, ctx: &Ctx, p: &Purge, days: u32, now: i64) -> Result<u64, DbError> {
    let cutoff = cutoff(now, days);
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(p.delete)
        .bind(cutoff)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n > 0 {
        tx.audit(&ctx.entry(
            p.action,
            p.target_type,
            p.target_id,
            "",
            serde_json::json!({ "deleted": n, "days": days, "before": cutoff }),
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// [`purge`] at start and then daily, until `stop` resolves; what it deleted is logged, a
/// failure is logged and tried again the next day. The audit actor is `system`.
pub async fn daily(
    db: Db,
    p: &'static Purge,
    days: u32,
    stop: impl std::future::Future<Output = ()>,
) {
    let ctx = Ctx::system(p.job);
    let mut every = tokio::time::interval(std::time::Duration::from_secs(86_400));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = every.tick() => {
                match purge(&db, &ctx, p, days, tinhso_store::now_micros()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, days, "{} past their retention deleted", p.what),
                    Err(e) => tracing::warn!(error = %e, "{}: retention failed", p.what),
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
