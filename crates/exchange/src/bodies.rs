//! Bodies kept encrypted at rest (nội dung trao đổi lưu mã hóa).
//!
//! The rule, by the service's data classification:
//! - `public`, `internal`: the request and response bodies are kept, each sealed with
//!   XChaCha20-Poly1305 (a fresh random 24-byte nonce per body; the exchange id and which body
//!   it is are the associated data, so a body cannot be moved to another row) under a key
//!   derived from the master key ([`body_key`]), like the hub's signing key — the master key
//!   is not in the database, so a copy of the database does not reveal the bodies;
//! - `restricted`: nothing is kept but the hashes in the message log.
//!
//! Refusals before the service is known (bad signature, unknown service …) keep no body. The
//! body row is written in the same transaction as its log entry ([`crate::log::append_many`]).
//! Administrators read a logged exchange's bodies through the API (`exchange.body_read` on
//! the audit trail); [`verify`] checks that every stored body still hashes to the logged hash
//! (the request's through the signed text, which holds the body's SHA-256).
//!
//! **Key rotation** (xoay khóa): the body key has a version (its key id). Version 1 is the
//! original key (its sealed bodies are plain base64); a body sealed under version `n ≥ 2` is
//! written `k<n>:<base64>`, so every body names the key that opens it and old keys stay
//! readable by their id. [`rotate`] (`tinhso exchange rotate-body-key`) records a new version
//! (audited) and [`reseal`] re-encrypts every body sealed under an older one (audited with the
//! count); new bodies are sealed under the newest version each server has read
//! ([`refresh_current`], at start and every minute in `serve`). Each version's key is derived
//! from the master key and the version, so rotating retires a body key that leaked on its own
//! (after the re-seal nothing opens with it); a leaked master key is a matter for the master
//! key's own replacement.

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::Serialize;
use sqlx::Row;
use std::sync::atomic::{AtomicI64, Ordering};
use tinhso_kernel::AppError;
use tinhso_store::audit::Ctx;
use tinhso_store::{Db, DbError};

/// Whether bodies of a service with this classification are kept.
pub fn kept_for(classification: &str) -> bool {
    matches!(classification, "public" | "internal")
}

/// The key of body-key version `version`: derived from the master key
/// (`<data-dir>/master.key`) and the version, once per version in this process
/// ([`DERIVED_KEYS`]) instead of twice per exchange with kept bodies.
fn body_key(version: i64) -> [u8; 32] {
    if let Ok(keys) = DERIVED_KEYS.read() {
        if let Some((_, key)) = keys.iter().find(|(v, _)| *v == version) {
            return *key;
        }
    }
    let key =
        tinhso_identity::keys::mac("tinhso.exchange.body-key", format!("v{version}").as_bytes());
    if let Ok(mut keys) = DERIVED_KEYS.write() {
        if keys.len() < MAX_DERIVED_KEYS && !keys.iter().any(|(v, _)| *v == version) {
            keys.push((version, key));
        }
    }
    key
}

/// Body keys derived so far, by version (khóa nội dung đã dẫn xuất). The master key does not
/// change once read (`tinhso_identity::keys`), so neither does a version's key.
static DERIVED_KEYS: std::sync::RwLock<Vec<(i64, [u8; 32])>> = std::sync::RwLock::new(Vec::new());

/// Versions [`DERIVED_KEYS`] holds at most (a stored body naming a made-up version is opened
/// with a key derived for it and not kept).
const MAX_DERIVED_KEYS: usize = 64;

/// The version new bodies are sealed under in this process (read from the database by
/// [`refresh_current`]).
static CURRENT: AtomicI64 = AtomicI64::new(1);

/// The body-key version this process seals new bodies under.
pub fn current_version() -> i64 {
    CURRENT.load(Ordering::Acquire)
}

/// The newest body-key version recorded (1 when none was rotated).
pub async fn newest_version(db: &Db) -> Result<i64, DbError> {
    let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM exchange_body_keys")
        .fetch_one(db.pool())
        .await?;
    Ok(v.unwrap_or(1).max(1))
}

