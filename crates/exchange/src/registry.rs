//! The hub's registry (danh bạ): members and their keys, the services they publish, and access
//! rights client × service, denied unless granted. Every change is written with its audit
//! entry (`exchange.*`) in one transaction; grants and revocations are also outbox events
//! (`exchange.right_granted`, `exchange.right_revoked`).

use serde::Serialize;
use sqlx::Row;
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError};

pub use crate::certificate::KeyCertificate;

/// Bumped after every change to members, keys, services or rights made through this module
/// (the only writer of those tables): the hub's cached reads of the registry
/// ([`crate::Hub`]) compare it with the value they were read under and read again when it
/// moved, so a revoked right or key is refused from the next request on.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The registry's change counter in this process (see [`GENERATION`]).
pub fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// Bumps [`GENERATION`] when the changing function returns (after its commit, on every path).
struct Changed;

impl Drop for Changed {
    fn drop(&mut self) {
        GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Data classifications a service can carry (phân loại dữ liệu).
pub const CLASSIFICATIONS: &[&str] = &["public", "internal", "restricted"];

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MemberKey {
    pub id: String,
    /// ed25519 public key, standard base64 of 32 bytes.
    pub public_key: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The X.509 certificate the key was taken from (chứng thư số), when it was registered
    /// as one: requests signed with the key are refused outside its validity period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<KeyCertificate>,
}

/// A key a request may be signed with (khóa hiệu lực): the key, and the validity period
/// (Unix microseconds) of the certificate it came from, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveKey {
    pub public_key: String,
    pub valid: Option<(i64, i64)>,
}

impl From<&MemberKey> for ActiveKey {
    fn from(k: &MemberKey) -> Self {
        Self {
            public_key: k.public_key.clone(),
            valid: k.certificate.as_ref().map(|c| (c.not_before, c.not_after)),
        }
    }
}

/// How a member is identified (định danh thành viên): a bare ed25519 public key, or an X.509
/// certificate (PEM) holding one — exactly one of the two.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct Credential {
    /// ed25519 public key, standard base64 of 32 bytes.
    #[serde(default)]
    pub public_key: String,
    /// An X.509 certificate in PEM whose subject key is ed25519.
    #[serde(default)]
    pub certificate: String,
}

impl Credential {
    /// A bare key.
    pub fn key(public_key: &str) -> Self {
        Self {
            public_key: public_key.to_string(),
            certificate: String::new(),
        }
    }

