//! API authentication: JSON sign-in with a session cookie and CSRF header, and API tokens.

use crate::{client, json, problem, spawn_app, totp};
use reqwest::StatusCode;
use serde_json::json;
use tinhso::demo::DEMO_PASSWORD;

#[tokio::test]
async fn cookie_session_needs_the_csrf_header_for_writes() {
    let app = spawn_app().await;
    let tam_thanh = app.agency("tam thanh", "ubnd_xa").await;
    let code = tam_thanh["code"].as_str().unwrap().to_string();
    let c = client();

    // Without the second factor the admin is refused.
    let (status, p) = problem(
        c.post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": "quantri", "password": DEMO_PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(p["code"], "totp_required");

    let resp = c
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "quantri", "password": DEMO_PASSWORD, "totp": totp()}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("tinhso_session=tss_"), "{cookie}");
    assert!(cookie.contains("HttpOnly"));
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["account"]["username"], "quantri");
    assert!(v["account"].get("password_hash").is_none());
    let csrf = v["csrf_token"].as_str().unwrap().to_string();
    assert!(csrf.len() >= 32);

    let (status, me) = json(app.get(&c, "/api/v1/me").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "quantri");

    // Writes relying on the cookie need the header.
    let before = app.agency_row(&code).await;
    let patch = json!({"phone": "0205 3812 999"});
    let writes = [
        c.patch(app.url(&format!("/api/v1/agencies/{code}")))
            .json(&patch),
        c.post(app.url("/api/v1/me/tokens"))
            .json(&json!({"name": "x", "scopes": ["user_read"], "ttl_days": 30})),
        c.post(app.url("/api/v1/audit/verify")),
        c.patch(app.url(&format!("/api/v1/agencies/{code}")))
            .header("x-csrf-token", "not-the-token")
            .json(&patch),
    ];
    for w in writes {
        let (status, p) = problem(w.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(p["code"], "csrf_failed");
    }
    assert_eq!(app.agency_row(&code).await, before);
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens").await, 0);

    let resp = c
        .patch(app.url(&format!("/api/v1/agencies/{code}")))
        .header("x-csrf-token", &csrf)
        .json(&patch)
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Stored in canonical form.
    assert_eq!(v["phone"], "02053812999");
    assert_eq!(app.agency_row(&code).await.phone, "02053812999");

    // Signing out through the API ends the session.
    let resp = c
        .post(app.url("/api/v1/auth/logout"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _) = problem(app.get(&c, "/api/v1/me").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_tokens_carry_only_their_scopes() {
    let app = spawn_app().await;
    let (c, csrf) = app.api_signed_in("quantri").await;
    let tam_thanh = app.agency("tam thanh", "ubnd_xa").await;
    let code = tam_thanh["code"].as_str().unwrap().to_string();

    // Scopes are checked: unknown ones, and none at all, are refused.
    for (body, field) in [
        (
            json!({"name": "x", "scopes": ["fly"], "ttl_days": 30}),
            "scopes",
        ),
        (json!({"name": "x", "scopes": [], "ttl_days": 30}), "scopes"),
        (
            json!({"name": "x", "scopes": ["user_read"], "ttl_days": 0}),
            "ttl_days",
        ),
    ] {
        let resp = c
            .post(app.url("/api/v1/me/tokens"))
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, p) = problem(resp).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }

    let resp = c
        .post(app.url("/api/v1/me/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "Đồng bộ danh bạ", "scopes": ["user_read"], "ttl_days": 30}))
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("tsk_"));
    assert_eq!(v["info"]["scopes"], json!(["user_read"]));
    // Only the hash is stored.
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_ne!(stored, token);
    assert_eq!(stored, tinhso_identity::auth::token_hash(&token));

    // The token, without any cookie.
    let bare = reqwest::Client::new();
    let (status, users) = json(
        bare.get(app.url("/api/v1/users?limit=500"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        tinhso::demo::accounts_list().len(),
        "{names:?}"
    );

    // A write the admin could do, but the token may not: refused, and audited.
    let denied = app.audit_count("authz.denied").await;
    let before = app.agency_row(&code).await;
    let (status, p) = problem(
        bare.patch(app.url(&format!("/api/v1/agencies/{code}")))
            .bearer_auth(&token)
            .json(&json!({"phone": "0205 3000 000"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(p["code"], "forbidden");
    assert_eq!(app.agency_row(&code).await, before);
    assert_eq!(app.audit_count("authz.denied").await, denied + 1);
    // Reading the audit trail is another scope the token lacks.
    let (status, _) = problem(
        bare.get(app.url("/api/v1/audit"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    for garbage in ["tsk_garbage", "tss_not-a-token"] {
        let (status, p) = problem(
            bare.get(app.url("/api/v1/users"))
                .header("authorization", format!("Bearer {garbage}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{garbage:?}");
        assert_eq!(p["code"], "token_invalid");
    }

    // Revoked tokens stop working at once.
    let id = v["info"]["id"].as_str().unwrap();
    let resp = c
        .delete(app.url(&format!("/api/v1/me/tokens/{id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, p) = problem(
        bare.get(app.url("/api/v1/users"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(p["code"], "token_invalid");
}

/// A token cannot carry more than its owner holds.
#[tokio::test]
async fn tokens_cannot_exceed_their_owner() {
    let app = spawn_app().await;
    let (c, csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let resp = c
        .post(app.url("/api/v1/me/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "x", "scopes": ["user_manage"], "ttl_days": 30}))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "scope_not_held");
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens").await, 0);
}
