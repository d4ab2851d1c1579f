//! Demo data (dữ liệu mẫu): documented accounts for each kind of user and a few sample
//! records. Idempotent: running it again changes nothing. Demo only — never in production.

use std::collections::BTreeMap;
use tinhso_identity::accounts::{self, NewAccount};
use tinhso_identity::authz::{AuthMethod, Role, RoleAssignment, Scope};
use tinhso_identity::Principal;
use tinhso_kernel::AppError;
use tinhso_refdata::{agencies, calendar};
use tinhso_services::dossier::{self, ActingAs, Applicant, Channel, Submission, TransitionInput};
use tinhso_services::results::Issuing;
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
            username: "lanhdao.tamthanh",
            display_name: "Hoàng Văn Thắng",
            kind: "staff",
            role: Role::DepartmentLeader,
            agency_name: Some("Ủy ban nhân dân phường Tam Thanh"),
            scope: DemoScope::OwnAgency,
            title: Some("Chủ tịch Ủy ban nhân dân phường"),
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
            username: "quantri.lgsp",
            display_name: "Hoàng Văn Liên",
            kind: "staff",
            role: Role::ExchangeAdmin,
            agency_name: Some("Sở Khoa học và Công nghệ"),
            scope: DemoScope::Province,
            title: Some("Quản trị trục liên thông"),
        },
        DemoAccount {
            username: "haiquan.huunghi",
            display_name: "Lương Văn Hải",
            kind: "staff",
            role: Role::BorderOfficer,
            agency_name: Some("Hải quan cửa khẩu quốc tế Hữu Nghị"),
            scope: DemoScope::OwnAgency,
            title: Some("Công chức hải quan"),
        },
        DemoAccount {
            username: "bql.cuakhau",
            display_name: "Vi Thị Quản",
            kind: "staff",
            role: Role::BorderManager,
            agency_name: Some("Ban Quản lý Khu kinh tế cửa khẩu Đồng Đăng - Lạng Sơn"),
            scope: DemoScope::OwnAgency,
            title: Some("Phó Trưởng ban"),
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
/// Results of approved demo dossiers are written to `issuing`'s file store.
pub async fn load(db: &Db, issuing: Issuing<'_>) -> Result<usize, AppError> {
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
    // A certificate from the provincial test CA for Phường Tam Thanh, so the demo's results
    // carry a PAdES signature any PDF reader can check (marked "(THỬ NGHIỆM)"; a real agency
    // imports the certificate its CA issued at /nghiep-vu/chung-thu-so).
    if let Some(a) = all
        .iter()
        .find(|a| a.name == "Ủy ban nhân dân phường Tam Thanh")
    {
        let now = tinhso_store::now_micros();
        let has = tinhso_services::signing_certs::list(db)
            .await?
            .iter()
            .any(|c| c.agency_code == a.code && !c.expired(now));
        if !has {
            tinhso_services::signing_certs::issue_test_certificate(db, &ctx, &a.code, 365).await?;
        }
    }
    sample_dossiers(db, issuing).await?;
    tinhso_targets::reported::load_demo(db, &ctx).await?;
    // The report tasks due today (the yearly Plan 226 report, the quarterly report on
    // administrative procedures), as the server's hourly job would open them.
    tinhso_targets::reports::open_reports(db, &ctx, tinhso_services::dossier::today_local())
        .await?;
    Ok(created)
}

/// [`border_history`] up to now, logged: `tinhso demo` awaits it, `tinhso serve --demo` runs
/// it beside the server (it takes ~10–15 s in a debug build; the pages fill as it writes).
pub async fn load_border_history(db: &Db) -> Result<(), AppError> {
    match border_history(db, tinhso_store::now_micros()).await? {
        Some(r) => {
            tracing::info!(
                trips = r.declared,
                crossed = r.crossed,
                secs = r.elapsed_s,
                "demo border history simulated"
            );
            // The forecast the server kept at start knew nothing of this history: keep one
            // that does, so the pages do not wait for the next five-minute run.
            tinhso_border::forecast::refresh(
                db,
                tinhso_store::now_micros(),
                &tinhso_border::forecast::Params::default(),
            )
            .await?;
        }
        None => tracing::info!("demo border history already there"),
    }
    Ok(())
}

/// Volume of the demo's border history: 0.5 % of the province's traffic (~6 trucks a day
/// over Hữu Nghị, Tân Thanh, Chi Ma and Cốc Nam), so that 30 days run in seconds in a debug
/// build (each truck is ~10 transactions: declaration, booking, checks, customs, fee — about
/// 50 ms of SQLite commits in debug); every stage is there (corrections, booking changes,
/// checks with holds, fees).
pub const DEMO_BORDER_SCALE: f64 = 0.005;

/// Days of demo border history before today.
pub const DEMO_BORDER_DAYS: u32 = 30;

/// Border history for the demo (lịch sử cửa khẩu mẫu): the traffic simulator runs the last
/// [`DEMO_BORDER_DAYS`] days and today up to `now` through the border module's own
/// functions, so the border dashboard, the wait-time feed, the forecast and the operations
/// centre show figures on first start; trips declared for later today and tomorrow stay
/// declared (the forecast's near hours). Once: a database that already holds simulated trips
/// is left as it is (`None`).
pub async fn border_history(
    db: &Db,
    now: i64,
) -> Result<Option<tinhso_border::sim::Report>, AppError> {
    use tinhso_border::sim::{self, Options, Scenario};
    let simulated = tinhso_store::db::count(
        db,
        "SELECT COUNT(*) FROM border_trips WHERE created_by = 'sim'",
    )
    .await?;
    if simulated > 0 {
        return Ok(None);
    }
    let today = tinhso_border::declaration::local(now).date_naive();
    let opts = Options {
        days: DEMO_BORDER_DAYS + 1,
        start: today - chrono::Days::new(u64::from(DEMO_BORDER_DAYS)),
        scale: DEMO_BORDER_SCALE,
        seed: 2_026,
        until: Some(now),
        ..Options::new(Scenario::Normal)
    };
    sim::run(db, &opts).await.map(Some)
}

/// A demo account as a principal.
async fn principal(db: &Db, username: &str) -> Result<Principal, AppError> {
    let acc = accounts::get_by_username(db, username)
        .await?
        .ok_or_else(|| AppError::internal(format!("demo account {username} missing")))?;
    Ok(accounts::principal_of(&acc, AuthMethod::Cli))
}

/// One sample dossier: who files it, what, and the transitions it went through.
struct SampleDossier {
    key: &'static str,
    procedure: &'static str,
    commune: Option<&'static str>,
    /// A signed-in applicant (linked to the account), or anonymous.
    account: Option<&'static str>,
    /// An officer entering it at the counter.
    counter_officer: Option<&'static str>,
    applicant: (i64, &'static str, &'static str),
    form: &'static [(&'static str, &'static str)],
    /// (officer, action, reason).
    steps: &'static [(&'static str, &'static str, &'static str)],
}