    /// The key to store and, for a certificate, what is kept of it; errors on the field
    /// given (`public_key` or `certificate`).
    fn check(&self, errs: &mut FieldErrors) -> Option<(String, Option<KeyCertificate>)> {
        match (self.public_key.trim(), self.certificate.trim()) {
            ("", "") => {
                errs.push(
                    "public_key",
                    Invalid::new(
                        "credential_missing",
                        "Cần khóa công khai ed25519 (base64) hoặc chứng thư số X.509 (PEM)",
                        "Give an ed25519 public key (base64) or an X.509 certificate (PEM)",
                    ),
                );
                None
            }
            (_, "") => errs
                .check("public_key", public_key(&self.public_key))
                .map(|k| (k, None)),
            ("", pem) => errs
                .check("certificate", crate::certificate::parse(pem, now_micros()))
                .map(|p| (p.public_key, Some(p.certificate))),
            _ => {
                errs.push(
                    "certificate",
                    Invalid::new(
                        "credential_both",
                        "Chỉ nhập một trong hai: khóa công khai hoặc chứng thư số (khóa được lấy từ chứng thư)",
                        "Give either the public key or the certificate, not both (the key is taken from the certificate)",
                    ),
                );
                None
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Member {
    /// Agency code in the QCVN 102:2016 structure (`000.00.23.H37`), optionally followed by
    /// `-SYSTEM` for one of its information systems (`000.00.23.H37-MOTCUA`).
    pub code: String,
    pub name: String,
    /// `active` or `revoked`.
    pub status: String,
    pub keys: Vec<MemberKey>,
    pub created_at: i64,
    /// Where the member's node serves its services for direct calls (`https://…`), published
    /// in the registry snapshot; `None`: none registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Service {
    pub provider: String,
    pub code: String,
    pub name: String,
    /// Base URL the hub forwards to (`http(s)://host[:port]/prefix`).
    pub endpoint: String,
    /// `public`, `internal` or `restricted`.
    pub classification: String,
    pub active: bool,
    /// The OpenAPI document as registered.
    pub openapi: serde_json::Value,
}

/// A service to register (or to update: same provider and code).
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct NewService {
    pub provider: String,
    pub code: String,
    pub name: String,
    pub endpoint: String,
    /// The OpenAPI document, as JSON text or a JSON object.
    #[schema(value_type = Object)]
    pub openapi: serde_json::Value,
    pub classification: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Right {
    pub client: String,
    pub provider: String,
    pub service: String,
    pub granted_at: i64,
    pub granted_by: String,
    /// The operations granted (`GET /citizens/{id}`); empty: the whole service.
    pub operations: Vec<String>,
}

/// HTTP methods an operation can name (those of an OpenAPI path item).
const METHODS: &[&str] = &[
    "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
];

/// The operations (thao tác) a service's OpenAPI document declares, in the document's order of
/// paths: (METHOD, path template, `summary` or empty), for the catalogue.
pub fn operations(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |m| {
                let op = item.get(m.to_ascii_lowercase())?;
                let summary = op.get("summary").and_then(|x| x.as_str()).unwrap_or("");
                Some((m.to_string(), path.clone(), summary.to_string()))
            })
        })
        .collect()
}

/// Parse an operation (thao tác) `METHOD /path/{template}` against the service's OpenAPI
/// document: the path must be one of its `paths` and declare that method. Returns
/// `(METHOD, path)`.
pub fn parse_operation(doc: &serde_json::Value, op: &str) -> Result<(String, String), Invalid> {
    let op = op.trim();
    let Some((method, path)) = op.split_once(' ') else {
        return Err(Invalid::new(
            "operation_shape",
            format!("Thao tác \"{op}\" phải có dạng \"PHƯƠNG_THỨC /đường/dẫn\", vd. \"GET /citizens/{{id}}\""),
            format!("The operation \"{op}\" must be \"METHOD /path\", e.g. \"GET /citizens/{{id}}\""),
        ));
    };
    let method = method.trim().to_ascii_uppercase();
    let path = path.trim();
    if !METHODS.contains(&method.as_str()) {
        return Err(Invalid::new(
            "operation_method",
            format!("Phương thức HTTP không hợp lệ trong \"{op}\""),
            format!("Not an HTTP method in \"{op}\""),
        ));
    }
    let declared = doc
        .get("paths")
        .and_then(|p| p.get(path))
        .and_then(|item| item.get(method.to_ascii_lowercase()))
        .is_some();
    if !declared {
        return Err(Invalid::new(
            "operation_unknown",
            format!("Tài liệu OpenAPI của dịch vụ không có thao tác {method} {path}"),
            format!("The service's OpenAPI document has no operation {method} {path}"),
        ));
    }
    Ok((method, path.to_string()))
}

/// The operation of the service's OpenAPI document a request falls under: the path template
/// (`/citizens/{id}`) matching `path` (below the service, without the query) segment by
/// segment, the one with the most literal segments when several match, and declaring
/// `method`. Returns `METHOD /template`, or `None` when no declared operation matches.
pub fn match_operation(doc: &serde_json::Value, method: &str, path: &str) -> Option<String> {
    let method_lc = method.to_ascii_lowercase();
    let path = format!("/{}", path.trim_start_matches('/'));
    let want: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &str)> = None;
    for (template, item) in doc.get("paths")?.as_object()? {
        if item.get(&method_lc).is_none() {
            continue;
        }
        let segs: Vec<&str> = template.split('/').collect();
        if segs.len() != want.len() {
            continue;
        }
        let mut literal = 0;
        let fits = segs.iter().zip(&want).all(|(t, w)| {
            if t.starts_with('{') && t.ends_with('}') {
                !w.is_empty()
            } else {
                literal += 1;
                t == w
            }
        });
        if fits && best.is_none_or(|(l, _)| literal > l) {
            best = Some((literal, template));
        }
    }
    best.map(|(_, t)| format!("{} {t}", method.to_ascii_uppercase()))
}

/// A member code: agency code `ddd.dd.dd.Ldd`, optionally `-SYSTEM` (A–Z, 0–9, 1–16).
pub fn member_code(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    let (agency, system) = match s.split_once('-') {
        Some((a, sys)) => (a, Some(sys)),
        None => (s, None),
    };
    let b = agency.as_bytes();
    let shape = b.len() == 13
        && b.iter().enumerate().all(|(i, c)| match i {
            3 | 6 | 9 => *c == b'.',
            10 => c.is_ascii_uppercase(),
            _ => c.is_ascii_digit(),
        });
    let system_ok = system.is_none_or(|sys| {
        (1..=16).contains(&sys.len())
            && sys
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    });
    if shape && system_ok {
        Ok(s.to_string())
    } else {
        Err(Invalid::new(
            "member_code",
            "Mã thành viên phải là mã định danh cơ quan theo QCVN 102:2016 (vd. 000.00.23.H37), có thể kèm -HETHONG",
            "A member code is an agency code in the QCVN 102:2016 structure (e.g. 000.00.23.H37), optionally followed by -SYSTEM",
        ))
    }
}

fn service_code(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    if (1..=64).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    {
        Ok(s.to_string())
    } else {
        Err(Invalid::new(
            "service_code",
            "Mã dịch vụ gồm 1–64 ký tự a–z, 0–9, - hoặc _",
            "A service code has 1–64 characters a–z, 0–9, - or _",
        ))
    }
}

fn public_key(s: &str) -> Result<String, Invalid> {
    match crate::signing::parse_public_key(s) {
        Some(_) => Ok(s.trim().to_string()),
        None => Err(Invalid::new(
            "public_key",
            "Khóa công khai phải là khóa ed25519 32 byte mã hóa base64",
            "The public key must be a 32-byte ed25519 key in base64",
        )),
    }
}

/// Check an OpenAPI document: JSON (an object, or text holding one) with an `openapi`
/// version string and a `paths` object. Returns the document; the error carries the parser's
/// message.
pub fn check_openapi(doc: &serde_json::Value) -> Result<serde_json::Value, Invalid> {
    let doc = match doc {
        serde_json::Value::String(text) => serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| {
                Invalid::new(
                    "openapi_json",
                    format!("Tài liệu OpenAPI không phải JSON hợp lệ: {e}"),
                    format!("The OpenAPI document is not valid JSON: {e}"),
                )
            })?,
        other => other.clone(),
    };
    let version_ok = doc
        .get("openapi")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.starts_with("3."));
    let paths_ok = doc.get("paths").is_some_and(|p| p.is_object());
    if !doc.is_object() || !version_ok || !paths_ok {
        return Err(Invalid::new(
            "openapi_shape",
            "Tài liệu OpenAPI phải là đối tượng JSON có \"openapi\" (3.x) và \"paths\"",
            "The OpenAPI document must be a JSON object with \"openapi\" (3.x) and \"paths\"",
        ));
    }
    Ok(doc)
}

