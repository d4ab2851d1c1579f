//! The exchange hub's page forms over HTTP (biểu mẫu trang quản trị trục liên thông): the
//! system administrator registers a member, grants and revokes a right, sets a member's
//! rate, replays a dead-lettered webhook delivery and suspends / resumes a subscription
//! through `/quan-tri/truc-lien-thong`; field errors come back in Vietnamese with what was
//! typed; every change is on the audit trail; others get 403 and a post without the CSRF
//! token is refused, with nothing written.

use crate::{hidden_field, location, spawn_app, text, TestApp};
use reqwest::{Client, StatusCode};
use tinhso_exchange::{registry, signing, webhooks};
use tinhso_store::audit::Ctx;

const CLIENT: &str = "000.00.77.H37";
const PROVIDER: &str = "000.00.78.H37";
const SERVICE: &str = "so-ho-tich";
const PAGE: &str = "/quan-tri/truc-lien-thong";

fn key(seed: u8) -> String {
    signing::public_key_b64(&ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
}

fn ctx() -> Ctx {
    Ctx {
        actor: "user:test".into(),
        request_id: "test".into(),
    }
}

/// A provider with a service, a client with a topic right, a webhook subscription and one
/// dead-lettered delivery of it: (subscription id, delivery id).
async fn seed(app: &TestApp) -> (String, String) {
    let db = &app.db;
    registry::register_member(db, &ctx(), PROVIDER, "Sở Tư pháp", &key(8))
        .await
        .unwrap();
    registry::register_member(db, &ctx(), CLIENT, "UBND xã Mẫu Sơn", &key(7))
        .await
        .unwrap();
    let op = serde_json::json!({ "responses": { "200": { "description": "ok" } } });
    registry::register_service(
        db,
        &ctx(),
        &registry::NewService {
            provider: PROVIDER.into(),
            code: SERVICE.into(),
            name: "Sổ hộ tịch".into(),
            endpoint: "http://127.0.0.1:9/api".into(),
            openapi: serde_json::json!({
                "openapi": "3.1.0", "info": { "title": "Sổ hộ tịch", "version": "1" },
                "paths": { "/records/{id}": { "get": op, "put": op, "delete": op } }
            }),
            classification: "internal".into(),
        },
    )
    .await
    .unwrap();
    webhooks::grant_topic(db, &ctx(), CLIENT, "dossier.")
        .await
        .unwrap();
    let sub = webhooks::create_subscription(
        db,
        &ctx(),
        CLIENT,
        &webhooks::NewSubscription {
            topic_prefix: "dossier.".into(),
            url: "https://maudon.example.gov.vn/hook".into(),
        },
    )
    .await
    .unwrap();
    let delivery = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO exchange_webhook_deliveries (id, subscription_id, member_code, event_id, event_seq, topic, body, \
         status, attempts, next_attempt_at, last_status, last_error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 1, 'dossier.submitted', '{}', 'dead', 8, 0, 500, 'HTTP 500', 1, 1)",
    )
    .bind(&delivery)
    .bind(&sub.subscription.id)
    .bind(CLIENT)
    .bind(uuid::Uuid::now_v7().to_string())
    .execute(db.pool())
    .await
    .unwrap();
    (sub.subscription.id, delivery)
}

/// The page's CSRF token for this client.
async fn csrf(app: &TestApp, c: &Client) -> String {
    let (status, html) = text(app.get(c, PAGE).await).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    hidden_field(&html, "csrf").expect("csrf field on the hub page")
}

