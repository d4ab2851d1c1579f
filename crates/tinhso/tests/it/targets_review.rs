//! The annual review files, the Government export and the DTI page over HTTP: who may read,
//! who may enter, refusals that name the rule and write nothing.

use crate::{client, json, problem, spawn_app, text};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn staff_download_the_annual_review_and_the_export() {
    let app = spawn_app().await;
    // Anonymous and citizens are refused.
    let (status, _) = problem(
        app.get(&client(), "/api/v1/targets/export?period=2026")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let citizen = app.signed_in("020190001234").await;
    let resp = app
        .get(&citizen, "/nghiep-vu/muc-tieu/bao-cao-nam.pdf?year=2026")
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let staff = app.signed_in("motcua.tinh").await;
    let resp = app
        .get(&staff, "/nghiep-vu/muc-tieu/bao-cao-nam.pdf?year=2026")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"bao-cao-nam-2026.pdf\""
    );
    assert!(resp.bytes().await.unwrap().starts_with(b"%PDF-"));
    let resp = app
        .get(&staff, "/nghiep-vu/muc-tieu/bao-cao-nam.xlsx?year=2026")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(resp.bytes().await.unwrap().starts_with(b"PK\x03\x04"));
    // A bad year: the page names the rule.
    let resp = app
        .get(&staff, "/nghiep-vu/muc-tieu/bao-cao-nam.pdf?year=hai")
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The JSON review: the demo's DTI rank (2023: 4th) on track.
    let (status, v) = json(
        app.get(&staff, "/api/v1/targets/annual-review?year=2026")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["plan"]["code"], "226/KH-UBND");
    assert_eq!(v["total"]["targets"], 43);
    let t: u64 = ["on_track", "at_risk", "off_track", "no_data"]
        .iter()
        .map(|k| v["total"][k].as_u64().unwrap())
        .sum();
    assert_eq!(t, 43);
    let (status, p) = problem(app.get(&staff, "/api/v1/targets/annual-review").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "required");

    // The export: its period is required, a period key, and begun.
    for (q, code) in [
        ("", "required"),
        ("?period=", "required"),
        ("?period=2026-Q5", "period"),
        ("?period=Q1-2026", "period"),
        ("?period=2100", "period_future"),
        ("?period=2026&plan=9/KH", "plan_unknown"),
        ("?period=2026&unit=99999", "unit_unknown"),
        ("?period=2026&unit=000.00.99.H37", "unit_unknown"),
    ] {
        let (status, p) =
            problem(app.get(&staff, &format!("/api/v1/targets/export{q}")).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(p["errors"][0]["code"], code, "{q}: {p}");
        assert!(
            p["errors"][0]["message_vi"]
                .as_str()
                .unwrap()
                .contains("kỳ")
                || code == "plan_unknown"
                || (code == "unit_unknown" && p["errors"][0]["field"] == "unit")
        );
    }
    // By unit: one commune, one agency, every unit (the province first).
    let (status, v) = json(
        app.get(&staff, "/api/v1/targets/export?period=2023&unit=05986")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let values = v["values"].as_array().unwrap();
    assert_eq!(values.len(), 43);
    assert!(values.iter().all(|x| x["org_unit"] == "commune:05986"));
    let (status, v) = json(
        app.get(
            &staff,
            "/api/v1/targets/export?period=2023&unit=000.00.03.H37",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["values"][0]["org_unit"], "agency:000.00.03.H37");
    let (status, v) = json(
        app.get(&staff, "/api/v1/targets/export?period=2023&unit=all")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let values = v["values"].as_array().unwrap();
    assert_eq!(values[0]["org_unit"], "province");
    assert!(values.iter().any(|x| x["org_unit"] == "commune:05986"));
    assert!(values
        .iter()
        .any(|x| x["org_unit"] == "agency:000.00.03.H37"));
    assert_eq!(values.len() % 43, 0);
    let (status, v) = json(app.get(&staff, "/api/v1/targets/export?period=2023").await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["format"], "tinhso.indicator-values/1");
    assert_eq!(v["period"]["start"], "2022-12-15");
    let dti = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["target"] == "overall.dti-top10")
        .unwrap();
    assert_eq!(
        (dti["value"].as_f64(), dti["source"].as_str()),
        (Some(4.0), Some("reported"))
    );
    assert_eq!(v["content_sha256"].as_str().unwrap().len(), 64);
}

async fn enter(
    app: &crate::TestApp,
    c: &reqwest::Client,
    csrf: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    c.post(app.url("/api/v1/dti/values"))
        .header("x-csrf-token", csrf)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_dti_page_and_its_entries() {
    let app = spawn_app().await;
    let staff = app.signed_in("motcua.tinh").await;
    let (status, html) = text(app.get(&staff, "/nghiep-vu/dti?year=2024").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Chỉ số chuyển đổi số cấp tỉnh"), "{html}");
    assert!(html.contains("id=\"dti-government\"") && html.contains("id=\"dti-foundation\""));
    assert!(html.contains("aria-labelledby=\"dti-rank-title\""));
    // Four published ranks drawn, 2020 (16th) lowest.
    assert_eq!(html.matches("<g class=\"diem\">").count(), 4);
    assert!(html.contains("<title>2020: 16</title>"));
    let (status, _) = text(app.get(&staff, "/nghiep-vu/dti?year=abc").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Entering: an officer may not; a department leader is not province-wide; a province leader may.
    let body = json!({"indicator": "reported.overall.dti-top10", "year": "2024", "value": "3", "note": "Bộ KH&CN công bố 21/10/2025"});
    let (officer, csrf) = app.api_signed_in("motcua.tinh").await;
    let r = enter(&app, &officer, &csrf, &body).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (dept, csrf) = app.api_signed_in("lanhdao.sokhcn").await;
    let r = enter(&app, &dept, &csrf, &body).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (leader, csrf) = app.api_signed_in("lanhdao.tinh").await;
    let bad =
        json!({"indicator": "dti.government.online-dossiers", "year": "2024", "value": "0,5"});
    let (status, p) = problem(enter(&app, &leader, &csrf, &bad).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "indicator_live");
    let (status, v) = json(enter(&app, &leader, &csrf, &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["version"].as_i64(), v["value"].as_f64()),
        (Some(1), Some(3.0))
    );
    let (_, v) = json(app.get(&staff, "/api/v1/dti?year=2024").await).await;
    let ranks: Vec<(i64, i64)> = v["ranks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["year"].as_i64().unwrap(), r["rank"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        ranks,
        [(2020, 16), (2021, 5), (2022, 6), (2023, 4), (2024, 3)]
    );
    let (_, html) = text(app.get(&staff, "/nghiep-vu/dti").await).await;
    assert_eq!(html.matches("<g class=\"diem\">").count(), 5);
    // The same rank is the plan's DTI target's value on the board.
    let (_, v) = json(app.get(&staff, "/api/v1/targets").await).await;
    let t = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "overall.dti-top10")
        .unwrap();
    assert_eq!(
        (
            t["current"]["period"].as_str(),
            t["current"]["value"].as_f64()
        ),
        (Some("2024"), Some(3.0))
    );
}

#[tokio::test]
async fn leaders_enter_dti_values_from_the_page() {
    let app = spawn_app().await;
    // Officers see no form.
    let officer = app.signed_in("motcua.tinh").await;
    let (_, html) = text(app.get(&officer, "/nghiep-vu/dti").await).await;
    assert!(!html.contains("id=\"nhap-dti\""));

    let lead = app.signed_in("lanhdao.tinh").await;
    let (status, html) = text(app.get(&lead, "/nghiep-vu/dti?year=2024").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"nhap-dti\""));
    assert!(html.contains("<option value=\"dti.foundation.awareness\""));
    assert!(
        !html.contains("<option value=\"dti.government.online-dossiers\""),
        "live ones are not offered"
    );
    let csrf = crate::hidden_field(&html, "csrf").expect("csrf");
    let post = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields);
        lead.post(app.url("/nghiep-vu/dti/so-lieu"))
            .form(&form)
            .send()
    };
    // A refusal names its rule, keeps what was typed and writes nothing.
    let before = app.count("SELECT COUNT(*) FROM reported_values").await;
    let resp = post(vec![
        ("indicator", "dti.index".into()),
        ("year", "2024".into()),
        ("value", "1,7".into()),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Quy tắc «giá trị chỉ số»"), "{html}");
    assert!(html.contains("value=\"1,7\""));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM reported_values").await,
        before
    );
    // Recorded: back to the page with the version, the value shown.
    let resp = post(vec![
        ("indicator", "dti.index".into()),
        ("year", "2024".into()),
        ("value", "0,6961".into()),
        ("note", "Bộ KH&CN".into()),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = crate::location(&resp);
    assert!(
        to.contains("year=2024") && to.contains("phien_ban=1"),
        "{to}"
    );
    let (_, html) = text(app.get(&lead, &to).await).await;
    assert!(html.contains("id=\"da-ghi\""), "{html}");
    assert!(html.contains("<strong>0,6961</strong>"), "{html}");
}
