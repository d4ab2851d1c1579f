//! Shared test set-up (hỗ trợ kiểm thử) for the crates whose tests drive the public services:
//! the audit contexts, staff and citizen accounts, the Tam Thanh one-stop staff, a valid birth
//! registration and a staff transition. Compiled only for this crate's tests and behind the
//! `testing` feature, which other crates enable in their dev-dependencies; never in the product.
//!
//! The helpers panic on a failed set-up step: a test whose set-up fails must stop there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::dossier::{
    self, ActingAs, Applicant, Channel, Dossier, Receipt, Submission, TransitionInput,
};
use crate::results::Issuing;
use std::collections::BTreeMap;
use tinhso_identity::accounts::{self as acc, NewAccount};
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};
use tinhso_kernel::AppError;
use tinhso_store::audit::Ctx;
use tinhso_store::files::FileStore;
use tinhso_store::Db;

/// A password that satisfies the policy for every user name used in tests.
pub const PW: &str = "Mật khẩu Lạng Sơn 2026";
/// A valid CCCD: birth registered in Lạng Sơn (020), woman born in 1990.
pub const CCCD: &str = "020190001234";

/// Phường Tam Thanh (administrative unit) and its People's Committee (agency).
pub const TAM_THANH: &str = "05986";
pub const UBND_TAM_THANH: &str = "000.00.23.H37";
/// Phường Đông Kinh and its People's Committee.
pub const DONG_KINH: &str = "05977";
pub const UBND_DONG_KINH: &str = "000.00.21.H37";

/// Đăng ký khai sinh: commune level, 8 working hours, fees 0 + 8 000 VND, paid on submission.
pub const KHAI_SINH: &str = "1.001193";

/// The public address results issued in tests point to.
pub const PUBLIC_URL: &str = "https://dichvucong.example";

/// The context of a command-line (system) action.
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

/// The context of a request by someone not signed in.
pub fn anon() -> Ctx {
    Ctx {
        actor: "anonymous".into(),
        request_id: "req-test".into(),
    }
}

/// A staff member (cán bộ) of `agency` holding `role` in `scope`.
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

/// A signed-in citizen (công dân).
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

/// Creates the accounts of [`Staff`].
pub async fn tam_thanh_staff(db: &Db) -> Staff {
    let agency = || Scope::Agency(UBND_TAM_THANH.into());
    Staff {
        one_stop: staff(
            db,
            "motcua.tamthanh",
            UBND_TAM_THANH,
            Role::OneStopOfficer,
            agency(),
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
            agency(),
        )
        .await,
        leader: staff(
            db,
            "lanhdao.tamthanh",
            UBND_TAM_THANH,
            Role::DepartmentLeader,
            agency(),
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

/// Form values from `(field, value)` pairs.
pub fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The applicant of the test dossiers: Hoàng Thị Mai, with [`CCCD`].
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

/// Submit online without signing in.
pub async fn submit_anon(db: &Db, s: &Submission) -> Receipt {
    dossier::submit(db, &anon(), None, s).await.unwrap()
}

/// A transition `action` with `reason` and no form.
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
        let dir = std::env::temp_dir().join(format!("tinhso-testing-{}", std::process::id()));
        FileStore::local(dir, 20 * 1024 * 1024)
    })
}

/// Where results issued in tests go.
pub fn issuing() -> Issuing<'static> {
    Issuing {
        files: test_files(),
        public_url: PUBLIC_URL,
        tsa: None,
    }
}

/// A staff member takes `action` on dossier `code`.
pub async fn act(
    db: &Db,
    p: &Principal,
    code: &str,
    action: &str,
    reason: &str,
) -> Result<Dossier, AppError> {
    act_with(db, issuing(), p, code, action, reason).await
}

/// [`act`], results issued through `issuing` (e.g. with a time-stamp authority).
pub async fn act_with(
    db: &Db,
    issuing: Issuing<'_>,
    p: &Principal,
    code: &str,
    action: &str,
    reason: &str,
) -> Result<Dossier, AppError> {
    dossier::transition(
        db,
        issuing,
        &ctx_of(p),
        code,
        ActingAs::Staff(p),
        &input(action, reason),
    )
    .await
}
