//! The indicators engine: an indicator is `numerator / denominator × factor` (as in DHIS2) over
//! a period ([`Period`], with the Decree 09/2019 cut-off windows) and an organisation unit
//! ([`OrgUnit`]: the province, a commune, an agency). Values come from [`Provider`]s: live ones
//! that modules register (here [`crate::live::ServicesProvider`], the Decision 766 set of the
//! public-services module, [`crate::live_border::BorderProvider`], the border gate's shares,
//! [`crate::live_sync::SyncProvider`], the DVCQG sync rate of the connectors, and
//! [`crate::live_platform::PlatformProvider`], the platform's own use: staff identity, agencies
//! active, data exchange, digital reports) and
//! [`crate::reported::ReportedProvider`], the values agencies enter. Callers ask the [`Registry`]; they never read a module's tables.

use crate::period::{Period, Window};
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Mutex;
use tinhso_kernel::{AppError, Invalid};
use tinhso_store::Db;

/// What a target's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A share, 0–100 %.
    Percent,
    /// Growth in % a year, −100 to 1000.
    Rate,
    /// A rank among the provinces, 1–63 (a whole number).
    Rank,
    /// Done or not: 0 or 100.
    Boolean,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "percent" => Some(Kind::Percent),
            "rate" => Some(Kind::Rate),
            "rank" => Some(Kind::Rank),
            "boolean" => Some(Kind::Boolean),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Percent => "percent",
            Kind::Rate => "rate",
            Kind::Rank => "rank",
            Kind::Boolean => "boolean",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Kind::Percent => "%",
            Kind::Rate => "%/năm",
            Kind::Rank => "hạng",
            Kind::Boolean => "đạt = 100",
        }
    }

    /// Ranks are better when lower; everything else when higher.
    pub fn default_direction(self) -> Direction {
        match self {
            Kind::Rank => Direction::AtMost,
            _ => Direction::AtLeast,
        }
    }

    /// The range rule of the kind, as `(rule, vi, en)` when `v` breaks it.
    pub fn rule(self, v: f64) -> Option<(&'static str, String, String)> {
        if !v.is_finite() {
            return Some((
                "number",
                "Quy tắc «số»: giá trị phải là một số".into(),
                "Rule “number”: the value must be a number".into(),
            ));
        }
        match self {
            Kind::Percent if !(0.0..=100.0).contains(&v) => Some((
                "range",
                "Quy tắc «phạm vi»: tỷ lệ phải từ 0 đến 100 (%)".into(),
                "Rule “range”: a share must be between 0 and 100 (%)".into(),
            )),
            Kind::Rate if !(-100.0..=1000.0).contains(&v) => Some((
                "range",
                "Quy tắc «phạm vi»: tốc độ tăng phải từ −100 đến 1000 (%/năm)".into(),
                "Rule “range”: a growth rate must be between −100 and 1000 (% a year)".into(),
            )),
            Kind::Rank if !(1.0..=63.0).contains(&v) || v.fract() != 0.0 => Some((
                "rank",
                "Quy tắc «thứ hạng»: thứ hạng là số nguyên từ 1 đến 63".into(),
                "Rule “rank”: a rank is a whole number from 1 to 63".into(),
            )),
            Kind::Boolean if v != 0.0 && v != 100.0 => Some((
                "boolean",
                "Quy tắc «đạt/chưa đạt»: giá trị là 100 (đạt) hoặc 0 (chưa đạt)".into(),
                "Rule “done or not”: the value is 100 (done) or 0 (not done)".into(),
            )),
            _ => None,
        }
    }

    /// `Err((vi, en))` when `v` is outside the kind's range.
    pub fn check(self, v: f64) -> Result<(), (String, String)> {
        match self.rule(v) {
            Some((_, vi, en)) => Err((vi, en)),
            None => Ok(()),
        }
    }
}

/// Whether a target is reached at or above its value, or at or below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    AtLeast,
    AtMost,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "at_least" => Some(Direction::AtLeast),
            "at_most" => Some(Direction::AtMost),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::AtLeast => "at_least",
            Direction::AtMost => "at_most",
        }
    }
}

/// An organisation unit: the dimension a value is broken down by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrgUnit {
    Province,
    /// A commune-level unit (administrative-unit code, 5 digits).
    Commune(String),
    /// An agency (agency code).
    Agency(String),
}

