//! The exchange hub's page forms over HTTP (biểu mẫu trang quản trị trục liên thông): the
//! hub's administrators register members and services, rotate and revoke keys, suspend and
//! resume members, services and subscriptions, grant and revoke rights and topic rights, set
//! a member's rate and replay a dead-lettered webhook delivery through
//! `/quan-tri/truc-lien-thong`; field errors come back in Vietnamese with what was typed;
//! every change is on the audit trail; the right is `exchange_manage` (not `user_manage`):
//! others get 403, and a post without the CSRF token is refused, with nothing written.

use crate::{hidden_field, json, location, spawn_app, text, TestApp};
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

/// A post without any token handling: (status, Location, body).
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

/// Someone signed in on the hub page: the client and the page's CSRF token, which every
/// post of [`Admin::post`] carries.
struct Admin<'a> {
    app: &'a TestApp,
    c: Client,
    token: String,
}

impl<'a> Admin<'a> {
    /// Sign `username` in, open the hub page (200) and take its CSRF token.
    async fn sign_in(app: &'a TestApp, username: &str) -> Self {
        let c = app.signed_in(username).await;
        let (status, html) = text(app.get(&c, PAGE).await).await;
        assert_eq!(status, StatusCode::OK, "{username}: {html}");
        let token = hidden_field(&html, "csrf").expect("csrf field on the hub page");
        Self { app, c, token }
    }

    /// The hub page now.
    async fn page(&self) -> String {
        text(self.app.get(&self.c, PAGE).await).await.1
    }

