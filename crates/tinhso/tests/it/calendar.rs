//! The working-day calendar over HTTP: deadlines skip Tết, administrators add days off.

use crate::{client, json, problem, spawn_app, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::json;

async fn due(app: &TestApp, c: &Client, from: &str, days: u32) -> String {
    let (status, v) = json(
        app.get(
            c,
            &format!("/api/v1/calendar/deadline?from={from}&days={days}"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["due"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn deadlines_skip_tet_and_follow_overrides() {
    let app = spawn_app().await;
    let anon = client();

    // Friday 13 February 2026, one working day: Tết 2026 runs to Sunday 22 February.
    let (status, v) = json(
        app.get(&anon, "/api/v1/calendar/deadline?from=2026-02-13&days=1")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["due"], "2026-02-23");
    assert_eq!(v["calendar_days"], 10);
    assert_eq!(v["working_days"], 1);
    // The demo's New Year swap: Friday 2 January off, Saturday 10 January worked.
    assert_eq!(due(&app, &anon, "2026-01-01", 1).await, "2026-01-05");
    assert_eq!(due(&app, &anon, "2026-01-09", 1).await, "2026-01-10");

    let (status, holidays) =
        json(app.get(&anon, "/api/v1/calendar/holidays?year=2026").await).await;
    assert_eq!(status, StatusCode::OK);
    let off: Vec<&str> = holidays
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["date"].as_str().unwrap())
        .collect();
    assert!(off.contains(&"2026-02-17"), "Mùng 1 Tết: {off:?}");
    assert!(off.contains(&"2026-09-02"), "National Day: {off:?}");
    assert!(!off.contains(&"2026-09-03"), "{off:?}");

    // Thursday 3 September 2026 is a working day, until the administrator says otherwise.
    assert_eq!(due(&app, &anon, "2026-09-02", 1).await, "2026-09-03");
    assert_eq!(due(&app, &anon, "2026-09-01", 2).await, "2026-09-04");

    // Not everyone may.
    let (officer, officer_csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let body = json!({"kind": "day_off", "name_vi": "Nghỉ bù Quốc khánh", "name_en": "National Day bridge"});
    let (status, p) = problem(
        officer
            .put(app.url("/api/v1/calendar/overrides/2026-09-03"))
            .header("x-csrf-token", &officer_csrf)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(p["code"], "forbidden");
    assert_eq!(due(&app, &anon, "2026-09-02", 1).await, "2026-09-03");

    let (admin, csrf) = app.api_signed_in("quantri").await;
    let audit = app.audit_count("calendar.set_override").await;
    let resp = admin
        .put(app.url("/api/v1/calendar/overrides/2026-09-03"))
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["day"], "2026-09-03");
    assert_eq!(v["kind"], "day_off");
    assert_eq!(app.audit_count("calendar.set_override").await, audit + 1);
    assert_eq!(due(&app, &anon, "2026-09-02", 1).await, "2026-09-04");
    assert_eq!(due(&app, &anon, "2026-09-01", 2).await, "2026-09-07");
    let (_, overrides) = json(app.get(&anon, "/api/v1/calendar/overrides").await).await;
    assert!(overrides
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["day"] == "2026-09-03" && o["kind"] == "day_off"));
    let html = app
        .get(&anon, "/quan-tri/lich-lam-viec?nam=2026")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Nghỉ bù Quốc khánh") && html.contains("03/09/2026"));

    // Removing it restores the deadline.
    let resp = admin
        .delete(app.url("/api/v1/calendar/overrides/2026-09-03"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.audit_count("calendar.remove_override").await, 1);
    assert_eq!(due(&app, &anon, "2026-09-02", 1).await, "2026-09-03");
    let resp = admin
        .delete(app.url("/api/v1/calendar/overrides/2026-09-03"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_dates_are_field_problems() {
    let app = spawn_app().await;
    let anon = client();
    for q in [
        "from=2026-02-30&days=1",
        "from=13/02/2026&days=1",
        "from=hom-nay&days=1",
    ] {
        let (status, p) = problem(
            app.get(&anon, &format!("/api/v1/calendar/deadline?{q}"))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(p["errors"][0]["field"], "from", "{q}");
        assert_eq!(p["errors"][0]["code"], "date_format", "{q}");
    }
    let (status, p) = problem(
        app.get(
            &anon,
            "/api/v1/calendar/deadline?from=2026-02-13&days=99999",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "days");

    let (admin, csrf) = app.api_signed_in("quantri").await;
    let overrides = app.count("SELECT COUNT(*) FROM calendar_overrides").await;
    let (status, p) = problem(
        admin
            .put(app.url("/api/v1/calendar/overrides/2026-02-30"))
            .header("x-csrf-token", &csrf)
            .json(&json!({"kind": "day_off", "name_vi": "Không có ngày này"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "date_format", "{p}");
    let (status, p) = problem(
        admin
            .put(app.url("/api/v1/calendar/overrides/2026-09-03"))
            .header("x-csrf-token", &csrf)
            .json(&json!({"kind": "nghi_choi", "name_vi": "Sai loại"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "kind", "{p}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM calendar_overrides").await,
        overrides
    );
}
