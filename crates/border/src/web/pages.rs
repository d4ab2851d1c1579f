//! The border gate's pages. Driver- and enterprise-facing pages speak Vietnamese, Chinese
//! (simplified) and English (`?lang=vi|zh|en`, remembered in a cookie); the officers' offline
//! pass check works without a network once opened (a service worker keeps the page, its script
//! and the published keys).

use super::api::book_slot;
use super::{own_trip, trip_for, TripAccess};
use crate::declaration::{self, DeclarationInput, GoodsLineInput, Stage, Trip, Version};
use crate::gates::{self, Direction, Gate};
use crate::registry::DriverInput;
use crate::slots::{self, Queues};
use crate::{pass, waittimes};
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use std::collections::HashMap;
use tinhso_http::context::cookie;
use tinhso_http::error::PageError;
use tinhso_http::layout::{render, Chrome};
use tinhso_http::{AppState, Lang, ReqCtx};
use tinhso_kernel::{AppError, FieldError};
use tinhso_store::now_micros;

/// Cookie remembering the driver pages' language.
pub const LANG_COOKIE: &str = "tinhso_border_lang";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cua-khau", get(home))
        .route("/cua-khau/tai-nguyen/{file}", get(asset))
        .route("/cua-khau/kiem-tra-the", get(check_page))
        .route("/cua-khau/khai-bao", get(declare_form).post(declare_post))
        .route("/cua-khau/chuyen", get(my_trips))
        .route("/cua-khau/chuyen/{code}", get(trip_page))
        .route(
            "/cua-khau/chuyen/{code}/sua",
            get(correct_form).post(correct_post),
        )
        .route(
            "/cua-khau/chuyen/{code}/dat-cho",
            axum::routing::post(book_post),
        )
        .route("/cua-khau/chuyen/{code}/phi", axum::routing::post(fee_post))
}

/// A driver page's language (ngôn ngữ): Vietnamese, Chinese (simplified) or English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tongue {
    Vi,
    Zh,
    En,
}

impl Tongue {
    pub fn code(self) -> &'static str {
        match self {
            Tongue::Vi => "vi",
            Tongue::Zh => "zh",
            Tongue::En => "en",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "vi" => Some(Tongue::Vi),
            "zh" | "zh-CN" | "zh-Hans" => Some(Tongue::Zh),
            "en" => Some(Tongue::En),
            _ => None,
        }
    }

    /// Pick the text: templates write `{{ l.s("Khai báo", "Declare", "申报") }}`.
    pub fn s<'a>(&self, vi: &'a str, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Tongue::Vi => vi,
            Tongue::En => en,
            Tongue::Zh => zh,
        }
    }

    /// A field error in this language (Chinese: the rule, then the English specifics).
    pub fn field_message(&self, f: &FieldError) -> String {
        match self {
            Tongue::Vi => f.message_vi.clone(),
            Tongue::En => f.message_en.clone(),
            Tongue::Zh => super::zh::field_message_zh(f),
        }
    }

    /// An error without field errors in this language.
    pub fn error_detail(&self, e: &AppError) -> String {
        match self {
            Tongue::Vi => e
                .detail_vi
                .clone()
                .unwrap_or_else(|| e.code.title_vi().into()),
            Tongue::En => e
                .detail_en
                .clone()
                .unwrap_or_else(|| e.code.title_en().into()),
            Tongue::Zh => super::zh::detail_zh(e),
        }
    }

    /// The page chrome's language (header, footer): Chinese readers get English.
    fn chrome(self) -> Lang {
        match self {
            Tongue::Vi => Lang::Vi,
            _ => Lang::En,
        }
    }
}

#[derive(Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
}

fn tongue(ctx: &ReqCtx, headers: &HeaderMap, q: &LangQuery) -> (Tongue, bool) {
    if let Some(t) = q.lang.as_deref().and_then(Tongue::parse) {
        return (t, true);
    }
    if let Some(t) = cookie(headers, LANG_COOKIE).and_then(Tongue::parse) {
        return (t, false);
    }
    (
        if ctx.lang == Lang::En {
            Tongue::En
        } else {
            Tongue::Vi
        },
        false,
    )
}

/// Page chrome in the page's language, and the cookie to remember a language chosen by `?lang=`.
struct Page {
    c: Chrome,
    l: Tongue,
    set_cookie: bool,
}

fn page(ctx: &ReqCtx, headers: &HeaderMap, q: &LangQuery) -> Page {
    let (l, set_cookie) = tongue(ctx, headers, q);
    let mut c = Chrome::of(ctx);
    c.t = l.chrome();
    Page { c, l, set_cookie }
}

fn finish(p: &Page, mut resp: Response) -> Response {
    if p.set_cookie {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; Path=/cua-khau; Max-Age=31536000; SameSite=Lax",
            p.l.code()
        )) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn err(ctx: &ReqCtx, p: &Page, e: impl Into<AppError>) -> PageError {
    let mut pe = ctx.page_err(e);
    pe.lang = p.l.chrome();
    pe
}

fn direction_name(d: &str, l: Tongue) -> String {
    Direction::parse(d)
        .map(|d| l.s(d.name_vi(), d.name_en(), d.name_zh()).to_string())
        .unwrap_or_else(|| d.to_string())
}

fn stage_name(s: &str, l: Tongue) -> String {
    Stage::parse(s)
        .map(|s| l.s(s.name_vi(), s.name_en(), s.name_zh()).to_string())
        .unwrap_or_else(|| s.to_string())
}