/// Seal new bodies under the newest version recorded (a rotation made by another process —
/// the `tinhso exchange rotate-body-key` command, another node — is picked up here).
pub async fn refresh_current(db: &Db) -> Result<i64, DbError> {
    let v = newest_version(db).await?;
    CURRENT.fetch_max(v, Ordering::AcqRel);
    Ok(current_version())
}

/// [`refresh_current`] every `every` until `stop` resolves.
pub async fn refresh_every(
    db: Db,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        if let Err(e) = refresh_current(&db).await {
            tracing::warn!(error = %e, "body-key version not read; sealing under the one held");
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// The key version a sealed body names (1 for plain base64).
pub fn version_of(sealed: &str) -> i64 {
    split_sealed(sealed).0
}

fn split_sealed(sealed: &str) -> (i64, &str) {
    if let Some(rest) = sealed.strip_prefix('k') {
        if let Some((v, b64)) = rest.split_once(':') {
            if let Ok(v) = v.parse::<i64>() {
                return (v, b64);
            }
        }
    }
    (1, sealed)
}

fn aad(exchange_id: &str, which: &str) -> Vec<u8> {
    format!("TINHSO-LGSP-1-BODY\n{exchange_id}\n{which}").into_bytes()
}

/// Seal one body (`which`: `request` or `response`) under the current key version: base64 of
/// nonce ‖ ciphertext ‖ tag, after `k<version>:` from version 2 on.
pub fn seal(exchange_id: &str, which: &str, body: &[u8]) -> Option<String> {
    seal_with(current_version(), exchange_id, which, body)
}

/// [`seal`] under key version `version`.
pub fn seal_with(version: i64, exchange_id: &str, which: &str, body: &[u8]) -> Option<String> {
    seal_under(&cipher(version), version, exchange_id, which, body)
}

/// Both bodies of one exchange (niêm phong cặp nội dung) under key version `version`: the
/// key looked up and the cipher set up once for the two. `None` when either fails.
pub fn seal_pair_with(
    version: i64,
    exchange_id: &str,
    request: &[u8],
    response: &[u8],
) -> Option<(String, String)> {
    let cipher = cipher(version);
    let request = seal_under(&cipher, version, exchange_id, "request", request)?;
    let response = seal_under(&cipher, version, exchange_id, "response", response)?;
    Some((request, response))
}

/// [`seal_pair_with`] under the current key version (the hub, for every exchange whose
/// bodies are kept).
pub fn seal_pair(exchange_id: &str, request: &[u8], response: &[u8]) -> Option<(String, String)> {
    seal_pair_with(current_version(), exchange_id, request, response)
}

fn cipher(version: i64) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&body_key(version).into())
}

/// Bytes of the random nonce and of the tag around a sealed body.
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// One body sealed in place in a single buffer (nonce ‖ body → nonce ‖ ciphertext ‖ tag, the
/// layout [`open`] reads, the same as before). The nonce comes from the thread's CSPRNG
/// (`rand::thread_rng`: ChaCha seeded, and reseeded, from the operating system) instead of a
/// `getrandom` system call per body; 192 random bits, so nonces do not repeat under a key.
fn seal_under(
    cipher: &XChaCha20Poly1305,
    version: i64,
    exchange_id: &str,
    which: &str,
    body: &[u8],
) -> Option<String> {
    let mut buf = Vec::with_capacity(NONCE_LEN + body.len() + TAG_LEN);
    buf.resize(NONCE_LEN, 0);
    rand::thread_rng().fill_bytes(&mut buf);
    buf.extend_from_slice(body);
    let (nonce, text) = buf.split_at_mut(NONCE_LEN);
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(nonce), &aad(exchange_id, which), text)
        .ok()?;
    buf.extend_from_slice(&tag);
    let mut sealed = if version == 1 {
        String::with_capacity(buf.len().div_ceil(3) * 4)
    } else {
        format!("k{version}:")
    };
    base64::engine::general_purpose::STANDARD.encode_string(&buf, &mut sealed);
    Some(sealed)
}

