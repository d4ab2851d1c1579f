//! PAdES signatures on electronic results: an agency with a certificate signs its results
//! inside the PDF; poppler's `pdfsig` (an independent implementation, NSS underneath) accepts
//! the signature; one changed byte makes both it and our verifier say invalid; certificates
//! are imported with field-level refusals (expired, wrong key, not allowed) and nothing
//! written; malformed files never panic the verifier. With a TSA (the loopback simulator of
//! `tinhso-tsa`) signatures are PAdES-B-T; a TSA that is down never blocks a result; signer
//! certificates are checked against CRLs (imported, or fetched from the distribution point).

use super::*;
use std::process::Command;
use tinhso_services::pades::{self, SigningKey};
use tinhso_services::results;
use tinhso_services::signing_certs;
use tinhso_services::test_ca::TestCa;
use tinhso_tsa::testing::{Fault, Keypair, Simulator};
use tinhso_tsa::{TrustedTsa, TsaClient, TsaConfig};

/// A fresh database, the staff of Tam Thanh and a one-year certificate of its People's
/// Committee from the test CA.
async fn certified() -> (TestDb, Staff, signing_certs::StoredCertificate) {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let cert = signing_certs::issue_test_certificate(&t.db, &sys(), UBND_TAM_THANH, 365)
        .await
        .unwrap();
    (t, s, cert)
}

/// An address on loopback where nobody listens (the port was free a moment ago).
fn nobody_at(path: &str) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}{path}", l.local_addr().unwrap())
}

/// Run `pdfsig` on `pdf`; its standard output.
fn pdfsig(pdf: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("tinhso-pades-{}.pdf", uuid::Uuid::now_v7()));
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdfsig")
        .arg(&path)
        .output()
        .expect("pdfsig (poppler-utils) must be installed: apt-get install -y poppler-utils");
    let _ = std::fs::remove_file(&path);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Flip one byte inside the first signed range: a letter of the producer name in the
/// information dictionary, so the file still parses.
fn tampered(pdf: &[u8]) -> Vec<u8> {
    let at = pdf
        .windows(b"tinhso-pdf".len())
        .position(|w| w == b"tinhso-pdf")
        .unwrap();
    let mut out = pdf.to_vec();
    out[at] = b'T';
    out
}

#[tokio::test]
async fn a_result_of_an_agency_with_a_certificate_carries_a_pades_signature_pdfsig_accepts() {
    let (t, s, cert) = certified().await;
    assert!(cert.subject.contains("(THỬ NGHIỆM)"), "{}", cert.subject);
    assert_eq!(cert.source, "test_ca");
    let code = approved(&t.db, &s, None, "").await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(r.pades_certificate_id.as_deref(), Some(cert.id.as_str()));
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    // The platform's own signatures are still there and still verify.
    assert!(results::verify(&t.db, &r).await.unwrap().valid);
    assert_eq!(
        tinhso_pdf::custom_entry(&pdf, "TinhSoResultId").as_deref(),
        Some(r.id.as_str())
    );

    let report = results::check_pades(&t.db, &pdf, &TrustedTsa::default())
        .await
        .unwrap();
    assert!(report.valid, "{:?}", report.problems);
    assert!(report.covers_whole_file && report.digest_ok && report.signature_ok);
    assert!(report.trusted && report.certificate_valid_at_signing);
    let signer = report.signer.clone().unwrap();
    assert_eq!(signer.serial, cert.serial);
    assert!(signer.name.contains("Tam Thanh"), "{}", signer.name);
    assert!(signer.issuer.contains("CA thử nghiệm"), "{}", signer.issuer);
    let signed_at = report.signing_time.unwrap();
    assert!(
        (signed_at - r.issued_at).abs() < 2_000_000,
        "{signed_at} vs {}",
        r.issued_at
    );

    let out = pdfsig(&pdf);
    assert!(out.contains("Signature is Valid"), "{out}");
    assert!(out.contains("ETSI.CAdES.detached"), "{out}");

    // One byte changed in the signed range: both say invalid.
    let bad = tampered(&pdf);
    let out = pdfsig(&bad);
    assert!(!out.contains("Signature is Valid"), "{out}");
    let report = results::check_pades(&t.db, &bad, &TrustedTsa::default())
        .await
        .unwrap();
    assert!(!report.valid && !report.digest_ok && report.covers_whole_file);
    assert_eq!(results::check_file(&r, &bad), results::FileCheck::Altered);

    // One byte of the signature value itself changed (it ends the DER: SignerInfo is last
    // and has no unsigned attributes).
    let parts = tinhso_pdf::sign::signed_parts(&pdf).unwrap();
    assert_eq!(parts.contents[..2], [0x30, 0x82]);
    let der_len = 4 + ((parts.contents[2] as usize) << 8 | parts.contents[3] as usize);
    let mut bad = pdf.clone();
    let sig_at = parts.byte_range[1] + 1 + 2 * (der_len - 5);
    bad[sig_at] = if bad[sig_at] == b'A' { b'B' } else { b'A' };
    let report = results::check_pades(&t.db, &bad, &TrustedTsa::default())
        .await
        .unwrap();
    assert!(report.digest_ok && !report.signature_ok && !report.valid);
    let out = pdfsig(&bad);
    assert!(!out.contains("Signature is Valid"), "{out}");

    // Something appended after signing is not covered.
    let mut longer = pdf.clone();
    longer.extend_from_slice(b"\n1000 0 obj\n(x)\nendobj\n");
    let report = results::check_pades(&t.db, &longer, &TrustedTsa::default())
        .await
        .unwrap();
    assert!(!report.valid && !report.covers_whole_file);

    // Without the test CA in the trust list the signature is intact but not trusted.
    let report = pades::verify_pdf(&pdf, &[]);
    assert!(report.digest_ok && report.signature_ok && !report.trusted && !report.valid);
}

