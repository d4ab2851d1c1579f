//! PAdES signatures (chữ ký số PAdES) on electronic results: a CMS `SignedData` (RFC 5652,
//! detached, ETSI EN 319 122 CAdES attributes) made with an agency's X.509 certificate and
//! embedded in the PDF (`/SubFilter /ETSI.CAdES.detached`), so any PDF reader can check it.
//!
//! - [`SigningKey`] and [`SigningIdentity`]: an ECDSA P-256 or RSA (≥ 2048 bits) private key
//!   with its certificate chain, leaf first;
//! - [`sign_pdf`]: the signature dictionary and the CMS with the signed attributes
//!   contentType, messageDigest, signingCertificateV2 (ESS, RFC 5035) and signingTime,
//!   SHA-256 throughout (PAdES-B-B level); [`sign_pdf_timestamped`] adds, when a TSA is
//!   configured, a signature time-stamp token (RFC 3161, the unsigned attribute
//!   id-aa-signatureTimeStampToken over the SignerInfo's signature value: PAdES-B-T), and falls
//!   back to B-B — saying so — when the TSA cannot be reached;
//! - [`verify_pdf`]: the last signature of a PDF checked — the byte range covers the whole
//!   file but the signature, the digest matches, the CMS signature is valid, the signer's
//!   certificate chains to one of the given trust anchors and was valid when it signed; with
//!   [`verify_pdf_with`] also the signature time-stamp (time, TSA, valid or not) and the
//!   signer certificate against the CRLs known ([`crate::revocation`]): a certificate revoked
//!   after a valid time-stamp still vouches for what it signed before. It never panics on
//!   malformed files or random bytes as CMS.
//!
//! Storage of certificates and keys is in [`crate::signing_certs`]; the provincial test CA for
//! the demo and tests in [`crate::test_ca`].

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use serde::Serialize;
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

/// Bytes reserved in the PDF for the CMS (room for an RSA chain of three certificates and a
/// later time-stamp token).
pub const SIGNATURE_CAPACITY: usize = 16_384;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// id-aa-signatureTimeStampToken (RFC 3161 appendix A): the unsigned attribute of PAdES-B-T.
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const ID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");

/// A certificate's private key (khóa bí mật của chứng thư số).
pub enum SigningKey {
    P256(p256::ecdsa::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// Why a key or certificate cannot be used, in Vietnamese and English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub vi: String,
    pub en: String,
}

fn problem(vi: &str, en: &str) -> KeyProblem {
    KeyProblem {
        vi: vi.to_string(),
        en: en.to_string(),
    }
}

impl SigningKey {
    /// A PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----`): ECDSA P-256 or RSA of at
    /// least 2048 bits. Encrypted keys must be decrypted first.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyProblem> {
        if pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err(problem(
                "Khóa bí mật đang được mã hóa bằng mật khẩu; hãy giải mã trước (openssl pkcs8 -in khoa.pem -out khoa-pkcs8.pem)",
                "The private key is password-encrypted; decrypt it first (openssl pkcs8 -in key.pem -out key-pkcs8.pem)",
            ));
        }
        let (label, doc) = der::SecretDocument::from_pem(pem.trim()).map_err(|_| {
            problem(
                "Khóa bí mật phải ở dạng PEM PKCS#8 (-----BEGIN PRIVATE KEY-----)",
                "The private key must be PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)",
            )
        })?;
        if label != "PRIVATE KEY" {
            return Err(problem(
                "Khóa bí mật phải ở dạng PKCS#8 (-----BEGIN PRIVATE KEY-----); chuyển đổi bằng: openssl pkcs8 -topk8 -nocrypt",
                "The private key must be PKCS#8 (-----BEGIN PRIVATE KEY-----); convert it with: openssl pkcs8 -topk8 -nocrypt",
            ));
        }
        SigningKey::from_pkcs8_der(doc.as_bytes())
    }

    /// A PKCS#8 private key in DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyProblem> {
        use pkcs8::DecodePrivateKey;
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(SigningKey::P256(k));
        }
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(der) {
            use rsa::traits::PublicKeyParts;
            if k.size() < 256 {
                return Err(problem(
                    "Khóa RSA phải dài ít nhất 2048 bit",
                    "RSA keys must be at least 2048 bits",
                ));
            }
            return Ok(SigningKey::Rsa(Box::new(k)));
        }
        Err(problem(
            "Chỉ hỗ trợ khóa ECDSA P-256 hoặc RSA (PKCS#8)",
            "Only ECDSA P-256 or RSA keys (PKCS#8) are supported",
        ))
    }

    /// The key as PKCS#8 DER (to be sealed at rest).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyProblem> {
        use pkcs8::EncodePrivateKey;
        let doc = match self {
            SigningKey::P256(k) => k.to_pkcs8_der(),
            SigningKey::Rsa(k) => k.to_pkcs8_der(),
        }
        .map_err(|_| problem("Không mã hóa được khóa", "Cannot encode the key"))?;
        Ok(doc.as_bytes().to_vec())
    }

    /// The key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as a CA hands it out.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyProblem> {
        der::pem::encode_string(
            "PRIVATE KEY",
            der::pem::LineEnding::LF,
            &self.to_pkcs8_der()?,
        )
        .map_err(|_| problem("Không mã hóa được khóa", "Cannot encode the key"))
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        use spki::EncodePublicKey;
        match self {
            SigningKey::P256(k) => k.verifying_key().to_public_key_der(),
            SigningKey::Rsa(k) => k.to_public_key().to_public_key_der(),
        }
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default()
    }

    /// `ecdsa-p256` or `rsa-<bits>`.
    pub fn algorithm(&self) -> String {
        match self {
            SigningKey::P256(_) => "ecdsa-p256".to_string(),
            SigningKey::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                format!("rsa-{}", k.size() * 8)
            }
        }
    }
}

