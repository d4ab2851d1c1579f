//! Electronic results: issued with the approval in one transaction, signed by the agency and
//! the leader, verifiable, revocable, and kept in the applicant's data store.

use super::*;
use base64::Engine;
use tinhso_services::results::{self, FileCheck, Payload};

#[tokio::test]
async fn approval_issues_a_signed_pdf_that_verifies() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = approved(
        &t.db,
        &s,
        None,
        "Đăng ký khai sinh cho cháu Nguyễn Minh Khang",
    )
    .await;
    let r = results::of_dossier(&t.db, &code)
        .await
        .unwrap()
        .expect("issued");
    assert!(results::is_id(&r.id));
    assert_eq!(r.agency_code, UBND_TAM_THANH);
    assert_eq!(r.holder_name, "Hoàng Thị Mai");
    assert_eq!(r.signer_name, s.leader.display_name);
    assert!(r.number.starts_with("00001/"), "{}", r.number);
    // The signed payload states what the document shows.
    let p: Payload = serde_json::from_str(&r.payload).unwrap();
    assert_eq!(p.dossier, code);
    assert_eq!(p.decision, "Đăng ký khai sinh cho cháu Nguyễn Minh Khang");
    assert_eq!(p.title, "Giấy khai sinh");
    assert!(!p.details.is_empty());
    // Both signatures check out against the key registry.
    let v = results::verify(&t.db, &r).await.unwrap();
    assert!(v.valid, "{:?}", v.problems);
    assert!(v.agency_signature_ok && v.signer_signature_ok && !v.revoked);
    // The PDF is in the file store, carries the payload and signatures, and the QR address.
    let pdf = results::pdf(test_files(), &r).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(pdf.len() as i64, r.file_size);
    assert_eq!(
        tinhso_pdf::custom_entry(&pdf, "TinhSoResultId").as_deref(),
        Some(r.id.as_str())
    );
    let embedded = tinhso_pdf::custom_entry(&pdf, "TinhSoPayload").unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(embedded)
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), r.payload);
    assert_eq!(
        tinhso_pdf::custom_entry(&pdf, "TinhSoAgencySignature").as_deref(),
        Some(r.agency_signature.as_str())
    );
    assert_eq!(results::check_file(&r, &pdf), FileCheck::Identical);
    // The approval and the issuance are audited by the leader.
    let issued = audited(&t.db, "result.issue").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].actor, s.leader.actor());
    // The dossier is done.
    let d = dossier::get(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(d.status, 9);
}

#[tokio::test]
async fn numbers_count_up_per_agency_and_the_standard_decision_is_used_when_blank() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let a = approved(&t.db, &s, None, "").await;
    let b = approved(&t.db, &s, None, "  ").await;
    let ra = results::of_dossier(&t.db, &a).await.unwrap().unwrap();
    let rb = results::of_dossier(&t.db, &b).await.unwrap().unwrap();
    assert!(ra.number.starts_with("00001/") && rb.number.starts_with("00002/"));
    assert_ne!(ra.id, rb.id);
    let p: Payload = serde_json::from_str(&rb.payload).unwrap();
    assert!(
        p.decision
            .starts_with("Chấp thuận đề nghị của Hoàng Thị Mai"),
        "{}",
        p.decision
    );
}

#[tokio::test]
async fn a_tampered_record_or_file_does_not_verify() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = approved(&t.db, &s, None, "").await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    // Someone edits the holder's name in the signed payload in the database.
    let forged = r.payload.replace("Hoàng Thị Mai", "Hoàng Thị Mây");
    assert_ne!(forged, r.payload);
    let mut tx = t.db.begin_write().await.unwrap();
    sqlx::query("UPDATE dossier_results SET payload = $1 WHERE id = $2")
        .bind(&forged)
        .bind(&r.id)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let r2 = results::by_id(&t.db, &r.id).await.unwrap().unwrap();
    let v = results::verify(&t.db, &r2).await.unwrap();
    assert!(!v.valid);
    assert!(!v.agency_signature_ok && !v.signer_signature_ok);
    assert!(v
        .problems
        .iter()
        .any(|p| p.0.contains("chữ ký số của cơ quan")));
    // A file altered after issuance carries the code but is not the original.
    let mut pdf = results::pdf(test_files(), &r).await.unwrap();
    let n = pdf.len();
    pdf[n - 20] ^= 0x01;
    assert_eq!(results::check_file(&r, &pdf), FileCheck::Altered);
    assert_eq!(
        results::check_file(&r, b"%PDF-1.7 something else"),
        FileCheck::Other
    );
}

