//! Route access rules (quy tắc truy cập): the table every request is checked against before
//! its handler runs. A route missing from the table is refused (deny by default). Handlers then
//! check the resource's own scope through [`crate::context::require`]. Each module contributes its own table; the application state holds them all..

use axum::http::Method;
use std::collections::HashMap;
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

/// The access table (bảng quy tắc truy cập) indexed by route template: a request costs one
/// hash look-up instead of scans of every module's rules. Within a route, the rules keep the
/// order of the tables, and the first whose method matches wins.
#[derive(Debug, Default)]
pub struct AccessTable {
    by_route: HashMap<&'static str, Vec<(&'static str, Access)>>,
}

impl AccessTable {
    /// Index `rules` (method, route template, rule) by route template.
    pub fn new(rules: &[Rule]) -> Self {
        let mut by_route: HashMap<&'static str, Vec<(&'static str, Access)>> = HashMap::new();
        for (method, route, access) in rules {
            by_route.entry(route).or_default().push((method, *access));
        }
        Self { by_route }
    }

    /// The rule for a matched route, if any (`HEAD` follows `GET`).
    pub fn rule(&self, method: &Method, route: &str) -> Option<Access> {
        let m = if *method == Method::HEAD {
            "GET"
        } else {
            method.as_str()
        };
        self.by_route
            .get(route)?
            .iter()
            .find(|(rm, _)| *rm == m || *rm == "*")
            .map(|(_, a)| *a)
    }

    /// The methods the table knows for a route template (empty for an unknown route): a
    /// matched route called with another method is answered 405 with these as `Allow`.
    pub fn allowed_methods(&self, route: &str) -> Vec<&'static str> {
        self.by_route
            .get(route)
            .map(|rules| rules.iter().map(|(m, _)| *m).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins_and_head_follows_get() {
        let t = AccessTable::new(&[
            ("GET", "/a", Access::Public),
            ("*", "/a", Access::SignedIn),
            ("POST", "/b", Access::SignedIn),
        ]);
        assert_eq!(t.rule(&Method::GET, "/a"), Some(Access::Public));
        assert_eq!(t.rule(&Method::HEAD, "/a"), Some(Access::Public));
        assert_eq!(t.rule(&Method::DELETE, "/a"), Some(Access::SignedIn));
        assert_eq!(t.rule(&Method::GET, "/b"), None);
        assert_eq!(t.rule(&Method::GET, "/c"), None);
        assert_eq!(t.allowed_methods("/a"), vec!["GET", "*"]);
        assert_eq!(t.allowed_methods("/b"), vec!["POST"]);
        assert!(t.allowed_methods("/c").is_empty());
    }
}