fn endpoint(s: &str) -> Result<String, Invalid> {
    let s = s.trim().trim_end_matches('/');
    match reqwest::Url::parse(s) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => {
            Ok(s.to_string())
        }
        _ => Err(Invalid::new(
            "endpoint",
            "Địa chỉ dịch vụ phải là URL http(s)://…",
            "The endpoint must be an http(s):// URL",
        )),
    }
}

fn name(s: &str) -> Result<String, Invalid> {
    tinhso_kernel::validate::length(&tinhso_kernel::text::clean(s), 1, 300)
}

async fn keys_of(db: &Db, code: &str) -> Result<Vec<MemberKey>, DbError> {
    let rows = sqlx::query(
        "SELECT id, public_key, created_at, revoked_at, certificate, certificate_sha256, \
         certificate_subject, not_before, not_after FROM exchange_member_keys \
         WHERE member_code = $1 ORDER BY created_at, id",
    )
    .bind(code)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let pem: Option<String> = r.try_get(4)?;
            let certificate = match pem {
                Some(pem) => Some(KeyCertificate {
                    pem,
                    sha256: r.try_get::<Option<String>, _>(5)?.unwrap_or_default(),
                    subject: r.try_get::<Option<String>, _>(6)?.unwrap_or_default(),
                    not_before: r.try_get::<Option<i64>, _>(7)?.unwrap_or(i64::MAX),
                    not_after: r.try_get::<Option<i64>, _>(8)?.unwrap_or(i64::MIN),
                }),
                None => None,
            };
            Ok(MemberKey {
                id: r.try_get(0)?,
                public_key: r.try_get(1)?,
                created_at: r.try_get(2)?,
                revoked_at: r.try_get(3)?,
                certificate,
            })
        })
        .collect()
}

