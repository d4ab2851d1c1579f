use super::{citizen, count, create, ctx, fields, staff, CCCD, TAM_THANH};
use sha2::{Digest, Sha256};
use tinhso_identity::accounts as acc;
use tinhso_identity::auth;
use tinhso_identity::authz::AuthMethod;
use tinhso_identity::{authorize, Permission, ResourceScope};
use tinhso_kernel::ErrorCode;
use tinhso_store::{now_micros, Row};

fn at(agency: &str) -> ResourceScope {
    ResourceScope {
        agencies: vec![agency.into(), "000.00.00.H37".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn token_carries_only_held_scopes() {
    let t = super::db().await;
    let s = create(&t.db, &staff("canbo.api", TAM_THANH, vec![]))
        .await
        .account;
    let before = now_micros();
    let (token, info) = auth::create_token(
        &t.db,
        &ctx(),
        &s.id,
        "Đồng bộ danh mục",
        &[Permission::AgencyRead, Permission::UserRead],
        30,
    )
    .await
    .unwrap();
    assert!(token.starts_with("tsk_") && token.len() > 40, "{token}");
    assert_eq!(info.name, "Đồng bộ danh mục");
    assert_eq!(
        info.scopes,
        vec![Permission::AgencyRead, Permission::UserRead]
    );
    assert!(!info.revoked);
    assert_eq!(info.expires_at - info.created_at, 30 * 86_400 * 1_000_000);
    assert!(info.created_at >= before);
    let listed = auth::list_tokens(&t.db, &s.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, info.id);
    assert_eq!(listed[0].scopes, info.scopes);

    // a specialist holds no audit or user-management permission: a token cannot carry them
    for extra in [
        Permission::AuditRead,
        Permission::UserManage,
        Permission::AgencyUpdate,
    ] {
        let e = auth::create_token(
            &t.db,
            &ctx(),
            &s.id,
            "x",
            &[Permission::AgencyRead, extra],
            30,
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(
            fields(&e),
            vec![("scopes".into(), "scope_not_held")],
            "{extra:?}"
        );
        assert!(e.fields[0].message_en.contains(extra.as_str()));
    }
    // a citizen cannot get a back-office token
    let c = create(&t.db, &citizen(CCCD)).await.account;
    let e = auth::create_token(&t.db, &ctx(), &c.id, "x", &[Permission::BackOffice], 30)
        .await
        .unwrap_err();
    assert_eq!(fields(&e), vec![("scopes".into(), "scope_not_held")]);
    // form errors are all reported
    let e = auth::create_token(&t.db, &ctx(), &s.id, " ", &[], 400)
        .await
        .unwrap_err();
    assert_eq!(
        fields(&e),
        vec![
            ("name".into(), "too_short"),
            ("scopes".into(), "required"),
            ("ttl_days".into(), "range")
        ]
    );
    let e = auth::create_token(
        &t.db,
        &ctx(),
        "no-such-user",
        "x",
        &[Permission::AgencyRead],
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(count(&t.db, "api_tokens").await, 1);
}

#[tokio::test]
async fn token_principal_is_limited_to_the_token_scopes() {
    let t = super::db().await;
    let s = create(&t.db, &staff("canbo.api", TAM_THANH, vec![]))
        .await
        .account;
    let (token, info) =
        auth::create_token(&t.db, &ctx(), &s.id, "đọc", &[Permission::AgencyRead], 7)
            .await
            .unwrap();
    let p = auth::token_principal(&t.db, &token).await.unwrap().unwrap();
    assert_eq!(p.user_id, s.id);
    assert_eq!(
        p.method,
        AuthMethod::Token {
            token_id: info.id.clone(),
            scopes: vec![Permission::AgencyRead]
        }
    );
    assert_eq!(p.actor(), format!("user:{}/token:{}", s.id, info.id));
    let home = at(TAM_THANH);
    assert!(authorize(Some(&p), Permission::AgencyRead, &home).is_ok());
    // the role grants these, the token does not
    for perm in [
        Permission::BackOffice,
        Permission::UserRead,
        Permission::SelfService,
    ] {
        let e = authorize(Some(&p), perm, &home).unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden, "{perm:?}");
        assert!(!p.can_somewhere(perm));
    }
    let e = authorize(
        Some(&p),
        Permission::SelfService,
        &ResourceScope::owned_by(&s.id),
    )
    .unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::Forbidden,
        "self-service too is out of the token's scope"
    );
    // the token never widens the role's scope
    assert_eq!(
        authorize(Some(&p), Permission::AgencyRead, &at("000.00.21.H37"))
            .unwrap_err()
            .code,
        ErrorCode::Forbidden
    );
    // the same user through a session keeps every role permission
    let session_p = acc::principal_of(
        &acc::get(&t.db, &s.id).await.unwrap().unwrap(),
        AuthMethod::Session,
    );
    assert!(authorize(Some(&session_p), Permission::BackOffice, &home).is_ok());
    assert_eq!(
        auth::token_principal(&t.db, "tsk_unknown")
            .await
            .unwrap()
            .map(|p| p.user_id),
        None
    );
}

#[tokio::test]
async fn revoked_expired_and_disabled_tokens_resolve_to_nothing() {
    let t = super::db().await;
    let s = create(&t.db, &staff("canbo.api", TAM_THANH, vec![]))
        .await
        .account;
    let other = create(&t.db, &staff("canbo.khac", TAM_THANH, vec![]))
        .await
        .account;
    let mk = |name: &'static str| {
        let db = t.db.clone();
        let id = s.id.clone();
        async move {
            auth::create_token(&db, &ctx(), &id, name, &[Permission::AgencyRead], 30)
                .await
                .unwrap()
        }
    };
    let (revoked, revoked_info) = mk("a").await;
    let (expired, expired_info) = mk("b").await;
    let (live, _) = mk("c").await;
    // someone else cannot revoke it
    let e = auth::revoke_token(&t.db, &ctx(), &other.id, &revoked_info.id)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert!(auth::token_principal(&t.db, &revoked)
        .await
        .unwrap()
        .is_some());
    auth::revoke_token(&t.db, &ctx(), &s.id, &revoked_info.id)
        .await
        .unwrap();
    assert!(auth::token_principal(&t.db, &revoked)
        .await
        .unwrap()
        .is_none());
    let e = auth::revoke_token(&t.db, &ctx(), &s.id, &revoked_info.id)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound, "revoking twice");
    sqlx::query("UPDATE api_tokens SET expires_at = 0 WHERE id = $1")
        .bind(&expired_info.id)
        .execute(t.db.pool())
        .await
        .unwrap();
    assert!(auth::token_principal(&t.db, &expired)
        .await
        .unwrap()
        .is_none());
    assert!(auth::token_principal(&t.db, &live).await.unwrap().is_some());
    let listed = auth::list_tokens(&t.db, &s.id).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|i| (i.name.as_str(), i.revoked))
            .collect::<Vec<_>>(),
        vec![("c", false), ("b", false), ("a", true)]
    );
    // disabling the owner revokes the rest
    acc::set_disabled(&t.db, &ctx(), &s.id, true).await.unwrap();
    assert!(auth::token_principal(&t.db, &live).await.unwrap().is_none());
    let not_revoked: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")
            .fetch_one(t.db.pool())
            .await
            .unwrap();
    assert_eq!(not_revoked, 0);
    acc::set_disabled(&t.db, &ctx(), &s.id, false)
        .await
        .unwrap();
    assert!(
        auth::token_principal(&t.db, &live).await.unwrap().is_none(),
        "stays revoked"
    );
}

