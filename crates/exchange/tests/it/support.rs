//! Set-up the exchange tests share (hỗ trợ kiểm thử): a fresh database with the exchange's
//! tables, members registered with keys from a seed, the stand-in for the request-context
//! layer with a signed-in principal, and routes served on a loopback port.

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use ed25519_dalek::SigningKey;
use std::net::SocketAddr;
use tinhso_exchange::registry;
use tinhso_exchange::signing::{self, client_headers, new_nonce};
use tinhso_http::ReqCtx;
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};
use tinhso_store::audit::Ctx;
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::{now_micros, Db};

/// A fresh database with the store's and the exchange's tables.
pub async fn db() -> TestDb {
    fresh(&[STORE_MIGRATIONS, tinhso_exchange::MIGRATIONS]).await
}

/// The administrator who registers members and grants rights outside HTTP.
pub fn ctx() -> Ctx {
    Ctx {
        actor: "user:quantri".into(),
        request_id: "test".into(),
    }
}

/// A member's signing key, the same for the same seed.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The public key of [`key`]`(seed)`, as the registry stores it.
pub fn public_key(seed: u8) -> String {
    signing::public_key_b64(&key(seed))
}

/// Registers member `code` (thành viên) with the public key of `key(seed)`.
pub async fn register(db: &Db, code: &str, name: &str, seed: u8) {
    registry::register_member(db, &ctx(), code, name, &public_key(seed))
        .await
        .unwrap();
}

/// Registers service `code` of `provider` on the hub, in front of `endpoint`.
pub async fn register_service(
    db: &Db,
    provider: &str,
    code: &str,
    name: &str,
    endpoint: String,
    openapi: serde_json::Value,
    classification: &str,
) {
    registry::register_service(
        db,
        &ctx(),
        &registry::NewService {
            provider: provider.into(),
            code: code.into(),
            name: name.into(),
            endpoint,
            openapi,
            classification: classification.into(),
        },
    )
    .await
    .unwrap();
}

/// Grants `client` the right to call `service` of `provider`.
pub async fn grant(db: &Db, client: &str, provider: &str, service: &str) {
    registry::grant(db, &ctx(), client, provider, service)
        .await
        .unwrap();
}

/// A staff account `u1` (quantri) holding `role` over the province.
pub fn principal(role: Role) -> Principal {
    Principal {
        user_id: "u1".into(),
        username: "quantri".into(),
        display_name: "Quản trị".into(),
        kind: "staff".into(),
        agency_code: None,
        roles: vec![RoleAssignment {
            role,
            scope: Scope::Province,
        }],
        method: AuthMethod::Session,
    }
}

/// `routes` behind a stand-in for the request-context layer that signs every request in as `p`.
pub fn signed_in<S>(routes: axum::Router<S>, p: Principal) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    routes.layer(middleware::from_fn(move |mut req: Request, next: Next| {
        let p = p.clone();
        async move {
            let path = req.uri().path().to_string();
            req.extensions_mut().insert(ReqCtx {
                request_id: "t".into(),
                lang: Default::default(),
                principal: Some(p),
                csrf: String::new(),
                ip: "127.0.0.1".into(),
                path,
            });
            let r: Response = next.run(req).await;
            r
        }
    }))
}

/// Serves `app` on a free loopback port, for the rest of the test.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

/// GET `url` and read the answer as JSON.
pub async fn get_json(http: &reqwest::Client, url: String) -> serde_json::Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// GET a page (200) that holds every one of `needles`; its HTML.
pub async fn page_with(http: &reqwest::Client, url: String, needles: &[&str]) -> String {
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200, "{url}");
    let html = page.text().await.unwrap();
    for needle in needles {
        assert!(
            html.contains(needle),
            "{needle} missing from {url}:\n{html}"
        );
    }
    html
}

