//! The live provider of the public-services module: the Decision 766 indicators of
//! [`tinhso_services::indicators::report`], read through its public API for the period's
//! cut-off window and the organisation unit (the province: every agency; a commune: its
//! People's Committee; an agency: that agency). The engine recomputes each value as
//! `numerator / denominator × 100` from the counts the module gives.

use crate::engine::{Asked, IndicatorDef, Kind, Live, Memo, Note, Observation, OrgUnit};
use crate::period::Window;
use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::sync::Arc;
use tinhso_kernel::{AppError, Invalid};
use tinhso_refdata::agencies;
use tinhso_services::indicators::Report;
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
            match commune_committees(db)
                .await?
                .into_iter()
                .find(|a| a.admin_unit_code.as_deref() == Some(code.as_str()))
            {
                Some(a) => Ok(Some(vec![a.code])),
                None => Err(AppError::field(
                    "org",
                    Invalid::new(
                        "commune_unknown",
                        format!("Không có Ủy ban nhân dân của đơn vị hành chính cấp xã mã {code}"),
                        format!("No commune People's Committee for the administrative unit {code}"),
                    ),
                )),
            }
        }
    }
}

/// A window `[from, to)` and the agencies it covers (`None`: every agency).
type WindowAgencies = (NaiveDate, NaiveDate, Option<Vec<String>>);

/// The public-services provider. One report gives every Decision 766 indicator of a window and
/// a unit, so the provider keeps the reports it made for the life of its
/// [`crate::engine::Registry`] (one page or one API call): the seven indicators of a window
/// cost one report.
#[derive(Default)]
pub struct ServicesProvider {
    reports: Memo<WindowAgencies, Arc<Report>>,
}

impl ServicesProvider {
    async fn report(
        &self,
        db: &Db,
        from: NaiveDate,
        to: NaiveDate,
        codes: Option<Vec<String>>,
    ) -> Result<Arc<Report>, AppError> {
        let report = async {
            let r = tinhso_services::indicators::report(db, from, to, codes.as_deref()).await?;
            Ok(Arc::new(r))
        };
        self.reports.get_or((from, to, codes.clone()), report).await
    }
}

impl Live for ServicesProvider {
    const NAME: &'static str = "services";
    const INDICATORS: &'static [IndicatorDef] = SERVICES_INDICATORS;

    /// Every window's report in one statement ([`tinhso_services::indicators::reports`]).
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
            let reports =
                tinhso_services::indicators::reports(db, &spans, agencies.as_deref()).await?;
            for ((from, to), r) in spans.into_iter().zip(reports) {
                self.reports
                    .insert((from, to, agencies.clone()), Arc::new(r));
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
            let report = self
                .report(db, a.window.start, a.window.end, a.agencies.clone())
                .await?;
            let short = a.def.key.trim_start_matches("services.");
            let Some(i) = report.total.get(short) else {
                return Ok(None);
            };
            // The module's notes come in both languages (the page picks one).
            let note = match (i.note_vi, i.note) {
                (Some(vi), Some(en)) => Some(Note::new(vi, en)),
                (None, Some(en)) => Some(Note::new(en, en)),
                (Some(vi), None) => Some(Note::new(vi, vi)),
                (None, None) => None,
            };
            Ok(Some(Observation::live(
                a.def,
                a.period,
                a.org,
                i.numerator.map(|n| n as f64),
                i.denominator.map(|d| d as f64),
                note,
            )))
        }
        .boxed()
    }
}