/// Insert a member's key (with what is kept of its certificate) in `tx`.
async fn insert_key(
    tx: &mut tinhso_store::WriteTx,
    id: &str,
    code: &str,
    key: &str,
    cert: Option<&KeyCertificate>,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO exchange_member_keys (id, member_code, public_key, created_at, certificate, \
         certificate_sha256, certificate_subject, not_before, not_after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(code)
    .bind(key)
    .bind(now)
    .bind(cert.map(|c| c.pem.clone()))
    .bind(cert.map(|c| c.sha256.clone()))
    .bind(cert.map(|c| c.subject.clone()))
    .bind(cert.map(|c| c.not_before))
    .bind(cert.map(|c| c.not_after))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The audit summary of a new key: its id and key, and its certificate's fingerprint,
/// subject and validity when it came from one.
fn key_summary(id: &str, key: &str, cert: Option<&KeyCertificate>) -> serde_json::Value {
    let mut v = serde_json::json!({ "key_id": id, "public_key": key });
    if let Some(c) = cert {
        v["certificate_sha256"] = c.sha256.clone().into();
        v["certificate_subject"] = c.subject.clone().into();
        v["not_before"] = c.not_before.into();
        v["not_after"] = c.not_after.into();
    }
    v
}

/// One member with its keys.
pub async fn get_member(db: &Db, code: &str) -> Result<Option<Member>, AppError> {
    let Some(r) = sqlx::query(
        "SELECT code, name, status, created_at, gateway_url FROM exchange_members WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?
    else {
        return Ok(None);
    };
    Ok(Some(Member {
        code: r.try_get(0).map_err(DbError::from)?,
        name: r.try_get(1).map_err(DbError::from)?,
        status: r.try_get(2).map_err(DbError::from)?,
        created_at: r.try_get(3).map_err(DbError::from)?,
        gateway_url: r.try_get(4).map_err(DbError::from)?,
        keys: keys_of(db, code).await?,
    }))
}

/// A gateway address: `http(s)://host[:port][/path]`, no user name or password, no query or
/// fragment, at most 500 characters; stored without a trailing `/`.
pub fn gateway_url(s: &str) -> Result<String, Invalid> {
    let s = s.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or_default();
    let host = rest.split('/').next().unwrap_or_default();
    let ok = !host.is_empty()
        && s.len() <= 500
        && !host.contains('@')
        && !s.contains(['?', '#', ' '])
        && !host.starts_with(':');
    if !ok {
        return Err(Invalid::new(
            "gateway_url",
            "Địa chỉ cổng dạng https://máy-chủ[:cổng][/đường-dẫn], không có tên người dùng, truy vấn hay #, tối đa 500 ký tự",
            "A gateway address is https://host[:port][/path], without a user name, query or #, at most 500 characters",
        ));
    }
    Ok(s.to_string())
}

/// Register (or, with an empty address, remove) the member's gateway address for direct
/// calls. Audited (`exchange.member_gateway`); the next registry snapshot carries it.
pub async fn set_gateway(db: &Db, ctx: &Ctx, code: &str, url: &str) -> Result<(), AppError> {
    let url = if url.trim().is_empty() {
        None
    } else {
        Some(gateway_url(url).map_err(|e| AppError::field("gateway_url", e))?)
    };
    update_member(
        db,
        ctx,
        code,
        "gateway_url",
        url.clone(),
        "exchange.member_gateway",
        serde_json::json!({ "gateway_url": url }),
    )
    .await
}

/// Every member, by code.
pub async fn list_members(db: &Db) -> Result<Vec<Member>, AppError> {
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM exchange_members ORDER BY code")
        .fetch_all(db.pool())
        .await
        .map_err(DbError::from)?;
    let mut out = Vec::with_capacity(codes.len());
    for c in codes {
        if let Some(m) = get_member(db, &c).await? {
            out.push(m);
        }
    }
    Ok(out)
}

/// The public keys a request from `code` may be signed with, with their certificates'
/// validity periods: none unless the member is active.
pub async fn active_keys(db: &Db, code: &str) -> Result<Vec<ActiveKey>, DbError> {
    sqlx::query(
        "SELECT k.public_key, k.not_before, k.not_after FROM exchange_member_keys k \
         JOIN exchange_members m ON m.code = k.member_code \
         WHERE k.member_code = $1 AND k.revoked_at IS NULL AND m.status = 'active'",
    )
    .bind(code)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        let nb: Option<i64> = r.try_get(1)?;
        let na: Option<i64> = r.try_get(2)?;
        Ok(ActiveKey {
            public_key: r.try_get(0)?,
            valid: nb.zip(na),
        })
    })
    .collect()
}

/// Register a member with its first public key.
pub async fn register_member(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    member_name: &str,
    key_b64: &str,
) -> Result<Member, AppError> {
    register_member_with(db, ctx, code, member_name, &Credential::key(key_b64)).await
}

/// Register a member with its first key, given bare or as an X.509 certificate.
pub async fn register_member_with(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    member_name: &str,
    credential: &Credential,
) -> Result<Member, AppError> {
    let _changed = Changed;
    let mut errs = FieldErrors::new();
    let code = errs.check("code", member_code(code));
    let member_name = errs.check("name", name(member_name));
    let key = credential.check(&mut errs);
    errs.into_result()?;
    let (Some(code), Some(member_name), Some((key, cert))) = (code, member_name, key) else {
        return Err(AppError::internal("validation"));
    };
    let now = now_micros();
    let key_id = uuid::Uuid::now_v7().to_string();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO exchange_members (code, name, status, created_at, updated_at) VALUES ($1, $2, 'active', $3, $3)",
    )
    .bind(&code)
    .bind(&member_name)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    insert_key(&mut tx, &key_id, &code, &key, cert.as_ref(), now).await?;
    let mut summary = key_summary(&key_id, &key, cert.as_ref());
    summary["name"] = member_name.clone().into();
    tx.audit(&ctx.entry(
        "exchange.member_register",
        "exchange_member",
        &code,
        &code,
        summary,
    ))
    .await?;
    tx.commit().await?;
    get_member(db, &code).await?.ok_or_else(AppError::not_found)
}

/// Make sure member `code` is registered with `key_b64` among its active keys (idempotent,
/// for set-ups run at every start such as the demo's): registered when missing, the key
/// rotated in when the member holds other keys only, nothing done (nothing audited) when all
/// is already so. A member an administrator revoked stays revoked.
pub async fn ensure_member(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    member_name: &str,
    key_b64: &str,
) -> Result<(), AppError> {
    let Some(m) = get_member(db, code).await? else {
        register_member(db, ctx, code, member_name, key_b64).await?;
        return Ok(());
    };
    let key = public_key(key_b64).map_err(|e| AppError::field("public_key", e))?;
    let held = m
        .keys
        .iter()
        .any(|k| k.revoked_at.is_none() && k.public_key == key);
    if !held {
        rotate_key(db, ctx, code, &key).await?;
    }
    Ok(())
}

pub(crate) async fn require_member(db: &Db, code: &str) -> Result<Member, AppError> {
    get_member(db, code).await?.ok_or_else(|| no_member(code))
}

/// 404 naming the member (thành viên) that is not in the registry.
fn no_member(code: &str) -> AppError {
    AppError::not_found().with_detail(
        format!("Không có thành viên {code}"),
        format!("No member {code}"),
    )
}

