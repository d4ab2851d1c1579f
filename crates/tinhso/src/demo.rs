//! Demo data (dữ liệu mẫu): documented accounts for each kind of user and a few sample
//! records. Idempotent: running it again changes nothing. Demo only — never in production.

use tinhso_identity::accounts::{self, NewAccount};
use tinhso_identity::authz::{Role, RoleAssignment, Scope};
use tinhso_kernel::AppError;
use tinhso_refdata::{agencies, calendar};
use tinhso_store::audit::Ctx;
use tinhso_store::Db;

/// Password of every demo account.
pub const DEMO_PASSWORD: &str = "LangSon@2026";
/// TOTP secret of the demo accounts that need a second factor (published: demo only).
pub const DEMO_TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// One documented demo account.
pub struct DemoAccount {
    pub username: &'static str,
    pub display_name: &'static str,
    pub kind: &'static str,
    pub role: Role,
    /// Agency found by name (exact) among the seeded agencies; None for the public.
    pub agency_name: Option<&'static str>,
    pub scope: DemoScope,
    pub title: Option<&'static str>,
}

/// How a demo account's role is scoped.
pub enum DemoScope {
    Own,
    Province,
    OwnAgency,
    /// The commune of the account's agency.
    Commune,
}

/// The demo accounts, as documented in the README.
pub fn accounts_list() -> Vec<DemoAccount> {
    vec![
        DemoAccount {
            username: "020190001234",
            display_name: "Hoàng Thị Mai",
            kind: "citizen",
            role: Role::Citizen,
            agency_name: None,
            scope: DemoScope::Own,
            title: None,
        },
        DemoAccount {
            username: "4900123467",
            display_name: "Công ty TNHH Xuất nhập khẩu Hữu Nghị",
            kind: "enterprise",
            role: Role::Enterprise,
            agency_name: None,
            scope: DemoScope::Own,
            title: None,
        },
        DemoAccount {
            username: "motcua.tinh",
            display_name: "Nông Văn Hùng",
            kind: "staff",
            role: Role::OneStopOfficer,
            agency_name: Some("Trung tâm Phục vụ hành chính công tỉnh Lạng Sơn"),
            scope: DemoScope::OwnAgency,
            title: Some("Cán bộ tiếp nhận và trả kết quả"),
        },
        DemoAccount {
            username: "congchuc.tamthanh",
            display_name: "Lý Thị Hồng",
            kind: "staff",
            role: Role::CommuneOfficer,
            agency_name: Some("Ủy ban nhân dân phường Tam Thanh"),
            scope: DemoScope::Commune,
            title: Some("Công chức Văn phòng - Thống kê"),
        },
        DemoAccount {
            username: "congchuc.dongkinh",
            display_name: "Vi Văn Thành",
            kind: "staff",
            role: Role::CommuneOfficer,
            agency_name: Some("Ủy ban nhân dân phường Đông Kinh"),
            scope: DemoScope::Commune,
            title: Some("Công chức Tư pháp - Hộ tịch"),
        },
        DemoAccount {
            username: "lanhdao.sokhcn",
            display_name: "Hoàng Minh Đức",
            kind: "staff",
            role: Role::DepartmentLeader,
            agency_name: Some("Sở Khoa học và Công nghệ"),
            scope: DemoScope::OwnAgency,
            title: Some("Giám đốc Sở"),
        },
        DemoAccount {
            username: "lanhdao.tinh",
            display_name: "Lương Thị Thu",
            kind: "staff",
            role: Role::ProvinceLeader,
            agency_name: Some("Ủy ban nhân dân tỉnh Lạng Sơn"),
            scope: DemoScope::Province,
            title: Some("Phó Chủ tịch UBND tỉnh"),
        },
        DemoAccount {
            username: "quantri",
            display_name: "Quản trị hệ thống",
            kind: "staff",
            role: Role::Admin,
            agency_name: Some("Sở Khoa học và Công nghệ"),
            scope: DemoScope::Province,
            title: Some("Quản trị viên"),
        },
        DemoAccount {
            username: "kiemtoan",
            display_name: "Đinh Văn Kiểm",
            kind: "staff",
            role: Role::Auditor,
            agency_name: Some("Thanh tra tỉnh"),
            scope: DemoScope::Province,
            title: Some("Thanh tra viên"),
        },
    ]
}