/// Open a sealed body; `None` when it does not decrypt (altered, moved, or another master key).
pub fn open(exchange_id: &str, which: &str, sealed: &str) -> Option<Vec<u8>> {
    let (version, b64) = split_sealed(sealed);
    if version < 1 {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    if raw.len() < 24 {
        return None;
    }
    let cipher = XChaCha20Poly1305::new(&body_key(version).into());
    cipher
        .decrypt(
            XNonce::from_slice(&raw[..24]),
            Payload {
                msg: &raw[24..],
                aad: &aad(exchange_id, which),
            },
        )
        .ok()
}

/// Bodies of one exchange, sealed, as written beside its log entry.
#[derive(Debug, Clone, Default)]
pub struct Sealed {
    /// The client's `x-lgsp-timestamp` and `x-lgsp-nonce` (to recompute the signed text).
    pub client_timestamp: i64,
    pub client_nonce: String,
    pub request: String,
    pub response: String,
}

/// A logged exchange's bodies, opened.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Bodies {
    pub exchange_id: String,
    /// Standard base64 of the bytes.
    pub request_base64: String,
    pub response_base64: String,
    /// The bytes as text when they are UTF-8.
    pub request_text: Option<String>,
    pub response_text: Option<String>,
}

/// Read (and audit the reading of) a logged exchange's bodies. 404 when none were kept (a
/// `restricted` service, a refusal before the service was known, or no such exchange).
pub async fn read(db: &Db, ctx: &Ctx, exchange_id: &str) -> Result<Bodies, AppError> {
    let row = sqlx::query(
        "SELECT request_body, response_body FROM exchange_bodies WHERE exchange_id = $1",
    )
    .bind(exchange_id)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?
    .ok_or_else(|| {
        AppError::not_found().with_detail(
            format!("Không lưu nội dung của trao đổi {exchange_id}"),
            format!("No bodies are kept for exchange {exchange_id}"),
        )
    })?;
    let req: String = row.try_get(0).map_err(DbError::from)?;
    let resp: String = row.try_get(1).map_err(DbError::from)?;
    let (Some(req), Some(resp)) = (
        open(exchange_id, "request", &req),
        open(exchange_id, "response", &resp),
    ) else {
        return Err(AppError::internal(
            "a stored body does not decrypt: altered, or another master key",
        ));
    };
    let mut tx = db.begin_write().await?;
    tx.audit(&ctx.entry(
        "exchange.body_read",
        "exchange_log",
        exchange_id,
        "",
        serde_json::json!({ "exchange_id": exchange_id }),
    ))
    .await?;
    tx.commit().await?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    Ok(Bodies {
        exchange_id: exchange_id.to_string(),
        request_base64: b64(&req),
        response_base64: b64(&resp),
        request_text: String::from_utf8(req).ok(),
        response_text: String::from_utf8(resp).ok(),
    })
}

/// Check every stored body against its log entry: it must decrypt, the response must hash to
/// `response_sha256`, and the signed text rebuilt with the request body's hash must hash to
/// `request_sha256`. Returns the first failure as (log seq, reason), and how many were checked.
pub async fn verify(db: &Db) -> Result<(i64, Option<(i64, String)>), DbError> {
    let rows = sqlx::query(
        "SELECT l.seq, l.exchange_id, l.method, l.path, l.request_sha256, l.response_sha256, \
         b.client_timestamp, b.client_nonce, b.request_body, b.response_body \
         FROM exchange_bodies b LEFT JOIN exchange_log l ON l.exchange_id = b.exchange_id \
         ORDER BY l.seq",
    )
    .fetch_all(db.pool())
    .await?;
    let mut checked = 0;
    for r in rows {
        let seq: Option<i64> = r.try_get(0)?;
        let Some(seq) = seq else {
            return Ok((checked, Some((0, "a stored body has no log entry".into()))));
        };
        let id: String = r.try_get(1)?;
        let method: String = r.try_get(2)?;
        let path: String = r.try_get(3)?;
        let request_sha256: String = r.try_get(4)?;
        let response_sha256: String = r.try_get(5)?;
        let ts: i64 = r.try_get(6)?;
        let nonce: String = r.try_get(7)?;
        let req: String = r.try_get(8)?;
        let resp: String = r.try_get(9)?;
        let (Some(req), Some(resp)) = (open(&id, "request", &req), open(&id, "response", &resp))
        else {
            return Ok((
                checked,
                Some((seq, "a stored body does not decrypt: it was altered".into())),
            ));
        };
        if crate::signing::sha256_hex(&resp) != response_sha256 {
            return Ok((
                checked,
                Some((
                    seq,
                    "the stored response body does not hash to the logged hash".into(),
                )),
            ));
        }
        let text = crate::signing::request_text(
            &method,
            &path,
            ts,
            &nonce,
            &crate::signing::sha256_hex(&req),
        );
        if crate::signing::sha256_hex(text.as_bytes()) != request_sha256 {
            return Ok((
                checked,
                Some((
                    seq,
                    "the stored request body does not hash to the logged hash".into(),
                )),
            ));
        }
        checked += 1;
    }
    Ok((checked, None))
}

