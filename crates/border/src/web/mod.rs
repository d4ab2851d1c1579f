//! The border gate's pages and JSON API (being written, issue #4).

use tinhso_http::access::Rule;

/// (method, route template, rule) of every route of the module.
pub const RULES: &[Rule] = &[];
