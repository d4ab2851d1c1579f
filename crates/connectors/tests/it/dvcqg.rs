//! The DVCQG connector against its simulator: dossiers synced through several statuses by
//! the outbox consumer, the client's own retries, the worker's later retries when the portal
//! fails, a refused transition surfacing as a sync error, the sync rate of a hand-computed set.

use crate::{count, sys};
use std::sync::Arc;
use tinhso_connectors::dvcqg::{Client, DvcqgError};
use tinhso_connectors::simulator::dvcqg::DvcqgSimulator;
use tinhso_connectors::sync::{self, Outcome, SyncWorker};
use tinhso_identity::Principal;
use tinhso_services::dossier;
use tinhso_services::testing::{
    anon, birth, submit_anon, tam_thanh_staff, test_files, KHAI_SINH, TAM_THANH,
};
use tinhso_store::outbox::Dispatcher;
use tinhso_store::{now_micros, Db};

const MADONVI: &str = "H37";

/// A birth registration (1.001193) in Tam Thanh, submitted online without signing in.
async fn submit(db: &Db) -> String {
    submit_anon(db, &birth(TAM_THANH)).await.dossier.code
}

/// A staff member takes `action`; the set-up stops if the workflow refuses it.
async fn act(db: &Db, p: &Principal, code: &str, action: &str, reason: &str) {
    tinhso_services::testing::act(db, p, code, action, reason)
        .await
        .unwrap();
}

/// A simulator, a client with `attempts` tries per call, the worker and a dispatcher with it.
async fn setup(db: &Db, attempts: u32) -> (DvcqgSimulator, SyncWorker, Dispatcher) {
    let sim = DvcqgSimulator::start("langson", "mat-khau-dvcqg", MADONVI)
        .await
        .unwrap();
    let mut cfg = sim.config();
    cfg.max_attempts = attempts;
    let client = Arc::new(Client::new(cfg).unwrap());
    let worker = SyncWorker::new(db.clone(), client, Some(test_files().clone()));
    let dispatcher = worker
        .clone()
        .subscribe(Dispatcher::builder(db.clone()))
        .build();
    (sim, worker, dispatcher)
}

#[derive(Debug, PartialEq, Eq)]
struct Row {
    on_portal: i64,
    synced_status: Option<i64>,
    pending: i64,
    attempts: i64,
    last_error: Option<String>,
    synced_at: Option<i64>,
}

async fn row(db: &Db, code: &str) -> Row {
    let (on_portal, synced_status, pending, attempts, last_error, synced_at) = sqlx::query_as(
        "SELECT on_portal, synced_status, pending, attempts, last_error, synced_at \
         FROM dvcqg_sync WHERE dossier_code = $1",
    )
    .bind(code)
    .fetch_one(db.pool())
    .await
    .unwrap();
    Row {
        on_portal,
        synced_status,
        pending,
        attempts,
        last_error,
        synced_at,
    }
}

fn dossier_time_ok(s: &str) -> bool {
    tinhso_connectors::dvcqg::parse_portal_time(s).is_some()
}

fn statuses(sim: &DvcqgSimulator, code: &str) -> Vec<String> {
    sim.progress(code)
        .into_iter()
        .map(|p| p.trang_thai)
        .collect()
}

