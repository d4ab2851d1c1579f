use super::{citizen, create, staff, CCCD, TAM_THANH};
use tinhso_identity::keys;
use tinhso_kernel::ErrorCode;
use tinhso_store::Row;

#[tokio::test]
async fn staff_sign_and_signatures_verify() {
    let t = super::db().await;
    let s = create(&t.db, &staff("canbo.ky", TAM_THANH, vec![]))
        .await
        .account;
    let msg = "Quyết định số 12/QĐ-UBND ngày 03/9/2026".as_bytes();
    let sig = keys::sign(&t.db, &s.id, msg).await.unwrap();
    let row = sqlx::query(
        "SELECT id, public_key, sealed_private_key FROM signing_keys WHERE user_id = $1",
    )
    .bind(&s.id)
    .fetch_one(t.db.pool())
    .await
    .unwrap();
    assert_eq!(sig.key_id, row.try_get::<String, _>(0).unwrap());
    assert_eq!(sig.public_key, row.try_get::<String, _>(1).unwrap());
    assert_eq!(sig.public_key.len(), 64);
    assert_eq!(sig.signature.len(), 128);
    let sealed: String = row.try_get(2).unwrap();
    assert!(!sealed.is_empty() && !sealed.contains(&sig.public_key));
    assert!(keys::verify(&sig.public_key, msg, &sig.signature));
    // ed25519 is deterministic
    assert_eq!(keys::sign(&t.db, &s.id, msg).await.unwrap(), sig);

    // a changed message, a changed signature, another person's key: all fail
    let changed = "Quyết định số 13/QĐ-UBND ngày 03/9/2026".as_bytes();
    assert!(!keys::verify(&sig.public_key, changed, &sig.signature));
    let mut flipped = sig.signature.clone().into_bytes();
    flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
    assert!(!keys::verify(
        &sig.public_key,
        msg,
        &String::from_utf8(flipped).unwrap()
    ));
    let other = create(&t.db, &staff("canbo.khac", TAM_THANH, vec![]))
        .await
        .account;
    let other_sig = keys::sign(&t.db, &other.id, msg).await.unwrap();
    assert_ne!(other_sig.public_key, sig.public_key);
    assert!(!keys::verify(&other_sig.public_key, msg, &sig.signature));
    assert!(keys::verify(
        &other_sig.public_key,
        msg,
        &other_sig.signature
    ));
    // garbage never verifies (and does not panic)
    assert!(!keys::verify("zz", msg, &sig.signature));
    assert!(!keys::verify(&sig.public_key, msg, "abcd"));
}

#[tokio::test]
async fn citizens_have_no_signing_key() {
    let t = super::db().await;
    let c = create(&t.db, &citizen(CCCD)).await.account;
    let e = keys::sign(&t.db, &c.id, b"anything").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert_eq!(e.status(), 403);
    assert_eq!(
        e.detail_en.as_deref(),
        Some("This account has no signing key")
    );
}

#[tokio::test]
async fn a_revoked_key_no_longer_signs() {
    let t = super::db().await;
    let s = create(&t.db, &staff("canbo.ky", TAM_THANH, vec![]))
        .await
        .account;
    sqlx::query("UPDATE signing_keys SET revoked_at = 1 WHERE user_id = $1")
        .bind(&s.id)
        .execute(t.db.pool())
        .await
        .unwrap();
    assert_eq!(
        keys::sign(&t.db, &s.id, b"x").await.unwrap_err().code,
        ErrorCode::Forbidden
    );
}
