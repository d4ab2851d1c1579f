//! The provincial **test** CA (CA thử nghiệm của tỉnh) — for the demo and tests only.
//!
//! A real electronic result is signed with a certificate issued by a licensed CA (for state
//! agencies, Ban Cơ yếu Chính phủ's CA), imported through [`crate::signing_certs::import`].
//! This module stands in for that CA where none can be reached: it makes an ECDSA P-256 root
//! and issues agency certificates whose subjects say "(THỬ NGHIỆM)" (test), so a document
//! signed with one can never pass for a real one. Its root goes into the trust list only in
//! demo mode or in tests ([`crate::signing_certs::issue_test_certificate`]).

use crate::pades::{SigningIdentity, SigningKey};
use std::str::FromStr;
use std::time::Duration;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

/// The mark every name issued here carries.
pub const TEST_MARK: &str = "(THỬ NGHIỆM)";

/// The test CA: its key and self-signed root certificate.
pub struct TestCa {
    pub key: p256::ecdsa::SigningKey,
    pub cert: Certificate,
}

fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | '#'))
        .collect::<String>()
        .trim()
        .to_string()
}

fn time(unix_secs: u64) -> Result<Time, String> {
    der::asn1::UtcTime::from_unix_duration(Duration::from_secs(unix_secs))
        .map(Time::UtcTime)
        .map_err(|e| e.to_string())
}

fn serial() -> Result<SerialNumber, String> {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[0] &= 0x7f;
    b[0] |= 0x01;
    SerialNumber::new(&b).map_err(|e| e.to_string())
}

fn new_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng)
}

fn spki(k: &p256::ecdsa::SigningKey) -> Result<spki::SubjectPublicKeyInfoOwned, String> {
    spki::SubjectPublicKeyInfoOwned::from_key(*k.verifying_key()).map_err(|e| e.to_string())
}

impl TestCa {
    /// A new test CA valid for ten years from `now_unix_secs`.
    pub fn generate(now_unix_secs: u64) -> Result<TestCa, String> {
        let key = new_key();
        let subject = Name::from_str(&format!(
            "CN=CA thử nghiệm Tỉnh số Lạng Sơn {TEST_MARK},O=Tỉnh số Lạng Sơn {TEST_MARK}"
        ))
        .map_err(|e| e.to_string())?;
        let validity = Validity {
            not_before: time(now_unix_secs.saturating_sub(3600))?,
            not_after: time(now_unix_secs + 10 * 365 * 86_400)?,
        };
        let cert = CertificateBuilder::new(
            Profile::Root,
            serial()?,
            validity,
            subject,
            spki(&key)?,
            &key,
        )
        .map_err(|e| e.to_string())?
        .build::<p256::ecdsa::DerSignature>()
        .map_err(|e| e.to_string())?;
        Ok(TestCa { key, cert })
    }

    /// A certificate for an agency (its name in the subject, marked as a test), valid from
    /// `not_before` to `not_after` (Unix seconds), with a new P-256 key.
    pub fn issue(
        &self,
        agency_name: &str,
        agency_code: &str,
        not_before: u64,
        not_after: u64,
    ) -> Result<SigningIdentity, String> {
        let key = new_key();
        let subject = Name::from_str(&format!(
            "CN={} {TEST_MARK},OU={},O=Tỉnh số Lạng Sơn {TEST_MARK}",
            clean(agency_name),
            clean(agency_code)
        ))
        .map_err(|e| e.to_string())?;
        let profile = Profile::Leaf {
            issuer: self.cert.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        let cert = CertificateBuilder::new(
            profile,
            serial()?,
            Validity {
                not_before: time(not_before)?,
                not_after: time(not_after)?,
            },
            subject,
            spki(&key)?,
            &self.key,
        )
        .map_err(|e| e.to_string())?
        .build::<p256::ecdsa::DerSignature>()
        .map_err(|e| e.to_string())?;
        Ok(SigningIdentity {
            key: SigningKey::P256(key),
            chain: vec![cert, self.cert.clone()],
        })
    }
}
