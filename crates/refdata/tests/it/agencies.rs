use super::{all, audited, count, ctx, fields, seeded, ubnd_xa, ROOT};
use std::collections::{HashMap, HashSet};
use tinhso_kernel::{text, ErrorCode};
use tinhso_refdata::agencies::{self as ag, AgencyFilter, ContactPatch};
use tinhso_refdata::units::units;
use tinhso_store::audit;

#[tokio::test]
async fn seed_is_idempotent() {
    let t = super::db().await;
    assert_eq!(ag::seed(&t.db, &ctx()).await.unwrap(), 95);
    assert_eq!(count(&t.db, "agencies").await, 95);
    // contact details entered since are kept by a re-seed
    ag::update_contact(
        &t.db,
        &ctx(),
        ROOT,
        &ContactPatch {
            phone: Some("0205 3812 345".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(ag::seed(&t.db, &ctx()).await.unwrap(), 0);
    assert_eq!(ag::seed(&t.db, &ctx()).await.unwrap(), 0);
    assert_eq!(count(&t.db, "agencies").await, 95);
    assert_eq!(
        ag::get(&t.db, ROOT).await.unwrap().unwrap().phone,
        "02053812345"
    );
    // one audit entry for the one seed that inserted something
    let seeds = audited(&t.db, "agency.seed").await;
    assert_eq!(seeds.len(), 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seeds[0].summary).unwrap(),
        serde_json::json!({"inserted": 95, "total": 95})
    );
    assert_eq!(audit::verify(&t.db).await.unwrap().first_broken, None);
}

#[tokio::test]
async fn tree_has_the_expected_shape() {
    let t = seeded().await;
    let agencies = all(&t.db).await;
    assert_eq!(agencies.len(), 95);
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for a in &agencies {
        *kinds.entry(a.kind.as_str()).or_default() += 1;
    }
    assert_eq!(
        kinds,
        HashMap::from([
            ("ubnd_xa", 65),
            ("so", 14),
            ("trung_uong", 12),
            ("trung_tam", 2),
            ("ubnd_tinh", 1),
            ("ban", 1)
        ])
    );
    // every commune People's Committee sits in a distinct, existing Lạng Sơn commune
    let mut units_seen = HashSet::new();
    for a in agencies.iter().filter(|a| a.kind == "ubnd_xa") {
        let code = a
            .admin_unit_code
            .as_deref()
            .unwrap_or_else(|| panic!("{} has no unit", a.code));
        assert!(
            code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()),
            "{}: {code}",
            a.code
        );
        let unit = units()
            .commune(code)
            .unwrap_or_else(|| panic!("{}: unit {code} unknown", a.code));
        assert_eq!(unit.province_code, "20", "{}", a.code);
        assert!(
            text::fold(&a.name).ends_with(&text::fold(&unit.name)),
            "{} is not named after {}",
            a.name,
            unit.name
        );
        assert!(units_seen.insert(code), "two agencies for unit {code}");
        assert_eq!(a.parent_code.as_deref(), Some(ROOT), "{}", a.code);
    }
    assert_eq!(units_seen.len(), 65);
    // codes are unique
    assert_eq!(
        agencies
            .iter()
            .map(|a| &a.code)
            .collect::<HashSet<_>>()
            .len(),
        95
    );
}

#[tokio::test]
async fn roots_ancestors_and_subtrees_are_consistent() {
    let t = seeded().await;
    let agencies = all(&t.db).await;
    let parent: HashMap<&str, Option<&str>> = agencies
        .iter()
        .map(|a| (a.code.as_str(), a.parent_code.as_deref()))
        .collect();
    // Exactly one root of the provincial administration (UBND tỉnh). The central agencies
    // stationed in the province (customs, border guard, quarantine) are roots of their own:
    // they are not under the province.
    let roots: Vec<&str> = agencies
        .iter()
        .filter(|a| a.parent_code.is_none())
        .map(|a| a.code.as_str())
        .collect();
    let province_roots: Vec<&str> = agencies
        .iter()
        .filter(|a| a.parent_code.is_none() && a.kind != "trung_uong")
        .map(|a| a.code.as_str())
        .collect();
    assert_eq!(province_roots, vec![ROOT]);
    assert_eq!(
        ag::get(&t.db, ROOT).await.unwrap().unwrap().kind,
        "ubnd_tinh"
    );
    let mut central_roots: Vec<&str> = roots.iter().copied().filter(|r| *r != ROOT).collect();
    central_roots.sort();
    assert_eq!(
        central_roots,
        vec![
            "000.00.01.Z37",
            "000.00.02.Z37",
            "000.00.03.Z37",
            "000.00.04.Z37"
        ]
    );

    let mut in_subtree_of: HashMap<String, HashSet<String>> = HashMap::new();
    for a in &agencies {
        let anc = ag::ancestors(&t.db, &a.code).await.unwrap();
        assert_eq!(anc[0], a.code, "ancestors start with the agency itself");
        for w in anc.windows(2) {
            assert_eq!(
                parent[w[0].as_str()],
                Some(w[1].as_str()),
                "{} chain",
                a.code
            );
        }
        let top = anc.last().unwrap();
        assert_eq!(
            parent[top.as_str()],
            None,
            "{}: ancestors end at a root",
            a.code
        );
        let expected_top = if a.kind == "trung_uong" {
            top.as_str()
        } else {
            ROOT
        };
        assert_eq!(top, expected_top, "{}", a.code);
        if a.kind == "trung_uong" {
            assert!(top.ends_with(".Z37"), "{}", a.code);
        }
        let sub = ag::subtree(&t.db, &a.code).await.unwrap();
        assert_eq!(sub[0], a.code);
        in_subtree_of.insert(a.code.clone(), sub.into_iter().collect());
    }
    // x is in the subtree of y exactly when y is an ancestor of x
    for a in &agencies {
        let anc: HashSet<String> = ag::ancestors(&t.db, &a.code)
            .await
            .unwrap()
            .into_iter()
            .collect();
        for b in &agencies {
            assert_eq!(
                in_subtree_of[&b.code].contains(&a.code),
                anc.contains(&b.code),
                "{} vs {}",
                a.code,
                b.code
            );
        }
    }
    // the root's subtree is the whole provincial administration; with the central agencies'
    // trees it is every agency, each exactly once
    let province: HashSet<&str> = agencies
        .iter()
        .filter(|a| a.kind != "trung_uong")
        .map(|a| a.code.as_str())
        .collect();
    assert_eq!(in_subtree_of[ROOT].len(), 83);
    assert_eq!(
        in_subtree_of[ROOT]
            .iter()
            .map(String::as_str)
            .collect::<HashSet<_>>(),
        province
    );
    let total: usize = roots.iter().map(|r| in_subtree_of[*r].len()).sum();
    assert_eq!(total, 95);
    let union: HashSet<&String> = roots
        .iter()
        .flat_map(|r| in_subtree_of[*r].iter())
        .collect();
    assert_eq!(union.len(), 95);
    // a leaf's subtree is itself; a department's includes its centre
    assert_eq!(
        ag::subtree(&t.db, "000.00.23.H37").await.unwrap(),
        vec!["000.00.23.H37"]
    );
    let mut yte = ag::subtree(&t.db, "000.00.09.H37").await.unwrap();
    yte.sort();
    assert_eq!(yte, vec!["000.00.09.H37", "000.01.09.H37"]);
    assert_eq!(
        ag::ancestors(&t.db, "000.01.09.H37").await.unwrap(),
        vec!["000.01.09.H37", "000.00.09.H37", ROOT]
    );
    assert!(ag::ancestors(&t.db, "nope").await.unwrap().is_empty());
}

#[tokio::test]
async fn contact_update_saves_and_audits_before_and_after() {
    let t = seeded().await;
    let a = ubnd_xa(&t.db, "05986").await;
    assert_eq!(a.name, "Ủy ban nhân dân phường Tam Thanh");
    assert_eq!((a.phone.as_str(), a.email.as_str()), ("", ""));
    let patch = ContactPatch {
        address: Some("  Số 1 đường Tam Thanh, phường Tam Thanh  ".into()),
        phone: Some("(0205) 3812 345".into()),
        email: Some("ubnd.tamthanh@LangSon.GOV.vn".into()),
        website: Some("https://tamthanh.langson.gov.vn".into()),
        working_hours: Some("Thứ Hai – Thứ Sáu, 7:30–17:00".into()),
    };
    let after = ag::update_contact(&t.db, &ctx(), &a.code, &patch)
        .await
        .unwrap();
    assert_eq!(after.address, "Số 1 đường Tam Thanh, phường Tam Thanh");
    assert_eq!(after.phone, "02053812345");
    assert_eq!(after.email, "ubnd.tamthanh@langson.gov.vn");
    assert_eq!(after.website, "https://tamthanh.langson.gov.vn");
    assert_eq!(after.working_hours, "Thứ Hai – Thứ Sáu, 7:30–17:00");
    // reference fields are untouched
    assert_eq!(
        (after.name.as_str(), after.kind.as_str()),
        (a.name.as_str(), a.kind.as_str())
    );
    assert_eq!(ag::get(&t.db, &a.code).await.unwrap().unwrap(), after);

    let entries = audited(&t.db, "agency.update_contact").await;
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (
            e.target_type.as_str(),
            e.target_id.as_str(),
            e.scope.as_str()
        ),
        ("agency", a.code.as_str(), a.code.as_str())
    );
    assert_eq!(e.actor, "cli:test");
    let s: serde_json::Value = serde_json::from_str(&e.summary).unwrap();
    assert_eq!(
        s,
        serde_json::json!({
            "before": {"address": "", "phone": "", "email": "", "website": "", "working_hours": ""},
            "after": {"address": "Số 1 đường Tam Thanh, phường Tam Thanh", "phone": "02053812345",
                      "email": "ubnd.tamthanh@langson.gov.vn", "website": "https://tamthanh.langson.gov.vn",
                      "working_hours": "Thứ Hai – Thứ Sáu, 7:30–17:00"}
        })
    );
    let events = tinhso_store::outbox::read_after(&t.db, 0, "agency.", 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, serde_json::json!({"code": a.code}));

    // a partial patch changes only its fields; an empty phone clears it
    let again = ag::update_contact(
        &t.db,
        &ctx(),
        &a.code,
        &ContactPatch {
            phone: Some("  ".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(again.phone, "");
    assert_eq!(again.email, "ubnd.tamthanh@langson.gov.vn");
    assert_eq!(audited(&t.db, "agency.update_contact").await.len(), 2);
    assert_eq!(audit::verify(&t.db).await.unwrap().first_broken, None);
}

#[tokio::test]
async fn invalid_contact_changes_nothing() {
    let t = seeded().await;
    let code = "000.00.06.H37";
    ag::update_contact(
        &t.db,
        &ctx(),
        code,
        &ContactPatch {
            phone: Some("0205 3812 345".into()),
            email: Some("skhcn@langson.gov.vn".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let before = ag::get(&t.db, code).await.unwrap().unwrap();
    let audit_before = count(&t.db, "audit_log").await;
    let outbox_before = count(&t.db, "outbox").await;
    let e = ag::update_contact(
        &t.db,
        &ctx(),
        code,
        &ContactPatch {
            address: Some("Địa chỉ mới".into()),
            phone: Some("0123 456".into()),
            email: Some("skhcn@@langson".into()),
            website: Some("tamthanh.gov.vn".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert_eq!(e.status(), 422);
    assert_eq!(
        fields(&e),
        vec![
            ("phone".into(), "phone_prefix"),
            ("email".into(), "email_format"),
            ("website".into(), "url_scheme")
        ]
    );
    assert_eq!(
        ag::get(&t.db, code).await.unwrap().unwrap(),
        before,
        "nothing changed, not even the valid address"
    );
    assert_eq!(count(&t.db, "audit_log").await, audit_before);
    assert_eq!(count(&t.db, "outbox").await, outbox_before);

    let e = ag::update_contact(&t.db, &ctx(), "000.99.99.H37", &ContactPatch::default())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(e.status(), 404);
    assert_eq!(count(&t.db, "audit_log").await, audit_before);
}

fn names(v: &[ag::Agency]) -> Vec<&str> {
    v.iter().map(|a| a.name.as_str()).collect()
}

#[tokio::test]
async fn search_ignores_diacritics_and_sorts_in_vietnamese_order() {
    let t = seeded().await;
    let q = |s: &str| AgencyFilter {
        q: Some(s.into()),
        ..Default::default()
    };
    for query in [
        "so khoa hoc",
        "SỞ KHOA HỌC",
        "  khoa   hoc  cong nghe ",
        "KH&CN",
    ] {
        let found = ag::list(&t.db, &q(query)).await.unwrap();
        assert_eq!(names(&found), vec!["Sở Khoa học và Công nghệ"], "{query:?}");
        assert_eq!(found[0].code, "000.00.06.H37");
    }
    assert!(
        ag::list(&t.db, &q("khoa hoc y te"))
            .await
            .unwrap()
            .is_empty(),
        "every word must match"
    );
    // by code
    assert_eq!(
        names(&ag::list(&t.db, &q("000.01.09.H37")).await.unwrap()),
        vec!["Trung tâm Kiểm soát bệnh tật tỉnh Lạng Sơn"]
    );

    // "dong dang" finds Đồng Đăng and Đông Kinh is not mixed in
    let dd = ag::list(&t.db, &q("dong dang")).await.unwrap();
    assert!(
        names(&dd).contains(&"Ủy ban nhân dân xã Đồng Đăng"),
        "{:?}",
        names(&dd)
    );
    assert!(dd
        .iter()
        .all(|a| text::fold(&format!("{} {}", a.name, a.short_name)).contains("dong dang")));

    // Vietnamese order: đ after d, before e; o before ô; base letters before tones
    let wards = ag::list(&t.db, &q("phuong")).await.unwrap();
    assert_eq!(
        names(&wards),
        vec![
            "Ủy ban nhân dân phường Đông Kinh",
            "Ủy ban nhân dân phường Kỳ Lừa",
            "Ủy ban nhân dân phường Lương Văn Tri",
            "Ủy ban nhân dân phường Tam Thanh",
        ]
    );
    let communes = ag::list(
        &t.db,
        &AgencyFilter {
            kind: Some("ubnd_xa".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(communes.len(), 65);
    for w in communes.windows(2) {
        assert_eq!(
            text::cmp_vi(&w[0].name, &w[1].name),
            std::cmp::Ordering::Less,
            "{} / {}",
            w[0].name,
            w[1].name
        );
    }
    let pos = |n: &str| {
        communes
            .iter()
            .position(|a| a.name == format!("Ủy ban nhân dân xã {n}"))
            .unwrap()
    };
    assert!(pos("Công Sơn") < pos("Điềm He"));
    assert!(pos("Điềm He") < pos("Đình Lập"));
    assert!(pos("Đình Lập") < pos("Đoàn Kết"));
    assert!(pos("Đoàn Kết") < pos("Đồng Đăng"));
    assert!(pos("Đồng Đăng") < pos("Hoa Thám"));
    assert!(
        pos("Ba Sơn") < pos("Bắc Sơn") && pos("Bắc Sơn") < pos("Bình Gia"),
        "a, ă, then i"
    );
    // the whole list: province first, then departments, then communes, each in Vietnamese order
    let everything = all(&t.db).await;
    assert_eq!(everything[0].code, super::ROOT);
    let departments: Vec<&str> = everything
        .iter()
        .filter(|a| a.kind == "so")
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(departments[0], "Sở Công Thương");
    assert_eq!(departments[1], "Sở Dân tộc và Tôn giáo");
    assert_eq!(departments.last(), Some(&"Văn phòng Ủy ban nhân dân tỉnh"));
    let limited = ag::list(
        &t.db,
        &AgencyFilter {
            limit: Some(3),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(limited.len(), 3);
}
