//! The live provider of the public-services module: the Decision 766 indicators of
//! [`tinhso_services::indicators::report`], read through its public API for the period's
//! cut-off window and the organisation unit (the province: every agency; a commune: its
//! People's Committee; an agency: that agency). The engine recomputes each value as
//! `numerator / denominator × 100` from the counts the module gives.

use crate::engine::{
    Asked, Batched, Category, Disaggregation, IndicatorDef, Kind, Memo, Note, Observation, OrgUnit,
    Span, WindowMemo,
};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::sync::Arc;
use tinhso_kernel::{AppError, Invalid};
use tinhso_refdata::agencies;
use tinhso_services::indicators::{AgencyIndicators, Report};
use tinhso_store::Db;

pub(crate) const fn def(
    key: &'static str,
    name_vi: &'static str,
    name_en: &'static str,
    numerator_vi: &'static str,
    denominator_vi: &'static str,
    by_period: bool,
) -> IndicatorDef {
    IndicatorDef {
        key,
        name_vi,
        name_en,
        kind: Kind::Percent,
        factor: 100.0,
        numerator_vi,
        denominator_vi,
        by_period,
    }
}

/// The indicators the services module measures (key `services.<766 key>`).
pub const SERVICES_INDICATORS: &[IndicatorDef] = &[
    def(
        "services.on_time",
        "Tỷ lệ hồ sơ giải quyết đúng hạn",
        "Dossiers settled on time",
        "hồ sơ giải quyết xong đúng hạn",
        "hồ sơ giải quyết xong trong kỳ",
        true,
    ),
    def(
        "services.online",
        "Tỷ lệ hồ sơ trực tuyến",
        "Online dossiers",
        "hồ sơ tiếp nhận trực tuyến",
        "hồ sơ tiếp nhận trong kỳ",
        true,
    ),
    def(
        "services.fully_online_procedures",
        "Tỷ lệ thủ tục cung cấp dịch vụ công trực tuyến toàn trình",
        "Procedures offered fully online",
        "thủ tục trực tuyến toàn trình đang áp dụng",
        "thủ tục đang áp dụng",
        false,
    ),
    def(
        "services.online_payment",
        "Tỷ lệ thanh toán trực tuyến",
        "Fees paid online",
        "hồ sơ có phí đã nộp trực tuyến",
        "hồ sơ có phí, lệ phí",
        true,
    ),
    def(
        "services.electronic_result",
        "Tỷ lệ hồ sơ trả kết quả điện tử",
        "Electronic results",
        "hồ sơ trả kết quả điện tử",
        "hồ sơ đã trả kết quả",
        true,
    ),
    def(
        "services.satisfaction",
        "Mức độ hài lòng",
        "Satisfaction",
        "hồ sơ không trễ hạn và không bị kiến nghị",
        "hồ sơ giải quyết xong trong kỳ",
        true,
    ),
];

/// By the level of the agency that handles the dossier (cấp cơ quan giải quyết): `commune` (the
/// communes' People's Committees) or `province` (departments, boards, centres and the central
/// agencies in the province).
const BY_LEVEL: Disaggregation = Disaggregation {
    key: "level",
    name_vi: "Cấp cơ quan giải quyết",
    name_en: "Level of the handling agency",
};

/// The disaggregations of a services indicator: the dossier counts split by agency level (each
/// dossier has one agency, so the levels' numerators add up); the procedures offered fully
/// online are a distinct count over agencies (a procedure offered by several) and do not split.
pub fn services_disaggregations(key: &str) -> &'static [Disaggregation] {
    match key {
        "services.fully_online_procedures" => &[],
        _ if key.starts_with("services.") => &[BY_LEVEL],
        _ => &[],
    }
}

/// `report` keeping only the agencies of `level` (`commune`: People's Committees of the
/// communes, `province`: the others) and with their sums as its total: the dossier counts of
/// each indicator added up, the value recomputed by the engine from them.
fn report_of_level(report: &Report, committees: &[String], level: &str) -> Report {
    let rows: Vec<&AgencyIndicators> = report
        .agencies
        .iter()
        .filter(|a| {
            let commune = a
                .agency_code
                .as_ref()
                .is_some_and(|c| committees.contains(c));
            commune == (level == "commune")
        })
        .collect();
    let indicators = report
        .total
        .indicators
        .iter()
        .map(|i| {
            let sum = |f: fn(&tinhso_services::indicators::Indicator) -> Option<i64>| {
                rows.iter()
                    .filter_map(|a| a.get(i.key).and_then(f))
                    .reduce(|x, y| x + y)
                    .or(f(i).map(|_| 0))
            };
            let numerator = sum(|x| x.numerator);
            let denominator = sum(|x| x.denominator);
            tinhso_services::indicators::Indicator {
                numerator,
                denominator,
                value: match (numerator, denominator) {
                    (Some(n), Some(d)) => tinhso_services::indicators::percent(n, d),
                    _ => None,
                },
                score: None,
                ..i.clone()
            }
        })
        .collect();
    Report {
        agencies: Vec::new(),
        total: AgencyIndicators {
            agency_code: None,
            agency_name: level.to_string(),
            indicators,
        },
        ..report.clone()
    }
}