impl OrgUnit {
    /// `province`, `commune:05986`, `agency:000.00.23.H37`.
    pub fn parse(s: &str) -> Option<OrgUnit> {
        let s = s.trim();
        if s.is_empty() || s == "province" {
            return Some(OrgUnit::Province);
        }
        match s.split_once(':') {
            Some(("commune", c)) if c.len() == 5 && c.bytes().all(|b| b.is_ascii_digit()) => {
                Some(OrgUnit::Commune(c.into()))
            }
            Some(("agency", a)) if !a.is_empty() && a.len() <= 40 => {
                Some(OrgUnit::Agency(a.into()))
            }
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            OrgUnit::Province => "province",
            OrgUnit::Commune(_) => "commune",
            OrgUnit::Agency(_) => "agency",
        }
    }

    pub fn code(&self) -> &str {
        match self {
            OrgUnit::Province => "",
            OrgUnit::Commune(c) | OrgUnit::Agency(c) => c,
        }
    }
}

impl fmt::Display for OrgUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrgUnit::Province => f.write_str("province"),
            OrgUnit::Commune(c) => write!(f, "commune:{c}"),
            OrgUnit::Agency(a) => write!(f, "agency:{a}"),
        }
    }
}

/// How an indicator is computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorDef {
    pub key: &'static str,
    pub name_vi: &'static str,
    pub name_en: &'static str,
    pub kind: Kind,
    /// `value = numerator / denominator × factor`.
    pub factor: f64,
    pub numerator_vi: &'static str,
    pub denominator_vi: &'static str,
    /// Whether the value depends on the period (the procedure catalogue does not).
    pub by_period: bool,
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Measured by the platform from its own records.
    Live,
    /// Entered by an agency.
    Reported,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Live => "live",
            Source::Reported => "reported",
        }
    }
}

/// One value of an indicator for a period and an organisation unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub indicator: String,
    pub period: String,
    pub org: String,
    pub source: Source,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    /// `numerator / denominator × factor`, one decimal; `null` when the denominator is 0 or
    /// the provider cannot measure it (see `note`).
    pub value: Option<f64>,
    /// Reported values: the version (1, 2, …); live values: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// A limit or approximation of the measure (ghi chú), in Vietnamese; a reported value's
    /// note as the agency wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A live value's note in English, shown on English pages (`note` on Vietnamese ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note_en: Option<String>,
    /// A reported indicator's province figure made from agencies' approved values: how many
    /// agencies it covers and how they were combined ([`crate::province`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::province::Coverage>,
}

impl Observation {
    /// A value measured by the platform: `numerator / denominator × factor` when both are known.
    pub fn live(
        def: &IndicatorDef,
        period: Period,
        org: &OrgUnit,
        numerator: Option<f64>,
        denominator: Option<f64>,
        note: Option<Note>,
    ) -> Self {
        let (note, note_en) = match note {
            Some(n) => (Some(n.vi), Some(n.en)),
            None => (None, None),
        };
        Observation {
            indicator: def.key.to_string(),
            period: period.to_string(),
            org: org.to_string(),
            source: Source::Live,
            numerator,
            denominator,
            value: match (numerator, denominator) {
                (Some(n), Some(d)) => ratio(n, d, def.factor),
                _ => None,
            },
            version: None,
            note,
            note_en,
            coverage: None,
        }
    }

    /// The note in the page's language (`en`: English when there is one).
    pub fn note_in(&self, en: bool) -> Option<&str> {
        match (&self.note_en, en) {
            (Some(e), true) => Some(e),
            _ => self.note.as_deref(),
        }
    }
}

/// A live value's note (ghi chú) in Vietnamese and English.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub vi: String,
    pub en: String,
}

impl Note {
    pub fn new(vi: &str, en: &str) -> Self {
        Note {
            vi: vi.to_string(),
            en: en.to_string(),
        }
    }
}

/// A disaggregation (phân tổ) an indicator supports: a dimension besides period and unit whose
/// categories split the numerator and the denominator (e.g. the border shares by gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Disaggregation {
    /// The key asked for (`gate`, `quarantine`).
    pub key: &'static str,
    pub name_vi: &'static str,
    pub name_en: &'static str,
}

