//! Direct member-to-member calls (gọi trực tiếp giữa các thành viên — the X-Road model beside
//! the central hub): the client member's node calls the provider member's node itself; both
//! sign, both log; the hub only keeps the registry and the rights and publishes them.
//!
//! - **The registry snapshot** (bản chụp danh bạ): [`publish`] builds from the hub's database
//!   what a call is decided by — members with their status and unrevoked keys, services with
//!   endpoint, classification, OpenAPI document and active flag, rights with their operations,
//!   members' own rates — as JSON with a `version` (raised whenever that content changes) and
//!   an `issued_at`, signed with the hub's key over [`signing::registry_text`]. Members fetch
//!   it with a signed `GET /lgsp/v1/registry` ([`crate::hub::Hub::registry_snapshot`]).
//! - **A member's node** ([`Node`]): fetches the snapshot every [`NodeConfig::refresh`],
//!   verifies the hub's signature with the hub key it was configured with (never one it was
//!   sent), refuses a version older than the one it holds, keeps the last good one (in memory
//!   and in its own database, for restarts), and refuses to decide anything from a snapshot
//!   older than [`NodeConfig::max_age`] (fail closed: 503 `lgsp_registry_stale`).
//! - **The provider's gateway** ([`gateway_routes`] over [`crate::hub::Hub::gateway`]): the
//!   hub's own exchange code — authentication, clock window, replay guard, rights with
//!   operations, rate, body limit, time-out and breaker, the same refusals — deciding from the
//!   snapshot, for the services of its own member only, answering signed with the member's key
//!   (`x-lgsp-provider-signature`) and writing its own hash-chained message log.
//! - **The client** ([`Node::call`]): signs the request with the member's key, checks the
//!   provider's signature on the answer against the provider's keys in the snapshot, and
//!   writes the exchange into the client's own message log.

use crate::hub::Hub;
use crate::{log, registry, signing};
use axum::http::{header, HeaderMap};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tinhso_store::{now_micros, Db, DbError};

/// Where the hub publishes the snapshot.
pub const REGISTRY_PATH: &str = "/lgsp/v1/registry";

/// What a member's node decides calls by, as the hub published it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Raised by one whenever the content below changes.
    pub version: i64,
    /// When the hub issued it (Unix microseconds, the hub's clock).
    pub issued_at: i64,
    /// Every member with its status (`active` or `revoked`) and its unrevoked keys.
    pub members: Vec<registry::Member>,
    /// Every service (inactive ones too, marked so).
    pub services: Vec<registry::Service>,
    /// Every right with its operations (empty: the whole service).
    pub rights: Vec<registry::Right>,
    /// Members' own rates (the others: the node's default).
    pub rate_limits: Vec<registry::RateLimit>,
}

/// The content of a snapshot, from the hub's database, without version and time. Who granted
/// a right or set a rate (staff accounts) is not published.
async fn content(db: &Db) -> Result<Snapshot, DbError> {
    let mut members = registry::list_members(db)
        .await
        .map_err(|e| DbError::Invalid(e.to_string()))?;
    for m in &mut members {
        m.keys.retain(|k| k.revoked_at.is_none());
    }
    let mut rights = registry::list_rights(db).await?;
    for r in &mut rights {
        r.granted_by.clear();
    }
    let mut rate_limits = registry::list_rate_limits(db).await?;
    for r in &mut rate_limits {
        r.updated_by.clear();
    }
    Ok(Snapshot {
        version: 0,
        issued_at: 0,
        members,
        services: registry::list_services(db).await?,
        rights,
        rate_limits,
    })
}

/// Build the current snapshot: its version is raised when its content differs from the last
/// one published (`exchange_registry_version`).
pub async fn build(db: &Db) -> Result<Snapshot, DbError> {
    let mut snap = content(db).await?;
    let digest = signing::sha256_hex(&serde_json::to_vec(&snap).unwrap_or_default());
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let version: i64 = sqlx::query_scalar(
        "UPDATE exchange_registry_version SET \
         version = CASE WHEN digest = $1 THEN version ELSE version + 1 END, \
         changed_at = CASE WHEN digest = $1 THEN changed_at ELSE $2 END, \
         digest = $1 WHERE id = 1 RETURNING version",
    )
    .bind(&digest)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    snap.version = version;
    snap.issued_at = now;
    Ok(snap)
}

/// The snapshot as published: its JSON body and the signature over it with `key`.
pub async fn publish(db: &Db, key: &SigningKey) -> Result<(Vec<u8>, String), DbError> {
    let snap = build(db).await?;
    let body = serde_json::to_vec(&snap).map_err(|e| DbError::Invalid(e.to_string()))?;
    let signature = signing::sign(key, &signing::registry_text(&signing::sha256_hex(&body)));
    Ok((body, signature))
}

