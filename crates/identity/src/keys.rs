//! Digital identity of staff (định danh số của cán bộ): an ed25519 key pair per person. The
//! private key is sealed (XChaCha20-Poly1305) under the platform's master key, which lives
//! outside the database (`<data-dir>/master.key`), so a stolen database cannot sign.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use serde::Serialize;
use sqlx::Row;
use std::path::Path;
use std::sync::OnceLock;
use tinhso_kernel::AppError;
use tinhso_store::{now_micros, Db, DbError, WriteTx};

static MASTER: OnceLock<[u8; 32]> = OnceLock::new();

/// Load the master key from `path`, creating it (mode 0600) when missing. Call once at start;
/// until then a process-local random key is used (fine for tests, not for production).
pub fn load_master_key(path: &Path) -> std::io::Result<()> {
    let key = if path.exists() {
        let text = std::fs::read_to_string(path)?;
        let bytes = hex::decode(text.trim())
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            std::io::Error::other(format!(
                "{}: the master key must be 32 bytes in hex",
                path.display()
            ))
        })?
    } else {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, hex::encode(k))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        k
    };
    let _ = MASTER.set(key);
    Ok(())
}

fn master() -> &'static [u8; 32] {
    MASTER.get_or_init(|| {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        k
    })
}

fn seal(secret: &[u8]) -> Result<String, AppError> {
    let cipher = XChaCha20Poly1305::new(master().into());
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce), secret)
        .map_err(|_| AppError::internal("seal failed"))?;
    let mut out = nonce.to_vec();
    out.extend(ct);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

fn unseal(sealed: &str) -> Result<Vec<u8>, AppError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(AppError::internal)?;
    if raw.len() < 24 {
        return Err(AppError::internal("sealed key too short"));
    }
    let cipher = XChaCha20Poly1305::new(master().into());
    cipher
        .decrypt(XNonce::from_slice(&raw[..24]), &raw[24..])
        .map_err(|_| AppError::internal("cannot unseal signing key: wrong master key?"))
}

/// Seal any secret under the master key (XChaCha20-Poly1305, random nonce), e.g. an agency
/// certificate's private key (khóa bí mật của chứng thư số); base64 of nonce and ciphertext.
pub fn seal_secret(secret: &[u8]) -> Result<String, AppError> {
    seal(secret)
}

/// Open what [`seal_secret`] sealed (fails under another master key).
pub fn unseal_secret(sealed: &str) -> Result<Vec<u8>, AppError> {
    unseal(sealed)
}

/// Generate and register a signing key for `user_id` inside a transaction.
pub async fn generate_in(tx: &mut WriteTx, user_id: &str) -> Result<String, AppError> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO signing_keys (id, user_id, public_key, sealed_private_key, created_at) VALUES ($1,$2,$3,$4,$5)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(hex::encode(key.verifying_key().to_bytes()))
    .bind(seal(&seed)?)
    .bind(now_micros())
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    Ok(id)
}

/// A signature by a person's registered key.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PersonSignature {
    pub key_id: String,
    pub public_key: String,
    /// ed25519 signature, hex.
    pub signature: String,
}

/// A signing key read and unsealed once (khóa ký đã mở), to sign several messages with one
/// read: an approval signs its event and its result with the leader's key.
pub struct LoadedKey {
    key_id: String,
    public_key: String,
    key: SigningKey,
}