/// One category of a disaggregation (nhóm phân tổ) and its counts, as a provider gives them.
pub struct Category<C> {
    /// The category's key (a gate code, `plant`).
    pub key: String,
    pub label_vi: String,
    pub label_en: String,
    pub counts: C,
}

/// One category's value: `numerator / denominator × factor` as for the total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryValue {
    pub category: String,
    pub label_vi: String,
    pub label_en: String,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
}

/// An indicator's value for a period and a unit broken down by a disaggregation (giá trị theo
/// phân tổ): the total and one value per category; the categories' numerators add up to the
/// total's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disaggregated {
    pub indicator: String,
    pub period: String,
    pub org: String,
    /// The disaggregation's key.
    pub by: String,
    pub name_vi: String,
    pub name_en: String,
    /// The undivided value (`null` when there is none).
    pub total: Option<Observation>,
    pub categories: Vec<CategoryValue>,
}

/// Whether a live provider breaks its values down by the unit's agencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    /// Resolve the unit's agencies ([`crate::live::Units::agencies_of`]).
    Agencies,
    /// The provider reads the unit itself.
    Unit,
}

/// What a live provider is asked (câu hỏi cho một chỉ số trực tuyến), once the prologue every
/// `observe` shares is done: the definition of the key, the period's cut-off window and, for
/// [`Breakdown::Agencies`], the unit's agencies (`None`: every agency).
pub struct Asked<'a> {
    pub def: &'static IndicatorDef,
    pub period: Period,
    pub org: &'a OrgUnit,
    pub window: Window,
    pub agencies: Option<Vec<String>>,
}

impl Asked<'_> {
    /// The prologue: `Ok(None)` when `key` is not among `defs`; an error for a period without a
    /// window or an unknown unit.
    pub async fn new<'a>(
        db: &Db,
        units: &crate::live::Units,
        defs: &'static [IndicatorDef],
        key: &str,
        period: Period,
        org: &'a OrgUnit,
        breakdown: Breakdown,
    ) -> Result<Option<Asked<'a>>, AppError> {
        let Some(def) = defs.iter().find(|d| d.key == key) else {
            return Ok(None);
        };
        let window = period
            .window()
            .ok_or_else(|| AppError::internal(format!("period {period} has no window")))?;
        let agencies = match breakdown {
            Breakdown::Agencies => units.agencies_of(db, org).await?,
            Breakdown::Unit => None,
        };
        Ok(Some(Asked {
            def,
            period,
            org,
            window,
            agencies,
        }))
    }

    /// The live value `numerator / denominator`.
    pub fn value(&self, numerator: i64, denominator: i64, note: Option<Note>) -> Observation {
        Observation::live(
            self.def,
            self.period,
            self.org,
            Some(numerator as f64),
            Some(denominator as f64),
            note,
        )
    }
}

/// Round to one decimal.
pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// `numerator / denominator × factor`, one decimal; `None` for an empty denominator.
pub fn ratio(numerator: f64, denominator: f64, factor: f64) -> Option<f64> {
    (denominator > 0.0).then(|| round1(numerator * factor / denominator))
}

/// A source of indicator values. Modules implement it and are listed in
/// [`Registry::standard`].
pub trait Provider: Send + Sync {
    /// A short name (`services`, `reported`).
    fn name(&self) -> &'static str;
    /// The indicators it measures (empty for providers whose indicators are data).
    fn indicators(&self) -> &'static [IndicatorDef];
    /// Whether it answers for `key`.
    fn handles(&self, key: &str) -> bool {
        self.indicators().iter().any(|d| d.key == key)
    }
    /// The value of `key` for `period` and `org`; `Ok(None)` when there is none. `units`: the
    /// registry's units' agencies, read once per registry.
    fn observe<'a>(
        &'a self,
        db: &'a Db,
        units: &'a crate::live::Units,
        key: &'a str,
        period: Period,
        org: &'a OrgUnit,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>>;
    /// Compute ahead, in as few statements as it can, what `observe` will be asked for `org`
    /// over the windows of `periods`, and keep it for the life of the [`Registry`] (a screen that
    /// shows many windows then pays one query per provider, not one per window). Default:
    /// nothing ahead, `observe` computes on demand. The values are the same either way.
    fn prefetch<'a>(
        &'a self,
        _db: &'a Db,
        _units: &'a crate::live::Units,
        _periods: &'a [Period],
        _org: &'a OrgUnit,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(async { Ok(()) })
    }
    /// The disaggregations `key` supports (default: none).
    fn disaggregations(&self, _key: &str) -> &'static [Disaggregation] {
        &[]
    }
    /// The value of `key` for `period` and `org`, one per category of the disaggregation `by`
    /// (one of [`Provider::disaggregations`]); empty when there is none.
    fn observe_by<'a>(
        &'a self,
        _db: &'a Db,
        _units: &'a crate::live::Units,
        _key: &'a str,
        _period: Period,
        _org: &'a OrgUnit,
        _by: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CategoryValue>, AppError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A live provider (nguồn số liệu trực tuyến): a module's indicators measured from its records.