/// A verified snapshot with its look-ups.
#[derive(Debug)]
pub struct Held {
    pub snapshot: Snapshot,
    /// member → unrevoked keys (with their certificates' validity), for active members only.
    keys: HashMap<String, Vec<registry::ActiveKey>>,
    /// `provider\ncode` → service.
    services: HashMap<String, registry::Service>,
    /// `client\nprovider\ncode` → operations.
    rights: HashMap<String, Vec<String>>,
}

impl Held {
    fn new(snapshot: Snapshot) -> Self {
        let keys = snapshot
            .members
            .iter()
            .filter(|m| m.status == "active")
            .map(|m| {
                let keys = m.keys.iter().filter(|k| k.revoked_at.is_none());
                (
                    m.code.clone(),
                    keys.map(registry::ActiveKey::from).collect(),
                )
            })
            .collect();
        let services = snapshot
            .services
            .iter()
            .map(|s| (format!("{}\n{}", s.provider, s.code), s.clone()))
            .collect();
        let rights = snapshot
            .rights
            .iter()
            .map(|r| {
                let k = format!("{}\n{}\n{}", r.client, r.provider, r.service);
                (k, r.operations.clone())
            })
            .collect();
        Self {
            snapshot,
            keys,
            services,
            rights,
        }
    }

    /// The keys a request from `member` may be signed with: none unless it is active; a key
    /// from a certificate carries its validity period, checked when a signature is.
    pub fn active_keys(&self, member: &str) -> Vec<registry::ActiveKey> {
        self.keys.get(member).cloned().unwrap_or_default()
    }

    pub fn service(&self, provider: &str, code: &str) -> Option<registry::Service> {
        self.services.get(&format!("{provider}\n{code}")).cloned()
    }

    /// As [`registry::right_scope`]: `None` without a right, `Some(empty)` for the whole
    /// service, else the granted operations.
    pub fn right_scope(&self, client: &str, provider: &str, code: &str) -> Option<Vec<String>> {
        self.rights
            .get(&format!("{client}\n{provider}\n{code}"))
            .cloned()
    }
}

/// Settings of a member's node (nút thành viên).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The member this node speaks for (`000.00.19.H37-HOTICH`).
    pub member: String,
    /// The hub's base URL (`https://lgsp.langson.gov.vn`), where the snapshot is fetched.
    pub hub_url: String,
    /// The hub's public key (standard base64), configured out of band: a snapshot that does
    /// not verify with it is refused.
    pub hub_key: String,
    /// How often the snapshot is fetched.
    pub refresh: Duration,
    /// The oldest snapshot (by its `issued_at`) calls are decided by; older: every call is
    /// refused (503).
    pub max_age: Duration,
    /// Time-out of a call to the hub or to another member's gateway.
    pub timeout: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            member: String::new(),
            hub_url: String::new(),
            hub_key: String::new(),
            refresh: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a snapshot was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("the hub could not be reached: {0}")]
    Unreachable(String),
    #[error("the hub answered {0}: {1}")]
    Refused(u16, String),
    #[error("the snapshot's signature does not verify with the configured hub key")]
    BadSignature,
    #[error("the snapshot is malformed: {0}")]
    Malformed(String),
    #[error("the snapshot's version {got} is older than the one held ({held})")]
    Rollback { got: i64, held: i64 },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why the node cannot decide now (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    #[error("no registry snapshot from the hub has been verified yet")]
    Missing,
    #[error("the registry snapshot is {age_secs} s old, more than the {max_secs} s allowed")]
    TooOld { age_secs: i64, max_secs: i64 },
}

/// A member's node: its key, the hub's snapshot it holds, its own database.
pub struct Node {
    cfg: NodeConfig,
    db: Db,
    key: SigningKey,
    http: reqwest::Client,
    held: RwLock<Option<Arc<Held>>>,
}

/// The key a member's node signs with: derived from the node's master key
/// (`<data-dir>/master.key`) and the member's code, so it is stable across restarts and never
/// stored; its public half is what the hub registers for the member.
pub fn member_key(member: &str) -> SigningKey {
    SigningKey::from_bytes(&tinhso_identity::keys::mac(
        "tinhso.exchange.member-signing-key",
        member.as_bytes(),
    ))
}

impl Node {
    /// A node for `cfg.member` signing with `key`, holding the last good snapshot kept in
    /// `db` when there is one that still verifies.
    pub async fn open(db: Db, key: SigningKey, cfg: NodeConfig) -> Result<Self, DbError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let node = Self {
            cfg,
            db,
            key,
            http,
            held: RwLock::new(None),
        };
        let kept =
            sqlx::query("SELECT body, signature FROM exchange_registry_snapshot WHERE id = 1")
                .fetch_optional(node.db.pool())
                .await?;
        if let Some(r) = kept {
            let body: String = r.try_get(0)?;
            let signature: String = r.try_get(1)?;
            match node.verified(body.as_bytes(), &signature) {
                Ok(snap) => node.hold(snap),
                Err(e) => tracing::warn!(error = %e, "the kept registry snapshot is not used"),
            }
        }
        Ok(node)
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    pub fn member(&self) -> &str {
        &self.cfg.member
    }

    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    fn hold(&self, snap: Snapshot) {
        if let Ok(mut h) = self.held.write() {
            *h = Some(Arc::new(Held::new(snap)));
        }
    }

