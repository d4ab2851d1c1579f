//! Authorization (phân quyền): roles grant permissions within a scope; [`authorize`] is the
//! single check every route and service call goes through. Anything not granted is denied.

use serde::{Deserialize, Serialize};
use tinhso_kernel::{AppError, ErrorCode};

/// What an action needs. The string form is stable (used in API token scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read and update one's own account.
    SelfService,
    /// Open the staff back office (trang nghiệp vụ).
    BackOffice,
    /// The leaders' pages (trang lãnh đạo).
    LeaderDashboard,
    /// Read agencies and their staff.
    AgencyRead,
    /// Update an agency's public contact details.
    AgencyUpdate,
    /// Create, move or delete agencies.
    AgencyManage,
    /// Read user accounts.
    UserRead,
    /// Create, disable, reset accounts and assign roles.
    UserManage,
    /// Read administrative units (public anyway; kept for API tokens).
    AdminUnitRead,
    /// Edit the working-day calendar overrides.
    CalendarManage,
    /// Browse the audit trail.
    AuditRead,
    /// Run audit-chain verification.
    AuditVerify,
    /// Read dossiers of the agencies in scope (hồ sơ).
    DossierRead,
    /// Receive and process dossiers: accept, refuse, request supplements, forward, return.
    DossierProcess,
    /// Approve a dossier's result (lãnh đạo phê duyệt).
    DossierApprove,
    /// Edit the procedure catalogue.
    ProcedureManage,
    /// Declare trips through the border gates, correct them, book crossing slots (khai báo
    /// phương tiện, hàng hoá qua cửa khẩu): enterprises and drivers, on their own trips.
    BorderDeclare,
    /// Work at a gate: see its queue, verify passes, record an agency's check, review camera
    /// reads, override a trip's stage with a reason (cán bộ tại cửa khẩu).
    BorderInspect,
    /// Manage a gate: capacity, opening hours, yards, fees reconciliation (Ban Quản lý Khu kinh
    /// tế cửa khẩu).
    BorderManage,
    /// Administer the data exchange hub (quản trị trục liên thông, LGSP): members and their
    /// keys, services, access and topic rights, rates, subscriptions, dead letters, the log.
    ExchangeManage,
}

impl Permission {
    pub const ALL: &'static [Permission] = &[
        Permission::SelfService,
        Permission::BackOffice,
        Permission::LeaderDashboard,
        Permission::AgencyRead,
        Permission::AgencyUpdate,
        Permission::AgencyManage,
        Permission::UserRead,
        Permission::UserManage,
        Permission::AdminUnitRead,
        Permission::CalendarManage,
        Permission::AuditRead,
        Permission::AuditVerify,
        Permission::DossierRead,
        Permission::DossierProcess,
        Permission::DossierApprove,
        Permission::ProcedureManage,
        Permission::BorderDeclare,
        Permission::BorderInspect,
        Permission::BorderManage,
        Permission::ExchangeManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SelfService => "self_service",
            Permission::BackOffice => "back_office",
            Permission::LeaderDashboard => "leader_dashboard",
            Permission::AgencyRead => "agency_read",
            Permission::AgencyUpdate => "agency_update",
            Permission::AgencyManage => "agency_manage",
            Permission::UserRead => "user_read",
            Permission::UserManage => "user_manage",
            Permission::AdminUnitRead => "admin_unit_read",
            Permission::CalendarManage => "calendar_manage",
            Permission::AuditRead => "audit_read",
            Permission::AuditVerify => "audit_verify",
            Permission::DossierRead => "dossier_read",
            Permission::DossierProcess => "dossier_process",
            Permission::DossierApprove => "dossier_approve",
            Permission::ProcedureManage => "procedure_manage",
            Permission::BorderDeclare => "border_declare",
            Permission::BorderInspect => "border_inspect",
            Permission::BorderManage => "border_manage",
            Permission::ExchangeManage => "exchange_manage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == s)
    }
}

