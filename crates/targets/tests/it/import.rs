//! Plans as data: the shipped plan imports once, a second plan loads the same way, a changed
//! file replaces its targets, errors name file, line and field and write nothing.

use super::*;
use tinhso_targets::plan::{self, Imported};

const PLAN_2026: &str = r#"
[plan]
code = "150/KH-UBND"
title_vi = "Kế hoạch chuyển đổi số năm 2026"
title_en = "Digital transformation plan for 2026"
year = 2026
base_year = 2025

[[target]]
id = "p2026.online-dossiers"
pillar = "government"
year = 2026
kind = "percent"
target = 60
base = 40
vi = "Tỷ lệ hồ sơ trực tuyến đạt 60%"
en = "60% of dossiers filed online"
measured_by = "public services: online dossiers / dossiers received"
indicator = "services.online"

[[target]]
id = "p2026.dti-rank"
pillar = "government"
year = 2026
kind = "rank"
target = 5
vi = "Xếp hạng DTI trong nhóm 5 tỉnh dẫn đầu"
en = "Among the top 5 provinces in the DTI ranking"
measured_by = "reported"
"#;

#[tokio::test]
async fn the_shipped_plan_imports_once() {
    let t = env().await;
    let db = &t.db;
    assert_eq!(count(db, "SELECT COUNT(*) FROM plan_targets").await, 43);
    let audits = count(
        db,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'plan.import'",
    )
    .await;
    assert_eq!(audits, 1);
    // Again: nothing written, nothing audited.
    assert_eq!(plan::seed(db, &sys()).await.unwrap(), Imported::Unchanged);
    assert_eq!(count(db, "SELECT COUNT(*) FROM plan_targets").await, 43);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'plan.import'"
        )
        .await,
        1
    );
    let targets = plan::targets(db).await.unwrap();
    let t1 = targets
        .iter()
        .find(|t| t.id == "gov.digital-inspection-2030")
        .unwrap();
    assert_eq!((t1.horizon_year, t1.target_value), (2030, 70.0));
    assert_eq!(t1.indicator_key, "reported.gov.digital-inspection");
    assert_eq!(t1.pillar, "government");
    assert_eq!(t1.unit, "%");
    assert_eq!(t1.direction.as_str(), "at_least");
    let plans = plan::plans(db).await.unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].code, "226/KH-UBND");
}

#[tokio::test]
async fn a_second_plan_loads_the_same_way_and_a_changed_file_replaces_its_targets() {
    let t = env().await;
    let db = &t.db;
    let r = plan::import_text(db, &sys(), "ke-hoach-2026.toml", PLAN_2026)
        .await
        .unwrap();
    assert_eq!(r, Imported::Written(2));
    assert_eq!(
        plan::import_text(db, &sys(), "ke-hoach-2026.toml", PLAN_2026)
            .await
            .unwrap(),
        Imported::Unchanged
    );
    let all = plan::targets(db).await.unwrap();
    assert_eq!(all.len(), 45);
    // Ordered by plan year: the 2021 plan first.
    assert_eq!(all[0].plan_code, "226/KH-UBND");
    let rank = all.iter().find(|t| t.id == "p2026.dti-rank").unwrap();
    assert_eq!(rank.direction.as_str(), "at_most");
    assert_eq!(rank.indicator_key, "reported.p2026.dti-rank");
    let online = all
        .iter()
        .find(|t| t.id == "p2026.online-dossiers")
        .unwrap();
    assert_eq!(
        (online.base_value, online.indicator_key.as_str()),
        (Some(40.0), "services.online")
    );
    // The changed file: one target dropped, one changed.
    let changed = PLAN_2026
        .split("[[target]]\nid = \"p2026.dti-rank\"")
        .next()
        .unwrap()
        .replace("target = 60", "target = 65");
    assert_eq!(
        plan::import_text(db, &sys(), "ke-hoach-2026.toml", &changed)
            .await
            .unwrap(),
        Imported::Written(1)
    );
    let all = plan::targets(db).await.unwrap();
    assert_eq!(all.len(), 44);
    let online = all
        .iter()
        .find(|t| t.id == "p2026.online-dossiers")
        .unwrap();
    assert_eq!(online.target_value, 65.0);
    let last: String = sqlx::query_scalar(
        "SELECT summary FROM audit_log WHERE action = 'plan.import' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert!(
        last.contains("p2026.dti-rank"),
        "removed target audited: {last}"
    );
}

#[tokio::test]
async fn errors_name_the_file_line_and_field_and_write_nothing() {
    let t = env().await;
    let db = &t.db;
    let before = count(db, "SELECT COUNT(*) FROM audit_log").await;
    let bad = PLAN_2026
        .replace(
            "pillar = \"government\"\nyear = 2026\nkind = \"rank\"",
            "pillar = \"space\"\nyear = 2026\nkind = \"rank\"",
        )
        .replace("target = 60", "target = 160");
    let e = plan::import_text(db, &sys(), "ke-hoach-2026.toml", &bad)
        .await
        .unwrap_err();
    let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "ke-hoach-2026.toml:14:target",
            "ke-hoach-2026.toml:23:pillar"
        ]
    );
    assert!(e.fields[0].message_vi.contains("phạm vi"), "{e}");
    assert!(e.to_string().contains("ke-hoach-2026.toml"), "{e}");
    // A syntax error.
    let e = plan::import_text(db, &sys(), "hong.toml", "[plan]\ncode = \n")
        .await
        .unwrap_err();
    assert!(e.fields[0].field.starts_with("hong.toml:2:"), "{e}");
    // A target id of another plan.
    let stolen = PLAN_2026.replace("p2026.dti-rank", "overall.dti-top10");
    let e = plan::import_text(db, &sys(), "ke-hoach-2026.toml", &stolen)
        .await
        .unwrap_err();
    assert_eq!(e.code, tinhso_kernel::ErrorCode::Conflict, "{e}");
    assert_eq!(count(db, "SELECT COUNT(*) FROM plan_targets").await, 43);
    assert_eq!(count(db, "SELECT COUNT(*) FROM plans").await, 1);
    assert_eq!(count(db, "SELECT COUNT(*) FROM audit_log").await, before);
}

#[tokio::test]
async fn concurrent_imports_both_succeed_once_written() {
    let t = env().await;
    let db = &t.db;
    let changed = plan::PLAN_226.replace("target = 90", "target = 91");
    let ctx = sys();
    let (a, b) = tokio::join!(
        plan::import_text(db, &ctx, "targets.toml", &changed),
        plan::import_text(db, &ctx, "targets.toml", &changed),
    );
    let mut results = [a.unwrap(), b.unwrap()];
    results.sort_by_key(|r| matches!(r, Imported::Unchanged));
    assert_eq!(results, [Imported::Written(43), Imported::Unchanged]);
    assert_eq!(count(db, "SELECT COUNT(*) FROM plan_targets").await, 43);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM plan_targets WHERE target_value = 91"
        )
        .await,
        1
    );
}