/// POST `body` as JSON to `url`.
pub async fn post_json(
    http: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> reqwest::Response {
    http.post(url).json(&body).send().await.unwrap()
}

/// The `field` of every error in a problem answer, in order.
pub fn error_fields(problem: &serde_json::Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// `req` with the given signature headers.
pub fn with_headers(
    mut req: reqwest::RequestBuilder,
    headers: Vec<(&'static str, String)>,
) -> reqwest::RequestBuilder {
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req
}

/// `req` signed by `member` with `key` for `method path` and `body`, now, with a fresh nonce.
pub fn signed_now(
    req: reqwest::RequestBuilder,
    key: &SigningKey,
    member: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> reqwest::RequestBuilder {
    let ts = now_micros() / 1_000_000;
    with_headers(
        req,
        client_headers(key, member, method, path, body, ts, &new_nonce()),
    )
}

/// The client member of the members' tests (pulls, webhooks), registered with `key(1)`.
pub const MEMBER: &str = "000.00.23.H37";
/// Another member, registered with `key(2)`.
pub const OTHER: &str = "000.00.24.H37";

/// A fresh database with [`MEMBER`] and [`OTHER`] registered.
pub async fn two_members() -> TestDb {
    let t = db().await;
    for (code, seed) in [(MEMBER, 1), (OTHER, 2)] {
        register(&t.db, code, "UBND phường", seed).await;
    }
    t
}

/// `hub`'s members' routes and the administrators' API (behind a signed-in administrator)
/// over `t`'s database, served on a loopback port of their own; the base URL.
pub async fn serve_hub(t: &TestDb, hub: std::sync::Arc<tinhso_exchange::Hub>) -> String {
    let state = tinhso_http::AppState::new(t.db.clone(), tinhso_http::WebConfig::default());
    let app = signed_in(
        tinhso_exchange::web::routes(hub.clone()),
        principal(Role::Admin),
    )
    .merge(tinhso_exchange::web::member_routes(hub))
    .with_state(state);
    format!("http://{}", serve(app).await)
}

/// `method base+path` with the JSON `body`, signed now by `member` with `key(seed)`.
pub async fn send_signed(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: &[u8],
    (member, seed): (&str, u8),
) -> reqwest::Response {
    let req = http
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    signed_now(req, &key(seed), member, method, path, body)
        .send()
        .await
        .unwrap()
}

/// An X.509 certificate (PEM) for the subject key `key(seed)`, valid from `not_before` to
/// `not_after` (Unix seconds), self-signed with the same key — what an administrator pastes
/// when registering a member by certificate. (The P-256 certificates of the TSA simulator,
/// `tinhso_tsa::testing::Keypair`, serve for keys the hub refuses.)
pub fn certificate(seed: u8, subject: &str, not_before: i64, not_after: i64) -> String {
    use ed25519_dalek::Signer;
    use std::str::FromStr;
    use x509_cert::der::asn1::{BitString, ObjectIdentifier};
    use x509_cert::der::{Encode, EncodePem};
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use x509_cert::time::{Time, Validity};
    let k = key(seed);
    let at = |s: i64| {
        Time::try_from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s as u64)).unwrap()
    };
    let ed25519 = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.3.101.112"),
        parameters: None,
    };
    let name = x509_cert::name::Name::from_str(subject).unwrap();
    let tbs = x509_cert::TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: x509_cert::serial_number::SerialNumber::new(&[1, seed]).unwrap(),
        signature: ed25519.clone(),
        issuer: name.clone(),
        validity: Validity {
            not_before: at(not_before),
            not_after: at(not_after),
        },
        subject: name,
        subject_public_key_info: SubjectPublicKeyInfoOwned {
            algorithm: ed25519.clone(),
            subject_public_key: BitString::from_bytes(k.verifying_key().as_bytes()).unwrap(),
        },
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: None,
    };
    let signature = k.sign(&tbs.to_der().unwrap());
    x509_cert::Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ed25519,
        signature: BitString::from_bytes(&signature.to_bytes()).unwrap(),
    }
    .to_pem(x509_cert::der::pem::LineEnding::LF)
    .unwrap()
}
