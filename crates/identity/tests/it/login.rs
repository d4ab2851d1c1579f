use super::{citizen, count, create, ctx, login, staff, CCCD, PW, SO_KHCN, TAM_THANH};
use tinhso_identity::accounts as acc;
use tinhso_identity::auth::{self, LOCKOUT_THRESHOLD, SESSION_ABSOLUTE_MICROS};
use tinhso_identity::{Role, Scope};
use tinhso_kernel::ErrorCode;
use tinhso_store::now_micros;

const WRONG: &str = "Sai mật khẩu 2026";

#[tokio::test]
async fn right_password_opens_a_session() {
    let t = super::db().await;
    let c = create(&t.db, &citizen(CCCD)).await.account;
    let before = now_micros();
    let (a, s) = login(&t.db, " 020 190 001 234 ", PW, None).await.unwrap();
    assert_eq!(a.id, c.id);
    assert_eq!(s.user_id, c.id);
    assert!(
        s.token.starts_with("tss_") && s.token.len() > 40,
        "{}",
        s.token
    );
    assert!(!s.csrf_token.is_empty() && s.csrf_token != s.token);
    assert!(
        s.expires_at >= before + SESSION_ABSOLUTE_MICROS
            && s.expires_at <= now_micros() + SESSION_ABSOLUTE_MICROS
    );
    assert_eq!(count(&t.db, "sessions").await, 1);
    let e = tinhso_store::audit::list(&t.db, &Default::default())
        .await
        .unwrap();
    assert_eq!(e[0].action, "auth.login");
    assert_eq!(e[0].actor, format!("user:{}", c.id));
    assert_eq!(e[0].target_id, c.id);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let t = super::db().await;
    create(&t.db, &citizen(CCCD)).await;
    let wrong_pw = login(&t.db, CCCD, WRONG, None).await.unwrap_err();
    let unknown = login(&t.db, "020190009999", PW, None).await.unwrap_err();
    for e in [&wrong_pw, &unknown] {
        assert_eq!(e.code, ErrorCode::InvalidCredentials);
        assert_eq!(e.code.as_str(), "invalid_credentials");
        assert_eq!(e.status(), 401);
    }
    assert_eq!(wrong_pw.detail_vi, unknown.detail_vi);
    assert_eq!(wrong_pw.detail_en, unknown.detail_en);
    assert_eq!(wrong_pw.fields, unknown.fields);
    assert_eq!(wrong_pw.to_string(), unknown.to_string());
    assert_eq!(count(&t.db, "sessions").await, 0);
    // both failures are recorded per user name
    assert_eq!(count(&t.db, "login_throttle").await, 2);
    let failed = tinhso_store::audit::list(
        &t.db,
        &tinhso_store::audit::AuditFilter {
            action: Some("auth.login_failed".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(failed.len(), 2);
    // empty fields are a 422, not a failed attempt
    let e = login(&t.db, " ", "", None).await.unwrap_err();
    assert_eq!(e.status(), 422);
    assert_eq!(
        super::fields(&e),
        vec![
            ("username".into(), "required"),
            ("password".into(), "required")
        ]
    );
}

#[tokio::test]
async fn five_failures_lock_the_name_until_reset() {
    let t = super::db().await;
    let c = create(&t.db, &staff("canbo.khoa", TAM_THANH, vec![]))
        .await
        .account;
    for i in 1..=LOCKOUT_THRESHOLD {
        let e = login(&t.db, "canbo.khoa", WRONG, None).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidCredentials, "attempt {i}");
    }
    let failures: i64 =
        sqlx::query_scalar("SELECT failures FROM login_throttle WHERE username = 'canbo.khoa'")
            .fetch_one(t.db.pool())
            .await
            .unwrap();
    assert_eq!(failures, 5);
    // locked now, even with the right password and with the name typed in another case
    for name in ["canbo.khoa", "CanBo.Khoa"] {
        let e = login(&t.db, name, PW, None).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::AccountLocked, "{name}");
        assert_eq!(e.code.as_str(), "account_locked");
        assert_eq!(e.status(), 429);
        let secs: i64 = e
            .detail_en
            .as_deref()
            .unwrap()
            .trim_start_matches("Try again in ")
            .trim_end_matches(" seconds")
            .parse()
            .unwrap();
        assert!((1..=31).contains(&secs), "{secs}");
    }
    assert_eq!(count(&t.db, "sessions").await, 0);
    // a locked attempt is not counted as another failure
    let failures: i64 =
        sqlx::query_scalar("SELECT failures FROM login_throttle WHERE username = 'canbo.khoa'")
            .fetch_one(t.db.pool())
            .await
            .unwrap();
    assert_eq!(failures, 5);

    acc::reset_password(&t.db, &ctx(), &c.id, "Mật khẩu mới Xứ Lạng 2026")
        .await
        .unwrap();
    assert_eq!(count(&t.db, "login_throttle").await, 0);
    let e = login(&t.db, "canbo.khoa", PW, None).await.unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::InvalidCredentials,
        "the old password no longer works"
    );
    let (a, _) = login(&t.db, "canbo.khoa", "Mật khẩu mới Xứ Lạng 2026", None)
        .await
        .unwrap();
    assert_eq!(a.id, c.id);
    // a successful sign-in clears the failure counter
    assert_eq!(count(&t.db, "login_throttle").await, 0);
}