/// An agency's signing key with its certificate chain, leaf first (chứng thư số của cơ quan).
pub struct SigningIdentity {
    pub key: SigningKey,
    pub chain: Vec<Certificate>,
}

/// The certificates of a PEM file (`-----BEGIN CERTIFICATE-----` blocks), in file order.
pub fn parse_chain_pem(pem: &str) -> Result<Vec<Certificate>, KeyProblem> {
    let certs = Certificate::load_pem_chain(pem.trim().as_bytes()).map_err(|_| {
        problem(
            "Tệp chứng thư phải chứa các khối PEM -----BEGIN CERTIFICATE----- hợp lệ",
            "The certificate file must hold valid -----BEGIN CERTIFICATE----- PEM blocks",
        )
    })?;
    if certs.is_empty() {
        return Err(problem(
            "Tệp chứng thư không có chứng thư nào",
            "The certificate file holds no certificate",
        ));
    }
    Ok(certs)
}

/// PEM of certificates.
pub fn chain_to_pem(chain: &[Certificate]) -> String {
    use der::EncodePem;
    chain
        .iter()
        .filter_map(|c| c.to_pem(der::pem::LineEnding::LF).ok())
        .collect::<Vec<_>>()
        .join("")
}

/// Put a chain in order — the certificate of `key` first, then each issuer — and check it.
/// Certificates that belong to no link are dropped.
pub fn order_chain(
    key: &SigningKey,
    certs: Vec<Certificate>,
) -> Result<Vec<Certificate>, KeyProblem> {
    let spki = key.public_key_der();
    let mut rest = certs;
    let leaf_at = rest
        .iter()
        .position(|c| {
            c.tbs_certificate
                .subject_public_key_info
                .to_der()
                .is_ok_and(|d| d == spki)
        })
        .ok_or_else(|| {
            problem(
                "Không có chứng thư nào trong tệp khớp với khóa bí mật",
                "No certificate in the file matches the private key",
            )
        })?;
    let mut chain = vec![rest.remove(leaf_at)];
    while let Some(last) = chain.last() {
        if last.tbs_certificate.issuer == last.tbs_certificate.subject {
            break;
        }
        let Some(i) = rest.iter().position(|c| {
            c.tbs_certificate.subject == last.tbs_certificate.issuer && cert_signed_by(last, c)
        }) else {
            break;
        };
        chain.push(rest.remove(i));
    }
    for pair in chain.windows(2) {
        if !cert_signed_by(&pair[0], &pair[1]) {
            return Err(problem(
                "Chuỗi chứng thư không hợp lệ (chữ ký của cơ quan cấp không khớp)",
                "The certificate chain is invalid (an issuer's signature does not match)",
            ));
        }
    }
    Ok(chain)
}

/// What a certificate says, for lists and verdicts.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CertInfo {
    /// RFC 4514 subject, e.g. `CN=…,O=…,C=VN`.
    pub subject: String,
    pub issuer: String,
    /// The subject's common name (or organisation).
    pub name: String,
    /// Serial number, hex.
    pub serial: String,
    /// Microseconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
}

fn time_micros(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_micros()).unwrap_or(i64::MAX)
}

fn attr_text(any: &Any) -> Option<String> {
    use der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
    if let Ok(s) = Utf8StringRef::try_from(any) {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = PrintableStringRef::try_from(any) {
        return Some(s.as_str().to_string());
    }
    Ia5StringRef::try_from(any)
        .ok()
        .map(|s| s.as_str().to_string())
}

fn name_part(n: &x509_cert::name::Name, oid: ObjectIdentifier) -> Option<String> {
    n.0.iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == oid)
        .and_then(|atv| attr_text(&atv.value))
}