/// Every live provider is a [`Provider`] through one implementation that does the prologue
/// they share — the key's definition, the period's window, the unit's agencies ([`Asked`]) —
/// so a live provider only measures.
pub trait Live: Send + Sync {
    /// A short name (`services`, `border`).
    const NAME: &'static str;
    /// The indicators it measures.
    const INDICATORS: &'static [IndicatorDef];
    /// Whether it breaks values down by the unit's agencies (most do).
    const BREAKDOWN: Breakdown = Breakdown::Agencies;
    /// The value asked for; `Ok(None)` when there is none.
    fn measure<'a>(
        &'a self,
        db: &'a Db,
        asked: Asked<'a>,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>>;
    /// [`Provider::prefetch`] for the distinct `windows`, with the unit's agencies resolved as
    /// for [`Live::measure`] (`None`: every agency, or [`Breakdown::Unit`]). Default: nothing.
    fn prefetch_windows<'a>(
        &'a self,
        _db: &'a Db,
        _windows: Vec<Window>,
        _org: &'a OrgUnit,
        _agencies: Option<Vec<String>>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(async { Ok(()) })
    }
    /// [`Provider::disaggregations`].
    fn disaggregations(_key: &str) -> &'static [Disaggregation] {
        &[]
    }
    /// [`Provider::observe_by`] once the prologue is done. Default: none.
    fn measure_by<'a>(
        &'a self,
        _db: &'a Db,
        _asked: Asked<'a>,
        _by: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CategoryValue>, AppError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A live provider whose module counts every window of a screen in one call (the services
/// report, the border shares, the DVCQG sync rate): it names the call and how a value reads
/// from its counts; keeping the counts per window and unit, computing them ahead for a screen
/// ([`Live::prefetch_windows`]) and one window's value ([`Live::measure`]) are written once, here.
pub trait Batched: Send + Sync {
    /// A short name (`services`, `border`).
    const NAME: &'static str;
    /// The indicators it measures.
    const INDICATORS: &'static [IndicatorDef];
    /// Whether it breaks values down by the unit's agencies (most do).
    const BREAKDOWN: Breakdown = Breakdown::Agencies;
    /// What a window's counts are kept for: the unit's agencies, a commune…
    type Unit: Eq + Hash + Clone + Send + Sync;
    /// A window's counts.
    type Counts: Clone + Send + Sync;
    /// Where the counts are kept (for the life of the registry).
    fn kept(&self) -> &WindowMemo<Self::Unit, Self::Counts>;
    /// The unit of `org` (`agencies`: its agencies, resolved for [`Breakdown::Agencies`]);
    /// `None`: the provider measures nothing for `org`.
    fn unit(org: &OrgUnit, agencies: Option<Vec<String>>) -> Option<Self::Unit>;
    /// The counts of every span `[from, to)` for `unit`, in the order given.
    fn count<'a>(
        db: &'a Db,
        spans: Vec<Span>,
        unit: &'a Self::Unit,
    ) -> BoxFuture<'a, Result<Vec<Self::Counts>, AppError>>;
    /// The value asked for, from its window's counts; `None` when there is none.
    fn observation(asked: &Asked<'_>, counts: &Self::Counts) -> Option<Observation>;
    /// [`Provider::disaggregations`] (default: none).
    fn disaggregations(_key: &str) -> &'static [Disaggregation] {
        &[]
    }
    /// The counts of the span for `unit`, one per category of the disaggregation `by`, in one
    /// statement. Default: none.
    fn count_by<'a>(
        _db: &'a Db,
        _span: Span,
        _unit: &'a Self::Unit,
        _by: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Category<Self::Counts>>, AppError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

impl<T: Batched> Live for T {
    const NAME: &'static str = <T as Batched>::NAME;
    const INDICATORS: &'static [IndicatorDef] = <T as Batched>::INDICATORS;
    const BREAKDOWN: Breakdown = <T as Batched>::BREAKDOWN;

    fn measure<'a>(
        &'a self,
        db: &'a Db,
        a: Asked<'a>,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>> {
        Box::pin(async move {
            let Some(unit) = T::unit(a.org, a.agencies.clone()) else {
                return Ok(None);
            };
            let key = unit.clone();
            let counts = self
                .kept()
                .get_batched(a.window, key, |spans| T::count(db, spans, &unit))
                .await?;
            Ok(T::observation(&a, &counts))
        })
    }

    fn disaggregations(key: &str) -> &'static [Disaggregation] {
        <T as Batched>::disaggregations(key)
    }

    /// Each category's value read from its counts as the total's ([`Batched::observation`]).
    fn measure_by<'a>(
        &'a self,
        db: &'a Db,
        a: Asked<'a>,
        by: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CategoryValue>, AppError>> {
        Box::pin(async move {
            let Some(unit) = T::unit(a.org, a.agencies.clone()) else {
                return Ok(Vec::new());
            };
            let categories = T::count_by(db, (a.window.start, a.window.end), &unit, by).await?;
            Ok(categories
                .into_iter()
                .filter_map(|c| {
                    let o = T::observation(&a, &c.counts)?;
                    Some(CategoryValue {
                        category: c.key,
                        label_vi: c.label_vi,
                        label_en: c.label_en,
                        numerator: o.numerator,
                        denominator: o.denominator,
                        value: o.value,
                    })
                })
                .collect())
        })
    }

    fn prefetch_windows<'a>(
        &'a self,
        db: &'a Db,
        windows: Vec<Window>,
        org: &'a OrgUnit,
        agencies: Option<Vec<String>>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(async move {
            let Some(unit) = T::unit(org, agencies) else {
                return Ok(());
            };
            let key = unit.clone();
            self.kept()
                .fill(&windows, key, |spans| T::count(db, spans, &unit))
                .await
        })
    }
}