    fn held(&self) -> Option<Arc<Held>> {
        self.held.read().ok().and_then(|h| h.clone())
    }

    /// The gateway address `member` registered on the hub, from the snapshot held (recent
    /// enough to decide calls by).
    pub fn gateway_of(&self, member: &str) -> Option<String> {
        let held = self.current().ok()?;
        held.snapshot
            .members
            .iter()
            .find(|m| m.code == member && m.status == "active")
            .and_then(|m| m.gateway_url.clone())
    }

    /// The snapshot calls are decided by: none when missing or older than the maximum age.
    pub fn current(&self) -> Result<Arc<Held>, Stale> {
        let held = self.held().ok_or(Stale::Missing)?;
        let age = now_micros() - held.snapshot.issued_at;
        let max = i64::try_from(self.cfg.max_age.as_micros()).unwrap_or(i64::MAX);
        if age > max {
            return Err(Stale::TooOld {
                age_secs: age / 1_000_000,
                max_secs: max / 1_000_000,
            });
        }
        Ok(held)
    }

    /// Check the hub's signature over `body` and read it.
    fn verified(&self, body: &[u8], signature: &str) -> Result<Snapshot, SnapshotError> {
        let text = signing::registry_text(&signing::sha256_hex(body));
        if !signing::verify(&self.cfg.hub_key, &text, signature) {
            return Err(SnapshotError::BadSignature);
        }
        serde_json::from_slice(body).map_err(|e| SnapshotError::Malformed(e.to_string()))
    }