async fn post(
    app: &TestApp,
    c: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let resp = c.post(app.url(path)).form(form).send().await.unwrap();
    let loc = location(&resp);
    let (status, body) = text(resp).await;
    (status, loc, body)
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

async fn delivery_status(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM exchange_webhook_deliveries WHERE id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

async fn subscription_status(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM exchange_webhook_subscriptions WHERE id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

fn assert_done(status: StatusCode, loc: &str, body: &str, what: &str) {
    assert_eq!(status, StatusCode::SEE_OTHER, "{what}: {body}");
    assert!(loc.starts_with(PAGE), "{what}: {loc}");
}

#[tokio::test]
async fn the_administrator_changes_the_hub_through_its_page() {
    let app = spawn_app().await;
    let (sub, dead) = seed(&app).await;
    let c = app.signed_in("quantri").await;
    let token = csrf(&app, &c).await;
    let t = token.as_str();

    // Register a member: a field error first, with what was typed kept.
    let (status, _, html) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/thanh-vien",
        &[
            ("csrf", t),
            ("code", "UBND-LS"),
            ("name", "Sở Y tế Lạng Sơn"),
            ("public_key", &key(9)),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("id=\"loi-member\""), "{html}");
    assert!(
        html.contains("href=\"#tv-code\""),
        "the message links to its input: {html}"
    );
    assert!(
        html.contains("value=\"Sở Y tế Lạng Sơn\""),
        "the name typed is kept"
    );
    assert!(html.contains("value=\"UBND-LS\""), "the code typed is kept");
    assert!(
        registry::list_members(&app.db)
            .await
            .unwrap()
            .iter()
            .all(|m| m.name != "Sở Y tế Lạng Sơn"),
        "nothing was written"
    );
    let before = audit_count(&app, "exchange.member_register").await;
    let (status, loc, body) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/thanh-vien",
        &[
            ("csrf", t),
            ("code", "000.00.31.H37"),
            ("name", "Sở Y tế Lạng Sơn"),
            ("public_key", &key(9)),
        ],
    )
    .await;
    assert_done(status, &loc, &body, "register");
    let members = registry::list_members(&app.db).await.unwrap();
    assert!(members
        .iter()
        .any(|m| m.code == "000.00.31.H37" && m.name == "Sở Y tế Lạng Sơn"));
    assert_eq!(
        audit_count(&app, "exchange.member_register").await,
        before + 1
    );
    let (_, html) = text(app.get(&c, &loc).await).await;
    assert!(html.contains("Đã đăng ký thành viên."), "{html}");

    // Grant a right limited to an operation: an operation the document lacks is refused.
    let (status, _, html) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/quyen",
        &[
            ("csrf", t),
            ("client", CLIENT),
            ("provider", PROVIDER),
            ("service", SERVICE),
            ("operations", "GET /records/{id}\nPATCH /records/{id}"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        html.contains("id=\"loi-right\"") && html.contains("href=\"#q-operations\""),
        "{html}"
    );
    assert!(
        html.contains("PATCH /records/{id}</textarea>"),
        "the operations typed are kept"
    );
    assert_eq!(
        registry::right_scope(&app.db, CLIENT, PROVIDER, SERVICE)
            .await
            .unwrap(),
        None
    );
    let (status, loc, body) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/quyen",
        &[
            ("csrf", t),
            ("client", CLIENT),
            ("provider", PROVIDER),
            ("service", SERVICE),
            ("operations", "GET /records/{id}\r\n\r\nput /records/{id}"),
        ],
    )
    .await;
    assert_done(status, &loc, &body, "grant");
    assert_eq!(
        registry::right_scope(&app.db, CLIENT, PROVIDER, SERVICE)
            .await
            .unwrap(),
        Some(vec![
            "GET /records/{id}".to_string(),
            "PUT /records/{id}".to_string()
        ])
    );
    assert_eq!(audit_count(&app, "exchange.right_grant").await, 1);
    // The page lists it with a revoke button; revoking through it.
    let (_, html) = text(app.get(&c, PAGE).await).await;
    assert!(
        html.contains("action=\"/quan-tri/truc-lien-thong/quyen/thu-hoi\""),
        "{html}"
    );
    let (status, loc, body) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/quyen/thu-hoi",
        &[
            ("csrf", t),
            ("client", CLIENT),
            ("provider", PROVIDER),
            ("service", SERVICE),
        ],
    )
    .await;
    assert_done(status, &loc, &body, "revoke");
    assert_eq!(
        registry::right_scope(&app.db, CLIENT, PROVIDER, SERVICE)
            .await
            .unwrap(),
        None
    );
    assert_eq!(audit_count(&app, "exchange.right_revoke").await, 1);
    // Revoking with a malformed member code: the field error, on the page.
    let (status, _, html) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/quyen/thu-hoi",
        &[
            ("csrf", t),
            ("client", "x"),
            ("provider", PROVIDER),
            ("service", SERVICE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("id=\"loi-row\""), "{html}");
    assert_eq!(
        audit_count(&app, "exchange.right_revoke").await,
        1,
        "nothing more"
    );

    // A member's rate: words are refused per field, kept; a decimal comma is accepted.
    let (status, _, html) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/tan-suat",
        &[
            ("csrf", t),
            ("member", CLIENT),
            ("burst", "nhiều"),
            ("per_second", "2,5"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("href=\"#ts-burst\""), "{html}");
    assert!(
        html.contains("phải là một số"),
        "the message is in Vietnamese: {html}"
    );
    assert!(
        html.contains("value=\"nhiều\"") && html.contains("value=\"2,5\""),
        "kept"
    );
    let (status, _, html) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/tan-suat",
        &[
            ("csrf", t),
            ("member", CLIENT),
            ("burst", "50"),
            ("per_second", ""),
        ],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "one without the other: {html}"
    );
    assert!(html.contains("href=\"#ts-per_second\""), "{html}");
    assert!(
        registry::list_rate_limits(&app.db)
            .await
            .unwrap()
            .is_empty(),
        "nothing written"
    );
    let (status, loc, body) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/tan-suat",
        &[
            ("csrf", t),
            ("member", CLIENT),
            ("burst", "50"),
            ("per_second", "2,5"),
        ],
    )
    .await;
    assert_done(status, &loc, &body, "rate");
    let rates = registry::list_rate_limits(&app.db).await.unwrap();
    assert_eq!(rates.len(), 1);
    assert_eq!(
        (
            rates[0].member.as_str(),
            rates[0].burst,
            rates[0].per_second
        ),
        (CLIENT, 50, 2.5)
    );
    assert_eq!(audit_count(&app, "exchange.rate_limit").await, 1);
    // Both empty: back to the default.
    let (status, loc, body) = post(
        &app,
        &c,
        "/quan-tri/truc-lien-thong/tan-suat",
        &[
            ("csrf", t),
            ("member", CLIENT),
            ("burst", ""),
            ("per_second", ""),
        ],
    )
    .await;
    assert_done(status, &loc, &body, "rate back to default");
    assert!(registry::list_rate_limits(&app.db)
        .await
        .unwrap()
        .is_empty());

    // Replay the dead-lettered delivery from its row; a second replay finds it gone (404,
    // shown on the page).
    let (_, html) = text(app.get(&c, PAGE).await).await;
    let replay = format!("/quan-tri/truc-lien-thong/thu-chet/{dead}/gui-lai");
    assert!(html.contains(&format!("action=\"{replay}\"")), "{html}");
    let (status, loc, body) = post(&app, &c, &replay, &[("csrf", t)]).await;
    assert_done(status, &loc, &body, "replay");
    assert_eq!(delivery_status(&app, &dead).await, "pending");
    assert_eq!(audit_count(&app, "exchange.webhook_replay").await, 1);
    let (status, _, html) = post(&app, &c, &replay, &[("csrf", t)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    assert!(html.contains("id=\"loi-row\""), "{html}");

    // Suspend and resume the subscription from its row; a made-up status is a field error.
    let status_url = format!("/quan-tri/truc-lien-thong/dang-ky/{sub}/trang-thai");
    let (status, _, html) = post(&app, &c, &status_url, &[("csrf", t), ("active", "có lẽ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("Trạng thái phải là"), "{html}");
    assert_eq!(subscription_status(&app, &sub).await, "active");
    let (status, loc, body) =
        post(&app, &c, &status_url, &[("csrf", t), ("active", "false")]).await;
    assert_done(status, &loc, &body, "suspend");
    assert_eq!(subscription_status(&app, &sub).await, "suspended");
    let (_, html) = text(app.get(&c, PAGE).await).await;
    assert!(
        html.contains("name=\"active\" value=\"true\""),
        "a resume button now: {html}"
    );
    let (status, loc, body) = post(&app, &c, &status_url, &[("csrf", t), ("active", "true")]).await;
    assert_done(status, &loc, &body, "resume");
    assert_eq!(subscription_status(&app, &sub).await, "active");
    assert_eq!(audit_count(&app, "exchange.subscription_status").await, 2);
}

#[tokio::test]
async fn the_forms_need_the_admin_right_and_the_csrf_token() {
    let app = spawn_app().await;
    let (sub, dead) = seed(&app).await;
    let replay = format!("/quan-tri/truc-lien-thong/thu-chet/{dead}/gui-lai");
    let status_url = format!("/quan-tri/truc-lien-thong/dang-ky/{sub}/trang-thai");
    let new_key = key(10);
    let forms: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/quan-tri/truc-lien-thong/thanh-vien",
            vec![
                ("code", "000.00.32.H37"),
                ("name", "Sở Xây dựng"),
                ("public_key", new_key.as_str()),
            ],
        ),
        (
            "/quan-tri/truc-lien-thong/quyen",
            vec![
                ("client", CLIENT),
                ("provider", PROVIDER),
                ("service", SERVICE),
                ("operations", ""),
            ],
        ),
        (
            "/quan-tri/truc-lien-thong/quyen/thu-hoi",
            vec![
                ("client", CLIENT),
                ("provider", PROVIDER),
                ("service", SERVICE),
            ],
        ),
        (
            "/quan-tri/truc-lien-thong/tan-suat",
            vec![("member", CLIENT), ("burst", "5"), ("per_second", "1")],
        ),
        (replay.as_str(), vec![]),
        (status_url.as_str(), vec![("active", "false")]),
    ];
    let audited = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'exchange.%'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap()
        }
    };
    let before = audited(&app).await;

    // An inspector (no user_manage) is refused the page and every form, with a valid token.
    let other = app.signed_in("kiemtoan").await;
    let (status, html) = text(app.get(&other, PAGE).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    let (_, home) = text(app.get(&other, "/").await).await;
    let other_token = hidden_field(&home, "csrf").unwrap_or_default();
    assert!(
        !other_token.is_empty(),
        "the signed-in page carries the session's token"
    );
    for (path, fields) in &forms {
        let mut form = fields.clone();
        form.push(("csrf", other_token.as_str()));
        let (status, _, body) = post(&app, &other, path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }

    // The administrator without the token (or with a wrong one) is refused too.
    let admin = app.signed_in("quantri").await;
    for (path, fields) in &forms {
        let (status, _, body) = post(&app, &admin, path, fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no token, {path}: {body}");
        let mut form = fields.clone();
        form.push(("csrf", "not-the-token"));
        let (status, _, body) = post(&app, &admin, path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "wrong token, {path}: {body}");
    }

    // Nothing was written by any of them.
    assert_eq!(audited(&app).await, before);
    assert!(registry::list_members(&app.db)
        .await
        .unwrap()
        .iter()
        .all(|m| m.code != "000.00.32.H37"));
    assert_eq!(
        registry::right_scope(&app.db, CLIENT, PROVIDER, SERVICE)
            .await
            .unwrap(),
        None
    );
    assert!(registry::list_rate_limits(&app.db)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(delivery_status(&app, &dead).await, "dead");
    assert_eq!(subscription_status(&app, &sub).await, "active");

    // With the token the same administrator's post goes through (the refusals above were
    // about the token, not the form).
    let token = csrf(&app, &admin).await;
    let (status, loc, body) = post(
        &app,
        &admin,
        &status_url,
        &[("csrf", token.as_str()), ("active", "false")],
    )
    .await;
    assert_done(status, &loc, &body, "suspend with the token");
}
