//! The command line as an operator uses it: migrate, demo, audit verify (and its exit code on a
//! tampered trail), backup and restore, user management, bad settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn tinhso(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinhso"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("TINHSO_DATABASE_URL")
        .env_remove("TINHSO_LISTEN")
        .env("TINHSO_LOG", "warn")
        .output()
        .expect("run tinhso")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn sql(data: &Path, statement: &str) {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", data.join("tinhso.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn operator_workflow() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    let o = tinhso(&data, &["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3001"), "{}", text(&o));

    let o = tinhso(&data, &["demo"]);
    assert!(o.status.success(), "{}", text(&o));
    let accounts = tinhso::demo::accounts_list().len();
    assert!(
        text(&o).contains(&format!("{accounts} accounts created")),
        "{}",
        text(&o)
    );
    let o = tinhso(&data, &["demo"]);
    assert!(
        text(&o).contains("0 accounts created"),
        "idempotent: {}",
        text(&o)
    );

    let o = tinhso(&data, &["demo", "--totp-for", "quantri"]);
    let code = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{}",
        text(&o)
    );
    let o = tinhso(&data, &["demo", "--totp-for", "motcua.tinh"]);
    assert!(
        !o.status.success(),
        "no TOTP for a one-stop officer: {}",
        text(&o)
    );

    // accounts
    let o = Command::new(env!("CARGO_BIN_EXE_tinhso"))
        .args([
            "user",
            "create",
            "--kind",
            "staff",
            "--name",
            "Hà Văn Tú",
            "--username",
            "tu.ha",
            "--agency",
            "000.00.06.H37",
            "--role",
            "specialist",
            "--scope",
            "agency:000.00.06.H37",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env("TINHSO_NEW_PASSWORD", "Một mật khẩu dài 2026")
        .env("TINHSO_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_tinhso"))
        .args([
            "user", "create", "--kind", "citizen", "--name", "A", "--cccd", "123",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env("TINHSO_NEW_PASSWORD", "short")
        .env("TINHSO_LOG", "warn")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("cccd") && t.contains("password") && t.contains("display_name"),
        "every field reported: {t}"
    );
    let o = tinhso(&data, &["user", "disable", "tu.ha"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tinhso(&data, &["user", "list", "--q", "ha van tu"]);
    assert!(
        text(&o).contains("tu.ha") && text(&o).contains("(disabled)"),
        "{}",
        text(&o)
    );

    // the audit chain verifies, a backup is taken, then tampering is caught
    let o = tinhso(&data, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("audit chain intact"), "{}", text(&o));
    let snap = tmp.path().join("snap.db");
    let o = tinhso(&data, &["backup", "--to", snap.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tinhso(&data, &["backup", "--to", snap.to_str().unwrap()]);
    assert!(!o.status.success(), "never overwrites a backup");

    sql(
        &data,
        "UPDATE audit_log SET actor = 'cli:mallory' WHERE seq = 3",
    )
    .await;
    let o = tinhso(&data, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("BROKEN at entry 3"), "{}", text(&o));

    // restore brings back the intact trail
    let o = tinhso(&data, &["restore", "--from", snap.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("audit chain: intact"), "{}", text(&o));
    let o = tinhso(&data, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // a bad setting names itself and changes nothing
    let o = tinhso(&data, &["migrate", "--database-url", "mysql://x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("`database_url`"), "{}", text(&o));
    let o = tinhso(&data, &["serve", "--listen", "nowhere"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("`listen`"), "{}", text(&o));
}

#[test]
fn plan_files_import_idempotently_and_errors_name_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("ke-hoach-2026.toml");
    let plan = "[plan]\ncode = \"150/KH-UBND\"\ntitle_vi = \"Kế hoạch năm 2026\"\ntitle_en = \"2026 plan\"\nyear = 2026\n\n[[target]]\nid = \"p2026.online\"\npillar = \"government\"\nyear = 2026\nkind = \"percent\"\ntarget = 60\nvi = \"Hồ sơ trực tuyến 60%\"\nen = \"60% online dossiers\"\nmeasured_by = \"public services\"\nindicator = \"services.online\"\n";
    std::fs::write(&file, plan).unwrap();
    let path = file.to_str().unwrap();
    let o = tinhso(&data, &["plan", "import", path]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("150/KH-UBND: 1 targets imported"),
        "{}",
        text(&o)
    );
    let o = tinhso(&data, &["plan", "import", path]);
    assert!(text(&o).contains("unchanged"), "{}", text(&o));
    let o = tinhso(&data, &["plan", "list"]);
    assert!(
        text(&o).contains("226/KH-UBND\t2021\t43 targets"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("150/KH-UBND\t2026\t1 targets"),
        "{}",
        text(&o)
    );
    // The operations centre on the terminal: the 44 targets, the counters and the time.
    let o = tinhso(&data, &["plan", "operations", "--date", "2026-01-14"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("border.services-on-one-platform\tborder.declared_crossings\t"),
        "{out}"
    );
    assert!(out.contains("p2026.online\tservices.online\t"), "{out}");
    assert!(out.contains("counters: received today 0,"), "{out}");
    assert!(
        out.contains("computed for 2026-01-14 (period 2026) in "),
        "{out}"
    );
    let o = tinhso(&data, &["plan", "operations", "--date", "14/01/2026"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("use YYYY-MM-DD"), "{}", text(&o));
    std::fs::write(&file, plan.replace("target = 60", "target = 160")).unwrap();
    let o = tinhso(&data, &["plan", "import", path]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{path}:12: field `target`")),
        "{}",
        text(&o)
    );
}

fn border(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinhso"))
        .arg("border")
        .args(args)
        .env_remove("TINHSO_DATABASE_URL")
        .env("TINHSO_LOG", "warn")
        .output()
        .expect("run tinhso border")
}

#[test]
fn border_simulate_then_forecast_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("sim.db").display());
    let o = border(&[
        "simulate",
        "--days",
        "2",
        "--scale",
        "0.05",
        "--seed",
        "7",
        "--database",
        &url,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("simulation normal from 2025-07-01 for 2 days (seed 7"),
        "{out}"
    );
    assert!(out.contains("wrong trip 0"), "{out}");
    assert!(out.contains("forecast summary (72 h)"), "{out}");
    let o = border(&[
        "forecast",
        "--database",
        &url,
        "--gate",
        "HN",
        "--at",
        "2025-07-02T12:00",
        "--evaluate",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("HN Cửa khẩu quốc tế Hữu Nghị"), "{out}");
    assert!(
        out.contains("accuracy over 72 h from 2025-07-02 12:00"),
        "{out}"
    );
    let o = border(&["simulate", "--scenario", "storm", "--database", &url]);
    assert_eq!(o.status.code(), Some(2));
    let out = text(&o);
    assert!(
        out.contains("Kịch bản \"storm\" không có") && out.contains("No scenario \"storm\""),
        "{out}"
    );
    let o = border(&["forecast", "--database", &url, "--gate", "ZZ"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("No gate ZZ"), "{}", text(&o));
}

/// `tinhso serve --demo` simulates the border history beside the server; the server's border
/// queue job (real clock) waits for it, so the history's own end checks hold (a queue round in
/// the middle of it once seated the history's standby trucks behind its back: "standby broken").
#[test]
fn demo_server_simulates_the_border_history_before_its_queue_job_runs() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tinhso"))
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .env_remove("TINHSO_DATABASE_URL")
        .env_remove("TINHSO_NATS_URL")
        .env_remove("TINHSO_CONFIG")
        .env("TINHSO_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let mut log = Vec::new();
    let outcome = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                let done = if line.contains("demo border history simulated") {
                    Some(true)
                } else if line.contains("demo border history failed") {
                    Some(false)
                } else {
                    None
                };
                log.push(line);
                if let Some(ok) = done {
                    break ok;
                }
            }
            Err(_) => break false,
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(outcome, "{}", log.join("\n"));
}
