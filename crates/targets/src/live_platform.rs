//! The live provider of the platform's own use (mức độ sử dụng nền tảng): four indicators of the
//! government pillar that the platform observes in its own records, each read through the
//! owning module's public API (identity, the exchange hub) or this module's reporting tables —
//! the modules know nothing of targets:
//!
//! - `identity.staff_digital_identity`: staff accounts with a verified digital identity / active
//!   staff accounts ([`tinhso_identity::usage::staff_identity`]; the accounts as they are now,
//!   not by period);
//! - `platform.agencies_active`: agencies whose staff did work on the platform in the period
//!   (the audit trail, [`tinhso_identity::usage::agencies_acting`]) / agencies;
//! - `exchange.agencies_connected`: agencies with at least one successful exchange through the
//!   hub in the period ([`tinhso_exchange::log::agencies_exchanging`]) / agencies;
//! - `reports.regimes_digital`: reporting regimes with at least one report submitted on the
//!   platform in the period / reporting regimes.
//!
//! Units: the province (every agency of the agency list), a commune (its People's Committee),
//! an agency (that agency) — as the public-services provider.

use crate::engine::{
    Asked, IndicatorDef, Live, Memo, Note, Observation, OrgUnit, Span, WindowMemo,
};
use crate::live::{all_agencies, def};
use crate::period::{Period, Window};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tinhso_kernel::AppError;
use tinhso_services::indicators::local_midnight_micros;
use tinhso_store::{Db, DbError};

/// Staff with a verified digital identity (định danh số của cán bộ).
pub const STAFF_IDENTITY: &str = "identity.staff_digital_identity";
/// Agencies working on the platform (cơ quan hoạt động trên nền tảng).
pub const AGENCIES_ACTIVE: &str = "platform.agencies_active";
/// Agencies connected through the exchange hub (cơ quan kết nối, liên thông qua trục LGSP).
pub const AGENCIES_CONNECTED: &str = "exchange.agencies_connected";
/// Reporting regimes used digitally (chế độ báo cáo gửi, nhận trên hệ thống).
pub const REGIMES_DIGITAL: &str = "reports.regimes_digital";

/// The indicators of the platform's own use.
pub const PLATFORM_INDICATORS: &[IndicatorDef] = &[
    def(
        STAFF_IDENTITY,
        "Tỷ lệ cán bộ, công chức có định danh số đã xác thực",
        "Staff with a verified digital identity",
        "tài khoản cán bộ đang hoạt động có số CCCD, xác thực hai lớp (TOTP) đã dùng và khóa ký cá nhân còn hiệu lực",
        "tài khoản cán bộ đang hoạt động",
        false,
    ),
    def(
        AGENCIES_ACTIVE,
        "Tỷ lệ cơ quan hoạt động trên nền tảng quản trị thống nhất",
        "Agencies working on the unified platform",
        "cơ quan có cán bộ thực hiện ít nhất một thao tác nghiệp vụ được ghi nhật ký trong kỳ",
        "cơ quan trong danh mục cơ quan",
        true,
    ),
    def(
        AGENCIES_CONNECTED,
        "Tỷ lệ cơ quan kết nối, liên thông dữ liệu qua trục LGSP",
        "Agencies exchanging data through the hub",
        "cơ quan có ít nhất một lượt trao đổi dữ liệu thành công qua trục trong kỳ",
        "cơ quan trong danh mục cơ quan",
        true,
    ),
    def(
        REGIMES_DIGITAL,
        "Tỷ lệ chế độ báo cáo gửi, nhận trên hệ thống thông tin báo cáo",
        "Reporting regimes submitted digitally",
        "chế độ báo cáo có ít nhất một báo cáo gửi trên hệ thống trong kỳ",
        "chế độ báo cáo đã đăng ký trên hệ thống",
        true,
    ),
];

/// The provider of the platform's own use. The agencies acting and exchanging and the regimes
/// used are one query each for every window of a screen ([`Live::prefetch_windows`]), kept for
/// the life of its [`crate::engine::Registry`] (one page or one API call): the operations
/// centre's 65 communes of a window cost no query more, and its windows one each.
#[derive(Default)]
pub struct PlatformProvider {
    acting: WindowMemo<(), Arc<BTreeSet<String>>>,
    exchanging: WindowMemo<(), Arc<BTreeSet<String>>>,
    /// `(regimes used, regimes)` per window and the unit's agencies (`None`: every regime).
    regimes: WindowMemo<Option<Vec<String>>, (i64, i64)>,
    /// Staff identity does not depend on the period: one count per unit, not per window.
    staff: Memo<Option<Vec<String>>, tinhso_identity::usage::StaffIdentity>,
    /// The agency list, read once (the province's denominator).
    agencies: Memo<(), Arc<Vec<String>>>,
}