const TAM_THANH: &str = "05986";

fn samples() -> Vec<SampleDossier> {
    vec![
        SampleDossier {
            key: "demo-dossier-1",
            procedure: "1.001193",
            commune: Some(TAM_THANH),
            account: None,
            counter_officer: None,
            applicant: (0, "Lộc Văn Bình", "020090012345"),
            form: &[
                ("ho_ten_tre", "Lộc Minh Khang"),
                ("ngay_sinh_tre", "2026-01-05"),
                ("gioi_tinh", "nam"),
                ("dan_toc", "tay"),
                ("noi_sinh", "Bệnh viện Đa khoa tỉnh Lạng Sơn"),
                ("que_quan", TAM_THANH),
                ("ho_ten_me", "Hà Thị Nga"),
                ("ho_ten_cha", "Lộc Văn Bình"),
                ("so_dinh_danh_cha", "020090012345"),
                ("so_ban_sao", "2"),
                ("so_dien_thoai", "0912000111"),
            ],
            steps: &[],
        },
        SampleDossier {
            key: "demo-dossier-2",
            procedure: "1.000894",
            commune: Some(TAM_THANH),
            account: Some("020190001234"),
            counter_officer: None,
            applicant: (0, "Hoàng Thị Mai", "020190001234"),
            form: &[
                ("ho_ten_ben_nu", "Hoàng Thị Mai"),
                ("so_dinh_danh_ben_nu", "020190001234"),
                ("ngay_sinh_ben_nu", "1990-04-12"),
                ("ho_ten_ben_nam", "Nông Đức Anh"),
                ("so_dinh_danh_ben_nam", "020088007788"),
                ("ngay_sinh_ben_nam", "1988-09-30"),
                ("lan_ket_hon", "1"),
                ("cam_doan", "on"),
                ("so_dien_thoai", "0912345678"),
            ],
            steps: &[
                ("congchuc.tamthanh", "accept", ""),
                ("congchuc.tamthanh", "forward", ""),
            ],
        },
        SampleDossier {
            key: "demo-dossier-3",
            procedure: "1.001612",
            commune: Some(TAM_THANH),
            account: None,
            counter_officer: Some("congchuc.tamthanh"),
            applicant: (0, "Vi Thị Hạnh", "020195004567"),
            form: &[
                ("ten_ho_kinh_doanh", "Hộ kinh doanh Vi Hạnh"),
                ("ho_ten_chu_ho", "Vi Thị Hạnh"),
                ("so_dinh_danh_chu_ho", "020195004567"),
                ("dia_diem_kinh_doanh", "Số 12 đường Tam Thanh"),
                ("xa_phuong", TAM_THANH),
                (
                    "nganh_nghe",
                    "Bán lẻ đặc sản Lạng Sơn (hạt dẻ, na, rượu Mẫu Sơn)",
                ),
                ("von_kinh_doanh", "150000000"),
                ("so_lao_dong", "2"),
                ("so_dien_thoai", "0987654321"),
            ],
            steps: &[(
                "congchuc.tamthanh",
                "request_supplement",
                "Bổ sung văn bản đồng ý của chủ nhà cho thuê địa điểm kinh doanh",
            )],
        },
        SampleDossier {
            key: "demo-dossier-4",
            procedure: "2.000815",
            commune: Some(TAM_THANH),
            account: None,
            counter_officer: None,
            applicant: (0, "Lương Văn Tùng", "020301005566"),
            form: &[
                ("ho_ten_nguoi_yeu_cau", "Lương Văn Tùng"),
                ("so_dinh_danh_nguoi_yeu_cau", "020301005566"),
                ("ten_giay_to", "Bằng tốt nghiệp đại học"),
                ("co_quan_cap", "Trường Đại học Nông Lâm Thái Nguyên"),
                ("so_trang", "1"),
                ("so_ban_sao", "3"),
                ("hinh_thuc_ket_qua", "dien_tu"),
                ("so_dien_thoai", "0936111222"),
            ],
            steps: &[
                ("congchuc.tamthanh", "accept", ""),
                ("congchuc.tamthanh", "forward", ""),
                ("congchuc.tamthanh", "forward", ""),
                ("lanhdao.tamthanh", "approve", ""),
                ("congchuc.tamthanh", "return_result", ""),
            ],
        },
        SampleDossier {
            key: "demo-dossier-5",
            procedure: "2.001610",
            commune: None,
            account: Some("4900123467"),
            counter_officer: None,
            applicant: (1, "Công ty TNHH Xuất nhập khẩu Hữu Nghị", "4900123467"),
            form: &[
                (
                    "ten_doanh_nghiep",
                    "Doanh nghiệp tư nhân Thương mại Đồng Đăng",
                ),
                ("ho_ten_chu_dn", "Hoàng Văn Nam"),
                ("so_dinh_danh_chu_dn", "020085003344"),
                ("tru_so", "Số 5 đường Lê Lợi"),
                ("xa_phuong_tru_so", TAM_THANH),
                ("nganh_nghe", "4690 — Bán buôn tổng hợp"),
                ("von_dau_tu", "2000000000"),
                ("so_dien_thoai", "02053812345"),
            ],
            steps: &[],
        },
        SampleDossier {
            key: "demo-dossier-6",
            procedure: "1.004623",
            commune: None,
            account: None,
            counter_officer: None,
            applicant: (0, "Nguyễn Thu Trang", "020198007654"),
            form: &[
                ("ho_ten_nguoi_yeu_cau", "Nguyễn Thu Trang"),
                ("so_dinh_danh_nguoi_yeu_cau", "020198007654"),
                ("ngay_sinh", "1998-06-20"),
                ("trinh_do", "Cử nhân Quản trị dịch vụ du lịch và lữ hành"),
                ("so_chung_chi", "HDV-ND-2025-0412"),
                ("ngoai_ngu", "Tiếng Trung"),
                ("so_dien_thoai", "0915222333"),
            ],
            steps: &[("motcua.tinh", "accept", "")],
        },
    ]
}

