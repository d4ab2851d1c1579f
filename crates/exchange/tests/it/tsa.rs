//! RFC 3161 time-stamps on the message log's anchors, against the loopback simulator
//! (`tsa_simulator`) and against tokens made by `openssl ts -reply`; on SQLite or PostgreSQL.

use crate::support;
use crate::tsa_simulator::{issue, Fault, Keypair, Simulator};
use base64::Engine;
use der::Decode;
use std::time::Duration;
use tinhso_exchange::log::{self, NewEntry};
use tinhso_exchange::tsa::{self, TrustedTsa, TsaClient, TsaConfig};
use tinhso_store::{now_micros, Db};

const SIM_NAME: &str = "CN=Mô phỏng TSA (kiểm thử),O=Tỉnh số,C=VN";

fn entry(i: usize) -> NewEntry {
    NewEntry {
        exchange_id: format!("x-{i}-{}", uuid::Uuid::new_v4()),
        client: "000.00.23.H37".into(),
        provider: "000.00.19.H37-HOTICH".into(),
        service: "trich-luc-khai-sinh".into(),
        method: "GET".into(),
        path: "/".into(),
        status: 200,
        outcome: "ok".into(),
        latency_us: 1000,
        request_sha256: "00".repeat(32),
        response_sha256: "11".repeat(32),
        client_signature: "sig".into(),
        hub_signature: "hubsig".into(),
        kept: None,
    }
}

/// A fresh database, the loopback TSA simulator, a client trusting it, and the hub's key.
struct Stamping {
    t: tinhso_store::test_support::TestDb,
    sim: Simulator,
    tsa: TsaClient,
    key: ed25519_dalek::SigningKey,
}

async fn stamping() -> Stamping {
    let sim = Simulator::start(Keypair::tsa(SIM_NAME)).await;
    let tsa = client(&sim.url, &sim.pem());
    Stamping {
        t: support::db().await,
        sim,
        tsa,
        key: tinhso_exchange::hub::hub_key(),
    }
}

/// The first entry verification finds broken (the log must be broken).
async fn broken(db: &Db, hub_key: Option<&str>, trust: Option<&TrustedTsa>) -> log::Broken {
    log::verify_with(db, hub_key, trust)
        .await
        .unwrap()
        .first_broken
        .expect("the log should be broken")
}

async fn grow(db: &Db, n: usize) {
    for i in 0..n {
        log::append(db, &entry(i)).await.unwrap();
    }
}

fn trust(pem: &str) -> TrustedTsa {
    TrustedTsa::from_pem(pem.as_bytes()).unwrap()
}

fn client(url: &str, trusted_pem: &str) -> TsaClient {
    TsaClient::new(TsaConfig {
        url: url.to_string(),
        trust: trust(trusted_pem),
        timeout: Duration::from_secs(10),
    })
}

#[tokio::test]
async fn an_anchor_is_time_stamped_stored_and_verified() {
    let Stamping { t, sim, tsa, key } = stamping().await;
    let db = &t.db;
    let pk = tinhso_exchange::signing::public_key_b64(&key);
    grow(db, 3).await;
    assert_eq!(log::anchor(db, &key).await.unwrap(), Some(3));
    let before = now_micros();
    let round = log::timestamp_pending(db, &tsa, 10).await.unwrap();
    assert_eq!((round.stamped, round.failed), (vec![3], None));
    // Nothing more to stamp: the TSA is not asked again.
    let asked = sim.requests();
    let round = log::timestamp_pending(db, &tsa, 10).await.unwrap();
    assert!(round.stamped.is_empty());
    assert_eq!(sim.requests(), asked);

    let v = log::verify_with(db, Some(&pk), Some(tsa.trust()))
        .await
        .unwrap();
    assert_eq!(v.first_broken, None);
    assert_eq!(
        (
            v.entries_checked,
            v.anchors,
            v.anchors_timestamped,
            v.timestamps_verified
        ),
        (3, 1, 1, 1)
    );
    let latest = v.latest_timestamp.unwrap();
    assert_eq!(latest.seq, 3);
    assert!(
        latest.tsa_name.contains("Mô phỏng TSA"),
        "{}",
        latest.tsa_name
    );
    // genTime has whole seconds: within a second before the request and now.
    assert!(
        latest.gen_time >= before - 1_000_000 && latest.gen_time <= now_micros(),
        "{} vs {before}",
        latest.gen_time
    );
    // Without a trusted certificate the tokens are counted, not checked.
    let v = log::verify(db, Some(&pk)).await.unwrap();
    assert_eq!((v.anchors_timestamped, v.timestamps_verified), (1, 0));
    // The page's list says which anchors are time-stamped.
    grow(db, 2).await;
    assert_eq!(log::anchor(db, &key).await.unwrap(), Some(5));
    let rows = log::recent_anchors(db, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].seq, rows[0].tsa_name.is_none()), (5, true));
    assert_eq!(rows[1].seq, 3);
    assert!(rows[1]
        .tsa_name
        .as_deref()
        .unwrap()
        .contains("Mô phỏng TSA"));
    assert_eq!(rows[1].tsa_gen_time, Some(latest.gen_time));
}

