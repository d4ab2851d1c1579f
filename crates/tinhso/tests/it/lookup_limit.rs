//! Wrong look-up codes are limited (giới hạn nhập sai mã tra cứu): per dossier and per client
//! address, over real HTTP (several loopback source addresses stand for several clients).
//! A refusal is a 429 problem (or page) in Vietnamese and English with `Retry-After`; right
//! codes never spend the budgets.

use crate::services::file_birth;
use crate::{client, problem, spawn_app, spawn_app_with, text, TestApp};
use reqwest::{Client, Response, StatusCode};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tinhso_http::ratelimit::LookupBudgets;

/// The default budgets (`[services]` unset).
const DOSSIER_WRONG_TRIES: u32 = LookupBudgets::DEFAULT.per_item;
const IP_WRONG_TRIES: u32 = LookupBudgets::DEFAULT.per_address;

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

/// The `Retry-After` of a 429, in seconds: present, positive, at most one refill interval
/// (of the default window).
fn retry_after(resp: &Response, tries: u32) -> u64 {
    retry_after_within(resp, tries, LookupBudgets::DEFAULT.window)
}

fn retry_after_within(resp: &Response, tries: u32, window: Duration) -> u64 {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    let refill = window.as_secs().div_ceil(u64::from(tries));
    assert!(secs >= 1 && secs <= refill, "{secs} s, refill {refill} s");
    secs
}