/// The subject's common name, else its organisation, else the whole subject.
pub fn display_name(n: &x509_cert::name::Name) -> String {
    name_part(n, ID_CN)
        .or_else(|| name_part(n, ID_O))
        .unwrap_or_else(|| n.to_string())
}

pub fn cert_info(c: &Certificate) -> CertInfo {
    let t = &c.tbs_certificate;
    CertInfo {
        subject: t.subject.to_string(),
        issuer: t.issuer.to_string(),
        name: display_name(&t.subject),
        serial: hex::encode_upper(t.serial_number.as_bytes()),
        not_before: time_micros(&t.validity.not_before),
        not_after: time_micros(&t.validity.not_after),
    }
}

/// SHA-256 of a certificate's DER, hex (its fingerprint).
pub fn fingerprint(c: &Certificate) -> String {
    hex::encode(sha2::Sha256::digest(c.to_der().unwrap_or_default()))
}

// ---------------------------------------------------------------- signing

/// ESSCertIDv2 (RFC 5035) with the default hash algorithm, SHA-256 (so it is left out).
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

fn attribute(
    oid: ObjectIdentifier,
    value_der: &[u8],
) -> Result<x509_cert::attr::Attribute, der::Error> {
    let mut values = SetOfVec::new();
    values.insert(Any::from_der(value_der)?)?;
    Ok(x509_cert::attr::Attribute { oid, values })
}

fn sha256_parts(parts: &[&[u8]; 2]) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    h.update(parts[0]);
    h.update(parts[1]);
    h.finalize().to_vec()
}