#[tokio::test]
async fn an_edited_entry_or_a_rewritten_and_re_signed_chain_fails_verification() {
    let Stamping {
        t,
        sim: _sim,
        tsa,
        key,
    } = stamping().await;
    let db = &t.db;
    let pk = tinhso_exchange::signing::public_key_b64(&key);
    grow(db, 4).await;
    log::anchor(db, &key).await.unwrap();
    log::timestamp_pending(db, &tsa, 10).await.unwrap();
    assert_eq!(
        log::verify_with(db, Some(&pk), Some(tsa.trust()))
            .await
            .unwrap()
            .first_broken,
        None
    );

    // Whoever holds the master key rewrites entry 2, recomputes the chain and the head, and
    // signs the anchor anew with the hub's key: every hub-side check passes again…
    sqlx::query("UPDATE exchange_log SET client = '000.00.24.H37' WHERE seq = 2")
        .execute(db.pool())
        .await
        .unwrap();
    let b = broken(db, Some(&pk), Some(tsa.trust())).await;
    assert_eq!(b.seq, 2, "the edit alone breaks the entry's hash");
    let mut entries = log::recent(db, 10).await.unwrap();
    entries.reverse();
    let mut prev = entries[0].hash.clone();
    for e in entries.iter_mut().skip(1) {
        e.prev_hash = prev.clone();
        e.hash = e.computed_hash();
        sqlx::query("UPDATE exchange_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(e.seq)
            .execute(db.pool())
            .await
            .unwrap();
        prev = e.hash.clone();
    }
    sqlx::query("UPDATE exchange_log_head SET hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(db.pool())
        .await
        .unwrap();
    let at: i64 = sqlx::query_scalar("SELECT at FROM exchange_log_anchors WHERE seq = 4")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let resigned = tinhso_exchange::signing::sign(&key, &log::anchor_text(4, &prev, at));
    sqlx::query("UPDATE exchange_log_anchors SET hash = $1, signature = $2 WHERE seq = 4")
        .bind(&prev)
        .bind(&resigned)
        .execute(db.pool())
        .await
        .unwrap();
    let v = log::verify(db, Some(&pk)).await.unwrap();
    assert_eq!(v.first_broken, None, "the hub's key alone cannot tell");
    // …but not the TSA's token, signed over the old head by a key the hub does not hold.
    let b = broken(db, Some(&pk), Some(tsa.trust())).await;
    assert_eq!(b.seq, 4);
    assert!(b.reason.contains("TSA"), "{}", b.reason);
    assert!(b.reason.contains("message imprint"), "{}", b.reason);
}

#[tokio::test]
async fn a_token_moved_to_another_anchor_or_untrusted_is_refused() {
    let Stamping {
        t,
        sim: _sim,
        tsa,
        key,
    } = stamping().await;
    let db = &t.db;
    grow(db, 1).await;
    log::anchor(db, &key).await.unwrap();
    grow(db, 1).await;
    log::anchor(db, &key).await.unwrap();
    let round = log::timestamp_pending(db, &tsa, 10).await.unwrap();
    assert_eq!(round.stamped, vec![2, 1], "newest first");
    // Another TSA's certificate is not trusted for these tokens.
    let other = Keypair::tsa("CN=TSA khác,C=VN");
    let b = broken(db, None, Some(&trust(&other.pem()))).await;
    assert_eq!(b.seq, 1);
    assert!(
        b.reason
            .contains("neither a configured trusted certificate"),
        "{}",
        b.reason
    );
    // Anchor 1's token copied onto anchor 2.
    sqlx::query(
        "UPDATE exchange_log_anchors SET tsa_token = (SELECT tsa_token FROM exchange_log_anchors WHERE seq = 1) WHERE seq = 2",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let b = broken(db, None, Some(tsa.trust())).await;
    assert_eq!(b.seq, 2);
    assert!(b.reason.contains("message imprint"), "{}", b.reason);
    // A token that is not one.
    sqlx::query("UPDATE exchange_log_anchors SET tsa_token = $1 WHERE seq = 2")
        .bind(base64::engine::general_purpose::STANDARD.encode(b"not a token"))
        .execute(db.pool())
        .await
        .unwrap();
    let b = broken(db, None, Some(tsa.trust())).await;
    assert!(b.reason.contains("malformed"), "{}", b.reason);
}

#[tokio::test]
async fn a_misbehaving_tsa_is_refused_with_a_clear_message_and_retried_next_round() {
    let Stamping { t, sim, tsa, key } = stamping().await;
    let db = &t.db;
    grow(db, 2).await;
    log::anchor(db, &key).await.unwrap();
    let cases = [
        (
            Fault::WrongImprint,
            "imprint",
            "message imprint does not match",
        ),
        (Fault::WrongNonce, "nonce", "nonce differs"),
        (
            Fault::BadSignature,
            "signature",
            "signature does not verify",
        ),
        (Fault::AlteredContent, "signature", "content was altered"),
        (Fault::Reject, "rejected", "refused the request"),
        (Fault::Unavailable, "http", "HTTP 503"),
    ];
    for (fault, code, text) in cases {
        sim.set_fault(fault);
        let round = log::timestamp_pending(db, &tsa, 10).await.unwrap();
        assert!(round.stamped.is_empty(), "{fault:?}");
        let (seq, e) = round.failed.unwrap();
        assert_eq!((seq, e.code), (2, code), "{fault:?}: {e}");
        assert!(e.en.contains(text), "{fault:?}: {e}");
        assert!(!e.vi.is_empty());
        let stored: Option<String> =
            sqlx::query_scalar("SELECT tsa_token FROM exchange_log_anchors WHERE seq = 2")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(stored, None, "{fault:?}: nothing stored");
    }
    // A TSA whose certificate is not the trusted one.
    sim.set_fault(Fault::None);
    let stranger = client(&sim.url, &Keypair::tsa("CN=TSA tin cậy,C=VN").pem());
    let round = log::timestamp_pending(db, &stranger, 10).await.unwrap();
    assert_eq!(round.failed.unwrap().1.code, "untrusted");
    // Nothing listens: a transport error, logged and retried.
    let gone = client("http://127.0.0.1:9/tsa", &sim.pem());
    let round = log::timestamp_pending(db, &gone, 10).await.unwrap();
    assert_eq!(round.failed.unwrap().1.code, "transport");
    // The next round with a well-behaved TSA stamps the anchor.
    let round = log::timestamp_pending(db, &tsa, 10).await.unwrap();
    assert_eq!((round.stamped, round.failed), (vec![2], None));
}

#[tokio::test]
async fn a_certificate_issued_by_a_trusted_ca_is_accepted_others_not() {
    let ca = Keypair::new("CN=CA thử nghiệm,O=Tỉnh số,C=VN", None, false, 3650);
    let issued = Keypair::new("CN=TSA do CA cấp,O=Tỉnh số,C=VN", Some(&ca), true, 365);
    let sim = Simulator::start(issued).await;
    let text = "TINHSO-LGSP-1-ANCHOR\n1\nab\n1";
    let by_ca = client(&sim.url, &ca.pem());
    let (_, stamp) = by_ca.stamp(text).await.unwrap();
    assert!(
        stamp.tsa_name.contains("TSA do CA cấp"),
        "{}",
        stamp.tsa_name
    );
    // A CA with the same name but another key: the issuer's signature does not hold.
    let impostor = Keypair::new("CN=CA thử nghiệm,O=Tỉnh số,C=VN", None, false, 3650);
    let e = client(&sim.url, &impostor.pem())
        .stamp(text)
        .await
        .unwrap_err();
    assert_eq!(e.code, "untrusted", "{e}");
    // A certificate without the time-stamping key usage is refused even if pinned.
    let plain = Keypair::new("CN=Không phải TSA,C=VN", None, false, 365);
    let plain_pem = plain.pem();
    let sim2 = Simulator::start(plain).await;
    let e = client(&sim2.url, &plain_pem).stamp(text).await.unwrap_err();
    assert_eq!(e.code, "certificate", "{e}");
    assert!(e.en.contains("timeStamping"), "{e}");
}

#[test]
fn random_bytes_as_a_response_never_panic() {
    use rand::{Rng, SeedableRng};
    let kp = Keypair::tsa(SIM_NAME);
    let trusted = trust(&kp.pem());
    let imprint = tsa::imprint("neo");
    let nonce = tsa::new_nonce().unwrap();
    let req =
        x509_tsp::TimeStampReq::from_der(&tsa::request_der(&imprint, &nonce).unwrap()).unwrap();
    let good = issue(&req, &kp, 7, Fault::None);
    tsa::check_response(&good, &imprint, &nonce, &trusted).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3161);
    let mut refused = 0;
    for i in 0..3000 {
        let bytes: Vec<u8> = if i % 2 == 0 {
            // Pure noise, sometimes starting like a SEQUENCE.
            let n = rng.gen_range(0..600);
            let mut b: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            if i % 4 == 0 && !b.is_empty() {
                b[0] = 0x30;
            }
            b
        } else {
            // The good answer with a few bytes changed, cut or extended.
            let mut b = good.clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..b.len());
                b[at] = rng.gen();
            }
            match rng.gen_range(0..3) {
                0 => b.truncate(rng.gen_range(0..b.len())),
                1 => b.extend((0..rng.gen_range(1..20)).map(|_| rng.gen::<u8>())),
                _ => {}
            }
            b
        };
        if tsa::check_response(&bytes, &imprint, &nonce, &trusted).is_err() {
            refused += 1;
        }
        let _ = tsa::verify_token(&bytes, &imprint, None, &trusted);
    }
    // Nearly everything is refused; a change in an unchecked byte (e.g. inside the
    // certificate's unsigned padding of a length) may still pass, but nothing panics.
    assert!(refused > 2900, "{refused}");
}