/// A role (vai trò). Each grants a fixed set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Công dân.
    Citizen,
    /// Doanh nghiệp / hộ kinh doanh.
    Enterprise,
    /// Cán bộ bộ phận một cửa.
    OneStopOfficer,
    /// Công chức cấp xã.
    CommuneOfficer,
    /// Chuyên viên thẩm định.
    Specialist,
    /// Lãnh đạo sở, ban, ngành hoặc UBND xã.
    DepartmentLeader,
    /// Lãnh đạo UBND tỉnh.
    ProvinceLeader,
    /// Quản trị hệ thống.
    Admin,
    /// Kiểm toán viên (read-only audit).
    Auditor,
    /// Cán bộ tại cửa khẩu: customs, border guard, quarantine officers (their agency is their
    /// scope, so they see the gates where it is present).
    BorderOfficer,
    /// Cán bộ quản lý cửa khẩu (Ban Quản lý Khu kinh tế cửa khẩu): gate settings and fees.
    BorderManager,
    /// Cán bộ quản trị trục liên thông (LGSP): the hub's administrator, without the rest of
    /// the platform's administration.
    ExchangeAdmin,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::Citizen,
        Role::Enterprise,
        Role::OneStopOfficer,
        Role::CommuneOfficer,
        Role::Specialist,
        Role::DepartmentLeader,
        Role::ProvinceLeader,
        Role::Admin,
        Role::Auditor,
        Role::BorderOfficer,
        Role::BorderManager,
        Role::ExchangeAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Enterprise => "enterprise",
            Role::OneStopOfficer => "one_stop_officer",
            Role::CommuneOfficer => "commune_officer",
            Role::Specialist => "specialist",
            Role::DepartmentLeader => "department_leader",
            Role::ProvinceLeader => "province_leader",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::BorderOfficer => "border_officer",
            Role::BorderManager => "border_manager",
            Role::ExchangeAdmin => "exchange_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// Vietnamese name, for pages.
    pub fn name_vi(self) -> &'static str {
        match self {
            Role::Citizen => "Công dân",
            Role::Enterprise => "Doanh nghiệp, hộ kinh doanh",
            Role::OneStopOfficer => "Cán bộ một cửa",
            Role::CommuneOfficer => "Công chức cấp xã",
            Role::Specialist => "Chuyên viên",
            Role::DepartmentLeader => "Lãnh đạo cơ quan",
            Role::ProvinceLeader => "Lãnh đạo tỉnh",
            Role::Admin => "Quản trị hệ thống",
            Role::Auditor => "Kiểm toán viên",
            Role::BorderOfficer => "Cán bộ tại cửa khẩu",
            Role::BorderManager => "Cán bộ quản lý cửa khẩu",
            Role::ExchangeAdmin => "Quản trị trục liên thông",
        }
    }

    /// Staff roles with approval or administration power must sign in with TOTP.
    pub fn requires_totp(self) -> bool {
        matches!(
            self,
            Role::DepartmentLeader
                | Role::ProvinceLeader
                | Role::Admin
                | Role::BorderManager
                | Role::ExchangeAdmin
        )
    }

    /// True for roles held by staff (cán bộ) rather than the public.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Citizen | Role::Enterprise)
    }

    /// The permissions this role grants (within its scope).
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Citizen | Role::Enterprise => &[SelfService, AdminUnitRead, BorderDeclare],
            Role::OneStopOfficer | Role::Specialist => &[
                SelfService,
                BackOffice,
                AgencyRead,
                UserRead,
                AdminUnitRead,
                DossierRead,
                DossierProcess,
            ],
            Role::CommuneOfficer => &[
                SelfService,
                BackOffice,
                AgencyRead,
                AgencyUpdate,
                UserRead,
                AdminUnitRead,
                DossierRead,
                DossierProcess,
            ],
            Role::DepartmentLeader => &[
                SelfService,
                BackOffice,
                LeaderDashboard,
                AgencyRead,
                AgencyUpdate,
                UserRead,
                AdminUnitRead,
                AuditRead,
                DossierRead,
                DossierProcess,
                DossierApprove,
            ],
            Role::ProvinceLeader => &[
                SelfService,
                BackOffice,
                LeaderDashboard,
                AgencyRead,
                UserRead,
                AdminUnitRead,
                AuditRead,
                DossierRead,
            ],
            Role::Admin => Permission::ALL,
            Role::Auditor => &[
                SelfService,
                AuditRead,
                AuditVerify,
                AdminUnitRead,
                DossierRead,
            ],
            Role::BorderOfficer => &[
                SelfService,
                BackOffice,
                AgencyRead,
                AdminUnitRead,
                BorderInspect,
            ],
            Role::BorderManager => &[
                SelfService,
                BackOffice,
                LeaderDashboard,
                AgencyRead,
                AdminUnitRead,
                AuditRead,
                BorderInspect,
                BorderManage,
            ],
            Role::ExchangeAdmin => &[SelfService, BackOffice, AdminUnitRead, ExchangeManage],
        }
    }
}

