//! The live provider of the border-gate module (chỉ số cửa khẩu số): the shares of
//! [`tinhso_border::indicators::shares`], read through its public API for the period's cut-off
//! window and the organisation unit (the province: every gate; a commune: the gates in it, none
//! for most communes; an agency: not broken down). The engine computes each value as
//! `numerator / denominator × 100`.

use crate::engine::{
    Asked, Batched, Breakdown, Category, Disaggregation, IndicatorDef, Note, Observation, OrgUnit,
    Span, WindowMemo,
};
use crate::live::def;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tinhso_border::indicators::{shares_by, shares_windows, ShareBy, Shares};
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

/// By gate (cửa khẩu).
const BY_GATE: Disaggregation = Disaggregation {
    key: "gate",
    name_vi: "Cửa khẩu",
    name_en: "Gate",
};
/// By the trip's quarantine class (loại kiểm dịch).
const BY_QUARANTINE: Disaggregation = Disaggregation {
    key: "quarantine",
    name_vi: "Loại kiểm dịch",
    name_en: "Quarantine class",
};

/// The disaggregations of a border indicator. Only additive counts are split: the declared
/// share by gate only (an undeclared camera read has no quarantine class), the agencies active
/// not at all (a distinct count of agencies, several gates share one).
pub fn border_disaggregations(key: &str) -> &'static [Disaggregation] {
    match key {
        "border.declared_crossings" => &[BY_GATE],
        "border.booked_crossings" | "border.fees_online" | "border.checks_on_platform" => {
            &[BY_GATE, BY_QUARANTINE]
        }
        _ => &[],
    }
}

/// A quarantine class's label: (Vietnamese, English).
fn quarantine_label(class: &str) -> (String, String) {
    fn one(c: &str) -> (&str, &str) {
        match c {
            "plant" => ("thực vật", "plant"),
            "animal" => ("động vật", "animal"),
            "none" => ("không cần kiểm dịch", "no quarantine"),
            other => (other, other),
        }
    }
    let parts: Vec<(&str, &str)> = class.split(',').map(|c| one(c.trim())).collect();
    let vi: Vec<&str> = parts.iter().map(|p| p.0).collect();
    let en: Vec<&str> = parts.iter().map(|p| p.1).collect();
    (vi.join(" + "), en.join(" + "))
}

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

/// The border-gate provider. One call counts every border share for a window and a unit (a
/// commune, `None`: the province), so the provider keeps the counts it computed (for the life of
/// its [`crate::engine::Registry`], one page or one API call): the five indicators of a window
/// cost one count, and a screen's windows one statement.
#[derive(Default)]
pub struct BorderProvider {
    counted: WindowMemo<Option<String>, Shares>,
}

impl Batched for BorderProvider {
    const NAME: &'static str = "border";
    const INDICATORS: &'static [IndicatorDef] = BORDER_INDICATORS;
    const BREAKDOWN: Breakdown = Breakdown::Unit;
    type Unit = Option<String>;
    type Counts = Shares;

    fn kept(&self) -> &WindowMemo<Self::Unit, Self::Counts> {
        &self.counted
    }

    /// The commune of a unit (`None`: the province); an agency is not broken down by gate.
    fn unit(org: &OrgUnit, _agencies: Option<Vec<String>>) -> Option<Self::Unit> {
        match org {
            OrgUnit::Province => Some(None),
            OrgUnit::Commune(c) => Some(Some(c.clone())),
            OrgUnit::Agency(_) => None,
        }
    }

    /// Every window's counts in one statement ([`shares_windows`]).
    fn count<'a>(
        db: &'a Db,
        spans: Vec<Span>,
        commune: &'a Self::Unit,
    ) -> BoxFuture<'a, Result<Vec<Self::Counts>, AppError>> {
        async move { shares_windows(db, &spans, commune.as_deref()).await }.boxed()
    }

    fn disaggregations(key: &str) -> &'static [Disaggregation] {
        border_disaggregations(key)
    }

    /// One statement over the roll-up ([`shares_by`]); a gate is labelled with its name.
    fn count_by<'a>(
        db: &'a Db,
        span: Span,
        commune: &'a Self::Unit,
        by: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Category<Self::Counts>>, AppError>> {
        async move {
            let share_by = match by {
                "gate" => ShareBy::Gate,
                "quarantine" => ShareBy::Quarantine,
                _ => return Ok(Vec::new()),
            };
            let rows = shares_by(db, span.0, span.1, commune.as_deref(), share_by).await?;
            let names: std::collections::HashMap<String, (String, String)> = match share_by {
                ShareBy::Gate => tinhso_border::gates::list(db)
                    .await?
                    .into_iter()
                    .map(|g| (g.code, (g.name_vi, g.name_en)))
                    .collect(),
                ShareBy::Quarantine => Default::default(),
            };
            Ok(rows
                .into_iter()
                .map(|(key, counts)| {
                    let (label_vi, label_en) = match names.get(&key) {
                        Some(name) => name.clone(),
                        None if share_by == ShareBy::Quarantine => quarantine_label(&key),
                        None => (key.clone(), key.clone()),
                    };
                    Category {
                        key,
                        label_vi,
                        label_en,
                        counts,
                    }
                })
                .collect())
        }
        .boxed()
    }

    fn observation(a: &Asked<'_>, s: &Self::Counts) -> Option<Observation> {
        let key = a.def.key;
        let (n, d) = fraction(key, s)?;
        Some(a.value(
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
        ))
    }
}
