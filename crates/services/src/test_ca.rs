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
        self.issue_with_crl_point(agency_name, agency_code, not_before, not_after, None)
    }

    /// [`TestCa::issue`], with a CRL distribution point (`http://…`) when given.
    pub fn issue_with_crl_point(
        &self,
        agency_name: &str,
        agency_code: &str,
        not_before: u64,
        not_after: u64,
        crl_url: Option<&str>,
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
        let mut builder = CertificateBuilder::new(
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
        .map_err(|e| e.to_string())?;
        if let Some(url) = crl_url {
            use x509_cert::ext::pkix::crl::dp::DistributionPoint;
            use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
            let uri = der::asn1::Ia5String::new(url).map_err(|e| e.to_string())?;
            builder
                .add_extension(&x509_cert::ext::pkix::CrlDistributionPoints(vec![
                    DistributionPoint {
                        distribution_point: Some(DistributionPointName::FullName(vec![
                            GeneralName::UniformResourceIdentifier(uri),
                        ])),
                        reasons: None,
                        crl_issuer: None,
                    },
                ]))
                .map_err(|e| e.to_string())?;
        }
        let cert = builder
            .build::<p256::ecdsa::DerSignature>()
            .map_err(|e| e.to_string())?;
        Ok(SigningIdentity {
            key: SigningKey::P256(key),
            chain: vec![cert, self.cert.clone()],
        })
    }
}

impl TestCa {
    /// A CRL (danh sách thu hồi) of this CA, DER: `revoked` lists (serial, revocation time in
    /// Unix seconds); thisUpdate `this_update`, nextUpdate a week later; ECDSA P-256 / SHA-256.
    pub fn crl(
        &self,
        revoked: &[(SerialNumber, u64)],
        this_update: u64,
    ) -> Result<Vec<u8>, String> {
        use der::Encode;
        use p256::ecdsa::signature::Signer;
        use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
        let alg = spki::AlgorithmIdentifierOwned {
            oid: der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            parameters: None,
        };
        let entries = revoked
            .iter()
            .map(|(serial, at)| {
                Ok(RevokedCert {
                    serial_number: serial.clone(),
                    revocation_date: time(*at)?,
                    crl_entry_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let tbs = TbsCertList {
            version: x509_cert::Version::V2,
            signature: alg.clone(),
            issuer: self.cert.tbs_certificate.subject.clone(),
            this_update: time(this_update)?,
            next_update: Some(time(this_update + 7 * 86_400)?),
            revoked_certificates: (!entries.is_empty()).then_some(entries),
            crl_extensions: None,
        };
        let tbs_der = tbs.to_der().map_err(|e| e.to_string())?;
        let sig: p256::ecdsa::DerSignature = self.key.sign(&tbs_der);
        CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: alg,
            signature: der::asn1::BitString::from_bytes(sig.as_bytes())
                .map_err(|e| e.to_string())?,
        }
        .to_der()
        .map_err(|e| e.to_string())
    }
}
