//! The QR pass (thẻ thông hành điện tử) of a declared trip, signed by the platform so that a
//! gate officer's phone verifies it offline.
//!
//! **Format.** `TSB1.<payload>.<signature>`: `payload` is the base64url (no padding) of a
//! compact JSON object, `signature` the base64url of the 64-byte Ed25519 signature of exactly
//! those payload *characters* (the ASCII of the base64url text, so a verifier never
//! re-serialises JSON). Payload keys:
//!
//! | key | meaning |
//! |-----|---------|
//! | `c` | trip code (`HN-261129-00001`) |
//! | `v` | declaration version the pass was issued for |
//! | `p`, `r` | vehicle plate, trailer plate (canonical; `""` without trailer) |
//! | `g`, `d` | gate code, direction (`export`, `import`, `transit`, `transshipment`) |
//! | `n` | driver's name |
//! | `w` | goods weight, kg |
//! | `h` | the first three HS codes |
//! | `e` | 1 when the goods are perishable |
//! | `q` | quarantine needed (`plant`, `animal`, `plant,animal` or `""`) |
//! | `f`, `u` | valid from, valid until (Unix seconds) |
//! | `k` | id of the signing key |
//!
//! **Key.** The pass is signed with the signing key of the gate's management board (Ban Quản
//! lý Khu kinh tế cửa khẩu) from the agency key registry (`tinhso_identity::keys`). Its public
//! keys (active and revoked, with dates) are published at `GET /api/v1/border/pass-keys`; the
//! officer's verification page stores them on the phone and verifies with WebCrypto Ed25519
//! without a network. Online, the page also checks the pass is for the trip's current version.
//!
//! **Validity.** From the moment it is issued until 24 hours after the expected arrival.

use crate::declaration::Trip;
use crate::gates::{self, CheckKind};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use tinhso_identity::keys;
use tinhso_kernel::AppError;
use tinhso_store::Db;

/// The pass's prefix and format version.
pub const PREFIX: &str = "TSB1";
/// How long after the expected arrival a pass stays valid.
pub const VALID_AFTER_ARRIVAL_SECS: i64 = 24 * 3600;
/// The agency whose key signs passes when a gate lists no management board.
pub const DEFAULT_SIGNER: &str = "000.00.15.H37";

/// What a pass says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PassPayload {
    pub c: String,
    pub v: i64,
    pub p: String,
    pub r: String,
    pub g: String,
    pub d: String,
    pub n: String,
    pub w: i64,
    pub h: Vec<String>,
    pub e: u8,
    pub q: String,
    pub f: i64,
    pub u: i64,
    pub k: String,
}

/// An issued pass.
#[derive(Debug, Clone, Serialize)]
pub struct Pass {
    /// What goes into the QR code.
    pub text: String,
    pub payload: PassPayload,
    /// Hex of the signer's public key.
    pub public_key: String,
}

async fn signer(db: &Db, gate: &str) -> Result<String, AppError> {
    Ok(gates::get(db, gate)
        .await?
        .and_then(|g| g.agency_for(CheckKind::ManagementBoard).map(str::to_string))
        .unwrap_or_else(|| DEFAULT_SIGNER.to_string()))
}

/// Issue (or re-issue: the same trip version and time give the same text) the pass of a
/// trip's current version, valid from `now_secs`.
pub async fn issue(db: &Db, trip: &Trip, now_secs: i64) -> Result<Pass, AppError> {
    if trip.stage().is_over() {
        return Err(AppError::conflict(
            "Chuyến đã kết thúc: không cấp thẻ thông hành",
            "The trip is over: no pass is issued",
        ));
    }
    let agency = signer(db, &trip.gate).await?;
    let key_id = keys::ensure_agency_key(db, &agency).await?;
    let payload = PassPayload {
        c: trip.code.clone(),
        v: trip.version,
        p: trip.vehicle_plate.clone(),
        r: trip.trailer_plate.clone().unwrap_or_default(),
        g: trip.gate.clone(),
        d: trip.direction.clone(),
        n: trip.driver_name.clone(),
        w: trip.total_weight_kg,
        h: trip
            .goods
            .iter()
            .take(3)
            .map(|g| g.hs_code.clone())
            .collect(),
        e: u8::from(trip.perishable),
        q: trip.quarantine.clone(),
        f: now_secs,
        u: trip.expected_arrival / 1_000_000 + VALID_AFTER_ARRIVAL_SECS,
        k: key_id,
    };
    let json = serde_json::to_vec(&payload).map_err(AppError::internal)?;
    let body = URL_SAFE_NO_PAD.encode(json);
    let sig = keys::sign_as_agency(db, &agency, body.as_bytes()).await?;
    if sig.key_id != payload.k {
        return Err(AppError::internal(
            "the signing key changed while issuing a pass",
        ));
    }
    let sig_bytes = hex::decode(&sig.signature).map_err(AppError::internal)?;
    Ok(Pass {
        text: format!("{PREFIX}.{body}.{}", URL_SAFE_NO_PAD.encode(sig_bytes)),
        payload,
        public_key: sig.public_key,
    })
}