/// The detached CMS signature of the two byte ranges, signed at `at_unix_secs`.
pub fn cms_sign(
    id: &SigningIdentity,
    parts: &[&[u8]; 2],
    at_unix_secs: u64,
) -> Result<Vec<u8>, String> {
    let leaf = id.chain.first().ok_or("no certificate")?;
    let digest = sha256_parts(parts);
    let econtent = EncapsulatedContentInfo {
        econtent_type: ID_DATA,
        econtent: None,
    };
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    };
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: leaf.tbs_certificate.issuer.clone(),
        serial_number: leaf.tbs_certificate.serial_number.clone(),
    });
    let leaf_der = leaf.to_der().map_err(|e| e.to_string())?;
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(sha2::Sha256::digest(&leaf_der).to_vec())
                .map_err(|e| e.to_string())?,
            issuer_serial: IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(
                    leaf.tbs_certificate.issuer.clone(),
                )],
                serial_number: leaf.tbs_certificate.serial_number.clone(),
            },
        }],
    };
    let ess_attr = attribute(
        ID_SIGNING_CERTIFICATE_V2,
        &ess.to_der().map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let time = UtcTime::from_unix_duration(std::time::Duration::from_secs(at_unix_secs))
        .map_err(|e| e.to_string())?;
    let time_attr = attribute(ID_SIGNING_TIME, &time.to_der().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;

    let mut sd = SignedDataBuilder::new(&econtent);
    sd.add_digest_algorithm(sha256.clone())
        .map_err(|e| e.to_string())?;
    for c in &id.chain {
        sd.add_certificate(CertificateChoices::Certificate(c.clone()))
            .map_err(|e| e.to_string())?;
    }
    let ci = match &id.key {
        SigningKey::P256(k) => {
            let mut si = SignerInfoBuilder::new(k, sid, sha256, &econtent, Some(&digest))
                .map_err(|e| e.to_string())?;
            si.add_signed_attribute(ess_attr)
                .and_then(|s| s.add_signed_attribute(time_attr))
                .map_err(|e| e.to_string())?;
            sd.add_signer_info::<_, p256::ecdsa::DerSignature>(si)
                .map_err(|e| e.to_string())?
                .build()
                .map_err(|e| e.to_string())?
        }
        SigningKey::Rsa(k) => {
            let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((**k).clone());
            let mut si = SignerInfoBuilder::new(&signer, sid, sha256, &econtent, Some(&digest))
                .map_err(|e| e.to_string())?;
            si.add_signed_attribute(ess_attr)
                .and_then(|s| s.add_signed_attribute(time_attr))
                .map_err(|e| e.to_string())?;
            sd.add_signer_info::<_, rsa::pkcs1v15::Signature>(si)
                .map_err(|e| e.to_string())?
                .build()
                .map_err(|e| e.to_string())?
        }
    };
    ci.to_der().map_err(|e| e.to_string())
}

fn slot(
    id: &SigningIdentity,
    reason: &str,
    location: &str,
    at_unix_secs: u64,
) -> tinhso_pdf::sign::SignatureSlot {
    let name = id
        .chain
        .first()
        .map(|c| display_name(&c.tbs_certificate.subject))
        .unwrap_or_default();
    let local =
        chrono::DateTime::from_timestamp(i64::try_from(at_unix_secs).unwrap_or(0) + 7 * 3600, 0)
            .map(|d| d.naive_utc());
    tinhso_pdf::sign::SignatureSlot {
        field: "Chu ky so co quan".into(),
        name,
        reason: reason.to_string(),
        location: location.to_string(),
        signed_at: local.map(|t| (t, 7)),
        capacity: SIGNATURE_CAPACITY,
    }
}

/// Sign a document with a PAdES signature (`/ETSI.CAdES.detached`) at `at_unix_secs`.
pub fn sign_pdf(
    doc: tinhso_pdf::Document,
    id: &SigningIdentity,
    reason: &str,
    location: &str,
    at_unix_secs: u64,
) -> Result<Vec<u8>, String> {
    let slot = slot(id, reason, location, at_unix_secs);
    doc.finish_signed(&slot, |parts| cms_sign(id, parts, at_unix_secs))
        .map_err(|e| e.to_string())
}

/// Whether a result's signature carries a time-stamp (dấu thời gian của chữ ký).
#[derive(Debug, Clone)]
pub enum Timestamping {
    /// No TSA is configured: PAdES-B-B.
    NotConfigured,
    /// PAdES-B-T: the token was granted and checked.
    Stamped(tinhso_tsa::Stamp),
    /// The TSA was configured but failed (down, refused, a bad token, no room): issued as
    /// PAdES-B-B, and this is recorded.
    Failed(tinhso_tsa::TsaError),
}

/// The read `SignedData` of a CMS `ContentInfo` (trailing zero padding ignored).
fn read_signed_data(cms_der: &[u8]) -> Option<SignedData> {
    let mut reader = der::SliceReader::new(cms_der).ok()?;
    let ci = <ContentInfo as Decode>::decode(&mut reader).ok()?;
    if ci.content_type != ID_SIGNED_DATA {
        return None;
    }
    ci.content.decode_as::<SignedData>().ok()
}

/// SHA-256 of the (first) SignerInfo's signature value: the message imprint of its
/// signature time-stamp (RFC 3161 appendix A).
pub fn signature_imprint(cms_der: &[u8]) -> Result<[u8; 32], String> {
    let sd = read_signed_data(cms_der).ok_or("not a CMS SignedData")?;
    let si = sd.signer_infos.0.iter().next().ok_or("no SignerInfo")?;
    Ok(sha2::Sha256::digest(si.signature.as_bytes()).into())
}

/// The CMS with `token` (a DER `TimeStampToken`) as the unsigned attribute
/// id-aa-signatureTimeStampToken of its SignerInfo; what the signature covers is unchanged.
pub fn add_signature_timestamp(cms_der: &[u8], token: &[u8]) -> Result<Vec<u8>, String> {
    let mut sd = read_signed_data(cms_der).ok_or("not a CMS SignedData")?;
    let mut infos: Vec<SignerInfo> = sd.signer_infos.0.into_vec();
    let si = infos.first_mut().ok_or("no SignerInfo")?;
    let attr = attribute(ID_AA_SIGNATURE_TIME_STAMP_TOKEN, token).map_err(|e| e.to_string())?;
    let mut unsigned = SetOfVec::new();
    unsigned.insert(attr).map_err(|e| e.to_string())?;
    si.unsigned_attrs = Some(unsigned);
    sd.signer_infos =
        cms::signed_data::SignerInfos(SetOfVec::try_from(infos).map_err(|e| e.to_string())?);
    let ci = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(|e| e.to_string())?,
    };
    ci.to_der().map_err(|e| e.to_string())
}

/// The signature time-stamp token (DER) of the first SignerInfo of a CMS, if it has one.
pub fn signature_timestamp_token(cms_der: &[u8]) -> Option<Vec<u8>> {
    let sd = read_signed_data(cms_der)?;
    let si = sd.signer_infos.0.iter().next()?;
    si.unsigned_attrs
        .as_ref()?
        .iter()
        .find(|a| a.oid == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)?
        .values
        .iter()
        .next()?
        .to_der()
        .ok()
}