#[tokio::test]
async fn without_a_usable_certificate_results_are_issued_as_before() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    // No certificate at all.
    let code = approved(&t.db, &s, None, "").await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(r.pades_certificate_id, None);
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    let report = results::check_pades(&t.db, &pdf, &TrustedTsa::default())
        .await
        .unwrap();
    assert!(!report.present && !report.valid);
    assert!(results::verify(&t.db, &r).await.unwrap().valid);
    // Only an expired certificate: it is not used.
    let expired = signing_certs::issue_test_certificate(&t.db, &sys(), UBND_TAM_THANH, -1)
        .await
        .unwrap();
    assert!(expired.expired(tinhso_store::now_micros()));
    assert!(
        signing_certs::active(&t.db, UBND_TAM_THANH, tinhso_store::now_micros())
            .await
            .unwrap()
            .is_none()
    );
    let code = approved(&t.db, &s, None, "").await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(r.pades_certificate_id, None);
}

/// The leader of Tam Thanh imports `key` and `chain` for the commune's People's Committee.
async fn import_as_leader(
    db: &Db,
    s: &Staff,
    key: &str,
    chain: &str,
) -> Result<signing_certs::StoredCertificate, AppError> {
    signing_certs::import(
        db,
        &ctx_of(&s.leader),
        &s.leader,
        UBND_TAM_THANH,
        key,
        chain,
    )
    .await
}

fn key_pem(k: &SigningKey) -> String {
    let der = k.to_pkcs8_der().unwrap();
    der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &der).unwrap()
}

