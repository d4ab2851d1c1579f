//! Editing the procedure catalogue in the back office (quản trị thủ tục hành chính): the list
//! of procedures, and a page per procedure that saves through [`crate::catalogue::update`] (a
//! new version; dossiers keep theirs), shows every problem beside its field, keeps what was
//! typed, and lists the versions. Administrators only (`procedure_manage`).

use super::view::{self, FormErrors};
use crate::catalogue::{self, Component, Fee, Field, Procedure, Step, TimeUnit, VersionInfo};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tinhso_http::context::require;
use tinhso_http::error::PageError;
use tinhso_http::layout::{local_time, render, url_encode, Chrome};
use tinhso_http::{AppState, ReqCtx};
use tinhso_identity::{Permission, ResourceScope};
use tinhso_kernel::{AppError, ErrorCode, FieldErrors, Invalid};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/quan-tri/thu-tuc", get(list_page))
        .route("/quan-tri/thu-tuc/{code}", get(edit_page).post(edit_post))
}

async fn allowed(state: &AppState, ctx: &ReqCtx, code: &str) -> Result<(), AppError> {
    require(
        state,
        ctx,
        Permission::ProcedureManage,
        &ResourceScope::province(),
        &format!("procedure:{code}"),
    )
    .await
}

#[derive(Template)]
#[template(path = "procedure_list.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<catalogue::Summary>,
}

pub async fn list_page(State(state): State<AppState>, ctx: ReqCtx) -> Result<Response, PageError> {
    allowed(&state, &ctx, "*")
        .await
        .map_err(|e| ctx.page_err(e))?;
    let rows = catalogue::search(&state.db, "", None, None)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(render(&ListPage {
        c: Chrome::of(&ctx),
        rows,
    }))
}

/// The editable fields as typed (text), in the form's names.
#[derive(Debug, Clone, Default)]
struct Typed {
    name: String,
    sector: String,
    level: String,
    time_value: String,
    time_unit: String,
    online_level: String,
    fee_timing: String,
    result_name: String,
    result_electronic: bool,
    fees: String,
    components: String,
    eform: String,
    workflow: String,
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

impl Typed {
    fn of(p: &Procedure) -> Typed {
        Typed {
            name: p.name.clone(),
            sector: p.sector.clone(),
            level: p.level.clone(),
            time_value: p.time_limit.value.to_string(),
            time_unit: match p.time_limit.unit {
                TimeUnit::WorkingDays => "working_days",
                TimeUnit::WorkingHours => "working_hours",
            }
            .into(),
            online_level: p.online_level.clone(),
            fee_timing: p.fee_timing.clone(),
            result_name: p.result.name.clone(),
            result_electronic: p.result.electronic,
            fees: pretty(&p.fees),
            components: pretty(&p.components),
            eform: pretty(&p.eform),
            workflow: pretty(&p.workflow),
        }
    }

    fn from_pairs(pairs: &[(String, String)]) -> Typed {
        let g = |k: &str| view::form_get(pairs, k);
        Typed {
            name: g("name"),
            sector: g("sector"),
            level: g("level"),
            time_value: g("time_value"),
            time_unit: g("time_unit"),
            online_level: g("online_level"),
            fee_timing: g("fee_timing"),
            result_name: g("result_name"),
            result_electronic: !g("result_electronic").is_empty(),
            fees: g("fees"),
            components: g("components"),
            eform: g("eform"),
            workflow: g("workflow"),
        }
    }

