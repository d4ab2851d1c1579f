//! Revocation of signing certificates (thu hồi chứng thư số): certificate revocation lists
//! (CRL, RFC 5280 §5) the PAdES verifier checks signer certificates against.
//!
//! A CRL enters the store in one of two ways, and only after its signature by its issuing CA —
//! a trust anchor or a CA certificate of an imported chain — has been checked:
//! - an administrator imports it ([`import`]: PEM `X509 CRL` or DER, e.g. downloaded from the
//!   CA's site), audited as `pades_crl.import`;
//! - the verifier fetches it from the signer certificate's CRL distribution point
//!   ([`fetch_for`], `http://` only, 5 s, 1 MiB) when no current CRL of that issuer is stored
//!   and the point is reachable; stored with `source = 'fetched'`.
//!
//! The verifier ([`crate::pades::verify_pdf_with`]) takes the newest CRL of the signer's issuer.
//! A serial on it is reported as "certificate revoked at …"; a signature whose valid
//! time-stamp (PAdES-B-T) is earlier than the revocation stays valid — that is what the
//! time-stamp is for.
//!
//! Not done: OCSP; delta CRLs; indirect CRLs; the revocation of intermediate CA certificates
//! (only the signer's own certificate is checked); CRL entry reason codes are not shown.

use crate::pades::{self, KeyProblem};
use der::{Decode, Encode};
use serde::Serialize;
use sqlx::Row;
use tinhso_identity::{Permission, Principal, ResourceScope};
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError};
use x509_cert::crl::CertificateList;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

/// A parsed CRL (danh sách chứng thư bị thu hồi).
#[derive(Debug, Clone)]
pub struct Crl {
    list: CertificateList,
    /// thisUpdate, microseconds since the epoch.
    pub this_update: i64,
    /// nextUpdate, when given.
    pub next_update: Option<i64>,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
}

fn micros(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_micros()).unwrap_or(i64::MAX)
}

fn bad_crl() -> KeyProblem {
    KeyProblem {
        vi: "Tệp không phải danh sách chứng thư bị thu hồi (CRL) hợp lệ — cần PEM -----BEGIN X509 CRL----- hoặc DER".into(),
        en: "The file is not a valid certificate revocation list (CRL) — PEM -----BEGIN X509 CRL----- or DER expected".into(),
    }
}

impl Crl {
    /// A CRL in PEM (`-----BEGIN X509 CRL-----`) or DER.
    pub fn from_bytes(bytes: &[u8]) -> Result<Crl, KeyProblem> {
        let text = std::str::from_utf8(bytes).ok().map(str::trim);
        let list = match text {
            Some(t) if t.starts_with("-----BEGIN") => {
                let (label, der) = der::pem::decode_vec(t.as_bytes()).map_err(|_| bad_crl())?;
                if label != "X509 CRL" {
                    return Err(bad_crl());
                }
                CertificateList::from_der(&der).map_err(|_| bad_crl())?
            }
            _ => CertificateList::from_der(bytes).map_err(|_| bad_crl())?,
        };
        let der = list.to_der().map_err(|_| bad_crl())?;
        use sha2::Digest;
        Ok(Crl {
            this_update: micros(&list.tbs_cert_list.this_update),
            next_update: list.tbs_cert_list.next_update.as_ref().map(micros),
            fingerprint: hex::encode(sha2::Sha256::digest(&der)),
            list,
        })
    }

    /// The issuing CA's name.
    pub fn issuer(&self) -> &Name {
        &self.list.tbs_cert_list.issuer
    }

    /// Is this CRL signed by `ca`'s key (and named after it)?
    pub fn signed_by(&self, ca: &Certificate) -> bool {
        if ca.tbs_certificate.subject != self.list.tbs_cert_list.issuer {
            return false;
        }
        let Ok(tbs) = self.list.tbs_cert_list.to_der() else {
            return false;
        };
        let Some(sig) = self.list.signature.as_bytes() else {
            return false;
        };
        pades::issuer_signed(ca, &self.list.signature_algorithm.oid, &tbs, sig)
    }

    /// When `serial` was revoked (microseconds), if it is on this list.
    pub fn revoked_at(&self, serial: &SerialNumber) -> Option<i64> {
        self.list
            .tbs_cert_list
            .revoked_certificates
            .as_ref()?
            .iter()
            .find(|r| &r.serial_number == serial)
            .map(|r| micros(&r.revocation_date))
    }