/// Runs `openssl` with `args` in `dir`; panics with its output on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn have_openssl() -> bool {
    std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A TSA made with the openssl CLI: `key_args` for `openssl req -newkey`, `ess` the
/// ESSCertID hash (`sha1`: RFC 2634 `SigningCertificate`; `sha256`: RFC 5816 V2).
fn openssl_tsa(dir: &std::path::Path, key_args: &str, ess: &str) {
    let conf = format!(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = OpenSSL TSA thử\nO = Tỉnh số\nC = VN\n\
         [ext]\nextendedKeyUsage = critical, timeStamping\nbasicConstraints = CA:FALSE\n\
         [tsa]\ndefault_tsa = tsa1\n[tsa1]\ndir = .\nserial = ./serial\ncrypto_device = builtin\n\
         signer_cert = ./cert.pem\nsigner_key = ./key.pem\nsigner_digest = sha256\n\
         default_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\nordering = no\ntsa_name = yes\n\
         ess_cert_id_chain = no\ness_cert_id_alg = {ess}\nclock_precision_digits = 3\n"
    );
    std::fs::write(dir.join("tsa.cnf"), conf).unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-utf8",
        "-config",
        "tsa.cnf",
        "-extensions",
        "ext",
    ];
    args.extend(key_args.split(' '));
    args.extend([
        "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "30",
    ]);
    openssl(dir, &args);
}

