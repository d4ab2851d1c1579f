//! The procedure catalogue: seeding, the shipped data, search, versioned updates.

use super::*;
use tinhso_kernel::text;
use tinhso_services::catalogue::{self, Procedure, TimeLimit, TimeUnit};

fn sample_procedure() -> Procedure {
    catalogue::shipped()
        .unwrap()
        .into_iter()
        .find(|p| p.code == GPXD)
        .unwrap()
}

#[tokio::test]
async fn seed_loads_all_48_once() {
    let t = env().await;
    assert_eq!(count(&t.db, "procedures").await, 48);
    assert_eq!(count(&t.db, "procedure_current").await, 48);
    let seeded = audited(&t.db, "procedure.seed").await;
    assert_eq!(seeded.len(), 1);
    assert_eq!(seeded[0].summary, r#"{"added":48}"#);
    let before = footprint(&t.db).await;
    // Again: nothing added, nothing audited.
    assert_eq!(catalogue::seed(&t.db, &sys()).await.unwrap(), 0);
    assert_eq!(count(&t.db, "procedures").await, 48);
    assert_eq!(footprint(&t.db).await, before);
    let v = catalogue::current(&t.db, KHAI_SINH).await.unwrap().unwrap();
    assert_eq!(v.version, 1);
    assert!(v.active);
    assert_eq!(v.procedure.name, "Đăng ký khai sinh");
    assert_eq!(v.procedure.total_fee(), 8000);
    assert_eq!(
        v.procedure.time_limit,
        TimeLimit {
            unit: TimeUnit::WorkingHours,
            value: 8
        }
    );
    assert!(catalogue::current(&t.db, "1.999999")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn every_shipped_procedure_is_valid_and_handled_by_a_real_agency() {
    let t = env().await;
    let all = catalogue::shipped().unwrap();
    assert_eq!(all.len(), 48);
    let mut codes = std::collections::HashSet::new();
    let agencies = tinhso_refdata::agencies::list(&t.db, &Default::default())
        .await
        .unwrap();
    for p in &all {
        p.check()
            .unwrap_or_else(|e| panic!("{} {}: {e}", p.code, p.name));
        assert!(codes.insert(p.code.clone()), "duplicate code {}", p.code);
        assert_eq!(p.workflow.len(), 4, "{}", p.code);
        assert_eq!(p.workflow[0].step, "tiep_nhan", "{}", p.code);
        assert!(p.fee_timing == "on_accept" || p.fee_timing == "on_submit");
        match (p.level.as_str(), &p.agency.kind, &p.agency.name) {
            ("xa", Some(k), None) => assert_eq!(k, "ubnd_xa", "{}", p.code),
            ("tinh", None, Some(name)) => assert!(
                agencies.iter().any(|a| &a.name == name),
                "{}: agency {name:?} not in the agency tree",
                p.code
            ),
            other => panic!("{}: level/agency mismatch {other:?}", p.code),
        }
        // The stored definition round-trips.
        let stored = catalogue::version(&t.db, &p.code, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&stored, p);
    }
    assert_eq!(all.iter().filter(|p| p.level == "xa").count(), 28);
    assert_eq!(all.iter().filter(|p| p.level == "tinh").count(), 20);
}

#[tokio::test]
async fn search_ranks_the_procedure_people_mean_first() {
    let t = env().await;
    for q in ["khai sinh", "Khai Sinh", "  KHAI   SINH ", "khai sinh"] {
        let hits = catalogue::search(&t.db, q, None, None).await.unwrap();
        assert_eq!(hits[0].code, KHAI_SINH, "{q:?}: {:?}", names(&hits));
        assert_eq!(hits[0].name, "Đăng ký khai sinh");
        assert!(hits.len() >= 4, "{q:?}: {:?}", names(&hits));
        for h in &hits {
            let key = text::fold(&format!("{} {} {}", h.name, h.sector, h.code));
            assert!(key.contains("khai") && key.contains("sinh"), "{}", h.name);
        }
    }
    let hits = catalogue::search(&t.db, "giay phep xay dung", None, None)
        .await
        .unwrap();
    assert!(
        text::fold(&hits[0].name).starts_with("cap giay phep xay dung"),
        "{:?}",
        names(&hits)
    );
    assert_eq!(hits[0].sector, "Hoạt động xây dựng");
    let mut codes: Vec<&str> = hits.iter().map(|h| h.code.as_str()).collect();
    codes.sort_unstable();
    assert_eq!(codes, ["1.013225", "1.013227", "9.999002"]);

    let hits = catalogue::search(&t.db, "ho kinh doanh", None, None)
        .await
        .unwrap();
    let first = text::fold(&hits[0].name);
    assert!(
        first.starts_with("dang ky") && first.contains("ho kinh doanh"),
        "{:?}",
        names(&hits)
    );
    assert_eq!(hits[0].code, "1.001612", "{:?}", names(&hits));
    assert_eq!(hits.len(), 6, "{:?}", names(&hits));

    // The code finds its procedure; nonsense finds nothing.
    let hits = catalogue::search(&t.db, "1.001193", None, None)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].code, KHAI_SINH);
    assert!(catalogue::search(&t.db, "khai sinh xyzzy", None, None)
        .await
        .unwrap()
        .is_empty());
}

fn names(h: &[catalogue::Summary]) -> Vec<&str> {
    h.iter().map(|s| s.name.as_str()).collect()
}

#[tokio::test]
async fn level_and_sector_filters() {
    let t = env().await;
    let all = catalogue::search(&t.db, "", None, None).await.unwrap();
    assert_eq!(all.len(), 48);
    // Empty query: Vietnamese alphabetical order.
    for w in all.windows(2) {
        assert_ne!(
            text::cmp_vi(&w[0].name, &w[1].name),
            std::cmp::Ordering::Greater
        );
    }
    let tinh = catalogue::search(&t.db, "", Some("tinh"), None)
        .await
        .unwrap();
    assert_eq!(tinh.len(), 20);
    assert!(tinh.iter().all(|s| s.level == "tinh"));
    let xa = catalogue::search(&t.db, "", Some("xa"), None)
        .await
        .unwrap();
    assert_eq!(xa.len(), 28);
    assert!(xa.iter().all(|s| s.level == "xa"));
    let ho_tich = catalogue::search(&t.db, "", None, Some("Hộ tịch"))
        .await
        .unwrap();
    assert_eq!(ho_tich.len(), 11);
    assert!(ho_tich.iter().all(|s| s.sector == "Hộ tịch"));
    assert!(catalogue::search(&t.db, "", Some("huyen"), None)
        .await
        .unwrap()
        .is_empty());
    // Query and filters together.
    let gp_xa = catalogue::search(&t.db, "giấy phép xây dựng", Some("xa"), None)
        .await
        .unwrap();
    let mut codes: Vec<&str> = gp_xa.iter().map(|s| s.code.as_str()).collect();
    codes.sort_unstable();
    assert_eq!(codes, ["1.013225", "1.013227"]);
    let gp_tinh = catalogue::search(
        &t.db,
        "giấy phép xây dựng",
        Some("tinh"),
        Some("Hoạt động xây dựng"),
    )
    .await
    .unwrap();
    assert_eq!(gp_tinh.len(), 1);
    assert_eq!(gp_tinh[0].code, "9.999002");
    assert!(catalogue::search(&t.db, "khai sinh", Some("tinh"), None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn update_writes_a_new_version_audited_with_before_and_after() {
    let t = env().await;
    let admin = staff(
        &t.db,
        "quantri",
        "000.00.06.H37",
        Role::Admin,
        Scope::Province,
    )
    .await;
    let mut p = sample_procedure();
    p.time_limit = TimeLimit {
        unit: TimeUnit::WorkingDays,
        value: 20,
    };
    p.fees[0].amount_vnd = 150_000;
    let audits = count(&t.db, "audit_log").await;
    let v = catalogue::update(&t.db, &ctx_of(&admin), &p).await.unwrap();
    assert_eq!(v, 2);
    let cur = catalogue::current(&t.db, GPXD).await.unwrap().unwrap();
    assert_eq!(cur.version, 2);
    assert_eq!(cur.procedure, p);
    // Version 1 is kept as it was.
    let v1 = catalogue::version(&t.db, GPXD, 1).await.unwrap().unwrap();
    assert_eq!(v1, sample_procedure());
    assert_eq!(v1.time_limit.value, 15);
    assert_eq!(v1.total_fee(), 75_000);
    assert_eq!(count(&t.db, "procedures").await, 49);
    assert_eq!(count(&t.db, "audit_log").await, audits + 1);
    let e = audited(&t.db, "procedure.update").await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].target_id, GPXD);
    assert_eq!(e[0].actor, admin.actor());
    let s: serde_json::Value = serde_json::from_str(&e[0].summary).unwrap();
    assert_eq!(s["before"]["version"], 1);
    assert_eq!(s["after"]["version"], 2);
    assert_eq!(s["before"]["time_limit"]["value"], 15);
    assert_eq!(s["after"]["time_limit"]["value"], 20);
    assert_eq!(s["before"]["fees"][0]["amount_vnd"], 75_000);
    assert_eq!(s["after"]["fees"][0]["amount_vnd"], 150_000);
    let ev = tinhso_store::outbox::read_after(&t.db, 0, "procedure.updated", 10)
        .await
        .unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0].payload,
        serde_json::json!({"code": GPXD, "version": 2})
    );
    // Search lists the current version.
    let hits = catalogue::search(&t.db, GPXD, None, None).await.unwrap();
    assert_eq!(hits[0].version, 2);
    // Saving the same definition again writes nothing.
    let before = footprint(&t.db).await;
    assert_eq!(
        catalogue::update(&t.db, &ctx_of(&admin), &p).await.unwrap(),
        2
    );
    assert_eq!(footprint(&t.db).await, before);
    assert_eq!(count(&t.db, "procedures").await, 49);
    // Another edit: version 3.
    p.name = format!("{} (sửa đổi)", p.name);
    assert_eq!(
        catalogue::update(&t.db, &ctx_of(&admin), &p).await.unwrap(),
        3
    );
    // An unknown procedure cannot be updated.
    let mut unknown = sample_procedure();
    unknown.code = "1.999999".into();
    assert_code(
        catalogue::update(&t.db, &ctx_of(&admin), &unknown).await,
        ErrorCode::NotFound,
    );
}