/// Rotate a member's key: the new key is added and every older key revoked, in one
/// transaction. Returns the new key.
pub async fn rotate_key(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    key_b64: &str,
) -> Result<MemberKey, AppError> {
    rotate_credential(db, ctx, code, &Credential::key(key_b64)).await
}

/// [`rotate_key`] with the new key given bare or as an X.509 certificate.
pub async fn rotate_credential(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    credential: &Credential,
) -> Result<MemberKey, AppError> {
    let _changed = Changed;
    let mut errs = FieldErrors::new();
    let checked = credential.check(&mut errs);
    errs.into_result()?;
    let Some((key, cert)) = checked else {
        return Err(AppError::internal("validation"));
    };
    require_member(db, code).await?;
    let now = now_micros();
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE exchange_member_keys SET revoked_at = $1 WHERE member_code = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(code)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    insert_key(&mut tx, &id, code, &key, cert.as_ref(), now).await?;
    tx.audit(&ctx.entry(
        "exchange.key_rotate",
        "exchange_member",
        code,
        code,
        key_summary(&id, &key, cert.as_ref()),
    ))
    .await?;
    tx.commit().await?;
    Ok(MemberKey {
        id,
        public_key: key,
        created_at: now,
        revoked_at: None,
        certificate: cert,
    })
}

/// Revoke one key (a lost or compromised key); the member keeps its other keys.
pub async fn revoke_key(db: &Db, ctx: &Ctx, code: &str, key_id: &str) -> Result<(), AppError> {
    let _changed = Changed;
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE exchange_member_keys SET revoked_at = $1 WHERE member_code = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(now_micros())
    .bind(code)
    .bind(key_id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if n == 0 {
        return Err(AppError::not_found());
    }
    tx.audit(&ctx.entry(
        "exchange.key_revoke",
        "exchange_member",
        code,
        code,
        serde_json::json!({ "key_id": key_id }),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Suspend (`active = false`: every request of the member is refused) or reinstate a member.
pub async fn set_member_active(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    active: bool,
) -> Result<(), AppError> {
    let _changed = Changed;
    let status = if active { "active" } else { "revoked" };
    update_member(
        db,
        ctx,
        code,
        "status",
        Some(status.to_string()),
        "exchange.member_status",
        serde_json::json!({ "status": status }),
    )
    .await
}

/// Set one column of member `code` (`column` is a constant of this module) with its audit
/// entry, in one transaction; 404 when there is no such member.
async fn update_member(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    column: &'static str,
    value: Option<String>,
    action: &str,
    summary: serde_json::Value,
) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(&format!(
        "UPDATE exchange_members SET {column} = $1, updated_at = $2 WHERE code = $3"
    ))
    .bind(value)
    .bind(now_micros())
    .bind(code)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if n == 0 {
        return Err(no_member(code));
    }
    tx.audit(&ctx.entry(action, "exchange_member", code, code, summary))
        .await?;
    tx.commit().await?;
    Ok(())
}

fn service_from_row(r: &sqlx::any::AnyRow) -> Result<Service, DbError> {
    let openapi: String = r.try_get(4)?;
    let active: i64 = r.try_get(6)?;
    Ok(Service {
        provider: r.try_get(0)?,
        code: r.try_get(1)?,
        name: r.try_get(2)?,
        endpoint: r.try_get(3)?,
        openapi: serde_json::from_str(&openapi).unwrap_or(serde_json::Value::Null),
        classification: r.try_get(5)?,
        active: active != 0,
    })
}

const SERVICE_COLUMNS: &str = "provider, code, name, endpoint, openapi, classification, active";

pub async fn get_service(db: &Db, provider: &str, code: &str) -> Result<Option<Service>, DbError> {
    sqlx::query(&format!(
        "SELECT {SERVICE_COLUMNS} FROM exchange_services WHERE provider = $1 AND code = $2"
    ))
    .bind(provider)
    .bind(code)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(service_from_row)
    .transpose()
}

/// The catalogue: every service, by provider and code.
pub async fn list_services(db: &Db) -> Result<Vec<Service>, DbError> {
    sqlx::query(&format!(
        "SELECT {SERVICE_COLUMNS} FROM exchange_services ORDER BY provider, code"
    ))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(service_from_row)
    .collect()
}

/// Register a service, or update it (same provider and code). The OpenAPI document is checked
/// first; a malformed one is refused with the parser's message.
pub async fn register_service(db: &Db, ctx: &Ctx, s: &NewService) -> Result<Service, AppError> {
    let _changed = Changed;
    let mut errs = FieldErrors::new();
    let provider = errs.check("provider", member_code(&s.provider));
    let code = errs.check("code", service_code(&s.code));
    let sname = errs.check("name", name(&s.name));
    let ep = errs.check("endpoint", endpoint(&s.endpoint));
    let doc = errs.check("openapi", check_openapi(&s.openapi));
    if !CLASSIFICATIONS.contains(&s.classification.as_str()) {
        errs.push(
            "classification",
            Invalid::new(
                "classification",
                "Phân loại dữ liệu: public, internal hoặc restricted",
                "Data classification: public, internal or restricted",
            ),
        );
    }
    errs.into_result()?;
    let (Some(provider), Some(code), Some(sname), Some(ep), Some(doc)) =
        (provider, code, sname, ep, doc)
    else {
        return Err(AppError::internal("validation"));
    };
    require_member(db, &provider).await?;
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO exchange_services (provider, code, name, endpoint, openapi, classification, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) ON CONFLICT (provider, code) DO UPDATE SET \
         name = excluded.name, endpoint = excluded.endpoint, openapi = excluded.openapi, \
         classification = excluded.classification, active = 1, updated_at = excluded.updated_at",
    )
    .bind(&provider)
    .bind(&code)
    .bind(&sname)
    .bind(&ep)
    .bind(doc.to_string())
    .bind(&s.classification)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "exchange.service_register",
        "exchange_service",
        &format!("{provider}/{code}"),
        &provider,
        serde_json::json!({ "name": sname, "endpoint": ep, "classification": s.classification }),
    ))
    .await?;
    tx.commit().await?;
    get_service(db, &provider, &code)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Withdraw a service from the hub (`active = false`: calls answer 404) or bring it back.
pub async fn set_service_active(
    db: &Db,
    ctx: &Ctx,
    provider: &str,
    code: &str,
    active: bool,
) -> Result<(), AppError> {
    let _changed = Changed;
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE exchange_services SET active = $1, updated_at = $2 WHERE provider = $3 AND code = $4",
    )
    .bind(i64::from(active))
    .bind(now_micros())
    .bind(provider)
    .bind(code)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if n == 0 {
        return Err(AppError::not_found());
    }
    tx.audit(&ctx.entry(
        "exchange.service_status",
        "exchange_service",
        &format!("{provider}/{code}"),
        provider,
        serde_json::json!({ "active": active }),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Does `client` hold a right on the service? (Deny by default: no row, no access.)
pub async fn has_right(
    db: &Db,
    client: &str,
    provider: &str,
    service: &str,
) -> Result<bool, DbError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM exchange_rights WHERE client = $1 AND provider = $2 AND service = $3",
    )
    .bind(client)
    .bind(provider)
    .bind(service)
    .fetch_one(db.pool())
    .await?;
    Ok(n > 0)
}

/// The scope of `client`'s right on the service: `None` without a right, `Some(empty)` for
/// the whole service, else the granted operations (`METHOD /template`).
pub async fn right_scope(
    db: &Db,
    client: &str,
    provider: &str,
    service: &str,
) -> Result<Option<Vec<String>>, DbError> {
    // One query per exchange: no row, no right; one row without a method, the whole service.
    let rows = sqlx::query(
        "SELECT o.method, o.path FROM exchange_rights r LEFT JOIN exchange_right_operations o \
         ON o.client = r.client AND o.provider = r.provider AND o.service = r.service \
         WHERE r.client = $1 AND r.provider = $2 AND r.service = $3",
    )
    .bind(client)
    .bind(provider)
    .bind(service)
    .fetch_all(db.pool())
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut ops = Vec::new();
    for r in &rows {
        let m: Option<String> = r.try_get(0)?;
        let p: Option<String> = r.try_get(1)?;
        if let (Some(m), Some(p)) = (m, p) {
            ops.push(format!("{m} {p}"));
        }
    }
    Ok(Some(ops))
}

async fn operations_of(
    db: &Db,
    client: &str,
    provider: &str,
    service: &str,
) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "SELECT method, path FROM exchange_right_operations \
         WHERE client = $1 AND provider = $2 AND service = $3 ORDER BY path, method",
    )
    .bind(client)
    .bind(provider)
    .bind(service)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let m: String = r.try_get(0)?;
            let p: String = r.try_get(1)?;
            Ok(format!("{m} {p}"))
        })
        .collect()
}