/// Sign a document like [`sign_pdf`] and, with a TSA, time-stamp the signature (PAdES-B-T).
/// A TSA that fails never stops the signing: the document is then PAdES-B-B and the failure
/// is returned as [`Timestamping::Failed`] for the caller to record.
pub async fn sign_pdf_timestamped(
    doc: tinhso_pdf::Document,
    id: &SigningIdentity,
    reason: &str,
    location: &str,
    at_unix_secs: u64,
    tsa: Option<&tinhso_tsa::TsaClient>,
) -> Result<(Vec<u8>, Timestamping), String> {
    let slot = slot(id, reason, location, at_unix_secs);
    let prepared = doc
        .finish_for_signing(&slot)
        .ok_or("signature placeholders not found")?;
    let cms = cms_sign(id, &prepared.parts(), at_unix_secs)?;
    let too_large = |(needed, capacity): (usize, usize)| {
        format!("the signature needs {needed} bytes, {capacity} were reserved")
    };
    let Some(tsa) = tsa else {
        let pdf = prepared.insert(&cms).map_err(too_large)?;
        return Ok((pdf, Timestamping::NotConfigured));
    };
    let stamped = match tsa.stamp_imprint(&signature_imprint(&cms)?).await {
        Ok((token, stamp)) => add_signature_timestamp(&cms, &token).map(|c| (c, stamp)),
        Err(e) => {
            tracing::warn!(tsa = %tsa.url(), code = e.code, error = %e,
                "PAdES: the TSA failed; the result is signed without a time-stamp (B-B)");
            let pdf = prepared.insert(&cms).map_err(too_large)?;
            return Ok((pdf, Timestamping::Failed(e)));
        }
    };
    match stamped {
        Ok((with_token, stamp)) if with_token.len() <= prepared.capacity() => {
            let pdf = prepared.insert(&with_token).map_err(too_large)?;
            Ok((pdf, Timestamping::Stamped(stamp)))
        }
        other => {
            let why = match other {
                Err(e) => e,
                Ok((c, _)) => format!("the time-stamped signature needs {} bytes", c.len()),
            };
            let pdf = prepared.insert(&cms).map_err(too_large)?;
            Ok((
                pdf,
                Timestamping::Failed(tinhso_tsa::TsaError {
                    code: "malformed",
                    vi: format!("không gắn được dấu thời gian vào chữ ký ({why})"),
                    en: format!("the time-stamp could not be added to the signature ({why})"),
                }),
            ))
        }
    }
}

// ---------------------------------------------------------------- verification

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of_digest_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        match *oid {
            ID_SHA256 => Some(Hash::Sha256),
            ID_SHA384 => Some(Hash::Sha384),
            ID_SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut h = D::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        }
        match self {
            Hash::Sha256 => run::<sha2::Sha256>(parts),
            Hash::Sha384 => run::<sha2::Sha384>(parts),
            Hash::Sha512 => run::<sha2::Sha512>(parts),
        }
    }
}

/// Check `signature` over `message` with a subject public key: ECDSA P-256 or RSA PKCS#1 v1.5,
/// the message hashed with `hash`.
fn verify_with(
    spki: &spki::SubjectPublicKeyInfoOwned,
    hash: Hash,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Ok(spki_der) = spki.to_der() else {
        return false;
    };
    let digest = hash.digest(&[message]);
    if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if curve != Some(SECP256R1) {
            return false;
        }
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        use spki::DecodePublicKey;
        let Ok(vk) = p256::ecdsa::VerifyingKey::from_public_key_der(&spki_der) else {
            return false;
        };
        let Ok(sig) = p256::ecdsa::Signature::from_der(signature) else {
            return false;
        };
        return vk.verify_prehash(&digest, &sig).is_ok();
    }
    if spki.algorithm.oid == RSA_ENCRYPTION {
        use spki::DecodePublicKey;
        let Ok(pk) = rsa::RsaPublicKey::from_public_key_der(&spki_der) else {
            return false;
        };
        let scheme = match hash {
            Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        };
        return pk.verify(scheme, &digest, signature).is_ok();
    }
    false
}

/// Is `c` a root: self-issued and signed by its own key?
pub fn is_self_signed(c: &Certificate) -> bool {
    c.tbs_certificate.issuer == c.tbs_certificate.subject && cert_signed_by(c, c)
}

/// Is `child` signed by `parent`'s key?
fn cert_signed_by(child: &Certificate, parent: &Certificate) -> bool {
    let Ok(tbs) = child.tbs_certificate.to_der() else {
        return false;
    };
    let Some(sig) = child.signature.as_bytes() else {
        return false;
    };
    issuer_signed(parent, &child.signature_algorithm.oid, &tbs, sig)
}

/// Is `signature`, by the algorithm `alg` (ECDSA P-256 or RSA PKCS#1 v1.5 with SHA-256/384/512),
/// over `tbs` made with `issuer`'s key? For certificates and CRLs.
pub(crate) fn issuer_signed(
    issuer: &Certificate,
    alg: &ObjectIdentifier,
    tbs: &[u8],
    signature: &[u8],
) -> bool {
    let hash = match *alg {
        ECDSA_SHA256 | RSA_SHA256 => Hash::Sha256,
        ECDSA_SHA384 | RSA_SHA384 => Hash::Sha384,
        ECDSA_SHA512 | RSA_SHA512 => Hash::Sha512,
        _ => return false,
    };
    verify_with(
        &issuer.tbs_certificate.subject_public_key_info,
        hash,
        tbs,
        signature,
    )
}

