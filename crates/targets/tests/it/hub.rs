//! The Government reporting export through the exchange hub: the province's member provides
//! it, a Government member calls it with a signed request, the hub checks the right and signs
//! the answer; a member without the right is refused; a call around the hub is refused.

use super::*;
use ed25519_dalek::SigningKey;
use std::sync::Arc;
use tinhso_exchange::signing::{self, client_headers, new_nonce};
use tinhso_exchange::{registry, Hub, HubConfig};
use tinhso_store::now_micros;

/// The province's People's Committee, provider of the export.
const PROVINCE: &str = "000.00.00.H37";
/// The Government Office's reporting system (a member outside the province's tree).
const GOVERNMENT: &str = "000.00.00.G12";
const OTHER: &str = "000.00.23.H37";
const SERVICE: &str = "gia-tri-chi-tieu";

async fn serve(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_government_member_gets_the_export_through_the_hub() {
    let t = env().await;
    let db = &t.db;
    tinhso_store::migrate::run(db, &[tinhso_exchange::MIGRATIONS])
        .await
        .unwrap();
    let c = Ctx {
        actor: "user:quantri".into(),
        request_id: "test".into(),
    };
    let gov_key = SigningKey::from_bytes(&[7; 32]);
    let other_key = SigningKey::from_bytes(&[8; 32]);
    for (code, name, key) in [
        (
            PROVINCE,
            "UBND tỉnh Lạng Sơn",
            SigningKey::from_bytes(&[6; 32]),
        ),
        (
            GOVERNMENT,
            "Văn phòng Chính phủ — Hệ thống thông tin báo cáo Chính phủ",
            gov_key.clone(),
        ),
        (OTHER, "UBND phường Tam Thanh", other_key.clone()),
    ] {
        registry::register_member(db, &c, code, name, &signing::public_key_b64(&key))
            .await
            .unwrap();
    }
    let provider = serve(tinhso_targets::web_review::exchange_provider(db.clone())).await;
    registry::register_service(
        db,
        &c,
        &registry::NewService {
            provider: PROVINCE.into(),
            code: SERVICE.into(),
            name: "Giá trị chỉ tiêu (tinhso.indicator-values/1)".into(),
            endpoint: provider.clone(),
            openapi: serde_json::json!({
                "openapi": "3.1.0",
                "info": { "title": "Giá trị chỉ tiêu", "version": "1" },
                "paths": { "/targets/export": { "get": { "responses": { "200": { "description": "tinhso.indicator-values/1" } } } } }
            }),
            classification: "internal".into(),
        },
    )
    .await
    .unwrap();
    registry::grant(db, &c, GOVERNMENT, PROVINCE, SERVICE)
        .await
        .unwrap();
    let hub = Arc::new(Hub::new(db.clone(), HubConfig::default()));
    let hub_key = hub.public_key();
    let state = tinhso_http::AppState::new(db.clone(), tinhso_http::WebConfig::default());
    let hub_url = serve(tinhso_exchange::web::member_routes(hub).with_state(state)).await;
    let http = reqwest::Client::new();
    let call = |member: &'static str, key: SigningKey, query: &'static str| {
        let http = http.clone();
        let hub_url = hub_url.clone();
        async move {
            let path = format!("/lgsp/v1/{PROVINCE}/{SERVICE}/targets/export?{query}");
            let ts = now_micros() / 1_000_000;
            let headers = client_headers(&key, member, "GET", &path, b"", ts, &new_nonce());
            let mut r = http.get(format!("{hub_url}{path}"));
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.send().await.unwrap()
        }
    };

    // A value reported for 2026-Q3, then the call.
    let v = tinhso_targets::reported::check(
        db,
        &tinhso_targets::reported::NewValue {
            indicator: "reported.soc.e-payment-accounts".into(),
            period: "2026-Q3".into(),
            org: "province".into(),
            value: "45".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tinhso_targets::reported::record(db, &sys(), &v)
        .await
        .unwrap();
    let r = call(GOVERNMENT, gov_key.clone(), "period=2026-Q3").await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let bytes = r.bytes().await.unwrap();
    let got: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(got["format"], "tinhso.indicator-values/1");
    assert_eq!(got["period"]["key"], "2026-Q3");
    let epay = got["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["target"] == "soc.e-payment-accounts-2025")
        .unwrap();
    assert_eq!(
        (epay["value"].as_f64(), epay["version"].as_i64()),
        (Some(45.0), Some(1))
    );
    // The same document as the direct export, and signed by the hub.
    let direct = tinhso_targets::export::export(
        db,
        &tinhso_targets::engine::Registry::standard(),
        tinhso_targets::period::Period::parse("2026-Q3").unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(got["content_sha256"], direct.content_sha256);
    let resp_sha = h["x-lgsp-response-sha256"].to_str().unwrap();
    assert_eq!(resp_sha, signing::sha256_hex(&bytes));
    assert!(signing::verify(
        &hub_key,
        &signing::response_text(
            h["x-lgsp-exchange-id"].to_str().unwrap(),
            200,
            h["x-lgsp-request-sha256"].to_str().unwrap(),
            resp_sha
        ),
        h["x-lgsp-hub-signature"].to_str().unwrap()
    ));

    // One commune through the hub: the same document as the direct export for that unit.
    let r = call(GOVERNMENT, gov_key.clone(), "period=2026-Q3&unit=05986").await;
    assert_eq!(r.status(), 200);
    let got: serde_json::Value = r.json().await.unwrap();
    let values = got["values"].as_array().unwrap();
    assert_eq!(values.len(), 43);
    assert!(values.iter().all(|v| v["org_unit"] == "commune:05986"));
    let direct = tinhso_targets::export::export_units(
        db,
        &tinhso_targets::engine::Registry::standard(),
        tinhso_targets::period::Period::parse("2026-Q3").unwrap(),
        None,
        &[tinhso_targets::engine::OrgUnit::Commune("05986".into())],
    )
    .await
    .unwrap();
    assert_eq!(got["content_sha256"], direct.content_sha256);
    // An unknown unit comes back as the provider's 422 naming the field.
    let r = call(GOVERNMENT, gov_key.clone(), "period=2026-Q3&unit=99999").await;
    assert_eq!(r.status(), 422);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (&p["errors"][0]["field"], &p["errors"][0]["code"]),
        (
            &serde_json::json!("unit"),
            &serde_json::json!("unit_unknown")
        ),
        "{p}"
    );

    // A bad period comes back as the provider's 422, through the hub.
    let r = call(GOVERNMENT, gov_key.clone(), "period=2026-Q5").await;
    assert_eq!(r.status(), 422);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["code"], "period", "{p}");
    // A member without the right: refused by the hub.
    let r = call(OTHER, other_key, "period=2026-Q3").await;
    assert_eq!(r.status(), 403);
    // Around the hub (no x-lgsp-client): refused by the provider.
    let r = http
        .get(format!("{provider}/targets/export?period=2026-Q3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
