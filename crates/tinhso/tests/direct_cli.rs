//! Direct calls from the command line, as two members' operators run them: the hub (its
//! routes in this process, on a fresh SQLite database), the provider's node as the real
//! `tinhso exchange gateway` binary on a data directory of its own, the client's node as
//! `tinhso exchange call --direct` on another; the members' keys come from
//! `tinhso exchange member-key` on each node. Then `tinhso exchange verify` on the provider's
//! node. SQLite only (the library tests run the same checks on PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::HeaderMap;
use axum::routing::post;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use tinhso_exchange::{registry, Hub, HubConfig};
use tinhso_store::audit::Ctx;

const CLIENT: &str = "000.00.23.H37";
const PROVIDER: &str = "000.00.19.H37-HOTICH";
const SERVICE: &str = "trich-luc-khai-sinh";

fn tinhso(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tinhso"));
    c.env("TINHSO_DATA_DIR", data)
        .env_remove("TINHSO_DATABASE_URL")
        .env_remove("TINHSO_LISTEN")
        .env_remove("TINHSO_CONFIG")
        .env("TINHSO_LOG", "warn");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `tinhso exchange member-key` on `data`.
fn member_key(data: &Path, member: &str) -> String {
    let o = tinhso(data)
        .args(["exchange", "member-key", "--member", member])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gateway_and_a_direct_call_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (pdata, cdata) = (tmp.path().join("provider"), tmp.path().join("client"));
    let provider_pk = member_key(&pdata, PROVIDER);
    let client_pk = member_key(&cdata, CLIENT);
    assert_eq!(member_key(&pdata, PROVIDER), provider_pk, "stable");

    // The hub, in this process.
    let hub_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/hub.db", hub_dir.path().display());
    let db = tinhso_store::Db::connect(&url, &Default::default())
        .await
        .unwrap();
    tinhso_store::migrate::run(
        &db,
        &[
            tinhso_store::migrate::STORE_MIGRATIONS,
            tinhso_exchange::MIGRATIONS,
        ],
    )
    .await
    .unwrap();
    let ctx = Ctx {
        actor: "user:quantri".into(),
        request_id: "direct-cli".into(),
    };
    registry::register_member(&db, &ctx, CLIENT, "UBND phường Tam Thanh", &client_pk)
        .await
        .unwrap();
    registry::register_member(&db, &ctx, PROVIDER, "Sở Tư pháp — hộ tịch", &provider_pk)
        .await
        .unwrap();
    async fn echo(headers: HeaderMap, body: String) -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({
            "client": headers.get("x-lgsp-client").and_then(|v| v.to_str().ok()),
            "body": body,
        }))
    }
    let service = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service_addr = service.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(service, axum::Router::new().route("/api/echo", post(echo))).await
    });
    registry::register_service(
        &db,
        &ctx,
        &registry::NewService {
            provider: PROVIDER.into(),
            code: SERVICE.into(),
            name: "Trích lục khai sinh".into(),
            endpoint: format!("http://{service_addr}/api"),
            openapi: serde_json::json!({
                "openapi": "3.1.0",
                "info": { "title": "Trích lục khai sinh", "version": "1" },
                "paths": { "/echo": { "post": { "responses": { "200": { "description": "ok" } } } } }
            }),
            classification: "restricted".into(),
        },
    )
    .await
    .unwrap();
    registry::grant(&db, &ctx, CLIENT, PROVIDER, SERVICE)
        .await
        .unwrap();
    let hub = Arc::new(Hub::new(db.clone(), HubConfig::default()));
    let hub_key = hub.public_key();
    let state = tinhso_http::AppState::new(db.clone(), tinhso_http::WebConfig::default());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub_url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            l,
            tinhso_exchange::web::member_routes(hub).with_state(state),
        )
        .await
    });

    let node_args = |member: &str| {
        vec![
            "--member".to_string(),
            member.to_string(),
            "--hub-url".into(),
            hub_url.clone(),
            "--hub-key".into(),
            hub_key.clone(),
        ]
    };
    // A bad setting stops the node, naming it.
    let o = tinhso(&pdata)
        .args(["exchange", "gateway", "--listen", "127.0.0.1:0"])
        .args(node_args(PROVIDER))
        .args(["--max-age-secs", "10"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("setting `max-age-secs`"), "{}", text(&o));

    // The provider's gateway: its address is on its first line.
    let mut child = tinhso(&pdata)
        .args(["exchange", "gateway", "--listen", "127.0.0.1:0"])
        .args(node_args(PROVIDER))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let gw = Kill(child);
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert!(first.contains(&provider_pk), "{first}");
    let gateway = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();

    // The client's call, until the gateway has fetched its first snapshot (it does so at once).
    let call = |path: &'static str| {
        let mut c = tinhso(&cdata);
        c.args(["exchange", "call"])
            .args(node_args(CLIENT))
            .args(["--direct", &gateway, "--provider", PROVIDER])
            .args(["--service", SERVICE, "--method", "POST", "--path", path])
            .args(["--data", r#"{"ho_ten":"Hoàng Thị Mai"}"#]);
        async move {
            tokio::task::spawn_blocking(move || c.output().unwrap())
                .await
                .unwrap()
        }
    };
    let mut o = call("/echo").await;
    for _ in 0..50 {
        if o.status.success() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        o = call("/echo").await;
    }
    assert!(o.status.success(), "{}", text(&o));
    let body: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(body["client"], CLIENT);
    assert_eq!(body["body"], r#"{"ho_ten":"Hoàng Thị Mai"}"#);
    assert!(
        text(&o).contains("provider's signature verified"),
        "{}",
        text(&o)
    );

    // An unknown service path is forwarded and answered 404 by the provider: exit code 1.
    let o = call("/khong-co").await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    drop(gw);
    // Both nodes' logs verify.
    for data in [&pdata, &cdata] {
        let o = tinhso(data).args(["exchange", "verify"]).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("intact"), "{}", text(&o));
    }
}