/// The certificate that issued `cert`: in `pool` (the CMS bag) or among `anchors`, its name
/// and signature checked.
fn issuer_of(
    cert: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
) -> Option<Certificate> {
    pool.iter()
        .chain(anchors.iter())
        .find(|c| {
            c.tbs_certificate.subject == cert.tbs_certificate.issuer && cert_signed_by(cert, c)
        })
        .cloned()
}

/// Does `leaf` chain to one of `anchors` through `pool` (at most six links)?
fn chains_to(leaf: &Certificate, pool: &[Certificate], anchors: &[Certificate]) -> bool {
    let mut current = leaf.clone();
    for _ in 0..6 {
        if anchors.iter().any(|a| a == &current) {
            return true;
        }
        if anchors.iter().any(|a| {
            a.tbs_certificate.subject == current.tbs_certificate.issuer
                && cert_signed_by(&current, a)
        }) {
            return true;
        }
        let Some(next) = pool.iter().find(|c| {
            *c != &current
                && c.tbs_certificate.subject == current.tbs_certificate.issuer
                && cert_signed_by(&current, c)
        }) else {
            return false;
        };
        current = next.clone();
    }
    false
}

/// The verdict on a PDF's embedded signature (kết quả kiểm tra chữ ký PAdES).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct PadesReport {
    /// Everything below holds: a valid signature of the whole file by a trusted certificate
    /// that was valid when it signed.
    pub valid: bool,
    /// The PDF carries a signature dictionary with a byte range.
    pub present: bool,
    /// The byte range covers the whole file except the signature value.
    pub covers_whole_file: bool,
    /// The digest of the byte range matches the signed messageDigest.
    pub digest_ok: bool,
    /// The CMS signature over the signed attributes is valid for the signer's certificate.
    pub signature_ok: bool,
    /// The signer's certificate chains to a trusted root (danh sách tin cậy).
    pub trusted: bool,
    /// The certificate was within its validity when it signed.
    pub certificate_valid_at_signing: bool,
    pub signer: Option<CertInfo>,
    /// signingTime (microseconds since the epoch).
    pub signing_time: Option<i64>,
    /// The signature time-stamp (PAdES-B-T), when the signature carries one.
    pub timestamp: Option<TimestampReport>,
    /// The signer certificate against the CRLs known.
    pub revocation: RevocationReport,
    /// What is wrong, in Vietnamese and English.
    pub problems: Vec<(String, String)>,
}

/// The signature time-stamp token of a signature (dấu thời gian của chữ ký, PAdES-B-T).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct TimestampReport {
    /// The token is intact, over this signature's value, signed by a trusted TSA.
    pub valid: bool,
    /// genTime (microseconds since the epoch) — as the token says, even when not valid.
    pub time: Option<i64>,
    /// The TSA (its certificate's subject), as the token says.
    pub tsa: Option<String>,
    /// The token's serial number, hex (when valid).
    pub serial: Option<String>,
    /// Why it is not valid, Vietnamese and English.
    pub problem: Option<(String, String)>,
}

/// The signer certificate's revocation status (tình trạng thu hồi chứng thư).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct RevocationReport {
    /// A CRL of the certificate's issuer, signed by it, was found and read.
    pub checked: bool,
    /// When the certificate was revoked (microseconds), if the CRL lists it.
    pub revoked_at: Option<i64>,
    /// The CRL used: thisUpdate and nextUpdate (microseconds).
    pub crl_this_update: Option<i64>,
    pub crl_next_update: Option<i64>,
    /// Revoked, but a valid time-stamp proves the signature existed before: still valid.
    pub signed_before_revocation: bool,
}

/// What a verification trusts and knows besides the signer roots.
#[derive(Debug, Clone, Default)]
pub struct VerifyContext {
    /// Trust anchors of signer certificates (the PAdES trust list).
    pub anchors: Vec<Certificate>,
    /// Trusted TSA certificates (`[pades] tsa_certificate`); the anchors are trusted for
    /// time-stamps too (a TSA certified by the same national root).
    pub tsa_trust: tinhso_tsa::TrustedTsa,
    /// The CRLs known ([`crate::revocation`]).
    pub crls: Vec<crate::revocation::Crl>,
}

/// A time in Vietnam (UTC+7) as people read it: `14:05:09 ngày 30/11/2026`.
pub fn local_time_text(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros + 7 * 3_600_000_000)
        .map(|d| d.format("%H:%M:%S ngày %d/%m/%Y").to_string())
        .unwrap_or_default()
}

impl PadesReport {
    fn problem(&mut self, vi: &str, en: &str) {
        self.problems.push((vi.to_string(), en.to_string()));
    }
}