/// Why a pass is not good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PassProblem {
    /// Not a `TSB1.…` text, or its parts do not decode.
    Malformed,
    /// Signed by a key that is not published.
    UnknownKey,
    /// The signature does not match: the pass was altered or forged.
    BadSignature,
    /// The key was revoked before the pass was issued.
    RevokedKey,
    NotYetValid,
    Expired,
}

impl PassProblem {
    /// The reason a gate reader's scan of this pass is sent to an officer's review.
    pub fn review_reason(self) -> &'static str {
        match self {
            PassProblem::Malformed => "pass_malformed",
            PassProblem::UnknownKey => "pass_unknown_key",
            PassProblem::BadSignature => "pass_bad_signature",
            PassProblem::RevokedKey => "pass_revoked_key",
            PassProblem::NotYetValid => "pass_not_yet_valid",
            PassProblem::Expired => "pass_expired",
        }
    }

    pub fn message_vi(self) -> &'static str {
        match self {
            PassProblem::Malformed => "Không phải thẻ thông hành của nền tảng cửa khẩu số",
            PassProblem::UnknownKey => "Thẻ được ký bằng khoá không được công bố",
            PassProblem::BadSignature => "Chữ ký không khớp: thẻ đã bị sửa hoặc giả mạo",
            PassProblem::RevokedKey => "Khoá ký đã bị thu hồi trước khi cấp thẻ",
            PassProblem::NotYetValid => "Thẻ chưa đến thời gian hiệu lực",
            PassProblem::Expired => "Thẻ đã hết hiệu lực",
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            PassProblem::Malformed => "Not a pass of the digital border gate platform",
            PassProblem::UnknownKey => "Signed with a key that is not published",
            PassProblem::BadSignature => {
                "The signature does not match: the pass was altered or forged"
            }
            PassProblem::RevokedKey => "The signing key was revoked before the pass was issued",
            PassProblem::NotYetValid => "The pass is not valid yet",
            PassProblem::Expired => "The pass has expired",
        }
    }
}

/// A published key as a verifier holds it: id, hex public key, revoked at (Unix seconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PublishedKey {
    pub key_id: String,
    pub agency: String,
    /// Hex of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// Unix seconds; null while the key is in use.
    pub revoked_at: Option<i64>,
}

/// The keys that sign passes (every gate's management board), for offline verifiers.
pub async fn published_keys(db: &Db) -> Result<Vec<PublishedKey>, AppError> {
    let mut agencies: Vec<String> = gates::list(db)
        .await?
        .iter()
        .filter_map(|g| g.agency_for(CheckKind::ManagementBoard).map(str::to_string))
        .collect();
    agencies.push(DEFAULT_SIGNER.to_string());
    agencies.sort();
    agencies.dedup();
    let mut out = Vec::new();
    for a in agencies {
        for k in keys::agency_keys(db, &a).await? {
            out.push(PublishedKey {
                key_id: k.id,
                agency: k.owner,
                public_key: k.public_key,
                revoked_at: k.revoked_at.map(|t| t / 1_000_000),
            });
        }
    }
    Ok(out)
}

