//! Agency signing certificates (chứng thư số của cơ quan) and the PAdES trust list (danh sách
//! tin cậy).
//!
//! An administrator or the agency's leader ([`Permission::DossierApprove`] over the agency,
//! the same power that approves and revokes its results) imports a PKCS#8 PEM private key and
//! the PEM certificate chain a licensed CA issued ([`import`]). The key is sealed under the
//! platform master key like the agency's ed25519 key (`tinhso_identity::keys`); the chain's
//! root joins the trust list. When a result is issued, the newest certificate of the agency
//! valid at that moment signs it ([`active`]); an expired certificate is refused on import and
//! never used to sign. Without a usable certificate, results carry only the platform's ed25519
//! signatures, as before.

use crate::pades::{self, CertInfo, SigningIdentity, SigningKey};
use crate::test_ca::TestCa;
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};
use tinhso_identity::{keys, Permission, Principal};
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use tinhso_refdata::agencies;
use tinhso_store::audit::Ctx;
use tinhso_store::native::{Param, RowRead};
use tinhso_store::{now_micros, Db, DbError, WriteTx};
use x509_cert::Certificate;

/// A stored certificate (without its key).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoredCertificate {
    pub id: String,
    pub agency_code: String,
    pub subject: String,
    pub issuer: String,
    /// Hex.
    pub serial: String,
    /// SHA-256 of the certificate, hex.
    pub fingerprint: String,
    pub not_before: i64,
    pub not_after: i64,
    /// `ecdsa-p256` or `rsa-<bits>`.
    pub key_algorithm: String,
    /// `imported` or `test_ca`.
    pub source: String,
    pub created_at: i64,
}

impl StoredCertificate {
    pub fn expired(&self, now: i64) -> bool {
        self.not_after < now
    }

    pub fn not_yet_valid(&self, now: i64) -> bool {
        self.not_before > now
    }
}

const COLUMNS: &str =
    "id, agency_code, subject, issuer, serial, fingerprint, not_before, not_after, \
    key_algorithm, source, created_at";

fn from_row(r: &dyn RowRead) -> Result<StoredCertificate, DbError> {
    Ok(StoredCertificate {
        id: r.text(0)?,
        agency_code: r.text(1)?,
        subject: r.text(2)?,
        issuer: r.text(3)?,
        serial: r.text(4)?,
        fingerprint: r.text(5)?,
        not_before: r.int(6)?,
        not_after: r.int(7)?,
        key_algorithm: r.text(8)?,
        source: r.text(9)?,
        created_at: r.int(10)?,
    })
}

fn invalid(field: &str, code: &'static str, p: pades::KeyProblem) -> AppError {
    AppError::field(field, Invalid::new(code, p.vi, p.en))
}

fn date(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros + 7 * 3600 * 1_000_000)
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_default()
}

/// Check a key and chain for use by an agency at `now`: the key is supported, a certificate
/// matches it, the chain links up, the certificate allows signing and has not expired.
pub fn check(key_pem: &str, chain_pem: &str, now: i64) -> Result<SigningIdentity, AppError> {
    let mut errors = Vec::new();
    let key = match SigningKey::from_pkcs8_pem(key_pem) {
        Ok(k) => Some(k),
        Err(p) => {
            errors.push(Invalid::new("key_invalid", p.vi, p.en).on("key"));
            None
        }
    };
    let certs = match pades::parse_chain_pem(chain_pem) {
        Ok(c) => Some(c),
        Err(p) => {
            errors.push(Invalid::new("chain_invalid", p.vi, p.en).on("chain"));
            None
        }
    };
    let (Some(key), Some(certs)) = (key, certs) else {
        return Err(AppError::fields(errors));
    };
    let chain =
        pades::order_chain(&key, certs).map_err(|p| invalid("chain", "chain_mismatch", p))?;
    if !chain.last().is_some_and(pades::is_self_signed) {
        return Err(AppError::field(
            "chain",
            Invalid::new(
                "chain_incomplete",
                "Tệp chứng thư phải có đủ chuỗi đến chứng thư gốc của tổ chức cấp (thêm chứng thư trung gian và chứng thư gốc vào tệp PEM)",
                "The certificate file must hold the whole chain up to the CA's root (add the intermediate and root certificates to the PEM file)",
            ),
        ));
    }
    let leaf = chain
        .first()
        .ok_or_else(|| AppError::internal("empty chain"))?;
    let info = pades::cert_info(leaf);
    if info.not_after < now {
        return Err(AppError::field(
            "chain",
            Invalid::new(
                "certificate_expired",
                format!(
                    "Chứng thư số đã hết hạn từ ngày {}; chứng thư hết hạn không được dùng để ký",
                    date(info.not_after)
                ),
                format!(
                    "The certificate expired on {}; expired certificates are not used to sign",
                    date(info.not_after)
                ),
            ),
        ));
    }
    if let Ok(Some((_, ku))) = leaf.tbs_certificate.get::<x509_cert::ext::pkix::KeyUsage>() {
        use x509_cert::ext::pkix::KeyUsages;
        if !ku.0.contains(KeyUsages::DigitalSignature) && !ku.0.contains(KeyUsages::NonRepudiation)
        {
            return Err(AppError::field(
                "chain",
                Invalid::new(
                    "certificate_not_for_signing",
                    "Chứng thư số không cho phép ký số (Key Usage thiếu digitalSignature/nonRepudiation)",
                    "The certificate does not allow signing (Key Usage lacks digitalSignature/nonRepudiation)",
                ),
            ));
        }
    }
    Ok(SigningIdentity { key, chain })
}