/// A new body-key version (xoay khóa mã hóa nội dung): recorded and audited
/// (`exchange.body_key_rotate`); this process seals under it at once, other servers within
/// a minute ([`refresh_every`]). Returns the new version. Bodies already kept stay readable
/// under their own version until [`reseal`] re-encrypts them.
pub async fn rotate(db: &Db, ctx: &Ctx) -> Result<i64, DbError> {
    let mut tx = db.begin_write().await?;
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM exchange_body_keys")
        .fetch_one(tx.conn())
        .await?;
    let version = newest.unwrap_or(1).max(1) + 1;
    sqlx::query(
        "INSERT INTO exchange_body_keys (version, created_at, created_by) VALUES ($1, $2, $3)",
    )
    .bind(version)
    .bind(tinhso_store::now_micros())
    .bind(&ctx.actor)
    .execute(tx.conn())
    .await?;
    tx.audit(&ctx.entry(
        "exchange.body_key_rotate",
        "exchange_body_key",
        &version.to_string(),
        "",
        serde_json::json!({ "version": version }),
    ))
    .await?;
    tx.commit().await?;
    CURRENT.fetch_max(version, Ordering::AcqRel);
    Ok(version)
}

/// What a re-seal did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Resealed {
    /// The version bodies are now sealed under.
    pub version: i64,
    /// Exchanges whose bodies were re-encrypted.
    pub resealed: u64,
    /// Exchanges whose bodies do not open (altered, or another master key): left as they
    /// are, and reported by `tinhso exchange verify`.
    pub unreadable: Vec<String>,
}

/// Re-encrypt every kept body sealed under a version older than the newest recorded, a
/// batch of `batch` exchanges per transaction (each body with a fresh nonce, the same
/// associated data). Idempotent: run again, it picks up what a lagging server sealed under an
/// older version meanwhile. A row changed under it (purged, re-sealed by another run) is left.
/// Audited with the count (`exchange.bodies_reseal`) when it re-sealed anything.
pub async fn reseal(db: &Db, ctx: &Ctx, batch: i64) -> Result<Resealed, DbError> {
    let version = newest_version(db).await?;
    let mark = format!("k{version}:%");
    let mut out = Resealed {
        version,
        ..Default::default()
    };
    let mut after = String::new();
    loop {
        let rows = sqlx::query(
            "SELECT exchange_id, request_body, response_body FROM exchange_bodies \
             WHERE exchange_id > $1 AND (request_body NOT LIKE $2 OR response_body NOT LIKE $2) \
             ORDER BY exchange_id LIMIT $3",
        )
        .bind(&after)
        .bind(&mark)
        .bind(batch.max(1))
        .fetch_all(db.pool())
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let mut tx = db.begin_write().await?;
        for r in &rows {
            let id: String = r.try_get(0)?;
            let req: String = r.try_get(1)?;
            let resp: String = r.try_get(2)?;
            let opened = open(&id, "request", &req).zip(open(&id, "response", &resp));
            let sealed = opened.and_then(|(q, a)| seal_pair_with(version, &id, &q, &a));
            let Some((new_req, new_resp)) = sealed else {
                out.unreadable.push(id);
                continue;
            };
            out.resealed += sqlx::query(
                "UPDATE exchange_bodies SET request_body = $1, response_body = $2 \
                 WHERE exchange_id = $3 AND request_body = $4 AND response_body = $5",
            )
            .bind(&new_req)
            .bind(&new_resp)
            .bind(&id)
            .bind(&req)
            .bind(&resp)
            .execute(tx.conn())
            .await?
            .rows_affected();
        }
        tx.commit().await?;
    }
    if out.resealed > 0 {
        let mut tx = db.begin_write().await?;
        tx.audit(&ctx.entry(
            "exchange.bodies_reseal",
            "exchange_body_key",
            &version.to_string(),
            "",
            serde_json::json!({ "version": version, "resealed": out.resealed, "unreadable": out.unreadable.len() }),
        ))
        .await?;
        tx.commit().await?;
    }
    Ok(out)
}

