//! Members' X.509 certificates (chứng thư số của thành viên): an administrator may register a
//! member's certificate (PEM) instead of a bare key. The hub pins the certificate as it pins a
//! key — no chain to a CA is built — and takes from it the subject's public key (ed25519, the
//! hub's signature scheme), its validity period (checked at registration and on every request)
//! and its SHA-256 fingerprint.

use crate::signing;
use der::asn1::ObjectIdentifier;
use der::{DecodePem, Encode};
use sha2::{Digest, Sha256};
use tinhso_kernel::Invalid;
use x509_cert::Certificate;

/// id-Ed25519 (RFC 8410).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// id-ecPublicKey (RFC 5480): ECDSA keys, P-256 among them.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// rsaEncryption (RFC 8017).
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// What the hub keeps of a member's certificate (chứng thư số), beside the key taken from it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct KeyCertificate {
    /// The certificate as registered (PEM, `-----BEGIN CERTIFICATE-----`).
    pub pem: String,
    /// SHA-256 of the certificate's DER, upper-case hex pairs joined by `:` (as `openssl x509
    /// -noout -fingerprint -sha256` prints it).
    pub sha256: String,
    /// The subject's distinguished name (RFC 4514).
    pub subject: String,
    /// Validity period (thời hạn hiệu lực), Unix microseconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl KeyCertificate {
    /// Whether `now` (Unix microseconds) is inside the validity period.
    pub fn valid_at(&self, now: i64) -> bool {
        (self.not_before..=self.not_after).contains(&now)
    }
}

/// A parsed certificate: the subject's ed25519 key (the registry's base64) and what is kept.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub public_key: String,
    pub certificate: KeyCertificate,
}

fn invalid(code: &'static str, vi: String, en: String) -> Invalid {
    Invalid::new(code, vi, en)
}

fn micros(t: x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_micros()).unwrap_or(i64::MAX)
}

/// Colon-separated upper-case hex (`AB:01:…`).
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse a PEM certificate and check that it can identify a member at `now` (Unix
/// microseconds): one `CERTIFICATE` block, an ed25519 subject key, inside its validity period.
/// Errors are the field's (`certificate`), in Vietnamese and English, with the parser's
/// message when the PEM or DER does not parse.
pub fn parse(pem: &str, now: i64) -> Result<Parsed, Invalid> {
    let pem = pem.trim();
    let cert = Certificate::from_pem(pem.as_bytes()).map_err(|e| {
        invalid(
            "certificate_pem",
            format!("Chứng thư số không phải một khối PEM «CERTIFICATE» X.509 hợp lệ: {e}"),
            format!("The certificate is not a valid X.509 PEM «CERTIFICATE» block: {e}"),
        )
    })?;
    let der = cert.to_der().map_err(|e| {
        invalid(
            "certificate_pem",
            format!("Không mã hóa lại được chứng thư số: {e}"),
            format!("The certificate could not be re-encoded: {e}"),
        )
    })?;
    let tbs = &cert.tbs_certificate;
    let spki = &tbs.subject_public_key_info;
    let algorithm = spki.algorithm.oid;
    if algorithm != ED25519 {
        let (vi, en) = match algorithm {
            EC_PUBLIC_KEY => ("ECDSA (vd. P-256)", "ECDSA (e.g. P-256)"),
            RSA => ("RSA", "RSA"),
            _ => ("khác", "another"),
        };
        return Err(invalid(
            "certificate_algorithm",
            format!("Khóa công khai trong chứng thư số dùng thuật toán {vi} ({algorithm}); trục chỉ xác thực chữ ký ed25519 — hãy cấp chứng thư cho khóa ed25519"),
            format!("The certificate's public key is {en} ({algorithm}); the hub verifies ed25519 signatures only — issue the certificate for an ed25519 key"),
        ));
    }
    let raw = spki.subject_public_key.raw_bytes();
    let public_key = signing::b64(raw);
    if signing::parse_public_key(&public_key).is_none() {
        return Err(invalid(
            "certificate_key",
            "Khóa ed25519 trong chứng thư số không hợp lệ (phải là 32 byte)".into(),
            "The certificate's ed25519 key is not valid (it must be 32 bytes)".into(),
        ));
    }
    let not_before = micros(tbs.validity.not_before);
    let not_after = micros(tbs.validity.not_after);
    let certificate = KeyCertificate {
        pem: pem.to_string(),
        sha256: colon_hex(&Sha256::digest(&der)),
        subject: tbs.subject.to_string(),
        not_before,
        not_after,
    };
    if now > not_after {
        return Err(invalid(
            "certificate_expired",
            format!(
                "Chứng thư số đã hết hạn lúc {} (UTC)",
                tbs.validity.not_after
            ),
            format!(
                "The certificate expired at {} (UTC)",
                tbs.validity.not_after
            ),
        ));
    }
    if now < not_before {
        return Err(invalid(
            "certificate_not_yet_valid",
            format!(
                "Chứng thư số chưa có hiệu lực (từ {} UTC)",
                tbs.validity.not_before
            ),
            format!(
                "The certificate is not valid yet (from {} UTC)",
                tbs.validity.not_before
            ),
        ));
    }
    Ok(Parsed {
        public_key,
        certificate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_pem_is_refused_with_the_parsers_message() {
        let e = parse("not a certificate", 0).unwrap_err();
        assert_eq!(e.code, "certificate_pem");
        assert!(e.vi.contains("PEM") && e.en.contains("PEM"), "{e:?}");
        let truncated = "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----";
        assert_eq!(parse(truncated, 0).unwrap_err().code, "certificate_pem");
    }

    #[test]
    fn fingerprints_are_colon_hex() {
        assert_eq!(colon_hex(&[0xab, 0x01]), "AB:01");
    }
}