impl LoadedKey {
    /// A key from its stored row (id, public key hex, sealed seed).
    fn unsealed(key_id: String, public_key: String, sealed: &str) -> Result<Self, AppError> {
        let seed: [u8; 32] = unseal(sealed)?
            .as_slice()
            .try_into()
            .map_err(|_| AppError::internal("bad key length"))?;
        Ok(Self {
            key_id,
            public_key,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The key's id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Sign `message`.
    pub fn sign(&self, message: &[u8]) -> PersonSignature {
        PersonSignature {
            key_id: self.key_id.clone(),
            public_key: self.public_key.clone(),
            signature: hex::encode(self.key.sign(message).to_bytes()),
        }
    }
}

/// The newest unrevoked key of `user_id`, unsealed (403 when the account has none).
pub async fn person_key(db: &Db, user_id: &str) -> Result<LoadedKey, AppError> {
    let row = sqlx::query(
        "SELECT id, public_key, sealed_private_key FROM signing_keys WHERE user_id = $1 AND revoked_at IS NULL \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?
    .ok_or_else(|| {
        AppError::forbidden().with_detail(
            "Tài khoản chưa có khóa ký số",
            "This account has no signing key",
        )
    })?;
    let key_id: String = row.try_get(0).map_err(DbError::from)?;
    let public_key: String = row.try_get(1).map_err(DbError::from)?;
    let sealed: String = row.try_get(2).map_err(DbError::from)?;
    LoadedKey::unsealed(key_id, public_key, &sealed)
}

/// Sign `message` with the newest unrevoked key of `user_id`.
pub async fn sign(db: &Db, user_id: &str, message: &[u8]) -> Result<PersonSignature, AppError> {
    Ok(person_key(db, user_id).await?.sign(message))
}

/// Check a signature against a public key (both hex).
pub fn verify(public_key_hex: &str, message: &[u8], signature_hex: &str) -> bool {
    let Ok(pk) = hex::decode(public_key_hex) else {
        return false;
    };
    let Ok(sig) = hex::decode(signature_hex) else {
        return false;
    };
    let (Ok(pk), Ok(sig)) = (
        <[u8; 32]>::try_from(pk.as_slice()),
        <[u8; 64]>::try_from(sig.as_slice()),
    ) else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(&pk) else {
        return false;
    };
    vk.verify(message, &Signature::from_bytes(&sig)).is_ok()
}

/// A keyed digest (HMAC-SHA256 under the master key) for values the platform must be able to
/// recompute but nobody else can guess, such as a dossier's lookup code. `purpose` separates
/// uses so one digest never stands in for another.
pub fn mac(purpose: &str, data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(master()).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot be taken.
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable!())
    });
    m.update(purpose.as_bytes());
    m.update(&[0]);
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Make sure `agency_code` has an active signing key (created on first use, in its own
/// transaction: call it before opening the transaction that signs). Returns the key's id.
pub async fn ensure_agency_key(db: &Db, agency_code: &str) -> Result<String, AppError> {
    Ok(agency_key(db, agency_code).await?.key_id)
}

/// [`ensure_agency_key`], returning the key unsealed, ready to sign: one read when the key
/// exists (an approval reads it once for its checks and its signature).
pub async fn agency_key(db: &Db, agency_code: &str) -> Result<LoadedKey, AppError> {
    if let Some(k) = active_agency_key(db, agency_code).await? {
        return Ok(k);
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let mut tx = db.begin_write().await?;
    // Two first uses at once: the partial unique index keeps one, the other is a no-op.
    sqlx::query(
        "INSERT INTO agency_signing_keys (id, agency_code, public_key, sealed_private_key, created_at) \
         VALUES ($1,$2,$3,$4,$5) ON CONFLICT (agency_code) WHERE revoked_at IS NULL DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(agency_code)
    .bind(hex::encode(key.verifying_key().to_bytes()))
    .bind(seal(&seed)?)
    .bind(now_micros())
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    active_agency_key(db, agency_code)
        .await?
        .ok_or_else(|| AppError::internal("agency key not created"))
}

/// The active key of `agency_code`, unsealed, if it has one.
async fn active_agency_key(db: &Db, agency_code: &str) -> Result<Option<LoadedKey>, AppError> {
    let row = sqlx::query(
        "SELECT id, public_key, sealed_private_key FROM agency_signing_keys \
         WHERE agency_code = $1 AND revoked_at IS NULL",
    )
    .bind(agency_code)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?;
    let Some(row) = row else { return Ok(None) };
    let key_id: String = row.try_get(0).map_err(DbError::from)?;
    let public_key: String = row.try_get(1).map_err(DbError::from)?;
    let sealed: String = row.try_get(2).map_err(DbError::from)?;
    Ok(Some(LoadedKey::unsealed(key_id, public_key, &sealed)?))
}

/// Sign `message` with the active key of `agency_code` (see [`ensure_agency_key`]).
pub async fn sign_as_agency(
    db: &Db,
    agency_code: &str,
    message: &[u8],
) -> Result<PersonSignature, AppError> {
    Ok(active_agency_key(db, agency_code)
        .await?
        .ok_or_else(|| AppError::internal("the agency has no signing key"))?
        .sign(message))
}

/// A registered key as the registry knows it, for verifiers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RegisteredKey {
    pub id: String,
    /// `agency` or `person`.
    pub owner_kind: &'static str,
    /// The agency code or the user id.
    pub owner: String,
    pub public_key: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Every key an agency has had (active and revoked), newest first: what an offline verifier
/// downloads to check what the agency signed.
pub async fn agency_keys(db: &Db, agency_code: &str) -> Result<Vec<RegisteredKey>, AppError> {
    let rows = sqlx::query(
        "SELECT id, agency_code, public_key, created_at, revoked_at FROM agency_signing_keys \
         WHERE agency_code = $1 ORDER BY created_at DESC",
    )
    .bind(agency_code)
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    let g = |e| AppError::from(DbError::from(e));
    rows.into_iter()
        .map(|r| {
            Ok(RegisteredKey {
                id: r.try_get(0).map_err(g)?,
                owner_kind: "agency",
                owner: r.try_get(1).map_err(g)?,
                public_key: r.try_get(2).map_err(g)?,
                created_at: r.try_get(3).map_err(g)?,
                revoked_at: r.try_get(4).map_err(g)?,
            })
        })
        .collect()
}

/// Look a key up by id in either registry.
pub async fn registered(db: &Db, key_id: &str) -> Result<Option<RegisteredKey>, AppError> {
    for (kind, sql) in [
        (
            "agency",
            "SELECT id, agency_code, public_key, created_at, revoked_at FROM agency_signing_keys WHERE id = $1",
        ),
        (
            "person",
            "SELECT id, user_id, public_key, created_at, revoked_at FROM signing_keys WHERE id = $1",
        ),
    ] {
        let row = sqlx::query(sql)
            .bind(key_id)
            .fetch_optional(db.pool())
            .await
            .map_err(DbError::from)?;
        if let Some(r) = row {
            let g = |e| AppError::from(DbError::from(e));
            return Ok(Some(RegisteredKey {
                id: r.try_get(0).map_err(g)?,
                owner_kind: kind,
                owner: r.try_get(1).map_err(g)?,
                public_key: r.try_get(2).map_err(g)?,
                created_at: r.try_get(3).map_err(g)?,
                revoked_at: r.try_get(4).map_err(g)?,
            }));
        }
    }
    Ok(None)
}
