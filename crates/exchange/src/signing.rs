//! Signed requests and answers (chữ ký số của thông điệp).
//!
//! A client member signs, with its ed25519 key, the UTF-8 text
//!
//! ```text
//! TINHSO-LGSP-1
//! <METHOD>
//! <path and query, exactly as sent: /lgsp/v1/<provider>/<service>/<rest>?<query>>
//! <timestamp: Unix seconds>
//! <nonce: 16–64 characters [A-Za-z0-9_-]>
//! <SHA-256 of the body, lower-case hex (of the empty string when there is no body)>
//! ```
//!
//! (lines joined by `\n`, no trailing newline) and sends the headers [`H_MEMBER`],
//! [`H_TIMESTAMP`], [`H_NONCE`] and [`H_SIGNATURE`] (standard base64 of the 64-byte signature).
//! The hub answers with [`H_HUB_SIGNATURE`] over
//!
//! ```text
//! TINHSO-LGSP-1-RESPONSE
//! <exchange id (the request id)>
//! <HTTP status>
//! <SHA-256 of the request, as above>
//! <SHA-256 of the response body>
//! ```
//!
//! verifiable with the hub's public key (`GET /lgsp/v1/hub-key`).
//!
//! In a direct call ([`crate::direct`]) the provider member's gateway signs the same text with
//! the provider's own key and sends it as [`H_PROVIDER_SIGNATURE`]. The hub's registry
//! snapshot is signed with the hub's key over [`registry_text`], sent as
//! [`H_REGISTRY_SIGNATURE`].

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

pub const H_MEMBER: &str = "x-lgsp-member";
pub const H_TIMESTAMP: &str = "x-lgsp-timestamp";
pub const H_NONCE: &str = "x-lgsp-nonce";
pub const H_SIGNATURE: &str = "x-lgsp-signature";
/// On answers: the hub's signature, the exchange id, the hashes it signed.
pub const H_HUB_SIGNATURE: &str = "x-lgsp-hub-signature";
pub const H_EXCHANGE_ID: &str = "x-lgsp-exchange-id";
pub const H_REQUEST_SHA256: &str = "x-lgsp-request-sha256";
pub const H_RESPONSE_SHA256: &str = "x-lgsp-response-sha256";
/// On a direct call's answer: the provider member's signature (chữ ký của bên cung cấp).
pub const H_PROVIDER_SIGNATURE: &str = "x-lgsp-provider-signature";
/// On the registry snapshot: the hub's signature over [`registry_text`].
pub const H_REGISTRY_SIGNATURE: &str = "x-lgsp-registry-signature";
/// Forwarded to the provider: who is calling, through which exchange.
pub const H_CLIENT: &str = "x-lgsp-client";

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The text a client signs.
pub fn request_text(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body_sha256: &str,
) -> String {
    format!(
        "TINHSO-LGSP-1\n{}\n{path_and_query}\n{timestamp}\n{nonce}\n{body_sha256}",
        method.to_ascii_uppercase()
    )
}

/// The text the hub signs on an answer.
pub fn response_text(
    exchange_id: &str,
    status: u16,
    request_sha256: &str,
    response_sha256: &str,
) -> String {
    format!("TINHSO-LGSP-1-RESPONSE\n{exchange_id}\n{status}\n{request_sha256}\n{response_sha256}")
}

/// The text the hub signs on a registry snapshot (bản chụp danh bạ): its body's SHA-256.
pub fn registry_text(body_sha256: &str) -> String {
    format!("TINHSO-LGSP-1-REGISTRY\n{body_sha256}")
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Sign `text`: standard base64.
pub fn sign(key: &SigningKey, text: &str) -> String {
    b64(&key.sign(text.as_bytes()).to_bytes())
}

/// A public key from standard base64 (32 bytes).
pub fn parse_public_key(b64_key: &str) -> Option<VerifyingKey> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64_key.trim())
        .ok()?;
    let arr: [u8; 32] = raw.try_into().ok()?;
    VerifyingKey::from_bytes(&arr).ok()
}