#[test]
fn tokens_made_by_openssl_ts_are_accepted_and_openssl_accepts_ours() {
    if !have_openssl() {
        eprintln!(
            "SKIPPED: no `openssl` on this machine; the openssl interoperability test did not run"
        );
        return;
    }
    for (key_args, ess) in [
        ("-newkey rsa:2048", "sha1"),
        ("-newkey rsa:2048", "sha256"),
        ("-newkey ec -pkeyopt ec_paramgen_curve:P-256", "sha256"),
    ] {
        let dir = tempdir();
        openssl_tsa(&dir, key_args, ess);
        let text = format!(
            "TINHSO-LGSP-1-ANCHOR\n9\n{}\n{}",
            "ab".repeat(32),
            now_micros()
        );
        let imprint = tsa::imprint(&text);
        let nonce = tsa::new_nonce().unwrap();
        std::fs::write(
            dir.join("q.tsq"),
            tsa::request_der(&imprint, &nonce).unwrap(),
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                "q.tsq",
                "-out",
                "r.tsr",
            ],
        );
        let resp = std::fs::read(dir.join("r.tsr")).unwrap();
        let pem = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
        let (token, stamp) = tsa::check_response(&resp, &imprint, &nonce, &trust(&pem))
            .unwrap_or_else(|e| panic!("{key_args} {ess}: {e}"));
        assert!(stamp.tsa_name.contains("OpenSSL TSA"), "{}", stamp.tsa_name);
        assert_eq!(stamp.policy, "1.2.3.4.1");
        assert!((now_micros() - stamp.gen_time).abs() < 120_000_000);
        // The same token checked later (no nonce), and refused for another text.
        tsa::verify_token(&token, &imprint, None, &trust(&pem)).unwrap();
        let e = tsa::verify_token(&token, &tsa::imprint("khác"), None, &trust(&pem)).unwrap_err();
        assert_eq!(e.code, "imprint");
    }
    // openssl verifies the simulator's token for the anchor text.
    let dir = tempdir();
    let kp = Keypair::tsa(SIM_NAME);
    let text = "TINHSO-LGSP-1-ANCHOR\n1\ncd\n2";
    let imprint = tsa::imprint(text);
    let nonce = tsa::new_nonce().unwrap();
    let req_der = tsa::request_der(&imprint, &nonce).unwrap();
    let req = x509_tsp::TimeStampReq::from_der(&req_der).unwrap();
    std::fs::write(dir.join("q.tsq"), &req_der).unwrap();
    std::fs::write(dir.join("r.tsr"), issue(&req, &kp, 1, Fault::None)).unwrap();
    std::fs::write(dir.join("ca.pem"), kp.pem()).unwrap();
    std::fs::write(dir.join("anchor.txt"), text).unwrap();
    let out = openssl(
        &dir,
        &[
            "ts",
            "-verify",
            "-data",
            "anchor.txt",
            "-in",
            "r.tsr",
            "-CAfile",
            "ca.pem",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verification: OK"));
    let out = openssl(
        &dir,
        &[
            "ts",
            "-verify",
            "-queryfile",
            "q.tsq",
            "-in",
            "r.tsr",
            "-CAfile",
            "ca.pem",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verification: OK"));
}

/// A fresh directory under the system's temporary one.
fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tinhso-tsa-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn the_hub_page_and_the_verification_api_say_which_anchors_are_time_stamped() {
    use std::sync::Arc;
    let Stamping { t, sim, tsa, key } = stamping().await;
    let db = &t.db;
    let cfg = tinhso_exchange::HubConfig {
        tsa: Some(TsaConfig {
            url: sim.url.clone(),
            trust: tsa.trust().clone(),
            timeout: Duration::from_secs(10),
        }),
        tsa_trust: Some(tsa.trust().clone()),
        ..Default::default()
    };
    let hub = Arc::new(tinhso_exchange::Hub::new(db.clone(), cfg));
    let state = tinhso_http::AppState::new(db.clone(), tinhso_http::WebConfig::default());
    let app = support::signed_in(
        tinhso_exchange::web::routes(hub),
        support::principal(tinhso_identity::Role::Admin),
    )
    .with_state(state);
    let base = format!("http://{}", support::serve(app).await);
    grow(db, 2).await;
    log::anchor(db, &key).await.unwrap();
    log::timestamp_pending(db, &tsa, 10).await.unwrap();
    grow(db, 1).await;
    log::anchor(db, &key).await.unwrap();
    let http = reqwest::Client::new();
    let html = http
        .get(format!("{base}/quan-tri/truc-lien-thong"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let section = html.split("id=\"anchors\"").nth(1).unwrap();
    assert!(section.contains(&sim.url), "the TSA's address");
    assert!(section.contains("Mô phỏng TSA"), "anchor 2 is time-stamped");
    assert!(section.contains("chỉ khóa của trục"), "anchor 3 is not");
    let v = support::get_json(&http, format!("{base}/api/v1/exchange/log/verification")).await;
    assert!(v["first_broken"].is_null(), "{v}");
    assert_eq!(
        (
            &v["anchors"],
            &v["anchors_timestamped"],
            &v["timestamps_verified"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1)
        )
    );
    assert_eq!(v["latest_timestamp"]["seq"], 2);
}
