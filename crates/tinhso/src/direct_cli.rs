//! `tinhso exchange gateway|member-key|call`: a member's node for direct member-to-member
//! calls (nút thành viên, gọi trực tiếp) — see `docs/exchange/direct-calls.md`.

use anyhow::{bail, Context};
use clap::Args;
use std::sync::Arc;
use std::time::Duration;
use tinhso::config::Settings;
use tinhso::exchange_config::NodeFile;
use tinhso_exchange::direct::{self, DirectRequest, Node, NodeConfig};
use tinhso_exchange::{registry, signing, Hub};

/// The node's settings: each from its flag, else its environment variable, else
/// `[exchange.node]` in `tinhso.toml`.
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// The member this node speaks for, as registered on the hub (e.g. 000.00.19.H37-HOTICH).
    #[arg(long, env = "TINHSO_DIRECT_MEMBER")]
    pub member: Option<String>,
    /// The hub's address, where the registry snapshot is fetched (e.g. https://lgsp.example.vn).
    #[arg(long, env = "TINHSO_DIRECT_HUB_URL")]
    pub hub_url: Option<String>,
    /// The hub's public key (base64, from `GET /lgsp/v1/hub-key`, checked out of band): a
    /// snapshot that does not verify with it is refused.
    #[arg(long, env = "TINHSO_DIRECT_HUB_KEY")]
    pub hub_key: Option<String>,
    /// How often the snapshot is fetched, in seconds (5–86400; default 60).
    #[arg(long, env = "TINHSO_DIRECT_REFRESH_SECS")]
    pub refresh_secs: Option<u64>,
    /// The oldest snapshot calls are decided by, in seconds (60–604800, more than the
    /// refresh; default 3600); older: every call is refused (503).
    #[arg(long, env = "TINHSO_DIRECT_MAX_AGE_SECS")]
    pub max_age_secs: Option<u64>,
}

/// What to call.
#[derive(Args, Debug, Clone)]
pub struct CallArgs {
    /// The provider's gateway (e.g. https://hotich.example.vn:8443); without it, the gateway
    /// address the provider registered on the hub (from the registry snapshot).
    #[arg(long)]
    pub direct: Option<String>,
    /// The provider member's code.
    #[arg(long)]
    pub provider: String,
    /// The service's code.
    #[arg(long)]
    pub service: String,
    /// The path below the service, with its query (e.g. /citizens/123?full=1).
    #[arg(long, default_value = "")]
    pub path: String,
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// The request body (sent as application/json unless --content-type says otherwise).
    #[arg(long)]
    pub data: Option<String>,
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
}

fn bad(key: &str, value: &str, vi: &str, en: &str) -> anyhow::Error {
    anyhow::anyhow!("setting `{key}`: {value:?} không hợp lệ — {vi} / is not valid — {en}")
}

fn missing(key: &str, flag: &str, env: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "setting `exchange.node.{key}` thiếu — đặt --{flag}, {env} hoặc [exchange.node] {key} trong tinhso.toml / is missing — set --{flag}, {env} or [exchange.node] {key} in tinhso.toml"
    )
}