/// Kept exchanges per body-key version, oldest version first.
pub async fn count_by_version(db: &Db) -> Result<Vec<(i64, u64)>, DbError> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT request_body FROM exchange_bodies")
        .fetch_all(db.pool())
        .await?;
    let mut by = std::collections::BTreeMap::<i64, u64>::new();
    for r in &rows {
        *by.entry(version_of(r)).or_default() += 1;
    }
    Ok(by.into_iter().collect())
}

/// The retention of kept bodies, by the time they were kept.
pub const BODIES: crate::retention::Purge = crate::retention::Purge {
    delete: "DELETE FROM exchange_bodies WHERE created_at < $1",
    action: "exchange.bodies_purge",
    target_type: "exchange_log",
    target_id: "bodies",
    job: "exchange-bodies-retention",
    what: "exchange bodies",
};

/// Retention (thời hạn lưu): delete the bodies kept longer than `days` before `now` (Unix
/// microseconds). The message log is not touched — its entries keep the bodies' hashes, so the
/// chain and `tinhso exchange verify` still pass; reading a deleted body answers 404. A purge
/// that deletes something is audited (`exchange.bodies_purge`, with the count and the cut-off)
/// in the same transaction. Returns how many exchanges lost their bodies.
pub async fn purge_older_than(db: &Db, ctx: &Ctx, days: u32, now: i64) -> Result<u64, DbError> {
    crate::retention::purge(db, ctx, &BODIES, days, now).await
}