#[tokio::test]
async fn unknown_names_are_locked_too() {
    let t = super::db().await;
    for _ in 0..LOCKOUT_THRESHOLD {
        let e = login(&t.db, "khong.ton.tai", WRONG, None)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidCredentials);
    }
    let e = login(&t.db, "khong.ton.tai", WRONG, None)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AccountLocked);
    // another name is not affected
    let e = login(&t.db, "ten.khac", WRONG, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidCredentials);
}

#[tokio::test]
async fn disabled_account_is_told_only_after_the_right_password() {
    let t = super::db().await;
    let c = create(&t.db, &citizen(CCCD)).await.account;
    let d = acc::set_disabled(&t.db, &ctx(), &c.id, true).await.unwrap();
    assert!(d.disabled);
    let e = login(&t.db, CCCD, WRONG, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidCredentials);
    let e = login(&t.db, CCCD, PW, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AccountDisabled);
    assert_eq!(e.code.as_str(), "account_disabled");
    assert_eq!(e.status(), 403);
    assert_eq!(count(&t.db, "sessions").await, 0);
    acc::set_disabled(&t.db, &ctx(), &c.id, false)
        .await
        .unwrap();
    assert!(login(&t.db, CCCD, PW, None).await.is_ok());
}

/// A six-digit code that is not the current one (nor, with overwhelming likelihood, one of
/// its neighbours in the allowed clock skew).
fn other_code(code: &str) -> String {
    format!(
        "{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    )
}

#[tokio::test]
async fn leaders_and_admins_need_a_totp_code() {
    let t = super::db().await;
    let leader = create(
        &t.db,
        &staff(
            "giamdoc.khcn",
            SO_KHCN,
            vec![(Role::DepartmentLeader, Scope::Agency(SO_KHCN.into()))],
        ),
    )
    .await;
    let admin = create(
        &t.db,
        &staff("quantri", SO_KHCN, vec![(Role::Admin, Scope::Province)]),
    )
    .await;
    for (name, c) in [("giamdoc.khcn", &leader), ("quantri", &admin)] {
        assert!(c.account.totp_enabled, "{name}");
        assert!(c.totp_uri.is_some(), "{name}");
        let secret = auth::totp_secret_of(&t.db, &c.account.id)
            .await
            .unwrap()
            .unwrap();
        let e = login(&t.db, name, PW, None).await.unwrap_err();
        assert_eq!(e.code.as_str(), "totp_required", "{name}");
        let e = login(&t.db, name, PW, Some("   ")).await.unwrap_err();
        assert_eq!(e.code.as_str(), "totp_required", "{name}: blank code");
        let code = auth::totp_now(&secret).unwrap();
        assert_eq!(code.len(), 6);
        let e = login(&t.db, name, PW, Some(&other_code(&code)))
            .await
            .unwrap_err();
        assert_eq!(e.code.as_str(), "totp_invalid", "{name}");
        // the right code with a wrong password is worth nothing
        let e = login(&t.db, name, WRONG, Some(&code)).await.unwrap_err();
        assert_eq!(e.code.as_str(), "invalid_credentials", "{name}");
        let code = auth::totp_now(&secret).unwrap();
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        let (a, s) = login(&t.db, name, PW, Some(&spaced)).await.unwrap();
        assert_eq!(a.id, c.account.id);
        assert_eq!(s.user_id, c.account.id);
        // the same code cannot be used twice (replay within its 30-second window)
        let e = login(&t.db, name, PW, Some(&code)).await.unwrap_err();
        assert_eq!(e.code.as_str(), "totp_invalid", "{name}: replayed code");
    }
    assert_eq!(count(&t.db, "sessions").await, 2);
    // a plain specialist and a citizen have no second factor
    let s = create(&t.db, &staff("chuyenvien", SO_KHCN, vec![]))
        .await
        .account;
    assert_eq!(auth::totp_secret_of(&t.db, &s.id).await.unwrap(), None);
    assert!(login(&t.db, "chuyenvien", PW, None).await.is_ok());
}

#[tokio::test]
async fn concurrent_failures_are_all_counted() {
    let t = super::db().await;
    create(&t.db, &citizen(CCCD)).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            login(&db, CCCD, WRONG, None).await.unwrap_err().code
        }));
    }
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    // every attempt that got past the lock check failed on the password and was counted
    let invalid = codes
        .iter()
        .filter(|c| **c == ErrorCode::InvalidCredentials)
        .count() as i64;
    assert!(invalid >= LOCKOUT_THRESHOLD, "{codes:?}");
    assert!(codes
        .iter()
        .all(|c| matches!(c, ErrorCode::InvalidCredentials | ErrorCode::AccountLocked)));
    let failures: i64 =
        sqlx::query_scalar("SELECT failures FROM login_throttle WHERE username = $1")
            .bind(CCCD)
            .fetch_one(t.db.pool())
            .await
            .unwrap();
    assert_eq!(failures, invalid);
    assert_eq!(
        login(&t.db, CCCD, PW, None).await.unwrap_err().code,
        ErrorCode::AccountLocked
    );
}

#[tokio::test]
async fn identifiers_sign_in_however_they_are_typed() {
    let t = super::db().await;
    create(&t.db, &citizen(CCCD)).await;
    for typed in [
        "020190001234",
        "020-190-001-234",
        "020.190.001.234",
        " 020 190 001 234 ",
    ] {
        let (a, _) = login(&t.db, typed, PW, None)
            .await
            .unwrap_or_else(|e| panic!("{typed:?}: {e}"));
        assert_eq!(a.username, CCCD, "{typed:?}");
    }
    let e = login(&t.db, "020-190-001-235", PW, None).await.unwrap_err();
    assert_eq!(e.code.as_str(), "invalid_credentials");
}
