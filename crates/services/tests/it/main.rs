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
mod indicators;
mod lifecycle;
mod list;
mod notify;
mod payment;
mod results;
mod signing;
mod submit;

use std::collections::BTreeMap;
use tinhso_identity::accounts::{self as acc, NewAccount};
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_services::dossier::{
    self, ActingAs, Applicant, Channel, Dossier, Receipt, Submission, TransitionInput,
};
use tinhso_services::results::Issuing;
use tinhso_store::audit::{self, AuditEntry, AuditFilter, Ctx};
use tinhso_store::files::FileStore;
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;

/// A password that satisfies the policy for every user name used here.
pub const PW: &str = "Mật khẩu Lạng Sơn 2026";
/// A valid CCCD: birth registered in Lạng Sơn (020), woman born in 1990.
pub const CCCD: &str = "020190001234";

/// Phường Tam Thanh (administrative unit) and its People's Committee (agency).
pub const TAM_THANH: &str = "05986";
pub const UBND_TAM_THANH: &str = "000.00.23.H37";
/// Phường Đông Kinh and its People's Committee.
pub const DONG_KINH: &str = "05977";
pub const UBND_DONG_KINH: &str = "000.00.21.H37";
/// Sở Tài chính, which handles enterprise registration (2.001610).
pub const SO_TAI_CHINH: &str = "000.00.03.H37";
pub const SO_NOI_VU: &str = "000.00.02.H37";

/// Đăng ký khai sinh: commune level, 8 working hours, fees 0 + 8 000 VND, paid on submission.
pub const KHAI_SINH: &str = "1.001193";
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

pub fn sys() -> Ctx {
    Ctx {
        actor: "cli:test".into(),
        request_id: "req-test".into(),
    }
}

/// The context of a request by `p`.
pub fn ctx_of(p: &Principal) -> Ctx {
    Ctx {
        actor: p.actor(),
        request_id: "req-test".into(),
    }
}

pub fn anon() -> Ctx {
    Ctx {
        actor: "anonymous".into(),
        request_id: "req-test".into(),
    }
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

/// A staff member of `agency` holding `role` in `scope`.
pub async fn staff(db: &Db, username: &str, agency: &str, role: Role, scope: Scope) -> Principal {
    let created = acc::create(
        db,
        &sys(),
        &NewAccount {
            username: Some(username.into()),
            display_name: format!("Cán bộ {username}"),
            kind: "staff".into(),
            agency_code: Some(agency.into()),
            password: PW.into(),
            roles: vec![RoleAssignment { role, scope }],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    acc::principal_of(&created.account, AuthMethod::Session)
}

/// A signed-in citizen.
pub async fn citizen(db: &Db, cccd: &str, name: &str) -> Principal {
    let created = acc::create(
        db,
        &sys(),
        &NewAccount {
            display_name: name.into(),
            kind: "citizen".into(),
            cccd: Some(cccd.into()),
            password: PW.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    acc::principal_of(&created.account, AuthMethod::Session)
}

/// The staff of the Tam Thanh People's Committee and of Đông Kinh, as the workflow needs them.
pub struct Staff {
    /// One-stop officer of UBND phường Tam Thanh (receives and returns).
    pub one_stop: Principal,
    /// Commune officer of Tam Thanh (appraises).
    pub officer: Principal,
    /// A specialist of Tam Thanh (may process, may not approve).
    pub specialist: Principal,
    /// The leader of UBND phường Tam Thanh (approves).
    pub leader: Principal,
    /// A commune officer of Đông Kinh (no power over Tam Thanh).
    pub other_commune: Principal,
}

pub async fn tam_thanh_staff(db: &Db) -> Staff {
    Staff {
        one_stop: staff(
            db,
            "motcua.tamthanh",
            UBND_TAM_THANH,
            Role::OneStopOfficer,
            Scope::Agency(UBND_TAM_THANH.into()),
        )
        .await,
        officer: staff(
            db,
            "congchuc.tamthanh",
            UBND_TAM_THANH,
            Role::CommuneOfficer,
            Scope::Commune(TAM_THANH.into()),
        )
        .await,
        specialist: staff(
            db,
            "chuyenvien.tamthanh",
            UBND_TAM_THANH,
            Role::Specialist,
            Scope::Agency(UBND_TAM_THANH.into()),
        )
        .await,
        leader: staff(
            db,
            "lanhdao.tamthanh",
            UBND_TAM_THANH,
            Role::DepartmentLeader,
            Scope::Agency(UBND_TAM_THANH.into()),
        )
        .await,
        other_commune: staff(
            db,
            "congchuc.dongkinh",
            UBND_DONG_KINH,
            Role::CommuneOfficer,
            Scope::Commune(DONG_KINH.into()),
        )
        .await,
    }
}

pub fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn mai() -> Applicant {
    Applicant {
        kind: 0,
        name: "Hoàng Thị Mai".into(),
        id_number: CCCD.into(),
        phone: "0912 345 678".into(),
        email: String::new(),
    }
}

/// A valid birth registration (1.001193) at the People's Committee of `commune`.
pub fn birth(commune: &str) -> Submission {
    Submission {
        procedure_code: KHAI_SINH.into(),
        commune_code: Some(commune.into()),
        applicant: mai(),
        form: form(&[
            ("ho_ten_tre", "Hoàng Minh An"),
            ("ngay_sinh_tre", "10/01/2026"),
            ("gioi_tinh", "nam"),
            ("dan_toc", "tay"),
            ("noi_sinh", "Bệnh viện Đa khoa tỉnh Lạng Sơn"),
            ("que_quan", TAM_THANH),
            ("so_ban_sao", "2"),
            ("so_dien_thoai", "0912345678"),
        ]),
        channel: Channel::Online,
        idempotency_key: None,
    }
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

/// Submit online without signing in.
pub async fn submit_anon(db: &Db, s: &Submission) -> Receipt {
    dossier::submit(db, &anon(), None, s).await.unwrap()
}

pub fn input(action: &str, reason: &str) -> TransitionInput {
    TransitionInput {
        action: action.into(),
        reason: reason.into(),
        form: BTreeMap::new(),
    }
}

/// The file store the tests' results go to (one per test process, content-addressed).
pub fn test_files() -> &'static FileStore {
    static FILES: std::sync::OnceLock<FileStore> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tinhso-services-it-{}", std::process::id()));
        FileStore::local(dir, 20 * 1024 * 1024)
    })
}

pub const PUBLIC_URL: &str = "https://dichvucong.example";

/// Where results issued in tests go.
pub fn issuing() -> Issuing<'static> {
    Issuing {
        files: test_files(),
        public_url: PUBLIC_URL,
    }
}

/// A staff member takes `action`.
pub async fn act(
    db: &Db,
    p: &Principal,
    code: &str,
    action: &str,
    reason: &str,
) -> Result<Dossier, AppError> {
    dossier::transition(
        db,
        issuing(),
        &ctx_of(p),
        code,
        ActingAs::Staff(p),
        &input(action, reason),
    )
    .await
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