/// Every right, by client.
pub async fn list_rights(db: &Db) -> Result<Vec<Right>, DbError> {
    let mut rights = sqlx::query(
        "SELECT client, provider, service, granted_at, granted_by FROM exchange_rights \
         ORDER BY client, provider, service",
    )
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(Right {
            client: r.try_get(0)?,
            provider: r.try_get(1)?,
            service: r.try_get(2)?,
            granted_at: r.try_get(3)?,
            granted_by: r.try_get(4)?,
            operations: Vec::new(),
        })
    })
    .collect::<Result<Vec<Right>, DbError>>()?;
    for r in &mut rights {
        r.operations = operations_of(db, &r.client, &r.provider, &r.service).await?;
    }
    Ok(rights)
}

/// Grant `client` the right to call the whole service (idempotent).
pub async fn grant(
    db: &Db,
    ctx: &Ctx,
    client: &str,
    provider: &str,
    service: &str,
) -> Result<(), AppError> {
    let _changed = Changed;
    grant_operations(db, ctx, client, provider, service, &[]).await
}

/// Grant `client` the right to call the service, limited to `operations` (`GET
/// /citizens/{id}`, each checked against the service's OpenAPI document); none: the whole
/// service. A new grant replaces the operations of an earlier one; granting exactly what is
/// held changes nothing and is not audited.
pub async fn grant_operations(
    db: &Db,
    ctx: &Ctx,
    client: &str,
    provider: &str,
    service: &str,
    operations: &[String],
) -> Result<(), AppError> {
    let _changed = Changed;
    require_member(db, client).await?;
    let Some(svc) = get_service(db, provider, service).await? else {
        return Err(AppError::not_found().with_detail(
            format!("Không có dịch vụ {provider}/{service}"),
            format!("No service {provider}/{service}"),
        ));
    };
    let mut errs = FieldErrors::new();
    let mut ops = std::collections::BTreeSet::new();
    for (i, op) in operations.iter().enumerate() {
        if let Some(parsed) = errs.check(
            &format!("operations[{i}]"),
            parse_operation(&svc.openapi, op),
        ) {
            ops.insert(parsed);
        }
    }
    errs.into_result()?;
    let wanted: Vec<String> = ops.iter().map(|(m, p)| format!("{m} {p}")).collect();
    if let Some(mut held) = right_scope(db, client, provider, service).await? {
        held.sort();
        let mut w = wanted.clone();
        w.sort();
        if held == w {
            return Ok(()); // already granted as asked: nothing changes, nothing to audit
        }
    }
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO exchange_rights (client, provider, service, granted_at, granted_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (client, provider, service) DO UPDATE SET granted_at = excluded.granted_at, granted_by = excluded.granted_by",
    )
    .bind(client)
    .bind(provider)
    .bind(service)
    .bind(now_micros())
    .bind(&ctx.actor)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    sqlx::query(
        "DELETE FROM exchange_right_operations WHERE client = $1 AND provider = $2 AND service = $3",
    )
    .bind(client)
    .bind(provider)
    .bind(service)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    for (method, path) in &ops {
        sqlx::query(
            "INSERT INTO exchange_right_operations (client, provider, service, method, path) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(client)
        .bind(provider)
        .bind(service)
        .bind(method)
        .bind(path)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    }
    let summary = serde_json::json!({
        "client": client, "provider": provider, "service": service, "operations": wanted,
    });
    tx.audit(&ctx.entry(
        "exchange.right_grant",
        "exchange_service",
        &format!("{provider}/{service}"),
        provider,
        summary.clone(),
    ))
    .await?;
    tx.emit("exchange.right_granted", &summary).await?;
    tx.commit().await?;
    Ok(())
}

/// Revoke a right (idempotent). Requests already in flight finish; the next is refused.
pub async fn revoke(
    db: &Db,
    ctx: &Ctx,
    client: &str,
    provider: &str,
    service: &str,
) -> Result<(), AppError> {
    let _changed = Changed;
    // Malformed codes cannot name a right: say so rather than "nothing to revoke".
    let mut errs = FieldErrors::new();
    errs.check("client", member_code(client));
    errs.check("provider", member_code(provider));
    errs.into_result()?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "DELETE FROM exchange_right_operations WHERE client = $1 AND provider = $2 AND service = $3",
    )
    .bind(client)
    .bind(provider)
    .bind(service)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    let n = sqlx::query(
        "DELETE FROM exchange_rights WHERE client = $1 AND provider = $2 AND service = $3",
    )
    .bind(client)
    .bind(provider)
    .bind(service)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if n == 0 {
        return Ok(());
    }
    let summary = serde_json::json!({ "client": client, "provider": provider, "service": service });
    tx.audit(&ctx.entry(
        "exchange.right_revoke",
        "exchange_service",
        &format!("{provider}/{service}"),
        provider,
        summary.clone(),
    ))
    .await?;
    tx.emit("exchange.right_revoked", &summary).await?;
    tx.commit().await?;
    Ok(())
}