impl PlatformProvider {
    /// [`unit_agencies`], with the province's agency list read once per registry.
    async fn unit(&self, db: &Db, codes: Option<Vec<String>>) -> Result<Vec<String>, AppError> {
        match codes {
            Some(c) => Ok(c),
            None => {
                let all = self
                    .agencies
                    .get_or((), async { Ok(Arc::new(unit_agencies(db, None).await?)) })
                    .await?;
                Ok(all.as_ref().clone())
            }
        }
    }
}

/// The agencies of the unit: the given ones, or every agency of the list for the province.
async fn unit_agencies(db: &Db, codes: Option<Vec<String>>) -> Result<Vec<String>, AppError> {
    Ok(match codes {
        Some(c) => c,
        None => all_agencies(db)
            .await?
            .into_iter()
            .map(|a| a.code)
            .collect(),
    })
}

/// `(agencies of the unit in `seen`, agencies of the unit)`.
fn share_of(unit: &[String], seen: &BTreeSet<String>) -> (i64, i64) {
    let n = unit.iter().filter(|a| seen.contains(*a)).count();
    (n as i64, unit.len() as i64)
}

/// Windows of local dates as `[from, to)` in microseconds.
fn micros(spans: &[Span]) -> Vec<(i64, i64)> {
    spans
        .iter()
        .map(|(a, b)| (local_midnight_micros(*a), local_midnight_micros(*b)))
        .collect()
}

/// The agencies acting in each window ([`tinhso_identity::usage::agencies_acting_windows`]).
async fn acting(db: &Db, spans: Vec<Span>) -> Result<Vec<Arc<BTreeSet<String>>>, AppError> {
    let sets = tinhso_identity::usage::agencies_acting_windows(db, &micros(&spans)).await?;
    Ok(sets.into_iter().map(Arc::new).collect())
}

/// The agencies exchanging through the hub in each window
/// ([`tinhso_exchange::log::agencies_exchanging_windows`]).
async fn exchanging(db: &Db, spans: Vec<Span>) -> Result<Vec<Arc<BTreeSet<String>>>, AppError> {
    let sets = tinhso_exchange::log::agencies_exchanging_windows(db, &micros(&spans)).await?;
    Ok(sets.into_iter().map(Arc::new).collect())
}

/// The one text of the regimes used: regimes with a report submitted in each window of
/// `windows` (rows `w.i`), for `agencies` (`None`: every agency); `key` columns after `w.i`,
/// `group` extra grouping columns.
fn regimes_used_sql(windows: usize, agencies: Option<&[String]>, key: &str, group: &str) -> String {
    let filter =
        tinhso_services::indicators::agency_clause_on(agencies, 1 + 2 * windows, "t.agency_code");
    format!(
        "SELECT w.i, {key}CAST(COUNT(DISTINCT t.regime_code) AS BIGINT) FROM ({}) w \
         JOIN report_versions v ON v.at >= w.lo AND v.at < w.hi \
         JOIN report_tasks t ON t.id = v.task_id \
         WHERE v.action = 'submit'{filter} GROUP BY w.i{group}",
        tinhso_store::rollup::windows_sql(windows, 1)
    )
}

/// The one text of the regimes an agency list reports under (the denominator for a unit).
fn regimes_of_sql(agencies: &[String], key: &str, group: &str) -> String {
    let filter = tinhso_services::indicators::agency_clause_on(Some(agencies), 1, "agency_code");
    format!(
        "SELECT {key}CAST(COUNT(DISTINCT regime_code) AS BIGINT) FROM report_tasks \
         WHERE 1 = 1{filter}{group}"
    )
}

/// `(regimes with a report submitted in the window, regimes)` for each window `[from, to)`
/// (microseconds), in two statements, for `agencies` (`None`: every regime registered;
/// otherwise the regimes the agencies have report tasks under, and their own submissions).
async fn regimes_digital(
    db: &Db,
    windows: &[(i64, i64)],
    agencies: Option<&[String]>,
) -> Result<Vec<(i64, i64)>, AppError> {
    let submitted = regimes_used_sql(windows.len(), agencies, "", "");
    let mut q = sqlx::query_as::<_, (i64, i64)>(&submitted);
    for (from, to) in windows {
        q = q.bind(*from).bind(*to);
    }
    for a in agencies.unwrap_or_default() {
        q = q.bind(a);
    }
    let mut used = vec![0i64; windows.len()];
    for (i, n) in q.fetch_all(db.pool()).await.map_err(DbError::from)? {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| used.get_mut(i)) {
            *slot = n;
        }
    }
    let d = match agencies {
        None => sqlx::query_scalar::<_, i64>("SELECT CAST(COUNT(*) AS BIGINT) FROM report_regimes")
            .fetch_one(db.pool())
            .await
            .map_err(DbError::from)?,
        Some(list) => {
            let sql = regimes_of_sql(list, "", "");
            let mut q = sqlx::query_scalar::<_, i64>(&sql);
            for a in list {
                q = q.bind(a);
            }
            q.fetch_one(db.pool()).await.map_err(DbError::from)?
        }
    };
    Ok(used.into_iter().map(|n| (n, d)).collect())
}