/// Sample dossiers in various statuses at Phường Tam Thanh's People's Committee and at the
/// provincial one-stop centre, so the back office is not empty. Only when there are no other
/// dossiers; their idempotency keys make a repeated run add nothing.
async fn sample_dossiers(db: &Db, issuing: Issuing<'_>) -> Result<usize, AppError> {
    let others = "SELECT COUNT(*) FROM dossiers \
                  WHERE idempotency_key IS NULL OR idempotency_key NOT LIKE 'demo-dossier-%'";
    if tinhso_store::db::count(db, others).await? > 0 {
        return Ok(0);
    }
    let mut n = 0;
    for s in samples() {
        let by = match s.account.or(s.counter_officer) {
            Some(u) => Some(principal(db, u).await?),
            None => None,
        };
        let ctx = Ctx {
            actor: by
                .as_ref()
                .map(Principal::actor)
                .unwrap_or_else(|| "anonymous:demo".into()),
            request_id: "demo-seed".into(),
        };
        let sub = Submission {
            procedure_code: s.procedure.into(),
            commune_code: s.commune.map(str::to_string),
            applicant: Applicant {
                kind: s.applicant.0,
                name: s.applicant.1.into(),
                id_number: s.applicant.2.into(),
                phone: "0912345678".into(),
                email: String::new(),
            },
            form: s
                .form
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            channel: if s.counter_officer.is_some() {
                Channel::InPerson
            } else {
                Channel::Online
            },
            idempotency_key: Some(s.key.into()),
        };
        let receipt = dossier::submit(db, &ctx, by.as_ref(), &sub).await?;
        if receipt.replayed {
            continue;
        }
        for (officer, action, reason) in s.steps {
            let p = principal(db, officer).await?;
            let ctx = Ctx {
                actor: p.actor(),
                request_id: "demo-seed".into(),
            };
            let input = TransitionInput {
                action: action.to_string(),
                reason: reason.to_string(),
                form: BTreeMap::new(),
            };
            dossier::transition(
                db,
                issuing,
                &ctx,
                &receipt.dossier.code,
                ActingAs::Staff(&p),
                &input,
            )
            .await?;
        }
        n += 1;
    }
    Ok(n)
}
