//! The citizen portal (cổng dịch vụ công): the catalogue, a procedure, the e-form and its
//! submission, the receipt (form 01), tracking with the applicant's actions, and the signed-in
//! citizen's own dossiers.

use super::view::{self, FieldView, FormErrors};
use crate::catalogue::{self, Procedure, Versioned};
use crate::dossier::{
    self, ActingAs, Applicant, Attachment, Channel, Dossier, Submission, TransitionInput, Upload,
};
use crate::results::Issuing;
use crate::status::Status;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use tinhso_http::error::PageError;
use tinhso_http::i18n::Lang;
use tinhso_http::layout::{local_time, render, url_encode, Chrome};
use tinhso_http::{AppState, ReqCtx};
use tinhso_kernel::{text, AppError, ErrorCode};
use tinhso_store::DbError;

/// Every active procedure's current definition, by code (one query).
pub(super) async fn current_definitions(
    state: &AppState,
) -> Result<HashMap<String, Procedure>, AppError> {
    let rows = sqlx::query(
        "SELECT p.code, p.definition FROM procedure_current c \
         JOIN procedures p ON p.code = c.code AND p.version = c.version",
    )
    .fetch_all(state.db.pool())
    .await
    .map_err(DbError::from)?;
    let mut out = HashMap::new();
    for r in rows {
        let code: String = r.try_get(0).map_err(DbError::from)?;
        let def: String = r.try_get(1).map_err(DbError::from)?;
        let p: Procedure = serde_json::from_str(&def)
            .map_err(|e| AppError::internal(format!("stored procedure {code}: {e}")))?;
        out.insert(code, p);
    }
    Ok(out)
}

// ---------------------------------------------------------------- catalogue

pub struct CatalogueRow {
    pub code: String,
    pub name: String,
    pub sector: String,
    pub level: String,
    pub online: String,
    pub fully_online: bool,
    pub time_limit: String,
    pub fee: String,
    pub verified: bool,
}

#[derive(Template)]
#[template(path = "catalogue.html")]
struct CataloguePage {
    c: Chrome,
    q: String,
    level: String,
    sector: String,
    sectors: Vec<String>,
    rows: Vec<CatalogueRow>,
}

#[derive(Deserialize)]
pub struct CatalogueQuery {
    q: Option<String>,
    cap: Option<String>,
    linh_vuc: Option<String>,
}