/// Store a checked identity for an agency and add its root to the trust list, inside `tx`.
async fn store_in(
    tx: &mut WriteTx,
    agency_code: &str,
    id: &SigningIdentity,
    source: &str,
    by: Option<&str>,
    now: i64,
) -> Result<StoredCertificate, AppError> {
    let leaf = id
        .chain
        .first()
        .ok_or_else(|| AppError::internal("empty chain"))?;
    let info: CertInfo = pades::cert_info(leaf);
    let fingerprint = pades::fingerprint(leaf);
    let sealed = keys::seal_secret(
        &id.key
            .to_pkcs8_der()
            .map_err(|p| AppError::internal(p.en))?,
    )?;
    let cert = StoredCertificate {
        id: uuid::Uuid::now_v7().to_string(),
        agency_code: agency_code.to_string(),
        subject: info.subject,
        issuer: info.issuer,
        serial: info.serial,
        fingerprint,
        not_before: info.not_before,
        not_after: info.not_after,
        key_algorithm: id.key.algorithm(),
        source: source.to_string(),
        created_at: now,
    };
    let inserted = sqlx::query(
        "INSERT INTO agency_certificates (id, agency_code, subject, issuer, serial, fingerprint, not_before, \
         not_after, key_algorithm, chain_pem, sealed_private_key, source, created_at, created_by) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) ON CONFLICT (fingerprint) DO NOTHING",
    )
    .bind(&cert.id)
    .bind(&cert.agency_code)
    .bind(&cert.subject)
    .bind(&cert.issuer)
    .bind(&cert.serial)
    .bind(&cert.fingerprint)
    .bind(cert.not_before)
    .bind(cert.not_after)
    .bind(&cert.key_algorithm)
    .bind(pades::chain_to_pem(&id.chain))
    .bind(&sealed)
    .bind(&cert.source)
    .bind(now)
    .bind(by)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if inserted == 0 {
        return Err(AppError::new(ErrorCode::Conflict).with_detail(
            "Chứng thư số này đã được nạp",
            "This certificate has already been imported",
        ));
    }
    if let Some(root) = id
        .chain
        .last()
        .filter(|c| c.tbs_certificate.issuer == c.tbs_certificate.subject)
    {
        add_anchor_in(tx, root, source, None, now).await?;
    }
    Ok(cert)
}

