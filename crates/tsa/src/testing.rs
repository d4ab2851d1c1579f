//! A conformance simulator of an RFC 3161 time-stamp authority (mô phỏng đơn vị cấp dấu thời
//! gian) — TEST ONLY. It answers `application/timestamp-query` over HTTP on loopback with real
//! `TimeStampResp`s: a `TSTInfo` in CMS `SignedData`, signed with ECDSA P-256 / SHA-256 over
//! signed attributes (content type, message digest, signing time, `SigningCertificateV2`),
//! the signer's certificate included. Its keys and self-signed (or CA-issued) certificates are
//! generated per test. On request it misbehaves in the ways a client must catch.
//!
//! Moved here from the exchange crate's tests so the PAdES-B-T tests of `tinhso-services` use
//! the same simulator (feature `testing`; never in the product).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::oid;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use der::asn1::{Any, BitString, GeneralizedTime, Int, OctetString, SetOfVec};
use der::{Decode, Encode, EncodePem, Sequence};
use p256::ecdsa::signature::Signer;
use sha2::Digest;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate};
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

/// A key and its certificate.
pub struct Keypair {
    pub key: p256::ecdsa::SigningKey,
    pub cert: Certificate,
}

fn alg(o: der::oid::ObjectIdentifier, null: bool) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: o,
        parameters: null.then(Any::null),
    }
}

fn gtime(t: SystemTime) -> Time {
    Time::GeneralTime(GeneralizedTime::from_system_time(t).unwrap())
}

impl Keypair {
    /// A P-256 key with a certificate for `subject`: self-signed when `issuer` is `None`, else
    /// issued by it; with the critical extended key usage `timeStamping` when `tsa`; valid from
    /// a day ago for `days`.
    pub fn new(subject: &str, issuer: Option<&Keypair>, tsa: bool, days: u64) -> Self {
        let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: oid::EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&oid::P256).unwrap()),
            },
            subject_public_key: BitString::from_bytes(point.as_bytes()).unwrap(),
        };
        let subject = Name::from_str(subject).unwrap();
        let issuer_name = issuer
            .map(|i| i.cert.tbs_certificate.subject.clone())
            .unwrap_or_else(|| subject.clone());
        let mut extensions = Vec::new();
        if tsa {
            extensions.push(Extension {
                extn_id: oid::EXT_KEY_USAGE,
                critical: true,
                extn_value: OctetString::new(
                    ExtendedKeyUsage(vec![oid::KP_TIME_STAMPING])
                        .to_der()
                        .unwrap(),
                )
                .unwrap(),
            });
        }
        let now = SystemTime::now();
        let serial: [u8; 8] = rand::random::<[u8; 8]>().map(|b| b & 0x7f);
        let tbs = TbsCertificate {
            version: x509_cert::Version::V3,
            serial_number: SerialNumber::new(&[&[1u8][..], &serial[..]].concat()).unwrap(),
            signature: alg(oid::ECDSA_SHA256, false),
            issuer: issuer_name,
            validity: Validity {
                not_before: gtime(now - Duration::from_secs(86_400)),
                not_after: gtime(now + Duration::from_secs(days * 86_400)),
            },
            subject,
            subject_public_key_info: spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: (!extensions.is_empty()).then_some(extensions),
        };
        let signer = issuer.map(|i| &i.key).unwrap_or(&key);
        let sig: p256::ecdsa::Signature = signer.sign(&tbs.to_der().unwrap());
        let cert = Certificate {
            tbs_certificate: tbs,
            signature_algorithm: alg(oid::ECDSA_SHA256, false),
            signature: BitString::from_bytes(sig.to_der().as_bytes()).unwrap(),
        };
        Self { key, cert }
    }

    /// A self-signed time-stamping certificate.
    pub fn tsa(subject: &str) -> Self {
        Self::new(subject, None, true, 365)
    }

    pub fn pem(&self) -> String {
        self.cert.to_pem(der::pem::LineEnding::LF).unwrap()
    }

    pub fn der(&self) -> Vec<u8> {
        self.cert.to_der().unwrap()
    }
}

/// How the simulator misbehaves (lỗi giả lập).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A conforming answer.
    None,
    /// The token is for another message imprint.
    WrongImprint,
    /// The token carries another nonce (a replayed answer).
    WrongNonce,
    /// The signature is made over other bytes.
    BadSignature,
    /// The TSTInfo is changed after signing (the message digest no longer matches).
    AlteredContent,
    /// Status `rejection` with a text.
    Reject,
    /// HTTP 503.
    Unavailable,
}

/// `ESSCertIDv2` (RFC 5035), SHA-256 by default (no algorithm written).
#[derive(Clone, Debug, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
}

/// `SigningCertificateV2`.
#[derive(Clone, Debug, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

fn attribute(o: der::oid::ObjectIdentifier, value: Any) -> Attribute {
    Attribute {
        oid: o,
        values: SetOfVec::try_from(vec![value]).unwrap(),
    }
}