#[tokio::test]
async fn a_dossier_keeps_the_version_it_was_filed_under() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let calendar = tinhso_refdata::calendar::working_calendar(&t.db)
        .await
        .unwrap();
    let old = submit_anon(&t.db, &building_permit()).await.dossier;
    assert_eq!(old.procedure_version, 1);
    // on_accept: nothing to pay before acceptance.
    assert_eq!(old.fee_vnd, 0);

    let mut p = sample_procedure();
    p.time_limit = TimeLimit {
        unit: TimeUnit::WorkingDays,
        value: 20,
    };
    p.fees[0].amount_vnd = 150_000;
    p.workflow[0].name = "Tiếp nhận hồ sơ (quy trình mới)".into();
    assert_eq!(catalogue::update(&t.db, &sys(), &p).await.unwrap(), 2);

    let old = act(&t.db, &s.one_stop, &old.code, "accept", "")
        .await
        .unwrap();
    assert_eq!(old.procedure_version, 1);
    assert_eq!(old.fee_vnd, 75_000, "the fee of version 1");
    let accepted = old.accepted_at.unwrap();
    let v1_due = dossier::due_date(
        &calendar,
        accepted,
        TimeLimit {
            unit: TimeUnit::WorkingDays,
            value: 15,
        },
    );
    assert_eq!(
        old.due_date.as_deref(),
        Some(v1_due.format("%Y-%m-%d").to_string().as_str())
    );
    assert_ne!(old.step_name, "Tiếp nhận hồ sơ (quy trình mới)");

    let new = submit_anon(&t.db, &building_permit()).await.dossier;
    assert_eq!(new.procedure_version, 2);
    let new = act(&t.db, &s.one_stop, &new.code, "accept", "")
        .await
        .unwrap();
    assert_eq!(new.fee_vnd, 150_000);
    let v2_due = dossier::due_date(&calendar, new.accepted_at.unwrap(), p.time_limit);
    assert_eq!(
        new.due_date.as_deref(),
        Some(v2_due.format("%Y-%m-%d").to_string().as_str())
    );
    assert!(v2_due > v1_due);
}

