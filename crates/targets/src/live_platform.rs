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

use crate::engine::{Asked, IndicatorDef, Live, Memo, Note, Observation};
use crate::live::{all_agencies, def};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::collections::BTreeSet;
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

/// A window `[from, to)` in microseconds.
type Span = (i64, i64);

/// The provider of the platform's own use. The agencies acting and exchanging in a window are
/// one query each, kept for the life of its [`crate::engine::Registry`] (one page or one API
/// call): the operations centre's 65 communes of a window cost one query, not 65.
#[derive(Default)]
pub struct PlatformProvider {
    acting: Memo<Span, Arc<BTreeSet<String>>>,
    exchanging: Memo<Span, Arc<BTreeSet<String>>>,
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

/// `(regimes with a report submitted in [from, to), regimes)` for `agencies` (`None`: every
/// regime registered; otherwise the regimes the agencies have report tasks under, and their own
/// submissions).
async fn regimes_digital(
    db: &Db,
    from: i64,
    to: i64,
    agencies: Option<&[String]>,
) -> Result<(i64, i64), AppError> {
    let filter = tinhso_services::indicators::agency_clause_on(agencies, 3, "t.agency_code");
    let submitted = format!(
        "SELECT CAST(COUNT(DISTINCT t.regime_code) AS BIGINT) FROM report_versions v \
         JOIN report_tasks t ON t.id = v.task_id \
         WHERE v.action = 'submit' AND v.at >= $1 AND v.at < $2{filter}"
    );
    let mut q = sqlx::query_scalar::<_, i64>(&submitted).bind(from).bind(to);
    for a in agencies.unwrap_or_default() {
        q = q.bind(a);
    }
    let n = q.fetch_one(db.pool()).await.map_err(DbError::from)?;
    let d = match agencies {
        None => sqlx::query_scalar::<_, i64>("SELECT CAST(COUNT(*) AS BIGINT) FROM report_regimes")
            .fetch_one(db.pool())
            .await
            .map_err(DbError::from)?,
        Some(list) => {
            let filter =
                tinhso_services::indicators::agency_clause_on(Some(list), 1, "agency_code");
            let sql = format!(
                "SELECT CAST(COUNT(DISTINCT regime_code) AS BIGINT) FROM report_tasks \
                 WHERE 1 = 1{filter}"
            );
            let mut q = sqlx::query_scalar::<_, i64>(&sql);
            for a in list {
                q = q.bind(a);
            }
            q.fetch_one(db.pool()).await.map_err(DbError::from)?
        }
    };
    Ok((n, d))
}

impl Live for PlatformProvider {
    const NAME: &'static str = "platform";
    const INDICATORS: &'static [IndicatorDef] = PLATFORM_INDICATORS;

    fn measure<'a>(
        &'a self,
        db: &'a Db,
        a: Asked<'a>,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>> {
        async move {
            let (from, to) = (
                local_midnight_micros(a.window.start),
                local_midnight_micros(a.window.end),
            );
            let (n, d, note) = match a.def.key {
                STAFF_IDENTITY => {
                    let s = self
                        .staff
                        .get_or(a.agencies.clone(), async {
                            Ok(tinhso_identity::usage::staff_identity(db, a.agencies.as_deref())
                                .await?)
                        })
                        .await?;
                    (
                        s.verified,
                        s.staff,
                        Note::new(
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
                    )
                }
                AGENCIES_ACTIVE => {
                    let seen = self
                        .acting
                        .get_or((from, to), async {
                            let s = tinhso_identity::usage::agencies_acting(db, from, to).await?;
                            Ok(Arc::new(s))
                        })
                        .await?;
                    let unit = self.unit(db, a.agencies.clone()).await?;
                    let (n, d) = share_of(&unit, &seen);
                    (
                        n,
                        d,
                        Note::new(
                            "Thao tác nghiệp vụ: mục nhật ký kiểm toán của tài khoản cán bộ thuộc cơ \
                             quan (xử lý hồ sơ, báo cáo, cập nhật dữ liệu…); đăng nhập, đăng xuất và \
                             quản lý khóa API không tính. Việc làm ngoài nền tảng (văn bản giấy, \
                             hệ thống khác) không đo được.",
                            "Work: an audit-trail entry by a staff account of the agency (dossier \
                             processing, reports, data edits…); signing in or out and managing API \
                             tokens do not count. Work done off the platform (paper, other systems) \
                             cannot be seen.",
                        ),
                    )
                }
                AGENCIES_CONNECTED => {
                    let seen = self
                        .exchanging
                        .get_or((from, to), async {
                            let s = tinhso_exchange::log::agencies_exchanging(db, from, to).await?;
                            Ok(Arc::new(s))
                        })
                        .await?;
                    let unit = self.unit(db, a.agencies.clone()).await?;
                    let (n, d) = share_of(&unit, &seen);
                    (
                        n,
                        d,
                        Note::new(
                            "Trao đổi thành công qua trục LGSP của tỉnh (bên gọi hoặc bên cung cấp; \
                             thành viên «mã cơ quan-HỆ THỐNG» tính cho cơ quan). Kết nối trực tiếp \
                             với CSDL quốc gia không qua trục không đo được.",
                            "Successful exchanges through the province's hub (as caller or provider; \
                             a member «agency code-SYSTEM» counts for its agency). Connections to \
                             national databases that bypass the hub cannot be seen.",
                        ),
                    )
                }
                REGIMES_DIGITAL => {
                    let (n, d) = regimes_digital(db, from, to, a.agencies.as_deref()).await?;
                    (
                        n,
                        d,
                        Note::new(
                            "Mọi chế độ báo cáo đăng ký trên hệ thống đều có kênh gửi điện tử, nên \
                             chỉ số đo việc dùng thật: chế độ có ít nhất một báo cáo gửi trên hệ \
                             thống trong kỳ. Chế độ báo cáo còn gửi giấy mà chưa đăng ký trên hệ \
                             thống không nằm trong mẫu số.",
                            "Every regime registered on the platform has a digital channel, so the \
                             indicator measures real use: regimes with at least one report submitted \
                             on the platform in the period. Regimes still sent on paper and not \
                             registered here are not in the denominator.",
                        ),
                    )
                }
                _ => return Ok(None),
            };
            Ok(Some(a.value(n, d, Some(note))))
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