/// Issues the `TimeStampResp` (DER) to `req`, signed by `kp`, with `serial`, dated now.
pub fn issue(req: &TimeStampReq, kp: &Keypair, serial: u64, fault: Fault) -> Vec<u8> {
    use cmpv2::status::{PkiStatus, PkiStatusInfo};
    if fault == Fault::Reject {
        let text = der::asn1::Utf8StringRef::new("badAlg: không hỗ trợ thuật toán").unwrap();
        let resp = TimeStampResp {
            status: PkiStatusInfo {
                status: PkiStatus::Rejection,
                status_string: Some(vec![text]),
                fail_info: None,
            },
            time_stamp_token: None,
        };
        return resp.to_der().unwrap();
    }
    let mut hashed = req.message_imprint.hashed_message.as_bytes().to_vec();
    if fault == Fault::WrongImprint {
        hashed[0] ^= 0xff;
    }
    let nonce = match (fault, &req.nonce) {
        (Fault::WrongNonce, _) => Some(Int::new(&[0x11, 0x22, 0x33]).unwrap()),
        (_, n) => n.clone(),
    };
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let gen_time = GeneralizedTime::from_unix_duration(Duration::from_secs(secs)).unwrap();
    let tst = TstInfo {
        version: TspVersion::V1,
        policy: der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.3161.1"),
        message_imprint: MessageImprint {
            hash_algorithm: req.message_imprint.hash_algorithm.clone(),
            hashed_message: OctetString::new(hashed).unwrap(),
        },
        serial_number: Int::from_der(&serial.to_der().unwrap()).unwrap(),
        gen_time,
        accuracy: None,
        ordering: false,
        nonce,
        tsa: None,
        extensions: None,
    };
    let tst_der = tst.to_der().unwrap();
    let cert_der = kp.der();
    let attrs: SetOfVec<Attribute> = SetOfVec::try_from(vec![
        attribute(
            oid::CONTENT_TYPE,
            Any::encode_from(&oid::CT_TST_INFO).unwrap(),
        ),
        attribute(
            oid::MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(sha2::Sha256::digest(&tst_der).to_vec()).unwrap())
                .unwrap(),
        ),
        attribute(oid::SIGNING_TIME, Any::encode_from(&gen_time).unwrap()),
        attribute(
            oid::SIGNING_CERTIFICATE_V2,
            Any::encode_from(&SigningCertificateV2 {
                certs: vec![EssCertIdV2 {
                    cert_hash: OctetString::new(sha2::Sha256::digest(&cert_der).to_vec()).unwrap(),
                }],
            })
            .unwrap(),
        ),
    ])
    .unwrap();
    let mut signed = attrs.to_der().unwrap();
    if fault == Fault::BadSignature {
        signed.push(0);
    }
    let sig: p256::ecdsa::Signature = kp.key.sign(&signed);
    let mut econtent = tst_der;
    if fault == Fault::AlteredContent {
        // Another serial number, after signing.
        let mut t = TstInfo::from_der(&econtent).unwrap();
        t.serial_number = Int::new(&[0x7f]).unwrap();
        econtent = t.to_der().unwrap();
    }
    let si = cms::signed_data::SignerInfo {
        version: cms::content_info::CmsVersion::V1,
        sid: cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(
            cms::cert::IssuerAndSerialNumber {
                issuer: kp.cert.tbs_certificate.issuer.clone(),
                serial_number: kp.cert.tbs_certificate.serial_number.clone(),
            },
        ),
        digest_alg: alg(oid::SHA256, false),
        signed_attrs: Some(attrs),
        signature_algorithm: alg(oid::ECDSA_SHA256, false),
        signature: OctetString::new(sig.to_der().as_bytes()).unwrap(),
        unsigned_attrs: None,
    };
    let sd = cms::signed_data::SignedData {
        version: cms::content_info::CmsVersion::V3,
        digest_algorithms: SetOfVec::try_from(vec![alg(oid::SHA256, false)]).unwrap(),
        encap_content_info: cms::signed_data::EncapsulatedContentInfo {
            econtent_type: oid::CT_TST_INFO,
            econtent: Some(Any::new(der::Tag::OctetString, econtent).unwrap()),
        },
        certificates: req.cert_req.then(|| {
            cms::signed_data::CertificateSet(
                SetOfVec::try_from(vec![cms::cert::CertificateChoices::Certificate(
                    kp.cert.clone(),
                )])
                .unwrap(),
            )
        }),
        crls: None,
        signer_infos: cms::signed_data::SignerInfos(SetOfVec::try_from(vec![si]).unwrap()),
    };
    let token = cms::content_info::ContentInfo {
        content_type: oid::SIGNED_DATA,
        content: Any::encode_from(&sd).unwrap(),
    };
    TimeStampResp {
        status: PkiStatusInfo {
            status: PkiStatus::Accepted,
            status_string: None,
            fail_info: None,
        },
        time_stamp_token: Some(token),
    }
    .to_der()
    .unwrap()
}

struct State {
    kp: Keypair,
    fault: Fault,
    serial: u64,
    requests: u64,
}

/// A running simulator on loopback.
#[derive(Clone)]
pub struct Simulator {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Simulator {
    /// Serves a TSA signing with `kp` on a free loopback port.
    pub async fn start(kp: Keypair) -> Self {
        let state = Arc::new(Mutex::new(State {
            kp,
            fault: Fault::None,
            serial: 0,
            requests: 0,
        }));
        let s = state.clone();
        let app = axum::Router::new().route(
            "/tsa",
            post(move |headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move { answer(&s, &headers, &body) }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        Self {
            url: format!("http://{addr}/tsa"),
            state,
        }
    }

    pub fn set_fault(&self, f: Fault) {
        self.state.lock().unwrap().fault = f;
    }

    pub fn requests(&self) -> u64 {
        self.state.lock().unwrap().requests
    }

    pub fn pem(&self) -> String {
        self.state.lock().unwrap().kp.pem()
    }
}

fn answer(state: &Mutex<State>, headers: &HeaderMap, body: &[u8]) -> axum::response::Response {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if s.fault == Fault::Unavailable {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/timestamp-query")
    {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "").into_response();
    }
    let Ok(req) = TimeStampReq::from_der(body) else {
        return (StatusCode::BAD_REQUEST, "").into_response();
    };
    s.serial += 1;
    let der = issue(&req, &s.kp, s.serial, s.fault);
    ([("content-type", "application/timestamp-reply")], der).into_response()
}