impl NodeArgs {
    /// The node's configuration from the flags and environment, else `file`
    /// (`[exchange.node]`), each value checked (a bad one names its setting).
    pub fn config(&self, file: &NodeFile) -> anyhow::Result<NodeConfig> {
        let member_raw = self
            .member
            .clone()
            .or_else(|| file.member.clone())
            .ok_or_else(|| missing("member", "member", "TINHSO_DIRECT_MEMBER"))?;
        let hub_url_raw = self
            .hub_url
            .clone()
            .or_else(|| file.hub_url.clone())
            .ok_or_else(|| missing("hub_url", "hub-url", "TINHSO_DIRECT_HUB_URL"))?;
        let hub_key = self
            .hub_key
            .clone()
            .or_else(|| file.hub_key.clone())
            .ok_or_else(|| missing("hub_key", "hub-key", "TINHSO_DIRECT_HUB_KEY"))?;
        let refresh_secs = self.refresh_secs.or(file.refresh_secs).unwrap_or(60);
        let max_age_secs = self.max_age_secs.or(file.max_age_secs).unwrap_or(3600);
        let member = registry::member_code(&member_raw)
            .map_err(|e| bad("member", &member_raw, &e.vi, &e.en))?;
        let hub_url = hub_url_raw.trim().trim_end_matches('/').to_string();
        if !(hub_url.starts_with("http://") || hub_url.starts_with("https://")) {
            return Err(bad(
                "hub-url",
                &hub_url_raw,
                "phải bắt đầu bằng http:// hoặc https://",
                "must start with http:// or https://",
            ));
        }
        if signing::parse_public_key(&hub_key).is_none() {
            return Err(bad(
                "hub-key",
                &hub_key,
                "phải là khóa công khai ed25519 dạng base64 (32 byte)",
                "must be an ed25519 public key in base64 (32 bytes)",
            ));
        }
        if !(5..=86_400).contains(&refresh_secs) {
            return Err(bad(
                "refresh-secs",
                &refresh_secs.to_string(),
                "phải từ 5 đến 86400 (giây)",
                "must be from 5 to 86400 (seconds)",
            ));
        }
        if !(60..=604_800).contains(&max_age_secs) || max_age_secs <= refresh_secs {
            return Err(bad(
                "max-age-secs",
                &max_age_secs.to_string(),
                "phải từ 60 đến 604800 (giây) và lớn hơn refresh-secs",
                "must be from 60 to 604800 (seconds) and more than refresh-secs",
            ));
        }
        Ok(NodeConfig {
            member,
            hub_url,
            hub_key: hub_key.trim().to_string(),
            refresh: Duration::from_secs(refresh_secs),
            max_age: Duration::from_secs(max_age_secs),
            ..Default::default()
        })
    }
}

/// `tinhso exchange member-key`: the public key to register on the hub for this node's member.
pub fn member_key(settings: &Settings, member: &str) -> anyhow::Result<()> {
    let member = registry::member_code(member).map_err(|e| bad("member", member, &e.vi, &e.en))?;
    tinhso_identity::keys::load_master_key(&settings.data_dir.join("master.key"))
        .context("master key")?;
    println!("{}", signing::public_key_b64(&direct::member_key(&member)));
    Ok(())
}

