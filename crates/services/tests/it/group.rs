//! Group commit of submissions and attachments: many parallel callers, duplicate idempotency
//! keys landing in the same transaction, an invalid submission, a refused attachment among
//! good ones; exactly the right rows, the audit chain whole, every answer after the commit.

use super::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tinhso_services::dossier::Upload;
use tinhso_services::status::Status;
use tinhso_store::files::FileStore;
use tinhso_store::WriteTx;

fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {tag}\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n").into_bytes()
}

/// Keep the group writer busy for `ms` so that what the test starts meanwhile queues behind
/// it and is written together.
fn hold_writer(db: &Db, ms: u64) -> tokio::task::JoinHandle<()> {
    let db = db.clone();
    tokio::spawn(async move {
        db.write_grouped(move |_tx: &mut WriteTx| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, AppError>(())
            })
        })
        .await
        .unwrap();
    })
}

/// A submission whose receipt must be what the database holds: `get` reads it back the
/// moment the caller has it (a separate connection sees only committed rows).
async fn submit_checked(db: Db, s: Submission) -> Result<Receipt, AppError> {
    let r = dossier::submit(&db, &anon(), None, &s).await?;
    let stored = dossier::get(&db, &r.dossier.code)
        .await
        .unwrap()
        .expect("acknowledged, so committed");
    assert_eq!(
        serde_json::to_value(&r.dossier).unwrap(),
        serde_json::to_value(&stored).unwrap(),
        "the receipt is what was stored"
    );
    Ok(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_submissions_with_duplicate_keys_and_an_invalid_one() {
    let t = env().await;
    let db = &t.db;
    let audit_before = count(db, "audit_log").await;
    let (batches_before, items_before) = db.group_stats();
    let holder = hold_writer(db, 1500);
    tokio::time::sleep(Duration::from_millis(50)).await;

    // 30 distinct keys; keys 0–9 are sent three times each (a client retrying at once), so
    // copies of one key land in the same transaction. One submission is invalid.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let copies = if i < 10 { 3 } else { 1 };
        for _ in 0..copies {
            let mut s = birth(TAM_THANH);
            s.idempotency_key = Some(format!("group-{i:02}"));
            s.form
                .insert("ho_ten_tre".into(), format!("Hoàng Minh An {i}"));
            tasks.push((Some(i), tokio::spawn(submit_checked(db.clone(), s))));
        }
    }
    let mut bad = birth(TAM_THANH);
    bad.idempotency_key = Some("group-bad".into());
    bad.form.insert("ngay_sinh_tre".into(), "31/02/2026".into());
    tasks.push((None, tokio::spawn(submit_checked(db.clone(), bad))));

    let mut by_key: BTreeMap<usize, Vec<Receipt>> = BTreeMap::new();
    for (key, task) in tasks {
        let r = task.await.unwrap();
        match key {
            Some(i) => by_key
                .entry(i)
                .or_default()
                .push(r.unwrap_or_else(|e| panic!("key {i}: {e}"))),
            None => {
                let e = assert_code(r, ErrorCode::ValidationFailed);
                assert_eq!(fields(&e)[0].0, "form.ngay_sinh_tre");
            }
        }
    }
    holder.await.unwrap();

    // One dossier per key; every copy of a key got it, exactly one as new.
    let mut codes = BTreeSet::new();
    for (i, receipts) in &by_key {
        let first = &receipts[0].dossier.code;
        assert!(receipts.iter().all(|r| &r.dossier.code == first), "key {i}");
        assert_eq!(
            receipts.iter().filter(|r| !r.replayed).count(),
            1,
            "key {i}"
        );
        assert_eq!(
            receipts[0].dossier.form["ho_ten_tre"],
            format!("Hoàng Minh An {i}")
        );
        codes.insert(first.clone());
    }
    assert_eq!(codes.len(), 30);
    assert_eq!(count(db, "dossiers").await, 30);
    assert_eq!(count(db, "dossier_events").await, 30);
    assert_eq!(count(db, "outbox").await, 30);
    // The duplicates gave their numbers back: the codes run 0001–0030 without a gap.
    let expected: BTreeSet<String> = (1..=30)
        .map(|n| {
            format!(
                "{UBND_TAM_THANH}-{}-{n:04}",
                dossier::today_local().format("%y%m%d")
            )
        })
        .collect();
    assert_eq!(codes, expected);
    // Nothing of the invalid one.
    let bad_rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM dossiers WHERE idempotency_key = 'group-bad'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(bad_rows, 0);
    // One audit entry per dossier, the chain whole.
    assert_eq!(count(db, "audit_log").await, audit_before + 30);
    assert_eq!(audited(db, "dossier.submit").await.len(), 30);
    let v = audit::verify(db).await.unwrap();
    assert_eq!(v.first_broken, None);
    // They queued behind the held writer: far fewer transactions than submissions.
    let (batches, items) = db.group_stats();
    let (batches, items) = (batches - batches_before, items - items_before);
    if db.group_commit() {
        assert_eq!(items, 1 + 50, "the holder and every valid copy");
        assert!(
            batches <= items / 4,
            "{batches} transactions for {items} items"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_attachments_one_refused_in_the_shared_transaction() {
    let t = env().await;
    let db = &t.db;
    if !db.group_commit() {
        // Without group commit the uploads and the withdrawal race for the writer in no set
        // order; the refusal inside a shared transaction is what this test is about.
        eprintln!("group commit is off (TINHSO_GROUP_COMMIT=0): skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tinhso-group-{}", uuid::Uuid::new_v4()));
    let files = FileStore::local(dir, 20 * 1024 * 1024);
    let mut dossiers = Vec::new();
    for _ in 0..12 {
        dossiers.push(submit_anon(db, &birth(TAM_THANH)).await.dossier);
    }
    // The last one is withdrawn while its attachment waits behind the writer: the attachment
    // was checked against "submitted" and is refused under the lock, alone.
    let withdrawn = dossiers.last().unwrap().code.clone();
    let audit_before = count(db, "audit_log").await;
    let holder = hold_writer(db, 1500);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut tasks = Vec::new();
    for (i, d) in dossiers.iter().enumerate() {
        let (db, files, d) = (db.clone(), files.clone(), d.clone());
        tasks.push(tokio::spawn(async move {
            let upload = Upload {
                component_id: "giay_chung_sinh".into(),
                file_name: format!("giay-chung-sinh-{i}.pdf"),
                bytes: pdf(&format!("cs-{i}")),
            };
            let who = ActingAs::Applicant {
                principal: None,
                name: "Hoàng Thị Mai",
            };
            dossier::attach_to(&db, &files, &anon(), &d, who, &upload).await
        }));
    }
    // Withdraw straight in the database (not through the group writer, which is held).
    tokio::time::sleep(Duration::from_millis(300)).await;
    // On SQLite this waits for the held batch (one writer connection) and goes before the
    // attachments' batch; on PostgreSQL it commits at once.
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query("UPDATE dossiers SET status = $1 WHERE code = $2")
        .bind(Status::Withdrawn.code())
        .bind(&withdrawn)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    holder.await.unwrap();

    let mut ok = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        let r = task.await.unwrap();
        if dossiers[i].code == withdrawn {
            assert_code(r, ErrorCode::Conflict);
        } else {
            let a = r.unwrap_or_else(|e| panic!("{i}: {e}"));
            assert_eq!(a.component_id, "giay_chung_sinh");
            ok += 1;
        }
    }
    assert_eq!(ok, 11);
    assert_eq!(count(db, "dossier_files").await, 11);
    assert_eq!(count(db, "files").await, 11);
    let none: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM dossier_files WHERE dossier_code = $1")
            .bind(&withdrawn)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(none, 0);
    assert_eq!(count(db, "audit_log").await, audit_before + 11);
    assert_eq!(audit::verify(db).await.unwrap().first_broken, None);
}

/// Many officers' transitions on different dossiers at once: they queue behind a held writer
/// and are written in shared transactions, each with its signed event, its audit entry (the
/// chain whole, in queue order) and its outbox event (numbers without a gap). Among them an
/// illegal transition is refused before it queues (409 naming the legal actions), and a
/// refusal racing an acceptance of the same dossier — legal when checked, stale under the
/// lock — is undone alone (409), the others committing beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_transitions_one_illegal_and_one_stale_among_them() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let mut codes = Vec::new();
    for _ in 0..24 {
        codes.push(submit_anon(db, &birth(TAM_THANH)).await.dossier.code);
    }
    // One is accepted already: accepting it again is illegal.
    let accepted = codes.pop().unwrap();
    act(db, &s.one_stop, &accepted, "accept", "").await.unwrap();
    let [_, events_before, _, audit_before, outbox_before] = footprint(db).await;
    let (batches_before, items_before) = db.group_stats();

    let holder = hold_writer(db, 1500);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let accept = |code: &String| {
        let (db, p, code) = (db.clone(), s.one_stop.clone(), code.clone());
        tokio::spawn(async move { act(&db, &p, &code, "accept", "").await })
    };
    // The first dossier's acceptance queues first; its refusal queues after it, still finding
    // the dossier "submitted" when checked, but not when written.
    let mut tasks = vec![accept(&codes[0])];
    tokio::time::sleep(Duration::from_millis(300)).await;
    tasks.extend(codes[1..].iter().map(accept));
    let stale = {
        let (db, p, code) = (db.clone(), s.one_stop.clone(), codes[0].clone());
        tokio::spawn(async move {
            act(&db, &p, &code, "refuse", "Hồ sơ không thuộc thẩm quyền").await
        })
    };
    let illegal = act(db, &s.one_stop, &accepted, "accept", "").await;
    let e = assert_code(illegal, ErrorCode::Conflict);
    assert!(
        e.detail_en
            .as_deref()
            .unwrap_or_default()
            .contains("forward"),
        "names the legal actions: {e}"
    );
    holder.await.unwrap();

    for (code, task) in codes.iter().zip(tasks) {
        let d = task
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(d.status, Status::Accepted.code(), "{code}");
    }
    let e = assert_code(stale.await.unwrap(), ErrorCode::Conflict);
    assert!(
        e.detail_en
            .as_deref()
            .unwrap_or_default()
            .contains("someone else"),
        "{e}"
    );
    let n = codes.len() as i64;
    // Exactly the acceptances: nothing of the refused or the illegal one.
    let [_, events, _, audit_rows, outbox] = footprint(db).await;
    assert_eq!(events, events_before + n);
    assert_eq!(audit_rows, audit_before + n);
    assert_eq!(outbox, outbox_before + n);
    assert_eq!(audited(db, "dossier.accept").await.len() as i64, n + 1);
    assert!(audited(db, "dossier.refuse").await.is_empty());
    for code in &codes {
        let d = dossier::get(db, code).await.unwrap().unwrap();
        assert_eq!(d.events.len(), 2, "{code}");
        let ev = &d.events[1];
        assert_eq!((ev.seq, ev.action.as_str()), (2, "accept"));
        assert!(tinhso_identity::keys::verify(
            ev.public_key.as_deref().unwrap(),
            ev.signed_payload.as_bytes(),
            ev.signature.as_deref().unwrap(),
        ));
    }
    // The audit chain verifies; the outbox numbers run without a gap.
    assert_eq!(audit::verify(db).await.unwrap().first_broken, None);
    outbox_gapless(db).await;
    let accepted_events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE topic = 'dossier.status_changed' AND payload LIKE '%\"accept\"%'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(accepted_events, n + 1);
    if db.group_commit() {
        let (batches, items) = db.group_stats();
        let (batches, items) = (batches - batches_before, items - items_before);
        // The holder, the acceptances and the stale refusal (its item ran and was undone).
        assert_eq!(items, 1 + n as u64 + 1);
        assert!(
            batches <= items / 4,
            "{batches} transactions for {items} items"
        );
    }
}

/// The outbox's numbers run from 1 without a gap.
async fn outbox_gapless(db: &Db) {
    let (lo, hi, rows): (i64, i64, i64) =
        sqlx::query_as("SELECT MIN(seq), MAX(seq), COUNT(*) FROM outbox")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!((lo, hi), (1, rows));
}

/// Payment requests and settlements are queued as native items (like submissions): queued
/// together behind a busy writer, interleaved with submissions, they share the next batch
/// (on a SQLite file a batch holds one kind only, so sqlx payments cut it into runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payments_and_submissions_share_batches() {
    use tinhso_services::payment::{self, simulator};
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let waiting = |db: Db, p: Principal| async move {
        let code = submit_anon(&db, &building_permit()).await.dossier.code;
        act(&db, &p, &code, "accept", "").await.unwrap();
        act(&db, &p, &code, "request_payment", "").await.unwrap();
        code
    };
    let mut pending = Vec::new();
    for _ in 0..4 {
        let code = waiting(db.clone(), s.one_stop.clone()).await;
        pending.push(payment::request(db, &sys(), &code).await.unwrap());
    }
    let mut unrequested = Vec::new();
    for _ in 0..2 {
        unrequested.push(waiting(db.clone(), s.one_stop.clone()).await);
    }
    let [dossiers_before, ..] = footprint(db).await;
    let (batches_before, items_before) = db.group_stats();
    let now = chrono::Utc::now().timestamp();

    let holder = hold_writer(db, 1500);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut tasks: Vec<tokio::task::JoinHandle<Result<String, AppError>>> = Vec::new();
    for i in 0..8 {
        let db2 = db.clone();
        tasks.push(tokio::spawn(async move {
            Ok(dossier::submit(&db2, &anon(), None, &birth(TAM_THANH))
                .await?
                .dossier
                .code)
        }));
        let db2 = db.clone();
        if let Some(p) = pending.get(i).cloned() {
            tasks.push(tokio::spawn(async move {
                let (body, h) = simulator::signed_callback(&p, &format!("PG-G{i}"), now);
                let r = payment::callback(
                    &db2,
                    &Ctx::system("req-callback"),
                    &body,
                    Some(h[1].1.as_str()),
                    Some(h[0].1.as_str()),
                    now,
                )
                .await?;
                Ok(r.payment.receipt_no.unwrap_or_default())
            }));
        } else if let Some(code) = unrequested.get(i - pending.len()).cloned() {
            tasks.push(tokio::spawn(async move {
                Ok(payment::request(&db2, &sys(), &code).await?.status)
            }));
        }
    }
    holder.await.unwrap();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    let year = dossier::today_local().format("%Y").to_string();
    let mut receipts: Vec<&String> = answers.iter().filter(|a| a.starts_with("BL-")).collect();
    receipts.sort();
    let expected: Vec<String> = (1..=4).map(|n| format!("BL-{year}-{n:06}")).collect();
    assert_eq!(receipts, expected.iter().collect::<Vec<_>>());
    assert_eq!(answers.iter().filter(|a| *a == "pending").count(), 2);
    for p in &pending {
        let d = dossier::get(db, &p.dossier_code).await.unwrap().unwrap();
        assert_eq!((d.status, d.paid_vnd), (4, 75_000), "{}", p.dossier_code);
        assert_eq!(d.events.last().unwrap().action, "payment_received");
    }
    let [dossiers, ..] = footprint(db).await;
    assert_eq!(dossiers, dossiers_before + 8);
    assert_eq!(audited(db, "payment.paid").await.len(), 4);
    assert_eq!(audited(db, "dossier.payment_received").await.len(), 4);
    assert_eq!(audited(db, "payment.requested").await.len(), 4 + 2);
    assert_eq!(audit::verify(db).await.unwrap().first_broken, None);
    outbox_gapless(db).await;
    if db.group_commit() {
        let (batches, items) = db.group_stats();
        let (batches, items) = (batches - batches_before, items - items_before);
        // The holder, 8 submissions, 4 settlements and 2 requests.
        assert_eq!(items, 1 + 8 + 4 + 2);
        assert!(batches <= 3, "{batches} transactions for {items} items");
    }
}

/// Approvals issuing results of one agency at once: each result's number is taken in the
/// approval's group-commit item if still free, else the result is built again with the next
/// one; the numbers run from 1 without a gap or a double, and nothing of a lost race stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_approvals_take_result_numbers_in_turn() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let code = submit_anon(db, &birth(TAM_THANH)).await.dossier.code;
        act(db, &s.one_stop, &code, "accept", "").await.unwrap();
        act(db, &s.one_stop, &code, "forward", "").await.unwrap();
        act(db, &s.officer, &code, "forward", "").await.unwrap();
        codes.push(code);
    }
    let holder = hold_writer(db, 1500);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let tasks: Vec<_> = codes
        .iter()
        .map(|code| {
            let (db, p, code) = (db.clone(), s.leader.clone(), code.clone());
            tokio::spawn(async move { act(&db, &p, &code, "approve", "").await })
        })
        .collect();
    holder.await.unwrap();
    for (code, task) in codes.iter().zip(tasks) {
        task.await
            .unwrap()
            .unwrap_or_else(|e| panic!("{code}: {e}"));
    }
    let mut numbers = Vec::new();
    for code in &codes {
        let r = tinhso_services::results::of_dossier(db, code)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{code}: no result"));
        numbers.push(r.number.split('/').next().unwrap().to_string());
        let d = dossier::get(db, code).await.unwrap().unwrap();
        assert_eq!(d.events.last().unwrap().action, "approve", "{code}");
    }
    numbers.sort();
    assert_eq!(numbers, ["00001", "00002", "00003", "00004", "00005"]);
    assert_eq!(count(db, "dossier_results").await, 5);
    let n: i64 = sqlx::query_scalar("SELECT n FROM result_counters")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(audited(db, "result.issue").await.len(), 5);
    assert_eq!(audited(db, "dossier.approve").await.len(), 5);
    let issued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = 'result.issued'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(issued, 5);
    assert_eq!(audit::verify(db).await.unwrap().first_broken, None);
    outbox_gapless(db).await;
}
