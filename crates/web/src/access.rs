//! The platform kernel's route access rules (see [`tinhso_http::access`]).

use tinhso_http::access::{Access, Rule};
use tinhso_identity::Permission;

/// (method, route template, rule). `*` matches any method.
pub const RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        // operations
        ("GET", "/healthz", Public),
        ("GET", "/readyz", Public),
        ("GET", "/metrics", Public),
        ("GET", "/api/openapi.json", Public),
        ("GET", "/static/{file}", Public),
        // public portal
        ("GET", "/", Public),
        ("GET", "/dang-nhap", Public),
        ("POST", "/dang-nhap", Public),
        ("POST", "/dang-xuat", SignedIn),
        ("GET", "/ngon-ngu/{lang}", Public),
        ("GET", "/don-vi-hanh-chinh", Public),
        ("GET", "/chuyen-doi-dia-chi", Public),
        ("GET", "/co-quan", Public),
        ("GET", "/loi", Public),
        // signed-in pages
        ("GET", "/tai-khoan", SignedIn),
        ("POST", "/tai-khoan/ma-truy-cap", SignedIn),
        ("GET", "/nghiep-vu", Perm(BackOffice)),
        ("GET", "/lanh-dao", Perm(LeaderDashboard)),
        ("GET", "/quan-tri/nguoi-dung", Perm(UserRead)),
        ("GET", "/quan-tri/nhat-ky", Perm(AuditRead)),
        ("GET", "/quan-tri/lich-lam-viec", Public),
        ("POST", "/quan-tri/lich-lam-viec", Perm(CalendarManage)),
        // JSON API
        ("GET", "/api/v1/errors", Public),
        ("POST", "/api/v1/auth/login", Public),
        ("POST", "/api/v1/auth/logout", SignedIn),
        ("GET", "/api/v1/me", SignedIn),
        ("GET", "/api/v1/me/tokens", SignedIn),
        ("POST", "/api/v1/me/tokens", SignedIn),
        ("DELETE", "/api/v1/me/tokens/{id}", SignedIn),
        ("GET", "/api/v1/validate/{kind}", Public),
        ("GET", "/api/v1/provinces", Public),
        ("GET", "/api/v1/admin-units", Public),
        ("GET", "/api/v1/admin-units/{code}", Public),
        ("GET", "/api/v1/legacy-units", Public),
        ("GET", "/api/v1/address/convert", Public),
        ("POST", "/api/v1/address/convert", Public),
        ("GET", "/api/v1/agencies", Public),
        ("GET", "/api/v1/agencies/{code}", Public),
        ("PATCH", "/api/v1/agencies/{code}", Perm(AgencyUpdate)),
        ("GET", "/api/v1/agencies/{code}/staff", Perm(AgencyRead)),
        ("GET", "/api/v1/users", Perm(UserRead)),
        ("POST", "/api/v1/users", Perm(UserManage)),
        ("GET", "/api/v1/users/{id}", Perm(UserRead)),
        ("POST", "/api/v1/users/{id}/disable", Perm(UserManage)),
        ("POST", "/api/v1/users/{id}/enable", Perm(UserManage)),
        ("GET", "/api/v1/audit", Perm(AuditRead)),
        ("POST", "/api/v1/audit/verify", Perm(AuditVerify)),
        ("GET", "/api/v1/calendar/holidays", Public),
        ("GET", "/api/v1/calendar/deadline", Public),
        ("GET", "/api/v1/calendar/overrides", Public),
        (
            "PUT",
            "/api/v1/calendar/overrides/{date}",
            Perm(CalendarManage),
        ),
        (
            "DELETE",
            "/api/v1/calendar/overrides/{date}",
            Perm(CalendarManage),
        ),
    ]
};