/// A member's own rate (giới hạn tần suất): token-bucket burst and refill per second.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RateLimit {
    pub member: String,
    /// Requests accepted at once (1–100000).
    pub burst: i64,
    /// Requests a second after the burst (more than 0, at most 100000).
    pub per_second: f64,
    pub updated_at: i64,
    pub updated_by: String,
}

/// Every member's own rate (members without one use the hub's default).
pub async fn list_rate_limits(db: &Db) -> Result<Vec<RateLimit>, DbError> {
    sqlx::query(
        "SELECT member_code, burst, per_second, updated_at, updated_by FROM exchange_member_limits \
         ORDER BY member_code",
    )
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(RateLimit {
            member: r.try_get(0)?,
            burst: r.try_get(1)?,
            per_second: r.try_get(2)?,
            updated_at: r.try_get(3)?,
            updated_by: r.try_get(4)?,
        })
    })
    .collect()
}

/// A member's rate from its two parts: both → that rate, neither → the hub's default
/// (`None`), only one → a field error naming the missing one.
pub fn rate_of(
    burst: Option<i64>,
    per_second: Option<f64>,
) -> Result<Option<(i64, f64)>, AppError> {
    match (burst, per_second) {
        (Some(burst), Some(per_second)) => Ok(Some((burst, per_second))),
        (None, None) => Ok(None),
        (burst, _) => {
            let field = if burst.is_none() {
                "burst"
            } else {
                "per_second"
            };
            Err(AppError::field(
                field,
                Invalid::new(
                    "rate_incomplete",
                    "Cần cả burst và per_second (hoặc bỏ cả hai để dùng mức mặc định)",
                    "Give both burst and per_second (or neither for the default)",
                ),
            ))
        }
    }
}

