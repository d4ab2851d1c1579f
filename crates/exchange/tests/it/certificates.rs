//! Members identified by an X.509 certificate (chứng thư số) instead of a bare key: the key is
//! taken from the certificate, the validity period is checked at registration and on every
//! request (an expired certificate: 401 `lgsp_certificate_expired`, in the message log), the
//! certificate and its fingerprint are on the hub page, and rotation and revocation cover
//! them; a malformed PEM is a field error with nothing stored. SQLite or PostgreSQL.

use crate::support::{self, certificate, key, page_with, post_json, public_key};
use std::sync::Arc;
use std::time::Duration;
use tinhso_exchange::Hub;
use tinhso_store::now_micros;

const SHORT: &str = "000.00.23.H37"; // its certificate expires during the test
const LONG: &str = "000.00.24.H37";
const NOWHERE: &str = "/lgsp/v1/000.00.19.H37/khong-co/x";

/// A signed GET (by `member` with `key(seed)`) to a service that does not exist: 404 once the
/// member is authenticated, 401 when it is not; the problem's `code`.
async fn call(http: &reqwest::Client, base: &str, member: &str, seed: u8) -> (u16, String) {
    let r = support::signed_now(
        http.get(format!("{base}{NOWHERE}")),
        &key(seed),
        member,
        "GET",
        NOWHERE,
        b"",
    )
    .send()
    .await
    .unwrap();
    let status = r.status().as_u16();
    let p: serde_json::Value = r.json().await.unwrap_or_default();
    (status, p["code"].as_str().unwrap_or_default().to_string())
}

/// `openssl x509 -noout -fingerprint -sha256` of `pem`: `AB:CD:…`.
fn openssl_fingerprint(pem: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the openssl command");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().split_once('=').unwrap().1.to_string()
}

async fn member_count(t: &tinhso_store::test_support::TestDb) -> (i64, i64) {
    let members: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM exchange_members")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    let audited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'exchange.%'")
            .fetch_one(t.db.pool())
            .await
            .unwrap();
    (members, audited)
}