impl<T: Live> Provider for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn indicators(&self) -> &'static [IndicatorDef] {
        T::INDICATORS
    }

    fn observe<'a>(
        &'a self,
        db: &'a Db,
        units: &'a crate::live::Units,
        key: &'a str,
        period: Period,
        org: &'a OrgUnit,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>> {
        Box::pin(async move {
            match Asked::new(db, units, T::INDICATORS, key, period, org, T::BREAKDOWN).await? {
                Some(asked) => self.measure(db, asked).await,
                None => Ok(None),
            }
        })
    }

    fn prefetch<'a>(
        &'a self,
        db: &'a Db,
        units: &'a crate::live::Units,
        periods: &'a [Period],
        org: &'a OrgUnit,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(async move {
            let mut windows: Vec<Window> = Vec::new();
            for w in periods.iter().filter_map(|p| p.window()) {
                if !windows.contains(&w) {
                    windows.push(w);
                }
            }
            if windows.is_empty() {
                return Ok(());
            }
            let agencies = match T::BREAKDOWN {
                Breakdown::Agencies => units.agencies_of(db, org).await?,
                Breakdown::Unit => None,
            };
            self.prefetch_windows(db, windows, org, agencies).await
        })
    }

    fn disaggregations(&self, key: &str) -> &'static [Disaggregation] {
        T::disaggregations(key)
    }

    fn observe_by<'a>(
        &'a self,
        db: &'a Db,
        units: &'a crate::live::Units,
        key: &'a str,
        period: Period,
        org: &'a OrgUnit,
        by: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CategoryValue>, AppError>> {
        Box::pin(async move {
            match Asked::new(db, units, T::INDICATORS, key, period, org, T::BREAKDOWN).await? {
                Some(asked) => self.measure_by(db, asked, by).await,
                None => Ok(Vec::new()),
            }
        })
    }
}