/// Check the last signature of `pdf` against the trust anchors (see the module docs), without
/// time-stamp trust or CRLs beyond the anchors.
pub fn verify_pdf(pdf: &[u8], anchors: &[Certificate]) -> PadesReport {
    verify_pdf_with(
        pdf,
        &VerifyContext {
            anchors: anchors.to_vec(),
            ..VerifyContext::default()
        },
    )
}

/// Check the last signature of `pdf` (see the module docs): also its time-stamp and the
/// signer certificate's revocation.
pub fn verify_pdf_with(pdf: &[u8], ctx: &VerifyContext) -> PadesReport {
    let anchors = ctx.anchors.as_slice();
    let mut r = PadesReport::default();
    let Some(parts) = tinhso_pdf::sign::signed_parts(pdf) else {
        r.problem(
            "Tệp không có chữ ký số PAdES",
            "The file carries no PAdES signature",
        );
        return r;
    };
    r.present = true;
    r.covers_whole_file = parts.covers_whole_file;
    if !parts.covers_whole_file {
        r.problem(
            "Chữ ký không bao trùm toàn bộ tệp (tệp đã bị sửa hoặc thêm nội dung sau khi ký)",
            "The signature does not cover the whole file (it was changed or extended after signing)",
        );
    }
    check_cms(&mut r, pdf, &parts, anchors, ctx);
    r.valid = r.present
        && r.covers_whole_file
        && r.digest_ok
        && r.signature_ok
        && r.trusted
        && r.certificate_valid_at_signing
        && r.problems.is_empty();
    r
}