/// Load the demo data. Returns how many accounts were created.
pub async fn load(db: &Db) -> Result<usize, AppError> {
    let ctx = Ctx {
        actor: "demo".into(),
        request_id: "demo-seed".into(),
    };
    let all = agencies::list(db, &Default::default()).await?;
    let mut created = 0;
    for d in accounts_list() {
        if accounts::get_by_username(db, d.username).await?.is_some() {
            continue;
        }
        let agency = match d.agency_name {
            Some(name) => Some(all.iter().find(|a| a.name == name).ok_or_else(|| {
                AppError::internal(format!("demo agency {name:?} not in the agency data"))
            })?),
            None => None,
        };
        let scope = match (&d.scope, agency) {
            (DemoScope::Own, _) => Scope::Own,
            (DemoScope::Province, _) => Scope::Province,
            (DemoScope::OwnAgency, Some(a)) => Scope::Agency(a.code.clone()),
            (DemoScope::Commune, Some(a)) => {
                Scope::Commune(a.admin_unit_code.clone().unwrap_or_default())
            }
            (_, None) => Scope::Own,
        };
        let new = NewAccount {
            username: (d.kind == "staff").then(|| d.username.to_string()),
            display_name: d.display_name.into(),
            kind: d.kind.into(),
            cccd: (d.kind == "citizen").then(|| d.username.to_string()),
            mst: (d.kind == "enterprise").then(|| d.username.to_string()),
            phone: Some("0912345678".into()),
            email: Some(format!(
                "{}@demo.tinhso.invalid",
                d.username.replace('.', "-")
            )),
            agency_code: agency.map(|a| a.code.clone()),
            title: d.title.map(str::to_string),
            password: DEMO_PASSWORD.into(),
            roles: vec![RoleAssignment {
                role: d.role,
                scope,
            }],
        };
        let created_acc = accounts::create(db, &ctx, &new).await?;
        if created_acc.totp_uri.is_some() {
            tinhso_identity::auth::set_totp_secret(
                db,
                &ctx,
                &created_acc.account.id,
                DEMO_TOTP_SECRET,
            )
            .await?;
        }
        created += 1;
    }
    // Sample contact details for two communes, and the government's 2026 New Year swap
    // (Official Letter 12729/VPCP-KGVX: Friday 2 January off, worked on Saturday 10 January).
    for (name, addr, phone) in [
        (
            "Ủy ban nhân dân phường Tam Thanh",
            "Số 1 đường Lê Lợi, phường Tam Thanh, tỉnh Lạng Sơn",
            "0205 3812 345",
        ),
        (
            "Ủy ban nhân dân phường Đông Kinh",
            "Số 2 đường Bà Triệu, phường Đông Kinh, tỉnh Lạng Sơn",
            "0205 3870 123",
        ),
    ] {
        if let Some(a) = all.iter().find(|a| a.name == name && a.address.is_empty()) {
            let patch = agencies::ContactPatch {
                address: Some(addr.into()),
                phone: Some(phone.into()),
                working_hours: Some(
                    "Sáng 7:30–11:30, chiều 13:30–17:00, thứ Hai đến thứ Sáu".into(),
                ),
                ..Default::default()
            };
            agencies::update_contact(db, &ctx, &a.code, &patch).await?;
        }
    }
    let existing = calendar::overrides(db).await?;
    for (day, kind, vi, en) in [
        (
            "2026-01-02",
            "day_off",
            "Nghỉ hoán đổi dịp Tết Dương lịch 2026",
            "New Year 2026 swapped day off",
        ),
        (
            "2026-01-10",
            "working_day",
            "Làm bù cho ngày 02/01/2026",
            "Worked to make up for 2 January 2026",
        ),
    ] {
        if !existing.iter().any(|o| o.day == day) {
            let input = calendar::OverrideInput {
                kind: kind.into(),
                name_vi: vi.into(),
                name_en: en.into(),
            };
            calendar::set(db, &ctx, day, &input).await?;
        }
    }
    Ok(created)
}
