use super::{
    citizen, count, counts, create, ctx, enterprise, fields, staff, valid_mst, CCCD, PW, TAM_THANH,
};
use tinhso_identity::accounts::{self as acc, NewAccount};
use tinhso_identity::authz::RoleAssignment;
use tinhso_identity::{Role, Scope};
use tinhso_kernel::validate::{self, Gender, MstKind};
use tinhso_kernel::ErrorCode;

#[test]
fn sample_identifiers_are_valid() {
    let c = validate::cccd(CCCD).unwrap();
    assert_eq!(c.number, "020190001234");
    assert_eq!(c.province_code, 20);
    assert_eq!(
        validate::cccd_province_name(c.province_code),
        Some("Lạng Sơn")
    );
    assert_eq!(c.gender, Gender::Female);
    assert_eq!(c.birth_year, 1990);
    let mst = valid_mst(12345);
    assert_eq!(mst.len(), 10);
    let m = validate::mst(&mst).unwrap();
    assert_eq!(m.canonical, mst);
    assert_eq!(m.kind, MstKind::Enterprise);
    // a wrong last digit is refused, so the helper really computes the check digit
    let last = mst.as_bytes()[9] - b'0';
    let wrong = format!("{}{}", &mst[..9], (last + 1) % 10);
    assert_eq!(validate::mst(&wrong).unwrap_err().code, "mst_check_digit");
}

#[tokio::test]
async fn citizen_signs_up_with_cccd() {
    let t = super::db().await;
    // separators people type are accepted and removed
    let c = create(&t.db, &citizen("020 190.001-234")).await;
    let a = &c.account;
    assert_eq!(a.username, CCCD);
    assert_eq!(a.cccd.as_deref(), Some(CCCD));
    assert_eq!(a.mst, None);
    assert_eq!(a.kind, "citizen");
    assert_eq!(a.display_name, "Nguyễn Thị Lan");
    assert_eq!(a.phone.as_deref(), Some("0912345678"));
    assert_eq!(a.email.as_deref(), Some("lan.nguyen@example.vn"));
    assert_eq!(a.agency_code, None);
    assert!(!a.disabled);
    assert!(!a.totp_enabled);
    assert_eq!(c.totp_uri, None);
    assert_eq!(
        a.roles,
        vec![RoleAssignment {
            role: Role::Citizen,
            scope: Scope::Own
        }]
    );
    let by_name = acc::get_by_username(&t.db, " 020190001234 ")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&by_name, a);
    // the password is stored as an argon2id hash, never in clear
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(&a.id)
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PW));
    // citizens have no signing key
    assert_eq!(count(&t.db, "signing_keys").await, 0);
}

#[tokio::test]
async fn enterprise_and_household_business_sign_up_with_mst() {
    let t = super::db().await;
    let mst = valid_mst(20001);
    let c = create(&t.db, &enterprise(&mst)).await;
    assert_eq!(c.account.username, mst);
    assert_eq!(c.account.mst.as_deref(), Some(mst.as_str()));
    assert_eq!(c.account.kind, "enterprise");
    assert_eq!(
        c.account.roles,
        vec![RoleAssignment {
            role: Role::Enterprise,
            scope: Scope::Own
        }]
    );
    // a branch tax code (13 digits) for a household business
    let hkd = format!("{}-001", valid_mst(30001));
    let mut new = enterprise(&hkd);
    new.kind = "household_business".into();
    new.display_name = "Hộ kinh doanh Vi Văn Thắng".into();
    let h = create(&t.db, &new).await;
    assert_eq!(h.account.username, hkd);
    assert_eq!(h.account.kind, "household_business");
    assert_eq!(h.account.roles[0].role, Role::Enterprise);
    assert_eq!(count(&t.db, "users").await, 2);
}

