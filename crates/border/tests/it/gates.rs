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
    change(
        &t.db,
        "UPDATE border_gate_capacity SET per_hour = 7 WHERE gate_code = 'CN' AND direction = 'export'",
    )
    .await;
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

/// Write `sql` as a registry writer does: with [`gates::changed`] in the same transaction.
pub async fn change(db: &tinhso_store::Db, sql: &str) {
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query(sql).execute(tx.conn()).await.unwrap();
    gates::changed(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();
}

fn name_of(all: &[gates::Gate], code: &str) -> String {
    all.iter().find(|g| g.code == code).unwrap().name_vi.clone()
}

#[tokio::test]
async fn a_change_is_seen_by_the_next_read_from_any_handle() {
    let t = crate::env().await;
    let other = tinhso_store::Db::connect(&t.url(), &Default::default())
        .await
        .unwrap();
    let before = gates::list(&t.db).await.unwrap();
    assert_eq!(gates::list(&other).await.unwrap(), before);
    // Changed through one handle: the next read through either sees it.
    change(
        &other,
        "UPDATE border_gates SET name_vi = 'Tên mới' WHERE code = 'HN'",
    )
    .await;
    assert_eq!(name_of(&gates::list(&t.db).await.unwrap(), "HN"), "Tên mới");
    assert_eq!(
        name_of(&gates::list(&other).await.unwrap(), "HN"),
        "Tên mới"
    );
    change(
        &t.db,
        "UPDATE border_yards SET capacity = 3 WHERE gate_code = 'TT'",
    )
    .await;
    let tt = gates::get(&other, "TT").await.unwrap().unwrap();
    assert!(tt.yards.iter().all(|y| y.capacity == 3));
    change(
        &other,
        "UPDATE border_gate_agencies SET agency_code = 'X' WHERE gate_code = 'CM' AND check_kind = 'customs'",
    )
    .await;
    let cm = gates::get(&t.db, "CM").await.unwrap().unwrap();
    assert_eq!(cm.agency_for(CheckKind::Customs), Some("X"));
    // A write that does not bump the generation is not read: the registry is served from
    // the node's copy (which is why every writer must call `gates::changed`).
    sqlx::query("UPDATE border_gates SET name_vi = 'Không báo' WHERE code = 'HN'")
        .execute(other.pool())
        .await
        .unwrap();
    assert_eq!(name_of(&gates::list(&t.db).await.unwrap(), "HN"), "Tên mới");
    other.close().await;
}