#[tokio::test]
async fn an_invalid_definition_is_refused_with_the_field_named_and_nothing_written() {
    let t = env().await;
    let before = footprint(&t.db).await;
    let procedures = count(&t.db, "procedures").await;

    let mut bad_code = sample_procedure();
    bad_code.code = "1.01322".into();
    let e = assert_code(
        catalogue::update(&t.db, &sys(), &bad_code).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(e.status(), 422);
    assert_eq!(fields(&e), [("code".to_string(), "procedure_code")]);
    for code in [
        "1013225",
        "1-013225",
        "A.013225",
        "1.0132255",
        "",
        "1.01322a",
    ] {
        let mut p = sample_procedure();
        p.code = code.into();
        assert_eq!(
            fields(&p.check().unwrap_err()),
            [("code".to_string(), "procedure_code")],
            "{code:?}"
        );
    }

    let mut shares = sample_procedure();
    shares.workflow[1].share_percent = 50; // 10 + 50 + 20 + 10 = 90
    let e = assert_code(
        catalogue::update(&t.db, &sys(), &shares).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("workflow".to_string(), "workflow_shares")]);

    let mut kind = sample_procedure();
    kind.eform[3].kind = "signature".into();
    let e = assert_code(
        catalogue::update(&t.db, &sys(), &kind).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("eform[3].type".to_string(), "field_type")]);
    assert!(e.fields[0].message_en.contains("signature"));

    // Everything wrong at once: every problem is reported.
    let mut all = sample_procedure();
    all.code = "x".into();
    all.level = "huyen".into();
    all.online_level = "muc_4".into();
    all.workflow.clear();
    all.fees[0].amount_vnd = -1;
    all.eform[0].kind = "file".into();
    all.eform[2].name = all.eform[1].name.clone();
    let e = assert_code(
        catalogue::update(&t.db, &sys(), &all).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [
            ("code".to_string(), "procedure_code"),
            ("level".to_string(), "level"),
            ("online_level".to_string(), "online_level"),
            ("workflow".to_string(), "workflow_shares"),
            ("fees".to_string(), "fee_negative"),
            ("eform[0].type".to_string(), "field_type"),
            ("eform[2].name".to_string(), "field_duplicate"),
        ]
    );

    assert_eq!(footprint(&t.db).await, before);
    assert_eq!(count(&t.db, "procedures").await, procedures);
    let cur = catalogue::current(&t.db, GPXD).await.unwrap().unwrap();
    assert_eq!(cur.version, 1);
    assert_eq!(cur.procedure, sample_procedure());
}

