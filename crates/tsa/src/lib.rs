//! Time-stamps (dấu thời gian) from a time-stamp authority (TSA, đơn vị cấp dấu thời gian), by
//! the Time-Stamp Protocol of RFC 3161, with the
//! `SigningCertificateV2` attribute of RFC 5816 (the RFC 2634 `SigningCertificate` with SHA-1
//! is accepted too).
//!
//! Shared by the exchange hub (its log's anchors: the imprint is the SHA-256 of the anchor
//! text, [`TsaClient::stamp`]) and the PAdES-B-T signatures of electronic results in
//! `tinhso-services` (the imprint is the SHA-256 of the CMS signature value,
//! [`TsaClient::stamp_imprint`]); it sits below both so neither depends on the other.
//!
//! The client ([`TsaClient`]) sends a `TimeStampReq` (version 1, a SHA-256 message imprint, a random nonce, `certReq` true) as `application/timestamp-query` and
//! reads an `application/timestamp-reply`. A token is accepted ([`verify_token`]) only when:
//! the status is granted; the token is CMS `SignedData` over an `id-ct-TSTInfo`; the
//! `TSTInfo` carries the same imprint (and, when asking, the same nonce); the one signer's
//! signed attributes name that content type and hold its digest (`messageDigest`) and the
//! signer's certificate hash (`SigningCertificateV2`/`SigningCertificate`); the signature
//! (RSA PKCS#1 v1.5 or ECDSA P-256, with SHA-256/384/512) holds with the signer's
//! certificate; that certificate is for time-stamping (extended key usage), valid at
//! `genTime`, and either one of the configured trusted certificates (pinned) or issued by one
//! of them (its signature checked).
//!
//! The tests run against a simulator on loopback ([`testing`], feature `testing`) and against
//! tokens made by `openssl ts -reply`; no real TSA (Vietnamese or other) was reached from here.

use const_oid::ObjectIdentifier;
use der::asn1::{Any, Int, OctetString};
use der::{Decode, Encode, Sequence, Tagged};
use sha2::Digest;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::Certificate;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

#[cfg(feature = "testing")]
pub mod testing;

/// Object identifiers this module reads.
pub mod oid {
    use const_oid::ObjectIdentifier as O;
    pub const SIGNED_DATA: O = O::new_unwrap("1.2.840.113549.1.7.2");
    pub const CT_TST_INFO: O = O::new_unwrap("1.2.840.113549.1.9.16.1.4");
    pub const CONTENT_TYPE: O = O::new_unwrap("1.2.840.113549.1.9.3");
    pub const MESSAGE_DIGEST: O = O::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_TIME: O = O::new_unwrap("1.2.840.113549.1.9.5");
    pub const SIGNING_CERTIFICATE: O = O::new_unwrap("1.2.840.113549.1.9.16.2.12");
    pub const SIGNING_CERTIFICATE_V2: O = O::new_unwrap("1.2.840.113549.1.9.16.2.47");
    pub const SHA1: O = O::new_unwrap("1.3.14.3.2.26");
    pub const SHA256: O = O::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: O = O::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: O = O::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const RSA_ENCRYPTION: O = O::new_unwrap("1.2.840.113549.1.1.1");
    pub const SHA256_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.13");
    pub const EC_PUBLIC_KEY: O = O::new_unwrap("1.2.840.10045.2.1");
    pub const P256: O = O::new_unwrap("1.2.840.10045.3.1.7");
    pub const ECDSA_SHA256: O = O::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: O = O::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: O = O::new_unwrap("1.2.840.10045.4.3.4");
    pub const KP_TIME_STAMPING: O = O::new_unwrap("1.3.6.1.5.5.7.3.8");
    pub const EXT_KEY_USAGE: O = O::new_unwrap("2.5.29.37");
    pub const SUBJECT_KEY_ID: O = O::new_unwrap("2.5.29.14");
}

/// Why a time-stamp was refused (từ chối dấu thời gian); the text is Vietnamese / English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{vi} / {en}")]
pub struct TsaError {
    /// A short stable code: `transport`, `http`, `malformed`, `rejected`, `imprint`, `nonce`,
    /// `signature`, `certificate`, `untrusted`, `unsupported`, `config`.
    pub code: &'static str,
    pub vi: String,
    pub en: String,
}