async fn add_anchor_in(
    tx: &mut WriteTx,
    root: &Certificate,
    source: &str,
    sealed_key: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO pades_trust_anchors (id, subject, fingerprint, cert_pem, source, sealed_private_key, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (fingerprint) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(root.tbs_certificate.subject.to_string())
    .bind(pades::fingerprint(root))
    .bind(pades::chain_to_pem(std::slice::from_ref(root)))
    .bind(source)
    .bind(sealed_key)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    Ok(())
}

/// Import an agency's certificate and key (nạp chứng thư số): the administrator or the
/// agency's approving leader; checked ([`check`]), sealed, audited. Nothing is stored when
/// anything is wrong.
pub async fn import(
    db: &Db,
    ctx: &Ctx,
    by: &Principal,
    agency_code: &str,
    key_pem: &str,
    chain_pem: &str,
) -> Result<StoredCertificate, AppError> {
    let agency = agencies::get(db, agency_code).await?.ok_or_else(|| {
        AppError::field(
            "agency",
            Invalid::new("agency_unknown", "Chọn cơ quan", "Choose the agency"),
        )
    })?;
    let scope = agencies::scope_of(db, &agency).await?;
    tinhso_identity::authorize(Some(by), Permission::DossierApprove, &scope)?;
    let now = now_micros();
    let id = check(key_pem, chain_pem, now)?;
    let mut tx = db.begin_write().await?;
    let cert = store_in(
        &mut tx,
        &agency.code,
        &id,
        "imported",
        Some(&by.user_id),
        now,
    )
    .await?;
    tx.audit(&ctx.entry(
        "signing_certificate.import",
        "agency",
        &agency.code,
        &agency.code,
        serde_json::json!({"certificate": cert.id, "subject": cert.subject, "issuer": cert.issuer,
            "serial": cert.serial, "not_after": cert.not_after, "fingerprint": cert.fingerprint}),
    ))
    .await?;
    tx.commit().await?;
    Ok(cert)
}

/// Every stored certificate, by agency then newest first.
pub async fn list(db: &Db) -> Result<Vec<StoredCertificate>, AppError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM agency_certificates ORDER BY agency_code, not_after DESC, id"
    ))
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    Ok(rows.iter().map(|r| from_row(r)).collect::<Result<_, _>>()?)
}

/// The certificate that signs for `agency_code` at `now` — the valid one that expires last —
/// with its unsealed key and chain. `None` when the agency has none valid now.
pub async fn active(
    db: &Db,
    agency_code: &str,
    now: i64,
) -> Result<Option<(StoredCertificate, Arc<SigningIdentity>)>, AppError> {
    // The row is read every time (natively on a SQLite file), so a newer certificate, an
    // expired one or a deleted one is seen at once; only the parsing is kept.
    let row = db
        .read_rows(
            &format!(
                "SELECT {COLUMNS}, chain_pem, sealed_private_key FROM agency_certificates \
                 WHERE agency_code = $1 AND not_before <= $2 AND not_after >= $2 \
                 ORDER BY not_after DESC, id LIMIT 1"
            ),
            &[Param::Text(agency_code), Param::Int(now)],
            |r| Ok((from_row(r)?, r.text(11)?, r.text(12)?)),
        )
        .await?
        .into_iter()
        .next();
    let Some((cert, chain_pem, sealed)) = row else {
        return Ok(None);
    };
    let identity = parsed_identity(db, &cert.id, chain_pem, sealed)?;
    Ok(Some((cert, identity)))
}

/// A certificate row's key unsealed and PKCS#8-parsed and its chain PEM-parsed (khóa và chuỗi
/// chứng thư đã giải mã), as read from the row.
struct ParsedIdentity {
    chain_pem: String,
    sealed_private_key: String,
    identity: Arc<SigningIdentity>,
}

/// Parsed identities by database URL and certificate id. An entry is used only when the row
/// still holds the very texts it was parsed from (both compared in full), so an edited row is
/// parsed again; the parsing is a function of those texts and the process's master key alone.
type IdentityKey = (Arc<str>, String);

static IDENTITIES: LazyLock<RwLock<HashMap<IdentityKey, ParsedIdentity>>> =
    LazyLock::new(Default::default);

/// At most this many parsed identities are kept (the map is emptied when full).
const IDENTITIES_MAX: usize = 4096;