#[tokio::test]
async fn importing_checks_everything_and_writes_nothing_on_refusal() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let now = (tinhso_store::now_micros() / 1_000_000) as u64;
    let ca = TestCa::generate(now).unwrap();
    let good = ca
        .issue(
            "Ủy ban nhân dân phường Tam Thanh",
            UBND_TAM_THANH,
            now - 60,
            now + 86_400 * 30,
        )
        .unwrap();
    let chain = pades::chain_to_pem(&good.chain);
    let key = key_pem(&good.key);
    let before = count(&t.db, "agency_certificates").await;
    let audit_before = count(&t.db, "audit_log").await;

    // Who: a specialist may not; the leader of another commune may not.
    for p in [&s.specialist, &s.other_commune] {
        let e = signing_certs::import(&t.db, &ctx_of(p), p, UBND_TAM_THANH, &key, &chain)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden, "{e:?}");
    }
    // What: garbage, a key that is not the certificate's, an expired certificate.
    let e = import_as_leader(&t.db, &s, "xyz", "abc").await.unwrap_err();
    let fields: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["key", "chain"], "{e:?}");
    assert!(e
        .fields
        .iter()
        .all(|f| !f.message_vi.is_empty() && !f.message_en.is_empty()));
    let other = ca.issue("Khác", "X", now - 60, now + 86_400).unwrap();
    let e = import_as_leader(&t.db, &s, &key_pem(&other.key), &chain)
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "chain_mismatch", "{e:?}");
    // The leaf alone, without its CA: the chain must reach a root.
    let e = import_as_leader(&t.db, &s, &key, &pades::chain_to_pem(&good.chain[..1]))
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "chain_incomplete", "{e:?}");
    let old = ca
        .issue(
            "Ủy ban nhân dân phường Tam Thanh",
            UBND_TAM_THANH,
            now - 86_400 * 400,
            now - 86_400 * 35,
        )
        .unwrap();
    let e = import_as_leader(
        &t.db,
        &s,
        &key_pem(&old.key),
        &pades::chain_to_pem(&old.chain),
    )
    .await
    .unwrap_err();
    assert_eq!(e.fields[0].code, "certificate_expired", "{e:?}");
    assert!(e.fields[0].message_vi.contains("hết hạn"), "{e:?}");
    assert_eq!(count(&t.db, "agency_certificates").await, before);
    assert_eq!(count(&t.db, "pades_trust_anchors").await, 0);

    // The leader imports it (chain given root first: it is put in order); audited; the
    // root joins the trust list; the same certificate twice is a conflict.
    let reversed = pades::chain_to_pem(&[good.chain[1].clone(), good.chain[0].clone()]);
    let cert = import_as_leader(&t.db, &s, &key, &reversed).await.unwrap();
    assert_eq!(cert.source, "imported");
    assert_eq!(cert.key_algorithm, "ecdsa-p256");
    assert_eq!(count(&t.db, "pades_trust_anchors").await, 1);
    assert_eq!(count(&t.db, "audit_log").await, audit_before + 1);
    let imported = audited(&t.db, "signing_certificate.import").await;
    assert_eq!(imported[0].actor, s.leader.actor());
    let e = import_as_leader(&t.db, &s, &key, &chain).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    // The key is sealed at rest: the stored text is not the PKCS#8 key.
    let sealed: String = sqlx::query_scalar("SELECT sealed_private_key FROM agency_certificates")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert!(!sealed.contains("PRIVATE KEY") && !key.contains(&sealed));
    // And it signs the next result.
    let code = approved(&t.db, &s, None, "").await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(r.pades_certificate_id.as_deref(), Some(cert.id.as_str()));
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    let report = results::check_pades(&t.db, &pdf, &TrustedTsa::default())
        .await
        .unwrap();
    assert!(report.valid, "{:?}", report.problems);
}

