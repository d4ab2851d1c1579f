//! Wrong look-up codes are limited (giới hạn nhập sai mã tra cứu): per dossier and per client
//! address, over real HTTP (several loopback source addresses stand for several clients).
//! A refusal is a 429 problem (or page) in Vietnamese and English with `Retry-After`; right
//! codes never spend the budgets.

use crate::services::file_birth;
use crate::{client, problem, spawn_app, text, TestApp};
use reqwest::{Client, Response, StatusCode};
use std::net::{IpAddr, Ipv4Addr};
use tinhso_services::web::lookup_limit::{DOSSIER_WRONG_TRIES, IP_WRONG_TRIES, WINDOW};

/// A client whose requests come from `127.0.0.<n>`.
fn client_from(n: u8) -> Client {
    Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

async fn track(app: &TestApp, c: &Client, code: &str, lookup: &str) -> Response {
    c.get(app.url(&format!("/api/v1/dossiers/{code}/track")))
        .query(&[("lookup", lookup)])
        .send()
        .await
        .unwrap()
}

/// A wrong code for `lookup` (its first letter changed).
fn wrong(lookup: &str) -> String {
    let first = if lookup.starts_with('A') { 'B' } else { 'A' };
    format!("{first}{}", &lookup[1..])
}

/// The `Retry-After` of a 429, in seconds: present, positive, at most one refill interval.
fn retry_after(resp: &Response, tries: u32) -> u64 {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    let refill = WINDOW.as_secs().div_ceil(u64::from(tries));
    assert!(secs >= 1 && secs <= refill, "{secs} s, refill {refill} s");
    secs
}

#[tokio::test]
async fn wrong_lookup_codes_are_limited_per_dossier_and_per_address() {
    let app = spawn_app().await;
    let (code_a, lookup_a) = file_birth(&app, &client(), "Nguyễn Văn An").await;
    let (code_b, lookup_b) = file_birth(&app, &client(), "Trần Thị Bình").await;
    let (one, two, three, four) = (
        client_from(1),
        client_from(2),
        client_from(3),
        client_from(4),
    );

    // Right codes spend nothing: far more look-ups than either budget, all answered.
    for _ in 0..(IP_WRONG_TRIES + 5) {
        assert_eq!(
            track(&app, &four, &code_b, &lookup_b).await.status(),
            StatusCode::OK
        );
    }

    // Per dossier: the allowed wrong tries answer "not found", like an unknown dossier …
    for _ in 0..DOSSIER_WRONG_TRIES {
        let (status, _) = problem(track(&app, &one, &code_a, &wrong(&lookup_a)).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // … the next one is refused with 429, in both languages, with Retry-After.
    let resp = track(&app, &one, &code_a, &wrong(&lookup_a)).await;
    retry_after(&resp, DOSSIER_WRONG_TRIES);
    let (_, p) = problem(resp).await;
    assert_eq!(p["code"], "rate_limited");
    assert!(
        p["detail_vi"].as_str().unwrap().contains("sai mã tra cứu"),
        "{p}"
    );
    assert!(
        p["detail"].as_str().unwrap().contains("wrong lookup codes"),
        "{p}"
    );
    // The dossier is blocked for every client, whatever the code (else a right guess would
    // still get through) …
    let resp = track(&app, &two, &code_a, &lookup_a).await;
    retry_after(&resp, DOSSIER_WRONG_TRIES);
    // … and on the tracking page too (its code typed in lower case is the same dossier).
    let resp = two
        .get(app.url("/tra-cuu"))
        .query(&[
            ("ma_ho_so", code_a.to_lowercase()),
            ("ma", lookup_a.clone()),
        ])
        .send()
        .await
        .unwrap();
    retry_after(&resp, DOSSIER_WRONG_TRIES);
    let (_, html) = text(resp).await;
    assert!(html.contains("Nhập sai mã tra cứu quá nhiều lần"), "{html}");
    // Other dossiers are not: the first client, within its address budget, tracks B.
    assert_eq!(
        track(&app, &one, &code_b, &lookup_b).await.status(),
        StatusCode::OK
    );

    // Per address: wrong tries spread over many (unknown) dossiers, so that no dossier's
    // budget runs out, still run out the address's.
    for i in 0..IP_WRONG_TRIES {
        let unknown = format!("000.00.23.H37-991231-{i:04}");
        let (status, _) = problem(track(&app, &three, &unknown, "AAAAAAAA").await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "try {i}");
    }
    let resp = track(&app, &three, "000.00.23.H37-991231-9999", "AAAAAAAA").await;
    retry_after(&resp, IP_WRONG_TRIES);
    // That address is blocked, even with a right code, on the API and on the page …
    let resp = track(&app, &three, &code_b, &lookup_b).await;
    retry_after(&resp, IP_WRONG_TRIES);
    let resp = three
        .get(app.url("/tra-cuu"))
        .query(&[
            ("ma_ho_so", code_b.as_str()),
            ("ma", lookup_b.as_str()),
            ("lang", "en"),
        ])
        .send()
        .await
        .unwrap();
    retry_after(&resp, IP_WRONG_TRIES);
    let (_, html) = text(resp).await;
    assert!(html.contains("Too many wrong lookup codes"), "{html}");
    // … while the other addresses go on.
    assert_eq!(
        track(&app, &four, &code_b, &lookup_b).await.status(),
        StatusCode::OK
    );
}