pub async fn catalogue_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<CatalogueQuery>,
) -> Result<Response, PageError> {
    let query = q.q.unwrap_or_default();
    let level = q
        .cap
        .filter(|l| l == "xa" || l == "tinh")
        .unwrap_or_default();
    let sector = q.linh_vuc.unwrap_or_default();
    let hits = catalogue::search(
        &state.db,
        &query,
        Some(level.as_str()).filter(|s| !s.is_empty()),
        Some(sector.as_str()).filter(|s| !s.is_empty()),
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    let defs = current_definitions(&state)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let mut sectors: Vec<String> = catalogue::search(&state.db, "", None, None)
        .await
        .map_err(|e| ctx.page_err(e))?
        .into_iter()
        .map(|s| s.sector)
        .collect();
    text::sort_vi(&mut sectors);
    sectors.dedup();
    let lang = ctx.lang;
    let rows = hits
        .into_iter()
        .filter_map(|s| {
            let p = defs.get(&s.code)?;
            Some(CatalogueRow {
                code: s.code.clone(),
                name: s.name,
                sector: s.sector,
                level: view::level_label(&s.level, lang),
                online: view::online_label(&s.online_level, lang),
                fully_online: p.fully_online(),
                time_limit: view::time_limit_label(p, lang),
                fee: fee_summary(p, lang),
                verified: p.code_verified,
            })
        })
        .collect();
    Ok(render(&CataloguePage {
        c: Chrome::of(&ctx),
        q: query,
        level,
        sector,
        sectors,
        rows,
    }))
}

fn fee_summary(p: &Procedure, lang: Lang) -> String {
    if p.fees.is_empty() || p.total_fee() == 0 {
        lang.s("Không thu phí", "No fee").to_string()
    } else {
        view::vnd(p.total_fee())
    }
}

// ---------------------------------------------------------------- procedure

struct FeeRow {
    name: String,
    amount: String,
    note: String,
}

struct ComponentRow {
    name: String,
    form: String,
    required: bool,
    reusable: String,
    note: String,
}

struct StepRow {
    name: String,
    role: String,
    share: u32,
}

#[derive(Template)]
#[template(path = "procedure.html")]
struct ProcedurePage {
    c: Chrome,
    p: Procedure,
    version: i64,
    active: bool,
    agency: String,
    level: String,
    online: String,
    time_limit: String,
    fees: Vec<FeeRow>,
    total_fee: String,
    components: Vec<ComponentRow>,
    steps: Vec<StepRow>,
}

/// The agency that handles a procedure, as the applicant should read it.
fn agency_text(p: &Procedure, lang: Lang) -> String {
    match (&p.agency.kind, &p.agency.name) {
        (Some(k), _) if k == "ubnd_xa" => lang
            .s(
                "Ủy ban nhân dân xã, phường nơi nộp hồ sơ",
                "The People's Committee of the commune or ward where the dossier is filed",
            )
            .to_string(),
        (_, Some(name)) => name.clone(),
        _ => "—".into(),
    }
}

async fn active_procedure(state: &AppState, code: &str) -> Result<Versioned, AppError> {
    catalogue::current(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)
}

pub async fn procedure_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let v = active_procedure(&state, &code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let lang = ctx.lang;
    let p = v.procedure;
    Ok(render(&ProcedurePage {
        c: Chrome::of(&ctx),
        version: v.version,
        active: v.active,
        agency: agency_text(&p, lang),
        level: view::level_label(&p.level, lang),
        online: view::online_label(&p.online_level, lang),
        time_limit: view::time_limit_label(&p, lang),
        fees: p
            .fees
            .iter()
            .map(|f| FeeRow {
                name: f.name.clone(),
                amount: view::vnd(f.amount_vnd),
                note: f.note.clone().unwrap_or_default(),
            })
            .collect(),
        total_fee: fee_summary(&p, lang),
        components: p
            .components
            .iter()
            .map(|c| ComponentRow {
                name: c.name.clone(),
                form: view::component_form_label(&c.form, lang),
                required: c.required,
                reusable: c.reusable.clone().unwrap_or_default(),
                note: c.note.clone().unwrap_or_default(),
            })
            .collect(),
        steps: p
            .workflow
            .iter()
            .map(|s| StepRow {
                name: s.name.clone(),
                role: view::role_label(&s.role, lang),
                share: s.share_percent,
            })
            .collect(),
        p,
    }))
}

// ---------------------------------------------------------------- submission

/// The submission form (portal and counter share it).
#[derive(Template)]
#[template(path = "submit.html")]
pub(super) struct SubmitPage {
    pub c: Chrome,
    pub p: Procedure,
    /// Where the form posts.
    pub action: String,
    /// Counter entry by an officer (channel select, no account prefill).
    pub counter: bool,
    pub idem: String,
    pub errors: FormErrors,
    pub applicant: Vec<FieldView>,
    pub commune: Option<FieldView>,
    pub channel: Option<FieldView>,
    pub fields: Vec<FieldView>,
    pub agency: String,
    pub time_limit: String,
    pub fee: String,
    /// One file input per component the applicant may upload (the portal's form only).
    pub uploads: Vec<FileInput>,
    /// The form had errors: chosen files must be chosen again.
    pub reselect: bool,
}

/// What the applicant typed, by input name.
#[derive(Default, Clone)]
pub(super) struct Typed {
    pub kind: String,
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub email: String,
    pub commune: String,
    pub channel: String,
    pub form: BTreeMap<String, String>,
}

impl Typed {
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        Typed {
            kind: view::form_get(pairs, "applicant.kind"),
            name: view::form_get(pairs, "applicant.name"),
            id_number: view::form_get(pairs, "applicant.id_number"),
            phone: view::form_get(pairs, "applicant.phone"),
            email: view::form_get(pairs, "applicant.email"),
            commune: view::form_get(pairs, "commune_code"),
            channel: view::form_get(pairs, "channel"),
            form: view::form_values(pairs),
        }
    }

    pub fn submission(&self, p: &Procedure, channel: Channel, idem: &str) -> Submission {
        Submission {
            procedure_code: p.code.clone(),
            commune_code: (p.agency.kind.as_deref() == Some("ubnd_xa"))
                .then(|| self.commune.trim().to_string())
                .filter(|c| !c.is_empty()),
            applicant: Applicant {
                kind: self.kind.trim().parse().unwrap_or(-1),
                name: self.name.clone(),
                id_number: self.id_number.clone(),
                phone: self.phone.clone(),
                email: self.email.clone(),
            },
            form: self.form.clone(),
            channel,
            idempotency_key: Some(idem.to_string()).filter(|k| !k.is_empty()),
        }
    }
}