#[tokio::test]
async fn staff_get_agency_role_key_and_totp_when_needed() {
    let t = super::db().await;
    let c = create(&t.db, &staff("CanBo.TamThanh", TAM_THANH, vec![])).await;
    let a = &c.account;
    assert_eq!(a.username, "canbo.tamthanh", "user names are lower-cased");
    assert_eq!(a.kind, "staff");
    assert_eq!(a.agency_code.as_deref(), Some(TAM_THANH));
    assert_eq!(a.title.as_deref(), Some("Chuyên viên"));
    // default role: specialist within the own agency
    assert_eq!(
        a.roles,
        vec![RoleAssignment {
            role: Role::Specialist,
            scope: Scope::Agency(TAM_THANH.into())
        }]
    );
    assert!(!a.totp_enabled);
    assert_eq!(c.totp_uri, None);
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys WHERE user_id = $1")
        .bind(&a.id)
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert_eq!(keys, 1);

    let leader = create(
        &t.db,
        &staff(
            "lanhdao.tamthanh",
            TAM_THANH,
            vec![
                (Role::DepartmentLeader, Scope::Agency(TAM_THANH.into())),
                (Role::CommuneOfficer, Scope::Commune("05986".into())),
            ],
        ),
    )
    .await;
    assert!(leader.account.totp_enabled);
    let uri = leader.totp_uri.clone().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Tinh so:lanhdao.tamthanh?secret="),
        "{uri}"
    );
    let secret = tinhso_identity::auth::totp_secret_of(&t.db, &leader.account.id)
        .await
        .unwrap()
        .unwrap();
    assert!(uri.contains(&format!("secret={secret}&")));
    assert_eq!(leader.account.roles.len(), 2);
    assert!(leader.account.roles.contains(&RoleAssignment {
        role: Role::CommuneOfficer,
        scope: Scope::Commune("05986".into())
    }));
}

#[tokio::test]
async fn staff_need_a_user_name_and_an_agency() {
    let t = super::db().await;
    let mut new = staff("x", TAM_THANH, vec![]);
    new.username = None;
    new.agency_code = Some("  ".into());
    let e = acc::create(&t.db, &ctx(), &new).await.unwrap_err();
    assert_eq!(e.status(), 422);
    assert_eq!(
        fields(&e),
        vec![
            ("agency_code".into(), "required"),
            ("username".into(), "required")
        ]
    );
    let e = acc::create(&t.db, &ctx(), &staff("1abc", TAM_THANH, vec![]))
        .await
        .unwrap_err();
    assert_eq!(fields(&e), vec![("username".into(), "username_format")]);
    assert_eq!(count(&t.db, "users").await, 0);
}

/// Creating `new` a second time fails with `already_registered` on `field` and writes nothing.
async fn assert_duplicate_refused(
    t: &tinhso_store::test_support::TestDb,
    again: &NewAccount,
    field: &str,
) {
    let before = counts(&t.db).await;
    let e = acc::create(&t.db, &ctx(), again).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed, "{e}");
    assert_eq!(e.status(), 422);
    assert_eq!(fields(&e), vec![(field.to_string(), "already_registered")]);
    assert_eq!(
        counts(&t.db).await,
        before,
        "a refused duplicate must write nothing"
    );
}

