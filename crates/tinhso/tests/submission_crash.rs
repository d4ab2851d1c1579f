//! Group-committed submissions survive a crash (hồ sơ đã nhận không mất khi sập): the real
//! `tinhso serve` binary on a SQLite file (or a fresh PostgreSQL database when
//! `TINHSO_TEST_PG_URL` is set), clients submitting dossiers and uploading a file to each as
//! fast as they can, the server killed with SIGKILL in the middle of the load; then every
//! dossier and every attachment whose 201 a client received must be in the database (the file
//! on disk too), and the audit chain must verify.
//!
//! No timing guesses: the kill happens once a given number of answers has arrived while every
//! worker still has a request in flight, and readiness is polled, not slept for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tinhso_store::test_support::fresh;

#[path = "support/server.rs"]
mod server;
use server::{free_port, start_server};

/// Concurrent client workers.
const WORKERS: usize = 16;
/// Answers (submissions and uploads) received before the kill.
const ANSWERS_BEFORE_KILL: usize = 200;
const BOUNDARY: &str = "----tinhso-crash-boundary";

fn submission(n: usize) -> serde_json::Value {
    serde_json::json!({
        "procedure_code": "1.001193",
        "commune_code": "05986",
        "applicant": {"kind": 0, "name": "Hoàng Thị Mai", "id_number": "020190000123",
            "phone": "0912 345 678"},
        "form": {"ho_ten_tre": format!("Hoàng Minh An {n}"), "ngay_sinh_tre": "10/01/2026",
            "gioi_tinh": "nam", "dan_toc": "tay", "noi_sinh": "Bệnh viện Đa khoa tỉnh Lạng Sơn",
            "que_quan": "05986", "so_ban_sao": "2", "so_dien_thoai": "0912345678"},
        "channel": "online"
    })
}

fn multipart(n: usize) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"component_id\"\r\n\r\n\
         giay_chung_sinh\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
         filename=\"giay-chung-sinh.pdf\"\r\nContent-Type: application/pdf\r\n\r\n\
         %PDF-1.4\n% giay chung sinh {n}\ntrailer << >>\n%%EOF\n\r\n--{BOUNDARY}--\r\n"
    )
    .into_bytes()
}

/// What a client was told was done.
#[derive(Default)]
struct Acked {
    dossiers: Vec<String>,
    /// (dossier, sha256)
    files: Vec<(String, String)>,
}

/// Submit and attach; `Err` once the connection fails.
async fn pair(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    acked: &Mutex<Acked>,
    count: &AtomicUsize,
    kill_now: &tokio::sync::Notify,
) -> Result<(), reqwest::Error> {
    let tick = || {
        if count.fetch_add(1, Ordering::SeqCst) + 1 == ANSWERS_BEFORE_KILL {
            kill_now.notify_one();
        }
    };
    let r = http
        .post(format!("{base}/api/v1/dossiers"))
        .header("Idempotency-Key", format!("crash-{n}"))
        .json(&submission(n))
        .send()
        .await?;
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await?;
    assert_eq!(status, 201, "{v}");
    let code = v["code"].as_str().unwrap().to_string();
    let lookup = v["lookup_code"].as_str().unwrap().to_string();
    acked.lock().unwrap().dossiers.push(code.clone());
    tick();
    let r = http
        .post(format!(
            "{base}/api/v1/dossiers/{code}/files?lookup={lookup}"
        ))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(n))
        .send()
        .await?;
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await?;
    assert_eq!(status, 201, "{v}");
    acked
        .lock()
        .unwrap()
        .files
        .push((code, v["sha256"].as_str().unwrap().to_string()));
    tick();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_submission_and_file_survives_a_kill() {
    let started = Instant::now();
    let t = fresh(&tinhso::all_migrations()).await;
    let url = t.url();
    let data = t.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = t.db.clone();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&data, &url, port, Duration::from_secs(60)).await;

    let acked: Arc<Mutex<Acked>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let kill_now = Arc::new(tokio::sync::Notify::new());
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (acked, count, failed, killed, kill_now) = (
            acked.clone(),
            count.clone(),
            failed.clone(),
            killed.clone(),
            kill_now.clone(),
        );
        let base = base.clone();
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut n = w * 100_000;
            loop {
                n += 1;
                if pair(&http, &base, n, &acked, &count, &kill_now)
                    .await
                    .is_err()
                {
                    assert!(
                        killed.load(Ordering::SeqCst),
                        "a request failed before the kill"
                    );
                    failed.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), kill_now.notified())
        .await
        .expect("the load reached the kill point");
    killed.store(true, Ordering::SeqCst);
    server.kill().expect("SIGKILL tinhso serve");
    server.wait().unwrap();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        WORKERS,
        "every worker was cut off"
    );
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.dossiers.len() + acked.files.len() >= ANSWERS_BEFORE_KILL);

    // Every acknowledged dossier and attachment is there, its bytes too (small ones on their
    // dossier_files row, larger ones in the file store), matching their SHA-256.
    let stored: std::collections::HashSet<String> = sqlx::query_scalar("SELECT code FROM dossiers")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<_> = acked
        .dossiers
        .iter()
        .filter(|c| !stored.contains(*c))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged dossiers lost: {lost:?}",
        lost.len()
    );
    let files = tinhso_http::file_store(&data);
    for (code, sha) in &acked.files {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM dossier_files WHERE dossier_code = $1 AND sha256 = $2",
        )
        .bind(code)
        .bind(sha)
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(n, 1, "acknowledged attachment {code} {sha} lost");
        tinhso_services::dossier::file_bytes(&db, &files, code, sha)
            .await
            .unwrap();
    }
    // Each stored dossier has its event and audit entry; the chain verifies.
    let events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = 'dossier.status_changed'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(events as usize, stored.len());
    let v = tinhso_store::audit::verify(&db).await.unwrap();
    assert_eq!(v.first_broken, None);

    // The restarted server carries on.
    let mut server = start_server(&data, &url, port, Duration::from_secs(60)).await;
    let http = reqwest::Client::new();
    pair(
        &http,
        &base,
        999_999,
        &Mutex::default(),
        &AtomicUsize::new(0),
        &tokio::sync::Notify::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        tinhso_store::audit::verify(&db).await.unwrap().first_broken,
        None
    );
    server.kill().unwrap();
    server.wait().unwrap();
    eprintln!(
        "crash test: {} dossiers and {} files acknowledged before the kill, {} dossiers stored, {:.1} s",
        acked.dossiers.len(),
        acked.files.len(),
        stored.len(),
        started.elapsed().as_secs_f64()
    );
}