pub(super) fn submit_view(
    ctx: &ReqCtx,
    p: Procedure,
    action: String,
    counter: bool,
    idem: String,
    typed: &Typed,
    errors: FormErrors,
) -> SubmitPage {
    let lang = ctx.lang;
    let kinds = vec![
        ("0".to_string(), view::applicant_kind_label(0, lang)),
        ("1".to_string(), view::applicant_kind_label(1, lang)),
        ("2".to_string(), view::applicant_kind_label(2, lang)),
    ];
    let applicant = vec![
        FieldView::simple(
            "applicant.kind",
            lang.s("Người nộp là", "The applicant is"),
            "select",
            true,
            &typed.kind,
            "",
            &errors,
            "off",
        )
        .with_options(kinds),
        FieldView::simple(
            "applicant.name",
            lang.s(
                "Họ và tên (hoặc tên doanh nghiệp, hộ kinh doanh)",
                "Full name (or name of the enterprise or household business)",
            ),
            "text",
            true,
            &typed.name,
            "",
            &errors,
            "name",
        ),
        FieldView::simple(
            "applicant.id_number",
            lang.s(
                "Số CCCD (công dân) hoặc mã số thuế (doanh nghiệp, hộ kinh doanh)",
                "Citizen ID number (citizens) or tax code (enterprises, household businesses)",
            ),
            "text",
            true,
            &typed.id_number,
            lang.s(
                "CCCD gồm 12 chữ số; mã số thuế gồm 10 chữ số hoặc 10 chữ số, gạch ngang và 3 chữ số.",
                "A citizen ID has 12 digits; a tax code 10 digits, or 10 digits, a dash and 3 digits.",
            ),
            &errors,
            "off",
        )
        .with_maxlength(14),
        FieldView::simple(
            "applicant.phone",
            lang.s("Số điện thoại", "Phone number"),
            "phone",
            true,
            &typed.phone,
            "",
            &errors,
            "tel",
        ),
        FieldView::simple(
            "applicant.email",
            lang.s("Thư điện tử", "E-mail"),
            "email",
            false,
            &typed.email,
            lang.s(
                "Không bắt buộc; dùng để nhận thông báo về hồ sơ.",
                "Optional; used to send you news of the dossier.",
            ),
            &errors,
            "email",
        ),
    ];
    let commune = (p.agency.kind.as_deref() == Some("ubnd_xa")).then(|| {
        FieldView::simple(
            "commune_code",
            lang.s(
                "Nộp hồ sơ tại UBND xã, phường",
                "File the dossier with the People's Committee of",
            ),
            "admin_unit",
            true,
            &typed.commune,
            lang.s(
                "Xã, phường nơi cư trú hoặc nơi có thẩm quyền giải quyết.",
                "The commune or ward where you live, or which is competent.",
            ),
            &errors,
            "off",
        )
        .with_options(view::commune_options())
    });
    let channel = counter.then(|| {
        FieldView::simple(
            "channel",
            lang.s("Kênh tiếp nhận", "Channel"),
            "select",
            true,
            if typed.channel.is_empty() {
                "in_person"
            } else {
                &typed.channel
            },
            "",
            &errors,
            "off",
        )
        .with_options(vec![
            ("in_person".into(), view::channel_label(1, lang)),
            ("post".into(), view::channel_label(3, lang)),
        ])
    });
    let fields = view::eform_fields(&p.eform, &typed.form, &errors);
    // The portal's form carries files (multipart), so its CSRF token rides on the action URL
    // (see `tinhso_http::context`); the counter's form stays urlencoded.
    let (action, uploads) = if counter {
        (action, Vec::new())
    } else {
        (
            format!("{action}?csrf={}", url_encode(&ctx.csrf)),
            file_inputs(&p, lang, &errors, true),
        )
    };
    let reselect =
        !uploads.is_empty() && (!errors.summary.is_empty() || !errors.general.is_empty());
    let mut errors = errors;
    errors.order_by(
        channel
            .iter()
            .chain(applicant.iter())
            .chain(commune.iter())
            .chain(fields.iter()),
    );
    SubmitPage {
        c: Chrome::of(ctx),
        agency: agency_text(&p, lang),
        time_limit: view::time_limit_label(&p, lang),
        fee: fee_summary(&p, lang),
        p,
        action,
        counter,
        idem,
        errors,
        applicant,
        commune,
        channel,
        fields,
        uploads,
        reselect,
    }
}

// ---------------------------------------------------------------- attachments

/// A file input for one component (`files.<component id>`).
pub(super) struct FileInput {
    /// The component's id (`reuse.<id>` names the data-store choice).
    pub component: String,
    pub name: String,
    pub id: String,
    pub label: String,
    pub required: bool,
    pub note: String,
    pub error: String,
    pub describedby: String,
    /// Papers of the signed-in applicant's data store that can stand in for an upload
    /// (id, title); empty when not signed in or nothing is stored.
    pub reuse: Vec<(String, String)>,
    /// The paper picked before the form came back with errors.
    pub reuse_selected: String,
}

/// The signed-in applicant's data store as choices for the file inputs (Decree 45/2020:
/// papers already given are not asked for again).
async fn reuse_choices(state: &AppState, ctx: &ReqCtx) -> Result<Vec<(String, String)>, AppError> {
    let Some(p) = ctx.principal.as_ref() else {
        return Ok(Vec::new());
    };
    Ok(crate::results::personal_documents(&state.db, &p.user_id)
        .await?
        .into_iter()
        .map(|d| {
            let from = d
                .source_dossier
                .map(|c| format!(" (hồ sơ {c})"))
                .unwrap_or_default();
            (d.id, format!("{}{from}", d.title))
        })
        .collect())
}

/// Offer the data store on every file input, keeping what was picked.
fn offer_reuse(
    uploads: &mut [FileInput],
    choices: &[(String, String)],
    pairs: &[(String, String)],
) {
    for u in uploads {
        u.reuse = choices.to_vec();
        u.reuse_selected = view::form_get(pairs, &format!("reuse.{}", u.component));
    }
}

/// Papers picked from the data store, read back as uploads of their components. A pick that
/// is not the applicant's own is a field error, not a silent skip.
async fn reused_uploads(
    state: &AppState,
    ctx: &ReqCtx,
    pairs: &[(String, String)],
) -> Result<Vec<Upload>, AppError> {
    let picks: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("reuse.")?, v.trim())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if picks.is_empty() {
        return Ok(Vec::new());
    }
    let docs = match ctx.principal.as_ref() {
        Some(p) => crate::results::personal_documents(&state.db, &p.user_id).await?,
        None => Vec::new(),
    };
    let mut errs = tinhso_kernel::FieldErrors::new();
    let mut out = Vec::new();
    for (component, id) in picks {
        match docs.iter().find(|d| d.id == id) {
            Some(d) => {
                let ext = match d.media_type.as_str() {
                    "image/jpeg" => "jpg",
                    "image/png" => "png",
                    _ => "pdf",
                };
                out.push(Upload {
                    component_id: component.to_string(),
                    file_name: format!("{}.{ext}", d.title),
                    bytes: crate::results::document_bytes(&state.db, &state.files, d).await?,
                });
            }
            None => errs.push(
                &dossier::file_field(component),
                tinhso_kernel::Invalid::new(
                    "reuse_unknown",
                    "Giấy tờ đã chọn không có trong kho dữ liệu của bạn",
                    "The paper chosen is not in your data store",
                ),
            ),
        }
    }
    errs.into_result()?;
    Ok(out)
}

