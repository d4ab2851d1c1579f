//! The exchange itself (trao đổi qua trục): `GET|HEAD|POST|PUT|PATCH|DELETE
//! /lgsp/v1/{provider}/{service}/{path..}` — every method the same way: the signature covers
//! the method, the right is matched against the OpenAPI operation of that method (HEAD: the
//! GET operation unless one is declared for HEAD), every outcome is logged.
//!
//! In order: read the body (at most [`HubConfig::max_body`], else 413); authenticate the
//! client (member code, timestamp within ±[`HubConfig::clock_skew`], nonce, ed25519 signature
//! over method, path, timestamp, nonce and the body's SHA-256 — see [`crate::signing`]; any
//! failure 401); reject a nonce seen before (401); find the service (404); check the client's
//! right (403); forward to the provider's endpoint with a time-out (504) behind a circuit
//! breaker (503 while open); answer with the provider's status and body plus the hub's
//! signature. Every outcome is appended to the message log ([`crate::log`]) before the answer
//! is sent; if the log cannot be written the client gets 500, never an unlogged answer.
//!
//! The same code serves a member's own gateway for direct calls ([`crate::direct`]): there
//! the registry is the hub's signed snapshot held by the node ([`Hub::gateway`]), the answers
//! are signed with the member's key, and the log and nonces are the node's own.

use crate::log::{self, NewEntry};
use crate::stages::Stage;
use crate::{registry, signing, webhooks};
use axum::body::Body;
use axum::extract::{Extension, OriginalUri, Path};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ed25519_dalek::SigningKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tinhso_kernel::AppError;
use tinhso_store::{now_micros, Db, DbError};

mod feed;
pub use feed::{
    consumer_name as event_consumer_name, events_handler, AckRequest, PullAnswer, PullRequest,
    PulledEvent,
};

/// Limits of the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Accepted difference between the client's timestamp and the hub's clock.
    pub clock_skew: Duration,
    /// Time-out of a call to a provider.
    pub timeout: Duration,
    /// Largest request body forwarded (bytes); more → 413. Provider answers are cut to
    /// 4 × this.
    pub max_body: usize,
    /// Consecutive failures (time-out, connection error, 5xx) that open a service's breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker refuses calls before letting one through.
    pub breaker_cooldown: Duration,
    /// Per-member token bucket: burst size and refill per second (more → 429), for members
    /// without their own rate (`exchange_member_limits`, set through the API).
    pub rate_burst: f64,
    pub rate_per_second: f64,
    /// How often the members' own rates are re-read from the database (a change made through
    /// this server's API applies at once; one made through another server within this time).
    pub rate_refresh: Duration,
    /// The time-stamp authority for the log's anchors (`[exchange] tsa_url`,
    /// `tsa_certificate`); `None`: anchors are signed by the hub's key only.
    pub tsa: Option<crate::tsa::TsaConfig>,
    /// The trusted TSA certificates (`tsa_certificate`), for checking stored tokens; set with
    /// or without `tsa`.
    pub tsa_trust: Option<crate::tsa::TrustedTsa>,
    /// Record each new nonce in the database *before* forwarding (`[exchange]
    /// nonces_before_forwarding`), at the price of a commit before forwarding (shared by the
    /// concurrent exchanges' nonces through the log writer, [`log::Appender::take_nonce`]), so that a replay
    /// sent to another hub node sharing the database is refused before it reaches the
    /// provider. Otherwise the nonce is written with the log entry after forwarding: one node
    /// refuses replays from memory, but another node would forward one before its commit
    /// catches it. `None`: on for PostgreSQL (several nodes may share it), off for SQLite (one
    /// node owns the file).
    pub nonces_before_forwarding: Option<bool>,
    /// With nonces written before forwarding, each exchange also leaves an in-flight row
    /// ([`log::InFlight`]) until its log entry is committed; a row older than this is an
    /// exchange a crash cut off, logged as `interrupted` by the hub's sweep
    /// ([`Hub::start_sweeping`]). Longer than any exchange lasts: the provider time-out plus
    /// the log's queue (`[exchange] interrupted_after_secs`; default 60 s, at least
    /// [`HubConfig::timeout`] + 5 s).
    pub interrupted_after: Duration,
    /// How often the hub looks for such rows (`[exchange] inflight_sweep_secs`, default 30 s):
    /// an exchange cut off by a crash of this or another node sharing the database is logged
    /// at most `interrupted_after` + this after it started, while any node runs.
    pub inflight_sweep: Duration,
    /// The NATS JetStream the outbox is published to (`nats_url`): members' pulls through
    /// `/lgsp/v1/_events` read their durable consumers there; `None`: from the outbox.
    pub nats: Option<crate::NatsConfig>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            clock_skew: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            rate_burst: 200.0,
            rate_per_second: 100.0,
            rate_refresh: Duration::from_secs(5),
            tsa: None,
            tsa_trust: None,
            nonces_before_forwarding: None,
            interrupted_after: Duration::from_secs(60),
            inflight_sweep: Duration::from_secs(30),
            nats: None,
        }
    }
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

/// Where the hub reads who may call what (danh bạ): its own database (the central hub), or
/// the hub's signed snapshot held by a member's node (a gateway for direct calls).
enum Source {
    Database,
    Snapshot(Arc<crate::direct::Node>),
}

/// Why the registry could not decide a request.
enum Unavailable {
    Db(DbError),
    /// A member's node without a usable snapshot (none, or older than its maximum age).
    Stale,
}

impl From<DbError> for Unavailable {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// The hub: its key, the HTTP client to providers, the breakers.
pub struct Hub {
    db: Db,
    key: SigningKey,
    source: Source,
    /// The header the answers' signature goes in (`x-lgsp-hub-signature`, or
    /// `x-lgsp-provider-signature` on a member's gateway).
    signature_header: &'static str,
    http: reqwest::Client,
    cfg: HubConfig,
    breakers: Mutex<HashMap<String, Breaker>>,
    /// Nonces seen, in memory (written to the database with the log entries).
    nonces: tokio::sync::OnceCell<Mutex<NonceWindow>>,
    limiter: MemberLimiter,
    metrics: crate::metrics::HubMetrics,
    /// Time per stage of an exchange and of the log writer ([`crate::stages`]).
    stages: Arc<crate::stages::Stages>,
    log: log::Appender,
    /// The JetStream connection for members' pulls (made on the first pull).
    events: tokio::sync::OnceCell<crate::EventBridge>,
    /// Registry reads (keys, services, rights) of the central hub, cached.
    cache: RegistryCache,
    /// Set once the sweep of cut-off exchanges runs ([`Hub::start_sweeping`]); dropped with
    /// the hub, which ends the sweep.
    sweep_stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

/// How long a cached registry read is trusted without a change seen in this process: the
/// bound on how late this hub notices a change made through another server on the same
/// database. A change made through this process ([`registry::generation`]) applies to the
/// next request.
const REGISTRY_TTL: Duration = Duration::from_secs(2);

/// A cached registry read: the registry generation it was read under, and when.
struct Cached<T> {
    generation: u64,
    at: Instant,
    value: T,
}

/// The central hub's registry reads, cached in memory (three queries per exchange before):
/// an entry is used while the registry's generation is the one it was read under and it is
/// younger than [`REGISTRY_TTL`]; grants, revocations, key rotations and member or service
/// changes bump the generation ([`registry::generation`]).
#[derive(Default)]
struct RegistryCache {
    keys: CacheMap<String, Arc<MemberKeys>>,
    services: CacheMap<(String, String), Option<Arc<registry::Service>>>,
    scopes: CacheMap<RightKey, Option<Arc<Vec<String>>>>,
}

/// One registry cache (bộ đệm): the entries, and the reads in flight, one per key, so that
/// requests missing the same key at once (at start, or when an entry ages past
/// [`REGISTRY_TTL`] under 64 clients) wait for one database read instead of each making it.
struct CacheMap<K, V> {
    entries: Mutex<HashMap<K, Cached<V>>>,
    reading: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K, V> Default for CacheMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            reading: Mutex::new(HashMap::new()),
        }
    }
}

