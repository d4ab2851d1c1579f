//! Attachments (tệp đính kèm): submission with files all or nothing, types sniffed from the
//! bytes, size limits per file and per dossier, who may attach when, listing and reading.

use super::*;
use sha2::Digest;
use tinhso_services::dossier::{Upload, MAX_FILE_BYTES};
use tinhso_store::files::FileStore;

/// A file store in a fresh temporary directory.
fn store() -> FileStore {
    let dir = std::env::temp_dir().join(format!("tinhso-att-{}", uuid::Uuid::new_v4()));
    FileStore::local(dir, 20 * 1024 * 1024)
}

fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {tag}\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n").into_bytes()
}

fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(b"\x00\x00\x00\rIHDR rest of a tiny image");
    b
}

fn exe() -> Vec<u8> {
    let mut b = b"MZ\x90\x00\x03\x00\x00\x00".to_vec();
    b.extend_from_slice(&[0u8; 64]);
    b
}

fn up(component: &str, name: &str, bytes: Vec<u8>) -> Upload {
    Upload {
        component_id: component.into(),
        file_name: name.into(),
        bytes,
    }
}

fn mai_applicant() -> ActingAs<'static> {
    ActingAs::Applicant {
        principal: None,
        name: "Hoàng Thị Mai",
    }
}

