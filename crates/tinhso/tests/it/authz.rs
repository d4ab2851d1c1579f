//! Authorization over HTTP: who may do what where, refusals audited, nothing changed by a
//! refused request.

use crate::{client, json, spawn_app, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A signed-in demo account: cookie client, CSRF token, user id.
struct Session {
    client: Client,
    csrf: String,
    user_id: String,
}

async fn session(app: &TestApp, username: &str) -> Session {
    let (client, csrf) = app.api_signed_in(username).await;
    let (status, me) = json(app.get(&client, "/api/v1/me").await).await;
    assert_eq!(status, StatusCode::OK);
    Session {
        client,
        csrf,
        user_id: me["id"].as_str().unwrap().to_string(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    /// PATCH /api/v1/agencies/{code} (contact details).
    PatchContact,
    /// GET /api/v1/agencies/{code}/staff.
    Staff,
    /// GET a page or API path (the target is the path).
    Get,
    /// GET /api/v1/users/{id} (the target is a user name).
    GetUser,
}

#[tokio::test]
async fn authorization_matrix() {
    let app = spawn_app().await;
    let tt = app.agency("tam thanh", "ubnd_xa").await;
    let dk = app.agency("dong kinh", "ubnd_xa").await;
    assert_eq!(tt["admin_unit_code"], "05986");
    assert_eq!(dk["admin_unit_code"], "05977");
    let tt = tt["code"].as_str().unwrap().to_string();
    let dk = dk["code"].as_str().unwrap().to_string();
    let so_khcn = app.agency("khoa hoc va cong nghe", "so").await["code"]
        .as_str()
        .unwrap()
        .to_string();

    let mut s: HashMap<&str, Session> = HashMap::new();
    for u in [
        "congchuc.tamthanh",
        "congchuc.dongkinh",
        "020190001234",
        "lanhdao.sokhcn",
        "quantri",
        "kiemtoan",
    ] {
        s.insert(u, session(&app, u).await);
    }
    let agency = |k: &str| match k {
        "TT" => tt.clone(),
        "DK" => dk.clone(),
        "KHCN" => so_khcn.clone(),
        other => panic!("{other}"),
    };

    use Action::*;
    let table: &[(&str, Action, &str, u16)] = &[
        // Commune officers: their own UBND, not the other commune's.
        ("congchuc.tamthanh", PatchContact, "TT", 200),
        ("congchuc.tamthanh", PatchContact, "DK", 403),
        ("congchuc.dongkinh", PatchContact, "DK", 200),
        ("congchuc.dongkinh", PatchContact, "TT", 403),
        ("congchuc.tamthanh", PatchContact, "KHCN", 403),
        ("congchuc.tamthanh", Staff, "TT", 200),
        ("congchuc.tamthanh", Staff, "DK", 403),
        ("congchuc.dongkinh", Staff, "DK", 200),
        ("congchuc.dongkinh", Staff, "TT", 403),
        ("congchuc.tamthanh", GetUser, "congchuc.tamthanh", 200),
        ("congchuc.tamthanh", GetUser, "congchuc.dongkinh", 403),
        ("congchuc.tamthanh", GetUser, "quantri", 403),
        ("congchuc.tamthanh", Get, "/nghiep-vu", 200),
        ("congchuc.tamthanh", Get, "/lanh-dao", 403),
        ("congchuc.tamthanh", Get, "/api/v1/audit", 403),
        ("congchuc.tamthanh", Get, "/quan-tri/nhat-ky", 403),
        // A citizen has no back office at all.
        ("020190001234", Get, "/api/v1/users", 403),
        ("020190001234", Get, "/nghiep-vu", 403),
        ("020190001234", Get, "/quan-tri/nguoi-dung", 403),
        ("020190001234", PatchContact, "TT", 403),
        ("020190001234", Staff, "TT", 403),
        ("020190001234", Get, "/tai-khoan", 200),
        ("020190001234", Get, "/api/v1/me", 200),
        // A department leader: leaders' page, own agency, not the communes.
        ("lanhdao.sokhcn", PatchContact, "TT", 403),
        ("lanhdao.sokhcn", PatchContact, "KHCN", 200),
        ("lanhdao.sokhcn", Staff, "KHCN", 200),
        ("lanhdao.sokhcn", Staff, "TT", 403),
        ("lanhdao.sokhcn", Get, "/lanh-dao", 200),
        ("lanhdao.sokhcn", Get, "/api/v1/audit", 200),
        ("lanhdao.sokhcn", GetUser, "congchuc.tamthanh", 403),
        // The administrator reaches everything.
        ("quantri", PatchContact, "TT", 200),
        ("quantri", PatchContact, "DK", 200),
        ("quantri", Staff, "DK", 200),
        ("quantri", GetUser, "congchuc.dongkinh", 200),
        ("quantri", Get, "/quan-tri/nguoi-dung", 200),
        // The auditor reads the trail and changes nothing.
        ("kiemtoan", PatchContact, "TT", 403),
        ("kiemtoan", Get, "/api/v1/users", 403),
        ("kiemtoan", Get, "/nghiep-vu", 403),
        ("kiemtoan", Get, "/api/v1/audit", 200),
        ("kiemtoan", Get, "/quan-tri/nhat-ky", 200),
    ];

    let mut failures = Vec::new();
    for (i, &(who, action, target, expected)) in table.iter().enumerate() {
        let sess = &s[who];
        let denied_before = app.audit_count("authz.denied").await;
        let row = format!("{who} {action:?} {target}");
        let status = match action {
            PatchContact => {
                let code = agency(target);
                let before = app.agency_row(&code).await;
                let phone = format!("0205 3800 {i:03}");
                let canonical = phone.replace(' ', "");
                let resp = sess
                    .client
                    .patch(app.url(&format!("/api/v1/agencies/{code}")))
                    .header("x-csrf-token", &sess.csrf)
                    .json(&json!({"phone": phone, "working_hours": format!("Giờ hành chính ({who})")}))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let after = app.agency_row(&code).await;
                if status == 200 {
                    let body: Value = resp.json().await.unwrap();
                    assert_eq!(body["phone"], canonical.as_str(), "{row}");
                    assert_eq!(after.phone, canonical, "{row}: not stored");
                    assert_eq!(after.working_hours, format!("Giờ hành chính ({who})"));
                    assert_eq!(
                        after.address, before.address,
                        "{row}: untouched field changed"
                    );
                } else {
                    assert_eq!(after, before, "{row}: refused but changed");
                }
                status
            }
            Staff => {
                let code = agency(target);
                let resp = sess
                    .client
                    .get(app.url(&format!("/api/v1/agencies/{code}/staff")))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                if status == 200 {
                    let list: Value = resp.json().await.unwrap();
                    let mut staff: Vec<&str> = list
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| {
                            assert_eq!(a["agency_code"], code.as_str(), "{row}");
                            a["username"].as_str().unwrap()
                        })
                        .collect();
                    staff.sort_unstable();
                    let expected_staff: &[&str] = match target {
                        "TT" => &["congchuc.tamthanh", "lanhdao.tamthanh"],
                        "DK" => &["congchuc.dongkinh"],
                        _ => &["lanhdao.sokhcn", "quantri", "quantri.lgsp"],
                    };
                    assert_eq!(staff, expected_staff, "{row}");
                }
                status
            }
            Get => {
                let resp = app.get(&sess.client, target).await;
                resp.status().as_u16()
            }
            GetUser => {
                let id = &s[target].user_id;
                let resp = app.get(&sess.client, &format!("/api/v1/users/{id}")).await;
                let status = resp.status().as_u16();
                if status == 200 {
                    let v: Value = resp.json().await.unwrap();
                    assert_eq!(v["username"], target, "{row}");
                }
                status
            }
        };
        if status != expected {
            failures.push(format!("{row}: expected {expected}, got {status}"));
            continue;
        }
        // Every refusal is in the audit trail, naming who and what; nothing else is.
        let denied_after = app.audit_count("authz.denied").await;
        let expected_denials = i64::from(status == 403);
        if denied_after - denied_before != expected_denials {
            failures.push(format!(
                "{row}: {} authz.denied entries written, expected {expected_denials}",
                denied_after - denied_before
            ));
        }
        if status == 403 {
            let (actor, summary): (String, String) = sqlx::query_as(
                "SELECT actor, summary FROM audit_log WHERE action = 'authz.denied' ORDER BY seq DESC LIMIT 1",
            )
            .fetch_one(app.db.pool())
            .await
            .unwrap();
            assert_eq!(actor, format!("user:{}", sess.user_id), "{row}");
            assert!(summary.contains("\"permission\""), "{row}: {summary}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `GET /api/v1/users` lists only the accounts of the caller's reach.
#[tokio::test]
async fn user_lists_follow_the_scope() {
    let app = spawn_app().await;
    let usernames = |v: &Value| -> Vec<String> {
        let mut u: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["username"].as_str().unwrap().to_string())
            .collect();
        u.sort();
        u
    };
    for (who, expected) in [
        (
            "congchuc.tamthanh",
            vec!["congchuc.tamthanh", "lanhdao.tamthanh"],
        ),
        ("congchuc.dongkinh", vec!["congchuc.dongkinh"]),
        ("motcua.tinh", vec!["motcua.tinh"]),
    ] {
        let (c, _) = app.api_signed_in(who).await;
        let (status, v) = json(app.get(&c, "/api/v1/users?limit=500").await).await;
        assert_eq!(status, StatusCode::OK, "{who}: {v}");
        assert_eq!(usernames(&v), expected, "{who}");
        // The page shows the same.
        let html = app
            .get(&c, "/quan-tri/nguoi-dung")
            .await
            .text()
            .await
            .unwrap();
        for d in tinhso::demo::accounts_list() {
            assert_eq!(
                html.contains(&format!("<code>{}</code>", d.username)),
                expected.contains(&d.username),
                "{who} sees {} on the users page?",
                d.username
            );
        }
    }
    let (c, _) = app.api_signed_in("quantri").await;
    let (_, v) = json(app.get(&c, "/api/v1/users?limit=500").await).await;
    assert_eq!(usernames(&v).len(), tinhso::demo::accounts_list().len());
}

/// A commune-scoped officer reaches the commune's People's Committee, not the central
/// agencies that happen to sit in the commune (customs, border guards): listing, reading
/// and editing must agree.
#[tokio::test]
async fn commune_scope_excludes_central_agencies_in_the_commune() {
    let app = spawn_app().await;
    let ubnd = app.agency("dong dang", "ubnd_xa").await;
    assert_eq!(ubnd["admin_unit_code"], "06184");
    let ubnd = ubnd["code"].as_str().unwrap().to_string();
    let customs = app.agency("hai quan huu nghi", "trung_uong").await;
    assert_eq!(customs["admin_unit_code"], "06184");
    let customs = customs["code"].as_str().unwrap().to_string();

    let (admin, csrf) = app.api_signed_in("quantri").await;
    let mut ids = HashMap::new();
    for (username, agency, roles) in [
        (
            "congchuc.dongdang",
            &ubnd,
            json!([{"role": "commune_officer", "scope": {"kind": "commune", "code": "06184"}}]),
        ),
        ("nv.haiquan.hn", &customs, json!([])),
    ] {
        let resp = admin
            .post(app.url("/api/v1/users"))
            .header("x-csrf-token", &csrf)
            .json(&json!({
                "kind": "staff", "username": username, "display_name": format!("Cán bộ {username}"),
                "agency_code": agency, "password": tinhso::demo::DEMO_PASSWORD, "roles": roles,
            }))
            .send()
            .await
            .unwrap();
        let (status, v) = json(resp).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        ids.insert(username, v["account"]["id"].as_str().unwrap().to_string());
    }

    let c = client();
    let resp = app
        .sign_in(&c, "congchuc.dongdang", tinhso::demo::DEMO_PASSWORD, None)
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // Reading and editing the customs post are refused…
    let (status, _) = json(
        app.get(&c, &format!("/api/v1/users/{}", ids["nv.haiquan.hn"]))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = json(
        app.get(&c, &format!("/api/v1/agencies/{customs}/staff"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // …the People's Committee is reachable…
    let (status, _) = json(app.get(&c, &format!("/api/v1/agencies/{ubnd}/staff")).await).await;
    assert_eq!(status, StatusCode::OK);
    // …and the user list agrees with both.
    let (status, v) = json(app.get(&c, "/api/v1/users?limit=500").await).await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["congchuc.dongdang"],
        "listed beyond the commune's reach"
    );
}