/// The communes' People's Committees (UBND xã), each with its administrative unit.
pub async fn commune_committees(db: &Db) -> Result<Vec<agencies::Agency>, AppError> {
    Ok(agencies::list(
        db,
        &agencies::AgencyFilter {
            kind: Some("ubnd_xa".into()),
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await?)
}

/// Every agency of the agency list (danh mục cơ quan).
pub async fn all_agencies(db: &Db) -> Result<Vec<agencies::Agency>, AppError> {
    Ok(agencies::list(
        db,
        &agencies::AgencyFilter {
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await?)
}

/// Agency codes of an organisation unit (`None`: the whole province).
pub async fn agencies_of(db: &Db, org: &OrgUnit) -> Result<Option<Vec<String>>, AppError> {
    Units::default().agencies_of(db, org).await
}

/// The organisation units' agencies (cơ quan của đơn vị), read once for the life of a
/// [`crate::engine::Registry`] (one page or one API call): the communes map asks for 65 units,
/// and the communes' People's Committees are one list.
#[derive(Default)]
pub struct Units {
    committees: Memo<(), Arc<Vec<agencies::Agency>>>,
}

impl Units {
    /// The communes' People's Committees ([`commune_committees`]), read on first use.
    pub async fn committees(&self, db: &Db) -> Result<Arc<Vec<agencies::Agency>>, AppError> {
        self.committees
            .get_or((), async { Ok(Arc::new(commune_committees(db).await?)) })
            .await
    }

    /// Agency codes of an organisation unit (`None`: the whole province).
    pub async fn agencies_of(
        &self,
        db: &Db,
        org: &OrgUnit,
    ) -> Result<Option<Vec<String>>, AppError> {
        match org {
            OrgUnit::Province => Ok(None),
            OrgUnit::Agency(code) => match agencies::get(db, code).await? {
                Some(a) => Ok(Some(vec![a.code])),
                None => Err(AppError::field(
                    "org",
                    Invalid::new(
                        "agency_unknown",
                        format!("Không có cơ quan mã {code}"),
                        format!("No agency has the code {code}"),
                    ),
                )),
            },
            OrgUnit::Commune(code) => {
                match self
                    .committees(db)
                    .await?
                    .iter()
                    .find(|a| a.admin_unit_code.as_deref() == Some(code.as_str()))
                {
                    Some(a) => Ok(Some(vec![a.code.clone()])),
                    None => Err(AppError::field(
                        "org",
                        Invalid::new(
                            "commune_unknown",
                            format!(
                                "Không có Ủy ban nhân dân của đơn vị hành chính cấp xã mã {code}"
                            ),
                            format!(
                                "No commune People's Committee for the administrative unit {code}"
                            ),
                        ),
                    )),
                }
            }
        }
    }
}

/// The public-services provider. One report gives every Decision 766 indicator of a window and
/// a unit (its agencies, `None`: every agency), so the provider keeps the reports it made for
/// the life of its [`crate::engine::Registry`] (one page or one API call): the seven indicators
/// of a window cost one report, and a screen's windows one statement.
#[derive(Default)]
pub struct ServicesProvider {
    reports: WindowMemo<Option<Vec<String>>, Arc<Report>>,
}

impl Batched for ServicesProvider {
    const NAME: &'static str = "services";
    const INDICATORS: &'static [IndicatorDef] = SERVICES_INDICATORS;
    type Unit = Option<Vec<String>>;
    type Counts = Arc<Report>;

    fn kept(&self) -> &WindowMemo<Self::Unit, Self::Counts> {
        &self.reports
    }

    fn unit(_org: &OrgUnit, agencies: Option<Vec<String>>) -> Option<Self::Unit> {
        Some(agencies)
    }

    /// Every window's report in one statement ([`tinhso_services::indicators::reports`]).
    fn count<'a>(
        db: &'a Db,
        spans: Vec<Span>,
        agencies: &'a Self::Unit,
    ) -> BoxFuture<'a, Result<Vec<Self::Counts>, AppError>> {
        async move {
            let reports =
                tinhso_services::indicators::reports(db, &spans, agencies.as_deref()).await?;
            Ok(reports.into_iter().map(Arc::new).collect())
        }
        .boxed()
    }

    fn disaggregations(key: &str) -> &'static [Disaggregation] {
        services_disaggregations(key)
    }

    /// The window's report (one statement, as [`Batched::count`]) split by agency level from
    /// its per-agency counts: no query per level.
    fn count_by<'a>(
        db: &'a Db,
        span: Span,
        agencies: &'a Self::Unit,
        by: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Category<Self::Counts>>, AppError>> {
        async move {
            if by != BY_LEVEL.key {
                return Ok(Vec::new());
            }
            let report =
                tinhso_services::indicators::report(db, span.0, span.1, agencies.as_deref())
                    .await?;
            let committees: Vec<String> = commune_committees(db)
                .await?
                .into_iter()
                .map(|a| a.code)
                .collect();
            Ok([
                ("commune", "Cấp xã", "Commune level"),
                (
                    "province",
                    "Cấp tỉnh (sở, ban, ngành, cơ quan trung ương tại tỉnh)",
                    "Province level (departments, boards, central agencies in the province)",
                ),
            ]
            .into_iter()
            .map(|(key, vi, en)| Category {
                key: key.to_string(),
                label_vi: vi.to_string(),
                label_en: en.to_string(),
                counts: Arc::new(report_of_level(&report, &committees, key)),
            })
            .collect())
        }
        .boxed()
    }

    fn observation(a: &Asked<'_>, report: &Self::Counts) -> Option<Observation> {
        let short = a.def.key.trim_start_matches("services.");
        let i = report.total.get(short)?;
        // The module's notes come in both languages (the page picks one).
        let note = match (i.note_vi, i.note) {
            (Some(vi), Some(en)) => Some(Note::new(vi, en)),
            (None, Some(en)) => Some(Note::new(en, en)),
            (Some(vi), None) => Some(Note::new(vi, vi)),
            (None, None) => None,
        };
        Some(Observation::live(
            a.def,
            a.period,
            a.org,
            i.numerator.map(|n| n as f64),
            i.denominator.map(|d| d as f64),
            note,
        ))
    }
}