    /// The procedure `current` with these edits, or every problem found in the text.
    fn apply(&self, current: &Procedure) -> Result<Procedure, AppError> {
        let mut errs = FieldErrors::new();
        let mut p = current.clone();
        p.name = tinhso_kernel::text::clean(&self.name);
        p.sector = tinhso_kernel::text::clean(&self.sector);
        if p.sector.chars().count() < 2 {
            errs.push(
                "sector",
                Invalid::new("required", "Vui lòng nhập lĩnh vực", "Enter the sector"),
            );
        }
        p.level = self.level.trim().to_string();
        p.online_level = self.online_level.trim().to_string();
        match self.fee_timing.trim() {
            t @ ("on_accept" | "on_submit") => p.fee_timing = t.to_string(),
            _ => errs.push(
                "fee_timing",
                Invalid::new(
                    "fee_timing",
                    "Thời điểm thu phí phải là khi tiếp nhận hoặc khi nộp hồ sơ",
                    "Fees are due on acceptance or on submission",
                ),
            ),
        }
        p.time_limit.unit = match self.time_unit.trim() {
            "working_hours" => TimeUnit::WorkingHours,
            _ => TimeUnit::WorkingDays,
        };
        match self.time_value.trim().parse::<u32>() {
            Ok(v) if (1..=2000).contains(&v) => p.time_limit.value = v,
            _ => errs.push(
                "time_value",
                Invalid::new(
                    "time_limit",
                    "Thời hạn giải quyết là số nguyên từ 1 đến 2000",
                    "The time limit is a whole number from 1 to 2000",
                ),
            ),
        }
        p.result.name = tinhso_kernel::text::clean(&self.result_name);
        if p.result.name.chars().count() < 3 {
            errs.push(
                "result_name",
                Invalid::new(
                    "required",
                    "Vui lòng nhập tên kết quả giải quyết",
                    "Enter the name of the result",
                ),
            );
        }
        p.result.electronic = self.result_electronic;
        fn json<T: serde::de::DeserializeOwned>(
            field: &str,
            text: &str,
            errs: &mut FieldErrors,
        ) -> Option<T> {
            match serde_json::from_str::<T>(text) {
                Ok(v) => Some(v),
                Err(e) => {
                    errs.push(
                        field,
                        Invalid::new(
                            "json",
                            format!("Nội dung JSON không hợp lệ: {e}"),
                            format!("Invalid JSON: {e}"),
                        ),
                    );
                    None
                }
            }
        }
        if let Some(v) = json::<Vec<Fee>>("fees", &self.fees, &mut errs) {
            p.fees = v;
        }
        if let Some(v) = json::<Vec<Component>>("components", &self.components, &mut errs) {
            p.components = v;
        }
        if let Some(v) = json::<Vec<Field>>("eform", &self.eform, &mut errs) {
            p.eform = v;
        }
        if let Some(v) = json::<Vec<Step>>("workflow", &self.workflow, &mut errs) {
            p.workflow = v;
        }
        errs.into_result()?;
        Ok(p)
    }
}

/// The form's field for an error of [`Procedure::check`] (`eform[2].type` → `eform`).
fn form_field(field: &str) -> &str {
    let head = field.split(['[', '.']).next().unwrap_or(field);
    match head {
        "time_limit" => "time_value",
        "result" => "result_name",
        "name" | "sector" | "level" | "online_level" | "fees" | "components" | "eform"
        | "workflow" | "fee_timing" | "time_value" | "result_name" => head,
        // Not editable here (code, agency): shown above the form.
        _ => "",
    }
}

/// Errors of a save with every field error moved to the form's field that holds it.
fn errors_of(e: &AppError, lang: tinhso_http::i18n::Lang) -> FormErrors {
    if e.fields.is_empty() {
        return FormErrors::of(e, lang);
    }
    let mut out = FormErrors::default();
    for f in &e.fields {
        let msg = lang.s(&f.message_vi, &f.message_en).to_string();
        let name = form_field(&f.field);
        if name.is_empty() {
            out.general = msg;
            continue;
        }
        out.summary.push((view::input_id(name), msg.clone()));
        out.by_field.entry(name.to_string()).or_insert(msg);
    }
    out
}

#[derive(Template)]
#[template(path = "procedure_edit.html")]
struct EditPage {
    c: Chrome,
    code: String,
    version: i64,
    active: bool,
    t: Typed,
    errors: FormErrors,
    versions: Vec<(VersionInfo, String)>,
    saved: String,
}

async fn edit_render(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    typed: Option<Typed>,
    errors: FormErrors,
    saved: String,
    status: StatusCode,
) -> Result<Response, AppError> {
    let current = catalogue::current(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let versions = catalogue::versions(&state.db, code)
        .await?
        .into_iter()
        .map(|v| {
            let at = local_time(v.created_at);
            (v, at)
        })
        .collect();
    Ok((
        status,
        render(&EditPage {
            c: Chrome::of(ctx),
            code: code.to_string(),
            version: current.version,
            active: current.active,
            t: typed.unwrap_or_else(|| Typed::of(&current.procedure)),
            errors,
            versions,
            saved,
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct EditQuery {
    /// The version just saved.
    #[serde(default)]
    luu: String,
}

pub async fn edit_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<EditQuery>,
) -> Result<Response, PageError> {
    allowed(&state, &ctx, &code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let saved = q
        .luu
        .trim()
        .parse::<i64>()
        .map(|v| v.to_string())
        .unwrap_or_default();
    edit_render(
        &state,
        &ctx,
        &code,
        None,
        FormErrors::default(),
        saved,
        StatusCode::OK,
    )
    .await
    .map_err(|e| ctx.page_err(e))
}

pub async fn edit_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    allowed(&state, &ctx, &code)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let pairs = view::parse_form(&body).map_err(|e| ctx.page_err(e))?;
    let typed = Typed::from_pairs(&pairs);
    let current = catalogue::current(&state.db, &code)
        .await
        .map_err(|e| ctx.page_err(e))?
        .ok_or_else(|| ctx.page_err(AppError::not_found()))?;
    let saved = match typed.apply(&current.procedure) {
        Ok(p) => catalogue::update(&state.db, &ctx.audit(), &p).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(version) => Ok(Redirect::to(&format!(
            "/quan-tri/thu-tuc/{}?luu={version}",
            url_encode(&code)
        ))
        .into_response()),
        Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Forbidden) => {
            Err(ctx.page_err(e))
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let errors = errors_of(&e, ctx.lang);
            edit_render(
                &state,
                &ctx,
                &code,
                Some(typed),
                errors,
                String::new(),
                status,
            )
            .await
            .map_err(|e| ctx.page_err(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_errors_land_on_form_fields() {
        assert_eq!(form_field("eform[2].type"), "eform");
        assert_eq!(form_field("workflow"), "workflow");
        assert_eq!(form_field("time_value"), "time_value");
        assert_eq!(form_field("time_limit.value"), "time_value");
        assert_eq!(form_field("agency.name"), "");
        assert_eq!(form_field("code"), "");
    }
}