    /// Post `form` with the token: (status, Location, body).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut form = form.to_vec();
        form.push(("csrf", self.token.as_str()));
        post(self.app, &self.c, path, &form).await
    }

    /// A post that works: 303 back to the page, whose note says `note`.
    async fn done(&self, path: &str, form: &[(&str, &str)], note: &str) {
        let (status, loc, body) = self.post(path, form).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}: {body}");
        assert!(loc.starts_with(PAGE), "{path}: {loc}");
        let (_, html) = text(self.app.get(&self.c, &loc).await).await;
        assert!(html.contains(note), "{path}: no {note:?} in {html}");
    }

    /// A post refused with `status`: the page again with the refusal, returned.
    async fn refused(&self, path: &str, form: &[(&str, &str)], status: StatusCode) -> String {
        let (got, _, html) = self.post(path, form).await;
        assert_eq!(got, status, "{path}: {html}");
        html
    }

    /// A post refused with 422: the refusal of form `kind` links its message to `input`.
    async fn invalid(&self, path: &str, form: &[(&str, &str)], kind: &str, input: &str) -> String {
        let html = self
            .refused(path, form, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
        assert!(
            html.contains(&format!("id=\"loi-{kind}\"")),
            "{path}: {html}"
        );
        assert!(
            html.contains(&format!("href=\"#{input}\"")),
            "{path}: the message links to {input}: {html}"
        );
        html
    }
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

async fn rights(app: &TestApp) -> Option<Vec<String>> {
    registry::right_scope(&app.db, CLIENT, PROVIDER, SERVICE)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_administrator_changes_the_hub_through_its_page() {
    let app = spawn_app().await;
    let (sub, dead) = seed(&app).await;
    let a = Admin::sign_in(&app, "quantri").await;

    // Register a member: a field error first, with what was typed kept.
    let path = "/quan-tri/truc-lien-thong/thanh-vien";
    let new_key = key(9);
    let typed = [
        ("code", "UBND-LS"),
        ("name", "Sở Y tế Lạng Sơn"),
        ("public_key", new_key.as_str()),
    ];
    let html = a.invalid(path, &typed, "member", "tv-code").await;
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
    let before = app.audit_count("exchange.member_register").await;
    let typed = [("code", "000.00.31.H37"), typed[1], typed[2]];
    a.done(path, &typed, "Đã đăng ký thành viên.").await;
    let members = registry::list_members(&app.db).await.unwrap();
    assert!(members
        .iter()
        .any(|m| m.code == "000.00.31.H37" && m.name == "Sở Y tế Lạng Sơn"));
    assert_eq!(
        app.audit_count("exchange.member_register").await,
        before + 1
    );

    // Grant a right limited to an operation: an operation the document lacks is refused.
    let path = "/quan-tri/truc-lien-thong/quyen";
    let right = [
        ("client", CLIENT),
        ("provider", PROVIDER),
        ("service", SERVICE),
    ];
    let mut typed = right.to_vec();
    typed.push(("operations", "GET /records/{id}\nPATCH /records/{id}"));
    let html = a.invalid(path, &typed, "right", "q-operations").await;
    assert!(
        html.contains("PATCH /records/{id}</textarea>"),
        "the operations typed are kept"
    );
    assert_eq!(rights(&app).await, None);
    typed[3] = ("operations", "GET /records/{id}\r\n\r\nput /records/{id}");
    a.done(path, &typed, "Đã cấp quyền.").await;
    assert_eq!(
        rights(&app).await,
        Some(vec![
            "GET /records/{id}".to_string(),
            "PUT /records/{id}".to_string()
        ])
    );
    assert_eq!(app.audit_count("exchange.right_grant").await, 1);
    // The page lists it with a revoke button; revoking through it.
    let revoke = "/quan-tri/truc-lien-thong/quyen/thu-hoi";
    assert!(a.page().await.contains(&format!("action=\"{revoke}\"")));
    a.done(revoke, &right, "Đã thu hồi quyền.").await;
    assert_eq!(rights(&app).await, None);
    assert_eq!(app.audit_count("exchange.right_revoke").await, 1);
    // Revoking with a malformed member code: the field error, on the page.
    let html = a
        .refused(
            revoke,
            &[("client", "x"), right[1], right[2]],
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(html.contains("id=\"loi-row\""), "{html}");
    assert_eq!(
        app.audit_count("exchange.right_revoke").await,
        1,
        "nothing more"
    );

    // A member's rate: words are refused per field, kept; a decimal comma is accepted.
    let path = "/quan-tri/truc-lien-thong/tan-suat";
    let rate = |burst, per_second| {
        [
            ("member", CLIENT),
            ("burst", burst),
            ("per_second", per_second),
        ]
    };
    let html = a
        .invalid(path, &rate("nhiều", "2,5"), "rate", "ts-burst")
        .await;
    assert!(
        html.contains("phải là một số"),
        "the message is in Vietnamese: {html}"
    );
    assert!(
        html.contains("value=\"nhiều\"") && html.contains("value=\"2,5\""),
        "kept"
    );
    // One without the other.
    a.invalid(path, &rate("50", ""), "rate", "ts-per_second")
        .await;
    assert!(
        registry::list_rate_limits(&app.db)
            .await
            .unwrap()
            .is_empty(),
        "nothing written"
    );
    a.done(path, &rate("50", "2,5"), "Đã đặt giới hạn tần suất.")
        .await;
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
    assert_eq!(app.audit_count("exchange.rate_limit").await, 1);
    // Both empty: back to the default.
    a.done(path, &rate("", ""), "Đã đặt giới hạn tần suất.")
        .await;
    assert!(registry::list_rate_limits(&app.db)
        .await
        .unwrap()
        .is_empty());

    // Replay the dead-lettered delivery from its row; a second replay finds it gone (404,
    // shown on the page).
    let replay = format!("/quan-tri/truc-lien-thong/thu-chet/{dead}/gui-lai");
    assert!(a.page().await.contains(&format!("action=\"{replay}\"")));
    a.done(&replay, &[], "Đã đưa lần gửi trở lại hàng đợi.")
        .await;
    assert_eq!(delivery_status(&app, &dead).await, "pending");
    assert_eq!(app.audit_count("exchange.webhook_replay").await, 1);
    let html = a.refused(&replay, &[], StatusCode::NOT_FOUND).await;
    assert!(html.contains("id=\"loi-row\""), "{html}");

    // Suspend and resume the subscription from its row; a made-up status is a field error.
    let status_url = format!("/quan-tri/truc-lien-thong/dang-ky/{sub}/trang-thai");
    let html = a
        .refused(
            &status_url,
            &[("active", "có lẽ")],
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(html.contains("Trạng thái phải là"), "{html}");
    assert_eq!(subscription_status(&app, &sub).await, "active");
    let note = "Đã đổi trạng thái đăng ký.";
    a.done(&status_url, &[("active", "false")], note).await;
    assert_eq!(subscription_status(&app, &sub).await, "suspended");
    assert!(
        a.page().await.contains("name=\"active\" value=\"true\""),
        "a resume button now"
    );
    a.done(&status_url, &[("active", "true")], note).await;
    assert_eq!(subscription_status(&app, &sub).await, "active");
    assert_eq!(app.audit_count("exchange.subscription_status").await, 2);
}

/// The rest of the hub from its page, by the hub's own administrator (`quantri.lgsp`, who
/// has `exchange_manage` and not `user_manage`): services, keys, members' status, topic
/// rights.
#[tokio::test]
async fn the_hub_administrator_manages_services_keys_members_and_topics() {
    let app = spawn_app().await;
    seed(&app).await;
    let a = Admin::sign_in(&app, "quantri.lgsp").await;
    let (status, _) = text(app.get(&a.c, "/quan-tri/nguoi-dung").await).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the hub's administrator only"
    );

    // Register a service: a malformed OpenAPI document is refused with the parser's
    // message on its field, everything typed kept, nothing written.
    let path = "/quan-tri/truc-lien-thong/dich-vu";
    let good = r#"{"openapi": "3.1.0", "info": {"title": "Tra cứu", "version": "1"}, "paths": {"/land/{id}": {"get": {"responses": {"200": {"description": "ok"}}}}}}"#;
    let mut typed = vec![
        ("provider", PROVIDER),
        ("code", "tra-cuu-dat"),
        ("name", "Tra cứu thửa đất"),
        ("endpoint", "http://127.0.0.1:9/dat"),
        ("classification", "restricted"),
        ("openapi", r#"{"openapi": "3.1.0", "paths": {,}}"#),
    ];
    let html = a.invalid(path, &typed, "service", "dv-openapi").await;
    assert!(
        html.contains("Tài liệu OpenAPI không phải JSON hợp lệ: key must be a string"),
        "the parser's message, in Vietnamese: {html}"
    );
    assert!(html.contains("value=\"Tra cứu thửa đất\""), "kept");
    assert!(
        html.contains("{&#34;openapi&#34;: &#34;3.1.0&#34;, &#34;paths&#34;: {,}}</textarea>"),
        "the document typed is kept: {html}"
    );
    assert!(
        html.contains("<option value=\"restricted\" selected>"),
        "the classification chosen is kept"
    );
    // A bad endpoint and code: each on its field.
    typed[5] = ("openapi", good);
    typed[1] = ("code", "Tra Cứu");
    typed[3] = ("endpoint", "ftp://dat");
    let html = a.invalid(path, &typed, "service", "dv-code").await;
    assert!(html.contains("href=\"#dv-endpoint\""), "{html}");
    assert!(registry::get_service(&app.db, PROVIDER, "tra-cuu-dat")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        app.audit_count("exchange.service_register").await,
        1,
        "the seed's"
    );
    typed[1] = ("code", "tra-cuu-dat");
    typed[3] = ("endpoint", "http://127.0.0.1:9/dat");
    a.done(path, &typed, "Đã đăng ký dịch vụ.").await;
    let s = registry::get_service(&app.db, PROVIDER, "tra-cuu-dat")
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(
        (s.name.as_str(), s.classification.as_str(), s.active),
        ("Tra cứu thửa đất", "restricted", true)
    );
    assert_eq!(
        s.openapi["paths"]["/land/{id}"]["get"]["responses"]["200"]["description"],
        "ok"
    );
    assert_eq!(app.audit_count("exchange.service_register").await, 2);

    // Suspend and resume the service from its row.
    let service_status =
        format!("/quan-tri/truc-lien-thong/dich-vu/{PROVIDER}/tra-cuu-dat/trang-thai");
    assert!(a
        .page()
        .await
        .contains(&format!("action=\"{service_status}\"")));
    let note = "Đã đổi trạng thái dịch vụ.";
    a.done(&service_status, &[("active", "false")], note).await;
    let active = |code: &'static str| {
        let db = app.db.clone();
        async move {
            registry::get_service(&db, PROVIDER, code)
                .await
                .unwrap()
                .unwrap()
                .active
        }
    };
    assert!(!active("tra-cuu-dat").await);
    assert!(a.page().await.contains("tạm dừng"), "shown as suspended");
    a.done(&service_status, &[("active", "true")], note).await;
    assert!(active("tra-cuu-dat").await);
    assert_eq!(app.audit_count("exchange.service_status").await, 2);
    a.refused(
        &format!("/quan-tri/truc-lien-thong/dich-vu/{PROVIDER}/khong-co/trang-thai"),
        &[("active", "false")],
        StatusCode::NOT_FOUND,
    )
    .await;

    // Rotate the client's key: a bad key and a bad member code are field errors.
    let path = "/quan-tri/truc-lien-thong/khoa";
    let html = a
        .invalid(
            path,
            &[("member", CLIENT), ("public_key", "không-phải-khóa")],
            "key",
            "k-public_key",
        )
        .await;
    assert!(html.contains("value=\"không-phải-khóa\""), "kept");
    let new_key = key(11);
    a.invalid(
        path,
        &[("member", "UBND"), ("public_key", new_key.as_str())],
        "key",
        "k-member",
    )
    .await;
    let old = registry::get_member(&app.db, CLIENT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.keys.len(), 1, "nothing written");
    a.done(
        path,
        &[("member", CLIENT), ("public_key", new_key.as_str())],
        "Đã đổi khóa",
    )
    .await;
    let m = registry::get_member(&app.db, CLIENT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.keys.len(), 2);
    assert!(m.keys[0].revoked_at.is_some(), "the old key is revoked");
    assert_eq!(
        (m.keys[1].public_key.as_str(), m.keys[1].revoked_at),
        (new_key.as_str(), None)
    );
    assert_eq!(app.audit_count("exchange.key_rotate").await, 1);
    // The page shows both keys by fingerprint, the old one with its revocation date, and a
    // revoke button for the valid one only.
    let html = a.page().await;
    for k in &m.keys {
        assert!(
            html.contains(&signing::fingerprint(&k.public_key)),
            "{html}"
        );
    }
    let revoke_new = format!(
        "/quan-tri/truc-lien-thong/thanh-vien/{CLIENT}/khoa/{}/thu-hoi",
        m.keys[1].id
    );
    let revoke_old = format!(
        "/quan-tri/truc-lien-thong/thanh-vien/{CLIENT}/khoa/{}/thu-hoi",
        m.keys[0].id
    );
    assert!(html.contains(&format!("action=\"{revoke_new}\"")), "{html}");
    assert!(
        !html.contains(&format!("action=\"{revoke_old}\"")),
        "{html}"
    );
    // Revoke the new key; again: 404 on the page.
    a.done(&revoke_new, &[], "Đã thu hồi khóa.").await;
    assert!(registry::active_keys(&app.db, CLIENT)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(app.audit_count("exchange.key_revoke").await, 1);
    let html = a.refused(&revoke_new, &[], StatusCode::NOT_FOUND).await;
    assert!(html.contains("id=\"loi-row\""), "{html}");

    // Suspend and resume a member from its row.
    let member_status = format!("/quan-tri/truc-lien-thong/thanh-vien/{PROVIDER}/trang-thai");
    let note = "Đã đổi trạng thái thành viên.";
    a.done(&member_status, &[("active", "false")], note).await;
    let status = |code: &'static str| {
        let db = app.db.clone();
        async move {
            registry::get_member(&db, code)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    assert_eq!(status(PROVIDER).await, "revoked");
    assert!(registry::active_keys(&app.db, PROVIDER)
        .await
        .unwrap()
        .is_empty());
    assert!(
        a.page().await.contains(&format!(
            "action=\"{member_status}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"active\" value=\"true\"",
            a.token
        )),
        "a resume button now"
    );
    a.done(&member_status, &[("active", "true")], note).await;
    assert_eq!(status(PROVIDER).await, "active");
    assert_eq!(app.audit_count("exchange.member_status").await, 2);
    let html = a
        .refused(
            &member_status,
            &[("active", "")],
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(html.contains("Trạng thái phải là"), "{html}");

    // Topic rights: an unknown family is refused on its field and kept; granted, listed with
    // its date and a revoke button; revoked.
    let path = "/quan-tri/truc-lien-thong/chu-de";
    let html = a
        .invalid(
            path,
            &[("member", PROVIDER), ("topic_prefix", "thoi-tiet.")],
            "topic",
            "cd-topic_prefix",
        )
        .await;
    assert!(html.contains("value=\"thoi-tiet.\""), "kept");
    a.done(
        path,
        &[("member", PROVIDER), ("topic_prefix", "border.")],
        "Đã cấp quyền nhận sự kiện.",
    )
    .await;
    let granted = webhooks::list_topic_rights(&app.db).await.unwrap();
    assert!(granted
        .iter()
        .any(|r| r.member == PROVIDER && r.topic_prefix == "border."));
    assert_eq!(
        app.audit_count("exchange.topic_grant").await,
        2,
        "the seed's and this"
    );
    let html = a.page().await;
    assert!(
        html.contains("action=\"/quan-tri/truc-lien-thong/chu-de/thu-hoi\"")
            && html.contains("name=\"topic_prefix\" value=\"border.\""),
        "{html}"
    );
    a.done(
        "/quan-tri/truc-lien-thong/chu-de/thu-hoi",
        &[("member", PROVIDER), ("topic_prefix", "border.")],
        "Đã thu hồi quyền nhận sự kiện.",
    )
    .await;
    assert!(webhooks::list_topic_rights(&app.db)
        .await
        .unwrap()
        .iter()
        .all(|r| r.member != PROVIDER));
    assert_eq!(app.audit_count("exchange.topic_revoke").await, 1);
}

/// Every form of the page, with the fields that would make it work.
fn all_forms(sub: &str, dead: &str, new_key: &str) -> Vec<(String, Vec<(&'static str, String)>)> {
    let f = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };
    let hub = "/quan-tri/truc-lien-thong";
    vec![
        (
            format!("{hub}/thanh-vien"),
            f(&[
                ("code", "000.00.32.H37"),
                ("name", "Sở Xây dựng"),
                ("public_key", new_key),
            ]),
        ),
        (
            format!("{hub}/quyen"),
            f(&[
                ("client", CLIENT),
                ("provider", PROVIDER),
                ("service", SERVICE),
                ("operations", ""),
            ]),
        ),
        (
            format!("{hub}/quyen/thu-hoi"),
            f(&[
                ("client", CLIENT),
                ("provider", PROVIDER),
                ("service", SERVICE),
            ]),
        ),
        (
            format!("{hub}/tan-suat"),
            f(&[("member", CLIENT), ("burst", "5"), ("per_second", "1")]),
        ),
        (format!("{hub}/thu-chet/{dead}/gui-lai"), vec![]),
        (
            format!("{hub}/dang-ky/{sub}/trang-thai"),
            f(&[("active", "false")]),
        ),
        (
            format!("{hub}/thanh-vien/{CLIENT}/trang-thai"),
            f(&[("active", "false")]),
        ),
        (
            format!("{hub}/khoa"),
            f(&[("member", CLIENT), ("public_key", new_key)]),
        ),
        (
            format!("{hub}/thanh-vien/{CLIENT}/khoa/any/thu-hoi"),
            vec![],
        ),
        (
            format!("{hub}/dich-vu"),
            f(&[
                ("provider", PROVIDER),
                ("code", "moi"),
                ("name", "Mới"),
                ("endpoint", "http://127.0.0.1:9/moi"),
                ("classification", "public"),
                ("openapi", r#"{"openapi": "3.1.0", "paths": {}}"#),
            ]),
        ),
        (
            format!("{hub}/dich-vu/{PROVIDER}/{SERVICE}/trang-thai"),
            f(&[("active", "false")]),
        ),
        (
            format!("{hub}/chu-de"),
            f(&[("member", CLIENT), ("topic_prefix", "border.")]),
        ),
        (
            format!("{hub}/chu-de/thu-hoi"),
            f(&[("member", CLIENT), ("topic_prefix", "dossier.")]),
        ),
    ]
}

#[tokio::test]
async fn the_forms_need_the_hub_right_and_the_csrf_token() {
    let app = spawn_app().await;
    let (sub, dead) = seed(&app).await;
    let new_key = key(10);
    let forms = all_forms(&sub, &dead, &new_key);
    let as_pairs =
        |fields: &[(&'static str, String)]| -> Vec<(&'static str, String)> { fields.to_vec() };
    let audited = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'exchange.%'",
        )
        .fetch_one(app.db.pool())
        .await
        .unwrap()
    };
    let before = audited().await;

    // An inspector (no exchange_manage) is refused the page and every form, with a valid
    // token.
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
        let mut form = as_pairs(fields);
        form.push(("csrf", other_token.clone()));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, body) = post(&app, &other, path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }

    // The hub's administrator without the token (or with a wrong one) is refused too.
    let admin = Admin::sign_in(&app, "quantri.lgsp").await;
    for (path, fields) in &forms {
        let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, body) = post(&app, &admin.c, path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no token, {path}: {body}");
        let mut form = form.clone();
        form.push(("csrf", "not-the-token"));
        let (status, _, body) = post(&app, &admin.c, path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "wrong token, {path}: {body}");
    }

    // Nothing was written by any of them.
    assert_eq!(audited().await, before);
    assert!(registry::list_members(&app.db)
        .await
        .unwrap()
        .iter()
        .all(|m| m.code != "000.00.32.H37" && m.status == "active" && m.keys.len() == 1));
    assert_eq!(rights(&app).await, None);
    assert!(registry::list_rate_limits(&app.db)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(delivery_status(&app, &dead).await, "dead");
    assert_eq!(subscription_status(&app, &sub).await, "active");
    assert_eq!(registry::list_services(&app.db).await.unwrap().len(), 1);
    assert!(registry::list_services(&app.db).await.unwrap()[0].active);
    assert_eq!(webhooks::list_topic_rights(&app.db).await.unwrap().len(), 1);

    // With the token the same administrator's post goes through (the refusals above were
    // about the token, not the form).
    admin
        .done(
            &format!("/quan-tri/truc-lien-thong/dang-ky/{sub}/trang-thai"),
            &[("active", "false")],
            "Đã đổi trạng thái đăng ký.",
        )
        .await;
}

/// `user_manage` is not the hub's right: the system administrator's API token narrowed to
/// `user_manage` (and `user_read`) manages users but is refused the hub's API (403, audited); one narrowed to
/// `exchange_manage` gets in. The back office shows the hub's card to those who have the
/// right, and only to them (the system administrator's card: `forms.rs`; signing `quantri`
/// in again here would reuse its TOTP code, which is refused).
#[tokio::test]
async fn user_manage_is_not_the_hubs_right() {
    let app = spawn_app().await;
    let (c, csrf) = app.api_signed_in("quantri").await;
    let token_of = |scopes: &'static [&'static str]| {
        let c = c.clone();
        let csrf = csrf.clone();
        let url = app.url("/api/v1/me/tokens");
        async move {
            let resp = c
                .post(url)
                .header("x-csrf-token", &csrf)
                .json(&serde_json::json!({"name": "t", "scopes": scopes, "ttl_days": 1}))
                .send()
                .await
                .unwrap();
            let (status, v) = json(resp).await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            v["token"].as_str().unwrap().to_string()
        }
    };
    let bare = Client::new();
    let get = |path: &str, token: &str| bare.get(app.url(path)).bearer_auth(token).send();
    let users_only = token_of(&["user_manage", "user_read"]).await;
    let hub_only = token_of(&["exchange_manage"]).await;
    assert_eq!(
        get("/api/v1/users", &users_only).await.unwrap().status(),
        StatusCode::OK
    );
    let denied = app.audit_count("authz.denied").await;
    for path in [
        "/api/v1/exchange/members",
        "/api/v1/exchange/topic-rights",
        PAGE,
    ] {
        let r = get(path, &users_only).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert!(
        app.audit_count("authz.denied").await > denied,
        "refusals are audited"
    );
    let r = get("/api/v1/exchange/members", &hub_only).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        get("/api/v1/users", &hub_only).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    for (who, card) in [("quantri.lgsp", true), ("lanhdao.tinh", false)] {
        let c = app.signed_in(who).await;
        let (_, html) = text(app.get(&c, "/nghiep-vu").await).await;
        assert_eq!(
            html.contains("href=\"/quan-tri/truc-lien-thong\""),
            card,
            "{who}"
        );
    }
}

/// Staff of a member agency find the hub's service catalogue in the back office (a card, then
/// the list and a service's page) once their agency is a member, through the platform's
/// access table and sessions; the administration stays closed to them.
#[tokio::test]
async fn staff_of_a_member_agency_browse_the_catalogue_from_the_back_office() {
    let app = spawn_app().await;
    let officer = app.signed_in("congchuc.tamthanh").await;
    let card = "href=\"/nghiep-vu/lien-thong\"";
    let (status, html) = text(app.get(&officer, "/nghiep-vu").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(card), "not a member agency yet: {html}");
    let resp = app.get(&officer, "/nghiep-vu/lien-thong").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    seed(&app).await;
    // Phường Tam Thanh's one-stop system joins the hub.
    registry::register_member(
        &app.db,
        &ctx(),
        "000.00.23.H37-MOTCUA",
        "Một cửa phường Tam Thanh",
        &key(9),
    )
    .await
    .unwrap();
    let (_, html) = text(app.get(&officer, "/nghiep-vu").await).await;
    assert!(html.contains(card), "{html}");
    let (status, html) = text(app.get(&officer, "/nghiep-vu/lien-thong").await).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let link = format!("href=\"/nghiep-vu/lien-thong/{PROVIDER}/{SERVICE}\"");
    assert!(
        html.contains(&link) && html.contains("Sổ hộ tịch"),
        "{html}"
    );
    let (status, html) = text(
        app.get(
            &officer,
            &format!("/nghiep-vu/lien-thong/{PROVIDER}/{SERVICE}"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("/records/{id}") && html.contains("3.1.0"),
        "{html}"
    );
    assert!(
        !html.contains("127.0.0.1:9"),
        "no provider endpoint: {html}"
    );
    let resp = app.get(&officer, PAGE).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