/// The identity of certificate `id` whose row holds `chain_pem` and `sealed`, parsed once.
fn parsed_identity(
    db: &Db,
    id: &str,
    chain_pem: String,
    sealed: String,
) -> Result<Arc<SigningIdentity>, AppError> {
    let key: IdentityKey = (Arc::from(db.url()), id.to_string());
    {
        let map = IDENTITIES.read().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = map
            .get(&key)
            .filter(|p| p.chain_pem == chain_pem && p.sealed_private_key == sealed)
        {
            return Ok(p.identity.clone());
        }
    }
    let key_der = keys::unseal_secret(&sealed)?;
    let signing_key = SigningKey::from_pkcs8_der(&key_der).map_err(|p| AppError::internal(p.en))?;
    let chain = pades::parse_chain_pem(&chain_pem).map_err(|p| AppError::internal(p.en))?;
    let identity = Arc::new(SigningIdentity {
        key: signing_key,
        chain,
    });
    let mut map = IDENTITIES.write().unwrap_or_else(|e| e.into_inner());
    if map.len() >= IDENTITIES_MAX {
        map.clear();
    }
    map.insert(
        key,
        ParsedIdentity {
            chain_pem,
            sealed_private_key: sealed,
            identity: identity.clone(),
        },
    );
    Ok(identity)
}

/// The trust list's root certificates.
pub async fn trust_anchors(db: &Db) -> Result<Vec<Certificate>, AppError> {
    let pems: Vec<String> =
        sqlx::query_scalar("SELECT cert_pem FROM pades_trust_anchors ORDER BY id")
            .fetch_all(db.pool())
            .await
            .map_err(DbError::from)?;
    Ok(pems
        .iter()
        .filter_map(|p| pades::parse_chain_pem(p).ok())
        .flatten()
        .collect())
}

/// The provincial test CA of this installation, created on first use with its root in the
/// trust list (demo and tests only: see [`crate::test_ca`]).
pub async fn test_ca(db: &Db) -> Result<TestCa, AppError> {
    let row = sqlx::query(
        "SELECT cert_pem, sealed_private_key FROM pades_trust_anchors \
         WHERE source = 'test_ca' AND sealed_private_key IS NOT NULL ORDER BY created_at DESC, id LIMIT 1",
    )
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?;
    if let Some(row) = row {
        let pem: String = row.try_get(0).map_err(DbError::from)?;
        let sealed: String = row.try_get(1).map_err(DbError::from)?;
        let der = keys::unseal_secret(&sealed)?;
        use pkcs8::DecodePrivateKey;
        let key = p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(AppError::internal)?;
        let cert = pades::parse_chain_pem(&pem)
            .map_err(|p| AppError::internal(p.en))?
            .into_iter()
            .next()
            .ok_or_else(|| AppError::internal("test CA without certificate"))?;
        return Ok(TestCa { key, cert });
    }
    let now = now_micros();
    let ca = TestCa::generate(u64::try_from(now / 1_000_000).unwrap_or(0))
        .map_err(AppError::internal)?;
    let sealed = {
        use pkcs8::EncodePrivateKey;
        let der = ca.key.to_pkcs8_der().map_err(AppError::internal)?;
        keys::seal_secret(der.as_bytes())?
    };
    let mut tx = db.begin_write().await?;
    add_anchor_in(&mut tx, &ca.cert, "test_ca", Some(&sealed), now).await?;
    tx.commit().await?;
    Ok(ca)
}

/// Issue a test certificate for an agency from the provincial test CA and store it (demo
/// and tests only; the web layer offers it only in demo mode). Valid from now for `days`
/// days (or, with a negative `days`, one that already expired, for tests).
pub async fn issue_test_certificate(
    db: &Db,
    ctx: &Ctx,
    agency_code: &str,
    days: i64,
) -> Result<StoredCertificate, AppError> {
    let agency = agencies::get(db, agency_code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let ca = test_ca(db).await?;
    let now = now_micros();
    let secs = now / 1_000_000;
    let (from, to) = if days >= 0 {
        (secs - 60, secs + days * 86_400)
    } else {
        (secs + (days - 1) * 86_400, secs + days * 86_400)
    };
    let id = ca
        .issue(
            &agency.name,
            &agency.code,
            u64::try_from(from).unwrap_or(0),
            u64::try_from(to).unwrap_or(0),
        )
        .map_err(AppError::internal)?;
    let mut tx = db.begin_write().await?;
    let cert = store_in(&mut tx, &agency.code, &id, "test_ca", None, now).await?;
    tx.audit(&ctx.entry(
        "signing_certificate.issue_test",
        "agency",
        &agency.code,
        &agency.code,
        serde_json::json!({"certificate": cert.id, "subject": cert.subject, "serial": cert.serial,
            "not_after": cert.not_after}),
    ))
    .await?;
    tx.commit().await?;
    Ok(cert)
}
