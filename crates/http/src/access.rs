//! Route access rules (quy tắc truy cập): the table every request is checked against before
//! its handler runs. A route missing from the table is refused (deny by default). Handlers then
//! check the resource's own scope through [`crate::context::require`]. Each module contributes its own table; the application state holds them all..

use axum::http::Method;
use tinhso_identity::Permission;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in account.
    SignedIn,
    /// Accounts holding this permission in some scope (the handler checks the exact scope).
    Perm(Permission),
}

/// One access rule: (method, route template, rule). `*` matches any method.
pub type Rule = (&'static str, &'static str, Access);

/// The rule for a matched route, if any.
pub fn access_rule(rules: &[Rule], method: &Method, route: &str) -> Option<Access> {
    let m = if *method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    rules
        .iter()
        .find(|(rm, rr, _)| (*rm == m || *rm == "*") && *rr == route)
        .map(|(_, _, a)| *a)
}

/// The methods the access table knows for a route template (empty for an unknown route):
/// a matched route called with another method is answered 405 with these as `Allow`.
pub fn allowed_methods(rules: &[Rule], route: &str) -> Vec<&'static str> {
    rules
        .iter()
        .filter(|(_, r, _)| *r == route)
        .map(|(m, _, _)| *m)
        .collect()
}