/// What a pass claims, read WITHOUT checking its signature: only to show an officer which trip
/// a refused pass names. Never trust it for anything else.
pub fn claimed(text: &str) -> Option<PassPayload> {
    let mut parts = text.trim().split('.');
    let (Some(PREFIX), Some(body)) = (parts.next(), parts.next()) else {
        return None;
    };
    let json = URL_SAFE_NO_PAD.decode(body).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Verify a pass against published keys at `now_secs`, exactly as the offline page does.
pub fn verify(
    text: &str,
    keys: &[PublishedKey],
    now_secs: i64,
) -> Result<PassPayload, PassProblem> {
    let mut parts = text.trim().split('.');
    let (Some(PREFIX), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PassProblem::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| PassProblem::Malformed)?;
    let payload: PassPayload = serde_json::from_slice(&json).map_err(|_| PassProblem::Malformed)?;
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(PassProblem::Malformed)?;
    let key = keys
        .iter()
        .find(|k| k.key_id == payload.k)
        .ok_or(PassProblem::UnknownKey)?;
    let pk: [u8; 32] = hex::decode(&key.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(PassProblem::UnknownKey)?;
    let vk = VerifyingKey::from_bytes(&pk).map_err(|_| PassProblem::UnknownKey)?;
    vk.verify(body.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| PassProblem::BadSignature)?;
    if key.revoked_at.is_some_and(|r| r <= payload.f) {
        return Err(PassProblem::RevokedKey);
    }
    if now_secs < payload.f - 300 {
        return Err(PassProblem::NotYetValid);
    }
    if now_secs > payload.u {
        return Err(PassProblem::Expired);
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(payload: &PassPayload, key: &SigningKey) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap());
        let sig = key.sign(body.as_bytes());
        format!("{PREFIX}.{body}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    fn sample() -> PassPayload {
        PassPayload {
            c: "HN-261129-00001".into(),
            v: 1,
            p: "12C-123.45".into(),
            r: String::new(),
            g: "HN".into(),
            d: "export".into(),
            n: "Nguyễn Văn An".into(),
            w: 12_000,
            h: vec!["08106000".into()],
            e: 1,
            q: "plant".into(),
            f: 1_000,
            u: 100_000,
            k: "k1".into(),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        /// Fuzzing the verifier: any text, including ones shaped like a pass, is answered with
        /// a problem, never a panic and never "valid".
        #[test]
        fn arbitrary_text_is_never_a_valid_pass(s in "(TSB1\\.)?[A-Za-z0-9_\\-\\.]{0,200}|\\PC{0,100}") {
            let keys = vec![PublishedKey {
                key_id: "k1".into(),
                agency: DEFAULT_SIGNER.into(),
                public_key: hex::encode(SigningKey::from_bytes(&[7u8; 32]).verifying_key().to_bytes()),
                revoked_at: None,
            }];
            proptest::prop_assert!(verify(&s, &keys, 2_000).is_err());
        }
    }

    #[test]
    fn a_pass_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let keys = vec![PublishedKey {
            key_id: "k1".into(),
            agency: DEFAULT_SIGNER.into(),
            public_key: hex::encode(key.verifying_key().to_bytes()),
            revoked_at: None,
        }];
        let text = signed(&sample(), &key);
        assert_eq!(verify(&text, &keys, 2_000).unwrap(), sample());
        assert_eq!(verify(&text, &keys, 200_000), Err(PassProblem::Expired));
        assert_eq!(verify(&text, &keys, 0), Err(PassProblem::NotYetValid));
        // A pass re-signed by another key, under the published key's id.
        let forged = signed(&sample(), &SigningKey::from_bytes(&[8u8; 32]));
        assert_eq!(
            verify(&forged, &keys, 2_000),
            Err(PassProblem::BadSignature)
        );
        // The payload changed (another plate) with the original signature.
        let sig = text.rsplit('.').next().unwrap();
        let mut other = sample();
        other.p = "12C-999.99".into();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        assert_eq!(
            verify(&format!("{PREFIX}.{body}.{sig}"), &keys, 2_000),
            Err(PassProblem::BadSignature)
        );
        assert_eq!(verify("hello", &keys, 2_000), Err(PassProblem::Malformed));
        assert_eq!(verify(&text, &[], 2_000), Err(PassProblem::UnknownKey));
        let mut revoked = keys.clone();
        revoked[0].revoked_at = Some(500);
        assert_eq!(verify(&text, &revoked, 2_000), Err(PassProblem::RevokedKey));
    }
}
