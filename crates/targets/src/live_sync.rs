//! The live provider of the national-systems connectors: the Decision 766 figure «tỷ lệ hồ sơ
//! đồng bộ lên Cổng Dịch vụ công quốc gia» (dossiers synchronised with the national
//! public-service portal), read through [`tinhso_connectors::sync::sync_rate`] for the period's
//! cut-off window and the organisation unit (the province: every agency; a commune: its
//! People's Committee; an agency: that agency — as the public-services provider). The engine
//! computes the value as `numerator / denominator × 100`.

use crate::engine::{Asked, IndicatorDef, Live, Note, Observation};
use crate::live::def;
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

impl Live for SyncProvider {
    const NAME: &'static str = "connectors";
    const INDICATORS: &'static [IndicatorDef] = SYNC_INDICATORS;

    fn measure<'a>(
        &'a self,
        db: &'a Db,
        a: Asked<'a>,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>> {
        async move {
            let (from, to) = (a.window.start, a.window.end);
            let r = tinhso_connectors::sync::sync_rate(db, from, to, a.agencies.as_deref()).await?;
            Ok(Some(a.value(
                r.synced,
                r.received,
                Some(Note::new(
                    "Hồ sơ mà bộ đồng bộ chưa nhận được sự kiện cũng tính là chưa đồng bộ",
                    "Dossiers the sync worker has not yet had an event for count as not synchronised",
                )),
            )))
        }
        .boxed()
    }
}