#[tokio::test]
async fn a_bad_file_writes_nothing_and_a_good_submission_keeps_its_files() {
    let t = env().await;
    let db = &t.db;
    let files = store();
    let before = footprint(db).await;

    // A program renamed .pdf: refused by its content, naming what it is; nothing written,
    // not even the good file beside it.
    let bad = [
        up("giay_chung_sinh", "giay-chung-sinh.pdf", pdf("cs")),
        up("giay_to_tuy_than", "cccd.pdf", exe()),
    ];
    let e = assert_code(
        dossier::submit_with_files(db, &files, &anon(), None, &birth(TAM_THANH), &bad).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        vec![("files.giay_to_tuy_than".to_string(), "file_type")]
    );
    assert!(
        e.fields[0].message_en.contains("application/x-msdownload"),
        "{e}"
    );
    assert!(e.fields[0].message_vi.contains("cccd.pdf"), "{e}");
    assert_eq!(footprint(db).await, before);
    assert_eq!(count(db, "dossier_files").await, 0);
    assert_eq!(count(db, "files").await, 0);

    // Every problem at once: the applicant's and the missing required copy. The identity
    // paper is an original shown at the counter: not required online.
    let mut s = birth(TAM_THANH);
    s.applicant.phone = "12ab".into();
    let e = assert_code(
        dossier::submit_with_files(db, &files, &anon(), None, &s, &[]).await,
        ErrorCode::ValidationFailed,
    );
    let f = fields(&e);
    assert!(f.iter().any(|(n, _)| n == "applicant.phone"), "{f:?}");
    assert!(
        f.contains(&("files.giay_chung_sinh".into(), "file_required")),
        "{f:?}"
    );
    assert!(
        !f.iter().any(|(n, _)| n == "files.giay_to_tuy_than"),
        "{f:?}"
    );
    assert_eq!(footprint(db).await, before);

    // An unknown component is named.
    let e = assert_code(
        dossier::submit_with_files(
            db,
            &files,
            &anon(),
            None,
            &birth(TAM_THANH),
            &[
                up("giay_chung_sinh", "a.pdf", pdf("a")),
                up("so_do", "b.pdf", pdf("b")),
            ],
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        vec![("component_id".to_string(), "component_unknown")]
    );
    assert!(e.fields[0].message_en.contains("\"so_do\""), "{e}");
    assert_eq!(footprint(db).await, before);

    // A good one: the dossier and its files, each audited.
    let good = [
        up(
            "giay_chung_sinh",
            "C:\\Users\\mai\\giấy chứng sinh.pdf",
            pdf("cs"),
        ),
        up("giay_to_tuy_than", "cccd.png", png()),
    ];
    let r = dossier::submit_with_files(db, &files, &anon(), None, &birth(TAM_THANH), &good)
        .await
        .unwrap();
    let list = dossier::files(db, &r.dossier.code).await.unwrap();
    assert_eq!(list.len(), 2);
    let cs = list
        .iter()
        .find(|a| a.component_id == "giay_chung_sinh")
        .unwrap();
    assert_eq!(cs.file_name, "giấy chứng sinh.pdf");
    assert_eq!(cs.media_type, "application/pdf");
    assert_eq!(cs.size, pdf("cs").len() as i64);
    assert!(cs.component_name.starts_with("Giấy chứng sinh"), "{cs:?}");
    let (a, bytes) = dossier::read_file(db, &files, &r.dossier.code, &cs.sha256)
        .await
        .unwrap();
    assert_eq!(a, *cs);
    assert_eq!(bytes, pdf("cs"));
    let attach_audits = audited(db, "dossier.attach").await;
    assert_eq!(attach_audits.len(), 2);
    assert!(attach_audits.iter().all(|e| e.target_id == r.dossier.code));
    // A file of another dossier (or none) is not found through this one.
    let other = submit_anon(db, &birth(TAM_THANH)).await;
    assert_code(
        dossier::read_file(db, &files, &other.dossier.code, &cs.sha256).await,
        ErrorCode::NotFound,
    );
}

#[tokio::test]
async fn sizes_and_types_are_limited() {
    let t = env().await;
    let db = &t.db;
    let files = store();
    let r = submit_anon(db, &birth(TAM_THANH)).await;
    let code = r.dossier.code.as_str();

    let e = assert_code(
        dossier::attach(
            db,
            &files,
            &anon(),
            code,
            mai_applicant(),
            &up("giay_chung_sinh", "x.pdf", Vec::new()),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        vec![("files.giay_chung_sinh".to_string(), "file_empty")]
    );

    let mut big = pdf("big");
    big.resize(MAX_FILE_BYTES + 1, b' ');
    let e = assert_code(
        dossier::attach(
            db,
            &files,
            &anon(),
            code,
            mai_applicant(),
            &up("giay_chung_sinh", "big.pdf", big),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        vec![("files.giay_chung_sinh".to_string(), "file_too_large")]
    );

    for (bytes, seen) in [
        (b"GIF89a....".to_vec(), "image/gif"),
        (b"PK\x03\x04 a docx".to_vec(), "application/zip"),
        (b"<html><script>".to_vec(), "text/html"),
    ] {
        let e = assert_code(
            dossier::attach(
                db,
                &files,
                &anon(),
                code,
                mai_applicant(),
                &up("giay_chung_sinh", "a.pdf", bytes),
            )
            .await,
            ErrorCode::ValidationFailed,
        );
        assert_eq!(e.fields[0].code, "file_type");
        assert!(e.fields[0].message_en.contains(seen), "{e}");
    }
    assert_eq!(count(db, "dossier_files").await, 0);
    assert!(audited(db, "dossier.attach").await.is_empty());

    // The dossier's total: five files of 10 MiB fill it; one more byte does not fit.
    for i in 0..5u8 {
        let mut b = pdf(&format!("part {i}"));
        b.resize(MAX_FILE_BYTES, b'0' + i);
        dossier::attach(
            db,
            &files,
            &anon(),
            code,
            mai_applicant(),
            &up("giay_chung_sinh", &format!("p{i}.pdf"), b),
        )
        .await
        .unwrap();
    }
    let e = assert_code(
        dossier::attach(
            db,
            &files,
            &anon(),
            code,
            mai_applicant(),
            &up("giay_to_tuy_than", "c.png", png()),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(e.fields[0].code, "files_total_too_large");
    assert_eq!(count(db, "dossier_files").await, 5);
}

#[tokio::test]
async fn who_may_attach_and_when() {
    let t = env().await;
    let db = &t.db;
    let files = store();
    let s = tam_thanh_staff(db).await;
    let r = submit_anon(db, &birth(TAM_THANH)).await;
    let code = r.dossier.code.as_str();

    // The applicant while the dossier awaits acceptance; the same content twice is one file.
    let f1 = up("giay_chung_sinh", "cs.pdf", pdf("1"));
    let a = dossier::attach(db, &files, &anon(), code, mai_applicant(), &f1)
        .await
        .unwrap();
    let again = dossier::attach(db, &files, &anon(), code, mai_applicant(), &f1)
        .await
        .unwrap();
    assert_eq!(a, again);
    assert_eq!(count(db, "dossier_files").await, 1);
    assert_eq!(audited(db, "dossier.attach").await.len(), 1);

    // Several files at once: one bad one attaches none.
    let e = assert_code(
        dossier::attach_all(
            db,
            &files,
            &anon(),
            code,
            mai_applicant(),
            &[
                up("giay_chung_sinh", "2.pdf", pdf("2")),
                up("giay_to_tuy_than", "x.pdf", exe()),
            ],
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(e.fields[0].field, "files.giay_to_tuy_than");
    assert_eq!(count(db, "dossier_files").await, 1);

    // Accepted: the applicant no longer; the handling officers yes; another commune's not.
    act(db, &s.one_stop, code, "accept", "").await.unwrap();
    assert_code(
        dossier::attach(
            db,
            &files,
            &anon(),
            code,
            mai_applicant(),
            &up("giay_chung_sinh", "3.pdf", pdf("3")),
        )
        .await,
        ErrorCode::Conflict,
    );
    dossier::attach(
        db,
        &files,
        &ctx_of(&s.one_stop),
        code,
        ActingAs::Staff(&s.one_stop),
        &up("giay_to_tuy_than", "scan.png", png()),
    )
    .await
    .unwrap();
    assert_code(
        dossier::attach(
            db,
            &files,
            &ctx_of(&s.other_commune),
            code,
            ActingAs::Staff(&s.other_commune),
            &up("giay_chung_sinh", "4.pdf", pdf("4")),
        )
        .await,
        ErrorCode::Forbidden,
    );
    assert_eq!(count(db, "dossier_files").await, 2);

    // Asked to supplement: the applicant may add files again, until the supplement is sent.
    act(
        db,
        &s.one_stop,
        code,
        "request_supplement",
        "Bổ sung bản chụp giấy chứng sinh rõ nét",
    )
    .await
    .unwrap();
    dossier::attach(
        db,
        &files,
        &anon(),
        code,
        mai_applicant(),
        &up("giay_chung_sinh", "ro-net.pdf", pdf("5")),
    )
    .await
    .unwrap();
    applicant_act(db, code, &input("supplement", ""))
        .await
        .unwrap();
    assert_code(
        dossier::attach(
            db,
            &files,
            &anon(),
            code,
            mai_applicant(),
            &up("giay_chung_sinh", "6.pdf", pdf("6")),
        )
        .await,
        ErrorCode::Conflict,
    );
    let list = dossier::files(db, code).await.unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(audited(db, "dossier.attach").await.len(), 3);

    // Unknown dossier.
    assert_code(
        dossier::attach(
            db,
            &files,
            &anon(),
            "000.00.23.H37-260101-9999",
            mai_applicant(),
            &f1,
        )
        .await,
        ErrorCode::NotFound,
    );
}

/// The totals kept on the dossier's row are checked again under its lock: a caller holding
/// the dossier as loaded before other files came cannot take it over the limit, and nothing
/// of the refused upload stays.
#[tokio::test]
async fn the_total_is_checked_again_when_the_files_are_recorded() {
    let t = env().await;
    let db = &t.db;
    let files = store();
    let r = submit_anon(db, &birth(TAM_THANH)).await;
    let code = &r.dossier.code;
    let stale = dossier::get(db, code).await.unwrap().unwrap();
    assert_eq!((stale.files_bytes, stale.files_count), (0, 0));
    for i in 0..5u8 {
        let mut b = pdf(&format!("part {i}"));
        b.resize(MAX_FILE_BYTES, b'0' + i);
        dossier::attach(
            db,
            &files,
            &anon(),
            code,
            mai_applicant(),
            &up("giay_chung_sinh", &format!("p{i}.pdf"), b),
        )
        .await
        .unwrap();
    }
    let d = dossier::get(db, code).await.unwrap().unwrap();
    assert_eq!(
        (d.files_bytes, d.files_count),
        (5 * MAX_FILE_BYTES as i64, 5)
    );
    let e = assert_code(
        dossier::attach_to(
            db,
            &files,
            &anon(),
            &stale,
            mai_applicant(),
            &up("giay_to_tuy_than", "c.png", png()),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(e.fields[0].code, "files_total_too_large");
    assert_eq!(count(db, "dossier_files").await, 5);
    assert_eq!(audited(db, "dossier.attach").await.len(), 5);
    let d = dossier::get(db, code).await.unwrap().unwrap();
    assert_eq!(d.files_count, 5);
}

/// A submission with files is one group-commit item: the dossier, its files, their audit
/// entries and the outbox event commit together. A statement failing on the last file's row
/// (a trigger refusing it) undoes everything: no dossier, no number, no file row, no audit
/// entry, no event; the blob the file store already holds is referenced by nothing.
#[tokio::test]
async fn a_submission_and_its_files_commit_together_or_not_at_all() {
    let t = env().await;
    let db = &t.db;
    let files = store();
    let good = [up("giay_chung_sinh", "cs.pdf", pdf("together"))];
    let before = db.group_stats();
    let r = dossier::submit_with_files(db, &files, &anon(), None, &birth(TAM_THANH), &good)
        .await
        .unwrap();
    let after = db.group_stats();
    if db.group_commit() {
        assert_eq!(
            after.1 - before.1,
            1,
            "one group-commit item: {before:?} → {after:?}"
        );
    }
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].component_id, "giay_chung_sinh");
    assert!(
        r.files[0].component_name.starts_with("Giấy chứng sinh"),
        "{:?}",
        r.files
    );
    assert_eq!(
        (r.dossier.files_bytes, r.dossier.files_count),
        (pdf("together").len() as i64, 1)
    );
    let d = dossier::get(db, &r.dossier.code).await.unwrap().unwrap();
    assert_eq!((d.files_bytes, d.files_count), (r.dossier.files_bytes, 1));
    assert_eq!(dossier::files(db, &r.dossier.code).await.unwrap(), r.files);

    let refuse = match db.backend() {
        tinhso_store::Backend::Sqlite => vec![
            "CREATE TRIGGER refuse_file BEFORE INSERT ON dossier_files \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        tinhso_store::Backend::Postgres => vec![
            "CREATE FUNCTION refuse_file() RETURNS trigger AS $$ BEGIN \
             RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_file BEFORE INSERT ON dossier_files \
             FOR EACH ROW EXECUTE FUNCTION refuse_file()",
        ],
    };
    for sql in refuse {
        sqlx::query(sql).execute(db.pool()).await.unwrap();
    }
    let before = (
        footprint(db).await,
        count(db, "dossier_files").await,
        count(db, "files").await,
    );
    let other = [up("giay_chung_sinh", "cs2.pdf", pdf("refused"))];
    let e = dossier::submit_with_files(db, &files, &anon(), None, &birth(TAM_THANH), &other)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Internal, "{e}");
    let after = (
        footprint(db).await,
        count(db, "dossier_files").await,
        count(db, "files").await,
    );
    assert_eq!(after, before, "nothing of the failed submission stays");
    // Its number was given back: the next dossier of the day takes it.
    let drop = match db.backend() {
        tinhso_store::Backend::Sqlite => "DROP TRIGGER refuse_file",
        tinhso_store::Backend::Postgres => "DROP TRIGGER refuse_file ON dossier_files",
    };
    sqlx::query(drop).execute(db.pool()).await.unwrap();
    let next = submit_anon(db, &birth(TAM_THANH)).await;
    let (day, n) = r.dossier.code.rsplit_once('-').unwrap();
    if next.dossier.code.starts_with(day) {
        assert_eq!(n, "0001");
        assert_eq!(next.dossier.code, format!("{day}-0002"));
    }
}

/// A retry with the same idempotency key answers the first dossier and its files and writes
/// nothing: not a second dossier, not a file row, not even a blob in the file store, though
/// the retry carried other bytes.
#[tokio::test]
async fn a_retried_submission_with_files_writes_nothing() {
    let t = env().await;
    let db = &t.db;
    let files = store();
    let mut s = birth(TAM_THANH);
    s.idempotency_key = Some("retry-with-files-1".into());
    let first = dossier::submit_with_files(
        db,
        &files,
        &anon(),
        None,
        &s,
        &[up("giay_chung_sinh", "cs.pdf", pdf("first"))],
    )
    .await
    .unwrap();
    assert!(!first.replayed);
    let before = (
        footprint(db).await,
        count(db, "dossier_files").await,
        count(db, "files").await,
        files.list().await.unwrap(),
    );
    let again = dossier::submit_with_files(
        db,
        &files,
        &anon(),
        None,
        &s,
        &[up(
            "giay_chung_sinh",
            "cs.pdf",
            pdf("second try, other bytes"),
        )],
    )
    .await
    .unwrap();
    assert!(again.replayed);
    assert_eq!(again.dossier.code, first.dossier.code);
    assert_eq!(again.lookup_code, first.lookup_code);
    assert_eq!(again.files, first.files);
    let after = (
        footprint(db).await,
        count(db, "dossier_files").await,
        count(db, "files").await,
        files.list().await.unwrap(),
    );
    assert_eq!(after, before);
}

/// A birth registration submitted with a small PDF (`tag` in it) and a 4 KiB PNG, by `by` (or
/// anonymously); the receipt and the two files' bytes.
async fn small_and_large(
    db: &Db,
    files: &FileStore,
    by: Option<&tinhso_identity::Principal>,
    tag: &str,
) -> (Receipt, Vec<u8>, Vec<u8>) {
    let small = pdf(tag);
    let mut large = png();
    large.resize(4096, 7);
    let ctx = by.map_or_else(anon, ctx_of);
    let r = dossier::submit_with_files(
        db,
        files,
        &ctx,
        by,
        &birth(TAM_THANH),
        &[
            up("giay_chung_sinh", "cs.pdf", small.clone()),
            up("giay_to_tuy_than", "cccd.png", large.clone()),
        ],
    )
    .await
    .unwrap();
    (r, small, large)
}

#[tokio::test]
async fn small_files_are_kept_in_the_database_and_large_ones_in_the_file_store() {
    let t = env().await;
    let db = &t.db;
    // Files up to 1 KiB kept with their dossier, larger ones written to the file store.
    let files = store().with_inline_max(1024);
    let mai = citizen(db, CCCD, "Hoàng Thị Mai").await;
    let (r, small, large) = small_and_large(db, &files, Some(&mai), "nhỏ").await;
    assert!(files.keeps_inline(small.len()) && !files.keeps_inline(large.len()));
    let code = r.dossier.code.as_str();
    // The receipt lists both kinds alike.
    let mut got: Vec<(String, i64)> = r
        .files
        .iter()
        .map(|a| (a.media_type.clone(), a.size))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("application/pdf".to_string(), small.len() as i64),
            ("image/png".to_string(), large.len() as i64)
        ]
    );
    let sha = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let (small_sha, large_sha) = (sha(&small), sha(&large));
    // Only the large one is a file of the store (and a `files` row); the small one is on its
    // `dossier_files` row.
    assert_eq!(files.list().await.unwrap(), vec![large_sha.clone()]);
    assert_eq!(count(db, "files").await, 1);
    let kept: Vec<(String, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT sha256, content FROM dossier_files WHERE dossier_code = $1 ORDER BY size",
    )
    .bind(code)
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        kept,
        vec![
            (small_sha.clone(), Some(small.clone())),
            (large_sha.clone(), None)
        ]
    );
    // Both read back, through the dossier and through the applicant's data store.
    for (s, bytes) in [(&small_sha, &small), (&large_sha, &large)] {
        let (a, read) = dossier::read_file(db, &files, code, s).await.unwrap();
        assert_eq!((&a.sha256, &read), (s, bytes));
    }
    let docs = tinhso_services::results::personal_documents(db, &mai.user_id)
        .await
        .unwrap();
    assert_eq!(docs.len(), 2);
    for d in &docs {
        let want = if d.file_sha256 == small_sha {
            &small
        } else {
            &large
        };
        assert_eq!(
            &tinhso_services::results::document_bytes(db, &files, d)
                .await
                .unwrap(),
            want
        );
    }
    // A later upload to the dossier is kept the same way.
    let later = pdf("bổ sung");
    dossier::attach(
        db,
        &files,
        &anon(),
        code,
        mai_applicant(),
        &up("giay_chung_sinh", "cs2.pdf", later.clone()),
    )
    .await
    .unwrap();
    assert_eq!(files.list().await.unwrap(), vec![large_sha.clone()]);
    assert_eq!(
        dossier::read_file(db, &files, code, &sha(&later))
            .await
            .unwrap()
            .1,
        later
    );
    // Bytes kept in the database are checked against their address like a stored file.
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query("UPDATE dossier_files SET content = $1 WHERE sha256 = $2")
        .bind(pdf("đã sửa").as_slice())
        .bind(&small_sha)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_code(
        dossier::read_file(db, &files, code, &small_sha).await,
        ErrorCode::Internal,
    );
    // A file the dossier does not have is not found, though another dossier keeps it.
    let other = submit_anon(db, &birth(TAM_THANH)).await;
    assert_code(
        dossier::read_file(db, &files, &other.dossier.code, &sha(&later)).await,
        ErrorCode::NotFound,
    );
}

/// A SQLite snapshot (`VACUUM INTO`, the documented backup) carries the small attachments
/// themselves; the large ones are in the file store's directory, copied beside it.
#[tokio::test]
async fn a_database_snapshot_carries_the_small_attachments() {
    let t = env().await;
    if t.db.backend() != tinhso_store::Backend::Sqlite {
        return; // PostgreSQL is backed up with pg_dump, which copies every table.
    }
    let db = &t.db;
    let files = store().with_inline_max(1024);
    let (r, small, large) = small_and_large(db, &files, None, "sao lưu").await;
    let snapshot = t.dir.path().join("snapshot.db");
    tinhso_store::backup::backup_to(db, &snapshot)
        .await
        .unwrap();
    let copy = tinhso_store::Db::connect(
        &format!("sqlite://{}", snapshot.display()),
        &Default::default(),
    )
    .await
    .unwrap();
    // With no file store at all, the small one reads from the snapshot; the large one needs
    // the store's directory.
    let none = FileStore::local(t.dir.path().join("no-files"), 20 * 1024 * 1024);
    let sha = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let code = r.dossier.code.as_str();
    assert_eq!(
        dossier::read_file(&copy, &none, code, &sha(&small))
            .await
            .unwrap()
            .1,
        small
    );
    assert_code(
        dossier::read_file(&copy, &none, code, &sha(&large)).await,
        ErrorCode::NotFound,
    );
    assert_eq!(
        dossier::read_file(&copy, &files, code, &sha(&large))
            .await
            .unwrap()
            .1,
        large
    );
    copy.close().await;
}
