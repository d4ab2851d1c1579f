//! Sign-in through the form: errors, redirects, CSRF, expiry, second factor, rate limit.

use crate::{client, element_text, hidden_field, location, spawn_app, totp};
use reqwest::StatusCode;
use tinhso::demo::DEMO_PASSWORD;

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app().await;
    let sessions = app.count("SELECT COUNT(*) FROM sessions").await;

    let mut seen = Vec::new();
    for (username, password) in [
        ("motcua.tinh", "Sai mật khẩu 2026!"),
        ("khong.co.ai", DEMO_PASSWORD),
    ] {
        let c = client();
        let resp = app.sign_in(&c, username, password, None).await;
        let status = resp.status();
        assert!(resp
            .headers()
            .get("set-cookie")
            .is_none_or(|v| !v.to_str().unwrap().starts_with("tinhso_session=")));
        let html = resp.text().await.unwrap();
        let msg = element_text(&html, "login-error").expect("error message");
        // The form keeps the user name typed, not the password.
        assert!(html.contains(&format!("value=\"{username}\"")));
        assert!(!html.contains(password));
        seen.push((status, msg));
    }
    assert_eq!(seen[0], seen[1], "wrong password vs unknown user");
    assert_eq!(seen[0].0, StatusCode::UNAUTHORIZED);
    assert_eq!(seen[0].1, "Tên đăng nhập hoặc mật khẩu không đúng");
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, sessions);
    // Both failures are audited, with the reason kept for the auditors only.
    assert_eq!(app.audit_count("auth.login_failed").await, 2);
}