fn check_cms(
    r: &mut PadesReport,
    pdf: &[u8],
    parts: &tinhso_pdf::sign::SignedParts,
    anchors: &[Certificate],
    ctx: &VerifyContext,
) {
    // The hex string is zero-padded: read one DER value and ignore what follows.
    let ci = {
        let Ok(mut reader) = der::SliceReader::new(&parts.contents) else {
            r.problem("Chữ ký không đọc được", "The signature cannot be read");
            return;
        };
        match <ContentInfo as Decode>::decode(&mut reader) {
            Ok(ci) => ci,
            Err(_) => {
                r.problem(
                    "Chữ ký không phải là CMS hợp lệ",
                    "The signature is not valid CMS",
                );
                return;
            }
        }
    };
    if ci.content_type != ID_SIGNED_DATA {
        r.problem(
            "Chữ ký không phải SignedData",
            "The signature is not SignedData",
        );
        return;
    }
    let Ok(sd) = ci.content.decode_as::<SignedData>() else {
        r.problem(
            "Chữ ký không phải là CMS hợp lệ",
            "The signature is not valid CMS",
        );
        return;
    };
    let certs: Vec<Certificate> = sd
        .certificates
        .as_ref()
        .map(|s| {
            s.0.iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(c) => Some(c.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(si) = sd.signer_infos.0.iter().next() else {
        r.problem("Chữ ký không có người ký", "The signature has no signer");
        return;
    };
    let Some(cert) = signer_cert(si, &certs) else {
        r.problem(
            "Không tìm thấy chứng thư của người ký trong chữ ký",
            "The signer's certificate is not in the signature",
        );
        return;
    };
    r.signer = Some(cert_info(&cert));
    let Some(hash) = Hash::of_digest_oid(&si.digest_alg.oid) else {
        r.problem(
            "Thuật toán băm không được hỗ trợ",
            "Unsupported digest algorithm",
        );
        return;
    };
    let Some(attrs) = &si.signed_attrs else {
        r.problem(
            "Chữ ký thiếu các thuộc tính được ký (PAdES bắt buộc)",
            "The signature has no signed attributes (PAdES requires them)",
        );
        return;
    };
    let value_of = |oid: ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let claimed = value_of(ID_MESSAGE_DIGEST).and_then(|v| v.decode_as::<OctetString>().ok());
    r.signing_time = value_of(ID_SIGNING_TIME).and_then(|v| {
        v.to_der()
            .ok()
            .and_then(|d| x509_cert::time::Time::from_der(&d).ok())
            .map(|t| time_micros(&t))
    });
    if let Some(ranges) = parts.ranges(pdf) {
        let actual = hash.digest(&ranges);
        r.digest_ok = claimed.is_some_and(|c| c.as_bytes() == actual.as_slice());
    }
    if !r.digest_ok {
        r.problem(
            "Nội dung tệp không khớp với nội dung đã ký (tệp đã bị sửa)",
            "The file's content does not match what was signed (it was altered)",
        );
    }
    r.signature_ok = attrs.to_der().is_ok_and(|der| {
        verify_with(
            &cert.tbs_certificate.subject_public_key_info,
            hash,
            &der,
            si.signature.as_bytes(),
        )
    });
    if !r.signature_ok {
        r.problem("Chữ ký số không hợp lệ", "The signature is invalid");
    }
    r.trusted = chains_to(&cert, &certs, anchors);
    if !r.trusted {
        r.problem(
            "Chứng thư của người ký không thuộc danh sách tin cậy",
            "The signer's certificate does not chain to a trusted root",
        );
    }
    let at = r.signing_time.unwrap_or_else(tinhso_store::now_micros);
    let info = cert_info(&cert);
    r.certificate_valid_at_signing = info.not_before <= at && at <= info.not_after;
    if !r.certificate_valid_at_signing {
        r.problem(
            "Chứng thư số không còn hiệu lực tại thời điểm ký",
            "The certificate was not valid at the time of signing",
        );
    }
    // The signature time-stamp (PAdES-B-T): over the signature value, by a trusted TSA.
    if let Some(token) = signature_timestamp_token(&parts.contents) {
        let t = check_timestamp(&token, si.signature.as_bytes(), anchors, ctx);
        if let Some((vi, en)) = &t.problem {
            r.problem(
                &format!("Dấu thời gian của chữ ký không hợp lệ: {vi}"),
                &format!("The signature's time-stamp is not valid: {en}"),
            );
        }
        r.timestamp = Some(t);
    }
    // Revocation: the newest CRL of the issuer, signed by it.
    let crl = issuer_of(&cert, &certs, anchors).and_then(|issuer| {
        ctx.crls
            .iter()
            .filter(|c| c.signed_by(&issuer))
            .max_by_key(|c| c.this_update)
    });
    if let Some(crl) = crl {
        r.revocation.checked = true;
        r.revocation.crl_this_update = Some(crl.this_update);
        r.revocation.crl_next_update = crl.next_update;
        if let Some(revoked) = crl.revoked_at(&cert.tbs_certificate.serial_number) {
            r.revocation.revoked_at = Some(revoked);
            let proven = r
                .timestamp
                .as_ref()
                .filter(|t| t.valid)
                .and_then(|t| t.time);
            match proven {
                Some(t) if t < revoked => r.revocation.signed_before_revocation = true,
                _ => {
                    let when = local_time_text(revoked);
                    r.problem(
                        &format!(
                            "Chứng thư số đã bị thu hồi lúc {when} (UTC+7); không có dấu thời gian hợp lệ chứng minh chữ ký có trước thời điểm đó"
                        ),
                        &format!(
                            "The certificate was revoked at {when} (UTC+7); no valid time-stamp proves the signature was made before"
                        ),
                    );
                }
            }
        }
    }
}

/// The signer certificate of the last signature of `pdf` and the certificate that issued it
/// (in the CMS bag or among `anchors`), for fetching its CRL; nothing is verified here.
pub fn signer_and_issuer(
    pdf: &[u8],
    anchors: &[Certificate],
) -> Option<(Certificate, Certificate)> {
    let parts = tinhso_pdf::sign::signed_parts(pdf)?;
    let sd = read_signed_data(&parts.contents)?;
    let certs: Vec<Certificate> = sd
        .certificates
        .as_ref()?
        .0
        .iter()
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let si = sd.signer_infos.0.iter().next()?;
    let leaf = signer_cert(si, &certs)?;
    let issuer = issuer_of(&leaf, &certs, anchors)?;
    Some((leaf, issuer))
}

/// Check a signature time-stamp token against the signature value it must cover.
fn check_timestamp(
    token: &[u8],
    signature_value: &[u8],
    anchors: &[Certificate],
    ctx: &VerifyContext,
) -> TimestampReport {
    let imprint: [u8; 32] = sha2::Sha256::digest(signature_value).into();
    let trust = ctx.tsa_trust.clone().with(anchors.iter().cloned());
    match tinhso_tsa::verify_token(token, &imprint, None, &trust) {
        Ok(stamp) => TimestampReport {
            valid: true,
            time: Some(stamp.gen_time),
            tsa: Some(stamp.tsa_name),
            serial: Some(stamp.serial),
            problem: None,
        },
        Err(e) => {
            let said = tinhso_tsa::read_unverified(token);
            TimestampReport {
                valid: false,
                time: said.as_ref().map(|s| s.0),
                tsa: said.and_then(|s| s.1),
                serial: None,
                problem: Some((e.vi, e.en)),
            }
        }
    }
}

fn signer_cert(si: &SignerInfo, certs: &[Certificate]) -> Option<Certificate> {
    match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => certs
            .iter()
            .find(|c| {
                c.tbs_certificate.issuer == ias.issuer
                    && c.tbs_certificate.serial_number == ias.serial_number
            })
            .cloned(),
        SignerIdentifier::SubjectKeyIdentifier(ski) => certs
            .iter()
            .find(|c| {
                c.tbs_certificate
                    .get::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
                    .ok()
                    .flatten()
                    .is_some_and(|(_, k)| k == *ski)
            })
            .cloned(),
    }
}