fn err(code: &'static str, vi: impl Into<String>, en: impl Into<String>) -> TsaError {
    TsaError {
        code,
        vi: vi.into(),
        en: en.into(),
    }
}

fn malformed(what: &str, e: impl std::fmt::Display) -> TsaError {
    err(
        "malformed",
        format!("dấu thời gian hỏng: {what} không đọc được ({e})"),
        format!("malformed time-stamp: cannot read {what} ({e})"),
    )
}

/// The certificates a token's signer must be, or be issued by (chứng thư số tin cậy của TSA).
#[derive(Debug, Clone, Default)]
pub struct TrustedTsa {
    certs: Vec<Certificate>,
}

impl TrustedTsa {
    /// From PEM text holding one or more `CERTIFICATE` blocks.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TsaError> {
        let certs = Certificate::load_pem_chain(pem).map_err(|e| {
            err(
                "config",
                format!("tệp chứng thư TSA không phải PEM CERTIFICATE hợp lệ ({e})"),
                format!("the TSA certificate file is not valid PEM CERTIFICATE text ({e})"),
            )
        })?;
        if certs.is_empty() {
            return Err(err(
                "config",
                "tệp chứng thư TSA không có chứng thư nào",
                "the TSA certificate file holds no certificate",
            ));
        }
        Ok(Self { certs })
    }

    /// From DER certificates.
    pub fn from_der_certs(ders: &[Vec<u8>]) -> Result<Self, TsaError> {
        let certs = ders
            .iter()
            .map(|d| Certificate::from_der(d).map_err(|e| malformed("certificate", e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { certs })
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// These certificates and `more` (e.g. the configured TSA certificate and the PAdES trust
    /// anchors, when the TSA is certified by the same national root).
    pub fn with(mut self, more: impl IntoIterator<Item = Certificate>) -> Self {
        for c in more {
            if !self.certs.contains(&c) {
                self.certs.push(c);
            }
        }
        self
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Stamp {
    /// `genTime` as Unix microseconds.
    pub gen_time: i64,
    /// The signer's certificate subject (e.g. `CN=…,O=…,C=VN`).
    pub tsa_name: String,
    /// The TSA's serial number of the token, hex.
    pub serial: String,
    /// The TSA's policy OID.
    pub policy: String,
}

/// `TSTInfo` (RFC 3161 §2.4.2), read here rather than with `x509_tsp::TstInfo` because
/// `genTime` may carry fractions of a second, which `der`'s `GeneralizedTime` refuses.
#[derive(Clone, Debug, Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<x509_cert::ext::Extensions>,
}

/// `ESSCertIDv2` (RFC 5035); `hashAlgorithm` absent means SHA-256.
#[derive(Clone, Debug, Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<spki::AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// `SigningCertificateV2` (RFC 5035 / RFC 5816).
#[derive(Clone, Debug, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// `ESSCertID` (RFC 2634): a SHA-1 hash.
#[derive(Clone, Debug, Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// `SigningCertificate` (RFC 2634).
#[derive(Clone, Debug, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// SHA-256 of the anchor text: the message imprint sent to the TSA.
pub fn imprint(text: &str) -> [u8; 32] {
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// A random positive 63-bit nonce as an ASN.1 INTEGER.
pub fn new_nonce() -> Result<Int, TsaError> {
    let n: u64 = rand::random::<u64>() >> 1 | 1;
    let der = n.to_der().map_err(|e| malformed("nonce", e))?;
    Int::from_der(&der).map_err(|e| malformed("nonce", e))
}

fn sha256_alg() -> spki::AlgorithmIdentifier<Any> {
    spki::AlgorithmIdentifier {
        oid: oid::SHA256,
        parameters: Some(Any::null()),
    }
}

/// The DER `TimeStampReq` for `imprint` (SHA-256) and `nonce`, asking for the certificate.
pub fn request_der(imprint: &[u8; 32], nonce: &Int) -> Result<Vec<u8>, TsaError> {
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: sha256_alg(),
            hashed_message: OctetString::new(imprint.to_vec())
                .map_err(|e| malformed("imprint", e))?,
        },
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(|e| malformed("TimeStampReq", e))
}

/// Reads a `TimeStampResp`: the status must be granted (with or without modifications) and a
/// token present; the token is then checked by [`verify_token`] with `nonce`. Returns the
/// token (DER) and what it says.
pub fn check_response(
    resp: &[u8],
    imprint: &[u8; 32],
    nonce: &Int,
    trust: &TrustedTsa,
) -> Result<(Vec<u8>, Stamp), TsaError> {
    let r = TimeStampResp::from_der(resp).map_err(|e| malformed("TimeStampResp", e))?;
    use cmpv2::status::PkiStatus;
    match r.status.status {
        PkiStatus::Accepted | PkiStatus::GrantedWithMods => {}
        other => {
            let text = r
                .status
                .status_string
                .as_ref()
                .map(|s| {
                    s.iter()
                        .map(|t| t.as_str().to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            return Err(err(
                "rejected",
                format!("TSA từ chối yêu cầu (trạng thái {other:?}) {text}"),
                format!("the TSA refused the request (status {other:?}) {text}"),
            ));
        }
    }
    let token = r.time_stamp_token.ok_or_else(|| {
        err(
            "malformed",
            "TSA báo đã cấp nhưng không gửi dấu thời gian",
            "the TSA granted the request but sent no token",
        )
    })?;
    let der = token.to_der().map_err(|e| malformed("TimeStampToken", e))?;
    let stamp = verify_token(&der, imprint, Some(nonce), trust)?;
    Ok((der, stamp))
}

/// Parses `YYYYMMDDHHMMSS[.fff…]Z` into Unix microseconds.
fn generalized_time_micros(t: &Any) -> Result<i64, TsaError> {
    if t.tag() != der::Tag::GeneralizedTime {
        return Err(malformed("genTime", "not a GeneralizedTime"));
    }
    let s = std::str::from_utf8(t.value()).map_err(|e| malformed("genTime", e))?;
    let body = s
        .strip_suffix('Z')
        .ok_or_else(|| malformed("genTime", "not in UTC (no Z)"))?;
    let (whole, frac) = match body.split_once('.') {
        Some((w, f)) => (w, f),
        None => (body, ""),
    };
    if whole.len() != 14
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (body.contains('.') && frac.is_empty())
    {
        return Err(malformed("genTime", s));
    }
    let dt = chrono::NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S")
        .map_err(|e| malformed("genTime", e))?;
    let mut micros: i64 = 0;
    for (i, c) in frac.bytes().take(6).enumerate() {
        micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
    }
    Ok(dt.and_utc().timestamp() * 1_000_000 + micros)
}

/// The digest of `data` by the algorithm `alg`, if supported.
fn digest(alg: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    match *alg {
        oid::SHA256 => Some(sha2::Sha256::digest(data).to_vec()),
        oid::SHA384 => Some(sha2::Sha384::digest(data).to_vec()),
        oid::SHA512 => Some(sha2::Sha512::digest(data).to_vec()),
        _ => None,
    }
}

fn bad_signature(what: &str) -> TsaError {
    err(
        "signature",
        format!("chữ ký {what} không hợp lệ"),
        format!("the {what} signature does not verify"),
    )
}

/// Verifies `signature` over `data` with the key of `spki`: RSA PKCS#1 v1.5 or ECDSA P-256,
/// `hash` naming the digest (SHA-256/384/512) and `sig_alg` the signature algorithm.
fn verify_signature(
    spki: &spki::SubjectPublicKeyInfoOwned,
    sig_alg: &ObjectIdentifier,
    hash: &ObjectIdentifier,
    data: &[u8],
    signature: &[u8],
    what: &str,
) -> Result<(), TsaError> {
    let unsupported = |detail: String| {
        err(
            "unsupported",
            format!("thuật toán chữ ký {what} chưa hỗ trợ: {detail}"),
            format!("unsupported {what} signature algorithm: {detail}"),
        )
    };
    let hashed = digest(hash, data).ok_or_else(|| unsupported(format!("digest {hash}")))?;
    match spki.algorithm.oid {
        oid::RSA_ENCRYPTION => {
            let expected = match *hash {
                oid::SHA256 => oid::SHA256_WITH_RSA,
                oid::SHA384 => oid::SHA384_WITH_RSA,
                _ => oid::SHA512_WITH_RSA,
            };
            if *sig_alg != oid::RSA_ENCRYPTION && *sig_alg != expected {
                return Err(unsupported(format!("{sig_alg} with an RSA key")));
            }
            use rsa::pkcs8::DecodePublicKey;
            let der = spki.to_der().map_err(|e| malformed("RSA key", e))?;
            let key = rsa::RsaPublicKey::from_public_key_der(&der)
                .map_err(|e| malformed("RSA key", e))?;
            let scheme = match *hash {
                oid::SHA256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                oid::SHA384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            };
            key.verify(scheme, &hashed, signature)
                .map_err(|_| bad_signature(what))
        }
        oid::EC_PUBLIC_KEY => {
            let curve: Option<ObjectIdentifier> = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as().ok());
            if curve != Some(oid::P256) {
                return Err(unsupported("an elliptic curve other than P-256".into()));
            }
            let ok_alg = matches!(
                (*sig_alg, *hash),
                (oid::ECDSA_SHA256, oid::SHA256)
                    | (oid::ECDSA_SHA384, oid::SHA384)
                    | (oid::ECDSA_SHA512, oid::SHA512)
            ) || *sig_alg == oid::EC_PUBLIC_KEY;
            if !ok_alg {
                return Err(unsupported(format!("{sig_alg} with a P-256 key")));
            }
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let key =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
                    .map_err(|e| malformed("P-256 key", e))?;
            let sig =
                p256::ecdsa::Signature::from_der(signature).map_err(|_| bad_signature(what))?;
            key.verify_prehash(&hashed, &sig)
                .map_err(|_| bad_signature(what))
        }
        other => Err(unsupported(format!("key type {other}"))),
    }
}

/// The digest named by a certificate's signature algorithm.
fn cert_sig_hash(alg: &ObjectIdentifier) -> Option<ObjectIdentifier> {
    match *alg {
        oid::SHA256_WITH_RSA | oid::ECDSA_SHA256 => Some(oid::SHA256),
        oid::SHA384_WITH_RSA | oid::ECDSA_SHA384 => Some(oid::SHA384),
        oid::SHA512_WITH_RSA | oid::ECDSA_SHA512 => Some(oid::SHA512),
        _ => None,
    }
}

/// `signer` is trusted: the same certificate as a trusted one, or issued by one (name and
/// signature).
fn check_trust(
    signer: &Certificate,
    signer_der: &[u8],
    trust: &TrustedTsa,
) -> Result<(), TsaError> {
    for t in &trust.certs {
        if t.to_der().is_ok_and(|d| d == signer_der) {
            return Ok(());
        }
    }
    for t in &trust.certs {
        if t.tbs_certificate.subject != signer.tbs_certificate.issuer {
            continue;
        }
        let alg = signer.signature_algorithm.oid;
        let Some(hash) = cert_sig_hash(&alg) else {
            continue;
        };
        let Some(sig) = signer.signature.as_bytes() else {
            continue;
        };
        let Ok(tbs) = signer.tbs_certificate.to_der() else {
            continue;
        };
        if verify_signature(
            &t.tbs_certificate.subject_public_key_info,
            &alg,
            &hash,
            &tbs,
            sig,
            "certificate",
        )
        .is_ok()
        {
            return Ok(());
        }
    }
    Err(err(
        "untrusted",
        format!(
            "chứng thư của TSA ({}) không phải chứng thư tin cậy đã cấu hình, cũng không do chứng thư đó cấp",
            signer.tbs_certificate.subject
        ),
        format!(
            "the TSA certificate ({}) is neither a configured trusted certificate nor issued by one",
            signer.tbs_certificate.subject
        ),
    ))
}

/// Checks a `TimeStampToken` (DER): see the module documentation. `imprint` is the SHA-256
/// the token must carry; `nonce`, when given, the nonce it must carry.
pub fn verify_token(
    token: &[u8],
    imprint: &[u8; 32],
    nonce: Option<&Int>,
    trust: &TrustedTsa,
) -> Result<Stamp, TsaError> {
    if trust.is_empty() {
        return Err(err(
            "config",
            "chưa cấu hình chứng thư tin cậy của TSA (tsa_certificate)",
            "no trusted TSA certificate is configured (tsa_certificate)",
        ));
    }
    let ci =
        cms::content_info::ContentInfo::from_der(token).map_err(|e| malformed("ContentInfo", e))?;
    if ci.content_type != oid::SIGNED_DATA {
        return Err(malformed("ContentInfo", "not SignedData"));
    }
    let sd: cms::signed_data::SignedData = ci
        .content
        .decode_as()
        .map_err(|e| malformed("SignedData", e))?;
    if sd.encap_content_info.econtent_type != oid::CT_TST_INFO {
        return Err(malformed("SignedData", "the content is not a TSTInfo"));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("SignedData", "no encapsulated TSTInfo"))?;
    if econtent.tag() != der::Tag::OctetString {
        return Err(malformed(
            "SignedData",
            "the TSTInfo is not an OCTET STRING",
        ));
    }
    let tst_der = econtent.value();
    let tst = TstInfo::from_der(tst_der).map_err(|e| malformed("TSTInfo", e))?;
    if tst.message_imprint.hash_algorithm.oid != oid::SHA256
        || tst.message_imprint.hashed_message.as_bytes() != imprint
    {
        return Err(err(
            "imprint",
            "dấu thời gian được cấp cho một nội dung khác (message imprint không khớp đầu chuỗi đã neo)",
            "the time-stamp is for other content (its message imprint does not match the anchored head)",
        ));
    }
    if let Some(n) = nonce {
        if tst.nonce.as_ref() != Some(n) {
            return Err(err(
                "nonce",
                "nonce trong dấu thời gian khác nonce đã gửi (có thể là câu trả lời phát lại)",
                "the token's nonce differs from the one sent (possibly a replayed answer)",
            ));
        }
    }
    let gen_time = generalized_time_micros(&tst.gen_time)?;
    let mut signers = sd.signer_infos.0.iter();
    let (Some(si), None) = (signers.next(), signers.next()) else {
        return Err(malformed(
            "SignerInfos",
            "a time-stamp has exactly one signer",
        ));
    };
    // The signer's certificate: in the token (certReq) or among the trusted ones.
    let mut candidates: Vec<&Certificate> = Vec::new();
    if let Some(set) = &sd.certificates {
        for c in set.0.iter() {
            if let cms::cert::CertificateChoices::Certificate(c) = c {
                candidates.push(c);
            }
        }
    }
    candidates.extend(trust.certs.iter());
    let signer = candidates
        .into_iter()
        .find(|c| match &si.sid {
            cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(is) => {
                c.tbs_certificate.issuer == is.issuer
                    && c.tbs_certificate.serial_number == is.serial_number
            }
            cms::signed_data::SignerIdentifier::SubjectKeyIdentifier(ski) => c
                .tbs_certificate
                .get::<SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .is_some_and(|(_, k)| k == *ski),
        })
        .ok_or_else(|| {
            err(
                "certificate",
                "không tìm thấy chứng thư của bên ký dấu thời gian",
                "the time-stamp signer's certificate is not in the token nor trusted",
            )
        })?;
    let signer_der = signer.to_der().map_err(|e| malformed("certificate", e))?;
    // Signed attributes: content type, digest of the TSTInfo, the signer's certificate hash.
    let attrs = si.signed_attrs.as_ref().ok_or_else(|| {
        malformed(
            "SignerInfo",
            "no signed attributes (RFC 3161 requires them)",
        )
    })?;
    let attr = |o: ObjectIdentifier| -> Result<Option<&Any>, TsaError> {
        match attrs.iter().find(|a| a.oid == o) {
            None => Ok(None),
            Some(a) if a.values.len() == 1 => Ok(a.values.iter().next()),
            Some(_) => Err(malformed(
                "signed attributes",
                format!("{o} must have one value"),
            )),
        }
    };
    let ct: ObjectIdentifier = attr(oid::CONTENT_TYPE)?
        .ok_or_else(|| malformed("signed attributes", "no content-type"))?
        .decode_as()
        .map_err(|e| malformed("content-type", e))?;
    if ct != oid::CT_TST_INFO {
        return Err(malformed(
            "signed attributes",
            "content-type is not id-ct-TSTInfo",
        ));
    }
    let hash_alg = si.digest_alg.oid;
    let tst_digest = digest(&hash_alg, tst_der).ok_or_else(|| {
        err(
            "unsupported",
            format!("thuật toán băm chưa hỗ trợ: {hash_alg}"),
            format!("unsupported digest algorithm: {hash_alg}"),
        )
    })?;
    let md: OctetString = attr(oid::MESSAGE_DIGEST)?
        .ok_or_else(|| malformed("signed attributes", "no message-digest"))?
        .decode_as()
        .map_err(|e| malformed("message-digest", e))?;
    if md.as_bytes() != tst_digest.as_slice() {
        return Err(err(
            "signature",
            "message-digest trong thuộc tính đã ký không khớp TSTInfo: nội dung dấu thời gian đã bị sửa",
            "the signed message-digest does not match the TSTInfo: the token's content was altered",
        ));
    }
    let cert_bound = if let Some(v2) = attr(oid::SIGNING_CERTIFICATE_V2)? {
        let sc: SigningCertificateV2 = v2
            .decode_as()
            .map_err(|e| malformed("SigningCertificateV2", e))?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| malformed("SigningCertificateV2", "empty"))?;
        let alg = first
            .hash_algorithm
            .as_ref()
            .map(|a| a.oid)
            .unwrap_or(oid::SHA256);
        digest(&alg, &signer_der).is_some_and(|h| h == first.cert_hash.as_bytes())
    } else if let Some(v1) = attr(oid::SIGNING_CERTIFICATE)? {
        let sc: SigningCertificate = v1
            .decode_as()
            .map_err(|e| malformed("SigningCertificate", e))?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| malformed("SigningCertificate", "empty"))?;
        sha1::Sha1::digest(&signer_der).as_slice() == first.cert_hash.as_bytes()
    } else {
        return Err(malformed(
            "signed attributes",
            "no SigningCertificate(V2) (RFC 3161 §2.4.1, RFC 5816)",
        ));
    };
    if !cert_bound {
        return Err(err(
            "certificate",
            "thuộc tính SigningCertificate không khớp chứng thư của bên ký",
            "the SigningCertificate attribute does not match the signer's certificate",
        ));
    }
    // The signature over the DER of the signed attributes (a SET OF).
    let signed = attrs
        .to_der()
        .map_err(|e| malformed("signed attributes", e))?;
    verify_signature(
        &signer.tbs_certificate.subject_public_key_info,
        &si.signature_algorithm.oid,
        &hash_alg,
        &signed,
        si.signature.as_bytes(),
        "time-stamp",
    )?;
    // The certificate: for time-stamping, valid at genTime, trusted.
    let eku = signer
        .tbs_certificate
        .get::<ExtendedKeyUsage>()
        .ok()
        .flatten();
    if !eku.is_some_and(|(_, e)| e.0.contains(&oid::KP_TIME_STAMPING)) {
        return Err(err(
            "certificate",
            "chứng thư của bên ký không dành cho cấp dấu thời gian (thiếu extendedKeyUsage timeStamping)",
            "the signer's certificate is not for time-stamping (no extendedKeyUsage timeStamping)",
        ));
    }
    let validity = &signer.tbs_certificate.validity;
    let secs = gen_time.div_euclid(1_000_000);
    let not_before = validity.not_before.to_unix_duration().as_secs() as i64;
    let not_after = validity.not_after.to_unix_duration().as_secs() as i64;
    if secs < not_before || secs > not_after {
        return Err(err(
            "certificate",
            "thời điểm cấp dấu thời gian nằm ngoài thời hạn chứng thư của TSA",
            "the time-stamp's genTime is outside the TSA certificate's validity",
        ));
    }
    check_trust(signer, &signer_der, trust)?;
    Ok(Stamp {
        gen_time,
        tsa_name: signer.tbs_certificate.subject.to_string(),
        serial: hex::encode(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
    })
}

/// What a token claims — `genTime` (Unix microseconds) and the subject of the first
/// certificate it carries — read WITHOUT any check, to show beside a refusal. `None` when it
/// cannot be read.
pub fn read_unverified(token: &[u8]) -> Option<(i64, Option<String>)> {
    let ci = cms::content_info::ContentInfo::from_der(token).ok()?;
    let sd: cms::signed_data::SignedData = ci.content.decode_as().ok()?;
    let econtent = sd.encap_content_info.econtent.as_ref()?;
    let tst = TstInfo::from_der(econtent.value()).ok()?;
    let gen_time = generalized_time_micros(&tst.gen_time).ok()?;
    let name = sd.certificates.as_ref().and_then(|set| {
        set.0.iter().find_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => {
                Some(c.tbs_certificate.subject.to_string())
            }
            _ => None,
        })
    });
    Some((gen_time, name))
}

/// Settings of the time-stamp client (`[exchange] tsa_url`, `tsa_certificate`; `[pades]
/// tsa_url`, `tsa_certificate`, `tsa_timeout_ms`).
#[derive(Debug, Clone)]
pub struct TsaConfig {
    /// Where `TimeStampReq`s are POSTed.
    pub url: String,
    /// The trusted certificates (the TSA's own, pinned, or its issuing CA).
    pub trust: TrustedTsa,
    /// Time-out of one request.
    pub timeout: std::time::Duration,
}

/// The RFC 3161 client (máy khách cấp dấu thời gian).
#[derive(Debug, Clone)]
pub struct TsaClient {
    cfg: TsaConfig,
    http: reqwest::Client,
}

impl TsaClient {
    pub fn new(cfg: TsaConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .unwrap_or_default();
        Self { cfg, http }
    }

    pub fn trust(&self) -> &TrustedTsa {
        &self.cfg.trust
    }

    pub fn url(&self) -> &str {
        &self.cfg.url
    }

    /// Asks for a time-stamp on `text` (its SHA-256); returns the checked token (DER) and what
    /// it says.
    pub async fn stamp(&self, text: &str) -> Result<(Vec<u8>, Stamp), TsaError> {
        self.stamp_imprint(&imprint(text)).await
    }

    /// Asks for a time-stamp on a SHA-256 `imprint` computed by the caller (for PAdES-B-T: of
    /// the CMS signature value); returns the checked token (DER) and what it says.
    pub async fn stamp_imprint(&self, imprint: &[u8; 32]) -> Result<(Vec<u8>, Stamp), TsaError> {
        let imprint = *imprint;
        let nonce = new_nonce()?;
        let body = request_der(&imprint, &nonce)?;
        let resp = self
            .http
            .post(&self.cfg.url)
            .header("content-type", "application/timestamp-query")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                err(
                    "transport",
                    format!("không gọi được TSA ({e})"),
                    format!("cannot reach the TSA ({e})"),
                )
            })?;
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await.map_err(|e| {
            err(
                "transport",
                format!("đọc câu trả lời của TSA lỗi ({e})"),
                format!("reading the TSA's answer failed ({e})"),
            )
        })?;
        if !status.is_success() {
            return Err(err(
                "http",
                format!("TSA trả lời HTTP {status}"),
                format!("the TSA answered HTTP {status}"),
            ));
        }
        if !ctype.starts_with("application/timestamp-reply") {
            return Err(err(
                "http",
                format!("TSA trả lời kiểu {ctype:?}, không phải application/timestamp-reply"),
                format!("the TSA answered {ctype:?}, not application/timestamp-reply"),
            ));
        }
        check_response(&bytes, &imprint, &nonce, &self.cfg.trust)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn gen_time_with_and_without_fractions() {
        let t = |s: &str| {
            let any = Any::new(der::Tag::GeneralizedTime, s.as_bytes()).unwrap();
            generalized_time_micros(&any)
        };
        assert_eq!(t("20230607112626Z").unwrap(), 1_686_137_186_000_000);
        assert_eq!(t("20230607112626.25Z").unwrap(), 1_686_137_186_250_000);
        assert!(t("20230607112626").is_err());
        assert!(t("20230607112626.Z").is_err());
        assert!(t("2023060711262xZ").is_err());
    }

    #[test]
    fn the_request_is_what_rfc_3161_asks() {
        let nonce = new_nonce().unwrap();
        let der = request_der(&imprint("abc"), &nonce).unwrap();
        let back = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(back.version, TspVersion::V1);
        assert!(back.cert_req);
        assert_eq!(back.nonce, Some(nonce));
        assert_eq!(back.message_imprint.hash_algorithm.oid, oid::SHA256);
        assert_eq!(
            hex::encode(back.message_imprint.hashed_message.as_bytes()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
