//! The authorization matrix: real accounts with roles scoped to real agencies, checked with
//! `authorize` against the resource scopes `agencies::scope_of` computes.

use super::{ctx, seeded, ubnd_xa, ROOT};
use std::collections::BTreeSet;
use tinhso_identity::accounts::{self as acc, NewAccount};
use tinhso_identity::auth;
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{authorize, Permission, Principal, ResourceScope, Role, Scope};
use tinhso_kernel::ErrorCode;
use tinhso_refdata::agencies as ag;
use tinhso_store::Db;
use Permission::*;

const PW: &str = "Mật khẩu Lạng Sơn 2026";
const SO_KHCN: &str = "000.00.06.H37";
const SO_YTE: &str = "000.00.09.H37";
const CDC: &str = "000.01.09.H37";
/// Hải quan cửa khẩu quốc tế Hữu Nghị: a central agency located in commune 06184 (Đồng Đăng).
const HQ_HUU_NGHI: &str = "000.01.01.Z37";

// The permission sets of each role, written out here as the specification.
const COMMUNE_OFFICER: &[Permission] = &[
    SelfService,
    BackOffice,
    AgencyRead,
    AgencyUpdate,
    UserRead,
    AdminUnitRead,
    DossierRead,
    DossierProcess,
];
const SPECIALIST: &[Permission] = &[
    SelfService,
    BackOffice,
    AgencyRead,
    UserRead,
    AdminUnitRead,
    DossierRead,
    DossierProcess,
];
const DEPARTMENT_LEADER: &[Permission] = &[
    SelfService,
    BackOffice,
    LeaderDashboard,
    AgencyRead,
    AgencyUpdate,
    UserRead,
    AdminUnitRead,
    AuditRead,
    DossierRead,
    DossierProcess,
    DossierApprove,
];
const PROVINCE_LEADER: &[Permission] = &[
    SelfService,
    BackOffice,
    LeaderDashboard,
    AgencyRead,
    UserRead,
    AdminUnitRead,
    AuditRead,
    DossierRead,
];
const AUDITOR: &[Permission] = &[
    SelfService,
    AuditRead,
    AuditVerify,
    AdminUnitRead,
    DossierRead,
];