/// File inputs for the components an applicant may upload: every component but the
/// declaration itself (`electronic`, which is the e-form). Required only online and only for
/// the copies [`dossier::upload_required`] names; an original is shown at the counter.
pub(super) fn file_inputs(
    p: &Procedure,
    lang: Lang,
    errors: &FormErrors,
    at_submission: bool,
) -> Vec<FileInput> {
    p.components
        .iter()
        .filter(|c| c.form != "electronic")
        .map(|c| {
            let name = dossier::file_field(&c.id);
            let id = view::input_id(&name);
            let error = errors.get(&name);
            let required = at_submission && dossier::upload_required(c);
            let mut note = view::component_form_label(&c.form, lang);
            if c.form == "original" {
                note.push_str(lang.s(
                    ": xuất trình bản chính khi nhận kết quả; có thể đính kèm bản chụp.",
                    ": show the original when collecting the result; a scan may be attached.",
                ));
            } else {
                note.push_str(lang.s(
                    ": đính kèm bản chụp hoặc bản điện tử.",
                    ": attach a scan or an electronic copy.",
                ));
            }
            if let Some(n) = c.note.as_deref().filter(|n| !n.is_empty()) {
                note.push(' ');
                note.push_str(n);
            }
            let describedby = if error.is_empty() {
                format!("{id}-help")
            } else {
                format!("{id}-help {id}-err")
            };
            FileInput {
                component: c.id.clone(),
                reuse: Vec::new(),
                reuse_selected: String::new(),
                label: c.name.clone(),
                name,
                id,
                required,
                note,
                error,
                describedby,
            }
        })
        .collect()
}

/// An attached file as pages list it.
pub(super) struct FileLine {
    pub component: String,
    pub name: String,
    pub kind: String,
    pub size: String,
    pub href: String,
}

/// The download address of an attachment; with the lookup code for the applicant.
pub(super) fn file_href(code: &str, sha256: &str, lookup: Option<&str>) -> String {
    let base = format!("/api/v1/dossiers/{}/files/{sha256}", url_encode(code));
    match lookup {
        Some(l) => format!("{base}?lookup={}", url_encode(l)),
        None => base,
    }
}

pub(super) fn file_lines(list: &[Attachment], code: &str, lookup: Option<&str>) -> Vec<FileLine> {
    list.iter()
        .map(|a| FileLine {
            component: a.component_name.clone(),
            name: a.file_name.clone(),
            kind: match a.media_type.as_str() {
                "application/pdf" => "PDF",
                "image/jpeg" => "JPEG",
                "image/png" => "PNG",
                other => other,
            }
            .to_string(),
            size: dossier::size_text(a.size),
            href: file_href(code, &a.sha256, lookup),
        })
        .collect()
}

/// A posted page form: its text fields and, for a multipart body, its files.
pub(super) struct Posted {
    pub pairs: Vec<(String, String)>,
    pub uploads: Vec<Upload>,
    pub multipart: bool,
}

/// The most parts a posted form may have.
const MAX_PARTS: usize = 300;

/// Read a page form posted urlencoded or as `multipart/form-data`. File inputs are named
/// `files.<component id>`; an input left empty (no file chosen) is skipped.
pub(super) async fn read_post(state: &AppState, req: Request) -> Result<Posted, AppError> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"));
    if !multipart {
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::new(ErrorCode::PayloadTooLarge)
            } else {
                AppError::new(ErrorCode::BadRequest)
            }
        })?;
        return Ok(Posted {
            pairs: view::parse_form(&body)?,
            uploads: Vec::new(),
            multipart: false,
        });
    }
    let bad = |status: StatusCode| {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(ErrorCode::PayloadTooLarge)
        } else {
            AppError::new(ErrorCode::BadRequest)
        }
    };
    let mut m = Multipart::from_request(req, state)
        .await
        .map_err(|e| bad(e.status()))?;
    let mut out = Posted {
        pairs: Vec::new(),
        uploads: Vec::new(),
        multipart: true,
    };
    let mut parts = 0;
    while let Some(field) = m.next_field().await.map_err(|e| bad(e.status()))? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(AppError::new(ErrorCode::BadRequest));
        }
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(file_name) => {
                let bytes = field.bytes().await.map_err(|e| bad(e.status()))?;
                if file_name.is_empty() && bytes.is_empty() {
                    continue;
                }
                if let Some(component) = name.strip_prefix("files.") {
                    out.uploads.push(Upload {
                        component_id: component.to_string(),
                        file_name,
                        bytes: bytes.to_vec(),
                    });
                }
            }
            None => {
                let value = field.text().await.map_err(|e| bad(e.status()))?;
                out.pairs.push((name, value));
            }
        }
    }
    Ok(out)
}

/// A new idempotency key for a form.
pub(super) fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The applicant block prefilled from the signed-in account (citizens and enterprises).
async fn prefill(state: &AppState, ctx: &ReqCtx) -> Result<Typed, AppError> {
    let mut t = Typed {
        kind: "0".into(),
        ..Default::default()
    };
    let Some(p) = ctx.principal.as_ref().filter(|p| !p.is_staff()) else {
        return Ok(t);
    };
    if let Some(acc) = tinhso_identity::accounts::get(&state.db, &p.user_id).await? {
        t.name = acc.display_name.clone();
        if acc.kind == "enterprise" {
            t.kind = "1".into();
            t.id_number = acc.mst.clone().unwrap_or_default();
        } else {
            t.id_number = acc.cccd.clone().unwrap_or_default();
        }
        t.phone = acc.phone.clone().unwrap_or_default();
        t.email = acc.email.clone().unwrap_or_default();
    }
    Ok(t)
}