    /// How many certificates it lists.
    pub fn revoked_count(&self) -> usize {
        self.list
            .tbs_cert_list
            .revoked_certificates
            .as_ref()
            .map_or(0, Vec::len)
    }

    /// PEM (`X509 CRL`).
    pub fn to_pem(&self) -> Result<String, AppError> {
        let der = self.list.to_der().map_err(AppError::internal)?;
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &der)
            .map_err(AppError::internal)
    }
}

/// A stored CRL, for lists.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoredCrl {
    pub id: String,
    pub issuer: String,
    pub fingerprint: String,
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub revoked_count: i64,
    /// `imported` or `fetched`.
    pub source: String,
    pub created_at: i64,
}

/// The CA certificates a CRL may be signed by: the trust anchors and every certificate of the
/// imported chains.
async fn known_cas(db: &Db) -> Result<Vec<Certificate>, AppError> {
    let mut cas = crate::signing_certs::trust_anchors(db).await?;
    let chains: Vec<String> = sqlx::query_scalar("SELECT chain_pem FROM agency_certificates")
        .fetch_all(db.pool())
        .await
        .map_err(DbError::from)?;
    for pem in chains {
        for c in pades::parse_chain_pem(&pem).unwrap_or_default() {
            if !cas.contains(&c) {
                cas.push(c);
            }
        }
    }
    Ok(cas)
}

fn crl_field(code: &'static str, vi: &str, en: &str) -> AppError {
    AppError::field("crl", Invalid::new(code, vi, en))
}

/// Store `crl` (its signature already checked) unless the same CRL is there; `None` when it
/// was already stored.
async fn store(
    db: &Db,
    crl: &Crl,
    source: &str,
    by: Option<&str>,
    now: i64,
) -> Result<Option<StoredCrl>, AppError> {
    let stored = StoredCrl {
        id: uuid::Uuid::now_v7().to_string(),
        issuer: crl.issuer().to_string(),
        fingerprint: crl.fingerprint.clone(),
        this_update: crl.this_update,
        next_update: crl.next_update,
        revoked_count: i64::try_from(crl.revoked_count()).unwrap_or(i64::MAX),
        source: source.to_string(),
        created_at: now,
    };
    let inserted = sqlx::query(
        "INSERT INTO pades_crls (id, issuer, fingerprint, this_update, next_update, revoked_count, crl_pem, \
         source, created_at, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (fingerprint) DO NOTHING",
    )
    .bind(&stored.id)
    .bind(&stored.issuer)
    .bind(&stored.fingerprint)
    .bind(stored.this_update)
    .bind(stored.next_update)
    .bind(stored.revoked_count)
    .bind(crl.to_pem()?)
    .bind(&stored.source)
    .bind(now)
    .bind(by)
    .execute(db.pool())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    Ok((inserted > 0).then_some(stored))
}

