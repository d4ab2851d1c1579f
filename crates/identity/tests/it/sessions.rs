use super::{citizen, count, create, ctx, login, staff, CCCD, PW, TAM_THANH};
use tinhso_identity::accounts as acc;
use tinhso_identity::auth::{self, SessionState, SESSION_IDLE_MICROS};
use tinhso_identity::authz::AuthMethod;
use tinhso_store::now_micros;

#[tokio::test]
async fn a_fresh_session_resolves_to_its_principal() {
    let t = super::db().await;
    let c = create(&t.db, &staff("canbo.mc", TAM_THANH, vec![]))
        .await
        .account;
    let (_, s) = login(&t.db, "canbo.mc", PW, None).await.unwrap();
    let info = auth::session(&t.db, &s.token).await.unwrap().unwrap();
    assert_eq!(info.csrf_token, s.csrf_token);
    let p = info.principal;
    assert_eq!(p.user_id, c.id);
    assert_eq!(p.username, "canbo.mc");
    assert_eq!(p.kind, "staff");
    assert_eq!(p.agency_code.as_deref(), Some(TAM_THANH));
    assert_eq!(p.roles, c.roles);
    assert_eq!(p.method, AuthMethod::Session);
    assert_eq!(p.actor(), format!("user:{}", c.id));
    // an unknown cookie, and the session's CSRF token used as a cookie, resolve to nothing
    assert_eq!(
        auth::session(&t.db, "tss_nope").await.unwrap().unwrap_err(),
        SessionState::Missing
    );
    assert_eq!(
        auth::session(&t.db, &s.csrf_token)
            .await
            .unwrap()
            .unwrap_err(),
        SessionState::Missing
    );
}

#[tokio::test]
async fn logout_deletes_the_session() {
    let t = super::db().await;
    let c = create(&t.db, &citizen(CCCD)).await.account;
    let (_, s1) = login(&t.db, CCCD, PW, None).await.unwrap();
    let (_, s2) = login(&t.db, CCCD, PW, None).await.unwrap();
    assert_eq!(count(&t.db, "sessions").await, 2);
    auth::logout(&t.db, &ctx(), &s1.token).await.unwrap();
    assert_eq!(count(&t.db, "sessions").await, 1);
    assert_eq!(
        auth::session(&t.db, &s1.token).await.unwrap().unwrap_err(),
        SessionState::Missing
    );
    assert!(
        auth::session(&t.db, &s2.token).await.unwrap().is_ok(),
        "other sessions survive"
    );
    // logging out twice is harmless and audited once
    auth::logout(&t.db, &ctx(), &s1.token).await.unwrap();
    let out = tinhso_store::audit::list(
        &t.db,
        &tinhso_store::audit::AuditFilter {
            action: Some("auth.logout".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].target_id, c.id);
}

#[tokio::test]
async fn expired_sessions_are_refused_and_deleted() {
    let t = super::db().await;
    create(&t.db, &citizen(CCCD)).await;
    let (_, s) = login(&t.db, CCCD, PW, None).await.unwrap();
    let (_, idle) = login(&t.db, CCCD, PW, None).await.unwrap();
    sqlx::query("UPDATE sessions SET expires_at = 0 WHERE token_hash = $1")
        .bind(auth::token_hash(&s.token))
        .execute(t.db.pool())
        .await
        .unwrap();
    assert_eq!(
        auth::session(&t.db, &s.token).await.unwrap().unwrap_err(),
        SessionState::Expired
    );
    assert_eq!(
        count(&t.db, "sessions").await,
        1,
        "the expired session is deleted"
    );
    assert_eq!(
        auth::session(&t.db, &s.token).await.unwrap().unwrap_err(),
        SessionState::Missing
    );
    // idle for longer than the idle limit
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
        .bind(now_micros() - SESSION_IDLE_MICROS - 1_000_000)
        .bind(auth::token_hash(&idle.token))
        .execute(t.db.pool())
        .await
        .unwrap();
    assert_eq!(
        auth::session(&t.db, &idle.token)
            .await
            .unwrap()
            .unwrap_err(),
        SessionState::Expired
    );
    assert_eq!(count(&t.db, "sessions").await, 0);
}

#[tokio::test]
async fn use_slides_the_idle_timer() {
    let t = super::db().await;
    create(&t.db, &citizen(CCCD)).await;
    let (_, s) = login(&t.db, CCCD, PW, None).await.unwrap();
    let old = now_micros() - SESSION_IDLE_MICROS + 60 * 1_000_000;
    sqlx::query("UPDATE sessions SET last_seen_at = $1")
        .bind(old)
        .execute(t.db.pool())
        .await
        .unwrap();
    assert!(auth::session(&t.db, &s.token).await.unwrap().is_ok());
    let seen: i64 = sqlx::query_scalar("SELECT last_seen_at FROM sessions")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert!(
        seen > old + SESSION_IDLE_MICROS / 2,
        "last_seen_at moved forward"
    );
}

#[tokio::test]
async fn disabling_an_account_ends_its_sessions() {
    let t = super::db().await;
    let c = create(&t.db, &citizen(CCCD)).await.account;
    let other = create(&t.db, &citizen("020190001235")).await.account;
    let (_, s1) = login(&t.db, CCCD, PW, None).await.unwrap();
    let (_, s2) = login(&t.db, CCCD, PW, None).await.unwrap();
    let (_, s3) = login(&t.db, "020190001235", PW, None).await.unwrap();
    acc::set_disabled(&t.db, &ctx(), &c.id, true).await.unwrap();
    for s in [&s1, &s2] {
        assert_eq!(
            auth::session(&t.db, &s.token).await.unwrap().unwrap_err(),
            SessionState::Missing
        );
    }
    let left: Vec<String> = sqlx::query_scalar("SELECT user_id FROM sessions")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(left, vec![other.id.clone()]);
    assert_eq!(
        auth::session(&t.db, &s3.token)
            .await
            .unwrap()
            .unwrap()
            .principal
            .user_id,
        other.id
    );
    // re-enabling does not bring the old sessions back
    acc::set_disabled(&t.db, &ctx(), &c.id, false)
        .await
        .unwrap();
    assert_eq!(
        auth::session(&t.db, &s1.token).await.unwrap().unwrap_err(),
        SessionState::Missing
    );
}

#[tokio::test]
async fn reset_password_ends_sessions() {
    let t = super::db().await;
    let c = create(&t.db, &citizen(CCCD)).await.account;
    let (_, s) = login(&t.db, CCCD, PW, None).await.unwrap();
    let e = acc::reset_password(&t.db, &ctx(), &c.id, "ngan")
        .await
        .unwrap_err();
    assert_eq!(
        super::fields(&e),
        vec![("password".into(), "password_short")]
    );
    assert!(
        auth::session(&t.db, &s.token).await.unwrap().is_ok(),
        "a refused reset changes nothing"
    );
    acc::reset_password(&t.db, &ctx(), &c.id, "Mật khẩu mới 2026 ạ")
        .await
        .unwrap();
    assert_eq!(
        auth::session(&t.db, &s.token).await.unwrap().unwrap_err(),
        SessionState::Missing
    );
}
