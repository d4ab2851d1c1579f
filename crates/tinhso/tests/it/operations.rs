//! The leaders' operations centre over HTTP (`/lanh-dao/dieu-hanh`, `/api/v1/operations`):
//! who may see it, the map with one cell per commune, the drill-down from the province to the
//! records, scoped to what the caller may read, and refusals that name the rule.

use crate::{client, json, problem, spawn_app, text, TestApp};
use reqwest::{Client, StatusCode};

/// `GET path` as `c`, with the body as text.
async fn get_text(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    text(app.get(c, path).await).await
}

/// The drill-down page of `indicator` at `org` (`province`, `commune:…`, `agency:…`) for the
/// period `ky`, as `c` sees it.
async fn drill_page(
    app: &TestApp,
    c: &Client,
    indicator: &str,
    org: &str,
    ky: &str,
) -> (StatusCode, String) {
    let path = format!("/lanh-dao/dieu-hanh/chi-so?indicator={indicator}&org={org}&ky={ky}");
    get_text(app, c, &path).await
}

#[tokio::test]
async fn only_leaders_open_the_operations_centre() {
    let app = spawn_app().await;
    let (status, _) = problem(app.get(&client(), "/api/v1/operations").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for who in ["020190001234", "congchuc.dongkinh", "motcua.tinh"] {
        let c = app.signed_in(who).await;
        for path in [
            "/lanh-dao/dieu-hanh",
            "/lanh-dao/dieu-hanh/so-lieu",
            "/lanh-dao/dieu-hanh/chi-so?indicator=services.online",
            "/api/v1/operations",
            "/api/v1/operations/drill?indicator=services.online",
        ] {
            assert_eq!(
                app.get(&c, path).await.status(),
                StatusCode::FORBIDDEN,
                "{who} {path}"
            );
        }
    }
}

#[tokio::test]
async fn the_province_leader_sees_targets_counters_and_the_map() {
    let app = spawn_app().await;
    let leader = app.signed_in("lanhdao.tinh").await;
    let (_, home) = text(app.get(&leader, "/lanh-dao").await).await;
    assert!(
        home.contains("href=\"/lanh-dao/dieu-hanh\""),
        "linked from /lanh-dao"
    );
    let (_, targets) = text(app.get(&leader, "/nghiep-vu/muc-tieu").await).await;
    assert!(
        targets.contains("href=\"/lanh-dao/dieu-hanh\""),
        "linked from the targets page"
    );

    let (status, html) = text(
        app.get(&leader, "/lanh-dao/dieu-hanh?chi_so=services.on_time")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        html.matches("<path class=\"cell\"").count(),
        65,
        "one cell per commune"
    );
    assert_eq!(
        html.matches("<article class=\"ops-card").count(),
        43,
        "every target"
    );
    assert_eq!(html.matches("<svg class=\"spark\"").count(), 43);
    for id in [
        "dem-ho-so-hom-nay",
        "dem-dung-han",
        "dem-qua-han",
        "dem-xe-cua-khau",
        "dem-hang-cho",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(html.contains("<option value=\"services.on_time\" selected>"));
    assert!(
        html.contains("không phải địa giới hành chính"),
        "cells are said to be approximate"
    );
    assert!(html.contains("data-src=\"/lanh-dao/dieu-hanh/so-lieu?chi_so=services.on_time"));
    let (status, en) = text(app.get(&leader, "/lanh-dao/dieu-hanh?lang=en").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(en.contains("Operations centre") && en.contains("not legal boundaries"));
    // Every indicator can shade the map: the plans' reported ones are offered too.
    assert!(html.contains("<option value=\"reported.soc.fibre-households\">"));
    // The refreshed fragment is the live part alone, without the layout.
    let (status, part) = get_text(
        &app,
        &leader,
        "/lanh-dao/dieu-hanh/so-lieu?chi_so=services.online",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!part.contains("<html"));
    assert_eq!(part.matches("<path class=\"cell\"").count(), 65);
    // No commune has a value (the test server has no border traffic; a rank has no communes):
    // the reason, not an empty grey map.
    for (chi_so, why) in [
        (
            "border.declared_crossings",
            "Chỉ các xã, phường có cửa khẩu",
        ),
        ("reported.overall.dti-top10", "thứ hạng của cả tỉnh"),
    ] {
        let (status, part) = get_text(
            &app,
            &leader,
            &format!("/lanh-dao/dieu-hanh/so-lieu?chi_so={chi_so}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{chi_so}");
        assert_eq!(part.matches("<path class=\"cell\"").count(), 0, "{chi_so}");
        assert!(part.contains("id=\"ban-do-trong\""), "{chi_so}");
        assert!(part.contains(why), "{chi_so}");
    }

    let (status, v) = json(
        app.get(&leader, "/api/v1/operations?chi_so=services.online&ky=2026")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["targets"].as_array().unwrap().len(), 43);
    assert_eq!(v["map"]["indicator"], "services.online");
    assert_eq!(v["map"]["period"], "2026");
    assert_eq!(v["map"]["communes"].as_array().unwrap().len(), 65);
    let t = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "border.services-on-one-platform")
        .unwrap();
    assert_eq!(t["indicator_key"], "border.declared_crossings");
    assert_eq!(t["source"], "live");
    assert!(t["trend"].is_array() && t.get("overall").is_some());
    assert!(v["counters"]["received_today"].is_number());
    assert_eq!(v["map"]["source"], "live");
    assert!(v["map"].get("empty").is_none());
    // A reported indicator's map; a rank has none, and says why.
    let (status, v) = json(
        app.get(
            &leader,
            "/api/v1/operations?chi_so=reported.overall.dti-top10",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["map"]["source"], "reported");
    assert_eq!(v["map"]["kind"], "rank");
    assert!(v["map"]["empty"]["en"]
        .as_str()
        .unwrap()
        .contains("rank among the provinces"));

    // Bad input names the rule.
    for (path, rule) in [
        (
            "/api/v1/operations?chi_so=reported.no-such-thing",
            "indicator_unknown",
        ),
        ("/api/v1/operations?ky=2026-Q5", "period"),
        (
            "/api/v1/operations/drill?indicator=services.online&org=district:1",
            "org",
        ),
    ] {
        let (status, p) = problem(app.get(&leader, path).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(p["errors"][0]["code"], rule, "{path}: {p}");
    }
}

#[tokio::test]
async fn drill_down_from_the_province_to_the_records_within_scope() {
    let app = spawn_app().await;
    let leader = app.signed_in("lanhdao.tinh").await;
    // The province links down to the communes, a commune to its agencies.
    for (org, shown) in [
        (
            "province",
            ["id=\"bang-cap-duoi\"", "org=commune:05986&amp;ky=2026"],
        ),
        (
            "commune:05986",
            [
                "Ủy ban nhân dân phường Tam Thanh",
                "org=agency:000.00.23.H37",
            ],
        ),
    ] {
        let (status, html) = drill_page(&app, &leader, "services.online", org, "2026").await;
        assert_eq!(status, StatusCode::OK, "{org}");
        for s in shown {
            assert!(html.contains(s), "{org}: {s}");
        }
    }
    let (status, v) = json(
        app.get(
            &leader,
            "/api/v1/operations/drill?indicator=services.online&org=agency:000.00.23.H37&ky=2026",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let records = v["records"].as_array().unwrap();
    let o = &v["observation"];
    assert_eq!(o["denominator"].as_f64().unwrap() as usize, records.len());
    assert_eq!(
        o["numerator"].as_f64().unwrap() as usize,
        records.iter().filter(|r| r["counted"] == true).count()
    );
    for r in records {
        assert_eq!(
            r["href"],
            format!("/nghiep-vu/ho-so/{}", r["code"].as_str().unwrap())
        );
    }

    // A services indicator's note follows the page's language (the module gives both).
    let page = "/lanh-dao/dieu-hanh/chi-so?indicator=services.on_time&org=province&ky=2026";
    let (status, vi) = text(app.get(&leader, page).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(vi.contains("Hồ sơ bị yêu cầu bổ sung quá một lần được tính là trễ hạn"));
    assert!(!vi.contains("More than one supplement request"), "{vi}");
    let (status, en) = text(app.get(&leader, &format!("{page}&lang=en")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(en.contains("More than one supplement request counts as late"));
    assert!(!en.contains("Hồ sơ bị yêu cầu bổ sung quá một lần"), "{en}");
    let (status, v) = json(
        app.get(
            &leader,
            "/api/v1/operations/drill?indicator=services.on_time&org=province&ky=2026",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["observation"]["note"]
        .as_str()
        .unwrap()
        .starts_with("Hồ sơ bị yêu cầu bổ sung"));
    assert!(v["observation"]["note_en"]
        .as_str()
        .unwrap()
        .starts_with("More than one supplement request"));

    // The leader of Tam Thanh's People's Committee: their commune, not another one; on the
    // province's list only their commune carries a value.
    let local = app.signed_in("lanhdao.tamthanh").await;
    let ok = app
        .get(
            &local,
            "/lanh-dao/dieu-hanh/chi-so?indicator=services.online&org=commune:05986",
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let other = app
        .get(
            &local,
            "/lanh-dao/dieu-hanh/chi-so?indicator=services.online&org=commune:06184",
        )
        .await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let (status, v) = json(
        app.get(
            &local,
            "/api/v1/operations/drill?indicator=services.online&org=province",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let shown: Vec<&str> = v["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["observation"].is_null())
        .map(|c| c["org"].as_str().unwrap())
        .collect();
    assert!(shown.iter().all(|o| *o == "commune:05986"), "{shown:?}");
}

#[tokio::test]
async fn border_managers_drill_from_a_border_target_into_the_gates_communes() {
    let app = spawn_app().await;
    // The border manager (Ban Quản lý Khu kinh tế cửa khẩu, at every gate) holds no
    // DossierRead: border indicators' communes are opened to them through their gates.
    let bql = app.signed_in("bql.cuakhau").await;
    let drill = |q: &str| format!("/api/v1/operations/drill?indicator={q}");
    // From the province: the communes with gates carry a value, the others none.
    let (status, v) = json(
        app.get(&bql, &drill("border.declared_crossings&org=province"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let shown: Vec<&str> = v["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["observation"].is_null())
        .map(|c| c["org"].as_str().unwrap())
        .collect();
    for c in ["commune:06184", "commune:06172", "commune:06541"] {
        assert!(shown.contains(&c), "{c} in {shown:?}");
    }
    assert_eq!(shown.len(), 3, "{shown:?}");
    // Into a gate's commune: its value and the trips behind it (page and API).
    let (status, v) = json(
        app.get(&bql, &drill("border.declared_crossings&org=commune:06184"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["org"], "commune:06184");
    assert_eq!(v["observation"]["indicator"], "border.declared_crossings");
    assert!(v["records"].is_array(), "{v}");
    let page = app
        .get(
            &bql,
            "/lanh-dao/dieu-hanh/chi-so?indicator=border.checks_on_platform&org=commune:06172",
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    // Not a commune without a gate, nor a gate commune's dossiers (services indicators).
    for q in [
        "border.declared_crossings&org=commune:05986",
        "services.online&org=commune:06184",
    ] {
        let (status, p) = problem(app.get(&bql, &drill(q)).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{q}: {p}");
    }
    // A leader of one commune still cannot open a gate commune through a border indicator.
    let local = app.signed_in("lanhdao.tamthanh").await;
    let r = app
        .get(
            &local,
            &drill("border.declared_crossings&org=commune:06184"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_reported_indicator_is_mapped_by_commune_and_drilled_into() {
    let app = spawn_app().await;
    let fibre = "reported.soc.fibre-households";
    let (lead, csrf) = app.api_signed_in("lanhdao.tinh").await;
    // Before any commune reports: the reason instead of the map, on the API and the page.
    let (status, v) = json(
        app.get(
            &lead,
            &format!("/api/v1/operations/drill?indicator={fibre}&org=province&ky=2025"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["children"].as_array().unwrap().len(), 65);
    assert!(v["communes_empty"]["vi"]
        .as_str()
        .unwrap()
        .starts_with("Chưa xã, phường nào báo cáo"));
    // Phường Tam Thanh reports 62,5 % of households on fibre for 2025 (its own value).
    let sent = lead
        .post(app.url("/api/v1/indicator-values"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({
            "indicator": fibre, "period": "2025", "org": "commune:05986", "value": "62,5",
            "note": "Số liệu của phường"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    // The same session (a second sign-in would reuse the TOTP code).
    let leader = lead;
    let (status, html) = drill_page(&app, &leader, fibre, "province", "2025").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("<path class=\"cell\"").count(), 65);
    assert!(
        html.contains("<title>Phường Tam Thanh: 62,5%</title>"),
        "the cell's value"
    );
    assert!(!html.contains("id=\"ban-do-trong\""));
    // The commune's page: its value, its note, a link back to the province.
    let (status, html) = drill_page(&app, &leader, fibre, "commune:05986", "2025").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<strong id=\"gia-tri\">62,5%</strong>"),
        "{html}"
    );
    assert!(html.contains("Số liệu của phường"));
    // The map's select offers it, and the page shades by it.
    let (status, html) = get_text(
        &app,
        &leader,
        &format!("/lanh-dao/dieu-hanh?chi_so={fibre}&ky=2025"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("<option value=\"{fibre}\" selected>")));
    assert_eq!(html.matches("<path class=\"cell\"").count(), 65);
}

#[tokio::test]
async fn a_reported_value_shows_every_version_of_the_report_behind_it() {
    use crate::reports::{open, post, values, FULL, TAM_THANH};
    let app = spawn_app().await;
    let indicator = "reported.gov.work-online-all";
    open(&app, "KH226-NAM", "2031").await;
    let id = tinhso_targets::reports::task_id("KH226-NAM", "2031", TAM_THANH);
    let versions = format!("/api/v1/reports/{id}/versions");
    let review = format!("/api/v1/reports/{id}/review");
    let (officer, officer_csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let (head, head_csrf) = app.api_signed_in("lanhdao.tamthanh").await;
    let (sokhcn, sokhcn_csrf) = app.api_signed_in("lanhdao.sokhcn").await;
    let (leader, _) = app.api_signed_in("lanhdao.tinh").await;
    // Saved, submitted (75 %), returned with a comment, submitted again (80 %), approved.
    let corrected = [
        ("ho_so_cong_viec_tren_mang", "160"),
        ("ty_le_ho_so_cong_viec_tren_mang", "80"),
    ];
    let mut second = FULL.to_vec();
    second.retain(|(k, _)| !corrected.iter().any(|(c, _)| c == k));
    second.extend(corrected);
    let steps = [
        (
            &officer,
            &officer_csrf,
            &versions,
            serde_json::json!({"action": "save", "values": values(FULL)}),
        ),
        (
            &head,
            &head_csrf,
            &versions,
            serde_json::json!({"action": "submit", "values": values(FULL)}),
        ),
        (
            &sokhcn,
            &sokhcn_csrf,
            &review,
            serde_json::json!({"action": "return", "comment": "Đề nghị rà soát lại tỷ lệ"}),
        ),
        (
            &head,
            &head_csrf,
            &versions,
            serde_json::json!({"action": "submit", "values": values(&second)}),
        ),
        (
            &sokhcn,
            &sokhcn_csrf,
            &review,
            serde_json::json!({"action": "approve", "comment": "Đồng ý"}),
        ),
    ];
    for (c, csrf, path, body) in steps {
        let r = post(&app, c, csrf, path, body).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }

    // The API: every version, newest first, with the element's value in each.
    let drill =
        format!("/api/v1/operations/drill?indicator={indicator}&org=agency:{TAM_THANH}&ky=2031");
    let (status, v) = json(app.get(&leader, &drill).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["observation"]["value"], 80.0, "{v}");
    let rows = v["reports"].as_array().unwrap();
    let got: Vec<(&str, i64, Option<f64>, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["version"].as_i64().unwrap(),
                r["value"].as_f64(),
                r["comment"].as_str().unwrap(),
            )
        })
        .collect();
    let (v75, v80) = (Some(75.0), Some(80.0));
    assert_eq!(
        got,
        [
            ("approve", 5, v80, "Đồng ý"),
            ("submit", 4, v80, ""),
            ("return", 3, v75, "Đề nghị rà soát lại tỷ lệ"),
            ("submit", 2, v75, ""),
            ("save", 1, v75, ""),
        ]
    );
    assert_eq!(rows[0]["actor_name"], "Hoàng Minh Đức");
    assert_eq!(rows[1]["actor_name"], "Hoàng Văn Thắng");
    assert_eq!(rows[4]["actor_name"], "Lý Thị Hồng");
    assert!(rows
        .iter()
        .all(|r| r["href"] == format!("/nghiep-vu/bao-cao/{id}")));

    // The page: the same five rows, newest first, each linking to the report.
    let page =
        format!("/lanh-dao/dieu-hanh/chi-so?indicator={indicator}&org=agency:{TAM_THANH}&ky=2031");
    let (status, html) = text(app.get(&leader, &page).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"bang-bao-cao\""), "{html}");
    let table = &html[html.find("id=\"bang-bao-cao\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr class=\"report-version\">").count(), 5);
    assert_eq!(
        table
            .matches(&format!("<a href=\"/nghiep-vu/bao-cao/{id}\">"))
            .count(),
        5
    );
    let at = |s: &str| {
        html.find(s)
            .unwrap_or_else(|| panic!("{s} not on the page"))
    };
    // Newest first: the approval (by Sở KH&CN's leader), then the second submission.
    assert!(at("<td>Duyệt</td>") < at("<td>Trả lại</td>"));
    assert!(at("<td>Trả lại</td>") < at("<td>Lưu nháp</td>"));
    assert!(
        html.contains("<td>Hoàng Minh Đức</td><td>80%</td><td>Đồng ý</td>"),
        "{html}"
    );
    assert!(html.contains("<td>75%</td><td>Đề nghị rà soát lại tỷ lệ</td>"));
    // Another period: no report recorded it, said so.
    let (_, html) = drill_page(
        &app,
        &leader,
        indicator,
        &format!("agency:{TAM_THANH}"),
        "2030",
    )
    .await;
    assert!(html.contains("id=\"bao-cao-trong\""));
    // A live indicator has no such section.
    let (_, html) = drill_page(
        &app,
        &leader,
        "services.online",
        &format!("agency:{TAM_THANH}"),
        "2031",
    )
    .await;
    assert!(!html.contains("id=\"bang-bao-cao\""));
}

/// Disaggregations (phân tổ) over HTTP: `?by=` on the observations API, the 422 naming the
/// supported ones, the drill-down's table per disaggregation, the parameter in the OpenAPI
/// document. (The values by category against hand-computed ones: the targets crate's
/// `border::border_shares_by_gate_and_quarantine_match_hand_computed_values`.)
#[tokio::test]
async fn a_border_indicator_is_broken_down_by_gate_and_quarantine_class() {
    let app = spawn_app().await;
    let staff = app.signed_in("motcua.tinh").await;
    let obs = "/api/v1/observations?indicator=border.declared_crossings&period=2026-01";
    let (status, v) = json(app.get(&staff, &format!("{obs}&by=gate")).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["by"].as_str(), v["org"].as_str()),
        (Some("gate"), Some("province"))
    );
    let cats = v["categories"].as_array().unwrap();
    let gates: Vec<&str> = cats
        .iter()
        .map(|c| c["category"].as_str().unwrap())
        .collect();
    assert_eq!(gates, ["HN", "TT", "CM", "CN", "DD"]);
    let sum: f64 = cats.iter().map(|c| c["numerator"].as_f64().unwrap()).sum();
    assert_eq!(Some(sum), v["total"]["numerator"].as_f64());
    assert!(
        cats[0]["label_vi"].as_str().unwrap().contains("Hữu Nghị"),
        "{v}"
    );
    // Unsupported: the declared share by quarantine class, a distinct count by gate.
    let (status, p) = problem(app.get(&staff, &format!("{obs}&by=quarantine")).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(
        (
            p["errors"][0]["field"].as_str(),
            p["errors"][0]["code"].as_str()
        ),
        (Some("by"), Some("disaggregation"))
    );
    let text = p.to_string();
    assert!(
        text.contains("chỉ phân tổ theo gate") && text.contains("only by gate"),
        "{p}"
    );
    let (status, p) = problem(
        app.get(
            &staff,
            "/api/v1/observations?indicator=border.agencies_active&period=2026-01&by=gate",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p.to_string().contains("has no disaggregation"), "{p}");
    // The drill-down: a table per disaggregation (API and page).
    let leader = app.signed_in("lanhdao.tinh").await;
    let (status, v) = json(
        app.get(
            &leader,
            "/api/v1/operations/drill?indicator=border.checks_on_platform&ky=2026-01",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let by: Vec<&str> = v["disaggregations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["by"].as_str().unwrap())
        .collect();
    assert_eq!(by, ["gate", "quarantine"]);
    let (status, html) = drill_page(
        &app,
        &leader,
        "border.declared_crossings",
        "province",
        "2026-01",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"bang-phan-to-gate\""), "the gate table");
    assert_eq!(html.matches("class=\"breakdown-row\"").count(), 5);
    assert!(!html.contains("bang-phan-to-quarantine"));
    // The title is the indicator and the unit, not a section.
    let title = html
        .split("<title>")
        .nth(1)
        .unwrap()
        .split("</title>")
        .next()
        .unwrap();
    assert!(!title.contains("<section"), "{title}");
    // A services indicator by agency level (commune / province): two rows.
    let (_, html) = drill_page(&app, &leader, "services.online", "province", "2026-01").await;
    assert!(
        html.contains("id=\"bang-phan-to-level\""),
        "the level table"
    );
    assert_eq!(html.matches("class=\"breakdown-row\"").count(), 2);
    // Documented.
    let (_, doc) = json(app.get(&client(), "/api/openapi.json").await).await;
    let params = doc["paths"]["/api/v1/observations"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(params.iter().any(|p| p["name"] == "by"), "{params:?}");
}
