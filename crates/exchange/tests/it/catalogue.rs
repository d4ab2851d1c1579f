//! The service catalogue for staff of member agencies (danh mục dịch vụ cho thành viên):
//! staff whose agency is a hub member, and whose `back_office` covers that agency (an agency
//! scope, or the commune of a commune People's Committee), open `/nghiep-vu/lien-thong` and
//! each active service's page (provider, classification, operations, the OpenAPI document),
//! with none of the administrators' actions; staff of other agencies and citizens are refused.

use crate::support::{self, page_with, principal, register, register_service};
use std::sync::Arc;
use tinhso_exchange::{registry, Hub};
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};

const MEMBER_AGENCY: &str = "000.00.23.H37";
const PROVIDER: &str = "000.00.19.H37";

/// A one-stop officer of `agency`, over that agency.
fn officer_of(agency: &str) -> Principal {
    staff(agency, Role::OneStopOfficer, Scope::Agency(agency.into()))
}

/// A staff account of `agency` holding `role` over `scope`.
fn staff(agency: &str, role: Role, scope: Scope) -> Principal {
    Principal {
        user_id: "u2".into(),
        username: "canbo".into(),
        display_name: "Cán bộ".into(),
        kind: "staff".into(),
        agency_code: Some(agency.into()),
        roles: vec![RoleAssignment { role, scope }],
        method: AuthMethod::Session,
    }
}

/// The hub's routes, every request made by `p`, over a registry with a member agency (through
/// its one-stop system), a provider with an active and a suspended service: the base URL.
async fn server_as(p: Principal) -> (tinhso_store::test_support::TestDb, String) {
    let t = tinhso_store::test_support::fresh(&[
        tinhso_store::migrate::STORE_MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_exchange::MIGRATIONS,
    ])
    .await;
    tinhso_refdata::agencies::seed(&t.db, &support::ctx())
        .await
        .unwrap();
    register(
        &t.db,
        &format!("{MEMBER_AGENCY}-MOTCUA"),
        "Một cửa phường Tam Thanh",
        1,
    )
    .await;
    register(&t.db, PROVIDER, "Sở Tư pháp", 2).await;
    let doc = serde_json::json!({ "openapi": "3.1.0", "info": {}, "paths": {
        "/records/{id}": { "get": { "summary": "Trích lục khai sinh" } } } });
    for (code, name) in [("ho-tich", "Tra cứu hộ tịch"), ("cu", "Dịch vụ đã dừng")] {
        register_service(
            &t.db,
            PROVIDER,
            code,
            name,
            "http://10.0.0.9:8080/noi-bo".into(),
            doc.clone(),
            "internal",
        )
        .await;
    }
    registry::set_service_active(&t.db, &support::ctx(), PROVIDER, "cu", false)
        .await
        .unwrap();
    let hub = Arc::new(Hub::new(t.db.clone(), Default::default()));
    let state = tinhso_http::AppState::new(t.db.clone(), tinhso_http::WebConfig::default());
    let app = support::signed_in(tinhso_exchange::web::routes(hub), p).with_state(state);
    (t, format!("http://{}", support::serve(app).await))
}