#[tokio::test]
async fn a_dossier_is_synced_through_every_status_change() {
    let t = crate::env().await;
    let s = tam_thanh_staff(&t.db).await;
    let (sim, _worker, dispatcher) = setup(&t.db, 3).await;

    let code = submit(&t.db).await;
    dispatcher.run_once().await.unwrap();
    let held = sim.dossier(&code).expect("on the portal after submission");
    assert_eq!(held.trang_thai_ho_so, "1");
    assert_eq!(held.ma_tthc, KHAI_SINH);
    assert_eq!(held.ten_tthc, "Đăng ký khai sinh");
    assert_eq!(
        (held.loai_doi_tuong.as_str(), held.kenh_thuc_hien.as_str()),
        ("1", "2")
    );
    assert!(dossier_time_ok(&held.ngay_tiep_nhan));
    assert_eq!(statuses(&sim, &code), ["1"]);

    act(&t.db, &s.one_stop, &code, "accept", "").await;
    dispatcher.run_once().await.unwrap();
    let held = sim.dossier(&code).unwrap();
    assert_eq!(held.trang_thai_ho_so, "2");
    assert!(
        dossier_time_ok(&held.ngay_hen_tra),
        "promised date: {}",
        held.ngay_hen_tra
    );

    act(&t.db, &s.one_stop, &code, "forward", "").await;
    act(&t.db, &s.officer, &code, "forward", "").await;
    act(&t.db, &s.leader, &code, "approve", "").await;
    act(&t.db, &s.one_stop, &code, "return_result", "").await;
    dispatcher.run_once().await.unwrap();

    assert_eq!(sim.dossier(&code).unwrap().trang_thai_ho_so, "10");
    assert_eq!(statuses(&sim, &code), ["1", "2", "4", "4", "9", "10"]);
    let steps = sim.progress(&code);
    assert!(steps
        .iter()
        .all(|p| p.thoi_diem_xu_ly.len() == 14 && !p.nguoi_xu_ly.is_empty()));
    assert!(
        steps[1].noi_dung_xu_ly.starts_with("Tiếp nhận hồ sơ"),
        "{:?}",
        steps[1]
    );
    assert!(sim.dossier(&code).unwrap().ngay_tra.len() == 14);
    let r = row(&t.db, &code).await;
    assert_eq!(
        (
            r.on_portal,
            r.synced_status,
            r.pending,
            r.attempts,
            r.last_error
        ),
        (1, Some(10), 0, 0, None)
    );
    assert!(r.synced_at.is_some());
    assert!(sim.refusals().is_empty(), "{:?}", sim.refusals());

    // Delivered again (at least once): nothing new is sent, nothing duplicated.
    let requests = sim.requests();
    let ev = tinhso_store::outbox::read_after(&t.db, 0, "dossier.", 100)
        .await
        .unwrap();
    for e in &ev {
        _worker.handle(e).await.unwrap();
    }
    assert_eq!(
        sim.requests(),
        requests,
        "an up-to-date dossier costs no portal call"
    );
    assert_eq!(statuses(&sim, &code).len(), 6);
    assert_eq!(sync::status(&t.db, 10).await.unwrap().synced, 1);
}

#[tokio::test]
async fn the_client_retries_renews_sessions_and_says_what_failed() {
    let t = crate::env().await;
    let (sim, _w, _d) = setup(&t.db, 3).await;
    let mut cfg = sim.config();
    cfg.max_attempts = 3;
    let client = Client::new(cfg.clone()).unwrap();
    // Two failures are absorbed by the client's own back-off.
    sim.fail_next(2);
    client.get_token().await.unwrap();
    assert_eq!(sim.requests(), 3);
    // A code, a file, an expired session renewed transparently.
    assert_eq!(client.confirm_code("X-1", KHAI_SINH).await.unwrap(), "X-1");
    sim.expire_sessions();
    let f = client
        .upload_file("X-1", "to_khai", "to-khai.pdf", b"%PDF-1.7 test")
        .await
        .unwrap();
    assert_eq!(f.ma_thanh_phan_ho_so, "to_khai");
    assert_eq!(sim.files("X-1").len(), 1);
    // Refusals name the step and the portal's code.
    let e = client
        .upload_file("UNKNOWN", "to_khai", "a.pdf", b"x")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DvcqgError::Rejected { step, code, .. } if step == "TaiTepHoSo" && code == "03"),
        "{e}"
    );
    // Three failures in a row exhaust the attempts: a transient error.
    sim.fail_next(3);
    let e = client.confirm_code("X-2", KHAI_SINH).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("HTTP 503"), "{e}");
    // Wrong credentials.
    cfg.password = "sai".into();
    let e = Client::new(cfg).unwrap().get_token().await.unwrap_err();
    assert!(matches!(e, DvcqgError::Auth { .. }), "{e}");
    // Nobody listening.
    let mut gone = sim.config();
    gone.base_url = "http://127.0.0.1:9".into();
    gone.max_attempts = 2;
    let e = Client::new(gone).unwrap().get_token().await.unwrap_err();
    assert!(e.is_transient(), "{e}");
}