#[tokio::test]
async fn duplicates_are_refused_and_write_nothing() {
    let t = super::db().await;
    create(&t.db, &citizen(CCCD)).await;
    let mst = valid_mst(40001);
    create(&t.db, &enterprise(&mst)).await;
    create(&t.db, &staff("canbo.a", TAM_THANH, vec![])).await;
    assert_eq!(count(&t.db, "users").await, 3);
    assert_eq!(count(&t.db, "audit_log").await, 3);
    assert_eq!(count(&t.db, "outbox").await, 3);

    // the same CCCD typed differently, and under another name
    let mut c = citizen("020-190-001-234");
    c.display_name = "Người khác".into();
    assert_duplicate_refused(&t, &c, "cccd").await;
    // the same MST with dots
    let dotted = format!("{}.{}.{}", &mst[..4], &mst[4..7], &mst[7..]);
    assert_duplicate_refused(&t, &enterprise(&dotted), "mst").await;
    // the same staff user name in another case, at another agency, with a TOTP role
    assert_duplicate_refused(
        &t,
        &staff(
            "CANBO.A",
            "000.00.21.H37",
            vec![(Role::Admin, Scope::Province)],
        ),
        "username",
    )
    .await;
    assert_eq!(
        tinhso_store::audit::verify(&t.db)
            .await
            .unwrap()
            .first_broken,
        None
    );
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once_and_nothing_written() {
    let t = super::db().await;
    let new = NewAccount {
        display_name: "X".into(),
        kind: "citizen".into(),
        cccd: Some("020 190 0012".into()),
        phone: Some("0912 345 67".into()),
        email: Some("lan.nguyen@@example.vn".into()),
        password: PW.into(),
        ..Default::default()
    };
    let e = acc::create(&t.db, &ctx(), &new).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert_eq!(e.status(), 422);
    assert_eq!(
        fields(&e),
        vec![
            ("display_name".into(), "too_short"),
            ("cccd".into(), "cccd_length"),
            ("phone".into(), "phone_length"),
            ("email".into(), "email_format"),
        ]
    );
    // every message says what to fix, in both languages
    assert!(e
        .fields
        .iter()
        .all(|f| !f.message_vi.is_empty() && !f.message_en.is_empty()));

    // enterprise: wrong check digit, bad phone prefix, password containing the user name
    let mst = valid_mst(50001);
    let last = mst.as_bytes()[9] - b'0';
    let wrong = format!("{}{}", &mst[..9], (last + 3) % 10);
    let new = NewAccount {
        phone: Some("0123 456 789".into()),
        email: Some("ketoan@hoahoi".into()),
        ..enterprise(&wrong)
    };
    let e = acc::create(&t.db, &ctx(), &new).await.unwrap_err();
    assert_eq!(
        fields(&e),
        vec![
            ("mst".into(), "mst_check_digit"),
            ("phone".into(), "phone_prefix"),
            ("email".into(), "email_format"),
        ]
    );
    // a citizen must give a CCCD; a short password is reported with it
    let e = acc::create(
        &t.db,
        &ctx(),
        &NewAccount {
            cccd: None,
            ..citizen(CCCD)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&e), vec![("cccd".into(), "required")]);
    let e = acc::create(
        &t.db,
        &ctx(),
        &NewAccount {
            password: format!("x{CCCD}x"),
            ..citizen(CCCD)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        fields(&e),
        vec![("password".into(), "password_contains_username")]
    );
    let e = acc::create(
        &t.db,
        &ctx(),
        &NewAccount {
            kind: "robot".into(),
            ..citizen(CCCD)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&e), vec![("kind".into(), "kind_unknown")]);

    for (table, n) in counts(&t.db).await {
        assert_eq!(n, 0, "{table} must be empty after refused sign-ups");
    }
}

#[tokio::test]
async fn staff_roles_are_refused_for_citizens_and_enterprises() {
    let t = super::db().await;
    let mut c = citizen(CCCD);
    c.roles = vec![
        RoleAssignment {
            role: Role::Citizen,
            scope: Scope::Own,
        },
        RoleAssignment {
            role: Role::CommuneOfficer,
            scope: Scope::Commune("05986".into()),
        },
        RoleAssignment {
            role: Role::Admin,
            scope: Scope::Province,
        },
    ];
    let e = acc::create(&t.db, &ctx(), &c).await.unwrap_err();
    assert_eq!(e.status(), 422);
    assert_eq!(
        fields(&e),
        vec![
            ("roles[1]".into(), "role_not_for_kind"),
            ("roles[2]".into(), "role_not_for_kind")
        ]
    );
    let mut ent = enterprise(&valid_mst(60001));
    ent.roles = vec![RoleAssignment {
        role: Role::Auditor,
        scope: Scope::Province,
    }];
    let e = acc::create(&t.db, &ctx(), &ent).await.unwrap_err();
    assert_eq!(fields(&e), vec![("roles[0]".into(), "role_not_for_kind")]);
    assert_eq!(count(&t.db, "users").await, 0);

    // granting a staff role to an existing citizen is refused too
    let citizen = create(&t.db, &citizen(CCCD)).await.account;
    let before = counts(&t.db).await;
    let e = acc::assign_role(
        &t.db,
        &ctx(),
        &citizen.id,
        &RoleAssignment {
            role: Role::DepartmentLeader,
            scope: Scope::Province,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&e), vec![("role".into(), "role_not_for_kind")]);
    assert_eq!(counts(&t.db).await, before);
    let after = acc::get(&t.db, &citizen.id).await.unwrap().unwrap();
    assert_eq!(after.roles, citizen.roles);
    assert!(!after.totp_enabled);
}

#[tokio::test]
async fn assigning_a_leader_role_to_staff_adds_totp() {
    let t = super::db().await;
    let s = create(&t.db, &staff("chuyenvien.a", TAM_THANH, vec![]))
        .await
        .account;
    assert!(!s.totp_enabled);
    let a = acc::assign_role(
        &t.db,
        &ctx(),
        &s.id,
        &RoleAssignment {
            role: Role::DepartmentLeader,
            scope: Scope::Agency(TAM_THANH.into()),
        },
    )
    .await
    .unwrap();
    assert!(a.totp_enabled);
    assert_eq!(a.roles.len(), 2);
    assert!(tinhso_identity::auth::totp_secret_of(&t.db, &s.id)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        tinhso_store::audit::list(
            &t.db,
            &tinhso_store::audit::AuditFilter {
                action: Some("user.assign_role".into()),
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .len(),
        1
    );
}

#[tokio::test]
async fn a_bad_password_is_reported_with_a_bad_identifier() {
    let t = super::db().await;
    let new = NewAccount {
        cccd: Some("12345".into()),
        password: "ngan".into(),
        ..citizen(CCCD)
    };
    let e = acc::create(&t.db, &ctx(), &new).await.unwrap_err();
    assert_eq!(
        fields(&e),
        vec![
            ("cccd".into(), "cccd_length"),
            ("password".into(), "password_short")
        ]
    );
    let mut s = staff("9sai", TAM_THANH, vec![]);
    s.password = "12345678901".into();
    let e = acc::create(&t.db, &ctx(), &s).await.unwrap_err();
    assert_eq!(
        fields(&e),
        vec![
            ("username".into(), "username_format"),
            ("password".into(), "password_digits_only")
        ]
    );
}

#[tokio::test]
async fn concurrent_duplicate_sign_ups_create_one_account() {
    let t = super::db().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            acc::create(&db, &ctx(), &citizen(CCCD)).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(c) => {
                assert_eq!(c.account.username, CCCD);
                ok += 1;
            }
            Err(e) => assert_eq!(
                fields(&e),
                vec![("cccd".into(), "already_registered")],
                "{e}"
            ),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(count(&t.db, "users").await, 1);
    assert_eq!(count(&t.db, "audit_log").await, 1);
    assert_eq!(count(&t.db, "outbox").await, 1);
    assert_eq!(
        tinhso_store::audit::verify(&t.db)
            .await
            .unwrap()
            .first_broken,
        None
    );
}

#[tokio::test]
async fn list_searches_without_diacritics_in_vietnamese_order() {
    let t = super::db().await;
    for (u, name, agency) in [
        ("nv.cuong", "Nguyễn Văn Cường", TAM_THANH),
        ("dv.an", "Đặng Văn An", TAM_THANH),
        ("dt.binh", "Dương Thị Bình", TAM_THANH),
        ("ht.dung", "Hoàng Thị Dung", "000.00.21.H37"),
    ] {
        let mut s = staff(u, agency, vec![]);
        s.display_name = name.into();
        create(&t.db, &s).await;
    }
    create(&t.db, &citizen(CCCD)).await;
    let names = |v: Vec<acc::Account>| v.into_iter().map(|a| a.display_name).collect::<Vec<_>>();
    let f = |q: Option<&str>, kind: Option<&str>| acc::AccountFilter {
        q: q.map(str::to_string),
        kind: kind.map(str::to_string),
        ..Default::default()
    };
    // Vietnamese order: D before Đ, both before H and N (code-point order would put Đ last)
    assert_eq!(
        names(acc::list(&t.db, &f(None, Some("staff"))).await.unwrap()),
        vec![
            "Dương Thị Bình",
            "Đặng Văn An",
            "Hoàng Thị Dung",
            "Nguyễn Văn Cường"
        ]
    );
    assert_eq!(
        names(acc::list(&t.db, &f(Some("dang van"), None)).await.unwrap()),
        vec!["Đặng Văn An"]
    );
    assert_eq!(
        names(acc::list(&t.db, &f(Some("CƯỜNG"), None)).await.unwrap()),
        vec!["Nguyễn Văn Cường"]
    );
    assert_eq!(
        names(acc::list(&t.db, &f(Some(CCCD), None)).await.unwrap()),
        vec!["Nguyễn Thị Lan"]
    );
    let by_agency = acc::list(
        &t.db,
        &acc::AccountFilter {
            agency_codes: Some(vec![TAM_THANH.into()]),
            limit: Some(2),
            offset: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        names(by_agency.clone()),
        vec!["Đặng Văn An", "Nguyễn Văn Cường"]
    );
    assert_eq!(by_agency[0].roles.len(), 1, "roles are loaded");
    let none = acc::AccountFilter {
        agency_codes: Some(vec![]),
        ..Default::default()
    };
    assert!(acc::list(&t.db, &none).await.unwrap().is_empty());
}