#[tokio::test]
async fn an_update_must_name_a_real_handling_agency() {
    let t = env().await;
    let mut p = catalogue::current(&t.db, DNTN)
        .await
        .unwrap()
        .unwrap()
        .procedure;
    let before = footprint(&t.db).await;
    // A typo in the department's name would make every submission fail.
    p.agency.name = Some("Sở Tài chánh".into());
    let e = assert_code(
        catalogue::update(&t.db, &sys(), &p).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("agency.name".to_string(), "agency_unknown")]);
    // Reported together with the other problems.
    p.workflow[0].share_percent = 0;
    let e = assert_code(
        catalogue::update(&t.db, &sys(), &p).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [
            ("workflow".to_string(), "workflow_shares"),
            ("agency.name".to_string(), "agency_unknown"),
        ]
    );
    // Neither a commune People's Committee nor a named agency.
    p.workflow[0].share_percent = 10;
    p.agency.name = None;
    let e = assert_code(
        catalogue::update(&t.db, &sys(), &p).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("agency.name".to_string(), "agency_unknown")]);
    assert_eq!(footprint(&t.db).await, before);
    assert_eq!(
        catalogue::current(&t.db, DNTN)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    // Submissions still work.
    assert_eq!(
        submit_anon(&t.db, &enterprise()).await.dossier.agency_code,
        SO_TAI_CHINH
    );
    // Moving the procedure to another real department is fine.
    p.agency.name = Some("Sở Nội vụ".into());
    assert_eq!(catalogue::update(&t.db, &sys(), &p).await.unwrap(), 2);
    assert_eq!(
        submit_anon(&t.db, &enterprise()).await.dossier.agency_code,
        SO_NOI_VU
    );
}
