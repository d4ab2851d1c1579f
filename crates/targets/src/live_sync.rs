//! The live provider of the national-systems connectors: the Decision 766 figure «tỷ lệ hồ sơ
//! đồng bộ lên Cổng Dịch vụ công quốc gia» (dossiers synchronised with the national
//! public-service portal), read through [`tinhso_connectors::sync::sync_rate`] for the period's
//! cut-off window and the organisation unit (the province: every agency; a commune: its
//! People's Committee; an agency: that agency — as the public-services provider). The engine
//! computes the value as `numerator / denominator × 100`.

use crate::engine::{IndicatorDef, Observation, OrgUnit, Provider};
use crate::live::{agencies_of, def};
use crate::period::Period;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tinhso_kernel::AppError;
use tinhso_store::Db;

/// The key of the sync-rate indicator.
pub const DVCQG_SYNC: &str = "connectors.dvcqg_sync";

/// The indicators the connectors measure (key `connectors.<name>`).
pub const SYNC_INDICATORS: &[IndicatorDef] = &[def(
    DVCQG_SYNC,
    "Tỷ lệ hồ sơ đồng bộ lên Cổng Dịch vụ công quốc gia",
    "Dossiers synchronised with the national public-service portal",
    "hồ sơ tiếp nhận trong kỳ đã đồng bộ đầy đủ lên Cổng DVCQG",
    "hồ sơ tiếp nhận trong kỳ",
    true,
)];

/// The DVCQG sync provider (đồng bộ hồ sơ lên Cổng DVCQG).
#[derive(Default)]
pub struct SyncProvider;

impl Provider for SyncProvider {
    fn name(&self) -> &'static str {
        "connectors"
    }

    fn indicators(&self) -> &'static [IndicatorDef] {
        SYNC_INDICATORS
    }

    fn observe<'a>(
        &'a self,
        db: &'a Db,
        key: &'a str,
        period: Period,
        org: &'a OrgUnit,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>> {
        async move {
            let Some(def) = SYNC_INDICATORS.iter().find(|d| d.key == key) else {
                return Ok(None);
            };
            let window = period
                .window()
                .ok_or_else(|| AppError::internal(format!("period {period} has no window")))?;
            let codes = agencies_of(db, org).await?;
            let r =
                tinhso_connectors::sync::sync_rate(db, window.start, window.end, codes.as_deref())
                    .await?;
            Ok(Some(Observation::live(
                def,
                period,
                org,
                Some(r.synced as f64),
                Some(r.received as f64),
                Some(
                    "Hồ sơ mà bộ đồng bộ chưa nhận được sự kiện cũng tính là chưa đồng bộ"
                        .to_string(),
                ),
            )))
        }
        .boxed()
    }
}
