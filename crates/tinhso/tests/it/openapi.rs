//! The OpenAPI document covers the whole JSON API.

use crate::{client, json, spawn_app};
use reqwest::StatusCode;

/// A route template of the access table as an OpenAPI path. Both axum 0.8 and OpenAPI write
/// parameters as `{name}`; the conversion is kept explicit so a change of router syntax shows.
fn openapi_path(route: &str) -> String {
    route
        .split('/')
        .map(|seg| match seg.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn openapi_31_lists_every_api_route() {
    let app = spawn_app().await;
    let resp = app.get(&client(), "/api/openapi.json").await;
    assert!(crate::content_type(resp.headers()).starts_with("application/json"));
    let (status, doc) = json(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Tỉnh số API");
    let paths = doc["paths"].as_object().expect("paths");

    let rules = tinhso_web::all_rules();
    let api_rules: Vec<_> = rules
        .iter()
        .filter(|(_, route, _)| route.starts_with("/api/v1/"))
        .collect();
    assert!(api_rules.len() > 20, "the access table lost its API rules");
    let mut missing = Vec::new();
    for (method, route, _) in &api_rules {
        let path = openapi_path(route);
        let documented = paths
            .get(&path)
            .and_then(|ops| ops.get(method.to_lowercase()))
            .is_some();
        if !documented {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not in the OpenAPI document: {missing:?}"
    );

    // And the other way round: nothing documented that the access table does not know.
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let known = api_rules
                .iter()
                .any(|(m, r, _)| openapi_path(r) == *path && m.eq_ignore_ascii_case(method));
            assert!(
                known,
                "documented but without an access rule: {method} {path}"
            );
        }
    }

    // Problems are a documented schema, referenced by error responses.
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let patch = &paths["/api/v1/agencies/{code}"]["patch"];
    assert_eq!(
        patch["responses"]["403"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}