/// [`regimes_digital`] of each agency of `agencies` alone over one window `[from, to)`, in two
/// statements grouped by agency.
async fn regimes_digital_by_agency(
    db: &Db,
    window: (i64, i64),
    agencies: &[String],
) -> Result<BTreeMap<String, (i64, i64)>, AppError> {
    let mut out: BTreeMap<String, (i64, i64)> =
        agencies.iter().map(|a| (a.clone(), (0, 0))).collect();
    if agencies.is_empty() {
        return Ok(out);
    }
    let sql = regimes_used_sql(1, Some(agencies), "t.agency_code, ", ", t.agency_code");
    let mut q = sqlx::query_as::<_, (i64, String, i64)>(&sql)
        .bind(window.0)
        .bind(window.1);
    for a in agencies {
        q = q.bind(a);
    }
    for (_, agency, n) in q.fetch_all(db.pool()).await.map_err(DbError::from)? {
        if let Some(slot) = out.get_mut(&agency) {
            slot.0 = n;
        }
    }
    let sql = regimes_of_sql(agencies, "agency_code, ", " GROUP BY agency_code");
    let mut q = sqlx::query_as::<_, (String, i64)>(&sql);
    for a in agencies {
        q = q.bind(a);
    }
    for (agency, d) in q.fetch_all(db.pool()).await.map_err(DbError::from)? {
        if let Some(slot) = out.get_mut(&agency) {
            slot.1 = d;
        }
    }
    Ok(out)
}

/// `(numerator, denominator)` of a platform indicator for each agency of `agencies` on its own
/// over `window` — the operations centre's map of the 65 People's Committees — in at most two
/// statements whatever the number of agencies (staff identity grouped by agency; the agencies
/// acting or exchanging in the window, once; the regimes used and reported under, grouped).
/// The same counts as the engine's for each agency asked alone. `None` for another key.
pub async fn counts_by_agency(
    db: &Db,
    key: &str,
    window: &Window,
    agencies: &[String],
) -> Result<Option<BTreeMap<String, (i64, i64)>>, AppError> {
    let span = vec![(window.start, window.end)];
    let one = |seen: &BTreeSet<String>| {
        agencies
            .iter()
            .map(|a| (a.clone(), share_of(std::slice::from_ref(a), seen)))
            .collect()
    };
    Ok(Some(match key {
        STAFF_IDENTITY => tinhso_identity::usage::staff_identity_by_agency(db, agencies)
            .await?
            .into_iter()
            .map(|(a, s)| (a, (s.verified, s.staff)))
            .collect(),
        AGENCIES_ACTIVE => one(&first(acting(db, span).await?)),
        AGENCIES_CONNECTED => one(&first(exchanging(db, span).await?)),
        REGIMES_DIGITAL => {
            let w = (
                local_midnight_micros(window.start),
                local_midnight_micros(window.end),
            );
            regimes_digital_by_agency(db, w, agencies).await?
        }
        _ => return Ok(None),
    }))
}

/// The set of the first (only) window.
fn first(sets: Vec<Arc<BTreeSet<String>>>) -> Arc<BTreeSet<String>> {
    sets.into_iter().next().unwrap_or_default()
}

/// A platform indicator's value from its counts, with the note the engine gives it.
pub fn observation(
    def: &IndicatorDef,
    period: Period,
    org: &OrgUnit,
    numerator: i64,
    denominator: i64,
) -> Observation {
    Observation::live(
        def,
        period,
        org,
        Some(numerator as f64),
        Some(denominator as f64),
        note(def.key),
    )
}