/// Import a CRL (nạp danh sách thu hồi): administrators only (`AgencyManage` over the
/// province). It must parse and be signed by a known CA (a trust anchor or a CA of an imported
/// chain); the same CRL twice is refused (409). Audited; nothing stored on refusal.
pub async fn import(
    db: &Db,
    ctx: &Ctx,
    by: &Principal,
    bytes: &[u8],
) -> Result<StoredCrl, AppError> {
    tinhso_identity::authorize(
        Some(by),
        Permission::AgencyManage,
        &ResourceScope::province(),
    )?;
    let crl = Crl::from_bytes(bytes).map_err(|p| crl_field("crl_invalid", &p.vi, &p.en))?;
    let cas = known_cas(db).await?;
    if !cas.iter().any(|ca| crl.signed_by(ca)) {
        return Err(crl_field(
            "crl_untrusted",
            &format!(
                "CRL của {} không được ký bởi CA nào trong danh sách tin cậy hoặc trong các chuỗi chứng thư đã nạp",
                crl.issuer()
            ),
            &format!(
                "The CRL of {} is not signed by any CA of the trust list or of the imported chains",
                crl.issuer()
            ),
        ));
    }
    let now = now_micros();
    let stored = store(db, &crl, "imported", Some(&by.user_id), now)
        .await?
        .ok_or_else(|| {
            AppError::new(ErrorCode::Conflict)
                .with_detail("CRL này đã được nạp", "This CRL has already been imported")
        })?;
    let mut tx = db.begin_write().await?;
    tx.audit(&ctx.entry(
        "pades_crl.import",
        "pades_crl",
        &stored.id,
        "",
        serde_json::json!({"issuer": stored.issuer, "this_update": stored.this_update,
            "next_update": stored.next_update, "revoked": stored.revoked_count,
            "fingerprint": stored.fingerprint}),
    ))
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// Every stored CRL, parsed (for the verifier).
pub async fn all(db: &Db) -> Result<Vec<Crl>, AppError> {
    let pems: Vec<String> =
        sqlx::query_scalar("SELECT crl_pem FROM pades_crls ORDER BY this_update")
            .fetch_all(db.pool())
            .await
            .map_err(DbError::from)?;
    Ok(pems
        .iter()
        .filter_map(|p| Crl::from_bytes(p.as_bytes()).ok())
        .collect())
}

/// Every stored CRL, newest first (for the back office).
pub async fn list(db: &Db) -> Result<Vec<StoredCrl>, AppError> {
    let rows = sqlx::query(
        "SELECT id, issuer, fingerprint, this_update, next_update, revoked_count, source, created_at \
         FROM pades_crls ORDER BY this_update DESC, id",
    )
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    rows.iter()
        .map(|r| {
            let g = |e| AppError::from(DbError::from(e));
            Ok(StoredCrl {
                id: r.try_get(0).map_err(g)?,
                issuer: r.try_get(1).map_err(g)?,
                fingerprint: r.try_get(2).map_err(g)?,
                this_update: r.try_get(3).map_err(g)?,
                next_update: r.try_get(4).map_err(g)?,
                revoked_count: r.try_get(5).map_err(g)?,
                source: r.try_get(6).map_err(g)?,
                created_at: r.try_get(7).map_err(g)?,
            })
        })
        .collect()
}

/// The `http://` CRL distribution points of a certificate.
pub fn distribution_points(cert: &Certificate) -> Vec<String> {
    use x509_cert::ext::pkix::crl::dp::DistributionPoint;
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    use x509_cert::ext::pkix::CrlDistributionPoints;
    let Ok(Some((_, points))) = cert.tbs_certificate.get::<CrlDistributionPoints>() else {
        return Vec::new();
    };
    points
        .0
        .iter()
        .filter_map(|p: &DistributionPoint| match &p.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.as_str().to_string()),
            _ => None,
        })
        .filter(|u| u.starts_with("http://"))
        .collect()
}

/// When no current CRL (nextUpdate not passed) of `cert`'s issuer is stored, fetch one from
/// its distribution points (`http://`, 5 s, at most 1 MiB), check it is signed by `issuer`
/// and store it. Unreachable points and bad answers are logged and skipped: the verifier then
/// reports that revocation could not be checked. Returns whether a CRL was stored.
pub async fn fetch_for(
    db: &Db,
    cert: &Certificate,
    issuer: &Certificate,
    now: i64,
) -> Result<bool, AppError> {
    let current: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pades_crls WHERE issuer = $1 AND (next_update IS NULL OR next_update > $2)",
    )
    .bind(cert.tbs_certificate.issuer.to_string())
    .bind(now)
    .fetch_one(db.pool())
    .await
    .map_err(DbError::from)?;
    if current > 0 {
        return Ok(false);
    }
    let points = distribution_points(cert);
    if points.is_empty() {
        return Ok(false);
    }
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(AppError::internal)?;
    for url in points {
        let body = match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(b) if b.len() <= 1024 * 1024 => b,
                _ => continue,
            },
            Ok(r) => {
                tracing::warn!(%url, status = %r.status(), "CRL distribution point answered an error");
                continue;
            }
            Err(e) => {
                tracing::warn!(%url, error = %e, "CRL distribution point unreachable");
                continue;
            }
        };
        let Ok(crl) = Crl::from_bytes(&body) else {
            tracing::warn!(%url, "CRL distribution point sent no valid CRL");
            continue;
        };
        if !crl.signed_by(issuer) {
            tracing::warn!(%url, "CRL from the distribution point is not signed by the issuer");
            continue;
        }
        store(db, &crl, "fetched", None, now).await?;
        return Ok(true);
    }
    Ok(false)
}