#[tokio::test]
async fn certificates_identify_members_until_they_expire() {
    let t = support::db().await;
    let hub = Arc::new(Hub::new(t.db.clone(), Default::default()));
    let base = support::serve_hub(&t, hub).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let now = now_micros() / 1_000_000;
    let members = format!("{base}/api/v1/exchange/members");

    // Refused, nothing stored: malformed PEM, an expired or not yet valid certificate, a P-256
    // key, a key and a certificate together.
    let garbled =
        certificate(5, "CN=UBND phường Tam Thanh", now - 60, now + 3600).replace("MI", "M!");
    let refusals = [
        (
            serde_json::json!({ "certificate": garbled }),
            "certificate_pem",
        ),
        (
            serde_json::json!({ "certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----" }),
            "certificate_pem",
        ),
        (
            serde_json::json!({ "certificate": certificate(5, "CN=A", now - 7200, now - 3600) }),
            "certificate_expired",
        ),
        (
            serde_json::json!({ "certificate": certificate(5, "CN=A", now + 3600, now + 7200) }),
            "certificate_not_yet_valid",
        ),
        (
            serde_json::json!({ "certificate": tinhso_tsa::testing::Keypair::new("CN=A", None, false, 1).pem() }),
            "certificate_algorithm",
        ),
        (
            serde_json::json!({ "certificate": certificate(5, "CN=A", now - 60, now + 3600), "public_key": public_key(5) }),
            "credential_both",
        ),
    ];
    let before = member_count(&t).await;
    for (credential, code) in refusals {
        let mut body = credential.clone();
        body["code"] = SHORT.into();
        body["name"] = "UBND phường Tam Thanh".into();
        let r = post_json(&http, members.clone(), body).await;
        assert_eq!(r.status(), 422, "{code}");
        let p: serde_json::Value = r.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], "certificate", "{p}");
        assert_eq!(p["errors"][0]["code"], code, "{p}");
        let (vi, en) = (
            p["errors"][0]["message_vi"].as_str().unwrap(),
            p["errors"][0]["message_en"].as_str().unwrap(),
        );
        assert!(
            vi.contains("Chứng thư số") || vi.contains("chứng thư số"),
            "{vi}"
        );
        assert!(en.contains("certificate"), "{en}");
        if code == "certificate_algorithm" {
            assert!(en.contains("ECDSA") && en.contains("ed25519"), "{en}");
        }
    }
    assert_eq!(
        member_count(&t).await,
        before,
        "nothing stored, nothing audited"
    );

    // Registered by certificate: the key is the certificate's; the fingerprint is openssl's.
    let short_pem = certificate(5, "CN=UBND phường Tam Thanh,O=Tỉnh số", now - 60, now + 3);
    let r = post_json(
        &http,
        members.clone(),
        serde_json::json!({ "code": SHORT, "name": "UBND phường Tam Thanh", "certificate": short_pem }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let m: serde_json::Value = r.json().await.unwrap();
    let k = &m["keys"][0];
    assert_eq!(k["public_key"], public_key(5));
    assert_eq!(k["certificate"]["sha256"], openssl_fingerprint(&short_pem));
    assert_eq!(k["certificate"]["not_after"], (now + 3) * 1_000_000);
    assert!(k["certificate"]["subject"]
        .as_str()
        .unwrap()
        .contains("CN=UBND phường Tam Thanh"));
    assert_eq!(
        call(&http, &base, SHORT, 5).await,
        (404, "lgsp_unknown_service".into())
    );

    // Rotation to a certificate, and revocation of the key it holds.
    let r = post_json(
        &http,
        members.clone(),
        serde_json::json!({ "code": LONG, "name": "UBND xã Mẫu Sơn", "public_key": public_key(6) }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let rotated_pem = certificate(7, "CN=UBND xã Mẫu Sơn", now - 60, now + 86_400);
    let r = post_json(
        &http,
        format!("{members}/{LONG}/keys"),
        serde_json::json!({ "certificate": rotated_pem }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let new_key: serde_json::Value = r.json().await.unwrap();
    assert_eq!(new_key["public_key"], public_key(7));
    assert_eq!(
        call(&http, &base, LONG, 6).await.1,
        "lgsp_bad_signature",
        "the old key is revoked"
    );
    assert_eq!(call(&http, &base, LONG, 7).await.0, 404);
    page_with(
        &http,
        format!("{base}/quan-tri/truc-lien-thong"),
        &[
            &openssl_fingerprint(&rotated_pem),
            &openssl_fingerprint(&short_pem),
            "CN=UBND xã Mẫu Sơn",
            "-----BEGIN CERTIFICATE-----",
        ],
    )
    .await;
    let id = new_key["id"].as_str().unwrap();
    let r = http
        .post(format!("{members}/{LONG}/keys/{id}/revocation"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        call(&http, &base, LONG, 7).await,
        (401, "lgsp_unknown_member".into())
    );
    let audit: String =
        sqlx::query_scalar("SELECT summary FROM audit_log WHERE action = 'exchange.key_rotate'")
            .fetch_one(t.db.pool())
            .await
            .unwrap();
    assert!(
        audit.contains(&openssl_fingerprint(&rotated_pem)),
        "{audit}"
    );

    // Past the certificate's end: refused, with the reason, and in the message log.
    let wait = (now + 4) * 1_000_000 - now_micros();
    tokio::time::sleep(Duration::from_micros(wait.max(0) as u64)).await;
    assert_eq!(
        call(&http, &base, SHORT, 5).await,
        (401, "lgsp_certificate_expired".into())
    );
    let entries: serde_json::Value =
        support::get_json(&http, format!("{base}/api/v1/exchange/log?limit=1")).await;
    assert_eq!(entries[0]["outcome"], "certificate_expired");
    assert_eq!(entries[0]["status"], 401);
    assert_eq!(entries[0]["client"], SHORT);
    page_with(
        &http,
        format!("{base}/quan-tri/truc-lien-thong"),
        &["ngoài thời hạn hiệu lực"],
    )
    .await;
}

/// The page's member form: a malformed PEM comes back as a field error in Vietnamese, linked
/// to the certificate's box, with what was typed; nothing is stored.
#[tokio::test]
async fn the_member_form_refuses_a_malformed_certificate() {
    let t = support::db().await;
    let hub = Arc::new(Hub::new(t.db.clone(), Default::default()));
    let base = support::serve_hub(&t, hub).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/quan-tri/truc-lien-thong/thanh-vien"))
        .form(&[
            ("code", SHORT),
            ("name", "UBND phường Tam Thanh"),
            (
                "certificate",
                "-----BEGIN CERTIFICATE-----\nkhông phải\n-----END CERTIFICATE-----",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"#tv-certificate\""), "{html}");
    assert!(
        html.contains("Chứng thư số không phải một khối PEM"),
        "{html}"
    );
    assert!(
        html.contains("không phải\n-----END CERTIFICATE-----</textarea>"),
        "{html}"
    );
    assert_eq!(member_count(&t).await, (0, 0));
}