async fn offered(state: &AppState, code: &str) -> Result<Procedure, AppError> {
    let v = active_procedure(state, code).await?;
    if !v.active {
        return Err(AppError::not_found().with_detail(
            "Thủ tục này đã ngừng tiếp nhận hồ sơ",
            "This procedure no longer accepts dossiers",
        ));
    }
    Ok(v.procedure)
}

pub async fn submit_form(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let p = offered(&state, &code).await.map_err(|e| ctx.page_err(e))?;
    let typed = prefill(&state, &ctx).await.map_err(|e| ctx.page_err(e))?;
    let action = format!("/dich-vu-cong/{}/nop", p.code);
    let choices = reuse_choices(&state, &ctx)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let mut page = submit_view(
        &ctx,
        p,
        action,
        false,
        new_key(),
        &typed,
        FormErrors::default(),
    );
    offer_reuse(&mut page.uploads, &choices, &[]);
    Ok(render(&page))
}

/// The e-form posted: multipart with the files (the portal's form), or urlencoded without
/// files (older clients). Only the multipart form is held to the required uploads: a dossier
/// filed without files (urlencoded, or through the JSON API) is completed while it awaits
/// acceptance, and the officer checks completeness before accepting it.
pub async fn submit_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let p = offered(&state, &code).await.map_err(|e| ctx.page_err(e))?;
    let posted = read_post(&state, req).await.map_err(|e| ctx.page_err(e))?;
    let pairs = posted.pairs;
    let typed = Typed::from_pairs(&pairs);
    let idem = view::form_get(&pairs, "idem");
    let s = typed.submission(&p, Channel::Online, &idem);
    let result = if posted.multipart {
        match reused_uploads(&state, &ctx, &pairs).await {
            Ok(reused) => {
                let mut uploads = posted.uploads;
                uploads.extend(reused);
                dossier::submit_with_files(
                    &state.db,
                    &state.files,
                    &ctx.audit(),
                    ctx.principal.as_ref(),
                    &s,
                    &uploads,
                )
                .await
            }
            Err(e) => Err(e),
        }
    } else {
        dossier::submit(&state.db, &ctx.audit(), ctx.principal.as_ref(), &s).await
    };
    match result {
        Ok(r) => {
            Ok(Redirect::to(&view::receipt_path(&r.dossier.code, &r.lookup_code)).into_response())
        }
        Err(e) if view::is_validation(&e) || e.code == ErrorCode::IdempotencyConflict => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let mut errors = FormErrors::of(&e, ctx.lang);
            // The same form sent again with other content: keep what was typed, under a new
            // key, and say why.
            let idem = if e.code == ErrorCode::IdempotencyConflict {
                errors.general = ctx
                    .lang
                    .s(
                        "Biểu mẫu này đã được gửi với nội dung khác. Kiểm tra lại thông tin rồi gửi lại.",
                        "This form was already sent with different content. Check the details and send it again.",
                    )
                    .to_string();
                new_key()
            } else {
                idem
            };
            let action = format!("/dich-vu-cong/{}/nop", p.code);
            let mut page = submit_view(&ctx, p, action, false, idem, &typed, errors);
            let choices = reuse_choices(&state, &ctx)
                .await
                .map_err(|e| ctx.page_err(e))?;
            offer_reuse(&mut page.uploads, &choices, &pairs);
            Ok((status, render(&page)).into_response())
        }
        Err(e) => Err(ctx.page_err(e)),
    }
}

// ---------------------------------------------------------------- receipt

pub(super) struct ComponentLine {
    pub name: String,
    pub form: String,
    pub required: bool,
    pub state: String,
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    c: Chrome,
    d: Dossier,
    lookup: String,
    applicant_kind: String,
    id_masked: String,
    phone_masked: String,
    received_at: String,
    accepted: bool,
    due: String,
    fee: String,
    fee_note: String,
    channel: String,
    components: Vec<ComponentLine>,
    files: Vec<FileLine>,
    tracking_url: String,
    qr: String,
    status: String,
}

#[derive(Deserialize)]
pub struct LookupQuery {
    #[serde(default)]
    ma: String,
}

