use tinhso_border::gates::{self, CheckKind, Direction};

#[tokio::test]
async fn seeded_gates_read_back_and_seed_is_idempotent() {
    let t = crate::env().await;
    let all = gates::list(&t.db).await.unwrap();
    assert_eq!(all.len(), 5);
    let hn = gates::get(&t.db, "HN").await.unwrap().unwrap();
    assert_eq!(hn.name_vi, "Cửa khẩu quốc tế Hữu Nghị");
    assert_eq!(hn.opens, "07:00");
    assert_eq!(hn.capacity_for(Direction::Export).unwrap().per_hour, 50);
    assert_eq!(hn.agency_for(CheckKind::BorderGuard), Some("000.01.02.Z37"));
    assert_eq!(hn.yards.len(), 2);
    // A second seed writes nothing, and keeps an edited setting.
    sqlx::query("UPDATE border_gate_capacity SET per_hour = 7 WHERE gate_code = 'CN' AND direction = 'export'")
        .execute(t.db.pool())
        .await
        .unwrap();
    assert_eq!(gates::seed(&t.db).await.unwrap(), 0);
    let cn = gates::get(&t.db, "CN").await.unwrap().unwrap();
    assert_eq!(cn.capacity_for(Direction::Export).unwrap().per_hour, 7);
    // Every gate's agencies exist in the agency registry.
    for g in &all {
        for a in &g.agencies {
            let n = crate::count(
                &t.db,
                &format!("SELECT COUNT(*) FROM agencies WHERE code = '{}'", a.agency),
            )
            .await;
            assert_eq!(n, 1, "gate {} agency {}", g.code, a.agency);
        }
    }
}