/// `tinhso exchange gateway`: serve this member's services to other members directly, until
/// `stop`.
pub async fn gateway(
    settings: Settings,
    node: &NodeArgs,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cfg = node.config(&settings.exchange.node)?;
    let db = tinhso::open(&settings).await?;
    let key = direct::member_key(&cfg.member);
    let public_key = signing::public_key_b64(&key);
    let node = Arc::new(Node::open(db.clone(), key, cfg).await?);
    let hub = Arc::new(Hub::gateway(
        db.clone(),
        settings.exchange.hub.clone(),
        node.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("setting `listen`: cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut refresh_rx = stop_rx.clone();
    let refresh_task = tokio::spawn(node.clone().run(async move {
        let _ = refresh_rx.changed().await;
    }));
    // The node's own message log, its head signed every 10 minutes with the node's anchor key
    // (derived from its master key like the hub's, so `tinhso exchange verify` on this data
    // directory checks the anchors).
    let mut anchor_rx = stop_rx.clone();
    let anchor_task = tokio::spawn(tinhso_exchange::log::anchor_every(
        db.clone(),
        tinhso_exchange::hub::hub_key(),
        settings
            .exchange
            .hub
            .tsa
            .clone()
            .map(tinhso_exchange::tsa::TsaClient::new),
        Duration::from_secs(600),
        async move {
            let _ = anchor_rx.changed().await;
        },
    ));
    tracing::info!(%addr, member = node.member(), %public_key, "member gateway serving");
    println!(
        "tinhso member gateway of {} listening on http://{addr} (member key {public_key})",
        node.member()
    );
    axum::serve(listener, direct::gateway_routes(hub))
        .with_graceful_shutdown(stop)
        .await?;
    let _ = stop_tx.send(true);
    let _ = refresh_task.await;
    let _ = anchor_task.await;
    Ok(())
}

/// `tinhso exchange call --direct URL`: one direct call; the verified answer's body on
/// standard output, its status on standard error; exit code 1 unless 2xx.
pub async fn call(settings: Settings, node: &NodeArgs, call: &CallArgs) -> anyhow::Result<i32> {
    let cfg = node.config(&settings.exchange.node)?;
    let db = tinhso::open(&settings).await?;
    let key = direct::member_key(&cfg.member);
    let node = Node::open(db, key, cfg).await?;
    if let Err(e) = node.refresh().await {
        eprintln!(
            "registry snapshot not refreshed ({e}); the one kept is used while recent enough"
        );
    }
    let rest = match call.path.as_str() {
        "" => String::new(),
        p if p.starts_with('/') || p.starts_with('?') => p.to_string(),
        p => format!("/{p}"),
    };
    let body = call.data.clone().unwrap_or_default();
    // The provider's gateway: named on the command line, else as registered on the hub.
    let direct = match call.direct.clone() {
        Some(d) => d,
        None => match node.gateway_of(&call.provider) {
            Some(g) => g,
            None => bail!(
                "{} chưa đăng ký địa chỉ cổng trên trục; dùng --direct URL / has no gateway address registered on the hub; pass --direct URL",
                call.provider
            ),
        },
    };
    let answer = node
        .call(
            &direct,
            DirectRequest {
                method: &call.method,
                provider: &call.provider,
                service: &call.service,
                rest: &rest,
                body: body.as_bytes(),
                content_type: call.data.as_ref().map(|_| call.content_type.as_str()),
            },
        )
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => bail!("direct call failed: {e}"),
    };
    eprintln!(
        "HTTP {} — exchange {} (provider's signature verified, logged)",
        answer.status, answer.exchange_id
    );
    use std::io::Write;
    std::io::stdout().write_all(&answer.body)?;
    println!();
    Ok(if (200..300).contains(&answer.status) {
        0
    } else {
        1
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn none() -> NodeArgs {
        NodeArgs {
            member: None,
            hub_url: None,
            hub_key: None,
            refresh_secs: None,
            max_age_secs: None,
        }
    }

    #[test]
    fn node_settings_come_from_the_flags_else_the_file() {
        let key = signing::public_key_b64(&ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        let file = NodeFile {
            member: Some("000.00.19.H37-HOTICH".into()),
            hub_url: Some("https://lgsp.example.vn/".into()),
            hub_key: Some(key.clone()),
            refresh_secs: Some(30),
            max_age_secs: None,
        };
        let c = none().config(&file).unwrap();
        assert_eq!(c.member, "000.00.19.H37-HOTICH");
        assert_eq!(c.hub_url, "https://lgsp.example.vn");
        assert_eq!((c.refresh.as_secs(), c.max_age.as_secs()), (30, 3600));
        // A flag (or its variable) wins over the file.
        let args = NodeArgs {
            member: Some("000.00.23.H37".into()),
            refresh_secs: Some(120),
            ..none()
        };
        let c = args.config(&file).unwrap();
        assert_eq!(
            (c.member.as_str(), c.refresh.as_secs()),
            ("000.00.23.H37", 120)
        );
        // Missing everywhere: the message names the flag, the variable and the key.
        let e = none().config(&NodeFile::default()).unwrap_err().to_string();
        assert!(
            e.contains("--member")
                && e.contains("TINHSO_DIRECT_MEMBER")
                && e.contains("[exchange.node] member"),
            "{e}"
        );
        // A bad value from the file is refused like a bad flag.
        let bad = NodeFile {
            max_age_secs: Some(10),
            ..file
        };
        let e = none().config(&bad).unwrap_err().to_string();
        assert!(e.contains("max-age-secs"), "{e}");
    }
}