/// A public key's fingerprint (dấu vân tay khóa), to tell keys apart on a page: the first 8
/// bytes of the SHA-256 of the key's 32 bytes, as colon-separated hex (`3f:a2:…`). A text
/// that is not a base64 key is fingerprinted as it stands.
pub fn fingerprint(public_key_b64: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(public_key_b64.trim())
        .unwrap_or_else(|_| public_key_b64.as_bytes().to_vec());
    Sha256::digest(&raw)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Check a base64 signature of `text` under a base64 public key.
pub fn verify(public_key_b64: &str, text: &str, signature_b64: &str) -> bool {
    parse_public_key(public_key_b64).is_some_and(|vk| verify_with(&vk, text, signature_b64))
}

/// [`verify`] under a key already parsed ([`parse_public_key`]): the hub keeps its members'
/// keys parsed, since decoding one decompresses a curve point (a field square root) each time.
pub fn verify_with(vk: &VerifyingKey, text: &str, signature_b64: &str) -> bool {
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim()) else {
        return false;
    };
    let Ok(arr) = <[u8; 64]>::try_from(raw.as_slice()) else {
        return false;
    };
    vk.verify(text.as_bytes(), &Signature::from_bytes(&arr))
        .is_ok()
}

/// The public half of a key, in the registry's format (standard base64).
pub fn public_key_b64(key: &SigningKey) -> String {
    b64(key.verifying_key().as_bytes())
}

/// Headers a client sends: (name, value) pairs for [`H_MEMBER`], [`H_TIMESTAMP`],
/// [`H_NONCE`], [`H_SIGNATURE`]. `path_and_query` as it goes on the wire.
pub fn client_headers(
    key: &SigningKey,
    member: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp: i64,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    let text = request_text(method, path_and_query, timestamp, nonce, &sha256_hex(body));
    vec![
        (H_MEMBER, member.to_string()),
        (H_TIMESTAMP, timestamp.to_string()),
        (H_NONCE, nonce.to_string()),
        (H_SIGNATURE, sign(key, &text)),
    ]
}

/// A fresh random nonce (22 base64url characters).
pub fn new_nonce() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A nonce the hub accepts.
pub fn nonce_ok(n: &str) -> bool {
    (16..=64).contains(&n.len())
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_keys_apart() {
        let a = public_key_b64(&SigningKey::from_bytes(&[7u8; 32]));
        let b = public_key_b64(&SigningKey::from_bytes(&[8u8; 32]));
        let fa = fingerprint(&a);
        assert_eq!(fa.len(), 8 * 3 - 1, "{fa}");
        assert_eq!(fa.matches(':').count(), 7);
        assert_eq!(
            fa,
            fingerprint(&format!(" {a} ")),
            "the key, not its spacing"
        );
        assert_ne!(fa, fingerprint(&b));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&a)
            .unwrap();
        assert!(sha256_hex(&raw).starts_with(&fa.replace(':', "")));
    }

    #[test]
    fn sign_and_verify() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let pk = public_key_b64(&key);
        let t = request_text(
            "post",
            "/lgsp/v1/a/b/c?x=1",
            1_700_000_000,
            "abc",
            &sha256_hex(b""),
        );
        assert!(t.starts_with("TINHSO-LGSP-1\nPOST\n/lgsp/v1/a/b/c?x=1\n1700000000\nabc\ne3b0c442"));
        let s = sign(&key, &t);
        assert!(verify(&pk, &t, &s));
        assert!(!verify(&pk, &format!("{t} "), &s));
        assert!(!verify("not a key", &t, &s));
        assert!(!verify(&pk, &t, "AAAA"));
        assert!(nonce_ok(&new_nonce()));
        assert!(!nonce_ok("short"));
        assert!(!nonce_ok("has space in it, sixteen+"));
    }
}