/// Set a member's rate (`Some((burst, per_second))`) or return it to the hub's default
/// (`None`). Audited (`exchange.rate_limit`); the hub applies it without a restart.
pub async fn set_rate_limit(
    db: &Db,
    ctx: &Ctx,
    member: &str,
    rate: Option<(i64, f64)>,
) -> Result<(), AppError> {
    if let Some((burst, per_second)) = rate {
        let mut errs = FieldErrors::new();
        if !(1..=100_000).contains(&burst) {
            errs.push(
                "burst",
                Invalid::new(
                    "burst_range",
                    "Số yêu cầu tức thời phải từ 1 đến 100000",
                    "The burst must be from 1 to 100000 requests",
                ),
            );
        }
        if !(per_second.is_finite() && per_second > 0.0 && per_second <= 100_000.0) {
            errs.push(
                "per_second",
                Invalid::new(
                    "per_second_range",
                    "Số yêu cầu mỗi giây phải lớn hơn 0 và không quá 100000",
                    "Requests per second must be more than 0 and at most 100000",
                ),
            );
        }
        errs.into_result()?;
    }
    require_member(db, member).await?;
    let mut tx = db.begin_write().await?;
    match rate {
        Some((burst, per_second)) => {
            sqlx::query(
                "INSERT INTO exchange_member_limits (member_code, burst, per_second, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member_code) DO UPDATE SET burst = excluded.burst, \
                 per_second = excluded.per_second, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(member)
            .bind(burst)
            .bind(per_second)
            .bind(now_micros())
            .bind(&ctx.actor)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        }
        None => {
            sqlx::query("DELETE FROM exchange_member_limits WHERE member_code = $1")
                .bind(member)
                .execute(tx.conn())
                .await
                .map_err(DbError::from)?;
        }
    }
    tx.audit(&ctx.entry(
        "exchange.rate_limit",
        "exchange_member",
        member,
        member,
        match rate {
            Some((burst, per_second)) => {
                serde_json::json!({ "burst": burst, "per_second": per_second })
            }
            None => serde_json::json!({ "default": true }),
        },
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_codes() {
        assert!(member_code("000.00.23.H37").is_ok());
        assert!(member_code("000.00.23.H37-MOTCUA").is_ok());
        assert!(member_code("000.00.23.h37").is_err());
        assert!(member_code("00.00.23.H37").is_err());
        assert!(member_code("000.00.23.H37-").is_err());
        assert!(member_code("000.00.23.H37-mot").is_err());
    }

    #[test]
    fn operations_match_the_most_specific_template() {
        let doc = serde_json::json!({"openapi": "3.1.0", "paths": {
            "/citizens/{id}": {"get": {}},
            "/citizens/search": {"get": {}, "post": {}},
            "/citizens/{id}/family": {"get": {}},
        }});
        assert_eq!(
            match_operation(&doc, "GET", "citizens/020190001234").as_deref(),
            Some("GET /citizens/{id}")
        );
        assert_eq!(
            match_operation(&doc, "GET", "citizens/search").as_deref(),
            Some("GET /citizens/search"),
            "a literal segment wins over a parameter"
        );
        assert_eq!(
            match_operation(&doc, "post", "/citizens/search").as_deref(),
            Some("POST /citizens/search")
        );
        assert_eq!(
            match_operation(&doc, "POST", "citizens/1"),
            None,
            "method not declared"
        );
        assert_eq!(
            match_operation(&doc, "GET", "citizens/"),
            None,
            "empty parameter"
        );
        assert_eq!(match_operation(&doc, "GET", "citizens/1/family/x"), None);
        assert_eq!(
            parse_operation(&doc, " get /citizens/{id} ").unwrap(),
            ("GET".to_string(), "/citizens/{id}".to_string())
        );
        assert_eq!(
            parse_operation(&doc, "POST /citizens/{id}")
                .unwrap_err()
                .code,
            "operation_unknown"
        );
        assert_eq!(
            parse_operation(&doc, "/citizens/{id}").unwrap_err().code,
            "operation_shape"
        );
        assert_eq!(
            parse_operation(&doc, "FETCH /citizens/{id}")
                .unwrap_err()
                .code,
            "operation_method"
        );
    }

    #[test]
    fn openapi_documents() {
        let ok = serde_json::json!({"openapi": "3.1.0", "info": {}, "paths": {}});
        assert!(check_openapi(&ok).is_ok());
        assert!(check_openapi(&serde_json::Value::String(ok.to_string())).is_ok());
        let e = check_openapi(&serde_json::Value::String("{\"openapi\": ".into())).unwrap_err();
        assert!(e.en.contains("EOF"), "the parser's message: {}", e.en);
        assert!(check_openapi(&serde_json::json!({"openapi": "3.0.3"})).is_err());
        assert!(check_openapi(&serde_json::json!({"swagger": "2.0", "paths": {}})).is_err());
    }
}