#[tokio::test]
async fn csrf_field_is_required() {
    let app = spawn_app().await;
    let c = client();
    let page = app.get(&c, "/dang-nhap").await;
    let set_cookie = page.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("tinhso_csrf="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let html = page.text().await.unwrap();
    let csrf = hidden_field(&html, "csrf").unwrap();

    for (what, form) in [
        (
            "no csrf field",
            vec![("username", "motcua.tinh"), ("password", DEMO_PASSWORD)],
        ),
        (
            "wrong csrf field",
            vec![
                ("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                ("username", "motcua.tinh"),
                ("password", DEMO_PASSWORD),
            ],
        ),
    ] {
        let resp = c
            .post(app.url("/dang-nhap"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{what}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("csrf_failed"), "{what}: {html}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);

    // The right field signs in.
    let resp = c
        .post(app.url("/dang-nhap"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "motcua.tinh"),
            ("password", DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1);
}

#[tokio::test]
async fn one_stop_officer_lands_on_the_back_office() {
    let app = spawn_app().await;
    let c = client();

    // Signed out, the back office sends to sign-in and remembers the page.
    let resp = app.get(&c, "/nghiep-vu").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/dang-nhap?next=%2Fnghiep-vu");

    let resp = app.sign_in(&c, "motcua.tinh", DEMO_PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/nghiep-vu");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("tinhso_session="))
        .expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-HTTP test server: {cookie}"
    );

    let resp = app.get(&c, "/nghiep-vu").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Trang nghiệp vụ"));
    assert!(html.contains("Nông Văn Hùng"));
    assert!(html.contains("Trung tâm Phục vụ hành chính công tỉnh Lạng Sơn"));
    // The one-stop officer is not a leader.
    assert_eq!(
        app.get(&c, "/lanh-dao").await.status(),
        StatusCode::FORBIDDEN
    );

    // Signing out ends the session.
    let csrf = hidden_field(&html, "csrf").unwrap();
    let resp = c
        .post(app.url("/dang-xuat"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/");
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    let resp = app.get(&c, "/nghiep-vu").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/dang-nhap?next=%2Fnghiep-vu");
}

#[tokio::test]
async fn sign_in_returns_to_the_remembered_page_only_on_this_site() {
    let app = spawn_app().await;
    for (next, expected) in [
        (
            "/quan-tri/lich-lam-viec?nam=2026",
            "/quan-tri/lich-lam-viec?nam=2026",
        ),
        ("//evil.example/x", "/nghiep-vu"),
        ("https://evil.example/", "/nghiep-vu"),
    ] {
        let c = client();
        let html = app
            .get(
                &c,
                &format!("/dang-nhap?next={}", tinhso_http::layout::url_encode(next)),
            )
            .await
            .text()
            .await
            .unwrap();
        let csrf = hidden_field(&html, "csrf").unwrap();
        let resp = c
            .post(app.url("/dang-nhap"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", "congchuc.tamthanh"),
                ("password", DEMO_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(location(&resp), expected, "{next}");
    }
}

#[tokio::test]
async fn expired_session_goes_back_to_sign_in() {
    let app = spawn_app().await;
    let c = app.signed_in("motcua.tinh").await;
    assert_eq!(app.get(&c, "/nghiep-vu").await.status(), StatusCode::OK);

    sqlx::query("UPDATE sessions SET expires_at = 0")
        .execute(app.db.pool())
        .await
        .unwrap();
    let resp = app.get(&c, "/nghiep-vu").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = location(&resp);
    assert_eq!(to, "/dang-nhap?next=%2Fnghiep-vu&expired=1");
    // The expired session is gone.
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    // The API says so too.
    let (status, p) = crate::problem(app.get(&c, "/api/v1/me").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(p["code"], "unauthenticated", "the session was deleted: {p}");

    let resp = app.get(&c, &to).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Phiên làm việc đã hết hạn"));
    assert_eq!(hidden_field(&html, "next").as_deref(), Some("/nghiep-vu"));
}

#[tokio::test]
async fn leaders_need_a_second_factor() {
    let app = spawn_app().await;
    let c = client();
    let resp = app.sign_in(&c, "lanhdao.tinh", DEMO_PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert_eq!(
        element_text(&html, "login-error").as_deref(),
        Some("Cần nhập mã xác thực hai lớp (TOTP)")
    );
    // The code field becomes required.
    assert!(html.contains("required aria-describedby=\"login-error\""));

    // A code that is not the current one (the neighbouring windows are accepted too: the
    // chance that 000000 is one of them is negligible).
    let wrong = if totp() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let resp = app
        .sign_in(&c, "lanhdao.tinh", DEMO_PASSWORD, Some(wrong))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert_eq!(
        element_text(&html, "login-error").as_deref(),
        Some("Mã xác thực hai lớp không đúng hoặc đã hết hạn")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);

    let resp = app
        .sign_in(&c, "lanhdao.tinh", DEMO_PASSWORD, Some(&totp()))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/nghiep-vu");
    let resp = app.get(&c, "/lanh-dao").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("Trang lãnh đạo"));
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_client() {
    let app = spawn_app().await;
    let c = client();
    let mut first_limited = None;
    for i in 1..=14 {
        // A different unknown name each time, so the per-name lockout does not interfere.
        let resp = app
            .sign_in(&c, &format!("khong.co.{i}"), "Sai mật khẩu 2026!", None)
            .await;
        match resp.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                let html = resp.text().await.unwrap();
                assert_eq!(
                    element_text(&html, "login-error").as_deref(),
                    Some("Quá nhiều yêu cầu, vui lòng thử lại sau")
                );
                first_limited = Some(i);
                break;
            }
            other => panic!("attempt {i}: {other}"),
        }
    }
    let first = first_limited.expect("no 429 after 14 attempts");
    assert!(first > 10, "limited after only {first} attempts");
    // Refused attempts are not even checked: no audit entry for them.
    assert_eq!(app.audit_count("auth.login_failed").await, first - 1);
    // While limited, even the right password does not get a session.
    let resp = app.sign_in(&c, "motcua.tinh", DEMO_PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    // The JSON sign-in shares the limit (a client without cookies: no CSRF token needed).
    let (status, p) = crate::problem(
        client()
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "motcua.tinh", "password": DEMO_PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(p["code"], "rate_limited");
}

/// Login CSRF: a foreign page posting our sign-in form from a browser that has never visited
/// us carries no cookie at all; it must still be refused, or the victim would be signed in as
/// the attacker.
#[tokio::test]
async fn cross_site_sign_in_without_cookies_is_refused() {
    let app = spawn_app().await;
    let sessions = app.count("SELECT COUNT(*) FROM sessions").await;
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/dang-nhap"))
        .form(&[
            ("csrf", "forged"),
            ("username", "motcua.tinh"),
            ("password", DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp
        .headers()
        .get("set-cookie")
        .is_none_or(|v| !v.to_str().unwrap().contains("tinhso_session=")));
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, sessions);
}

/// The JSON sign-in needs no CSRF token even from a browser that holds the pre-session cookie
/// (it is HttpOnly, so no script could send it): it carries no ambient authority.
#[tokio::test]
async fn json_sign_in_with_only_the_pre_session_cookie_works() {
    let app = spawn_app().await;
    let c = client();
    let _ = app.get(&c, "/dang-nhap").await; // receives the pre-session CSRF cookie
    let resp = c
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "motcua.tinh", "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