/// Where a role assignment applies (phạm vi).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "code", rename_all = "snake_case")]
pub enum Scope {
    /// The whole province.
    Province,
    /// An agency and every agency below it (by agency code).
    Agency(String),
    /// One commune-level unit (by administrative-unit code).
    Commune(String),
    /// Only the holder's own records.
    Own,
}

impl Scope {
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Province => "province",
            Scope::Agency(_) => "agency",
            Scope::Commune(_) => "commune",
            Scope::Own => "own",
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Scope::Agency(c) | Scope::Commune(c) => c,
            Scope::Province | Scope::Own => "",
        }
    }

    pub fn from_parts(kind: &str, code: &str) -> Option<Self> {
        match kind {
            "province" => Some(Scope::Province),
            "agency" if !code.is_empty() => Some(Scope::Agency(code.to_string())),
            "commune" if !code.is_empty() => Some(Scope::Commune(code.to_string())),
            "own" => Some(Scope::Own),
            _ => None,
        }
    }
}

/// A role held within a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    pub role: Role,
    pub scope: Scope,
}

/// Where a resource sits, as the module that owns it describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResourceScope {
    /// The owning agency and its ancestors (any order).
    pub agencies: Vec<String>,
    /// The commune-level unit the resource belongs to, if any.
    pub commune: Option<String>,
    /// The account that owns the resource, if any.
    pub owner_user_id: Option<String>,
}

impl ResourceScope {
    /// A resource with no organisational home: only province-wide roles reach it.
    pub fn province() -> Self {
        Self::default()
    }

    pub fn owned_by(user_id: &str) -> Self {
        Self {
            owner_user_id: Some(user_id.to_string()),
            ..Self::default()
        }
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AuthMethod {
    Session,
    /// An API token restricted to these permissions.
    Token {
        token_id: String,
        scopes: Vec<Permission>,
    },
    /// The command line, run by the operator.
    Cli,
}

/// The authenticated caller (chủ thể).
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub kind: String,
    pub agency_code: Option<String>,
    pub roles: Vec<RoleAssignment>,
    pub method: AuthMethod,
}

impl Principal {
    /// Audit actor string.
    pub fn actor(&self) -> String {
        match &self.method {
            AuthMethod::Token { token_id, .. } => format!("user:{}/token:{token_id}", self.user_id),
            AuthMethod::Session => format!("user:{}", self.user_id),
            AuthMethod::Cli => format!("cli:{}", self.username),
        }
    }

    pub fn is_staff(&self) -> bool {
        self.roles.iter().any(|a| a.role.is_staff())
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|a| a.role == role)
    }

    /// Whether the principal holds `perm` anywhere (used to show or hide links).
    pub fn can_somewhere(&self, perm: Permission) -> bool {
        self.token_allows(perm)
            && self
                .roles
                .iter()
                .any(|a| a.role.permissions().contains(&perm))
    }

    fn token_allows(&self, perm: Permission) -> bool {
        match &self.method {
            AuthMethod::Token { scopes, .. } => scopes.contains(&perm),
            _ => true,
        }
    }
}

fn scope_covers(scope: &Scope, principal: &Principal, res: &ResourceScope) -> bool {
    match scope {
        Scope::Province => true,
        Scope::Agency(code) => res.agencies.iter().any(|a| a == code),
        Scope::Commune(code) => res.commune.as_deref() == Some(code.as_str()),
        Scope::Own => res.owner_user_id.as_deref() == Some(principal.user_id.as_str()),
    }
}