/// The retention job: [`purge_older_than`] at start and then daily, until `stop` resolves.
pub async fn purge_every_day(db: Db, days: u32, stop: impl std::future::Future<Output = ()>) {
    crate::retention::daily(db, &BODIES, days, stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bodies_open_only_in_place() {
        let s = seal("x1", "request", b"{\"so_dinh_danh\":\"020190001234\"}").unwrap();
        assert!(!s.contains("020190001234"));
        assert_eq!(
            open("x1", "request", &s).unwrap(),
            b"{\"so_dinh_danh\":\"020190001234\"}"
        );
        assert!(open("x2", "request", &s).is_none(), "another exchange");
        assert!(open("x1", "response", &s).is_none(), "the other body");
        let t = seal("x1", "request", b"{\"so_dinh_danh\":\"020190001234\"}").unwrap();
        assert_ne!(s, t, "a fresh nonce per body");
        assert!(kept_for("public") && kept_for("internal") && !kept_for("restricted"));
    }

    /// A body sealed the way it was before the in-place seal (`Aead::encrypt`, a fresh
    /// `OsRng` nonce, nonce ‖ ciphertext copied into a new buffer): as stored in databases.
    fn sealed_as_before(version: i64, exchange_id: &str, which: &str, body: &[u8]) -> String {
        let cipher = XChaCha20Poly1305::new(&body_key(version).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: body,
                    aad: &aad(exchange_id, which),
                },
            )
            .unwrap();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        let b64 = base64::engine::general_purpose::STANDARD.encode(out);
        if version == 1 {
            b64
        } else {
            format!("k{version}:{b64}")
        }
    }

    #[test]
    fn the_in_place_seal_writes_the_format_of_before_both_ways() {
        let body =
            b"{\"so_dinh_danh\":\"020190001234\",\"ho_ten\":\"Ho\xc3\xa0ng Th\xe1\xbb\x8b Mai\"}";
        for version in [1, 2, 5] {
            // Stored before: opens with today's `open`, and re-seals as a pair.
            let old_req = sealed_as_before(version, "x9", "request", body);
            let old_resp = sealed_as_before(version, "x9", "response", b"");
            assert_eq!(open("x9", "request", &old_req).unwrap(), body);
            assert_eq!(open("x9", "response", &old_resp).unwrap(), b"");
            // Sealed now: the same layout, opened by the old way of decrypting.
            let (req, resp) = seal_pair_with(version, "x9", body, b"").unwrap();
            assert_eq!(version_of(&req), version);
            assert_eq!(
                (req.len(), resp.len()),
                (old_req.len(), old_resp.len()),
                "same length: nonce, ciphertext, tag, base64 and the version mark"
            );
            for (sealed, which, plain) in [(&req, "request", &body[..]), (&resp, "response", b"")] {
                let b64 = sealed.split_once(':').map_or(sealed.as_str(), |(_, b)| b);
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                let opened = XChaCha20Poly1305::new(&body_key(version).into())
                    .decrypt(
                        XNonce::from_slice(&raw[..24]),
                        Payload {
                            msg: &raw[24..],
                            aad: &aad("x9", which),
                        },
                    )
                    .unwrap();
                assert_eq!(opened, plain);
            }
            assert!(
                open("x9", "response", &req).is_none(),
                "each body in its place"
            );
            assert_ne!(
                seal_pair_with(version, "x9", body, b"").unwrap().0,
                req,
                "a fresh nonce per body"
            );
        }
        // One seal and a pair agree on what they write.
        assert_eq!(
            open("x8", "request", &seal("x8", "request", b"a").unwrap()).unwrap(),
            b"a"
        );
    }

    #[test]
    fn each_body_names_its_key_version() {
        let v1 = seal_with(1, "x1", "request", b"abc").unwrap();
        let v3 = seal_with(3, "x1", "request", b"abc").unwrap();
        // Version 1 has no prefix: its text is base64 alone (which may itself begin with a
        // `k`, one time in 64 — so test for the separator, which base64 never holds).
        assert!(!v1.contains(':') && v3.starts_with("k3:"));
        assert_eq!((version_of(&v1), version_of(&v3)), (1, 3));
        assert_eq!(open("x1", "request", &v1).unwrap(), b"abc");
        assert_eq!(open("x1", "request", &v3).unwrap(), b"abc");
        // Claiming another version does not open it.
        let forged = format!("k2:{}", v3.trim_start_matches("k3:"));
        assert!(open("x1", "request", &forged).is_none());
        assert!(open("x1", "request", &format!("k0:{}", &v1)).is_none());
    }

    #[test]
    fn a_versions_key_is_derived_once_and_stays_the_same() {
        let derived = |v: i64| {
            tinhso_identity::keys::mac("tinhso.exchange.body-key", format!("v{v}").as_bytes())
        };
        for v in [1, 7, 1, 7] {
            assert_eq!(body_key(v), derived(v), "version {v}");
        }
        assert_ne!(body_key(1), body_key(7));
        let held = |v: i64| DERIVED_KEYS.read().unwrap().iter().any(|(k, _)| *k == v);
        assert!(held(1) && held(7));
        // Made-up versions past the bound are derived, not kept.
        for v in 1_000..1_000 + MAX_DERIVED_KEYS as i64 + 10 {
            assert_eq!(body_key(v), derived(v));
        }
        assert_eq!(DERIVED_KEYS.read().unwrap().len(), MAX_DERIVED_KEYS);
        let sealed =
            seal_with(1_000 + MAX_DERIVED_KEYS as i64 + 5, "x2", "response", b"z").unwrap();
        assert_eq!(open("x2", "response", &sealed).unwrap(), b"z");
    }
}