/// A CA as a real one delivers it: RSA-2048 keys and PEM files made by OpenSSL, with an
/// intermediate CA; imported and used to sign; pdfsig accepts the signature.
#[tokio::test]
async fn an_rsa_chain_made_by_openssl_imports_signs_and_verifies() {
    let dir = std::env::temp_dir().join(format!("tinhso-ca-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
         [leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "root.key",
        "-out",
        "root.pem",
        "-days",
        "30",
        "-subj",
        "/CN=Root CA thu nghiem/O=Test",
        "-sha256",
    ]);
    // A key for `name` and its certificate from the CA `ca` with the `ext` profile.
    let issue = |name: &str, subject: &str, ca: &str, ext: &str| {
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        run(&[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject,
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "30",
            "-sha256",
            "-extfile",
            "ext.cnf",
            "-extensions",
            ext,
        ]);
    };
    issue("int", "/CN=Sub CA thu nghiem/O=Test", "root", "ca");
    issue("leaf", "/CN=UBND phuong Tam Thanh/O=Test", "int", "leaf");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let chain = format!(
        "{}{}{}",
        read("leaf.pem"),
        read("int.pem"),
        read("root.pem")
    );
    let key = read("leaf.key");
    let _ = std::fs::remove_dir_all(&dir);

    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let cert = import_as_leader(&t.db, &s, &key, &chain).await.unwrap();
    assert_eq!(cert.key_algorithm, "rsa-2048");
    assert!(cert.issuer.contains("Sub CA thu nghiem"), "{}", cert.issuer);
    let code = approved(&t.db, &s, None, "").await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    let report = results::check_pades(&t.db, &pdf, &TrustedTsa::default())
        .await
        .unwrap();
    assert!(report.valid, "{:?}", report.problems);
    assert_eq!(report.signer.unwrap().name, "UBND phuong Tam Thanh");
    let out = pdfsig(&pdf);
    assert!(out.contains("Signature is Valid"), "{out}");
    let out = pdfsig(&tampered(&pdf));
    assert!(!out.contains("Signature is Valid"), "{out}");
}

#[tokio::test]
async fn malformed_files_and_random_signatures_never_panic_the_verifier() {
    use rand::{Rng, RngCore};
    let now = (tinhso_store::now_micros() / 1_000_000) as u64;
    let ca = TestCa::generate(now).unwrap();
    let id = ca
        .issue("Cơ quan thử", "X", now - 60, now + 86_400)
        .unwrap();
    let mut doc = tinhso_pdf::Document::new(tinhso_pdf::Meta::default());
    doc.para(tinhso_pdf::Para::new(
        "Giấy chứng nhận",
        tinhso_pdf::Style::Bold,
        14.0,
    ));
    let pdf = pades::sign_pdf(doc, &id, "Thử", "Lạng Sơn", now).unwrap();
    let anchors = vec![ca.cert.clone()];
    assert!(pades::verify_pdf(&pdf, &anchors).valid);
    let mut rng = rand::thread_rng();
    // Truncated anywhere.
    for _ in 0..200 {
        let cut = rng.gen_range(0..pdf.len());
        assert!(!pades::verify_pdf(&pdf[..cut], &anchors).valid);
    }
    // Random bytes, and random bytes as the CMS inside a well-formed byte range.
    let parts = tinhso_pdf::sign::signed_parts(&pdf).unwrap();
    let hex_start = parts.byte_range[1] + 1;
    let hex_len = parts.byte_range[2] - hex_start - 1;
    for n in 0..200 {
        let mut junk = vec![0u8; rng.gen_range(0..4096)];
        rng.fill_bytes(&mut junk);
        assert!(!pades::verify_pdf(&junk, &anchors).valid);
        let mut forged = pdf.clone();
        let len = rng.gen_range(1..hex_len / 2);
        let mut cms = vec![0u8; len];
        rng.fill_bytes(&mut cms);
        if n % 2 == 0 && len > 4 {
            // A plausible DER header in front of the noise.
            cms[0] = 0x30;
            cms[1] = 0x82;
        }
        let hex: String = cms.iter().map(|b| format!("{b:02X}")).collect();
        forged[hex_start..hex_start + hex.len()].copy_from_slice(hex.as_bytes());
        let report = pades::verify_pdf(&forged, &anchors);
        assert!(!report.valid);
    }
    // Bit flips anywhere in the signed file.
    for _ in 0..100 {
        let mut bad = pdf.clone();
        let at = rng.gen_range(0..bad.len());
        bad[at] ^= 1 << rng.gen_range(0..8);
        let _ = pades::verify_pdf(&bad, &anchors);
    }
}

// ---------------------------------------------------------------- PAdES-B-T and revocation

/// A loopback TSA and a client that trusts it.
async fn tsa() -> (Simulator, TsaClient) {
    let sim = Simulator::start(Keypair::tsa("CN=TSA thử nghiệm Tỉnh số,O=Tỉnh số,C=VN")).await;
    let client = TsaClient::new(TsaConfig {
        url: sim.url.clone(),
        trust: TrustedTsa::from_pem(sim.pem().as_bytes()).unwrap(),
        timeout: std::time::Duration::from_secs(5),
    });
    (sim, client)
}

/// Results issued with `tsa` as the time-stamp authority.
fn issuing_with(tsa: &TsaClient) -> results::Issuing<'_> {
    results::Issuing {
        tsa: Some(tsa),
        ..issuing()
    }
}

/// The stored PDF of the result of dossier `code`.
async fn result_pdf(db: &Db, code: &str) -> (results::ResultRecord, Vec<u8>) {
    let r = results::of_dossier(db, code).await.unwrap().unwrap();
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    (r, pdf)
}

/// The signature time-stamp token inside a signed PDF.
fn token_of(pdf: &[u8]) -> Vec<u8> {
    let parts = tinhso_pdf::sign::signed_parts(pdf).unwrap();
    pades::signature_timestamp_token(&parts.contents).expect("a time-stamp token")
}