#[tokio::test]
async fn revocation_needs_the_approving_authority_and_a_reason_and_happens_once() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = approved(&t.db, &s, None, "").await;
    // A specialist of the agency may not revoke; nor may another commune's officer.
    assert_code(
        results::revoke(
            &t.db,
            &ctx_of(&s.specialist),
            &code,
            &s.specialist,
            "Sai thông tin",
        )
        .await,
        ErrorCode::Forbidden,
    );
    assert_code(
        results::revoke(
            &t.db,
            &ctx_of(&s.other_commune),
            &code,
            &s.other_commune,
            "Sai thông tin",
        )
        .await,
        ErrorCode::Forbidden,
    );
    let e = assert_code(
        results::revoke(&t.db, &ctx_of(&s.leader), &code, &s.leader, " ").await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("reason".to_string(), "reason_required")]);
    let r = results::revoke(
        &t.db,
        &ctx_of(&s.leader),
        &code,
        &s.leader,
        "Ghi sai ngày sinh của trẻ",
    )
    .await
    .unwrap();
    assert!(r.revoked_at.is_some());
    let v = results::verify(&t.db, &r).await.unwrap();
    assert!(!v.valid && v.revoked);
    // The signatures themselves are still right: it is the revocation that voids it.
    assert!(v.agency_signature_ok && v.signer_signature_ok);
    assert_eq!(
        v.revoked_reason.as_deref(),
        Some("Ghi sai ngày sinh của trẻ")
    );
    assert_code(
        results::revoke(&t.db, &ctx_of(&s.leader), &code, &s.leader, "Lần thứ hai").await,
        ErrorCode::Conflict,
    );
    assert_eq!(audited(&t.db, "result.revoke").await.len(), 1);
}

#[tokio::test]
async fn a_failed_issuance_leaves_the_dossier_unapproved() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = dossier::submit(&t.db, &anon(), None, &birth(TAM_THANH))
        .await
        .unwrap()
        .dossier
        .code;
    act(&t.db, &s.one_stop, &code, "accept", "").await.unwrap();
    act(&t.db, &s.one_stop, &code, "forward", "").await.unwrap();
    act(&t.db, &s.officer, &code, "forward", "").await.unwrap();
    let before = footprint(&t.db).await;
    // The leader's signing key was revoked: the result cannot be signed.
    let mut tx = t.db.begin_write().await.unwrap();
    sqlx::query("UPDATE signing_keys SET revoked_at = 1 WHERE user_id = $1")
        .bind(&s.leader.user_id)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_code(
        act(&t.db, &s.leader, &code, "approve", "").await,
        ErrorCode::Forbidden,
    );
    let d = dossier::get(&t.db, &code).await.unwrap().unwrap();
    assert_eq!(d.status, 4, "still processing");
    assert!(results::of_dossier(&t.db, &code).await.unwrap().is_none());
    assert_eq!(
        count(&t.db, "result_counters").await,
        0,
        "no number used up"
    );
    assert_eq!(footprint(&t.db).await, before);
}

#[tokio::test]
async fn a_signed_in_applicants_result_goes_to_their_data_store() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let mai = citizen(&t.db, CCCD, "Hoàng Thị Mai").await;
    let code = approved(&t.db, &s, Some(&mai), "").await;
    let r = results::of_dossier(&t.db, &code).await.unwrap().unwrap();
    let docs = results::personal_documents(&t.db, &mai.user_id)
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].kind, "result");
    assert_eq!(docs[0].file_sha256, r.file_sha256);
    assert_eq!(docs[0].result_id.as_deref(), Some(r.id.as_str()));
    assert_eq!(docs[0].source_dossier.as_deref(), Some(code.as_str()));
    // Nobody else's store has it.
    assert!(results::personal_documents(&t.db, &s.leader.user_id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn procedures_without_an_electronic_result_issue_none() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    // Make the birth registration's result paper-only in a new catalogue version.
    let mut p = tinhso_services::catalogue::current(&t.db, KHAI_SINH)
        .await
        .unwrap()
        .unwrap()
        .procedure;
    p.result.electronic = false;
    tinhso_services::catalogue::update(&t.db, &sys(), &p)
        .await
        .unwrap();
    let code = approved(&t.db, &s, None, "").await;
    assert_eq!(dossier::get(&t.db, &code).await.unwrap().unwrap().status, 9);
    assert!(results::of_dossier(&t.db, &code).await.unwrap().is_none());
}

#[test]
fn verification_codes_are_not_guessable_shapes() {
    assert!(!results::is_id("00000"));
    assert_eq!(
        results::grouped("0123456789ABCDEFGHJK"),
        "01234-56789-ABCDE-FGHJK"
    );
}