#[tokio::test]
async fn only_the_hash_of_a_secret_is_stored() {
    let t = super::db().await;
    let s = create(&t.db, &staff("canbo.api", TAM_THANH, vec![]))
        .await
        .account;
    let (token, info) =
        auth::create_token(&t.db, &ctx(), &s.id, "bí mật", &[Permission::AgencyRead], 1)
            .await
            .unwrap();
    let expected = hex::encode(Sha256::digest(token.as_bytes()));
    assert_eq!(auth::token_hash(&token), expected);
    let row = sqlx::query(
        "SELECT id, user_id, name, token_hash, scopes, CAST(created_at AS TEXT), CAST(expires_at AS TEXT) \
         FROM api_tokens",
    )
    .fetch_one(t.db.pool())
    .await
    .unwrap();
    let cols: Vec<String> = (0..7)
        .map(|i| row.try_get::<String, _>(i).unwrap())
        .collect();
    assert_eq!(cols[0], info.id);
    assert_eq!(cols[3], expected);
    assert_eq!(cols[4], "agency_read");
    let secret_part = token.trim_start_matches("tsk_");
    for c in &cols {
        assert!(!c.contains(secret_part), "plain token stored in {c:?}");
    }
    // the same holds for session cookies
    super::login(&t.db, "canbo.api", super::PW, None)
        .await
        .unwrap();
    let (_, session) = super::login(&t.db, "canbo.api", super::PW, None)
        .await
        .unwrap();
    let hashes: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert!(hashes.contains(&hex::encode(Sha256::digest(session.token.as_bytes()))));
    assert!(hashes
        .iter()
        .all(|h| h.len() == 64 && !h.contains(session.token.trim_start_matches("tss_"))));
}