/// A member's active keys, parsed once (`None`: a stored key that does not parse, which no
/// signature verifies under), each with its certificate's validity period (Unix
/// microseconds) when it came from one.
type MemberKeys = Vec<(Option<ed25519_dalek::VerifyingKey>, Option<(i64, i64)>)>;

fn parsed_keys(keys: &[registry::ActiveKey]) -> MemberKeys {
    keys.iter()
        .map(|k| (signing::parse_public_key(&k.public_key), k.valid))
        .collect()
}
/// (client, provider, service).
type RightKey = (String, String, String);

/// Bound on each cache (member codes come from clients; past it the cache starts over).
const CACHE_MAX: usize = 10_000;

/// A registry read through `map`: the cached value while it holds, else `fetch`'s, cached.
/// One read per key at a time: a caller that finds another's read of the same key in flight
/// waits for it and takes its value (or, when that read failed, reads itself). The generation
/// is read before the database: a change committed meanwhile bumps it and the entry is not
/// used again.
async fn cached<K, V, F>(map: &CacheMap<K, V>, key: K, fetch: F) -> Result<V, DbError>
where
    K: std::hash::Hash + Eq + Clone,
    V: Clone,
    F: std::future::Future<Output = Result<V, DbError>>,
{
    if let Some(v) = cache_get(map, &key) {
        return Ok(v);
    }
    let turn = map
        .reading
        .lock()
        .map(|mut r| r.entry(key.clone()).or_default().clone())
        .unwrap_or_default();
    let _leave = LeaveTurn {
        reading: &map.reading,
        key: &key,
        turn: &turn,
    };
    let _turn = turn.lock().await;
    // Filled by the read this caller waited for.
    if let Some(v) = cache_get(map, &key) {
        return Ok(v);
    }
    let generation = registry::generation();
    let v = fetch.await?;
    cache_put(map, key.clone(), generation, v.clone());
    Ok(v)
}

/// On leaving [`cached`] (returned, failed or cancelled): the last caller holding a key's turn
/// removes it from the map, so the map holds only reads in flight.
struct LeaveTurn<'a, K: std::hash::Hash + Eq> {
    reading: &'a Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    key: &'a K,
    turn: &'a Arc<tokio::sync::Mutex<()>>,
}

impl<K: std::hash::Hash + Eq> Drop for LeaveTurn<'_, K> {
    fn drop(&mut self) {
        if let Ok(mut r) = self.reading.lock() {
            // The map's reference and this caller's: nobody else waits.
            if r.get(self.key)
                .is_some_and(|t| Arc::ptr_eq(t, self.turn) && Arc::strong_count(self.turn) == 2)
            {
                r.remove(self.key);
            }
        }
    }
}

fn cache_get<K, V>(map: &CacheMap<K, V>, key: &K) -> Option<V>
where
    K: std::hash::Hash + Eq,
    V: Clone,
{
    let generation = registry::generation();
    let m = map.entries.lock().ok()?;
    m.get(key)
        .filter(|c| c.generation == generation && c.at.elapsed() < REGISTRY_TTL)
        .map(|c| c.value.clone())
}

fn cache_put<K, V>(map: &CacheMap<K, V>, key: K, generation: u64, value: V)
where
    K: std::hash::Hash + Eq,
{
    if let Ok(mut m) = map.entries.lock() {
        if m.len() >= CACHE_MAX {
            m.clear();
        }
        m.insert(
            key,
            Cached {
                generation,
                at: Instant::now(),
                value,
            },
        );
    }
}

/// Most nonces held in memory; past it the earliest-expiring are dropped and misses are
/// checked in the database until those would have expired.
const NONCES_MAX: usize = 1_000_000;

/// The replay window (nonces seen) in memory: (member, nonce) → expiry, and the same keys by
/// expiry second for purging. Loaded from `exchange_nonces` when the hub starts (so a
/// restart does not reopen the window); each new nonce is written to `exchange_nonces` in
/// the transaction of the exchange's log entry (the record for restarts and other nodes).
struct NonceWindow {
    /// Most nonces held ([`NONCES_MAX`]).
    max: usize,
    seen: HashMap<(String, String), i64>,
    by_expiry: std::collections::BTreeMap<i64, Vec<(String, String)>>,
    /// Latest expiry (µs) among nonces dropped for room: until then a miss is not proof.
    dropped_until: i64,
}

/// What the memory knows about a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NonceSeen {
    Fresh,
    Replayed,
    /// Not in memory, but memory is incomplete (see [`NonceWindow::dropped_until`]).
    AskDatabase,
}

impl NonceWindow {
    fn new(max: usize) -> Self {
        Self {
            max,
            seen: HashMap::new(),
            by_expiry: std::collections::BTreeMap::new(),
            dropped_until: 0,
        }
    }

    fn purge(&mut self, now: i64) {
        let now_s = now / 1_000_000;
        while let Some(entry) = self.by_expiry.first_entry() {
            if *entry.key() >= now_s {
                break;
            }
            for k in entry.remove() {
                if self.seen.get(&k).is_some_and(|e| *e < now) {
                    self.seen.remove(&k);
                }
            }
        }
    }

    /// Record (member, nonce) unless seen; what was known.
    fn take(&mut self, member: &str, nonce: &str, expires: i64, now: i64) -> NonceSeen {
        let key = (member.to_string(), nonce.to_string());
        if self.seen.get(&key).is_some_and(|e| *e >= now) {
            return NonceSeen::Replayed;
        }
        if self.dropped_until >= now {
            return NonceSeen::AskDatabase;
        }
        self.insert(key, expires, now);
        NonceSeen::Fresh
    }

    fn insert(&mut self, key: (String, String), expires: i64, now: i64) {
        if self.seen.len() >= self.max {
            self.purge(now);
        }
        while self.seen.len() >= self.max {
            let Some((second, keys)) = self.by_expiry.pop_first() else {
                break;
            };
            for k in keys {
                if let Some(e) = self.seen.remove(&k) {
                    self.dropped_until = self.dropped_until.max(e);
                }
            }
            self.dropped_until = self
                .dropped_until
                .max((second + 1).saturating_mul(1_000_000));
        }
        self.by_expiry
            .entry(expires / 1_000_000)
            .or_default()
            .push(key.clone());
        self.seen.insert(key, expires);
    }
}

/// Members' own rates: member → (burst, per second).
type MemberRates = HashMap<String, (f64, f64)>;

/// Per-member token buckets (giới hạn tần suất), each at its member's own rate or the hub's
/// default.
#[derive(Default)]
struct MemberLimiter {
    /// member → (tokens, last refill).
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    /// Members' own rates (burst, per second) and when they were read; `None`: read them
    /// before the next request.
    rates: Mutex<Option<(Instant, MemberRates)>>,
}