#[tokio::test]
async fn a_portal_failing_twice_is_retried_later_and_the_state_follows() {
    let t = crate::env().await;
    // One try per call: the worker's own retries are what is tested here.
    let (sim, worker, dispatcher) = setup(&t.db, 1).await;
    sim.fail_next(2);
    let code = submit(&t.db).await;
    let t0 = now_micros();
    dispatcher.run_once().await.unwrap();
    assert!(sim.dossier(&code).is_none());
    let r = row(&t.db, &code).await;
    assert_eq!((r.on_portal, r.pending, r.attempts), (0, 1, 1));
    assert!(
        r.last_error.as_deref().unwrap().contains("HTTP 503"),
        "{r:?}"
    );
    // The event itself was acknowledged: the row is what keeps the dossier from being lost.
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM outbox_failures").await,
        0
    );
    let st = sync::status(&t.db, 10).await.unwrap();
    assert_eq!((st.tracked, st.synced, st.failing), (1, 0, 1));
    assert_eq!(st.failing_dossiers[0].dossier_code, code);

    // Not due yet: nothing is tried.
    let report = worker.retry_due(t0 + 1_000_000, 10).await.unwrap();
    assert_eq!((report.synced, report.failed), (0, 0));
    // Due after the back-off: fails a second time, the back-off doubles.
    let later = t0 + 31_000_000;
    let report = worker.retry_due(later, 10).await.unwrap();
    assert_eq!((report.synced, report.failed), (0, 1));
    let next: i64 =
        sqlx::query_scalar("SELECT next_attempt_at FROM dvcqg_sync WHERE dossier_code = $1")
            .bind(&code)
            .fetch_one(t.db.pool())
            .await
            .unwrap();
    assert_eq!(next, later + 60_000_000);
    assert_eq!(row(&t.db, &code).await.attempts, 2);
    // The third attempt succeeds.
    let report = worker.retry_due(later + 61_000_000, 10).await.unwrap();
    assert_eq!((report.synced, report.failed), (1, 0));
    let r = row(&t.db, &code).await;
    assert_eq!(
        (
            r.on_portal,
            r.synced_status,
            r.pending,
            r.attempts,
            r.last_error
        ),
        (1, Some(1), 0, 0, None)
    );
    assert_eq!(sim.dossier(&code).unwrap().trang_thai_ho_so, "1");
    assert_eq!(statuses(&sim, &code), ["1"]);
}

#[tokio::test]
async fn a_transition_the_portal_refuses_surfaces_as_a_sync_error() {
    let t = crate::env().await;
    let s = tam_thanh_staff(&t.db).await;
    let (sim, worker, dispatcher) = setup(&t.db, 3).await;
    let code = submit(&t.db).await;
    act(&t.db, &s.one_stop, &code, "accept", "").await;
    dispatcher.run_once().await.unwrap();
    assert_eq!(sim.dossier(&code).unwrap().trang_thai_ho_so, "2");
    // Another system closed the dossier on the portal meanwhile: 10 → 4 is illegal there.
    sim.force_status(&code, 10);
    act(&t.db, &s.one_stop, &code, "forward", "").await;
    dispatcher.run_once().await.unwrap();
    let r = row(&t.db, &code).await;
    assert_eq!((r.synced_status, r.pending, r.attempts), (Some(2), 1, 1));
    let err = r.last_error.unwrap();
    assert!(
        err.contains("CapNhatTienDoHoSoMC")
            && err.contains("error_code 04")
            && err.contains("10 → 4"),
        "{err}"
    );
    assert_eq!(sim.refusals().len(), 1);
    let st = sync::status(&t.db, 10).await.unwrap();
    assert_eq!(st.failing, 1);
    assert_eq!(st.failing_dossiers[0].synced_status, Some(2));

    // Re-queued by an administrator (audited), tried at once, refused again: still failing.
    let requeued = sync::requeue_failed(&t.db, &sys()).await.unwrap();
    assert_eq!(requeued, 1);
    assert_eq!(
        count(
            &t.db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'connectors.dvcqg.resync'"
        )
        .await,
        1
    );
    let report = worker.retry_due(now_micros(), 10).await.unwrap();
    assert_eq!(report.failed, 1);
    assert_eq!(row(&t.db, &code).await.attempts, 2);
    // Once the portal is put right, the retry goes through.
    sim.force_status(&code, 2);
    sync::requeue_failed(&t.db, &sys()).await.unwrap();
    assert_eq!(worker.retry_due(now_micros(), 10).await.unwrap().synced, 1);
    assert_eq!(sim.dossier(&code).unwrap().trang_thai_ho_so, "4");
}