    /// Take a snapshot as the hub sent it: verified with the configured hub key, not older
    /// than the one held, then held and kept in the node's database. Returns its version.
    pub async fn accept(&self, body: &[u8], signature: &str) -> Result<i64, SnapshotError> {
        let snap = self.verified(body, signature)?;
        if let Some(held) = self.held() {
            let h = &held.snapshot;
            if snap.version < h.version {
                return Err(SnapshotError::Rollback {
                    got: snap.version,
                    held: h.version,
                });
            }
            if snap.version == h.version && snap.issued_at <= h.issued_at {
                return Ok(h.version); // nothing newer
            }
        }
        let text =
            std::str::from_utf8(body).map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO exchange_registry_snapshot (id, version, issued_at, body, signature, fetched_at) \
             VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
             issued_at = excluded.issued_at, body = excluded.body, signature = excluded.signature, \
             fetched_at = excluded.fetched_at",
        )
        .bind(snap.version)
        .bind(snap.issued_at)
        .bind(text)
        .bind(signature)
        .bind(now_micros())
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
        tx.commit().await?;
        let version = snap.version;
        self.hold(snap);
        Ok(version)
    }

    /// Fetch the snapshot from the hub (a signed `GET /lgsp/v1/registry`) and take it.
    pub async fn refresh(&self) -> Result<i64, SnapshotError> {
        let url = format!("{}{REGISTRY_PATH}", self.cfg.hub_url.trim_end_matches('/'));
        let mut req = self.http.get(&url);
        for (k, v) in self.sign("GET", REGISTRY_PATH, b"") {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| SnapshotError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let signature = header_text(resp.headers(), signing::H_REGISTRY_SIGNATURE);
        let body = resp
            .bytes()
            .await
            .map_err(|e| SnapshotError::Unreachable(e.to_string()))?;
        if status != 200 {
            let text = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(SnapshotError::Refused(status, text));
        }
        self.accept(&body, &signature).await
    }

    /// Fetch the snapshot now and then every [`NodeConfig::refresh`] until `stop`; a failed
    /// fetch keeps the last good one (until it is too old).
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            match self.refresh().await {
                Ok(version) => tracing::debug!(version, "registry snapshot verified"),
                Err(e) => {
                    let stale = self.current().err();
                    tracing::warn!(error = %e, stale = ?stale, "registry snapshot not refreshed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.refresh) => {}
                _ = &mut stop => return,
            }
        }
    }

    /// The signature headers of a request from this node's member, now, with a fresh nonce.
    fn sign(&self, method: &str, path_and_query: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let ts = now_micros() / 1_000_000;
        let nonce = signing::new_nonce();
        signing::client_headers(
            &self.key,
            &self.cfg.member,
            method,
            path_and_query,
            body,
            ts,
            &nonce,
        )
    }

    /// Call `service` of `provider` directly at the provider's gateway `gateway_url`
    /// (`http(s)://host:port`): `rest` is the path below the service with its query
    /// (`/citizens/123?full=1`, or empty). The answer is returned only when the provider's
    /// signature over it verifies with the provider's keys in the snapshot; it is then written
    /// into this node's message log (with the provider's signature) before it is returned.
    pub async fn call(
        &self,
        gateway_url: &str,
        request: DirectRequest<'_>,
    ) -> Result<Answer, CallError> {
        let started = Instant::now();
        let held = self.current().map_err(CallError::Stale)?;
        // The provider's keys, without those whose certificate is outside its validity period.
        let now = now_micros();
        let provider_keys: Vec<String> = held
            .active_keys(request.provider)
            .into_iter()
            .filter(|k| k.valid.is_none_or(|(from, to)| (from..=to).contains(&now)))
            .map(|k| k.public_key)
            .collect();
        if provider_keys.is_empty() {
            return Err(CallError::UnknownProvider(request.provider.to_string()));
        }
        let path = format!(
            "/lgsp/v1/{}/{}{}",
            request.provider, request.service, request.rest
        );
        let method = request.method.to_ascii_uppercase();
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let ts = now_micros() / 1_000_000;
        let nonce = signing::new_nonce();
        let headers = signing::client_headers(
            &self.key,
            &self.cfg.member,
            &method,
            &path,
            request.body,
            ts,
            &nonce,
        );
        let request_sha256 = signing::sha256_hex(
            signing::request_text(
                &method,
                &path,
                ts,
                &nonce,
                &signing::sha256_hex(request.body),
            )
            .as_bytes(),
        );
        let client_signature = headers
            .iter()
            .find(|(k, _)| *k == signing::H_SIGNATURE)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut req = self
            .http
            .request(m, format!("{}{path}", gateway_url.trim_end_matches('/')))
            .body(request.body.to_vec());
        if let Some(ct) = request.content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?
            .to_vec();
        let exchange_id = header_text(&h, signing::H_EXCHANGE_ID);
        let provider_signature = header_text(&h, signing::H_PROVIDER_SIGNATURE);
        let response_sha256 = signing::sha256_hex(&body);
        let text = signing::response_text(&exchange_id, status, &request_sha256, &response_sha256);
        if exchange_id.is_empty()
            || !provider_keys
                .iter()
                .any(|k| signing::verify(k, &text, &provider_signature))
        {
            return Err(CallError::Unsigned { status });
        }
        let content_type = h
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // The provider's refusals carry their code (`lgsp_forbidden`); its own answers are `ok`.
        let outcome = content_type
            .as_deref()
            .filter(|ct| ct.starts_with("application/problem+json"))
            .and_then(|_| serde_json::from_slice::<serde_json::Value>(&body).ok())
            .and_then(|v| v["code"].as_str().map(str::to_string))
            .and_then(|c| c.strip_prefix("lgsp_").map(str::to_string))
            .unwrap_or_else(|| "ok".to_string());
        log::append(
            &self.db,
            &log::NewEntry {
                exchange_id: exchange_id.clone(),
                client: self.cfg.member.clone(),
                provider: request.provider.to_string(),
                service: request.service.to_string(),
                method,
                path,
                status,
                outcome,
                latency_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
                request_sha256,
                response_sha256,
                client_signature,
                hub_signature: provider_signature,
                kept: None,
            },
        )
        .await
        .map_err(CallError::Log)?;
        Ok(Answer {
            status,
            exchange_id,
            content_type,
            body,
        })
    }
}

fn header_text(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A direct call to make.
#[derive(Debug, Clone, Copy)]
pub struct DirectRequest<'a> {
    pub method: &'a str,
    pub provider: &'a str,
    pub service: &'a str,
    /// The path below the service with its query, starting with `/` (or empty).
    pub rest: &'a str,
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
}

/// A provider's verified answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub exchange_id: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a direct call has no verified answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the call is not made: {0}")]
    Stale(Stale),
    #[error("the provider {0} is not an active member in the registry snapshot")]
    UnknownProvider(String),
    #[error("the provider's gateway could not be reached: {0}")]
    Transport(String),
    #[error(
        "the answer (HTTP {status}) is not signed by the provider's key in the registry snapshot"
    )]
    Unsigned { status: u16 },
    #[error("the client's message log could not be written: {0}")]
    Log(DbError),
}

/// A member's gateway (cổng trực tiếp): the hub's exchange routes over
/// [`Hub::gateway`], nothing else; its sweep of cut-off exchanges started
/// ([`Hub::start_sweeping`]).
pub fn gateway_routes(hub: Arc<Hub>) -> axum::Router {
    hub.start_sweeping();
    crate::web::exchange_routes().layer(axum::Extension(hub))
}