async fn get(http: &reqwest::Client, url: String) -> (u16, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn staff_of_member_agencies_browse_the_catalogue_without_admin_actions() {
    let (t, base) = server_as(officer_of(MEMBER_AGENCY)).await;
    let http = reqwest::Client::new();
    let html = page_with(
        &http,
        format!("{base}/nghiep-vu/lien-thong"),
        &[
            "href=\"/nghiep-vu/lien-thong/000.00.19.H37/ho-tich\"",
            "Tra cứu hộ tịch",
            "Sở Tư pháp",
            "nội bộ",
        ],
    )
    .await;
    assert!(
        !html.contains("Dịch vụ đã dừng"),
        "a suspended service is not listed"
    );
    let page = page_with(
        &http,
        format!("{base}/nghiep-vu/lien-thong/{PROVIDER}/ho-tich"),
        &[
            "Tra cứu hộ tịch",
            "/lgsp/v1/000.00.19.H37/ho-tich/…",
            "<code>GET</code>",
            "Trích lục khai sinh",
            "3.1.0",
            "href=\"/nghiep-vu/lien-thong\"",
        ],
    )
    .await;
    assert!(
        !page.contains("10.0.0.9"),
        "the provider's endpoint is the administrators'"
    );
    for html in [html, page] {
        assert!(
            !html.contains("/quan-tri/truc-lien-thong"),
            "no administrators' action or link"
        );
    }
    let (status, _) = get(&http, format!("{base}/nghiep-vu/lien-thong/{PROVIDER}/cu")).await;
    assert_eq!(status, 404, "a suspended service has no page for members");

    // The administration stays closed to them.
    for path in [
        "/quan-tri/truc-lien-thong",
        "/quan-tri/truc-lien-thong/dich-vu/000.00.19.H37/ho-tich",
        "/api/v1/exchange/services",
    ] {
        assert_eq!(get(&http, format!("{base}{path}")).await.0, 403, "{path}");
    }
    let r = http
        .post(format!(
            "{base}/api/v1/exchange/services/{PROVIDER}/ho-tich/status"
        ))
        .json(&serde_json::json!({ "active": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        registry::get_service(&t.db, PROVIDER, "ho-tich")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    let p = officer_of(MEMBER_AGENCY);
    assert!(tinhso_exchange::web::may_browse_catalogue(&t.db, Some(&p))
        .await
        .unwrap());
}

#[tokio::test]
async fn others_are_refused_the_catalogue() {
    let http = reqwest::Client::new();
    for p in [officer_of("000.00.99.H37"), principal(Role::Citizen)] {
        let (t, base) = server_as(p.clone()).await;
        for path in [
            "/nghiep-vu/lien-thong",
            "/nghiep-vu/lien-thong/000.00.19.H37/ho-tich",
        ] {
            assert_eq!(get(&http, format!("{base}{path}")).await.0, 403, "{path}");
        }
        assert!(!tinhso_exchange::web::may_browse_catalogue(&t.db, Some(&p))
            .await
            .unwrap());
        let denied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'authz.denied'")
                .fetch_one(t.db.pool())
                .await
                .unwrap();
        assert_eq!(denied, 2, "each refusal is audited");
    }
    // A suspended member's agency no longer opens it.
    let (t, base) = server_as(officer_of(MEMBER_AGENCY)).await;
    registry::set_member_active(
        &t.db,
        &support::ctx(),
        &format!("{MEMBER_AGENCY}-MOTCUA"),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        get(&http, format!("{base}/nghiep-vu/lien-thong")).await.0,
        403
    );
    // Province-wide staff (the hub's administrators) do.
    let (_t, base) = server_as(principal(Role::ExchangeAdmin)).await;
    assert_eq!(
        get(&http, format!("{base}/nghiep-vu/lien-thong")).await.0,
        200
    );
}

/// A commune People's Committee's officers hold their commune, not their agency: the
/// catalogue places the member agency as the platform does (its commune included).
#[tokio::test]
async fn commune_officers_of_a_member_commune_browse_it() {
    let http = reqwest::Client::new();
    let tam_thanh = staff(
        MEMBER_AGENCY,
        Role::CommuneOfficer,
        Scope::Commune("05986".into()),
    );
    let (_t, base) = server_as(tam_thanh).await;
    assert_eq!(
        get(&http, format!("{base}/nghiep-vu/lien-thong")).await.0,
        200
    );
    // The same role over another commune does not reach it.
    let elsewhere = staff(
        MEMBER_AGENCY,
        Role::CommuneOfficer,
        Scope::Commune("05977".into()),
    );
    let (_t, base) = server_as(elsewhere).await;
    assert_eq!(
        get(&http, format!("{base}/nghiep-vu/lien-thong")).await.0,
        403
    );
}