/// The providers, asked in order.
pub struct Registry {
    providers: Vec<Box<dyn Provider>>,
    /// The province's reported values, read once for the life of the registry.
    province_reported: Memo<(), std::sync::Arc<crate::reported::ProvinceReported>>,
    /// The page view the registry serves: each daily roll-up is brought up to date once in it
    /// ([`tinhso_store::rollup::View`]), however many sums the providers make.
    view: tinhso_store::rollup::View,
    /// The units' agencies, read once for the life of the registry.
    units: crate::live::Units,
}

impl Registry {
    pub fn new(providers: Vec<Box<dyn Provider>>) -> Self {
        Self {
            providers,
            province_reported: Memo::default(),
            view: tinhso_store::rollup::View::new(),
            units: crate::live::Units::default(),
        }
    }

    /// Run a module's read that sums a daily roll-up (outside a provider: the communes map) in
    /// this registry's page view, so it shares the view's one refresh per roll-up.
    pub async fn in_view<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.view.run(fut).await
    }

    /// The units' agencies this registry reads once (the communes' People's Committees).
    pub fn units(&self) -> &crate::live::Units {
        &self.units
    }

    /// The roll-ups this registry's view has brought up to date.
    pub fn rollups_checked(&self) -> Vec<String> {
        self.view.checked()
    }

    /// Every value reported for the province and the periods with approved agency values
    /// ([`crate::reported::ProvinceReported`]), read on first use and kept for the life of the
    /// registry (one page or one API call).
    pub async fn province_reported(
        &self,
        db: &Db,
    ) -> Result<std::sync::Arc<crate::reported::ProvinceReported>, AppError> {
        self.province_reported
            .get_or((), async {
                Ok(std::sync::Arc::new(
                    crate::reported::ProvinceReported::load(db).await?,
                ))
            })
            .await
    }

    /// The platform's providers: public services, the border gate, the DVCQG sync and the
    /// platform's own use (live), then reported values.
    pub fn standard() -> Self {
        Self::new(vec![
            Box::<crate::live::ServicesProvider>::default(),
            Box::new(crate::live_border::BorderProvider::default()),
            Box::<crate::live_sync::SyncProvider>::default(),
            Box::<crate::live_platform::PlatformProvider>::default(),
            Box::new(crate::reported::ReportedProvider),
        ])
    }

    pub fn provider(&self, key: &str) -> Option<&dyn Provider> {
        self.providers
            .iter()
            .find(|p| p.handles(key))
            .map(|p| p.as_ref())
    }

    /// The definition of a live indicator.
    pub fn definition(&self, key: &str) -> Option<&'static IndicatorDef> {
        self.providers
            .iter()
            .flat_map(|p| p.indicators().iter())
            .find(|d| d.key == key)
    }

    /// Every live indicator.
    pub fn definitions(&self) -> Vec<&'static IndicatorDef> {
        self.providers
            .iter()
            .flat_map(|p| p.indicators().iter())
            .collect()
    }

    /// Ask every provider that measures one of `keys` to compute ahead its values for `org` over
    /// `periods` ([`Provider::prefetch`]), so the `observe` calls that follow read kept values.
    pub async fn prefetch(
        &self,
        db: &Db,
        keys: &[&str],
        periods: &[Period],
        org: &OrgUnit,
    ) -> Result<(), AppError> {
        for p in &self.providers {
            if keys.iter().any(|k| p.handles(k)) {
                self.view
                    .run(p.prefetch(db, &self.units, periods, org))
                    .await?;
            }
        }
        Ok(())
    }

    /// The value of `key` for `period` and `org`.
    pub async fn observe(
        &self,
        db: &Db,
        key: &str,
        period: Period,
        org: &OrgUnit,
    ) -> Result<Option<Observation>, AppError> {
        match self.provider(key) {
            Some(p) => {
                self.view
                    .run(p.observe(db, &self.units, key, period, org))
                    .await
            }
            None => Err(AppError::field(
                "indicator",
                Invalid::new(
                    "indicator_unknown",
                    format!("Không có chỉ số {key}"),
                    format!("No indicator has the key {key}"),
                ),
            )),
        }
    }

    /// The disaggregations `key` supports (empty for an unknown key).
    pub fn disaggregations(&self, key: &str) -> &'static [Disaggregation] {
        self.provider(key).map_or(&[], |p| p.disaggregations(key))
    }

    /// The value of `key` for `period` and `org` broken down by the disaggregation `by`: the
    /// total and one value per category. A disaggregation the indicator does not support is a
    /// 422 on `by` naming those it does.
    pub async fn observe_by(
        &self,
        db: &Db,
        key: &str,
        period: Period,
        org: &OrgUnit,
        by: &str,
    ) -> Result<Disaggregated, AppError> {
        let total = self.observe(db, key, period, org).await?;
        let supported = self.disaggregations(key);
        let Some(d) = supported.iter().find(|d| d.key == by) else {
            let names: Vec<&str> = supported.iter().map(|d| d.key).collect();
            let (vi, en) = if names.is_empty() {
                (
                    format!("Quy tắc «phân tổ»: chỉ số {key} không phân tổ được"),
                    format!("Rule “disaggregation”: the indicator {key} has no disaggregation"),
                )
            } else {
                (
                    format!(
                        "Quy tắc «phân tổ»: chỉ số {key} chỉ phân tổ theo {}",
                        names.join(", ")
                    ),
                    format!(
                        "Rule “disaggregation”: the indicator {key} is broken down only by {}",
                        names.join(", ")
                    ),
                )
            };
            return Err(AppError::field(
                "by",
                Invalid::new("disaggregation", vi, en),
            ));
        };
        let categories = match self.provider(key) {
            Some(p) => {
                self.view
                    .run(p.observe_by(db, &self.units, key, period, org, by))
                    .await?
            }
            None => Vec::new(),
        };
        Ok(Disaggregated {
            indicator: key.to_string(),
            period: period.to_string(),
            org: org.to_string(),
            by: d.key.to_string(),
            name_vi: d.name_vi.to_string(),
            name_en: d.name_en.to_string(),
            total,
            categories,
        })
    }
}

