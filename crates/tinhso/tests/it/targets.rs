//! The plan's targets over HTTP: the page (`/nghiep-vu/muc-tieu`) with its server-drawn
//! charts, the JSON API (`/api/v1/targets`), and reported values (`/api/v1/indicator-values`):
//! who may read, who may report for which unit, refusals that name the rule, versions.

use crate::{client, json, problem, spawn_app, text, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const EPAY: &str = "reported.soc.e-payment-accounts";

async fn report(app: &TestApp, c: &Client, csrf: &str, body: Value) -> reqwest::Response {
    c.post(app.url("/api/v1/indicator-values"))
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .expect("POST indicator value")
}

#[tokio::test]
async fn staff_see_every_target_with_its_source_and_status() {
    let app = spawn_app().await;
    // Anonymous and citizens are refused.
    let (status, _) = problem(app.get(&client(), "/api/v1/targets").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let resp = app.get(&client(), "/nghiep-vu/muc-tieu").await;
    assert_ne!(resp.status(), StatusCode::OK);
    let citizen = app.signed_in("020190001234").await;
    let (status, _) = problem(app.get(&citizen, "/api/v1/targets").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&citizen, "/nghiep-vu/muc-tieu").await.status(),
        StatusCode::FORBIDDEN
    );

    let staff = app.signed_in("motcua.tinh").await;
    let (_, home) = text(app.get(&staff, "/nghiep-vu").await).await;
    assert!(
        home.contains("href=\"/nghiep-vu/muc-tieu\""),
        "the back office links the page"
    );
    let (status, v) = json(app.get(&staff, "/api/v1/targets").await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["plans"][0]["code"], "226/KH-UBND");
    assert_eq!(v["summary"]["targets"], 43);
    assert_eq!(v["summary"]["live"], 9);
    assert_eq!(v["summary"]["reported"], 34);
    let targets = v["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 43);
    let t = targets
        .iter()
        .find(|t| t["id"] == "gov.online-services-level4")
        .unwrap();
    assert_eq!(t["source"], "live");
    assert_eq!(t["indicator_key"], "services.fully_online_procedures");
    assert_eq!(t["pillar"], "government");
    assert_eq!(t["horizon_year"], 2025);
    assert_eq!(t["target_value"], 100.0);
    assert_eq!(t["direction"], "at_least");
    assert_eq!(t["current"]["period"], v["live_period"]);
    assert!(t["current"]["denominator"].as_f64().unwrap() >= 48.0, "{t}");
    assert!(["on_track", "at_risk", "off_track"].contains(&t["status"].as_str().unwrap()));
    let dti = targets
        .iter()
        .find(|t| t["id"] == "overall.dti-top10")
        .unwrap();
    // The demo's DTI ranks: the latest (2023: 4th) is within the top 10.
    assert_eq!(
        (dti["source"].as_str(), dti["status"].as_str()),
        (Some("reported"), Some("on_track"))
    );
    assert_eq!(dti["current"]["period"], "2023");
    assert_eq!(dti["current"]["value"], 4.0);
    assert_eq!(dti["direction"], "at_most");
    let fibre = targets
        .iter()
        .find(|t| t["id"] == "soc.fibre-households-2025")
        .unwrap();
    assert_eq!(fibre["status"], "no_data");
    // The e-payment target is reported; the platform's online-payment rate is shown beside it.
    let epay = targets
        .iter()
        .find(|t| t["id"] == "soc.e-payment-accounts-2025")
        .unwrap();
    assert_eq!(epay["source"], "reported");
    assert_eq!(epay["related"]["indicator"], "services.online_payment");
    assert_eq!(epay["related"]["source"], "live");
    assert!(fibre.get("related").is_none());

    let (status, html) = text(app.get(&staff, "/nghiep-vu/muc-tieu").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Mục tiêu của kế hoạch chuyển đổi số"),
        "{html}"
    );
    assert!(html.contains("id=\"muc-tieu-gov-online-services-level4\""));
    assert!(html.contains("id=\"tru-cot-border\""));
    assert_eq!(html.matches("<svg width=\"210\"").count(), 43);
    assert!(html.contains("<strong id=\"so-truc-tiep\">9</strong>"));
    assert!(html.contains("<strong id=\"so-bao-cao\">34</strong>"));
    assert!(html.contains("Chưa có số liệu"));
    assert!(html.contains("Tham khảo trên nền tảng: Tỷ lệ thanh toán trực tuyến"));
    // Live indicators no target is wired to are listed with their value: the DVCQG sync rate
    // (nothing received in the period: no value), not the wired ones.
    let other = html.split("id=\"bang-chi-so-khac\"").nth(1).unwrap();
    let other = other.split("</table>").next().unwrap();
    assert!(
        other.contains("id=\"chi-so-connectors.dvcqg_sync\""),
        "{other}"
    );
    assert!(other.contains("Tỷ lệ hồ sơ đồng bộ lên Cổng Dịch vụ công quốc gia"));
    assert!(other.contains("chưa có số liệu"));
    assert!(!other.contains("services.fully_online_procedures"));
    assert!(other.contains("services.online_payment"));
    // Another period: the live values over its window; a bad key is refused naming the rule.
    let (status, v) = json(app.get(&staff, "/api/v1/targets?period=2026-Q1").await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["live_period"], "2026-Q1");
    assert_eq!(v["as_of"], "2026-03-14");
    let (status, p) = problem(app.get(&staff, "/api/v1/targets?period=2026-Q5").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "period");
    let (status, html) = text(app.get(&staff, "/nghiep-vu/muc-tieu?period=2025").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("name=\"period\" value=\"2025\""), "{html}");
    // In English.
    let (_, html) = text(app.get(&staff, "/nghiep-vu/muc-tieu?lang=en").await).await;
    assert!(html.contains("Targets of the digital transformation plan"));
}

#[tokio::test]
async fn leaders_report_values_for_their_units_in_versions() {
    let app = spawn_app().await;
    // An officer without the leaders' permission may not report.
    let (officer, csrf) = app.api_signed_in("motcua.tinh").await;
    let body = json!({"indicator": EPAY, "period": "2025", "org": "province", "value": "46"});
    let (status, _) = problem(report(&app, &officer, &csrf, body.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A department leader: his own agency, not the province.
    let (dept, csrf) = app.api_signed_in("lanhdao.sokhcn").await;
    let denied = app.audit_count("authz.denied").await;
    let (status, _) = problem(report(&app, &dept, &csrf, body.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.audit_count("authz.denied").await, denied + 1);
    let khcn = app.agency("khoa hoc va cong nghe", "so").await;
    let org = format!("agency:{}", khcn["code"].as_str().unwrap());
    let (status, v) = json(
        report(
            &app,
            &dept,
            &csrf,
            json!({"indicator": EPAY, "period": "2025", "org": org, "value": "55"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["org"], org);

    // The province leader: refusals name the rule and write nothing.
    let (lead, csrf) = app.api_signed_in("lanhdao.tinh").await;
    let (status, p) = problem(
        report(
            &app,
            &lead,
            &csrf,
            json!({"indicator": EPAY, "period": "2025", "org": "province", "value": "120"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let err = &p["errors"][0];
    assert_eq!(err["field"], "value", "{p}");
    assert_eq!(err["code"], "range", "{p}");
    let (status, p) = problem(
        report(
            &app,
            &lead,
            &csrf,
            json!({"indicator": "services.online", "period": "2025-13", "value": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["indicator_live", "period", "number"], "{p}");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM reported_values WHERE org_kind = 'province' \
             AND indicator_key <> 'reported.overall.dti-top10'"
        )
        .await,
        0
    );

    // Two versions: both kept, the newest counts.
    for (value, version) in [("46", 1), ("40,5", 2)] {
        let (status, v) = json(
            report(&app, &lead, &csrf, json!({"indicator": EPAY, "period": "2025", "value": value, "note": "Báo cáo của Ngân hàng Nhà nước khu vực"})).await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert_eq!(v["version"], version);
    }
    let (status, v) = json(
        app.get(
            &lead,
            &format!("/api/v1/indicator-values?indicator={EPAY}&org=province"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let versions: Vec<(i64, f64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["version"].as_i64().unwrap(), r["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(versions, [(2, 40.5), (1, 46.0)]);
    let (_, v) = json(app.get(&lead, "/api/v1/targets").await).await;
    let t = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "soc.e-payment-accounts-2025")
        .unwrap()
        .clone();
    assert_eq!(t["current"]["value"], 40.5);
    assert_eq!(t["current"]["version"], 2);
    assert_eq!(t["status"], "off_track");
    let (_, html) = text(app.get(&lead, "/nghiep-vu/muc-tieu").await).await;
    assert!(html.contains("40,5%"), "the page shows the newest version");
    assert!(html.contains("Chậm tiến độ"));
}

#[tokio::test]
async fn observations_by_period_and_unit_within_the_callers_scope() {
    let app = spawn_app().await;
    let staff = app.signed_in("motcua.tinh").await;
    let (status, v) = json(
        app.get(
            &staff,
            "/api/v1/observations?indicator=services.fully_online_procedures&period=2026-01",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["period"].as_str(),
            v["org"].as_str(),
            v["source"].as_str()
        ),
        (Some("2026-01"), Some("province"), Some("live"))
    );
    assert!(v["denominator"].as_f64().unwrap() >= 48.0);
    // A reported value (the demo's DTI rank of 2022), and a period with nothing: null.
    let dti = "/api/v1/observations?indicator=reported.overall.dti-top10&period=";
    let (status, v) = json(app.get(&staff, &format!("{dti}2022")).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["value"], 6.0);
    assert_eq!(
        (v["source"].as_str(), v["version"].as_i64()),
        (Some("reported"), Some(1))
    );
    let (status, v) = json(app.get(&staff, &format!("{dti}2019")).await).await;
    assert_eq!((status, v), (StatusCode::OK, Value::Null));
    // A commune's values: its officer yes, another commune's no, the provincial centre no.
    let tam_thanh =
        "/api/v1/observations?indicator=services.online&period=2026-Q1&org=commune:05986";
    let own = app.signed_in("congchuc.tamthanh").await;
    let (status, v) = json(app.get(&own, tam_thanh).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["org"], "commune:05986");
    for c in [app.signed_in("congchuc.dongkinh").await, staff.clone()] {
        let (status, _) = problem(app.get(&c, tam_thanh).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, p) = problem(
        app.get(
            &staff,
            "/api/v1/observations?indicator=services.online&period=2026-Q5",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "period");
}

#[tokio::test]
async fn leaders_report_through_the_page_form() {
    let app = spawn_app().await;
    // Officers see no form, and may not post one.
    let officer = app.signed_in("motcua.tinh").await;
    let (_, html) = text(app.get(&officer, "/nghiep-vu/muc-tieu").await).await;
    assert!(!html.contains("id=\"nhap-so-lieu\""));
    let csrf = crate::hidden_field(&html, "csrf").unwrap_or_default();
    let resp = officer
        .post(app.url("/nghiep-vu/muc-tieu/so-lieu"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("indicator", EPAY),
            ("period", "2025"),
            ("value", "46"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let lead = app.signed_in("lanhdao.tinh").await;
    let (status, html) = text(app.get(&lead, "/nghiep-vu/muc-tieu").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"nhap-so-lieu\""));
    assert!(html.contains(&format!("<option value=\"{EPAY}\"")));
    let csrf = crate::hidden_field(&html, "csrf").expect("csrf");
    let post = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields);
        lead.post(app.url("/nghiep-vu/muc-tieu/so-lieu"))
            .form(&form)
            .send()
    };
    // A refusal names its rule and keeps what was typed.
    let resp = post(vec![
        ("indicator", EPAY.into()),
        ("period", "2025".into()),
        ("org", "province".into()),
        ("value", "146".into()),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Quy tắc «phạm vi»"), "{html}");
    assert!(html.contains("value=\"146\""));
    // Recorded: back to the page with the version.
    let resp = post(vec![
        ("indicator", EPAY.into()),
        ("period", "2025".into()),
        ("org", "province".into()),
        ("value", "52,5".into()),
        ("note", "Ngân hàng Nhà nước".into()),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = crate::location(&resp);
    assert!(to.contains("phien_ban=1"), "{to}");
    let (_, html) = text(app.get(&lead, &to).await).await;
    assert!(html.contains("id=\"da-ghi\""), "{html}");
    assert!(html.contains("52,5%"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM reported_values WHERE indicator_key = 'reported.soc.e-payment-accounts'")
            .await,
        1
    );
}