#[tokio::test]
async fn the_sync_rate_of_a_hand_computed_set() {
    let t = crate::env().await;
    let s = tam_thanh_staff(&t.db).await;
    let (sim, worker, dispatcher) = setup(&t.db, 1).await;
    // Three dossiers synced (one of them through acceptance too).
    let a = submit(&t.db).await;
    let b = submit(&t.db).await;
    let c = submit(&t.db).await;
    act(&t.db, &s.one_stop, &a, "accept", "").await;
    dispatcher.run_once().await.unwrap();
    // A fourth whose sync fails (the portal answers 503 to every call of its attempt).
    let d = submit(&t.db).await;
    sim.fail_next(1);
    dispatcher.run_once().await.unwrap();
    // A fifth accepted after it synced, the portal failing on the update: not up to date.
    let e = submit(&t.db).await;
    dispatcher.run_once().await.unwrap();
    act(&t.db, &s.one_stop, &e, "accept", "").await;
    sim.fail_next(1);
    dispatcher.run_once().await.unwrap();
    // A sixth the worker never saw (its event not yet delivered).
    let f = submit(&t.db).await;

    for (code, pending) in [(&a, 0), (&b, 0), (&c, 0), (&d, 1), (&e, 1)] {
        assert_eq!(row(&t.db, code).await.pending, pending, "{code}");
    }
    assert_eq!(row(&t.db, &e).await.synced_status, Some(1));
    let today = tinhso_services::dossier::today_local();
    let rate = sync::sync_rate(&t.db, today, today + chrono::Duration::days(1), None)
        .await
        .unwrap();
    // 6 received today, 3 up to date on the portal: 50 %.
    assert_eq!((rate.received, rate.synced), (6, 3));
    assert_eq!(rate.rate_percent, Some(50.0));
    // Another agency: nothing received.
    let other = vec!["000.00.21.H37".to_string()];
    let none = sync::sync_rate(
        &t.db,
        today,
        today + chrono::Duration::days(1),
        Some(&other),
    )
    .await
    .unwrap();
    assert_eq!(
        (none.received, none.synced, none.rate_percent),
        (0, 0, None)
    );
    // Yesterday: nothing.
    let y = sync::sync_rate(&t.db, today - chrono::Duration::days(1), today, None)
        .await
        .unwrap();
    assert_eq!(y.received, 0);

    // The failures retried and the last event delivered: all six up to date.
    dispatcher.run_once().await.unwrap();
    let r = worker
        .retry_due(now_micros() + 3_600_000_000, 10)
        .await
        .unwrap();
    assert_eq!((r.synced, r.failed), (2, 0));
    assert!(matches!(
        worker.sync_one(&f, now_micros()).await.unwrap(),
        Outcome::Synced { sent: 0 }
    ));
    let rate = sync::sync_rate(&t.db, today, today + chrono::Duration::days(1), None)
        .await
        .unwrap();
    assert_eq!(
        (rate.received, rate.synced, rate.rate_percent),
        (6, 6, Some(100.0))
    );
    assert_eq!(sim.dossier_codes().len(), 6);
}

fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {tag}\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n").into_bytes()
}

#[tokio::test]
async fn a_dossiers_files_are_uploaded_before_it_is_created() {
    let t = crate::env().await;
    let (sim, _worker, dispatcher) = setup(&t.db, 3).await;
    let uploads = [
        dossier::Upload {
            component_id: "giay_chung_sinh".into(),
            file_name: "giấy chứng sinh.pdf".into(),
            bytes: pdf("cs"),
        },
        dossier::Upload {
            component_id: "giay_to_tuy_than".into(),
            file_name: "cccd.pdf".into(),
            bytes: pdf("id"),
        },
    ];
    let code = dossier::submit_with_files(
        &t.db,
        test_files(),
        &anon(),
        None,
        &birth(TAM_THANH),
        &uploads,
    )
    .await
    .unwrap()
    .dossier
    .code;
    dispatcher.run_once().await.unwrap();
    let received = sim.files(&code);
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(received
        .iter()
        .any(|(f, n)| f.ma_thanh_phan_ho_so == "giay_chung_sinh" && *n == pdf("cs").len()));
    let held = sim.dossier(&code).unwrap();
    let mut parts: Vec<&str> = held
        .tai_lieu_nop
        .iter()
        .map(|f| f.ma_thanh_phan_ho_so.as_str())
        .collect();
    parts.sort();
    assert_eq!(parts, ["giay_chung_sinh", "giay_to_tuy_than"]);
    assert!(held
        .tai_lieu_nop
        .iter()
        .all(|f| !f.tep_dinh_kem_id.is_empty()));
}

#[tokio::test]
async fn a_slow_sync_does_not_hold_the_outbox_and_is_finished_by_the_retries() {
    let t = crate::env().await;
    let (sim, worker, _d) = setup(&t.db, 3).await;
    // No time at all inline: the event is acknowledged, the dossier left to the retries.
    let worker = worker.with_inline_budget(std::time::Duration::ZERO);
    let dispatcher = worker
        .clone()
        .subscribe(Dispatcher::builder(t.db.clone()))
        .build();
    let code = submit(&t.db).await;
    dispatcher.run_once().await.unwrap();
    let r = row(&t.db, &code).await;
    assert_eq!((r.pending, r.attempts), (1, 1));
    assert!(r.last_error.unwrap().contains("longer than"));
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM outbox_failures").await,
        0
    );
    let report = worker
        .retry_due(now_micros() + 3_600_000_000, 10)
        .await
        .unwrap();
    assert_eq!(report.synced, 1);
    assert_eq!(sim.dossier(&code).unwrap().trang_thai_ho_so, "1");
    assert_eq!(row(&t.db, &code).await.pending, 0);
}