#[tokio::test]
async fn with_a_tsa_results_are_pades_b_t_and_a_tampered_token_is_invalid() {
    let (t, s, _) = certified().await;
    let (sim, client) = tsa().await;
    let code = approved_with(&t.db, &s, issuing_with(&client), None, "").await;
    assert_eq!(sim.requests(), 1);
    let (r, pdf) = result_pdf(&t.db, &code).await;
    let recorded = results::issue_timestamp(&t.db, &r.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.status, "stamped");
    assert_eq!(recorded.tsa_url, sim.url);
    assert!(recorded.error.is_none());
    let trust = client.trust().clone();
    let report = results::check_pades(&t.db, &pdf, &trust).await.unwrap();
    assert!(report.valid, "{:?}", report.problems);
    let ts = report.timestamp.clone().expect("time-stamp reported");
    assert!(ts.valid, "{:?}", ts.problem);
    assert!(
        ts.tsa.as_deref().unwrap().contains("TSA thử nghiệm"),
        "{ts:?}"
    );
    let at = ts.time.unwrap();
    assert!(
        (at - r.issued_at).abs() < 3_000_000,
        "{at} vs {}",
        r.issued_at
    );
    assert_eq!(recorded.gen_time, Some(at));
    // The token is over this signature's value: OpenSSL's own TS verifier agrees.
    let dir = std::env::temp_dir().join(format!("tinhso-ts-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token.der"), token_of(&pdf)).unwrap();
    std::fs::write(dir.join("tsa.pem"), sim.pem()).unwrap();
    let parts = tinhso_pdf::sign::signed_parts(&pdf).unwrap();
    let imprint = hex::encode(pades::signature_imprint(&parts.contents).unwrap());
    let out = Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-token_in",
            "-in",
            "token.der",
            "-digest",
            &imprint,
        ])
        .args(["-CAfile", "tsa.pem"])
        .current_dir(&dir)
        .output()
        .expect("openssl");
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Verification: OK"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
    // pdfsig (poppler) still accepts the signature with the unsigned attribute in it.
    let out = pdfsig(&pdf);
    assert!(out.contains("Signature is Valid"), "{out}");
    assert!(out.contains("Signing Time"), "{out}");

    // Without trusting that TSA, the token is reported but not valid.
    let report = results::check_pades(&t.db, &pdf, &TrustedTsa::default())
        .await
        .unwrap();
    let ts = report.timestamp.unwrap();
    assert!(!ts.valid && ts.time == Some(at), "{ts:?}");
    assert!(!report.valid);

    // A token altered in the file (its genTime's year, inside the signed TSTInfo): the
    // signature itself still verifies, the time-stamp does not. genTime is found as a DER
    // GeneralizedTime (tag 0x18, a length byte) of the token's very second: the year alone
    // also stands in the test TSA certificate's validity (GeneralizedTime, a day earlier),
    // which the token carries too.
    let second = chrono::DateTime::from_timestamp_micros(at)
        .unwrap()
        .format("%Y%m%d%H%M%S")
        .to_string();
    let second_hex: String = second.bytes().map(|b| format!("{b:02X}")).collect();
    let start = parts.byte_range[1] + 1;
    let hex = &pdf[start..parts.byte_range[2] - 1];
    let tag_len = 4;
    let at_hex = hex
        .windows(tag_len + second_hex.len())
        .enumerate()
        .position(|(i, w)| {
            i % 2 == 0 && w.starts_with(b"18") && &w[tag_len..] == second_hex.as_bytes()
        })
        .expect("genTime in the token");
    let mut bad = pdf.clone();
    // The last hex digit of the year's last character.
    let digit = start + at_hex + tag_len + 7;
    bad[digit] = if bad[digit] == b'0' { b'1' } else { b'0' };
    let report = results::check_pades(&t.db, &bad, &trust).await.unwrap();
    assert!(
        report.digest_ok && report.signature_ok,
        "{:?}",
        report.problems
    );
    let ts = report.timestamp.clone().unwrap();
    assert!(!ts.valid, "{ts:?}");
    assert!(!report.valid);
    assert!(
        report
            .problems
            .iter()
            .any(|(vi, en)| vi.contains("Dấu thời gian") && en.contains("time-stamp")),
        "{:?}",
        report.problems
    );
    // pdfsig does not read the unsigned attributes: the signature itself is intact.
    let out = pdfsig(&bad);
    assert!(out.contains("Signature is Valid"), "{out}");
}