impl MemberLimiter {
    fn take(&self, member: &str, burst: f64, per_second: f64) -> bool {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() > 100_000 {
            buckets.clear(); // members are registered; this only bounds made-up codes
        }
        let entry = buckets.entry(member.to_string()).or_insert((burst, now));
        let refill = now.duration_since(entry.1).as_secs_f64() * per_second;
        entry.0 = (entry.0 + refill).min(burst);
        entry.1 = now;
        if entry.0 >= 1.0 {
            entry.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The hub's signing key: derived from the platform's master key (`<data-dir>/master.key`),
/// so it is stable across restarts and not in the database.
pub fn hub_key() -> SigningKey {
    SigningKey::from_bytes(&tinhso_identity::keys::mac(
        "tinhso.exchange.hub-signing-key",
        b"v1",
    ))
}

struct Refusal {
    status: StatusCode,
    outcome: &'static str,
    vi: &'static str,
    en: &'static str,
}

const fn refusal(
    status: StatusCode,
    outcome: &'static str,
    vi: &'static str,
    en: &'static str,
) -> Refusal {
    Refusal {
        status,
        outcome,
        vi,
        en,
    }
}

const UNSIGNED: Refusal = refusal(
    StatusCode::UNAUTHORIZED,
    "unsigned",
    "Yêu cầu thiếu chữ ký hoặc tiêu đề xác thực của thành viên",
    "The request lacks the member's signature or authentication headers",
);
const UNKNOWN_MEMBER: Refusal = refusal(
    StatusCode::UNAUTHORIZED,
    "unknown_member",
    "Thành viên không tồn tại, bị thu hồi hoặc không có khóa hiệu lực",
    "Unknown or revoked member, or no valid key",
);
const BAD_SIGNATURE: Refusal = refusal(
    StatusCode::UNAUTHORIZED,
    "bad_signature",
    "Chữ ký không hợp lệ",
    "The signature does not verify",
);
const CERTIFICATE_EXPIRED: Refusal = refusal(
    StatusCode::UNAUTHORIZED,
    "certificate_expired",
    "Chứng thư số của thành viên đã hết hạn; quản trị trục cần đăng ký chứng thư hoặc khóa mới",
    "The member's certificate has expired; the hub's administrators must register a new certificate or key",
);
const CERTIFICATE_NOT_YET_VALID: Refusal = refusal(
    StatusCode::UNAUTHORIZED,
    "certificate_not_yet_valid",
    "Chứng thư số của thành viên chưa đến thời hạn hiệu lực",
    "The member's certificate is not valid yet",
);
const EXPIRED: Refusal = refusal(
    StatusCode::UNAUTHORIZED,
    "expired",
    "Thời điểm ký nằm ngoài khoảng cho phép so với đồng hồ của trục (mặc định ±5 phút, cấu hình exchange.clock_skew_secs)",
    "The timestamp is outside the accepted window around the hub's clock (±5 minutes unless exchange.clock_skew_secs says otherwise)",
);
const REPLAYED: Refusal = refusal(
    StatusCode::UNAUTHORIZED,
    "replayed",
    "Yêu cầu đã được gửi trước đó (nonce trùng)",
    "The request was already sent (nonce reused)",
);
const UNKNOWN_SERVICE: Refusal = refusal(
    StatusCode::NOT_FOUND,
    "unknown_service",
    "Không có dịch vụ này trên trục",
    "No such service on the hub",
);
const FORBIDDEN: Refusal = refusal(
    StatusCode::FORBIDDEN,
    "forbidden",
    "Thành viên chưa được cấp quyền dùng dịch vụ này",
    "The member has no right to use this service",
);
const TOO_LARGE: Refusal = refusal(
    StatusCode::PAYLOAD_TOO_LARGE,
    "too_large",
    "Nội dung yêu cầu quá lớn",
    "The request body is too large",
);
const TIMEOUT: Refusal = refusal(
    StatusCode::GATEWAY_TIMEOUT,
    "timeout",
    "Hệ thống cung cấp dịch vụ không trả lời kịp",
    "The provider did not answer in time",
);
const PROVIDER_ERROR: Refusal = refusal(
    StatusCode::BAD_GATEWAY,
    "provider_error",
    "Không kết nối được hệ thống cung cấp dịch vụ",
    "The provider could not be reached",
);
const RATE_LIMITED: Refusal = refusal(
    StatusCode::TOO_MANY_REQUESTS,
    "rate_limited",
    "Thành viên gửi quá nhiều yêu cầu, vui lòng thử lại sau",
    "Too many requests from this member; try again later",
);
const REGISTRY_STALE: Refusal = refusal(
    StatusCode::SERVICE_UNAVAILABLE,
    "registry_stale",
    "Nút thành viên chưa có bản danh bạ hợp lệ của trục, hoặc bản đang giữ đã cũ quá thời hạn cho phép (registry_max_age_secs); mọi cuộc gọi trực tiếp bị từ chối cho tới khi tải được bản mới từ trục",
    "The member's node holds no valid registry snapshot from the hub, or the one it holds is older than allowed (registry_max_age_secs); direct calls are refused until a fresh one is fetched from the hub",
);
const CIRCUIT_OPEN: Refusal = refusal(
    StatusCode::SERVICE_UNAVAILABLE,
    "circuit_open",
    "Dịch vụ tạm ngừng do lỗi liên tiếp, vui lòng thử lại sau",
    "The service is paused after repeated failures; try again later",
);

/// Why a member's request was not authenticated.
enum AuthError {
    /// Refused; `true` when the signature verified (the member's code may label metrics).
    Refused(&'static Refusal, bool),
    Internal(String),
}

/// The request as the hub saw it, for the log and the answer's signature.
struct Seen {
    exchange_id: String,
    client: String,
    provider: String,
    service: String,
    method: String,
    path: String,
    request_sha256: String,
    client_signature: String,
    started: Instant,
    /// The client's signature verified (its code may label metrics).
    client_verified: bool,
    /// The service exists (its names may label metrics).
    service_known: bool,
    /// Bodies to keep encrypted (the service's classification allows it): the client's
    /// timestamp and nonce, and the request body.
    keep: Option<(i64, String, axum::body::Bytes)>,
    /// The request's nonce, new: recorded with the log entry.
    nonce: Option<log::NonceRecord>,
    /// The nonce was written before forwarding with an in-flight row, which the log entry
    /// closes.
    inflight: bool,
}

impl Seen {
    /// A request as it arrives: the exchange id is always the hub's own (unique,
    /// time-ordered), it is in the signed answer and the log; the member as claimed.
    fn new(
        headers: &HeaderMap,
        method: &Method,
        path_and_query: &str,
        provider: String,
        service: String,
    ) -> Self {
        Self {
            exchange_id: uuid::Uuid::now_v7().to_string(),
            client: header_str(headers, signing::H_MEMBER)
                .unwrap_or_default()
                .to_string(),
            provider,
            service,
            method: method.as_str().to_string(),
            path: path_and_query.to_string(),
            request_sha256: String::new(),
            client_signature: header_str(headers, signing::H_SIGNATURE)
                .unwrap_or_default()
                .to_string(),
            started: Instant::now(),
            client_verified: false,
            service_known: false,
            keep: None,
            nonce: None,
            inflight: false,
        }
    }

    /// The in-flight row of this request, whose hash is `request_sha256`.
    fn in_flight(&self, request_sha256: &str) -> log::InFlight {
        log::InFlight {
            exchange_id: self.exchange_id.clone(),
            client: self.client.clone(),
            provider: self.provider.clone(),
            service: self.service.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            request_sha256: request_sha256.to_string(),
            client_signature: self.client_signature.clone(),
        }
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl Hub {
    pub fn new(db: Db, cfg: HubConfig) -> Self {
        Self::with_source(
            db,
            cfg,
            hub_key(),
            Source::Database,
            signing::H_HUB_SIGNATURE,
        )
    }

    /// A member's gateway for direct calls (cổng trực tiếp của thành viên): the same checks,
    /// decided from the hub's snapshot held by `node`, for the services `node`'s member
    /// provides; answers signed with the member's key; `db` is the node's own (log, nonces).
    pub fn gateway(db: Db, cfg: HubConfig, node: Arc<crate::direct::Node>) -> Self {
        let key = node.key().clone();
        Self::with_source(
            db,
            cfg,
            key,
            Source::Snapshot(node),
            signing::H_PROVIDER_SIGNATURE,
        )
    }

    fn with_source(
        db: Db,
        cfg: HubConfig,
        key: SigningKey,
        source: Source,
        signature_header: &'static str,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let stages = Arc::new(crate::stages::Stages::default());
        let appender = log::Appender::with_stages(db.clone(), stages.clone());
        Self {
            db,
            key,
            source,
            signature_header,
            http,
            breakers: Mutex::default(),
            nonces: tokio::sync::OnceCell::new(),
            limiter: MemberLimiter::default(),
            metrics: crate::metrics::HubMetrics::default(),
            stages,
            log: appender,
            cache: RegistryCache::default(),
            events: tokio::sync::OnceCell::new(),
            sweep_stop: Mutex::new(None),
            cfg,
        }
    }

    /// Start logging the exchanges a crash cut off ([`log::close_interrupted_every`]): those
    /// in flight for longer than [`HubConfig::interrupted_after`], at once, that long after,
    /// and every [`HubConfig::inflight_sweep`], until the hub is dropped. Once per hub (later calls do
    /// nothing); called when the hub is served ([`crate::web::member_routes`],
    /// [`crate::direct::gateway_routes`]) and when it loads its nonce window; does nothing
    /// outside a tokio runtime.
    pub fn start_sweeping(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(mut stop) = self.sweep_stop.lock() else {
            return;
        };
        if stop.is_some() {
            return;
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        *stop = Some(tx);
        rt.spawn(log::close_interrupted_every(
            self.db.clone(),
            self.key.clone(),
            self.cfg.interrupted_after,
            self.cfg.inflight_sweep,
            async move {
                // Never sent: resolves when the hub (the sender) is dropped.
                let _ = rx.await;
            },
        ));
    }

    /// Forget the cached per-member rates: the next request reads them again (called by the
    /// API after a change, so it applies without a restart).
    pub fn rates_changed(&self) {
        if let Ok(mut r) = self.limiter.rates.lock() {
            *r = None;
        }
    }

    /// The rate `member` is held to: its own, else the default.
    async fn rate_of(&self, member: &str) -> (f64, f64) {
        let default = (self.cfg.rate_burst, self.cfg.rate_per_second);
        let fresh = self.limiter.rates.lock().ok().and_then(|r| {
            r.as_ref()
                .filter(|(at, _)| at.elapsed() < self.cfg.rate_refresh)
                .map(|(_, m)| m.get(member).copied())
        });
        if let Some(own) = fresh {
            return own.unwrap_or(default);
        }
        match self.rate_limits().await {
            Ok(list) => {
                let map: MemberRates = list
                    .into_iter()
                    .map(|l| (l.member, (l.burst as f64, l.per_second)))
                    .collect();
                let own = map.get(member).copied();
                if let Ok(mut r) = self.limiter.rates.lock() {
                    *r = Some((Instant::now(), map));
                }
                own.unwrap_or(default)
            }
            Err(e) => {
                tracing::warn!(error = %e, "member rate limits could not be read; the last known apply");
                self.limiter
                    .rates
                    .lock()
                    .ok()
                    .and_then(|r| r.as_ref().and_then(|(_, m)| m.get(member).copied()))
                    .unwrap_or(default)
            }
        }
    }

    /// Members' own rates, from the registry.
    async fn rate_limits(&self) -> Result<Vec<registry::RateLimit>, DbError> {
        match &self.source {
            Source::Database => registry::list_rate_limits(&self.db).await,
            // Without a usable snapshot nothing is decided (the keys are refused first).
            Source::Snapshot(node) => Ok(node
                .current()
                .map(|h| h.snapshot.rate_limits.clone())
                .unwrap_or_default()),
        }
    }

    /// The public keys a request from `member` may be signed with (none unless active).
    async fn keys_of(&self, member: &str) -> Result<Arc<MemberKeys>, Unavailable> {
        match &self.source {
            Source::Database => Ok(cached(&self.cache.keys, member.to_string(), async {
                Ok(Arc::new(parsed_keys(
                    &registry::active_keys(&self.db, member).await?,
                )))
            })
            .await?),
            Source::Snapshot(node) => {
                let held = node.current().map_err(|_| Unavailable::Stale)?;
                Ok(Arc::new(parsed_keys(&held.active_keys(member))))
            }
        }
    }

    /// The service, when it exists (a gateway knows only its own member's services).
    async fn service_of(
        &self,
        provider: &str,
        code: &str,
    ) -> Result<Option<Arc<registry::Service>>, Unavailable> {
        match &self.source {
            Source::Database => {
                let key = (provider.to_string(), code.to_string());
                Ok(cached(&self.cache.services, key, async {
                    Ok(registry::get_service(&self.db, provider, code)
                        .await?
                        .map(Arc::new))
                })
                .await?)
            }
            Source::Snapshot(node) => {
                let held = node.current().map_err(|_| Unavailable::Stale)?;
                Ok((provider == node.member())
                    .then(|| held.service(provider, code))
                    .flatten()
                    .map(Arc::new))
            }
        }
    }

    /// The scope of `client`'s right on the service (see [`registry::right_scope`]).
    async fn scope_of(
        &self,
        client: &str,
        provider: &str,
        code: &str,
    ) -> Result<Option<Arc<Vec<String>>>, Unavailable> {
        match &self.source {
            Source::Database => {
                let key = (client.to_string(), provider.to_string(), code.to_string());
                Ok(cached(&self.cache.scopes, key, async {
                    Ok(registry::right_scope(&self.db, client, provider, code)
                        .await?
                        .map(Arc::new))
                })
                .await?)
            }
            Source::Snapshot(node) => {
                let held = node.current().map_err(|_| Unavailable::Stale)?;
                Ok(held.right_scope(client, provider, code).map(Arc::new))
            }
        }
    }

    /// The answer when the registry could not decide.
    async fn unavailable(&self, seen: &Seen, e: Unavailable) -> Response {
        match e {
            Unavailable::Stale => self.refuse(seen, &REGISTRY_STALE).await,
            Unavailable::Db(e) => internal(e),
        }
    }

    /// Take one of `member`'s tokens; `false` when its bucket is empty.
    async fn allow_rate(&self, member: &str) -> bool {
        let (burst, per_second) = self.rate_of(member).await;
        self.limiter.take(member, burst, per_second)
    }

    /// The hub's metrics in the text exposition format (no `# EOF`).
    /// With the webhook deliveries (`tinhso_exchange_webhook_deliveries_total`).
    pub fn render_metrics(&self) -> String {
        format!(
            "{}{}{}",
            self.metrics.render(),
            self.stages.render_prometheus(),
            webhooks::metrics().render()
        )
    }

    /// Time per stage of the exchanges and of the log writer since the start (or the last
    /// [`crate::stages::Stages::reset`]).
    pub fn stages(&self) -> &crate::stages::Stages {
        &self.stages
    }

    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    /// The hub's public key (standard base64), for verifying its answers.
    pub fn public_key(&self) -> String {
        signing::public_key_b64(&self.key)
    }

    fn breaker_open(&self, key: &str) -> bool {
        let Ok(mut b) = self.breakers.lock() else {
            return false;
        };
        let Some(br) = b.get_mut(key) else {
            return false;
        };
        match br.open_until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                // Half-open: let this one through; one more failure re-opens it.
                br.open_until = None;
                br.failures = self.cfg.breaker_threshold.saturating_sub(1);
                false
            }
            None => false,
        }
    }

    fn breaker_result(&self, key: &str, ok: bool) {
        let Ok(mut b) = self.breakers.lock() else {
            return;
        };
        let br = b.entry(key.to_string()).or_default();
        if ok {
            br.failures = 0;
            br.open_until = None;
        } else {
            br.failures += 1;
            if br.failures >= self.cfg.breaker_threshold {
                br.open_until = Some(Instant::now() + self.cfg.breaker_cooldown);
                tracing::warn!(
                    service = key,
                    failures = br.failures,
                    "circuit breaker open"
                );
            }
        }
    }

    /// Sign, log and build the answer.
    async fn answer(
        &self,
        seen: &Seen,
        status: StatusCode,
        outcome: &str,
        content_type: Option<HeaderValue>,
        body: Vec<u8>,
    ) -> Response {
        let started = Instant::now();
        let response_sha256 = signing::sha256_hex(&body);
        let hub_signature = signing::sign(
            &self.key,
            &signing::response_text(
                &seen.exchange_id,
                status.as_u16(),
                &seen.request_sha256,
                &response_sha256,
            ),
        );
        let entry = NewEntry {
            exchange_id: seen.exchange_id.clone(),
            client: seen.client.clone(),
            provider: seen.provider.clone(),
            service: seen.service.clone(),
            method: seen.method.clone(),
            path: seen.path.clone(),
            status: status.as_u16(),
            outcome: outcome.to_string(),
            latency_us: i64::try_from(seen.started.elapsed().as_micros()).unwrap_or(i64::MAX),
            request_sha256: seen.request_sha256.clone(),
            response_sha256: response_sha256.clone(),
            client_signature: seen.client_signature.clone(),
            hub_signature: hub_signature.clone(),
            kept: seen.keep.as_ref().and_then(|(ts, nonce, request)| {
                let (request, response) =
                    crate::bodies::seal_pair(&seen.exchange_id, request, &body)?;
                Some(crate::bodies::Sealed {
                    client_timestamp: *ts,
                    client_nonce: nonce.clone(),
                    request,
                    response,
                })
            }),
        };
        self.stages.since(Stage::Sign, started);
        let started = Instant::now();
        let logged = if seen.inflight {
            self.log.append_closing(entry).await
        } else {
            self.log.append_with_nonce(entry, seen.nonce.clone()).await
        };
        self.stages.since(Stage::LogWait, started);
        if let Err(e) = logged {
            tracing::error!(error = %e, exchange_id = %seen.exchange_id, "message log append failed");
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "log_failed",
                "Không ghi được nhật ký trao đổi; yêu cầu không được trả lời",
                "The message log could not be written; no answer is given",
            );
        }
        let (provider, service) = if seen.service_known {
            (seen.provider.clone(), seen.service.clone())
        } else {
            ("-".to_string(), "-".to_string())
        };
        let client = if seen.client_verified {
            seen.client.clone()
        } else {
            "-".to_string()
        };
        self.metrics
            .requests
            .get_or_create(&crate::metrics::ExchangeLabels {
                provider: provider.clone(),
                service: service.clone(),
                client: client.clone(),
                outcome: outcome.to_string(),
            })
            .inc();
        let elapsed = seen.started.elapsed().as_secs_f64();
        self.metrics
            .duration
            .get_or_create(&crate::metrics::ServiceLabels { provider, service })
            .observe(elapsed);
        self.metrics
            .client_duration
            .get_or_create(&crate::metrics::ClientLabels { client })
            .observe(elapsed);
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        if let Some(ct) = content_type {
            h.insert(header::CONTENT_TYPE, ct);
        }
        for (name, value) in [
            (self.signature_header, hub_signature),
            (signing::H_EXCHANGE_ID, seen.exchange_id.clone()),
            (signing::H_REQUEST_SHA256, seen.request_sha256.clone()),
            (signing::H_RESPONSE_SHA256, response_sha256),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        self.stages.since(Stage::Total, seen.started);
        resp
    }

    async fn refuse(&self, seen: &Seen, r: &Refusal) -> Response {
        let body = problem_body(r.status, r.outcome, r.vi, r.en);
        self.answer(
            seen,
            r.status,
            r.outcome,
            Some(HeaderValue::from_static("application/problem+json")),
            body,
        )
        .await
    }

    /// 403 `lgsp_forbidden` for a call outside the operations the member was granted, naming
    /// the operation (`GET /citizens/{id}`, or the method and path when the service's
    /// document declares no such operation).
    async fn refuse_operation(&self, seen: &Seen, operation: &str) -> Response {
        let r = &FORBIDDEN;
        let mut body = serde_json::json!({
            "type": "/errors/lgsp_forbidden",
            "title": r.en,
            "status": r.status.as_u16(),
            "code": "lgsp_forbidden",
            "title_vi": r.vi,
            "title_en": r.en,
            "operation": operation,
        });
        body["detail_vi"] =
            format!("Thành viên chưa được cấp quyền thực hiện thao tác {operation}").into();
        body["detail_en"] = format!("The member has no right to the operation {operation}").into();
        body["detail"] = body["detail_en"].clone();
        self.answer(
            seen,
            r.status,
            r.outcome,
            Some(HeaderValue::from_static("application/problem+json")),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// The nonce window, loaded from the database on first use.
    async fn nonce_window(&self) -> Result<&Mutex<NonceWindow>, DbError> {
        self.nonces
            .get_or_try_init(|| async {
                let now = now_micros();
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT member_code, nonce, expires_at FROM exchange_nonces \
                     WHERE expires_at >= $1 ORDER BY expires_at DESC LIMIT $2",
                )
                .bind(now)
                .bind(i64::try_from(NONCES_MAX).unwrap_or(i64::MAX))
                .fetch_all(self.db.pool())
                .await?;
                let mut w = NonceWindow::new(NONCES_MAX);
                if rows.len() >= NONCES_MAX {
                    // Those not loaded expire no later than the last one loaded.
                    w.dropped_until = rows.last().map_or(0, |r| r.2);
                }
                for (member, nonce, expires) in rows {
                    w.insert((member, nonce), expires, now);
                }
                self.start_sweeping();
                Ok(Mutex::new(w))
            })
            .await
    }

    /// Take a nonce: `Ok(Some(record))` when new (`Some`: the record goes into the database with
    /// the log entry; `None`: written already, [`HubConfig::nonces_before_forwarding`]),
    /// `Ok(None)` when seen before (a replay). Decided in memory; the database is asked only
    /// when memory had to drop nonces for room, or when nonces are written before forwarding.
    async fn take_nonce(
        &self,
        member: &str,
        nonce: &str,
        ts: i64,
        flight: impl FnOnce() -> log::InFlight,
    ) -> Result<Option<Option<log::NonceRecord>>, DbError> {
        let now = now_micros();
        let skew = i64::try_from(self.cfg.clock_skew.as_micros()).unwrap_or(i64::MAX);
        let expires = ts.saturating_mul(1_000_000).max(now).saturating_add(skew);
        let window = self.nonce_window().await?;
        let seen = {
            let mut w = window
                .lock()
                .map_err(|_| DbError::Invalid("nonce window poisoned".into()))?;
            w.purge(now);
            w.take(member, nonce, expires, now)
        };
        let before_forwarding = self
            .cfg
            .nonces_before_forwarding
            .unwrap_or(self.db.backend() == tinhso_store::Backend::Postgres);
        if before_forwarding && !matches!(seen, NonceSeen::Replayed) {
            // Shared database: the unique key decides, before the provider is called; the log
            // entry then finds the nonce there (and does not take it for a replay). The
            // in-flight row goes in the same commit, so a crash before the log entry leaves a
            // trace that is logged as `interrupted`. The log writer batches concurrent
            // exchanges' nonces into one transaction (one commit for many, not one each).
            let record = (member.to_string(), nonce.to_string(), expires);
            if !self.log.take_nonce(record, flight(), now).await? {
                return Ok(None);
            }
            let mut w = window
                .lock()
                .map_err(|_| DbError::Invalid("nonce window poisoned".into()))?;
            w.insert((member.to_string(), nonce.to_string()), expires, now);
            return Ok(Some(None));
        }
        match seen {
            NonceSeen::Fresh => Ok(Some(Some((member.to_string(), nonce.to_string(), expires)))),
            NonceSeen::Replayed => Ok(None),
            NonceSeen::AskDatabase => {
                let known: Option<i64> = sqlx::query_scalar(
                    "SELECT expires_at FROM exchange_nonces WHERE member_code = $1 AND nonce = $2",
                )
                .bind(member)
                .bind(nonce)
                .fetch_optional(self.db.pool())
                .await?;
                if known.is_some_and(|e| e >= now) {
                    return Ok(None);
                }
                let mut w = window
                    .lock()
                    .map_err(|_| DbError::Invalid("nonce window poisoned".into()))?;
                let key = (member.to_string(), nonce.to_string());
                if w.seen.get(&key).is_some_and(|e| *e >= now) {
                    return Ok(None);
                }
                w.insert(key, expires, now);
                Ok(Some(Some((member.to_string(), nonce.to_string(), expires))))
            }
        }
    }

    /// The verifier of every member request (exchanges and subscriptions): the headers are
    /// there, the member is active with a valid key, the ed25519 signature covers the request
    /// text, the timestamp is within the clock window, the member is within its rate, and the
    /// nonce was not seen before. Returns the request's hash (of the text the client signs, or
    /// should have signed) and the member's code.
    async fn authenticate(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        seen: &Seen,
    ) -> (
        String,
        Result<(String, Option<log::NonceRecord>), AuthError>,
    ) {
        let started = Instant::now();
        let client = header_str(headers, signing::H_MEMBER)
            .unwrap_or_default()
            .to_string();
        let client_signature = header_str(headers, signing::H_SIGNATURE).unwrap_or_default();
        let ts_raw = header_str(headers, signing::H_TIMESTAMP);
        let nonce = header_str(headers, signing::H_NONCE).unwrap_or_default();
        let ts: i64 = ts_raw.and_then(|t| t.parse().ok()).unwrap_or(i64::MIN);
        let body_sha256 = signing::sha256_hex(body);
        let text = signing::request_text(method, path_and_query, ts, nonce, &body_sha256);
        let request_sha256 = signing::sha256_hex(text.as_bytes());
        let refused = |r: &'static Refusal, verified: bool| Err(AuthError::Refused(r, verified));
        if ts_raw.is_none()
            || client.is_empty()
            || client_signature.is_empty()
            || !signing::nonce_ok(nonce)
        {
            return (request_sha256, refused(&UNSIGNED, false));
        }
        let keys = match self.keys_of(&client).await {
            Ok(k) => k,
            Err(Unavailable::Stale) => return (request_sha256, refused(&REGISTRY_STALE, false)),
            Err(Unavailable::Db(e)) => {
                return (request_sha256, Err(AuthError::Internal(e.to_string())))
            }
        };
        if keys.is_empty() {
            return (request_sha256, refused(&UNKNOWN_MEMBER, false));
        }
        // The key the signature verifies under; a key from a certificate counts only inside
        // the certificate's validity period.
        let Some((_, valid)) = keys.iter().find(|(k, _)| {
            k.as_ref()
                .is_some_and(|k| signing::verify_with(k, &text, client_signature))
        }) else {
            return (request_sha256, refused(&BAD_SIGNATURE, false));
        };
        if let Some((from, to)) = *valid {
            let now = now_micros();
            if now < from || now > to {
                let r = if now > to {
                    &CERTIFICATE_EXPIRED
                } else {
                    &CERTIFICATE_NOT_YET_VALID
                };
                tracing::warn!(member = %client, outcome = r.outcome, "request signed with a key whose certificate is outside its validity period");
                return (request_sha256, refused(r, false));
            }
        }
        let now_s = now_micros() / 1_000_000;
        let skew = i64::try_from(self.cfg.clock_skew.as_secs()).unwrap_or(300);
        if ts == i64::MIN || (now_s - ts).abs() > skew {
            return (request_sha256, refused(&EXPIRED, false));
        }
        if !self.allow_rate(&client).await {
            return (request_sha256, refused(&RATE_LIMITED, true));
        }
        self.stages.since(Stage::Verify, started);
        let started = Instant::now();
        let taken = self
            .take_nonce(&client, nonce, ts, || seen.in_flight(&request_sha256))
            .await;
        self.stages.since(Stage::Nonce, started);
        match taken {
            Ok(Some(record)) => (request_sha256, Ok((client, record))),
            Ok(None) => (request_sha256, refused(&REPLAYED, true)),
            Err(e) => (request_sha256, Err(AuthError::Internal(e.to_string()))),
        }
    }

    /// The answer to a request that did not authenticate.
    async fn refuse_auth(&self, seen: &mut Seen, e: AuthError) -> Response {
        match e {
            AuthError::Refused(r, verified) => {
                seen.client_verified = verified;
                let mut resp = self.refuse(seen, r).await;
                if std::ptr::eq(r, &RATE_LIMITED) {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                }
                resp
            }
            AuthError::Internal(e) => internal(e),
        }
    }

    /// A member's webhook subscriptions, with its signed request (the same verifier as
    /// exchanges; logged in the message log as service `-/_subscriptions`):
    /// `POST /lgsp/v1/_subscriptions` (JSON `{topic_prefix, url}`: 201 with the secret, shown
    /// once; 422 with field errors; 403 `lgsp_topic_forbidden` without a topic right),
    /// `GET /lgsp/v1/_subscriptions` (the member's own), `DELETE
    /// /lgsp/v1/_subscriptions/{id}` (204; 404 if not the member's).
    pub async fn subscriptions(
        &self,
        method: Method,
        path_and_query: String,
        id: Option<String>,
        headers: HeaderMap,
        body: Body,
    ) -> Response {
        let mut seen = Seen::new(
            &headers,
            &method,
            &path_and_query,
            "-".into(),
            "_subscriptions".into(),
        );
        let (member, body) = match self
            .member_request(
                &mut seen,
                &method,
                &path_and_query,
                &headers,
                body,
                64 * 1024,
            )
            .await
        {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        let ctx = tinhso_store::audit::Ctx {
            actor: format!("member:{member}"),
            request_id: seen.exchange_id.clone(),
        };
        let result: Result<(StatusCode, Vec<u8>), AppError> = match (&method, id) {
            (&Method::POST, None) => {
                match serde_json::from_slice::<webhooks::NewSubscription>(&body) {
                    Ok(new) => webhooks::create_subscription(&self.db, &ctx, &member, &new)
                        .await
                        .map(|c| (StatusCode::CREATED, to_json(&c))),
                    Err(e) => Err(AppError::field(
                        "body",
                        tinhso_kernel::Invalid::new(
                            "json",
                            format!("Nội dung phải là JSON {{\"topic_prefix\", \"url\"}}: {e}"),
                            format!("The body must be JSON {{\"topic_prefix\", \"url\"}}: {e}"),
                        ),
                    )),
                }
            }
            (&Method::GET, None) => webhooks::list_subscriptions(&self.db, Some(&member))
                .await
                .map(|l| (StatusCode::OK, to_json(&l)))
                .map_err(AppError::from),
            (&Method::DELETE, Some(id)) => {
                webhooks::delete_subscription(&self.db, &ctx, &member, &id)
                    .await
                    .map(|()| (StatusCode::NO_CONTENT, Vec::new()))
            }
            _ => Err(AppError::new(tinhso_kernel::ErrorCode::MethodNotAllowed)),
        };
        self.answer_result(&seen, result).await
    }

    /// A member's request (exchanges, subscriptions, pulls): its body read (at most `limit`
    /// and `max_body`, else 413) and its signature checked (else 401); the member and the
    /// body, or the refusal, already logged.
    async fn member_request(
        &self,
        seen: &mut Seen,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Body,
        limit: usize,
    ) -> Result<(String, axum::body::Bytes), Response> {
        let started = Instant::now();
        let body = axum::body::to_bytes(body, self.cfg.max_body.min(limit)).await;
        self.stages.since(Stage::ReadBody, started);
        let Ok(body) = body else {
            seen.request_sha256 = signing::sha256_hex(b"");
            return Err(self.refuse(seen, &TOO_LARGE).await);
        };
        let member = self
            .authenticated(seen, method.as_str(), path_and_query, headers, &body)
            .await?;
        Ok((member, body))
    }

    /// [`Hub::authenticate`] into `seen` (the request's hash, its new nonce, the client
    /// verified): the member, or the refusal, already logged.
    async fn authenticated(
        &self,
        seen: &mut Seen,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<String, Response> {
        let (request_sha256, auth) = self
            .authenticate(method, path_and_query, headers, body, seen)
            .await;
        seen.request_sha256 = request_sha256;
        match auth {
            Ok((member, nonce)) => {
                seen.inflight = nonce.is_none();
                seen.nonce = nonce;
                seen.client_verified = true;
                Ok(member)
            }
            Err(e) => Err(self.refuse_auth(seen, e).await),
        }
    }

    /// The answer to a member's request handled by the platform itself (subscriptions,
    /// pulls): the JSON on success, else the problem, a 403 as `lgsp_topic_forbidden`.
    async fn answer_result(
        &self,
        seen: &Seen,
        result: Result<(StatusCode, Vec<u8>), AppError>,
    ) -> Response {
        match result {
            Ok((status, bytes)) => {
                let ct = (!bytes.is_empty()).then(|| HeaderValue::from_static("application/json"));
                self.answer(seen, status, "ok", ct, bytes).await
            }
            Err(e) => {
                if e.code == tinhso_kernel::ErrorCode::Internal {
                    tracing::error!(error = %e, service = %seen.service, "exchange hub: internal error");
                }
                let mut problem =
                    serde_json::to_value(tinhso_http::error::Problem::from_error(&e, None))
                        .unwrap_or_default();
                let outcome = if e.code == tinhso_kernel::ErrorCode::Forbidden {
                    problem["code"] = "lgsp_topic_forbidden".into();
                    problem["type"] = "/errors/lgsp_topic_forbidden".into();
                    "topic_forbidden".to_string()
                } else {
                    e.code.as_str().to_string()
                };
                let status =
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                self.answer(
                    seen,
                    status,
                    &outcome,
                    Some(HeaderValue::from_static("application/problem+json")),
                    problem.to_string().into_bytes(),
                )
                .await
            }
        }
    }

    /// The registry snapshot for members' nodes (bản chụp danh bạ), `GET /lgsp/v1/registry`
    /// with the member's signed request (the same verifier as exchanges; logged in the message
    /// log as service `-/_registry`): the JSON [`crate::direct::Snapshot`], signed with the
    /// hub's key in [`signing::H_REGISTRY_SIGNATURE`]. A member's gateway has none (404).
    pub async fn registry_snapshot(&self, path_and_query: String, headers: HeaderMap) -> Response {
        let mut seen = Seen::new(
            &headers,
            &Method::GET,
            &path_and_query,
            "-".into(),
            "_registry".into(),
        );
        if let Err(refused) = self
            .authenticated(&mut seen, "GET", &path_and_query, &headers, b"")
            .await
        {
            return refused;
        }
        if !matches!(self.source, Source::Database) {
            return self.refuse(&seen, &UNKNOWN_SERVICE).await;
        }
        let (body, signature) = match crate::direct::publish(&self.db, &self.key).await {
            Ok(p) => p,
            Err(e) => return internal(e),
        };
        let mut resp = self
            .answer(
                &seen,
                StatusCode::OK,
                "ok",
                Some(HeaderValue::from_static("application/json")),
                body,
            )
            .await;
        if resp.status() == StatusCode::OK {
            if let Ok(v) = HeaderValue::from_str(&signature) {
                resp.headers_mut().insert(signing::H_REGISTRY_SIGNATURE, v);
            }
        }
        resp
    }

    /// Handle one exchange.
    #[allow(clippy::too_many_arguments)]
    pub async fn exchange(
        &self,
        method: Method,
        path_and_query: String,
        provider: String,
        service: String,
        rest: String,
        headers: HeaderMap,
        body: Body,
    ) -> Response {
        let mut seen = Seen::new(&headers, &method, &path_and_query, provider, service);
        // The HTTP request id (the client's, when it sent one) is logged beside the hub's
        // exchange id for correlation with the access log.
        if let Some(rid) = header_str(&headers, "x-request-id") {
            tracing::debug!(exchange_id = %seen.exchange_id, request_id = rid, "exchange");
        }
        let client = seen.client.clone();
        // 1. The body, within the limit; 2. who is calling.
        let body = match self
            .member_request(
                &mut seen,
                &method,
                &path_and_query,
                &headers,
                body,
                self.cfg.max_body,
            )
            .await
        {
            Ok((_, body)) => body,
            Err(refused) => return refused,
        };
        // 3. The service and the right to call it.
        let started = Instant::now();
        let svc = match self.service_of(&seen.provider, &seen.service).await {
            Ok(Some(s)) if s.active => s,
            Ok(_) => return self.refuse(&seen, &UNKNOWN_SERVICE).await,
            Err(e) => return self.unavailable(&seen, e).await,
        };
        seen.service_known = true;
        match self.scope_of(&client, &svc.provider, &svc.code).await {
            Ok(Some(ops)) if ops.is_empty() => {}
            Ok(Some(ops)) => {
                // A right limited to operations: the request must fall under one of them.
                let path = rest.split('?').next().unwrap_or_default();
                // HEAD is GET without the body: it falls under the GET operation unless
                // the document declares a HEAD one.
                let op =
                    registry::match_operation(&svc.openapi, method.as_str(), path).or_else(|| {
                        (method == Method::HEAD)
                            .then(|| registry::match_operation(&svc.openapi, "GET", path))
                            .flatten()
                    });
                if !op.as_ref().is_some_and(|o| ops.contains(o)) {
                    let named = op.unwrap_or_else(|| format!("{} /{}", method.as_str(), path));
                    return self.refuse_operation(&seen, &named).await;
                }
            }
            Ok(None) => return self.refuse(&seen, &FORBIDDEN).await,
            Err(e) => return self.unavailable(&seen, e).await,
        }
        self.stages.since(Stage::Right, started);
        // Allowed: keep the bodies (encrypted) when the classification permits.
        if crate::bodies::kept_for(&svc.classification) && path_and_query.len() <= 2048 {
            let ts = header_str(&headers, signing::H_TIMESTAMP).and_then(|t| t.parse::<i64>().ok());
            let nonce = header_str(&headers, signing::H_NONCE).map(str::to_string);
            if let (Some(ts), Some(nonce)) = (ts, nonce) {
                seen.keep = Some((ts, nonce, body.clone()));
            }
        }
        // 4. Forward, behind the breaker.
        let breaker_key = format!("{}/{}", svc.provider, svc.code);
        if self.breaker_open(&breaker_key) {
            return self.refuse(&seen, &CIRCUIT_OPEN).await;
        }
        let mut url = format!("{}/{}", svc.endpoint, rest.trim_start_matches('/'));
        if let Some((_, q)) = path_and_query.split_once('?') {
            url.push('?');
            url.push_str(q);
        }
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header(signing::H_CLIENT, &client)
            .header(signing::H_EXCHANGE_ID, &seen.exchange_id)
            .header("x-request-id", &seen.exchange_id);
        if let Some(ct) = headers.get(header::CONTENT_TYPE) {
            req = req.header(header::CONTENT_TYPE, ct.clone());
        }
        if let Some(a) = headers.get(header::ACCEPT) {
            req = req.header(header::ACCEPT, a.clone());
        }
        let started = Instant::now();
        let result = req.body(body).send().await;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                self.breaker_result(&breaker_key, false);
                tracing::warn!(service = %breaker_key, error = %e, "provider call failed");
                let r = if e.is_timeout() {
                    &TIMEOUT
                } else {
                    &PROVIDER_ERROR
                };
                return self.refuse(&seen, r).await;
            }
        };
        let status =
            StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
        let limit = self.cfg.max_body.saturating_mul(4);
        let mut bytes = Vec::new();
        let mut resp = resp;
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if bytes.len() + c.len() > limit {
                        self.breaker_result(&breaker_key, false);
                        return self.refuse(&seen, &PROVIDER_ERROR).await;
                    }
                    bytes.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => {
                    self.breaker_result(&breaker_key, false);
                    let r = if e.is_timeout() {
                        &TIMEOUT
                    } else {
                        &PROVIDER_ERROR
                    };
                    return self.refuse(&seen, r).await;
                }
            }
        }
        self.stages.since(Stage::Forward, started);
        self.breaker_result(&breaker_key, !status.is_server_error());
        self.answer(&seen, status, "ok", content_type, bytes).await
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn problem_body(status: StatusCode, code: &str, vi: &str, en: &str) -> Vec<u8> {
    serde_json::json!({
        "type": format!("/errors/lgsp_{code}"),
        "title": en,
        "status": status.as_u16(),
        "code": format!("lgsp_{code}"),
        "title_vi": vi,
        "title_en": en,
    })
    .to_string()
    .into_bytes()
}

fn problem(status: StatusCode, code: &str, vi: &str, en: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        problem_body(status, code, vi, en),
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "exchange hub: database error");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Lỗi nội bộ của trục",
        "Internal error of the hub",
    )
}

/// The path and query as the client sent them (what it signed).
fn path_and_query(uri: &axum::http::Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string())
}

/// `GET|HEAD|POST|PUT|PATCH|DELETE /lgsp/v1/{provider}/{service}/{*path}`.
pub async fn handle_with_path(
    Extension(hub): Extension<Arc<Hub>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    Path((provider, service, rest)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let pq = path_and_query(&uri);
    hub.exchange(method, pq, provider, service, rest, headers, body)
        .await
}

/// `GET|HEAD|POST|PUT|PATCH|DELETE /lgsp/v1/{provider}/{service}`.
pub async fn handle(
    Extension(hub): Extension<Arc<Hub>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    Path((provider, service)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let pq = path_and_query(&uri);
    hub.exchange(method, pq, provider, service, String::new(), headers, body)
        .await
}

/// `GET /lgsp/v1/hub-key`: the key the hub signs its answers with.
pub async fn hub_key_handler(Extension(hub): Extension<Arc<Hub>>) -> Response {
    axum::Json(serde_json::json!({
        "algorithm": "ed25519",
        "public_key": hub.public_key(),
        "signed_text": "TINHSO-LGSP-1-RESPONSE\\n<x-lgsp-exchange-id>\\n<status>\\n<x-lgsp-request-sha256>\\n<x-lgsp-response-sha256>",
    }))
    .into_response()
}

/// `GET /lgsp/v1/registry`: the signed registry snapshot for members' nodes.
pub async fn registry_handler(
    Extension(hub): Extension<Arc<Hub>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let pq = path_and_query(&uri);
    hub.registry_snapshot(pq, headers).await
}

/// `GET|POST /lgsp/v1/_subscriptions`: a member's webhook subscriptions.
pub async fn subscriptions_handler(
    Extension(hub): Extension<Arc<Hub>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let pq = path_and_query(&uri);
    hub.subscriptions(method, pq, None, headers, body).await
}

/// `DELETE /lgsp/v1/_subscriptions/{id}`.
pub async fn subscription_handler(
    Extension(hub): Extension<Arc<Hub>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let pq = path_and_query(&uri);
    hub.subscriptions(method, pq, Some(id), headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    /// Callers missing the same key at once make one read and all get its value; a failed read
    /// is not shared (the next caller reads itself); nothing stays in the reads-in-flight map.
    #[tokio::test]
    async fn callers_missing_one_key_at_once_share_one_read() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let map: CacheMap<String, u32> = CacheMap::default();
        let reads = AtomicUsize::new(0);
        let read = |value: u32, fail: bool| {
            let reads = &reads;
            async move {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                if fail {
                    Err(DbError::Invalid("down".into()))
                } else {
                    Ok(value)
                }
            }
        };
        let got = futures_util::future::join_all(
            (0..16u32).map(|i| cached(&map, "k".to_string(), read(i, false))),
        )
        .await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let first = *got[0].as_ref().unwrap();
        assert!(got.iter().all(|v| v.as_ref().ok() == Some(&first)));
        assert!(map.reading.lock().unwrap().is_empty());
        // Another key: the first read fails, the one waiting reads again and succeeds.
        let got = futures_util::future::join_all([
            cached(&map, "j".to_string(), read(1, true)),
            cached(&map, "j".to_string(), read(2, false)),
        ])
        .await;
        assert!(got[0].is_err());
        assert_eq!(got[1].as_ref().ok(), Some(&2));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
        assert!(map.reading.lock().unwrap().is_empty());
        // A cached value is served without a read.
        assert_eq!(
            cached(&map, "j".to_string(), read(9, false)).await.ok(),
            Some(2)
        );
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    /// Each step: member, nonce, expiry and now (seconds), what the window must answer.
    fn steps(w: &mut NonceWindow, list: &[(&str, &str, i64, i64, NonceSeen)]) {
        for &(member, nonce, expires, now, want) in list {
            let got = w.take(member, nonce, expires * S, now * S);
            assert_eq!(got, want, "{member}/{nonce} at {now}");
        }
    }

    #[test]
    fn the_nonce_window_refuses_replays_forgets_expired_and_stays_bounded() {
        use NonceSeen::{AskDatabase, Fresh, Replayed};
        let mut w = NonceWindow::new(3);
        let now = 1_000;
        steps(
            &mut w,
            &[
                ("a", "n1", now + 300, now, Fresh),
                ("a", "n1", now + 300, now, Replayed),
                ("b", "n1", now + 300, now, Fresh),
            ],
        );
        // Expired nonces are forgotten (their requests are refused by the clock anyway).
        let later = now + 301;
        w.purge(later * S);
        assert!(w.seen.is_empty() && w.by_expiry.is_empty());
        // Full: the earliest-expiring nonces are dropped, and until they would have expired a
        // nonce not in memory is not taken as new: the database decides.
        steps(
            &mut w,
            &[
                ("a", "m0", later + 10, later, Fresh),
                ("a", "m1", later + 20, later, Fresh),
                ("a", "m2", later + 30, later, Fresh),
                ("a", "m3", later + 40, later, Fresh),
            ],
        );
        assert_eq!(w.seen.len(), 3);
        assert!(!w.seen.contains_key(&("a".to_string(), "m0".to_string())));
        let after = later + 12;
        steps(
            &mut w,
            &[
                ("a", "m0", later + 40, later, AskDatabase),
                ("a", "m1", later + 40, later, Replayed),
                ("a", "x", later + 40, later, AskDatabase),
                // Once the dropped ones would have expired, memory is complete again.
                ("a", "x", after + 300, after, Fresh),
            ],
        );
    }
}