/// The receipt's component lines: each component's form and what became of it.
fn component_lines(
    d: &Dossier,
    p: Option<&Procedure>,
    attached: &[Attachment],
    lang: Lang,
) -> Vec<ComponentLine> {
    let in_person = d.channel != Channel::Online.code();
    p.map(|p| {
        p.components
            .iter()
            .map(|c| ComponentLine {
                name: c.name.clone(),
                form: view::component_form_label(&c.form, lang),
                required: c.required,
                state: if c.form == "electronic" {
                    lang.s("Đã nộp (biểu mẫu điện tử)", "Submitted (e-form)")
                } else if attached.iter().any(|a| a.component_id == c.id) {
                    lang.s("Đã đính kèm bản điện tử", "Attached electronically")
                } else if in_person {
                    lang.s("Tiếp nhận tại quầy", "Received at the counter")
                } else {
                    lang.s(
                        "Xuất trình, nộp theo hướng dẫn của cơ quan",
                        "To show or hand in as the agency instructs",
                    )
                }
                .to_string(),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The fee on the receipt and when it is paid.
fn fee_of(d: &Dossier, p: Option<&Procedure>, lang: Lang) -> (i64, String) {
    let total = p.map(|p| p.total_fee()).unwrap_or(0);
    let fee_amount = if d.fee_vnd > 0 { d.fee_vnd } else { total };
    let note = if fee_amount == 0 {
        String::new()
    } else if d.paid_vnd >= fee_amount {
        lang.s("Đã nộp.", "Paid.").to_string()
    } else if p.is_some_and(|p| p.fee_timing == "on_submit") {
        lang.s("Nộp cùng hồ sơ.", "Payable with the dossier.")
            .to_string()
    } else {
        lang.s(
            "Nộp khi cơ quan tiếp nhận hồ sơ.",
            "Payable when the agency accepts the dossier.",
        )
        .to_string()
    };
    (fee_amount, note)
}

/// Where form 01 is downloaded as PDF.
pub fn receipt_pdf_path(code: &str, lookup: &str) -> String {
    format!(
        "/ho-so/{}/bien-nhan.pdf?ma={}",
        url_encode(code),
        url_encode(lookup)
    )
}

/// Form 01 as PDF (always in Vietnamese: it is the legal form), for whoever holds the lookup
/// code.
pub async fn receipt_pdf(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
) -> Result<Response, PageError> {
    let d = super::lookup_limit::track(&state, &ctx.ip, &code, &q.ma)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let vi = Lang::Vi;
    let p = catalogue::version(&state.db, &d.procedure_code, d.procedure_version)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let attached = dossier::files(&state.db, &d.code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let lookup = dossier::lookup_code(&d.code);
    let (_, issuer) = crate::results::issuer_of(&state.db, &d.agency_code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let (fee_amount, fee_note) = fee_of(&d, p.as_ref(), vi);
    let received = d.accepted_at.unwrap_or(d.submitted_at);
    let local = chrono::DateTime::from_timestamp_micros(received + 7 * 3600 * 1_000_000)
        .map(|t| t.naive_utc())
        .unwrap_or_default();
    use chrono::Datelike;
    let doc = crate::documents::ReceiptDoc {
        issuer,
        dossier_code: d.code.clone(),
        lookup_code: lookup.clone(),
        procedure: format!("{} (mã {})", d.procedure_name, d.procedure_code),
        applicant: vec![
            crate::documents::Line::new("Họ và tên / Tên tổ chức", &d.applicant.name),
            crate::documents::Line::new("Số giấy tờ", &view::mask(&d.applicant.id_number, 4)),
            crate::documents::Line::new("Điện thoại", &view::mask(&d.applicant.phone, 3)),
        ],
        components: component_lines(&d, p.as_ref(), &attached, vi)
            .into_iter()
            .map(|c| {
                let name = if c.required {
                    c.name
                } else {
                    format!("{} (nếu có)", c.name)
                };
                (name, c.form, c.state)
            })
            .collect(),
        time_limit: p
            .as_ref()
            .map(|p| view::time_limit_label(p, vi))
            .unwrap_or_default(),
        received_at: local.format("%H giờ %M phút, ngày %d/%m/%Y").to_string(),
        due: match (&d.due_date, d.accepted_at) {
            (Some(due), Some(_)) => view::date_vn(due),
            (Some(due), None) => format!(
                "{} (dự kiến; được tính lại khi cơ quan tiếp nhận hồ sơ)",
                view::date_vn(due)
            ),
            (None, _) => "Sẽ được thông báo khi cơ quan tiếp nhận hồ sơ".to_string(),
        },
        fee: if fee_amount == 0 {
            "Không thu phí".to_string()
        } else {
            format!("{} {}", view::vnd(fee_amount), fee_note)
        },
        channel: view::channel_label(d.channel, vi),
        tracking_url: format!(
            "{}{}",
            view::public_url(&state, &headers),
            view::tracking_path(&d.code, &lookup)
        ),
        officer: d
            .events
            .iter()
            .find(|e| e.action == "accept" || e.action == "submit_counter")
            .map(|e| e.actor_name.clone())
            .filter(|n| !n.is_empty()),
        date: (local.day(), local.month(), local.year()),
    };
    let bytes = crate::documents::receipt_pdf(&doc);
    Ok(super::results::pdf_response(
        bytes,
        &format!("giay-tiep-nhan-{}.pdf", d.code.replace(['/', ' '], "_")),
        true,
    ))
}

pub async fn receipt_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
) -> Result<Response, PageError> {
    let d = super::lookup_limit::track(&state, &ctx.ip, &code, &q.ma)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let lang = ctx.lang;
    let p = catalogue::version(&state.db, &d.procedure_code, d.procedure_version)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let lookup = dossier::lookup_code(&d.code);
    let tracking_url = format!(
        "{}{}",
        view::public_base(&state, &headers),
        view::tracking_path(&d.code, &lookup)
    );
    let qr = view::qr_svg(
        &tracking_url,
        lang.s(
            "Mã QR mở trang tra cứu hồ sơ",
            "QR code opening the dossier's tracking page",
        ),
    )
    .map_err(|e| ctx.page_err(e))?;
    let attached = dossier::files(&state.db, &d.code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let components = component_lines(&d, p.as_ref(), &attached, lang);
    let (fee_amount, fee_note) = fee_of(&d, p.as_ref(), lang);
    Ok(render(&ReceiptPage {
        c: Chrome::of(&ctx),
        applicant_kind: view::applicant_kind_label(d.applicant.kind, lang),
        id_masked: view::mask(&d.applicant.id_number, 4),
        phone_masked: view::mask(&d.applicant.phone, 3),
        received_at: local_time(d.accepted_at.unwrap_or(d.submitted_at)),
        accepted: d.accepted_at.is_some(),
        due: d.due_date.as_deref().map(view::date_vn).unwrap_or_default(),
        fee: if fee_amount == 0 {
            lang.s("Không thu phí", "No fee").to_string()
        } else {
            view::vnd(fee_amount)
        },
        fee_note,
        channel: view::channel_label(d.channel, lang),
        components,
        files: file_lines(&attached, &d.code, Some(&lookup)),
        tracking_url,
        qr,
        status: view::status_label(d.status, lang),
        lookup,
        d,
    }))
}

// ---------------------------------------------------------------- tracking

#[derive(Template)]
#[template(path = "track.html")]
struct TrackPage {
    c: Chrome,
    code: String,
    lookup: String,
    /// Searched and not found.
    not_found: bool,
    found: Option<TrackView>,
    errors: FormErrors,
    /// The withdraw form's reason as typed.
    reason: String,
}

struct TrackView {
    d: Dossier,
    status: String,
    step: String,
    agency: String,
    due: String,
    overdue: bool,
    submitted_at: String,
    events: Vec<view::EventView>,
    can_withdraw: bool,
    supplement: bool,
    supplement_reason: String,
    fields: Vec<FieldView>,
    /// File inputs of the supplement form.
    uploads: Vec<FileInput>,
    /// Where the supplement form posts (multipart: the CSRF token on the URL).
    supplement_action: String,
    files: Vec<FileLine>,
    receipt_path: String,
    receipt_pdf_path: String,
    id_masked: String,
    /// The electronic result, once issued.
    result: Option<super::results::ResultLink>,
}

#[derive(Deserialize)]
pub struct TrackQuery {
    #[serde(default)]
    ma_ho_so: String,
    #[serde(default)]
    ma: String,
}

fn track_view(
    ctx: &ReqCtx,
    d: Dossier,
    p: Option<&Procedure>,
    attached: &[Attachment],
    typed: Option<&BTreeMap<String, String>>,
    errors: &FormErrors,
) -> TrackView {
    let lang = ctx.lang;
    let supplement = d.status == Status::SupplementRequested.code();
    let supplement_reason = d
        .events
        .iter()
        .rev()
        .find(|e| e.action == "request_supplement")
        .map(|e| e.reason.clone())
        .unwrap_or_default();
    let current: BTreeMap<String, String> = match typed {
        Some(t) => t.clone(),
        None => d
            .form
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), view::value_text(v)))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let fields = match (supplement, p) {
        (true, Some(p)) => view::eform_fields(&p.eform, &current, errors),
        _ => Vec::new(),
    };
    let uploads = match (supplement, p) {
        (true, Some(p)) => file_inputs(p, lang, errors, false),
        _ => Vec::new(),
    };
    let lookup = dossier::lookup_code(&d.code);
    TrackView {
        uploads,
        supplement_action: format!("/tra-cuu/bo-sung?csrf={}", url_encode(&ctx.csrf)),
        files: file_lines(attached, &d.code, Some(&lookup)),
        status: view::status_label(d.status, lang),
        step: view::step_name(p, &d.step),
        agency: d.agency_name.clone(),
        due: d.due_date.as_deref().map(view::date_vn).unwrap_or_default(),
        overdue: view::overdue(d.status, d.due_date.as_deref()),
        submitted_at: local_time(d.submitted_at),
        events: view::events(&d, p, lang),
        can_withdraw: d.allowed_actions.iter().any(|a| a == "withdraw"),
        supplement,
        supplement_reason,
        fields,
        receipt_path: view::receipt_path(&d.code, &lookup),
        receipt_pdf_path: receipt_pdf_path(&d.code, &lookup),
        id_masked: view::mask(&d.applicant.id_number, 4),
        result: None,
        d,
    }
}

#[allow(clippy::too_many_arguments)]
async fn track_render(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    lookup: &str,
    typed: Option<&BTreeMap<String, String>>,
    errors: FormErrors,
    reason: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let found = if code.trim().is_empty() && lookup.trim().is_empty() {
        None
    } else {
        match applicant_dossier(state, ctx, code, lookup).await {
            Ok(d) => Some(d),
            Err(e) if e.code == ErrorCode::NotFound => None,
            Err(e) => return Err(ctx.page_err(e)),
        }
    };
    let searched = !(code.trim().is_empty() && lookup.trim().is_empty());
    let mut errors = errors;
    let (found, status) = match found {
        Some(d) => {
            let p = catalogue::version(&state.db, &d.procedure_code, d.procedure_version)
                .await
                .map_err(|e| ctx.page_err(e))?;
            let attached = dossier::files(&state.db, &d.code)
                .await
                .map_err(|e| ctx.page_err(e))?;
            let result = super::results::for_applicant(state, &d)
                .await
                .map_err(|e| ctx.page_err(e))?;
            let mut t = track_view(ctx, d, p.as_ref(), &attached, typed, &errors);
            t.result = result;
            errors.order_by(t.fields.iter());
            (Some(t), status)
        }
        None if searched => (None, StatusCode::NOT_FOUND),
        None => (None, StatusCode::OK),
    };
    Ok((
        status,
        render(&TrackPage {
            c: Chrome::of(ctx),
            code: code.trim().to_string(),
            lookup: lookup.trim().to_string(),
            not_found: searched && found.is_none(),
            found,
            errors,
            reason,
        }),
    )
        .into_response())
}

/// The dossier the visitor may act on as its applicant: proven by the lookup code, or by
/// being the signed-in owner. Anything else is "not found", whether the dossier exists or not.
pub(super) async fn applicant_dossier(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    lookup: &str,
) -> Result<Dossier, AppError> {
    if !lookup.trim().is_empty() {
        return super::lookup_limit::track(state, &ctx.ip, code.trim(), lookup).await;
    }
    let owner = ctx.principal.as_ref().map(|p| p.user_id.as_str());
    match dossier::get(&state.db, code.trim()).await? {
        Some(d) if owner.is_some() && d.applicant_user_id.as_deref() == owner => Ok(d),
        _ => Err(AppError::not_found()),
    }
}

pub async fn track_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<TrackQuery>,
) -> Result<Response, PageError> {
    track_render(
        &state,
        &ctx,
        &q.ma_ho_so,
        &q.ma,
        None,
        FormErrors::default(),
        String::new(),
        StatusCode::OK,
    )
    .await
}

/// Apply an applicant's action, then back to the tracking page, or the page with the error.
async fn applicant_action(
    state: &AppState,
    ctx: &ReqCtx,
    pairs: &[(String, String)],
    input: TransitionInput,
) -> Result<Response, PageError> {
    let code = view::form_get(pairs, "ma_ho_so");
    let lookup = view::form_get(pairs, "ma");
    let d = applicant_dossier(state, ctx, &code, &lookup)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let who = ActingAs::Applicant {
        principal: ctx.principal.as_ref(),
        name: &d.applicant.name,
    };
    // Applicants never approve, so nothing is issued here; the address is only a formality.
    let issuing = Issuing {
        files: &state.files,
        public_url: &state.config.public_url,
        tsa: state.config.pades_tsa.as_ref(),
    };
    match dossier::transition(&state.db, issuing, &ctx.audit(), &d.code, who, &input).await {
        Ok(d) => Ok(Redirect::to(&view::tracking_path(
            &d.code,
            &dossier::lookup_code(&d.code),
        ))
        .into_response()),
        Err(e) if e.code == ErrorCode::NotFound => Err(ctx.page_err(e)),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let errors = FormErrors::of(&e, ctx.lang);
            let typed = (input.action == "supplement").then_some(&input.form);
            track_render(
                state,
                ctx,
                &d.code,
                &dossier::lookup_code(&d.code),
                typed,
                errors,
                input.reason.clone(),
                status,
            )
            .await
        }
    }
}

pub async fn withdraw_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = view::parse_form(&body).map_err(|e| ctx.page_err(e))?;
    let input = TransitionInput {
        action: "withdraw".into(),
        reason: view::form_get(&pairs, "reason"),
        form: BTreeMap::new(),
    };
    applicant_action(&state, &ctx, &pairs, input).await
}

/// The applicant's supplement: e-form corrections and, from the multipart form, files. The
/// files are checked all together first (a bad one attaches none and sends nothing), then
/// attached, then the supplement is sent.
pub async fn supplement_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    req: Request,
) -> Result<Response, PageError> {
    let posted = read_post(&state, req).await.map_err(|e| ctx.page_err(e))?;
    let pairs = posted.pairs;
    let code = view::form_get(&pairs, "ma_ho_so");
    let lookup = view::form_get(&pairs, "ma");
    let d = applicant_dossier(&state, &ctx, &code, &lookup)
        .await
        .map_err(|e| ctx.page_err(e))?;
    // Every field of the form is sent back: an unticked box is sent as empty.
    let typed = view::form_values(&pairs);
    let mut form = BTreeMap::new();
    if let Some(p) = catalogue::version(&state.db, &d.procedure_code, d.procedure_version)
        .await
        .map_err(|e| ctx.page_err(e))?
    {
        for f in &p.eform {
            form.insert(
                f.name.clone(),
                typed.get(&f.name).cloned().unwrap_or_default(),
            );
        }
    }
    let input = TransitionInput {
        action: "supplement".into(),
        reason: view::form_get(&pairs, "reason"),
        form,
    };
    if !posted.uploads.is_empty() {
        let who = ActingAs::Applicant {
            principal: ctx.principal.as_ref(),
            name: &d.applicant.name,
        };
        if let Err(e) = dossier::attach_all(
            &state.db,
            &state.files,
            &ctx.audit(),
            &d.code,
            who,
            &posted.uploads,
        )
        .await
        {
            if e.code == ErrorCode::NotFound || e.code == ErrorCode::Internal {
                return Err(ctx.page_err(e));
            }
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            return track_render(
                &state,
                &ctx,
                &d.code,
                &dossier::lookup_code(&d.code),
                Some(&input.form),
                FormErrors::of(&e, ctx.lang),
                String::new(),
                status,
            )
            .await;
        }
    }
    applicant_action(&state, &ctx, &pairs, input).await
}

// ---------------------------------------------------------------- my dossiers

pub(super) struct MineRow {
    code: String,
    procedure: String,
    status: String,
    submitted_at: String,
    due: String,
    overdue: bool,
    tracking: String,
}

#[derive(Template)]
#[template(path = "mine.html")]
struct MinePage {
    c: Chrome,
    rows: Vec<MineRow>,
}

pub async fn my_dossiers(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Response, PageError> {
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let rows = dossier::list(
        &state.db,
        &dossier::DossierFilter {
            applicant_user_id: Some(p.user_id.clone()),
            limit: Some(200),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    let defs = current_definitions(&state)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let lang = ctx.lang;
    Ok(render(&MinePage {
        c: Chrome::of(&ctx),
        rows: rows
            .into_iter()
            .map(|r| MineRow {
                procedure: defs
                    .get(&r.procedure_code)
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| r.procedure_code.clone()),
                status: view::status_label(r.status, lang),
                submitted_at: local_time(r.submitted_at),
                due: r.due_date.as_deref().map(view::date_vn).unwrap_or_default(),
                overdue: view::overdue(r.status, r.due_date.as_deref()),
                tracking: view::tracking_path(&r.code, &dossier::lookup_code(&r.code)),
                code: r.code,
            })
            .collect(),
    }))
}
