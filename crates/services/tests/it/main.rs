//! Public-services tests: the procedure catalogue, dossier submission, the one-stop life cycle
//! with real staff principals, signatures, audit and outbox, deadlines and dossier lists.
//! They run on SQLite by default and on PostgreSQL when `TINHSO_TEST_PG_URL` is set (each test
//! in a fresh database, migrated and seeded with the agency tree and the catalogue as
//! `tinhso::prepare` does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod attachments;
mod catalogue;
mod deadlines;
mod feedback;
mod forms;
mod group;
mod indicators;
mod lifecycle;
mod list;
mod notify;
mod pades;
mod payment;
mod read_cache;
mod results;
mod signing;
mod submit;

use tinhso_identity::accounts as acc;
use tinhso_identity::authz::AuthMethod;
use tinhso_identity::{Principal, Role, Scope};
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_services::dossier::{
    self, ActingAs, Applicant, Channel, Dossier, Receipt, Submission, TransitionInput,
};
use tinhso_store::audit::{self, AuditEntry, AuditFilter, Ctx};
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;

// The set-up shared with other crates' tests (the `testing` feature, enabled for this crate's own
// tests by its dev-dependency on itself).
pub use tinhso_services::testing::{
    act, act_with, anon, birth, citizen, ctx_of, form, input, issuing, mai, staff, submit_anon,
    sys, tam_thanh_staff, test_files, Staff, CCCD, DONG_KINH, KHAI_SINH, PUBLIC_URL, PW, TAM_THANH,
    UBND_DONG_KINH, UBND_TAM_THANH,
};

/// Take a birth registration of Tam Thanh to the leader's approval (results issued through
/// `issuing`); returns its code.
pub async fn approved_with(
    db: &Db,
    s: &Staff,
    issuing: tinhso_services::results::Issuing<'_>,
    principal: Option<&Principal>,
    decision: &str,
) -> String {
    let code = dossier::submit(db, &anon(), principal, &birth(TAM_THANH))
        .await
        .unwrap()
        .dossier
        .code;
    act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    act(db, &s.one_stop, &code, "forward", "").await.unwrap();
    act(db, &s.officer, &code, "forward", "").await.unwrap();
    act_with(db, issuing, &s.leader, &code, "approve", decision)
        .await
        .unwrap();
    code
}

/// [`approved_with`] through the tests' [`issuing`] (no time-stamp authority).
pub async fn approved(db: &Db, s: &Staff, principal: Option<&Principal>, decision: &str) -> String {
    approved_with(db, s, issuing(), principal, decision).await
}

/// Sở Tài chính, which handles enterprise registration (2.001610).
pub const SO_TAI_CHINH: &str = "000.00.03.H37";
pub const SO_NOI_VU: &str = "000.00.02.H37";

/// Cấp giấy phép xây dựng (cấp III, IV, nhà ở riêng lẻ): commune level, 15 working days,
/// 75 000 VND on acceptance.
pub const GPXD: &str = "1.013225";
/// Đăng ký thành lập doanh nghiệp tư nhân: Sở Tài chính, 3 working days, 150 000 VND.
pub const DNTN: &str = "2.001610";

/// A fresh database with every module's tables, the agency tree and the catalogue.
pub async fn env() -> TestDb {
    let t = fresh(&[
        STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_services::MIGRATIONS,
    ])
    .await;
    let agencies = tinhso_refdata::agencies::seed(&t.db, &sys()).await.unwrap();
    assert!(agencies > 60, "agency tree seeded ({agencies})");
    assert_eq!(
        tinhso_services::catalogue::seed(&t.db, &sys())
            .await
            .unwrap(),
        48
    );
    t
}

pub async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// Row counts of every table a submission or a transition writes.
pub async fn footprint(db: &Db) -> [i64; 5] {
    [
        count(db, "dossiers").await,
        count(db, "dossier_events").await,
        count(db, "dossier_counters").await,
        count(db, "audit_log").await,
        count(db, "outbox").await,
    ]
}

/// A valid building permit application (1.013225) in Tam Thanh.
pub fn building_permit() -> Submission {
    Submission {
        procedure_code: GPXD.into(),
        commune_code: Some(TAM_THANH.into()),
        applicant: mai(),
        form: form(&[
            ("ho_ten_chu_dau_tu", "Hoàng Thị Mai"),
            ("so_dinh_danh", CCCD),
            ("dia_diem", "Thửa 112, tờ bản đồ 7, khối 3"),
            ("xa_phuong", TAM_THANH),
            ("loai_cong_trinh", "nha_o_rieng_le"),
            ("dien_tich_xay_dung", "80"),
            ("tong_dien_tich_san", "240"),
            ("so_tang", "3"),
            ("chieu_cao", "12,5"),
            ("so_dien_thoai", "0912345678"),
        ]),
        channel: Channel::Online,
        idempotency_key: None,
    }
}

/// A valid sole-proprietorship registration (2.001610), handled by Sở Tài chính.
pub fn enterprise() -> Submission {
    Submission {
        procedure_code: DNTN.into(),
        commune_code: None,
        applicant: mai(),
        form: form(&[
            ("ten_doanh_nghiep", "Doanh nghiệp tư nhân Hoàng Mai"),
            ("ho_ten_chu_dn", "Hoàng Thị Mai"),
            ("so_dinh_danh_chu_dn", CCCD),
            ("tru_so", "Số 5 đường Lê Lợi"),
            ("xa_phuong_tru_so", TAM_THANH),
            ("nganh_nghe", "4711 Bán lẻ lương thực, thực phẩm"),
            ("von_dau_tu", "500000000"),
            ("so_dien_thoai", "0912345678"),
        ]),
        channel: Channel::Online,
        idempotency_key: None,
    }
}

/// The applicant (proven by the lookup code, not signed in) takes `action`.
pub async fn applicant_act(db: &Db, code: &str, t: &TransitionInput) -> Result<Dossier, AppError> {
    dossier::transition(
        db,
        issuing(),
        &anon(),
        code,
        ActingAs::Applicant {
            principal: None,
            name: "Hoàng Thị Mai",
        },
        t,
    )
    .await
}

/// Audit entries with this action, oldest first.
pub async fn audited(db: &Db, action: &str) -> Vec<AuditEntry> {
    let mut v = audit::list(
        db,
        &AuditFilter {
            action: Some(action.into()),
            limit: Some(500),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    v.reverse();
    v
}

/// `(field, code)` of every field error, in order.
pub fn fields(e: &AppError) -> Vec<(String, &'static str)> {
    e.fields.iter().map(|f| (f.field.clone(), f.code)).collect()
}

pub fn assert_code(r: Result<impl std::fmt::Debug, AppError>, code: ErrorCode) -> AppError {
    match r {
        Ok(v) => panic!("expected {code:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.code, code, "{e}");
            e
        }
    }
}

/// Micros of a local (UTC+7) time.
pub fn local_micros(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, min, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros()
        - 7 * 3600 * 1_000_000
}

pub fn ymd(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
}