/// The note of each platform indicator's value (how it is counted, what it cannot see).
fn note(key: &str) -> Option<Note> {
    let (vi, en) = match key {
        STAFF_IDENTITY => (
            "Định danh số: tài khoản cán bộ đang hoạt động có đủ ba yếu tố — số CCCD \
                     ghi trên tài khoản (kiểm tra cấu trúc khi nhập, chưa đối chiếu với CSDL \
                     quốc gia về dân cư), xác thực hai lớp TOTP đã đăng nhập thành công ít \
                     nhất một lần, khóa ký cá nhân còn hiệu lực. Số liệu theo hiện trạng tài \
                     khoản, không theo kỳ.",
            "Digital identity: an active staff account with all three — a CCCD number \
                     on the account (its structure checked when entered, not verified against \
                     the national population database), a TOTP second factor used at least \
                     once to sign in, an active personal signing key. The accounts as they \
                     are now, not by period.",
        ),
        AGENCIES_ACTIVE => (
            "Thao tác nghiệp vụ: mục nhật ký kiểm toán của tài khoản cán bộ thuộc cơ \
                     quan (xử lý hồ sơ, báo cáo, cập nhật dữ liệu…); đăng nhập, đăng xuất và \
                     quản lý khóa API không tính. Việc làm ngoài nền tảng (văn bản giấy, \
                     hệ thống khác) không đo được.",
            "Work: an audit-trail entry by a staff account of the agency (dossier \
                     processing, reports, data edits…); signing in or out and managing API \
                     tokens do not count. Work done off the platform (paper, other systems) \
                     cannot be seen.",
        ),
        AGENCIES_CONNECTED => (
            "Trao đổi thành công qua trục LGSP của tỉnh (bên gọi hoặc bên cung cấp; \
                     thành viên «mã cơ quan-HỆ THỐNG» tính cho cơ quan). Kết nối trực tiếp \
                     với CSDL quốc gia không qua trục không đo được.",
            "Successful exchanges through the province's hub (as caller or provider; \
                     a member «agency code-SYSTEM» counts for its agency). Connections to \
                     national databases that bypass the hub cannot be seen.",
        ),
        REGIMES_DIGITAL => (
            "Mọi chế độ báo cáo đăng ký trên hệ thống đều có kênh gửi điện tử, nên \
                     chỉ số đo việc dùng thật: chế độ có ít nhất một báo cáo gửi trên hệ \
                     thống trong kỳ. Chế độ báo cáo còn gửi giấy mà chưa đăng ký trên hệ \
                     thống không nằm trong mẫu số.",
            "Every regime registered on the platform has a digital channel, so the \
                     indicator measures real use: regimes with at least one report submitted \
                     on the platform in the period. Regimes still sent on paper and not \
                     registered here are not in the denominator.",
        ),
        _ => return None,
    };
    Some(Note::new(vi, en))
}

impl Live for PlatformProvider {
    const NAME: &'static str = "platform";
    const INDICATORS: &'static [IndicatorDef] = PLATFORM_INDICATORS;

    /// Every window's agencies acting, agencies exchanging and regimes used: three statements
    /// (and the regimes' denominator), whatever the number of windows.
    fn prefetch_windows<'a>(
        &'a self,
        db: &'a Db,
        windows: Vec<Window>,
        _org: &'a OrgUnit,
        agencies: Option<Vec<String>>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        async move {
            self.acting.fill(&windows, (), |s| acting(db, s)).await?;
            self.exchanging
                .fill(&windows, (), |s| exchanging(db, s))
                .await?;
            let codes = agencies.as_deref();
            self.regimes
                .fill(&windows, agencies.clone(), |s| async move {
                    regimes_digital(db, &micros(&s), codes).await
                })
                .await
        }
        .boxed()
    }

    fn measure<'a>(
        &'a self,
        db: &'a Db,
        a: Asked<'a>,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>> {
        async move {
            let w = a.window;
            let (n, d) = match a.def.key {
                STAFF_IDENTITY => {
                    let s = self
                        .staff
                        .get_or(a.agencies.clone(), async {
                            Ok(
                                tinhso_identity::usage::staff_identity(db, a.agencies.as_deref())
                                    .await?,
                            )
                        })
                        .await?;
                    (s.verified, s.staff)
                }
                AGENCIES_ACTIVE => {
                    let seen = self.acting.get_batched(w, (), |s| acting(db, s)).await?;
                    let unit = self.unit(db, a.agencies.clone()).await?;
                    share_of(&unit, &seen)
                }
                AGENCIES_CONNECTED => {
                    let seen = self
                        .exchanging
                        .get_batched(w, (), |s| exchanging(db, s))
                        .await?;
                    let unit = self.unit(db, a.agencies.clone()).await?;
                    share_of(&unit, &seen)
                }
                REGIMES_DIGITAL => {
                    let codes = a.agencies.as_deref();
                    self.regimes
                        .get_batched(w, a.agencies.clone(), |s| async move {
                            regimes_digital(db, &micros(&s), codes).await
                        })
                        .await?
                }
                _ => return Ok(None),
            };
            Ok(Some(a.value(n, d, note(a.def.key))))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_counts_only_the_units_agencies() {
        let unit = vec!["A".to_string(), "B".to_string(), "C".to_string()];
        let seen: BTreeSet<String> = ["B", "X"].iter().map(|s| s.to_string()).collect();
        assert_eq!(share_of(&unit, &seen), (1, 3));
        assert_eq!(share_of(&[], &seen), (0, 0));
    }
}
