//! The live provider of the border-gate module (chỉ số cửa khẩu số): the shares of
//! [`tinhso_border::indicators::shares`], read through its public API for the period's cut-off
//! window and the organisation unit (the province: every gate; a commune: the gates in it, none
//! for most communes; an agency: not broken down). The engine computes each value as
//! `numerator / denominator × 100`.

use crate::engine::{Asked, Breakdown, IndicatorDef, Live, Memo, Note, Observation, OrgUnit};
use crate::live::def;
use crate::period::Window;
use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tinhso_border::indicators::{shares, shares_windows, Shares};
use tinhso_kernel::AppError;
use tinhso_store::Db;

/// The indicators the border module measures (key `border.<name>`).
pub const BORDER_INDICATORS: &[IndicatorDef] = &[
    def(
        "border.declared_crossings",
        "Tỷ lệ lượt xe qua cửa khẩu đã khai báo trên nền tảng",
        "Crossings declared on the platform",
        "lượt xe đã khai báo qua cửa khẩu trong kỳ",
        "lượt xe qua cửa khẩu (đã khai báo và camera ghi nhận chưa khai báo)",
        true,
    ),
    def(
        "border.booked_crossings",
        "Tỷ lệ lượt xe qua cửa khẩu có đặt lịch",
        "Crossings with a slot booking",
        "lượt xe qua cửa khẩu đã dùng lịch đặt",
        "lượt xe đã khai báo qua cửa khẩu trong kỳ",
        true,
    ),
    def(
        "border.fees_online",
        "Tỷ lệ lượt xe nộp phí hạ tầng trực tuyến",
        "Crossings with the fee paid online",
        "lượt xe qua cửa khẩu đã nộp phí trên nền tảng",
        "lượt xe đã khai báo qua cửa khẩu trong kỳ",
        true,
    ),
    def(
        "border.checks_on_platform",
        "Tỷ lệ kiểm tra, giám sát ghi nhận trên nền tảng",
        "Inspections recorded on the platform",
        "lượt kiểm tra đã quyết định trên nền tảng",
        "lượt kiểm tra các xe qua cửa khẩu phải có",
        true,
    ),
    def(
        "border.agencies_active",
        "Tỷ lệ cơ quan tại cửa khẩu dùng nền tảng",
        "Gate agencies working on the platform",
        "cơ quan tại cửa khẩu có quyết định kiểm tra trong kỳ",
        "cơ quan có mặt tại các cửa khẩu",
        true,
    ),
];

/// (numerator, denominator) of `key` from the counts.
pub fn fraction(key: &str, s: &Shares) -> Option<(i64, i64)> {
    Some(match key {
        "border.declared_crossings" => (s.crossed, s.all_crossings()),
        "border.booked_crossings" => (s.crossed_booked, s.crossed),
        "border.fees_online" => (s.crossed_fee_paid, s.crossed),
        "border.checks_on_platform" => (s.checks_recorded, s.checks_required),
        "border.agencies_active" => (s.agencies_active, s.gate_agencies),
        _ => return None,
    })
}

/// A window `[from, to)` and a commune (`None`: the province).
type WindowUnit = (NaiveDate, NaiveDate, Option<String>);

/// The border-gate provider. One call counts every border share for a window and a unit, so
/// the provider keeps the counts it computed (for the life of its [`crate::engine::Registry`],
/// one page or one API call): the five indicators of a window cost one count.
#[derive(Default)]
pub struct BorderProvider {
    counted: Memo<WindowUnit, Shares>,
}

impl BorderProvider {
    async fn shares(
        &self,
        db: &Db,
        from: NaiveDate,
        to: NaiveDate,
        commune: Option<&str>,
    ) -> Result<Shares, AppError> {
        let key = (from, to, commune.map(str::to_string));
        self.counted
            .get_or(key, shares(db, from, to, commune))
            .await
    }
}

impl Live for BorderProvider {
    const NAME: &'static str = "border";
    const INDICATORS: &'static [IndicatorDef] = BORDER_INDICATORS;
    const BREAKDOWN: Breakdown = Breakdown::Unit;

    /// Every window's counts in one statement ([`shares_windows`]).
    fn prefetch_windows<'a>(
        &'a self,
        db: &'a Db,
        windows: Vec<Window>,
        org: &'a OrgUnit,
        _agencies: Option<Vec<String>>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        async move {
            let commune = match org {
                OrgUnit::Province => None,
                OrgUnit::Commune(c) => Some(c.as_str()),
                OrgUnit::Agency(_) => return Ok(()),
            };
            let spans: Vec<(NaiveDate, NaiveDate)> =
                windows.iter().map(|w| (w.start, w.end)).collect();
            let counted = shares_windows(db, &spans, commune).await?;
            for ((from, to), s) in spans.into_iter().zip(counted) {
                self.counted
                    .insert((from, to, commune.map(str::to_string)), s);
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
            let commune = match a.org {
                OrgUnit::Province => None,
                OrgUnit::Commune(c) => Some(c.as_str()),
                OrgUnit::Agency(_) => return Ok(None),
            };
            let s = self
                .shares(db, a.window.start, a.window.end, commune)
                .await?;
            let key = a.def.key;
            let Some((n, d)) = fraction(key, &s) else {
                return Ok(None);
            };
            Ok(Some(a.value(
                n,
                d,
                (key == "border.declared_crossings").then(|| {
                    Note::new(
                        "Xe qua cửa khẩu chưa khai báo: lượt camera tại làn qua cửa khẩu không \
                         khớp tờ khai nào và chưa được cán bộ gắn vào chuyến (ước tính)",
                        "Undeclared crossings: camera reads at the crossing lanes that match no \
                         declaration and that no officer has attached to a trip (an estimate)",
                    )
                }),
            )))
        }
        .boxed()
    }
}