#[tokio::test]
async fn a_tsa_that_is_down_or_wrong_never_blocks_a_result_and_it_is_recorded() {
    let (t, s, _) = certified().await;
    let (sim, client) = tsa().await;
    // Down: HTTP 503; a bad signature on the token; nobody listening at all.
    let closed = nobody_at("/tsa");
    let nobody = TsaClient::new(TsaConfig {
        url: closed,
        trust: client.trust().clone(),
        timeout: std::time::Duration::from_secs(2),
    });
    for (i, (fault, c, code_word)) in [
        (Fault::Unavailable, &client, "[http]"),
        (Fault::BadSignature, &client, "[signature]"),
        (Fault::None, &nobody, "[transport]"),
    ]
    .into_iter()
    .enumerate()
    {
        sim.set_fault(fault);
        let code = approved_with(&t.db, &s, issuing_with(c), None, "").await;
        let (r, pdf) = result_pdf(&t.db, &code).await;
        assert!(r.pades_certificate_id.is_some());
        let recorded = results::issue_timestamp(&t.db, &r.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(recorded.status, "failed", "{fault:?}");
        assert!(
            recorded.error.as_deref().unwrap().contains(code_word),
            "{recorded:?}"
        );
        // Issued PAdES-B-B: valid, no time-stamp.
        let report = results::check_pades(&t.db, &pdf, client.trust())
            .await
            .unwrap();
        assert!(report.valid && report.timestamp.is_none(), "{report:?}");
        let out = pdfsig(&pdf);
        assert!(out.contains("Signature is Valid"), "{out}");
        let failed = audited(&t.db, "result.issue")
            .await
            .into_iter()
            .filter(|e| e.summary.contains(r#""pades_timestamp":"failed""#))
            .count();
        assert_eq!(failed, i + 1);
    }
    // No TSA configured: nothing recorded.
    let code = approved(&t.db, &s, None, "").await;
    let (r, _) = result_pdf(&t.db, &code).await;
    assert!(results::issue_timestamp(&t.db, &r.id)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_revoked_certificate_is_reported_and_what_a_time_stamp_proves_earlier_stays_valid() {
    use tinhso_services::revocation;
    let (t, s, cert) = certified().await;
    let admin = staff(
        &t.db,
        "quantri",
        UBND_TAM_THANH,
        Role::Admin,
        Scope::Province,
    )
    .await;
    let (_sim, client) = tsa().await;
    let trust = client.trust().clone();
    let stamped = approved_with(&t.db, &s, issuing_with(&client), None, "").await;
    let (_, stamped_pdf) = result_pdf(&t.db, &stamped).await;
    let plain = approved(&t.db, &s, None, "").await;
    let (_, plain_pdf) = result_pdf(&t.db, &plain).await;
    let report = results::check_pades(&t.db, &stamped_pdf, &trust)
        .await
        .unwrap();
    assert!(report.valid && !report.revocation.checked, "{report:?}");

    // The test CA revokes the certificate two seconds from now (after both signatures).
    let ca = signing_certs::test_ca(&t.db).await.unwrap();
    let now = (tinhso_store::now_micros() / 1_000_000) as u64;
    let serial =
        x509_cert::serial_number::SerialNumber::new(&hex::decode(&cert.serial).unwrap()).unwrap();
    let crl = ca.crl(&[(serial.clone(), now + 2)], now).unwrap();

    // Importing: administrators only; garbage and a CRL of an unknown CA refused by field;
    // nothing stored.
    for p in [&s.leader, &s.specialist] {
        let e = revocation::import(&t.db, &ctx_of(p), p, &crl)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden, "{e:?}");
    }
    let e = revocation::import(&t.db, &ctx_of(&admin), &admin, b"not a CRL")
        .await
        .unwrap_err();
    assert_eq!(fields(&e), [("crl".to_string(), "crl_invalid")]);
    let stranger = TestCa::generate(now)
        .unwrap()
        .crl(&[(serial.clone(), now)], now)
        .unwrap();
    let e = revocation::import(&t.db, &ctx_of(&admin), &admin, &stranger)
        .await
        .unwrap_err();
    assert_eq!(fields(&e), [("crl".to_string(), "crl_untrusted")]);
    assert!(e.fields[0].message_vi.contains("không được ký"), "{e:?}");
    assert_eq!(count(&t.db, "pades_crls").await, 0);
    // As PEM, by an administrator: stored and audited; the same CRL again is a conflict.
    let pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &crl).unwrap();
    let stored = revocation::import(&t.db, &ctx_of(&admin), &admin, pem.as_bytes())
        .await
        .unwrap();
    assert_eq!(
        (stored.revoked_count, stored.source.as_str()),
        (1, "imported")
    );
    assert_eq!(audited(&t.db, "pades_crl.import").await.len(), 1);
    let e = revocation::import(&t.db, &ctx_of(&admin), &admin, &crl)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);

    // Signed without a time-stamp: nothing proves it was before the revocation.
    let report = results::check_pades(&t.db, &plain_pdf, &trust)
        .await
        .unwrap();
    assert!(!report.valid && report.revocation.checked, "{report:?}");
    assert_eq!(
        report.revocation.revoked_at,
        Some((now as i64 + 2) * 1_000_000)
    );
    let (vi, en) = report.problems.last().unwrap();
    assert!(
        vi.contains("đã bị thu hồi lúc") && en.contains("revoked at"),
        "{vi} / {en}"
    );
    // Time-stamped before the revocation: still valid, and it says why.
    let report = results::check_pades(&t.db, &stamped_pdf, &trust)
        .await
        .unwrap();
    assert!(report.valid, "{:?}", report.problems);
    assert!(report.revocation.revoked_at.is_some() && report.revocation.signed_before_revocation);

    // A newer CRL says it was revoked an hour ago (before the time-stamp): not valid either.
    let earlier = ca.crl(&[(serial, now - 3600)], now + 1).unwrap();
    revocation::import(&t.db, &ctx_of(&admin), &admin, &earlier)
        .await
        .unwrap();
    let report = results::check_pades(&t.db, &stamped_pdf, &trust)
        .await
        .unwrap();
    assert!(
        !report.valid && !report.revocation.signed_before_revocation,
        "{report:?}"
    );
    assert_eq!(
        report.revocation.revoked_at,
        Some((now as i64 - 3600) * 1_000_000)
    );
}

#[tokio::test]
async fn a_crl_is_fetched_from_the_distribution_point_when_it_can_be_reached() {
    let t = env().await;
    let ca = signing_certs::test_ca(&t.db).await.unwrap();
    let now = (tinhso_store::now_micros() / 1_000_000) as u64;
    // The CA's CRL distribution point on loopback; and one where nobody listens.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let crl_url = format!("http://{addr}/ca.crl");
    let dead_url = nobody_at("/ca.crl");
    let doc = || {
        let mut d = tinhso_pdf::Document::new(tinhso_pdf::Meta::default());
        d.para(tinhso_pdf::Para::new(
            "Giấy xác nhận",
            tinhso_pdf::Style::Bold,
            14.0,
        ));
        d
    };
    let unreachable = ca
        .issue_with_crl_point("Cơ quan A", "A", now - 60, now + 86_400, Some(&dead_url))
        .unwrap();
    let pdf = pades::sign_pdf(doc(), &unreachable, "Thử", "Lạng Sơn", now).unwrap();
    let report = results::check_pades(&t.db, &pdf, &TrustedTsa::default())
        .await
        .unwrap();
    assert!(report.valid && !report.revocation.checked, "{report:?}");

    let revoked = ca
        .issue_with_crl_point("Cơ quan B", "B", now - 60, now + 86_400, Some(&crl_url))
        .unwrap();
    let crl = ca
        .crl(
            &[(
                revoked.chain[0].tbs_certificate.serial_number.clone(),
                now - 30,
            )],
            now,
        )
        .unwrap();
    let app = axum::Router::new().route(
        "/ca.crl",
        axum::routing::get(move || {
            let crl = crl.clone();
            async move { ([("content-type", "application/pkix-crl")], crl) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let pdf = pades::sign_pdf(doc(), &revoked, "Thử", "Lạng Sơn", now).unwrap();
    assert_eq!(count(&t.db, "pades_crls").await, 0);
    let report = results::check_pades(&t.db, &pdf, &TrustedTsa::default())
        .await
        .unwrap();
    assert!(!report.valid && report.revocation.checked, "{report:?}");
    assert!(
        report
            .problems
            .iter()
            .any(|(_, en)| en.contains("revoked at")),
        "{report:?}"
    );
    let source: String = sqlx::query_scalar("SELECT source FROM pades_crls")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert_eq!(source, "fetched");
}

/// A TSA that answers only after `delay`: a loopback proxy in front of the simulator.
async fn slow_tsa(sim: &Simulator, delay: std::time::Duration) -> String {
    let target = sim
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    format!("http://{addr}/tsa")
}

/// A birth registration of Tam Thanh taken to the approval step; its code.
async fn at_approval(db: &Db, s: &Staff) -> String {
    let code = submit_anon(db, &birth(TAM_THANH)).await.dossier.code;
    act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    act(db, &s.one_stop, &code, "forward", "").await.unwrap();
    act(db, &s.officer, &code, "forward", "").await.unwrap();
    code
}

/// The TSA is asked before the approval's transaction opens: while a slow TSA keeps an
/// approval waiting — answering late (PAdES-B-T) or not within the timeout (PAdES-B-B, the
/// failure recorded) — other submissions and transitions are written and committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalling_tsa_holds_up_no_other_write() {
    use std::time::{Duration, Instant};
    let (t, s, _) = certified().await;
    let db = &t.db;
    let (sim, client) = tsa().await;
    let trust = client.trust().clone();
    // (TSA delay, client timeout, stamped?)
    for (delay, timeout, stamped) in [
        (Duration::from_secs(4), Duration::from_secs(30), true),
        (Duration::from_secs(60), Duration::from_secs(4), false),
    ] {
        let slow: &'static TsaClient = Box::leak(Box::new(TsaClient::new(TsaConfig {
            url: slow_tsa(&sim, delay).await,
            trust: trust.clone(),
            timeout,
        })));
        let code = at_approval(db, &s).await;
        let other = submit_anon(db, &birth(TAM_THANH)).await.dossier.code;
        let started = Instant::now();
        let approval = {
            let (db, leader, code) = (db.clone(), s.leader.clone(), code.clone());
            tokio::spawn(async move {
                act_with(&db, issuing_with(slow), &leader, &code, "approve", "").await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Meanwhile: a submission (group commit), an acceptance and a plain write transaction.
        let r = submit_anon(db, &birth(TAM_THANH)).await;
        act(db, &s.one_stop, &other, "accept", "").await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("UPDATE dossiers SET updated_at = updated_at WHERE code = $1")
            .bind(&r.dossier.code)
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            !approval.is_finished(),
            "the other writes were done while the approval waited for the TSA ({:?})",
            started.elapsed()
        );
        let d = approval.await.unwrap().unwrap();
        assert_eq!(d.status, tinhso_services::status::Status::Done.code());
        let (r, pdf) = result_pdf(db, &code).await;
        let recorded = results::issue_timestamp(db, &r.id).await.unwrap().unwrap();
        let report = results::check_pades(db, &pdf, &trust).await.unwrap();
        assert!(report.valid, "{:?}", report.problems);
        if stamped {
            assert_eq!(recorded.status, "stamped");
            assert!(
                report.timestamp.as_ref().is_some_and(|ts| ts.valid),
                "{report:?}"
            );
        } else {
            assert_eq!(recorded.status, "failed", "{recorded:?}");
            assert!(report.timestamp.is_none(), "{report:?}");
        }
    }
    assert_eq!(audit::verify(db).await.unwrap().first_broken, None);
}

/// Result numbers have no gap and no duplicate when approvals of one agency race: a number
/// read while building a result and taken by another approval meanwhile is built again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_approvals_of_one_agency_take_consecutive_numbers() {
    let (t, s, _) = certified().await;
    let db = &t.db;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(at_approval(db, &s).await);
    }
    let mut tasks = Vec::new();
    for code in &codes {
        let (db, leader, code) = (db.clone(), s.leader.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            act(&db, &leader, &code, "approve", "").await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut numbers = Vec::new();
    for code in &codes {
        let r = results::of_dossier(db, code).await.unwrap().unwrap();
        numbers.push(r.number);
    }
    numbers.sort();
    let year = dossier::today_local().format("%Y");
    let expected: Vec<String> = (1..=5).map(|n| format!("{n:05}/{year}/KQĐT")).collect();
    assert_eq!(numbers, expected);
    assert_eq!(audited(db, "result.issue").await.len(), 5);
}

/// The parsed key and chain of the active certificate are kept between approvals, but a
/// rotation, a deleted (revoked) certificate or an edited row is seen by the very next call.
#[tokio::test]
async fn the_active_certificate_is_parsed_once_and_rotation_or_revocation_is_seen_at_once() {
    let (t, _s, first) = certified().await;
    let now = || tinhso_store::now_micros();
    let (a, id_a) = signing_certs::active(&t.db, UBND_TAM_THANH, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.id, first.id);
    let (_, id_a2) = signing_certs::active(&t.db, UBND_TAM_THANH, now())
        .await
        .unwrap()
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&id_a, &id_a2), "parsed once");
    // Rotation: a newer certificate signs from the next call on.
    let second = signing_certs::issue_test_certificate(&t.db, &sys(), UBND_TAM_THANH, 400)
        .await
        .unwrap();
    let (b, id_b) = signing_certs::active(&t.db, UBND_TAM_THANH, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.id, second.id);
    assert_ne!(id_b.chain[0], id_a.chain[0]);
    assert_eq!(pades::cert_info(&id_b.chain[0]).serial, second.serial);
    // The first certificate's row now holds the second's key and chain (edited in place): its
    // parsed identity is not reused.
    sqlx::query(
        "UPDATE agency_certificates SET chain_pem = (SELECT chain_pem FROM agency_certificates WHERE id = $1), \
         sealed_private_key = (SELECT sealed_private_key FROM agency_certificates WHERE id = $1) WHERE id = $2",
    )
    .bind(&second.id)
    .bind(&first.id)
    .execute(t.db.pool())
    .await
    .unwrap();
    // Revocation: the second certificate deleted; the first (edited) row is active again.
    sqlx::query("DELETE FROM agency_certificates WHERE id = $1")
        .bind(&second.id)
        .execute(t.db.pool())
        .await
        .unwrap();
    let (c, id_c) = signing_certs::active(&t.db, UBND_TAM_THANH, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.id, first.id);
    assert!(!std::sync::Arc::ptr_eq(&id_c, &id_a));
    assert_eq!(id_c.chain[0], id_b.chain[0]);
    // Every certificate gone: nothing signs.
    sqlx::query("DELETE FROM agency_certificates")
        .execute(t.db.pool())
        .await
        .unwrap();
    assert!(signing_certs::active(&t.db, UBND_TAM_THANH, now())
        .await
        .unwrap()
        .is_none());
}
