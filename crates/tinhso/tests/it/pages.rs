//! The pages render for every kind of visitor, in Vietnamese and in English.

use crate::{client, spawn_app, TestApp};
use reqwest::{Client, StatusCode};
use tinhso_identity::Permission;

/// (path, text the page must contain).
const PUBLIC_PAGES: &[(&str, &str)] = &[
    ("/", "Cổng dịch vụ công tỉnh Lạng Sơn"),
    ("/don-vi-hanh-chinh?q=dong+dang", "Đồng Đăng"),
    (
        "/chuyen-doi-dia-chi?dia_chi=X%C3%A3+T%C3%A2n+Thanh%2C+Huy%E1%BB%87n+V%C4%83n+L%C3%A3ng%2C+T%E1%BB%89nh+L%E1%BA%A1ng+S%C6%A1n",
        "Xã Hoàng Văn Thụ, Tỉnh Lạng Sơn",
    ),
    ("/co-quan", "Ủy ban nhân dân phường Tam Thanh"),
    ("/quan-tri/lich-lam-viec?nam=2026", "Tết"),
    ("/dang-nhap", "Đăng nhập"),
];

async fn page(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let resp = app.get(c, path).await;
    let status = resp.status();
    let ct = crate::content_type(resp.headers());
    let body = resp.text().await.unwrap();
    if status == StatusCode::OK {
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
    }
    (status, body)
}

#[tokio::test]
async fn pages_render_for_every_role() {
    let app = spawn_app().await;
    let mut visitors: Vec<(String, Client, Option<tinhso_identity::Role>)> =
        vec![("(anonymous)".into(), client(), None)];
    for d in tinhso::demo::accounts_list() {
        // More demo accounts than the sign-in limit allows from one address in a minute.
        app.auth_limiter.reset("127.0.0.1");
        visitors.push((
            d.username.to_string(),
            app.signed_in(d.username).await,
            Some(d.role),
        ));
    }
    let mut failures = Vec::new();
    for (who, c, role) in &visitors {
        let can = |p: Permission| role.is_some_and(|r| r.permissions().contains(&p));
        let mut expect: Vec<(&str, &str, u16)> = PUBLIC_PAGES
            .iter()
            .map(|(path, text)| (*path, *text, 200))
            .collect();
        let signed_in = if role.is_some() { 200 } else { 303 };
        expect.push(("/tai-khoan", "Tài khoản của tôi", signed_in));
        let by_perm = |p: Permission| match role {
            None => 303,
            Some(_) if can(p) => 200,
            Some(_) => 403,
        };
        expect.push((
            "/quan-tri/nguoi-dung",
            "Người dùng",
            by_perm(Permission::UserRead),
        ));
        expect.push((
            "/quan-tri/nhat-ky",
            "Nhật ký kiểm toán",
            by_perm(Permission::AuditRead),
        ));
        expect.push((
            "/nghiep-vu",
            "Trang nghiệp vụ",
            by_perm(Permission::BackOffice),
        ));
        expect.push((
            "/lanh-dao",
            "Trang lãnh đạo",
            by_perm(Permission::LeaderDashboard),
        ));
        for (path, text, status) in expect {
            let (got, body) = page(&app, c, path).await;
            if got.as_u16() != status {
                failures.push(format!("{who} GET {path}: expected {status}, got {got}"));
                continue;
            }
            match status {
                200 => {
                    if !body.contains("id=\"page-title\"") || !body.contains(text) {
                        failures.push(format!("{who} GET {path}: missing title or {text:?}"));
                    }
                    if let Some(name) = tinhso::demo::accounts_list()
                        .iter()
                        .find(|d| d.username == who)
                        .map(|d| d.display_name)
                    {
                        // The signed-in name and the sign-out form are in the header.
                        if !body.contains(name) || !body.contains("action=\"/dang-xuat\"") {
                            failures.push(format!("{who} GET {path}: no session header"));
                        }
                    }
                }
                403 if !body.contains("id=\"page-title\"")
                    || !body.contains("Bạn không có quyền thực hiện thao tác này") =>
                {
                    failures.push(format!("{who} GET {path}: not the forbidden page"));
                }
                303 => {
                    let to = crate::location(&app.get(c, path).await);
                    let back = tinhso_http::layout::url_encode(path);
                    if to != format!("/dang-nhap?next={back}") {
                        failures.push(format!("{who} GET {path}: redirected to {to}"));
                    }
                }
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn english_on_request() {
    let app = spawn_app().await;
    let c = client();
    let (status, html) = page(&app, &c, "/dang-nhap?lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<html lang=\"en\">"));
    assert!(
        html.contains("<h1 id=\"page-title\">Sign in</h1>"),
        "{html}"
    );
    assert!(
        !html.contains("Đăng nhập"),
        "Vietnamese left on the English page"
    );

    for (path, en) in [
        ("/?lang=en", "Lạng Sơn public service portal"),
        ("/co-quan?lang=en", "Agencies"),
        (
            "/quan-tri/lich-lam-viec?nam=2026&lang=en",
            "Working calendar",
        ),
        ("/khong-co?lang=en", "No such page or API route"),
    ] {
        let (_, html) = page(&app, &c, path).await;
        assert!(html.contains(en), "{path}");
        assert!(html.contains("<html lang=\"en\">"), "{path}");
    }
    // Without the parameter, Vietnamese again (the parameter is not sticky)…
    let (_, html) = page(&app, &c, "/dang-nhap").await;
    assert!(html.contains("<h1 id=\"page-title\">Đăng nhập</h1>"));
    // …while the language switch is.
    let resp = app.get(&c, "/ngon-ngu/en").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&app, &c, "/dang-nhap").await;
    assert!(html.contains("<h1 id=\"page-title\">Sign in</h1>"));

    // Errors of a signed-in English session are in English too.
    let resp = app
        .sign_in(&c, "020190001234", tinhso::demo::DEMO_PASSWORD, None)
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate::location(&resp), "/tai-khoan");
    let (status, html) = page(&app, &c, "/nghiep-vu").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("You are not allowed to do this"), "{html}");
    let (status, html) = page(&app, &c, "/tai-khoan").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("My account"));
}