/// The 429 of one wrong code too many on an item: `Retry-After` within the item's refill,
/// the problem's code and its detail in Vietnamese and English.
async fn refused_in_both_languages(resp: Response) {
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
    refused_in_both_languages(track(&app, &one, &code_a, &wrong(&lookup_a)).await).await;
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

async fn track_pakn(app: &TestApp, c: &Client, code: &str, lookup: &str) -> Response {
    c.get(app.url(&format!("/api/v1/feedback/{code}")))
        .query(&[("lookup", lookup)])
        .send()
        .await
        .unwrap()
}

/// A PAKN sent through the API by `c`: (its code, its lookup code) — or the response when
/// `dossier` (code, lookup code) was not accepted.
async fn send_pakn(
    app: &TestApp,
    c: &Client,
    agency: &str,
    dossier: (&str, &str),
) -> Result<(String, String), Response> {
    let resp = c
        .post(app.url("/api/v1/feedback"))
        .json(
            &serde_json::json!({"kind": "kien_nghi", "name": "Lê Văn Nam",
            "email": "nam@example.vn", "agency_code": agency, "dossier_code": dossier.0,
            "lookup_code": dossier.1, "subject": "Trả kết quả chậm",
            "content": "Đã quá ngày hẹn mà chưa nhận được kết quả."}),
        )
        .send()
        .await
        .unwrap();
    if resp.status() != StatusCode::CREATED {
        return Err(resp);
    }
    let (_, v) = crate::json(resp).await;
    Ok((
        v["feedback"]["code"].as_str().unwrap().to_string(),
        v["lookup_code"].as_str().unwrap().to_string(),
    ))
}

#[tokio::test]
async fn wrong_lookup_codes_of_a_pakn_are_limited_like_those_of_a_dossier() {
    let app = spawn_app().await;
    let agency = app.agency("Tam Thanh", "ubnd_xa").await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let (pakn, lookup) = send_pakn(&app, &client_from(5), &agency, ("", ""))
        .await
        .map_err(|r| r.status())
        .unwrap();
    let (one, two, three) = (client_from(1), client_from(2), client_from(3));

    // Right codes spend nothing.
    for _ in 0..(IP_WRONG_TRIES + 5) {
        assert_eq!(
            track_pakn(&app, &two, &pakn, &lookup).await.status(),
            StatusCode::OK
        );
    }
    // Per PAKN: the allowed wrong tries answer "not found" …
    for _ in 0..DOSSIER_WRONG_TRIES {
        let (status, _) = problem(track_pakn(&app, &one, &pakn, &wrong(&lookup)).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // … the next one is refused with 429 in both languages, with Retry-After …
    refused_in_both_languages(track_pakn(&app, &one, &pakn, &wrong(&lookup)).await).await;
    // … and the PAKN is blocked for everyone, even with the right code, on the API and on the
    // tracking page (its code in lower case is the same PAKN).
    retry_after(
        &track_pakn(&app, &two, &pakn, &lookup).await,
        DOSSIER_WRONG_TRIES,
    );
    for (lang, message) in [
        ("vi", "Nhập sai mã tra cứu quá nhiều lần"),
        ("en", "Too many wrong lookup codes"),
    ] {
        let resp = two
            .get(app.url("/phan-anh-kien-nghi/tra-cuu"))
            .query(&[
                ("ma_pakn", pakn.to_lowercase().as_str()),
                ("ma", lookup.as_str()),
                ("lang", lang),
            ])
            .send()
            .await
            .unwrap();
        retry_after(&resp, DOSSIER_WRONG_TRIES);
        let (_, html) = text(resp).await;
        assert!(html.contains(message), "{html}");
    }

    // Per address: wrong tries spread over unknown PAKN, on the page this time, run out the
    // address's budget — the same budget as dossier look-ups.
    for i in 0..IP_WRONG_TRIES {
        let resp = three
            .get(app.url("/phan-anh-kien-nghi/tra-cuu"))
            .query(&[
                ("ma_pakn", format!("PAKN-991231-{i:04}")),
                ("ma", "AAAAAAAA".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "try {i}");
    }
    retry_after(
        &track_pakn(&app, &three, "PAKN-991231-9999", "AAAAAAAA").await,
        IP_WRONG_TRIES,
    );
    let (code, dossier_lookup) = file_birth(&app, &client(), "Hoàng Văn Cường").await;
    retry_after(
        &track(&app, &three, &code, &dossier_lookup).await,
        IP_WRONG_TRIES,
    );
    // Other addresses go on.
    assert_eq!(
        track(&app, &two, &code, &dossier_lookup).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_pakn_about_a_dossier_spends_the_dossiers_budget_on_a_wrong_lookup_code() {
    let app = spawn_app().await;
    let (code, lookup) = file_birth(&app, &client(), "Đinh Thị Dung").await;
    let (one, two) = (client_from(1), client_from(2));
    // Sending a PAKN about a dossier checks its lookup code: the wrong ones are field errors …
    for _ in 0..DOSSIER_WRONG_TRIES {
        let resp = send_pakn(&app, &one, "", (&code, &wrong(&lookup)))
            .await
            .unwrap_err();
        let (status, p) = problem(resp).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["errors"][0]["code"], "dossier_not_found", "{p}");
    }
    // … until the dossier's budget is spent: then 429, and nothing written.
    let resp = send_pakn(&app, &one, "", (&code, &wrong(&lookup)))
        .await
        .unwrap_err();
    retry_after(&resp, DOSSIER_WRONG_TRIES);
    // The dossier is blocked for tracking too, and for a PAKN with its right code.
    retry_after(
        &track(&app, &two, &code, &lookup).await,
        DOSSIER_WRONG_TRIES,
    );
    let resp = send_pakn(&app, &two, "", (&code, &lookup))
        .await
        .unwrap_err();
    retry_after(&resp, DOSSIER_WRONG_TRIES);
    assert_eq!(app.count("SELECT COUNT(*) FROM feedback").await, 0);
    // A PAKN addressed to an agency (no dossier, no lookup code) is not limited.
    let agency = app.agency("Tam Thanh", "ubnd_xa").await["code"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(send_pakn(&app, &one, &agency, ("", "")).await.is_ok());
}

#[tokio::test]
async fn the_budgets_are_those_of_the_settings() {
    // `[services] lookup_wrong_tries_per_item = 2`, `…_per_address = 3`, window 60 s.
    let budgets = LookupBudgets {
        per_item: 2,
        per_address: 3,
        window: Duration::from_secs(60),
    };
    let app = spawn_app_with(|c| c.lookup_budgets = budgets).await;
    let (code, lookup) = file_birth(&app, &client(), "Vi Văn Hải").await;
    let (one, two) = (client_from(1), client_from(2));
    for _ in 0..2 {
        let (status, _) = problem(track(&app, &one, &code, &wrong(&lookup)).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // The third wrong code on the dossier is one too many (the default allows 10): blocked
    // for one refill of the configured window (60 s / 2 = 30 s).
    let secs = retry_after_within(
        &track(&app, &one, &code, &wrong(&lookup)).await,
        2,
        budgets.window,
    );
    assert!(secs > 20, "{secs} s");
    retry_after_within(&track(&app, &two, &code, &lookup).await, 2, budgets.window);
    // The address's budget is 3: one more wrong code, on another (unknown) dossier, blocks it.
    let resp = track(&app, &one, "000.00.23.H37-991231-0001", "AAAAAAAA").await;
    retry_after_within(&resp, 3, budgets.window);
}