async fn staff(db: &Db, username: &str, agency: &str, role: Role, scope: Scope) -> Principal {
    let created = acc::create(
        db,
        &ctx(),
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
    principal(db, &created.account.id).await
}

async fn citizen(db: &Db, cccd: &str) -> Principal {
    let created = acc::create(
        db,
        &ctx(),
        &NewAccount {
            display_name: "Hoàng Văn Dũng".into(),
            kind: "citizen".into(),
            cccd: Some(cccd.into()),
            password: PW.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    principal(db, &created.account.id).await
}

async fn principal(db: &Db, id: &str) -> Principal {
    acc::principal_of(
        &acc::get(db, id).await.unwrap().unwrap(),
        AuthMethod::Session,
    )
}

async fn scope(db: &Db, code: &str) -> ResourceScope {
    ag::scope_of(db, &ag::get(db, code).await.unwrap().unwrap())
        .await
        .unwrap()
}

fn allowed(p: &Principal, perm: Permission, res: &ResourceScope) -> bool {
    match authorize(Some(p), perm, res) {
        Ok(()) => true,
        Err(e) => {
            assert_eq!(e.code, ErrorCode::Forbidden, "{} {perm:?}", p.username);
            false
        }
    }
}

#[tokio::test]
async fn roles_by_scopes_over_real_agencies() {
    let t = seeded().await;
    let db = &t.db;
    let a = ubnd_xa(db, "05986").await; // phường Tam Thanh
    let b = ubnd_xa(db, "05977").await; // phường Đông Kinh
    let dd = ubnd_xa(db, "06184").await; // xã Đồng Đăng
    assert_eq!(a.name, "Ủy ban nhân dân phường Tam Thanh");
    assert_eq!(b.name, "Ủy ban nhân dân phường Đông Kinh");
    assert_eq!(
        scope(db, &a.code).await,
        ResourceScope {
            agencies: vec![a.code.clone(), ROOT.into()],
            commune: Some("05986".into()),
            owner_user_id: None
        }
    );
    assert_eq!(
        scope(db, ROOT).await.commune,
        None,
        "the province's unit code is not a commune"
    );
    assert_eq!(
        scope(db, CDC).await.agencies,
        vec![CDC.to_string(), SO_YTE.into(), ROOT.into()]
    );

    let resources: Vec<(&str, ResourceScope)> = vec![
        ("A", scope(db, &a.code).await),
        ("B", scope(db, &b.code).await),
        ("DD", scope(db, &dd.code).await),
        ("KHCN", scope(db, SO_KHCN).await),
        ("YTE", scope(db, SO_YTE).await),
        ("CDC", scope(db, CDC).await),
        ("ROOT", scope(db, ROOT).await),
        ("HQ", scope(db, HQ_HUU_NGHI).await),
        ("PROVINCE", ResourceScope::province()),
    ];
    let all_res: &[&str] = &[
        "A", "B", "DD", "KHCN", "YTE", "CDC", "ROOT", "HQ", "PROVINCE",
    ];

    // (principal, the permissions its role grants, the resources its scope covers)
    let matrix: Vec<(Principal, &[Permission], &[&str])> = vec![
        (
            staff(
                db,
                "xa.a",
                &a.code,
                Role::CommuneOfficer,
                Scope::Commune("05986".into()),
            )
            .await,
            COMMUNE_OFFICER,
            &["A"],
        ),
        (
            staff(
                db,
                "xa.a2",
                &a.code,
                Role::CommuneOfficer,
                Scope::Agency(a.code.clone()),
            )
            .await,
            COMMUNE_OFFICER,
            &["A"],
        ),
        (
            staff(
                db,
                "xa.b",
                &b.code,
                Role::CommuneOfficer,
                Scope::Commune("05977".into()),
            )
            .await,
            COMMUNE_OFFICER,
            &["B"],
        ),
        // Đồng Đăng's officer does not reach the central customs office located in Đồng Đăng
        (
            staff(
                db,
                "xa.dd",
                &dd.code,
                Role::CommuneOfficer,
                Scope::Commune("06184".into()),
            )
            .await,
            COMMUNE_OFFICER,
            &["DD"],
        ),
        (
            staff(
                db,
                "cv.a",
                &a.code,
                Role::Specialist,
                Scope::Agency(a.code.clone()),
            )
            .await,
            SPECIALIST,
            &["A"],
        ),
        (
            staff(
                db,
                "ld.khcn",
                SO_KHCN,
                Role::DepartmentLeader,
                Scope::Agency(SO_KHCN.into()),
            )
            .await,
            DEPARTMENT_LEADER,
            &["KHCN"],
        ),
        (
            staff(
                db,
                "ld.yte",
                SO_YTE,
                Role::DepartmentLeader,
                Scope::Agency(SO_YTE.into()),
            )
            .await,
            DEPARTMENT_LEADER,
            &["YTE", "CDC"],
        ),
        (
            staff(db, "ld.tinh", ROOT, Role::ProvinceLeader, Scope::Province).await,
            PROVINCE_LEADER,
            all_res,
        ),
        (
            staff(db, "kiemtoan", ROOT, Role::Auditor, Scope::Province).await,
            AUDITOR,
            all_res,
        ),
        (
            staff(db, "quantri", ROOT, Role::Admin, Scope::Province).await,
            Permission::ALL,
            all_res,
        ),
        (
            staff(
                db,
                "quantri.yte",
                SO_YTE,
                Role::Admin,
                Scope::Agency(SO_YTE.into()),
            )
            .await,
            Permission::ALL,
            &["YTE", "CDC"],
        ),
        (citizen(db, "020190001234").await, &[], &[]),
    ];

    let mut wrong = Vec::new();
    let mut checked = 0;
    for (p, perms, covered) in &matrix {
        for (name, res) in &resources {
            for perm in Permission::ALL {
                // Self-service is only ever on one's own account, never on an agency.
                let expected = perms.contains(perm)
                    && covered.contains(name)
                    && *perm != Permission::SelfService;
                if allowed(p, *perm, res) != expected {
                    wrong.push(format!(
                        "{} {perm:?} on {name}: expected {expected}",
                        p.username
                    ));
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 12 * 9 * Permission::ALL.len());
    assert!(
        wrong.is_empty(),
        "{} wrong decisions:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // the cases of the brief, spelled out
    let officer_a = &matrix[0].0;
    let res = |n: &str| &resources.iter().find(|(k, _)| *k == n).unwrap().1;
    assert!(authorize(Some(officer_a), AgencyUpdate, res("A")).is_ok());
    assert_eq!(
        authorize(Some(officer_a), AgencyUpdate, res("B"))
            .unwrap_err()
            .code,
        ErrorCode::Forbidden
    );
    let leader = &matrix[5].0;
    assert!(authorize(Some(leader), AgencyUpdate, res("KHCN")).is_ok());
    for commune in ["A", "B", "DD"] {
        assert_eq!(
            authorize(Some(leader), AgencyUpdate, res(commune))
                .unwrap_err()
                .code,
            ErrorCode::Forbidden
        );
    }
    let admin = &matrix[9].0;
    for (_, r) in &resources {
        for perm in Permission::ALL
            .iter()
            .filter(|p| **p != Permission::SelfService)
        {
            assert!(authorize(Some(admin), *perm, r).is_ok(), "{perm:?}");
        }
        assert!(authorize(Some(admin), Permission::SelfService, r).is_err());
    }
    // nobody signed in
    for (_, r) in &resources {
        assert_eq!(
            authorize(None, AgencyRead, r).unwrap_err().code,
            ErrorCode::Unauthenticated
        );
    }
}

#[tokio::test]
async fn own_records_and_other_peoples_records() {
    let t = seeded().await;
    let db = &t.db;
    let c1 = citizen(db, "020190001234").await;
    let c2 = citizen(db, "020195004321").await;
    let officer = staff(
        db,
        "xa.a",
        &ubnd_xa(db, "05986").await.code,
        Role::CommuneOfficer,
        Scope::Commune("05986".into()),
    )
    .await;
    let leader = staff(
        db,
        "ld.khcn",
        SO_KHCN,
        Role::DepartmentLeader,
        Scope::Agency(SO_KHCN.into()),
    )
    .await;
    let admin = staff(db, "quantri", ROOT, Role::Admin, Scope::Province).await;
    let granted = |p: &Principal, res: &ResourceScope| -> BTreeSet<&'static str> {
        Permission::ALL
            .iter()
            .filter(|perm| allowed(p, **perm, res))
            .map(|perm| perm.as_str())
            .collect()
    };
    // a citizen: self-service on the own account (and reading admin units, public anyway),
    // and declaring their own border-gate trips
    assert_eq!(
        granted(&c1, &ResourceScope::owned_by(&c1.user_id)),
        BTreeSet::from(["self_service", "admin_unit_read", "border_declare"])
    );
    assert!(granted(&c1, &ResourceScope::owned_by(&c2.user_id)).is_empty());
    assert!(granted(&c1, &ResourceScope::province()).is_empty());
    assert!(granted(&c1, &scope(db, ROOT).await).is_empty());
    // staff: self-service on the own account, nothing on a citizen's
    for p in [&officer, &leader] {
        assert!(
            granted(p, &ResourceScope::owned_by(&p.user_id)).contains("self_service"),
            "{}",
            p.username
        );
        assert!(
            granted(p, &ResourceScope::owned_by(&c1.user_id)).is_empty(),
            "{}",
            p.username
        );
    }
    // the province-wide administrator can do everything on anyone's record, except act as
    // that person (self-service)
    let admin_on_citizen = granted(&admin, &ResourceScope::owned_by(&c1.user_id));
    assert_eq!(admin_on_citizen.len(), Permission::ALL.len() - 1);
    assert!(!admin_on_citizen.contains("self_service"));
}

#[tokio::test]
async fn api_tokens_narrow_the_matrix() {
    let t = seeded().await;
    let db = &t.db;
    let admin = staff(db, "quantri", ROOT, Role::Admin, Scope::Province).await;
    let (token, _) = auth::create_token(db, &ctx(), &admin.user_id, "đồng bộ", &[AgencyRead], 30)
        .await
        .unwrap();
    let p = auth::token_principal(db, &token).await.unwrap().unwrap();
    let a = ubnd_xa(db, "05986").await;
    let res = scope(db, &a.code).await;
    for perm in Permission::ALL {
        assert_eq!(
            authorize(Some(&p), *perm, &res).is_ok(),
            *perm == AgencyRead,
            "{perm:?}"
        );
    }
    // the web layer's contact update, through the token: refused
    assert_eq!(
        authorize(Some(&p), AgencyUpdate, &res).unwrap_err().code,
        ErrorCode::Forbidden
    );
}

/// `SelfService` is "read and update one's own account": no role, however wide its scope,
/// grants it on another person's account.
#[tokio::test]
async fn self_service_is_only_for_ones_own_account() {
    let t = seeded().await;
    let db = &t.db;
    let c1 = citizen(db, "020190001234").await;
    for (name, role) in [
        ("ld.tinh", Role::ProvinceLeader),
        ("kiemtoan", Role::Auditor),
    ] {
        let p = staff(db, name, ROOT, role, Scope::Province).await;
        assert!(
            !allowed(&p, SelfService, &ResourceScope::owned_by(&c1.user_id)),
            "{name}"
        );
    }
}