/// The live indicator with this key, among the standard providers.
pub fn live_indicator(key: &str) -> Option<&'static IndicatorDef> {
    crate::live::SERVICES_INDICATORS
        .iter()
        .chain(crate::live_border::BORDER_INDICATORS)
        .chain(crate::live_sync::SYNC_INDICATORS)
        .chain(crate::live_platform::PLATFORM_INDICATORS)
        .find(|d| d.key == key)
}

/// What a provider computed once for a key (a window and a unit) and keeps for the life of its
/// [`Registry`] — one page or one API call (kết quả tính một lần cho mỗi kỳ và đơn vị).
pub struct Memo<K, V> {
    kept: Mutex<HashMap<K, V>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self {
            kept: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// Keep `value` for `key` (computed ahead, [`Provider::prefetch`]).
    pub fn insert(&self, key: K, value: V) {
        if let Ok(mut m) = self.kept.lock() {
            m.insert(key, value);
        }
    }

    /// The kept value for `key`, or `compute`'s, then kept.
    pub async fn get_or<F>(&self, key: K, compute: F) -> Result<V, AppError>
    where
        F: std::future::Future<Output = Result<V, AppError>>,
    {
        if let Some(v) = self.kept.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(v);
        }
        let v = compute.await?;
        if let Ok(mut m) = self.kept.lock() {
            m.insert(key, v.clone());
        }
        Ok(v)
    }
}

/// A window `[from, to)` as its first day and the day after its last.
pub type Span = (chrono::NaiveDate, chrono::NaiveDate);

/// What a live provider computes for many windows at once (tính trước cho mọi kỳ) and keeps per
/// window and unit `U` for the life of its [`Registry`]: [`WindowMemo::fill`] from
/// [`Live::prefetch_windows`], one statement for every window of a screen; [`WindowMemo::get`]
/// from [`Live::measure`], the kept value or one computed for that window alone.
pub struct WindowMemo<U, V> {
    kept: Memo<(Span, U), V>,
}

impl<U, V> Default for WindowMemo<U, V> {
    fn default() -> Self {
        Self {
            kept: Memo::default(),
        }
    }
}

