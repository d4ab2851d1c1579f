//! PAdES signatures on electronic results: an agency with a certificate signs its results
//! inside the PDF; poppler's `pdfsig` (an independent implementation, NSS underneath) accepts
//! the signature; one changed byte makes both it and our verifier say invalid; certificates
//! are imported with field-level refusals (expired, wrong key, not allowed) and nothing
//! written; malformed files never panic the verifier.

use super::*;
use std::process::Command;
use tinhso_services::pades::{self, SigningKey};
use tinhso_services::results;
use tinhso_services::signing_certs;
use tinhso_services::test_ca::TestCa;

async fn approved(db: &Db, s: &Staff) -> String {
    let code = dossier::submit(db, &anon(), None, &birth(TAM_THANH))
        .await
        .unwrap()
        .dossier
        .code;
    act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    act(db, &s.one_stop, &code, "forward", "").await.unwrap();
    act(db, &s.officer, &code, "forward", "").await.unwrap();
    act(db, &s.leader, &code, "approve", "").await.unwrap();
    code
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
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let cert = signing_certs::issue_test_certificate(&t.db, &sys(), UBND_TAM_THANH, 365)
        .await
        .unwrap();
    assert!(cert.subject.contains("(THỬ NGHIỆM)"), "{}", cert.subject);
    assert_eq!(cert.source, "test_ca");
    let code = approved(&t.db, &s).await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(r.pades_certificate_id.as_deref(), Some(cert.id.as_str()));
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    // The platform's own signatures are still there and still verify.
    assert!(results::verify(&t.db, &r).await.unwrap().valid);
    assert_eq!(
        tinhso_pdf::custom_entry(&pdf, "TinhSoResultId").as_deref(),
        Some(r.id.as_str())
    );

    let report = results::check_pades(&t.db, &pdf).await.unwrap();
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
    let report = results::check_pades(&t.db, &bad).await.unwrap();
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
    let report = results::check_pades(&t.db, &bad).await.unwrap();
    assert!(report.digest_ok && !report.signature_ok && !report.valid);
    let out = pdfsig(&bad);
    assert!(!out.contains("Signature is Valid"), "{out}");

    // Something appended after signing is not covered.
    let mut longer = pdf.clone();
    longer.extend_from_slice(b"\n1000 0 obj\n(x)\nendobj\n");
    let report = results::check_pades(&t.db, &longer).await.unwrap();
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
    let code = approved(&t.db, &s).await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(r.pades_certificate_id, None);
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    let report = results::check_pades(&t.db, &pdf).await.unwrap();
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
    let code = approved(&t.db, &s).await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(r.pades_certificate_id, None);
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
    let e = signing_certs::import(
        &t.db,
        &ctx_of(&s.leader),
        &s.leader,
        UBND_TAM_THANH,
        "xyz",
        "abc",
    )
    .await
    .unwrap_err();
    let fields: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["key", "chain"], "{e:?}");
    assert!(e
        .fields
        .iter()
        .all(|f| !f.message_vi.is_empty() && !f.message_en.is_empty()));
    let other = ca.issue("Khác", "X", now - 60, now + 86_400).unwrap();
    let e = signing_certs::import(
        &t.db,
        &ctx_of(&s.leader),
        &s.leader,
        UBND_TAM_THANH,
        &key_pem(&other.key),
        &chain,
    )
    .await
    .unwrap_err();
    assert_eq!(e.fields[0].code, "chain_mismatch", "{e:?}");
    // The leaf alone, without its CA: the chain must reach a root.
    let e = signing_certs::import(
        &t.db,
        &ctx_of(&s.leader),
        &s.leader,
        UBND_TAM_THANH,
        &key,
        &pades::chain_to_pem(&good.chain[..1]),
    )
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
    let e = signing_certs::import(
        &t.db,
        &ctx_of(&s.leader),
        &s.leader,
        UBND_TAM_THANH,
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
    let cert = signing_certs::import(
        &t.db,
        &ctx_of(&s.leader),
        &s.leader,
        UBND_TAM_THANH,
        &key,
        &reversed,
    )
    .await
    .unwrap();
    assert_eq!(cert.source, "imported");
    assert_eq!(cert.key_algorithm, "ecdsa-p256");
    assert_eq!(count(&t.db, "pades_trust_anchors").await, 1);
    assert_eq!(count(&t.db, "audit_log").await, audit_before + 1);
    let imported = audited(&t.db, "signing_certificate.import").await;
    assert_eq!(imported[0].actor, s.leader.actor());
    let e = signing_certs::import(
        &t.db,
        &ctx_of(&s.leader),
        &s.leader,
        UBND_TAM_THANH,
        &key,
        &chain,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    // The key is sealed at rest: the stored text is not the PKCS#8 key.
    let sealed: String = sqlx::query_scalar("SELECT sealed_private_key FROM agency_certificates")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert!(!sealed.contains("PRIVATE KEY") && !key.contains(&sealed));
    // And it signs the next result.
    let code = approved(&t.db, &s).await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(r.pades_certificate_id.as_deref(), Some(cert.id.as_str()));
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    let report = results::check_pades(&t.db, &pdf).await.unwrap();
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
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "int.key",
        "-out",
        "int.csr",
        "-subj",
        "/CN=Sub CA thu nghiem/O=Test",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "int.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-out",
        "int.pem",
        "-days",
        "30",
        "-sha256",
        "-extfile",
        "ext.cnf",
        "-extensions",
        "ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=UBND phuong Tam Thanh/O=Test",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "int.pem",
        "-CAkey",
        "int.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "30",
        "-sha256",
        "-extfile",
        "ext.cnf",
        "-extensions",
        "leaf",
    ]);
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
    let cert = signing_certs::import(
        &t.db,
        &ctx_of(&s.leader),
        &s.leader,
        UBND_TAM_THANH,
        &key,
        &chain,
    )
    .await
    .unwrap();
    assert_eq!(cert.key_algorithm, "rsa-2048");
    assert!(cert.issuer.contains("Sub CA thu nghiem"), "{}", cert.issuer);
    let code = approved(&t.db, &s).await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    let report = results::check_pades(&t.db, &pdf).await.unwrap();
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