fn gate_name(g: &Gate, l: Tongue) -> String {
    g.name(l.code()).to_string()
}

fn when(micros: i64) -> String {
    declaration::local(micros)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

// ------------------------------------------------------------------ assets

const BORDER_JS: &str = include_str!("../../static/border.js");
const CHECK_JS: &str = include_str!("../../static/check-pass.js");
const SW_JS: &str = include_str!("../../static/sw.js");
const BORDER_CSS: &str = include_str!("../../static/border.css");

async fn asset(Path(file): Path<String>) -> Response {
    let (ctype, body) = match file.as_str() {
        "border.js" => ("text/javascript; charset=utf-8", BORDER_JS),
        "check-pass.js" => ("text/javascript; charset=utf-8", CHECK_JS),
        "sw.js" => ("text/javascript; charset=utf-8", SW_JS),
        "border.css" => ("text/css; charset=utf-8", BORDER_CSS),
        _ => {
            return tinhso_http::error::problem_response(&AppError::new(
                tinhso_kernel::ErrorCode::RouteNotFound,
            ))
        }
    };
    let mut resp = ([(header::CONTENT_TYPE, ctype)], body).into_response();
    if file == "sw.js" {
        // The worker lives with the assets but serves the whole /cua-khau/ area.
        resp.headers_mut().insert(
            "service-worker-allowed",
            HeaderValue::from_static("/cua-khau/"),
        );
    }
    resp
}

// ------------------------------------------------------------------ home

#[derive(Template)]
#[template(path = "border_home.html")]
struct HomePage {
    c: Chrome,
    l: Tongue,
    rows: Vec<WaitRow>,
    generated: String,
    signed_in: bool,
}

struct WaitRow {
    gate: String,
    direction: String,
    open: bool,
    wait: String,
    queue: i64,
    lanes: i64,
    per_hour: i64,
}

async fn home(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, PageError> {
    let p = page(&ctx, &headers, &q);
    let feed = waittimes::feed(&state.db, queues.policy(), now_micros())
        .await
        .map_err(|e| err(&ctx, &p, e))?;
    let l = p.l;
    let rows = feed
        .gates
        .iter()
        .map(|w| WaitRow {
            gate: l
                .s(&w.gate_name_vi, &w.gate_name_en, &w.gate_name_zh)
                .to_string(),
            direction: direction_name(w.direction.as_str(), l),
            open: w.status == "open",
            wait: match w.current_wait_minutes {
                Some(m) if m >= 60 => format!("{} h {:02}", m / 60, m % 60),
                Some(m) => format!("{m} min"),
                None => "—".into(),
            },
            queue: w.queue_length,
            lanes: w.lanes_open,
            per_hour: w.capacity_per_hour,
        })
        .collect();
    let resp = render(&HomePage {
        signed_in: ctx.principal.is_some(),
        c: p.c.clone_chrome(),
        l,
        rows,
        generated: when(feed.generated_at_micros),
    });
    Ok(finish(&p, resp))
}

trait CloneChrome {
    fn clone_chrome(&self) -> Chrome;
}

impl CloneChrome for Chrome {
    fn clone_chrome(&self) -> Chrome {
        Chrome {
            t: self.t,
            csrf: self.csrf.clone(),
            user: self.user.clone(),
            back_office: self.back_office,
            leader: self.leader,
            user_read: self.user_read,
            audit_read: self.audit_read,
        }
    }
}

// ------------------------------------------------------------------ declaration form

/// One input of the declaration form.
pub struct FieldView {
    pub name: String,
    pub label: String,
    pub value: String,
    pub error: String,
    /// `text`, `number`, `datetime-local`, `tel`, `select`.
    pub kind: &'static str,
    pub hint: String,
    pub options: Vec<(String, String)>,
    pub required: bool,
}

impl FieldView {
    /// The input's element id (names hold dots and brackets).
    pub fn id(&self) -> String {
        self.name.replace(['.', '[', ']'], "-")
    }
}

#[derive(Template)]
#[template(path = "border_declare.html")]
struct DeclarePage {
    c: Chrome,
    l: Tongue,
    /// Where the form posts.
    action: String,
    title: String,
    sections: Vec<(String, Vec<FieldView>)>,
    goods: Vec<Vec<FieldView>>,
    summary: Vec<(String, String)>,
    general: String,
    /// Correction only: the version corrected and the reason.
    version: Option<i64>,
    reason: String,
    reason_error: String,
}

type Values = HashMap<String, String>;

fn values_of(input: &DeclarationInput) -> Values {
    let mut v = Values::new();
    let mut put = |k: &str, s: String| {
        v.insert(k.to_string(), s);
    };
    put("enterprise_mst", input.enterprise_mst.clone());
    put("enterprise_name", input.enterprise_name.clone());
    put("enterprise_phone", input.enterprise_phone.clone());
    put("gate", input.gate.clone());
    put("direction", input.direction.clone());
    put("expected_arrival", input.expected_arrival.clone());
    put("vehicle_plate", input.vehicle_plate.clone());
    put("vehicle_plate_colour", input.vehicle_plate_colour.clone());
    put("vehicle_payload_kg", num(input.vehicle_payload_kg));
    put("trailer_plate", input.trailer_plate.clone());
    put("trailer_payload_kg", num(input.trailer_payload_kg));
    put("driver.id_kind", input.driver.id_kind.clone());
    put("driver.id_number", input.driver.id_number.clone());
    put("driver.full_name", input.driver.full_name.clone());
    put("driver.phone", input.driver.phone.clone());
    put("driver.nationality", input.driver.nationality.clone());
    put("customs_declaration", input.customs_declaration.clone());
    for (i, g) in input.goods.iter().enumerate() {
        put(&format!("goods[{i}].hs_code"), g.hs_code.clone());
        put(&format!("goods[{i}].description"), g.description.clone());
        put(
            &format!("goods[{i}].quantity"),
            if g.quantity > 0.0 {
                g.quantity.to_string()
            } else {
                String::new()
            },
        );
        put(&format!("goods[{i}].unit"), g.unit.clone());
        put(&format!("goods[{i}].weight_kg"), num(g.weight_kg));
    }
    v
}

fn num(n: i64) -> String {
    if n == 0 {
        String::new()
    } else {
        n.to_string()
    }
}

/// The form's pairs → a declaration (numbers that do not parse become values the checks
/// refuse with a field message); goods rows left wholly blank are skipped.
pub fn input_of(form: &[(String, String)]) -> DeclarationInput {
    let v: Values = form.iter().cloned().collect();
    let s = |k: &str| v.get(k).cloned().unwrap_or_default();
    let n = |k: &str| {
        let t = s(k).replace(['.', ',', ' '], "");
        if t.is_empty() {
            0
        } else {
            t.parse::<i64>().unwrap_or(-1)
        }
    };
    let mut goods = Vec::new();
    for i in 0..declaration::MAX_GOODS_LINES + 5 {
        let k = |f: &str| format!("goods[{i}].{f}");
        let fields = ["hs_code", "description", "quantity", "unit", "weight_kg"];
        if fields.iter().all(|f| s(&k(f)).trim().is_empty()) {
            continue;
        }
        goods.push(GoodsLineInput {
            hs_code: s(&k("hs_code")),
            description: s(&k("description")),
            quantity: s(&k("quantity"))
                .trim()
                .replace(',', ".")
                .parse()
                .unwrap_or(f64::NAN),
            unit: s(&k("unit")),
            weight_kg: n(&k("weight_kg")),
        });
    }
    DeclarationInput {
        enterprise_mst: s("enterprise_mst"),
        enterprise_name: s("enterprise_name"),
        enterprise_phone: s("enterprise_phone"),
        gate: s("gate"),
        direction: s("direction"),
        expected_arrival: s("expected_arrival"),
        vehicle_plate: s("vehicle_plate"),
        vehicle_plate_colour: s("vehicle_plate_colour"),
        vehicle_payload_kg: n("vehicle_payload_kg"),
        trailer_plate: s("trailer_plate"),
        trailer_payload_kg: n("trailer_payload_kg"),
        driver: DriverInput {
            id_kind: s("driver.id_kind"),
            id_number: s("driver.id_number"),
            full_name: s("driver.full_name"),
            phone: s("driver.phone"),
            nationality: s("driver.nationality"),
        },
        customs_declaration: s("customs_declaration"),
        goods,
    }
}

struct FormState {
    values: Values,
    errors: HashMap<String, String>,
    summary: Vec<(String, String)>,
    general: String,
}

impl FormState {
    fn new(values: Values) -> Self {
        Self {
            values,
            errors: HashMap::new(),
            summary: Vec::new(),
            general: String::new(),
        }
    }

    fn with_error(mut self, e: &AppError, l: Tongue) -> Self {
        for f in &e.fields {
            let msg = l.field_message(f);
            self.summary
                .push((f.field.replace(['.', '[', ']'], "-"), msg.clone()));
            self.errors.entry(f.field.clone()).or_insert(msg);
        }
        if e.fields.is_empty() {
            self.general = l.error_detail(e);
        }
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn field(
        &self,
        name: &str,
        label: &str,
        kind: &'static str,
        hint: &str,
        options: Vec<(String, String)>,
        required: bool,
    ) -> FieldView {
        FieldView {
            name: name.to_string(),
            label: label.to_string(),
            value: self.values.get(name).cloned().unwrap_or_default(),
            error: self.errors.get(name).cloned().unwrap_or_default(),
            kind,
            hint: hint.to_string(),
            options,
            required,
        }
    }
}

async fn declare_view(
    state: &AppState,
    p: &Page,
    f: FormState,
    action: String,
    title: String,
    version: Option<i64>,
    reason: String,
) -> Result<DeclarePage, AppError> {
    let l = p.l;
    let gate_opts: Vec<(String, String)> = gates::list(&state.db)
        .await?
        .iter()
        .map(|g| {
            (
                g.code.clone(),
                format!("{} ({}–{})", gate_name(g, l), g.opens, g.closes),
            )
        })
        .collect();
    let dir_opts = Direction::ALL
        .iter()
        .map(|d| {
            (
                d.as_str().to_string(),
                l.s(d.name_vi(), d.name_en(), d.name_zh()).to_string(),
            )
        })
        .collect();
    let id_opts = vec![
        (
            "cccd".to_string(),
            l.s(
                "Căn cước công dân",
                "Vietnamese ID card (CCCD)",
                "越南公民身份证",
            )
            .to_string(),
        ),
        (
            "passport".to_string(),
            l.s("Hộ chiếu", "Passport", "护照").to_string(),
        ),
    ];
    let colour_opts = [
        (
            "yellow",
            "Vàng (xe kinh doanh vận tải)",
            "Yellow (commercial transport)",
            "黄色（营运车辆）",
        ),
        ("white", "Trắng", "White", "白色"),
        ("blue", "Xanh", "Blue", "蓝色"),
        ("green", "Xanh lá", "Green", "绿色"),
    ]
    .iter()
    .map(|(k, vi, en, zh)| (k.to_string(), l.s(vi, en, zh).to_string()))
    .collect();
    let sections = vec![
        (
            l.s("Chuyến đi", "Trip", "行程").to_string(),
            vec![
                f.field(
                    "gate",
                    l.s("Cửa khẩu", "Gate", "口岸"),
                    "select",
                    "",
                    gate_opts,
                    true,
                ),
                f.field(
                    "direction",
                    l.s("Loại hình", "Direction", "类型"),
                    "select",
                    "",
                    dir_opts,
                    true,
                ),
                f.field(
                    "expected_arrival",
                    l.s("Dự kiến đến", "Expected arrival", "预计到达时间"),
                    "datetime-local",
                    l.s(
                        "Giờ Việt Nam, trong giờ làm việc của cửa khẩu",
                        "Vietnam time, within the gate's opening hours",
                        "越南时间，在口岸工作时间内",
                    ),
                    vec![],
                    true,
                ),
                f.field(
                    "customs_declaration",
                    l.s(
                        "Số tờ khai hải quan",
                        "Customs declaration number",
                        "海关申报单号",
                    ),
                    "text",
                    l.s(
                        "12 chữ số (VNACCS)",
                        "12 digits (VNACCS)",
                        "12位数字（VNACCS）",
                    ),
                    vec![],
                    true,
                ),
            ],
        ),
        (
            l.s("Doanh nghiệp", "Enterprise", "企业").to_string(),
            vec![
                f.field(
                    "enterprise_mst",
                    l.s("Mã số thuế", "Tax code (MST)", "税号"),
                    "text",
                    "",
                    vec![],
                    true,
                ),
                f.field(
                    "enterprise_name",
                    l.s("Tên doanh nghiệp", "Enterprise name", "企业名称"),
                    "text",
                    "",
                    vec![],
                    true,
                ),
                f.field(
                    "enterprise_phone",
                    l.s("Điện thoại", "Phone", "电话"),
                    "tel",
                    "",
                    vec![],
                    false,
                ),
            ],
        ),
        (
            l.s("Phương tiện", "Vehicle", "车辆").to_string(),
            vec![
                f.field(
                    "vehicle_plate",
                    l.s(
                        "Biển số xe tải / đầu kéo",
                        "Truck or tractor plate",
                        "货车/牵引车车牌",
                    ),
                    "text",
                    l.s(
                        "Ví dụ 12C-123.45 hoặc 桂A·12345",
                        "E.g. 12C-123.45 or 桂A·12345",
                        "例如 12C-123.45 或 桂A·12345",
                    ),
                    vec![],
                    true,
                ),
                f.field(
                    "vehicle_plate_colour",
                    l.s("Màu biển", "Plate colour", "车牌颜色"),
                    "select",
                    "",
                    colour_opts,
                    false,
                ),
                f.field(
                    "vehicle_payload_kg",
                    l.s(
                        "Tải trọng cho phép (kg)",
                        "Permitted payload (kg)",
                        "核定载质量（公斤）",
                    ),
                    "number",
                    "",
                    vec![],
                    true,
                ),
                f.field(
                    "trailer_plate",
                    l.s(
                        "Biển số rơ moóc (nếu có)",
                        "Trailer plate (if any)",
                        "挂车车牌（如有）",
                    ),
                    "text",
                    l.s("Ví dụ 12R-012.34", "E.g. 12R-012.34", "例如 12R-012.34"),
                    vec![],
                    false,
                ),
                f.field(
                    "trailer_payload_kg",
                    l.s(
                        "Tải trọng rơ moóc (kg)",
                        "Trailer payload (kg)",
                        "挂车载质量（公斤）",
                    ),
                    "number",
                    "",
                    vec![],
                    false,
                ),
            ],
        ),
        (
            l.s("Lái xe", "Driver", "司机").to_string(),
            vec![
                f.field(
                    "driver.id_kind",
                    l.s("Giấy tờ", "Document", "证件"),
                    "select",
                    "",
                    id_opts,
                    true,
                ),
                f.field(
                    "driver.id_number",
                    l.s("Số giấy tờ", "Document number", "证件号码"),
                    "text",
                    "",
                    vec![],
                    true,
                ),
                f.field(
                    "driver.full_name",
                    l.s("Họ và tên", "Full name", "姓名"),
                    "text",
                    "",
                    vec![],
                    true,
                ),
                f.field(
                    "driver.phone",
                    l.s("Điện thoại", "Phone", "电话"),
                    "tel",
                    l.s(
                        "Số nước ngoài bắt đầu bằng +",
                        "Foreign numbers start with +",
                        "外国号码以 + 开头",
                    ),
                    vec![],
                    true,
                ),
                f.field(
                    "driver.nationality",
                    l.s(
                        "Quốc tịch (VN, CN…)",
                        "Nationality (VN, CN…)",
                        "国籍（VN、CN…）",
                    ),
                    "text",
                    "",
                    vec![],
                    false,
                ),
            ],
        ),
    ];
    let lines = f
        .values
        .keys()
        .filter(|k| k.starts_with("goods["))
        .filter_map(|k| k[6..].split(']').next()?.parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1)
        .max(2);
    let goods = (0..lines)
        .map(|i| {
            let k = |x: &str| format!("goods[{i}].{x}");
            vec![
                f.field(
                    &k("hs_code"),
                    l.s("Mã HS (8 số)", "HS code (8 digits)", "HS编码（8位）"),
                    "text",
                    l.s(
                        "Gõ tên hàng để tìm mã",
                        "Type the goods' name to find the code",
                        "输入货物名称查找编码",
                    ),
                    vec![],
                    i == 0,
                ),
                f.field(
                    &k("description"),
                    l.s("Mô tả", "Description", "描述"),
                    "text",
                    "",
                    vec![],
                    false,
                ),
                f.field(
                    &k("quantity"),
                    l.s("Số lượng", "Quantity", "数量"),
                    "number",
                    "",
                    vec![],
                    i == 0,
                ),
                f.field(
                    &k("unit"),
                    l.s("Đơn vị", "Unit", "单位"),
                    "text",
                    "kg, thùng, kiện…",
                    vec![],
                    i == 0,
                ),
                f.field(
                    &k("weight_kg"),
                    l.s("Khối lượng (kg)", "Weight (kg)", "重量（公斤）"),
                    "number",
                    "",
                    vec![],
                    i == 0,
                ),
            ]
        })
        .collect();
    Ok(DeclarePage {
        c: p.c.clone_chrome(),
        l,
        action,
        title,
        sections,
        goods,
        summary: f.summary,
        general: f.general,
        version,
        reason_error: f.errors.get("reason").cloned().unwrap_or_default(),
        reason,
    })
}

async fn declare_form(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, PageError> {
    let p = page(&ctx, &headers, &q);
    let mut values = Values::new();
    values.insert("vehicle_plate_colour".into(), "yellow".into());
    values.insert("direction".into(), "export".into());
    values.insert("gate".into(), "HN".into());
    let title =
        p.l.s(
            "Khai báo chuyến hàng qua cửa khẩu",
            "Declare a border crossing",
            "申报过境行程",
        )
        .to_string();
    let view = declare_view(
        &state,
        &p,
        FormState::new(values),
        "/cua-khau/khai-bao".into(),
        title,
        None,
        String::new(),
    )
    .await
    .map_err(|e| err(&ctx, &p, e))?;
    Ok(finish(&p, render(&view)))
}

async fn declare_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let p = page(&ctx, &headers, &LangQuery::default());
    let input = input_of(&form);
    let user = ctx
        .principal()
        .map_err(|e| err(&ctx, &p, e))?
        .user_id
        .clone();
    match declaration::declare(&state.db, &ctx.audit(), &user, &input).await {
        Ok(trip) => Ok(Redirect::to(&format!("/cua-khau/chuyen/{}", trip.code)).into_response()),
        Err(e) if e.status() == 422 || e.status() == 409 => {
            let f = FormState::new(form.into_iter().collect()).with_error(&e, p.l);
            let title =
                p.l.s(
                    "Khai báo chuyến hàng qua cửa khẩu",
                    "Declare a border crossing",
                    "申报过境行程",
                )
                .to_string();
            let view = declare_view(
                &state,
                &p,
                f,
                "/cua-khau/khai-bao".into(),
                title,
                None,
                String::new(),
            )
            .await
            .map_err(|e| err(&ctx, &p, e))?;
            let mut resp = render(&view);
            *resp.status_mut() = axum::http::StatusCode::from_u16(e.status())
                .unwrap_or(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
            Ok(resp)
        }
        Err(e) => Err(err(&ctx, &p, e)),
    }
}

/// The declaration as the form shows it, from a stored trip.
async fn input_from_trip(state: &AppState, t: &Trip) -> Result<DeclarationInput, AppError> {
    use tinhso_store::Row;
    let row = sqlx::query(
        "SELECT d.id_kind, d.id_number, d.nationality, v.plate_colour, v.payload_kg, \
         e.phone, tr.payload_kg FROM border_trips t \
         JOIN border_drivers d ON d.id = t.driver_id \
         JOIN border_vehicles v ON v.plate = t.vehicle_plate \
         JOIN border_enterprises e ON e.mst = t.enterprise_mst \
         LEFT JOIN border_vehicles tr ON tr.plate = t.trailer_plate WHERE t.id = $1",
    )
    .bind(&t.id)
    .fetch_one(state.db.pool())
    .await
    .map_err(|e| AppError::from(tinhso_store::DbError::from(e)))?;
    let g = |e| AppError::from(tinhso_store::DbError::from(e));
    Ok(DeclarationInput {
        enterprise_mst: t.enterprise_mst.clone(),
        enterprise_name: t.enterprise_name.clone(),
        enterprise_phone: row.try_get(5).map_err(g)?,
        gate: t.gate.clone(),
        direction: t.direction.clone(),
        expected_arrival: declaration::local(t.expected_arrival)
            .format("%Y-%m-%dT%H:%M")
            .to_string(),
        vehicle_plate: t.vehicle_plate.clone(),
        vehicle_plate_colour: row.try_get(3).map_err(g)?,
        vehicle_payload_kg: row.try_get(4).map_err(g)?,
        trailer_plate: t.trailer_plate.clone().unwrap_or_default(),
        trailer_payload_kg: row.try_get::<Option<i64>, _>(6).map_err(g)?.unwrap_or(0),
        driver: DriverInput {
            id_kind: row.try_get(0).map_err(g)?,
            id_number: row.try_get(1).map_err(g)?,
            full_name: t.driver_name.clone(),
            phone: t.driver_phone.clone(),
            nationality: row.try_get(2).map_err(g)?,
        },
        customs_declaration: t.customs_declaration.clone(),
        goods: t
            .goods
            .iter()
            .map(|x| GoodsLineInput {
                hs_code: x.hs_code.clone(),
                description: x.description.clone(),
                quantity: x.quantity,
                unit: x.unit.clone(),
                weight_kg: x.weight_kg,
            })
            .collect(),
    })
}

async fn correct_form(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, PageError> {
    let p = page(&ctx, &headers, &q);
    let trip = own_trip(&state, &ctx, &code)
        .await
        .map_err(|e| err(&ctx, &p, e))?;
    let input = input_from_trip(&state, &trip)
        .await
        .map_err(|e| err(&ctx, &p, e))?;
    let title = format!(
        "{} {}",
        p.l.s("Sửa tờ khai", "Correct declaration", "更正申报"),
        trip.code
    );
    let view = declare_view(
        &state,
        &p,
        FormState::new(values_of(&input)),
        format!("/cua-khau/chuyen/{}/sua", trip.code),
        title,
        Some(trip.version),
        String::new(),
    )
    .await
    .map_err(|e| err(&ctx, &p, e))?;
    Ok(finish(&p, render(&view)))
}

async fn correct_post(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let p = page(&ctx, &headers, &LangQuery::default());
    let trip = own_trip(&state, &ctx, &code)
        .await
        .map_err(|e| err(&ctx, &p, e))?;
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let version = get("version").parse::<i64>().unwrap_or(trip.version);
    let reason = get("reason");
    let input = input_of(&form);
    let user = ctx
        .principal()
        .map_err(|e| err(&ctx, &p, e))?
        .user_id
        .clone();
    match declaration::correct(
        &state.db,
        &ctx.audit(),
        &declaration::Correction {
            user_id: &user,
            code: &trip.code,
            version,
            input: &input,
            reason: &reason,
        },
    )
    .await
    {
        Ok(t) => {
            queues.invalidate();
            Ok(Redirect::to(&format!("/cua-khau/chuyen/{}?sua=1", t.code)).into_response())
        }
        Err(e) if e.status() == 422 || e.status() == 409 => {
            let f = FormState::new(form.iter().cloned().collect()).with_error(&e, p.l);
            let title = format!(
                "{} {}",
                p.l.s("Sửa tờ khai", "Correct declaration", "更正申报"),
                trip.code
            );
            let view = declare_view(
                &state,
                &p,
                f,
                format!("/cua-khau/chuyen/{}/sua", trip.code),
                title,
                Some(version),
                reason,
            )
            .await
            .map_err(|e| err(&ctx, &p, e))?;
            let mut resp = render(&view);
            *resp.status_mut() = axum::http::StatusCode::from_u16(e.status())
                .unwrap_or(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
            Ok(resp)
        }
        Err(e) => Err(err(&ctx, &p, e)),
    }
}

// ------------------------------------------------------------------ my trips

#[derive(Template)]
#[template(path = "border_trips.html")]
struct TripsPage {
    c: Chrome,
    l: Tongue,
    trips: Vec<TripRow>,
}

struct TripRow {
    code: String,
    gate: String,
    direction: String,
    plate: String,
    arrival: String,
    stage: String,
}

async fn my_trips(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, PageError> {
    let p = page(&ctx, &headers, &q);
    let user = ctx
        .principal()
        .map_err(|e| err(&ctx, &p, e))?
        .user_id
        .clone();
    let all = gates::list(&state.db).await.map_err(|e| err(&ctx, &p, e))?;
    let trips = declaration::list_mine(&state.db, &user, 100)
        .await
        .map_err(|e| err(&ctx, &p, e))?
        .into_iter()
        .map(|t| TripRow {
            gate: all
                .iter()
                .find(|g| g.code == t.gate)
                .map(|g| gate_name(g, p.l))
                .unwrap_or_else(|| t.gate.clone()),
            direction: direction_name(&t.direction, p.l),
            plate: t.vehicle_plate.clone(),
            arrival: when(t.expected_arrival),
            stage: stage_name(&t.stage, p.l),
            code: t.code,
        })
        .collect();
    Ok(finish(
        &p,
        render(&TripsPage {
            c: p.c.clone_chrome(),
            l: p.l,
            trips,
        }),
    ))
}

// ------------------------------------------------------------------ trip page

#[derive(Template)]
#[template(path = "border_trip.html")]
struct TripPage {
    c: Chrome,
    l: Tongue,
    trip: Trip,
    owner: bool,
    gate: String,
    direction: String,
    arrival: String,
    stage: String,
    stages: Vec<(String, String, String)>,
    qr_svg: String,
    pass_text: String,
    pass_until: String,
    booking: Option<String>,
    queue: Option<(i64, i64, String)>,
    slot_date: String,
    slot_hours: Vec<(u32, String, i64)>,
    versions: Vec<VersionRow>,
    corrected: bool,
    booked: bool,
    slot_error: String,
    fee: Option<FeeView>,
}

/// The fee box of the trip page.
struct FeeView {
    amount: String,
    /// Số tiền bằng chữ (the fee in words).
    amount_words: String,
    explanation: String,
    confirmed: bool,
    paid: bool,
    /// Paid, then paid back (hoàn phí).
    refunded: bool,
    /// A refund opened for the fee: (amount, state).
    refund: Option<(String, String)>,
    receipt_no: Option<String>,
    qr_svg: String,
    account: String,
}

struct VersionRow {
    version: i64,
    at: String,
    reason: String,
    changes: Vec<(String, String, String)>,
}

fn version_rows(vs: Vec<Version>) -> Vec<VersionRow> {
    vs.into_iter()
        .rev()
        .map(|v| VersionRow {
            version: v.version,
            at: when(v.changed_at),
            reason: v.reason,
            changes: v.changes.into_iter().map(|(k, (b, a))| (k, b, a)).collect(),
        })
        .collect()
}

#[derive(Deserialize, Default)]
struct TripQuery {
    lang: Option<String>,
    sua: Option<String>,
    dat: Option<String>,
    ngay: Option<String>,
}

async fn trip_view(
    state: &AppState,
    queues: &Queues,
    ctx: &ReqCtx,
    p: &Page,
    code: &str,
    q: &TripQuery,
    slot_error: String,
) -> Result<TripPage, AppError> {
    let l = p.l;
    let (trip, access) = trip_for(state, ctx, code).await?;
    let gate = gates::get(&state.db, &trip.gate).await?;
    let stages = declaration::stages(&state.db, &trip.id)
        .await?
        .into_iter()
        .map(|(s, at, src)| (stage_name(&s, l), when(at), src))
        .collect();
    let (qr_svg, pass_text, pass_until) = if access == TripAccess::Owner && !trip.stage().is_over()
    {
        let ps = pass::issue(&state.db, &trip, trip.created_at / 1_000_000).await?;
        (
            tinhso_pdf::qr_svg(&ps.text, &format!("QR {}", trip.code))
                .map_err(AppError::internal)?,
            ps.text,
            when(ps.payload.u * 1_000_000),
        )
    } else {
        (String::new(), String::new(), String::new())
    };
    let booking = slots::booking::active_booking(&state.db, &trip.id).await?;
    let queue = queues
        .position(&state.db, &trip.id, now_micros())
        .await?
        .map(|qp| {
            (
                qp.entry.position,
                qp.queue_length,
                qp.entry.eta.map(when).unwrap_or_else(|| "—".into()),
            )
        });
    let slot_date = q.ngay.clone().unwrap_or_else(|| {
        declaration::local(trip.expected_arrival)
            .format("%Y-%m-%d")
            .to_string()
    });
    let mut slot_hours = Vec::new();
    if access == TripAccess::Owner && !trip.stage().is_over() {
        if let Ok(day) = super::api::day_of_date(&slot_date) {
            if let Ok(plan) = slots::capacity::day_plan(
                &state.db,
                queues.policy(),
                &trip.gate,
                &trip.direction,
                day,
                now_micros(),
            )
            .await
            {
                for h in plan.hours {
                    let hour = declaration::local(h.hour_start).format("%H").to_string();
                    let free = if trip.perishable {
                        h.available_perishable
                    } else {
                        h.available
                    };
                    slot_hours.push((hour.parse().unwrap_or(0), format!("{hour}:00"), free));
                }
            }
        }
    }
    let fee = match crate::fee_payment::current(&state.db, &trip.code).await? {
        None => None,
        Some(base) => {
            // A top-up still due (thu bổ sung: the paid fee was priced higher since) is what
            // the box asks for.
            let topup = crate::fee_payment::topups(&state.db, &trip.code)
                .await?
                .into_iter()
                .find(|t| t.status == "due");
            let a = topup.as_ref().unwrap_or(&base);
            let payments = crate::fee_payment::payments_for_trip(&state.db, &trip.code).await?;
            let receipt_no = payments.iter().find_map(|x| x.receipt_no.clone());
            let pending = payments.iter().find(|x| x.status == "pending");
            let refund = crate::fee_refund::of_trip(&state.db, &trip.code)
                .await?
                .map(|r| {
                    let (vi, en) = crate::fee_refund::status_name(&r.status);
                    let state = match l {
                        Tongue::Vi => vi.to_string(),
                        Tongue::En => en.to_string(),
                        Tongue::Zh => match r.status.as_str() {
                            "requested" => "已申请".to_string(),
                            "approved" => "已批准".to_string(),
                            _ => "已退还".to_string(),
                        },
                    };
                    (tinhso_kernel::money::Vnd(r.amount_vnd).to_string(), state)
                });
            Some(FeeView {
                amount: tinhso_kernel::money::Vnd(a.amount_vnd).to_string(),
                amount_words: tinhso_kernel::money::Vnd(a.amount_vnd).in_words(),
                explanation: match (l, &topup) {
                    (Tongue::Vi, None) => a.quote.explanation_vi.clone(),
                    (_, None) => a.quote.explanation_en.clone(),
                    (Tongue::Vi, Some(_)) => {
                        format!("Thu bổ sung phần chênh lệch: {}", a.quote.explanation_vi)
                    }
                    (_, Some(_)) => format!("Top-up of the difference: {}", a.quote.explanation_en),
                },
                confirmed: a.confirmed,
                paid: a.status == "paid",
                refunded: a.status == "refunded",
                refund,
                receipt_no,
                qr_svg: match pending {
                    Some(x) if access == TripAccess::Owner => {
                        tinhso_pdf::qr_svg(&x.qr_payload, "VietQR").map_err(AppError::internal)?
                    }
                    _ => String::new(),
                },
                account: pending
                    .map(|x| format!("{} · {} · {}", x.bank_name, x.account, x.account_name))
                    .unwrap_or_default(),
            })
        }
    };
    Ok(TripPage {
        fee,
        c: p.c.clone_chrome(),
        l,
        owner: access == TripAccess::Owner,
        gate: gate
            .as_ref()
            .map(|g| gate_name(g, l))
            .unwrap_or_else(|| trip.gate.clone()),
        direction: direction_name(&trip.direction, l),
        arrival: when(trip.expected_arrival),
        stage: stage_name(&trip.stage, l),
        stages,
        qr_svg,
        pass_text,
        pass_until,
        booking: booking.map(|b| b.local),
        queue,
        slot_date,
        slot_hours,
        versions: version_rows(declaration::versions(&state.db, &trip.id).await?),
        corrected: q.sua.is_some(),
        booked: q.dat.is_some(),
        slot_error,
        trip,
    })
}

async fn trip_page(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<TripQuery>,
) -> Result<Response, PageError> {
    let p = page(
        &ctx,
        &headers,
        &LangQuery {
            lang: q.lang.clone(),
        },
    );
    let view = trip_view(&state, &queues, &ctx, &p, &code, &q, String::new())
        .await
        .map_err(|e| err(&ctx, &p, e))?;
    Ok(finish(&p, render(&view)))
}

#[derive(Deserialize)]
struct BookForm {
    date: String,
    hour: String,
}

async fn book_post(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Form(f): Form<BookForm>,
) -> Result<Response, PageError> {
    let p = page(&ctx, &headers, &LangQuery::default());
    let trip = own_trip(&state, &ctx, &code)
        .await
        .map_err(|e| err(&ctx, &p, e))?;
    let hour = f.hour.trim().parse::<u32>().unwrap_or(99);
    match book_slot(&state, &queues, &ctx, &trip, &f.date, hour).await {
        Ok(_) => Ok(Redirect::to(&format!("/cua-khau/chuyen/{}?dat=1", trip.code)).into_response()),
        Err(e) if matches!(e.status(), 409 | 422) => {
            let msg = match e.fields.first() {
                Some(f) => p.l.field_message(f),
                None => p.l.error_detail(&e),
            };
            let q = TripQuery {
                ngay: Some(f.date.clone()),
                ..Default::default()
            };
            let view = trip_view(&state, &queues, &ctx, &p, &code, &q, msg)
                .await
                .map_err(|e| err(&ctx, &p, e))?;
            let mut resp = render(&view);
            *resp.status_mut() = axum::http::StatusCode::from_u16(e.status())
                .unwrap_or(axum::http::StatusCode::CONFLICT);
            Ok(resp)
        }
        Err(e) => Err(err(&ctx, &p, e)),
    }
}

/// Assess the fee (when not yet assessed) and ask for its VietQR payment request.
async fn fee_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let p = page(&ctx, &headers, &LangQuery::default());
    let trip = own_trip(&state, &ctx, &code)
        .await
        .map_err(|e| err(&ctx, &p, e))?;
    let run = async {
        if crate::fee_payment::current(&state.db, &trip.code)
            .await?
            .is_none()
        {
            let input = crate::fee_payment::AssessInput {
                trip_code: trip.code.clone(),
                ..Default::default()
            };
            crate::fee_payment::assess(&state.db, &ctx.audit(), &input).await?;
        }
        crate::fee_payment::request_payment(&state.db, &ctx.audit(), &trip.code).await
    };
    run.await.map_err(|e| err(&ctx, &p, e))?;
    Ok(Redirect::to(&format!("/cua-khau/chuyen/{}#phi", trip.code)).into_response())
}

// ------------------------------------------------------------------ offline pass check

#[derive(Template)]
#[template(path = "border_check.html")]
struct CheckPage {
    c: Chrome,
    l: Tongue,
    keys_json: String,
}

async fn check_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, PageError> {
    let p = page(&ctx, &headers, &q);
    let keys = pass::published_keys(&state.db)
        .await
        .map_err(|e| err(&ctx, &p, e))?;
    let keys_json = serde_json::to_string(&keys)
        .map_err(|e| err(&ctx, &p, AppError::internal(e)))?
        .replace('<', "\\u003c");
    let mut resp = render(&CheckPage {
        c: p.c.clone_chrome(),
        l: p.l,
        keys_json,
    });
    // The officer scans the QR code with the phone's camera on this page only.
    resp.headers_mut().insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"),
    );
    Ok(finish(&p, resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        /// Fuzzing the form reader: any field names and values give a declaration (which the
        /// checks then refuse or accept), never a panic.
        #[test]
        fn any_form_reads_without_panicking(pairs in proptest::collection::vec(
            ("(goods\\[[0-9]{1,3}\\]\\.(hs_code|quantity|unit|weight_kg|description)|vehicle_payload_kg|trailer_payload_kg|gate|\\PC{0,12})", "\\PC{0,40}"),
            0..40,
        )) {
            let input = input_of(&pairs);
            proptest::prop_assert!(input.goods.len() <= declaration::MAX_GOODS_LINES + 5);
        }
    }

    #[test]
    fn the_form_reads_goods_lines_and_numbers() {
        let form: Vec<(String, String)> = [
            ("gate", "HN"),
            ("vehicle_payload_kg", "15.000"),
            ("goods[0].hs_code", "0810.60.00"),
            ("goods[0].quantity", "12,5"),
            ("goods[0].weight_kg", "abc"),
            ("goods[2].unit", "kg"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let d = input_of(&form);
        assert_eq!(d.vehicle_payload_kg, 15_000, "thousands separators");
        assert_eq!(d.goods.len(), 2, "the blank line 1 is skipped");
        assert_eq!(d.goods[0].quantity, 12.5);
        assert_eq!(
            d.goods[0].weight_kg, -1,
            "unparsable: refused later by the checks"
        );
        assert_eq!(d.goods[1].unit, "kg");
    }
}