/// Decide whether `principal` may do `perm` on a resource in `res`. Deny by default: no
/// principal, a token without the permission, or no role granting it in a covering scope all
/// give `Forbidden` (or `Unauthenticated` when nobody is signed in).
pub fn authorize(
    principal: Option<&Principal>,
    perm: Permission,
    res: &ResourceScope,
) -> Result<(), AppError> {
    let Some(p) = principal else {
        return Err(AppError::new(ErrorCode::Unauthenticated));
    };
    if !p.token_allows(perm) {
        return Err(AppError::forbidden().with_detail(
            format!("Mã truy cập không có quyền {}", perm.as_str()),
            format!("The API token lacks the scope {}", perm.as_str()),
        ));
    }
    // Self-service is one's own account and nothing else, whatever the roles.
    if perm == Permission::SelfService {
        return if res.owner_user_id.as_deref() == Some(p.user_id.as_str()) {
            Ok(())
        } else {
            Err(AppError::forbidden())
        };
    }
    let granted = p
        .roles
        .iter()
        .any(|a| a.role.permissions().contains(&perm) && scope_covers(&a.scope, p, res));
    if granted {
        Ok(())
    } else {
        Err(AppError::forbidden())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: Vec<(Role, Scope)>) -> Principal {
        Principal {
            user_id: "u1".into(),
            username: "u1".into(),
            display_name: "U".into(),
            kind: "staff".into(),
            agency_code: None,
            roles: roles
                .into_iter()
                .map(|(role, scope)| RoleAssignment { role, scope })
                .collect(),
            method: AuthMethod::Session,
        }
    }

    #[test]
    fn deny_by_default() {
        assert_eq!(
            authorize(None, Permission::AgencyRead, &ResourceScope::province())
                .unwrap_err()
                .code,
            ErrorCode::Unauthenticated
        );
        let citizen = principal(vec![(Role::Citizen, Scope::Own)]);
        for perm in Permission::ALL {
            if *perm == Permission::SelfService || *perm == Permission::AdminUnitRead {
                continue;
            }
            assert!(authorize(Some(&citizen), *perm, &ResourceScope::province()).is_err());
        }
    }

    #[test]
    fn commune_scope_only_covers_its_commune() {
        let p = principal(vec![(Role::CommuneOfficer, Scope::Commune("06001".into()))]);
        let own = ResourceScope {
            commune: Some("06001".into()),
            ..Default::default()
        };
        let other = ResourceScope {
            commune: Some("05977".into()),
            ..Default::default()
        };
        assert!(authorize(Some(&p), Permission::AgencyUpdate, &own).is_ok());
        assert!(authorize(Some(&p), Permission::AgencyUpdate, &other).is_err());
        assert!(authorize(Some(&p), Permission::UserManage, &own).is_err());
    }

    #[test]
    fn agency_scope_covers_subtree_and_tokens_narrow() {
        let mut p = principal(vec![(
            Role::DepartmentLeader,
            Scope::Agency("H37.10".into()),
        )]);
        let child = ResourceScope {
            agencies: vec!["H37.10.01".into(), "H37.10".into(), "H37".into()],
            ..Default::default()
        };
        let sibling = ResourceScope {
            agencies: vec!["H37.11".into(), "H37".into()],
            ..Default::default()
        };
        assert!(authorize(Some(&p), Permission::AgencyRead, &child).is_ok());
        assert!(authorize(Some(&p), Permission::AgencyRead, &sibling).is_err());
        p.method = AuthMethod::Token {
            token_id: "t".into(),
            scopes: vec![Permission::AuditRead],
        };
        assert!(authorize(Some(&p), Permission::AgencyRead, &child).is_err());
    }

    #[test]
    fn the_hub_has_its_own_administrator() {
        let hub = principal(vec![(Role::ExchangeAdmin, Scope::Province)]);
        let res = ResourceScope::province();
        assert!(authorize(Some(&hub), Permission::ExchangeManage, &res).is_ok());
        assert!(authorize(Some(&hub), Permission::UserManage, &res).is_err());
        assert!(authorize(Some(&hub), Permission::ProcedureManage, &res).is_err());
        let mut admin = principal(vec![(Role::Admin, Scope::Province)]);
        assert!(authorize(Some(&admin), Permission::ExchangeManage, &res).is_ok());
        // user_manage alone (a token narrowed to it) is not the hub's right.
        admin.method = AuthMethod::Token {
            token_id: "t".into(),
            scopes: vec![Permission::UserManage],
        };
        assert!(authorize(Some(&admin), Permission::UserManage, &res).is_ok());
        assert!(authorize(Some(&admin), Permission::ExchangeManage, &res).is_err());
        assert!(Role::ExchangeAdmin.requires_totp() && Role::ExchangeAdmin.is_staff());
    }

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(*r));
        }
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
        }
    }
}
