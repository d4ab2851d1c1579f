//! The real `tinhso` binary as a child process, for the crash tests (kiểm thử sập tiến trình):
//! a free port, the command with its data directory and database, `serve` started and polled
//! until `/healthz` answers. Included by `#[path]` from each test binary that needs it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tinhso <args> --data-dir <data> --database-url <url>` (settings follow the subcommand),
/// with the environment's own settings removed.
pub fn tinhso(args: &[&str], data: &Path, url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tinhso"));
    c.args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--database-url")
        .arg(url)
        .env_remove("TINHSO_LISTEN")
        .env_remove("TINHSO_NATS_URL")
        .env_remove("TINHSO_CONFIG")
        .env("TINHSO_LOG", "warn");
    c
}

/// Start `tinhso serve` on `port` and wait until `/healthz` answers (at most `ready_within`).
pub async fn start_server(data: &Path, url: &str, port: u16, ready_within: Duration) -> Child {
    let mut c = tinhso(&["serve"], data, url);
    c.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = c.spawn().expect("start tinhso serve");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + ready_within;
    loop {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            if r.status().is_success() {
                return child;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("tinhso serve exited before it was ready: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "tinhso serve not ready in {ready_within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
