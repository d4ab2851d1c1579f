use super::{citizen, count, create, ctx, login, staff, CCCD, PW, TAM_THANH};
use tinhso_identity::accounts as acc;
use tinhso_identity::{auth, Permission};
use tinhso_kernel::ErrorCode;
use tinhso_store::audit::{self, AuditFilter};
use tinhso_store::outbox;

#[tokio::test]
async fn creation_is_audited_with_its_event() {
    let t = super::db().await;
    let c = create(&t.db, &staff("canbo.audit", TAM_THANH, vec![]))
        .await
        .account;
    let entries = audit::list(&t.db, &AuditFilter::default()).await.unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.seq, 1);
    assert_eq!(e.action, "user.create");
    assert_eq!(e.actor, "cli:test");
    assert_eq!(e.request_id, "req-test");
    assert_eq!(e.target_type, "user");
    assert_eq!(e.target_id, c.id);
    assert_eq!(e.scope, TAM_THANH);
    let summary: serde_json::Value = serde_json::from_str(&e.summary).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"after": {
            "username": "canbo.audit",
            "kind": "staff",
            "display_name": "Cán bộ canbo.audit",
            "roles": [format!("specialist@agency:{TAM_THANH}")],
        }})
    );
    assert!(!e.summary.contains("argon2"), "no secret in the trail");
    let events = outbox::read_after(&t.db, 0, "", 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].topic, "identity.user_created");
    assert_eq!(
        events[0].payload,
        serde_json::json!({"user_id": c.id, "kind": "staff"})
    );
}

#[tokio::test]
async fn account_audit_and_event_commit_together() {
    // Make the last write of the transaction (the outbox event) fail: the account and its
    // audit entry, written earlier in the same transaction, must be rolled back with it.
    let t = super::db().await;
    sqlx::query("ALTER TABLE outbox RENAME TO outbox_away")
        .execute(t.db.pool())
        .await
        .unwrap();
    let e = acc::create(&t.db, &ctx(), &citizen(CCCD))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Internal);
    sqlx::query("ALTER TABLE outbox_away RENAME TO outbox")
        .execute(t.db.pool())
        .await
        .unwrap();
    for table in ["users", "role_assignments", "audit_log", "outbox"] {
        assert_eq!(count(&t.db, table).await, 0, "{table}");
    }
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(
        (r.entries_checked, r.head_seq, r.first_broken),
        (0, 0, None)
    );
    // and the same sign-up then succeeds
    create(&t.db, &citizen(CCCD)).await;
    assert_eq!(count(&t.db, "audit_log").await, 1);
    assert_eq!(count(&t.db, "outbox").await, 1);
}

#[tokio::test]
async fn chain_is_intact_after_a_series_of_operations() {
    let t = super::db().await;
    let c = create(&t.db, &citizen(CCCD)).await.account;
    let s = create(&t.db, &staff("canbo.chuoi", TAM_THANH, vec![]))
        .await
        .account;
    let (_, session) = login(&t.db, CCCD, PW, None).await.unwrap();
    login(&t.db, CCCD, "Sai mật khẩu 2026", None)
        .await
        .unwrap_err();
    login(&t.db, "khong.co", PW, None).await.unwrap_err();
    auth::logout(&t.db, &ctx(), &session.token).await.unwrap();
    let (_, tok) = auth::create_token(&t.db, &ctx(), &s.id, "t", &[Permission::AgencyRead], 5)
        .await
        .unwrap();
    auth::revoke_token(&t.db, &ctx(), &s.id, &tok.id)
        .await
        .unwrap();
    acc::set_disabled(&t.db, &ctx(), &c.id, true).await.unwrap();
    acc::set_disabled(&t.db, &ctx(), &c.id, false)
        .await
        .unwrap();
    acc::reset_password(&t.db, &ctx(), &c.id, "Mật khẩu mới 2026 ạ")
        .await
        .unwrap();
    // refused operations leave no trace
    acc::create(&t.db, &ctx(), &citizen(CCCD))
        .await
        .unwrap_err();
    auth::create_token(&t.db, &ctx(), &s.id, "t", &[Permission::AuditVerify], 5)
        .await
        .unwrap_err();

    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(r.first_broken, None);
    assert_eq!(r.entries_checked, 11);
    assert_eq!(r.head_seq, 11);
    let mut actions: Vec<String> = audit::list(&t.db, &AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    actions.reverse();
    assert_eq!(
        actions,
        vec![
            "user.create",
            "user.create",
            "auth.login",
            "auth.login_failed",
            "auth.login_failed",
            "auth.logout",
            "token.create",
            "token.revoke",
            "user.disable",
            "user.enable",
            "user.reset_password",
        ]
    );
    // tampering is then detected
    sqlx::query("UPDATE audit_log SET actor = 'user:evil' WHERE seq = 3")
        .execute(t.db.pool())
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&t.db)
            .await
            .unwrap()
            .first_broken
            .unwrap()
            .seq,
        3
    );
}
