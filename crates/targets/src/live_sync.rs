//! The live provider of the national-systems connectors: the Decision 766 figure «tỷ lệ hồ sơ
//! đồng bộ lên Cổng Dịch vụ công quốc gia» (dossiers synchronised with the national
//! public-service portal), read through [`tinhso_connectors::sync::sync_rate`] for the period's
//! cut-off window and the organisation unit (the province: every agency; a commune: its
//! People's Committee; an agency: that agency — as the public-services provider). The engine
//! computes the value as `numerator / denominator × 100`.

use crate::engine::{Asked, IndicatorDef, Live, Memo, Note, Observation, OrgUnit};
use crate::live::def;
use crate::period::Window;
use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tinhso_connectors::sync::SyncRate;
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

/// A window `[from, to)` and the agencies it covers (`None`: every agency).
type WindowAgencies = (NaiveDate, NaiveDate, Option<Vec<String>>);

/// The DVCQG sync provider (đồng bộ hồ sơ lên Cổng DVCQG). It keeps the rates it computed
/// ahead ([`crate::engine::Provider::prefetch`]) for the life of its registry.
#[derive(Default)]
pub struct SyncProvider {
    rates: Memo<WindowAgencies, SyncRate>,
}

impl Live for SyncProvider {
    const NAME: &'static str = "connectors";
    const INDICATORS: &'static [IndicatorDef] = SYNC_INDICATORS;

    /// Every window's rate in two statements ([`tinhso_connectors::sync::sync_rates`]).
    fn prefetch_windows<'a>(
        &'a self,
        db: &'a Db,
        windows: Vec<Window>,
        _org: &'a OrgUnit,
        agencies: Option<Vec<String>>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        async move {
            let spans: Vec<(NaiveDate, NaiveDate)> =
                windows.iter().map(|w| (w.start, w.end)).collect();
            let rates =
                tinhso_connectors::sync::sync_rates(db, &spans, agencies.as_deref()).await?;
            for ((from, to), r) in spans.into_iter().zip(rates) {
                self.rates.insert((from, to, agencies.clone()), r);
            }
            Ok(())
        }
        .boxed()
    }

    fn measure<'a>(
        &'a self,
        db: &'a Db,
        a: Asked<'a>,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>> {
        async move {
            let (from, to) = (a.window.start, a.window.end);
            let r = self
                .rates
                .get_or(
                    (from, to, a.agencies.clone()),
                    tinhso_connectors::sync::sync_rate(db, from, to, a.agencies.as_deref()),
                )
                .await?;
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