impl<U: Eq + Hash + Clone, V: Clone> WindowMemo<U, V> {
    /// Compute the values of every window of `windows` for `unit` in one call — `batch` is
    /// given the spans in order and returns one value per span — and keep them.
    pub async fn fill<F, Fut>(&self, windows: &[Window], unit: U, batch: F) -> Result<(), AppError>
    where
        F: FnOnce(Vec<Span>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<V>, AppError>>,
    {
        let spans: Vec<Span> = windows.iter().map(|w| (w.start, w.end)).collect();
        let values = batch(spans.clone()).await?;
        for (span, v) in spans.into_iter().zip(values) {
            self.kept.insert((span, unit.clone()), v);
        }
        Ok(())
    }

    /// The kept value of `window` for `unit`, or `one`'s (that window alone), then kept.
    pub async fn get<Fut>(&self, window: Window, unit: U, one: Fut) -> Result<V, AppError>
    where
        Fut: std::future::Future<Output = Result<V, AppError>>,
    {
        self.kept
            .get_or(((window.start, window.end), unit), one)
            .await
    }

    /// [`WindowMemo::get`] with the one window computed by the same `batch` as
    /// [`WindowMemo::fill`] (for providers whose module has no single-window call).
    pub async fn get_batched<F, Fut>(
        &self,
        window: Window,
        unit: U,
        batch: F,
    ) -> Result<V, AppError>
    where
        F: FnOnce(Vec<Span>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<V>, AppError>>,
    {
        let one = async {
            batch(vec![(window.start, window.end)])
                .await?
                .pop()
                .ok_or_else(|| AppError::internal("window memo: no value for the window"))
        };
        self.get(window, unit, one).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(from: (i32, u32, u32), to: (i32, u32, u32)) -> Window {
        let d = |(y, m, d): (i32, u32, u32)| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        Window {
            start: d(from),
            end: d(to),
        }
    }

    #[tokio::test]
    async fn a_window_memo_keeps_what_one_batch_computed() {
        let memo: WindowMemo<Option<String>, i64> = WindowMemo::default();
        let year = window((2025, 12, 15), (2026, 12, 15));
        let month = window((2026, 10, 15), (2026, 11, 15));
        let calls = std::sync::atomic::AtomicUsize::new(0);
        memo.fill(&[year, month], None, |spans| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Ok(spans.iter().map(|(a, b)| (*b - *a).num_days()).collect()) }
        })
        .await
        .unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Kept: the single-window computation is not run.
        let got = memo
            .get(month, None, async { Err(AppError::internal("not kept")) })
            .await
            .unwrap();
        assert_eq!(got, 31);
        assert_eq!(memo.get(year, None, async { Ok(0) }).await.unwrap(), 365);
        // Another unit is not the same value: computed alone.
        let other = memo.get(month, Some("x".into()), async { Ok(-1) }).await;
        assert_eq!(other.unwrap(), -1);
    }

    #[test]
    fn ratio_is_numerator_over_denominator_times_factor() {
        assert_eq!(ratio(1.0, 3.0, 100.0), Some(33.3));
        assert_eq!(ratio(2.0, 3.0, 100.0), Some(66.7));
        assert_eq!(ratio(5.0, 0.0, 100.0), None);
        assert_eq!(ratio(3.0, 4.0, 1000.0), Some(750.0));
    }

    #[test]
    fn kinds_have_ranges_that_name_their_rule() {
        assert!(Kind::Percent.rule(100.0).is_none());
        assert_eq!(Kind::Percent.rule(100.1).unwrap().0, "range");
        assert_eq!(Kind::Percent.rule(-0.5).unwrap().0, "range");
        assert_eq!(Kind::Rank.rule(4.5).unwrap().0, "rank");
        assert_eq!(Kind::Rank.rule(0.0).unwrap().0, "rank");
        assert!(Kind::Rank.rule(63.0).is_none());
        assert_eq!(Kind::Boolean.rule(50.0).unwrap().0, "boolean");
        assert!(Kind::Rate.rule(-20.0).is_none());
        assert_eq!(Kind::Rate.rule(f64::NAN).unwrap().0, "number");
        let (_, vi, en) = Kind::Percent.rule(120.0).unwrap();
        assert!(vi.contains("phạm vi") && en.contains("range"));
    }

    #[test]
    fn org_units_parse() {
        assert_eq!(OrgUnit::parse("province"), Some(OrgUnit::Province));
        assert_eq!(
            OrgUnit::parse("commune:05986"),
            Some(OrgUnit::Commune("05986".into()))
        );
        assert_eq!(
            OrgUnit::parse("agency:000.00.23.H37").unwrap().to_string(),
            "agency:000.00.23.H37"
        );
        assert_eq!(OrgUnit::parse("commune:5986"), None);
        assert_eq!(OrgUnit::parse("district:1"), None);
    }
}
