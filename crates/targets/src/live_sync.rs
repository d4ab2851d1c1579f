//! The live provider of the national-systems connectors: the Decision 766 figure «tỷ lệ hồ sơ
//! đồng bộ lên Cổng Dịch vụ công quốc gia» (dossiers synchronised with the national
//! public-service portal), read through [`tinhso_connectors::sync::sync_rate`] for the period's
//! cut-off window and the organisation unit (the province: every agency; a commune: its
//! People's Committee; an agency: that agency — as the public-services provider). The engine
//! computes the value as `numerator / denominator × 100`.

use crate::engine::{Asked, Batched, IndicatorDef, Note, Observation, OrgUnit, Span, WindowMemo};
use crate::live::def;
use crate::period::Period;
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

/// The DVCQG sync provider (đồng bộ hồ sơ lên Cổng DVCQG). It keeps the rates it computed
/// ahead ([`crate::engine::Provider::prefetch`]), per window and agencies, for the life of its
/// registry.
#[derive(Default)]
pub struct SyncProvider {
    rates: WindowMemo<Option<Vec<String>>, SyncRate>,
}

impl Batched for SyncProvider {
    const NAME: &'static str = "connectors";
    const INDICATORS: &'static [IndicatorDef] = SYNC_INDICATORS;
    type Unit = Option<Vec<String>>;
    type Counts = SyncRate;

    fn kept(&self) -> &WindowMemo<Self::Unit, Self::Counts> {
        &self.rates
    }

    fn unit(_org: &OrgUnit, agencies: Option<Vec<String>>) -> Option<Self::Unit> {
        Some(agencies)
    }

    /// Every window's rate in two statements ([`tinhso_connectors::sync::sync_rates`]).
    fn count<'a>(
        db: &'a Db,
        spans: Vec<Span>,
        agencies: &'a Self::Unit,
    ) -> BoxFuture<'a, Result<Vec<Self::Counts>, AppError>> {
        async move { tinhso_connectors::sync::sync_rates(db, &spans, agencies.as_deref()).await }
            .boxed()
    }

    fn observation(a: &Asked<'_>, r: &Self::Counts) -> Option<Observation> {
        Some(observation(a.def, a.period, a.org, r))
    }
}

/// The sync rate's value for `org` over `period` from its counts, with its note (giá trị tỷ lệ
/// đồng bộ): the provider's, and the communes map's from
/// [`tinhso_connectors::sync::sync_rate_by_agency`].
pub fn observation(def: &IndicatorDef, period: Period, org: &OrgUnit, r: &SyncRate) -> Observation {
    Observation::live(
        def,
        period,
        org,
        Some(r.synced as f64),
        Some(r.received as f64),
        Some(Note::new(
            "Hồ sơ mà bộ đồng bộ chưa nhận được sự kiện cũng tính là chưa đồng bộ",
            "Dossiers the sync worker has not yet had an event for count as not synchronised",
        )),
    )
}
