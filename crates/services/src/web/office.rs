//! The one-stop back office (bộ phận một cửa): the queue of the officer's agencies, a dossier
//! with one form per action the officer may take now, and counter entry of paper dossiers.

use super::portal::{self, Typed};
use super::view::{self, FormErrors};
use crate::catalogue::{self, Procedure};
use crate::dossier::{self, ActingAs, Channel, Dossier, TransitionInput};
use crate::results::Issuing;
use crate::status::{Action, Actor, Status};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;
use tinhso_http::context::require;
use tinhso_http::error::PageError;
use tinhso_http::layout::{local_time, render, Chrome};
use tinhso_http::{AppState, ReqCtx};
use tinhso_identity::{authorize, Permission, ResourceScope};
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_refdata::agencies;

// ---------------------------------------------------------------- queue

struct QueueRow {
    code: String,
    procedure: String,
    agency: String,
    applicant: String,
    status: String,
    status_code: i64,
    step: String,
    channel: String,
    submitted_at: String,
    due: String,
    overdue: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    c: Chrome,
    scope_note: String,
    status: i64,
    overdue_only: bool,
    statuses: Vec<(i64, String)>,
    rows: Vec<QueueRow>,
    can_enter: bool,
    limit: usize,
}

#[derive(Deserialize)]
pub struct QueueQuery {
    trang_thai: Option<String>,
    qua_han: Option<String>,
}

const QUEUE_LIMIT: usize = 200;

pub async fn queue_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let scope = super::readable_agencies(&state, p, Permission::DossierRead)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let lang = ctx.lang;
    let status = q
        .trang_thai
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| Status::from_code(*s).is_some());
    let overdue_only = q.qua_han.as_deref().is_some_and(|v| !v.is_empty());
    let rows = dossier::list(
        &state.db,
        &dossier::DossierFilter {
            agency_codes: scope.clone(),
            status,
            overdue: overdue_only,
            limit: Some(QUEUE_LIMIT as i64),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    let defs = portal::current_definitions(&state)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let names: HashMap<String, String> = agencies::list(
        &state.db,
        &agencies::AgencyFilter {
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| ctx.page_err(e))?
    .into_iter()
    .map(|a| (a.code, a.short_name))
    .collect();
    let scope_note = match &scope {
        None => lang
            .s("Phạm vi: toàn tỉnh.", "Scope: the whole province.")
            .to_string(),
        Some(codes) if codes.len() == 1 => format!(
            "{} {}.",
            lang.s("Phạm vi:", "Scope:"),
            names.get(&codes[0]).cloned().unwrap_or_default()
        ),
        Some(codes) => format!(
            "{} {} {}",
            lang.s("Phạm vi:", "Scope:"),
            codes.len(),
            lang.s("cơ quan bạn phụ trách.", "agencies in your charge.")
        ),
    };
    Ok(render(&QueuePage {
        c: Chrome::of(&ctx),
        scope_note,
        status: status.unwrap_or(0),
        overdue_only,
        statuses: Status::ALL
            .iter()
            .map(|s| (s.code(), view::status_label(s.code(), lang)))
            .collect(),
        can_enter: p.can_somewhere(Permission::DossierProcess),
        limit: QUEUE_LIMIT,
        rows: rows
            .into_iter()
            .map(|r| {
                let p = defs.get(&r.procedure_code);
                QueueRow {
                    procedure: p
                        .map(|p| p.name.clone())
                        .unwrap_or_else(|| r.procedure_code.clone()),
                    agency: names.get(&r.agency_code).cloned().unwrap_or_default(),
                    applicant: r.applicant_name,
                    status: view::status_label(r.status, lang),
                    status_code: r.status,
                    step: view::step_name(p, &r.step),
                    channel: view::channel_label(r.channel, lang),
                    submitted_at: local_time(r.submitted_at),
                    overdue: view::overdue(r.status, r.due_date.as_deref()),
                    due: r.due_date.as_deref().map(view::date_vn).unwrap_or_default(),
                    code: r.code,
                }
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------- one dossier

struct ActionForm {
    action: String,
    label: String,
    needs_reason: bool,
    /// Taken on the applicant's behalf (a request made at the counter).
    for_applicant: bool,
    danger: bool,
    reason: String,
    error: String,
}

#[derive(Template)]
#[template(path = "office_dossier.html")]
struct DossierPage {
    c: Chrome,
    d: Dossier,
    status: String,
    step: String,
    channel: String,
    applicant_kind: String,
    submitted_at: String,
    accepted_at: String,
    due: String,
    overdue: bool,
    fee: String,
    paid: String,
    form_rows: Vec<(String, String)>,
    events: Vec<view::EventView>,
    actions: Vec<ActionForm>,
    errors: FormErrors,
    receipt_path: String,
    files: Vec<portal::FileLine>,
    /// The electronic result, once issued.
    result: Option<super::results::ResultLink>,
    /// The principal may revoke it (approving authority, not yet revoked).
    can_revoke: bool,
    /// A citizen applicant and an officer who may process the dossier: the "check the
    /// population record" button.
    can_check_population: bool,
    /// The latest population-database check made for this dossier.
    population: Option<super::population_check::Shown>,
}

/// The permission an action needs.
fn permission_for(a: Action) -> Permission {
    if a == Action::Approve {
        Permission::DossierApprove
    } else {
        Permission::DossierProcess
    }
}

/// Whether `step` is the approval step (the one before returning the result).
fn at_approval(p: &Procedure, step: &str) -> bool {
    let idx = p.workflow.iter().position(|s| s.step == step).unwrap_or(0);
    idx + 2 >= p.workflow.len()
}

/// The actions `ctx`'s principal may take on `d` now (status, role and workflow position).
fn available_actions(
    ctx: &ReqCtx,
    d: &Dossier,
    p: Option<&Procedure>,
    scope: &ResourceScope,
) -> Vec<Action> {
    let status = Status::from_code(d.status);
    d.allowed_actions
        .iter()
        .filter_map(|a| Action::parse(a))
        .filter(|a| authorize(ctx.principal.as_ref(), permission_for(*a), scope).is_ok())
        .filter(|a| match (a, status, p) {
            // Forwarding stops at the approval step, and approval waits for it.
            (Action::Forward, Some(Status::Processing), Some(p)) => !at_approval(p, &d.step),
            (Action::Approve, _, Some(p)) => at_approval(p, &d.step),
            (Action::RequestPayment, _, _) => d.fee_vnd > d.paid_vnd,
            _ => true,
        })
        .collect()
}

async fn dossier_view(
    state: &AppState,
    ctx: &ReqCtx,
    d: Dossier,
    scope: &ResourceScope,
    errors: FormErrors,
    failed: Option<(&str, &str)>,
) -> Result<DossierPage, AppError> {
    let lang = ctx.lang;
    let p = catalogue::version(&state.db, &d.procedure_code, d.procedure_version).await?;
    let actions = available_actions(ctx, &d, p.as_ref(), scope)
        .into_iter()
        .map(|a| {
            let failed_here = failed.filter(|(name, _)| *name == a.as_str());
            ActionForm {
                action: a.as_str().to_string(),
                label: view::action_label(a.as_str(), lang),
                needs_reason: a.needs_reason(),
                for_applicant: a.actor() == Actor::Applicant,
                danger: matches!(
                    a,
                    Action::Refuse | Action::Stop | Action::Withdraw | Action::RequestSupplement
                ),
                reason: failed_here.map(|f| f.1.to_string()).unwrap_or_default(),
                error: if failed_here.is_some() {
                    errors.get("reason")
                } else {
                    String::new()
                },
            }
        })
        .collect();
    let lookup = dossier::lookup_code(&d.code);
    let attached = dossier::files(&state.db, &d.code).await?;
    let result = super::results::for_office(state, &d).await?;
    let can_revoke = result.as_ref().is_some_and(|r| !r.revoked)
        && authorize(ctx.principal.as_ref(), Permission::DossierApprove, scope).is_ok();
    let can_check_population = d.applicant.kind == 0
        && authorize(ctx.principal.as_ref(), Permission::DossierProcess, scope).is_ok();
    let population = if d.applicant.kind == 0 {
        super::population_check::latest(&state.db, &d, lang).await?
    } else {
        None
    };
    Ok(DossierPage {
        can_check_population,
        population,
        result,
        can_revoke,
        files: portal::file_lines(&attached, &d.code, None),
        c: Chrome::of(ctx),
        status: view::status_label(d.status, lang),
        step: view::step_name(p.as_ref(), &d.step),
        channel: view::channel_label(d.channel, lang),
        applicant_kind: view::applicant_kind_label(d.applicant.kind, lang),
        submitted_at: local_time(d.submitted_at),
        accepted_at: d.accepted_at.map(local_time).unwrap_or_default(),
        due: d.due_date.as_deref().map(view::date_vn).unwrap_or_default(),
        overdue: view::overdue(d.status, d.due_date.as_deref()),
        fee: view::vnd(d.fee_vnd),
        paid: view::vnd(d.paid_vnd),
        form_rows: view::form_rows(p.as_ref(), &d.form, lang),
        events: view::events(&d, p.as_ref(), lang),
        actions,
        errors,
        receipt_path: view::receipt_path(&d.code, &lookup),
        d,
    })
}

async fn load(state: &AppState, code: &str) -> Result<(Dossier, ResourceScope), AppError> {
    let d = dossier::get(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let scope = dossier::scope_of(&state.db, &d).await?;
    Ok((d, scope))
}

pub async fn dossier_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let (d, scope) = load(&state, &code).await.map_err(|e| ctx.page_err(e))?;
    require(
        &state,
        &ctx,
        Permission::DossierRead,
        &scope,
        &format!("dossier:{code}"),
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    let page = dossier_view(&state, &ctx, d, &scope, FormErrors::default(), None)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(render(&page))
}

#[derive(Deserialize)]
pub struct ActionBody {
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
}

pub async fn action_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let b: ActionBody = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ctx.page_err(AppError::new(ErrorCode::BadRequest)))?;
    let (d, scope) = load(&state, &code).await.map_err(|e| ctx.page_err(e))?;
    let perm = Action::parse(&b.action)
        .map(permission_for)
        .unwrap_or(Permission::DossierProcess);
    require(&state, &ctx, perm, &scope, &format!("dossier:{code}"))
        .await
        .map_err(|e| ctx.page_err(e))?;
    let principal = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let input = TransitionInput {
        action: b.action.clone(),
        reason: b.reason.clone(),
        form: Default::default(),
    };
    let base = view::public_url(&state, &headers);
    let issuing = Issuing {
        files: &state.files,
        public_url: &base,
        tsa: state.config.pades_tsa.as_ref(),
    };
    match dossier::transition(
        &state.db,
        issuing,
        &ctx.audit(),
        &code,
        ActingAs::Staff(principal),
        &input,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/nghiep-vu/ho-so/{}",
            tinhso_http::layout::url_encode(&code)
        ))
        .into_response()),
        Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Forbidden) => {
            Err(ctx.page_err(e))
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::CONFLICT);
            let mut errors = FormErrors::of(&e, ctx.lang);
            if !errors.summary.is_empty() {
                // Point the summary at the failing form's own reason field.
                for s in &mut errors.summary {
                    s.0 = format!("reason-{}", b.action);
                }
            }
            // Show the dossier as it is now (someone may have moved it meanwhile).
            let d = dossier::get(&state.db, &code)
                .await
                .map_err(|e| ctx.page_err(e))?
                .unwrap_or(d);
            let page = dossier_view(
                &state,
                &ctx,
                d,
                &scope,
                errors,
                Some((b.action.as_str(), b.reason.as_str())),
            )
            .await
            .map_err(|e| ctx.page_err(e))?;
            Ok((status, render(&page)).into_response())
        }
    }
}

// ---------------------------------------------------------------- counter entry

#[derive(Template)]
#[template(path = "counter_pick.html")]
struct PickPage {
    c: Chrome,
    procedures: Vec<(String, String, String)>,
    selected: String,
    error: String,
}

#[derive(Deserialize)]
pub struct CounterQuery {
    thu_tuc: Option<String>,
}

/// The commune of the officer's own agency, when it is a commune People's Committee.
async fn officer_commune(state: &AppState, ctx: &ReqCtx) -> Result<String, AppError> {
    let Some(code) = ctx.principal.as_ref().and_then(|p| p.agency_code.clone()) else {
        return Ok(String::new());
    };
    Ok(agencies::get(&state.db, &code)
        .await?
        .filter(|a| a.kind == "ubnd_xa")
        .and_then(|a| a.admin_unit_code)
        .unwrap_or_default())
}

pub async fn counter_form(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<CounterQuery>,
) -> Result<Response, PageError> {
    let wanted = q.thu_tuc.unwrap_or_default();
    let procedure = if wanted.is_empty() {
        None
    } else {
        catalogue::current(&state.db, wanted.trim())
            .await
            .map_err(|e| ctx.page_err(e))?
            .filter(|v| v.active)
    };
    match procedure {
        Some(v) => {
            let typed = Typed {
                kind: "0".into(),
                commune: officer_commune(&state, &ctx)
                    .await
                    .map_err(|e| ctx.page_err(e))?,
                ..Default::default()
            };
            Ok(render(&portal::submit_view(
                &ctx,
                v.procedure,
                "/nghiep-vu/ho-so/tiep-nhan-truc-tiep".into(),
                true,
                portal::new_key(),
                &typed,
                FormErrors::default(),
            )))
        }
        None => {
            let list = catalogue::search(&state.db, "", None, None)
                .await
                .map_err(|e| ctx.page_err(e))?;
            let status = if wanted.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            Ok((
                status,
                render(&PickPage {
                    c: Chrome::of(&ctx),
                    procedures: list
                        .into_iter()
                        .map(|s| (s.code, s.name, view::level_label(&s.level, ctx.lang)))
                        .collect(),
                    error: if wanted.is_empty() {
                        String::new()
                    } else {
                        ctx.lang
                            .s(
                                "Không có thủ tục này hoặc thủ tục đã ngừng áp dụng.",
                                "No such procedure, or it is no longer offered.",
                            )
                            .to_string()
                    },
                    selected: wanted,
                }),
            )
                .into_response())
        }
    }
}

pub async fn counter_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = view::parse_form(&body).map_err(|e| ctx.page_err(e))?;
    let code = view::form_get(&pairs, "procedure_code");
    let p = catalogue::current(&state.db, code.trim())
        .await
        .map_err(|e| ctx.page_err(e))?
        .filter(|v| v.active)
        .ok_or_else(|| ctx.page_err(AppError::not_found()))?
        .procedure;
    let typed = Typed::from_pairs(&pairs);
    let channel = if typed.channel == "post" {
        Channel::Post
    } else {
        Channel::InPerson
    };
    let idem = view::form_get(&pairs, "idem");
    let s = typed.submission(&p, channel, &idem);
    match dossier::submit(&state.db, &ctx.audit(), ctx.principal.as_ref(), &s).await {
        Ok(r) => {
            Ok(Redirect::to(&view::receipt_path(&r.dossier.code, &r.lookup_code)).into_response())
        }
        Err(e) if view::is_validation(&e) || e.code == ErrorCode::IdempotencyConflict => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let errors = FormErrors::of(&e, ctx.lang);
            let idem = if e.code == ErrorCode::IdempotencyConflict {
                portal::new_key()
            } else {
                idem
            };
            let page = portal::submit_view(
                &ctx,
                p,
                "/nghiep-vu/ho-so/tiep-nhan-truc-tiep".into(),
                true,
                idem,
                &typed,
                errors,
            );
            Ok((status, render(&page)).into_response())
        }
        Err(e) if e.code == ErrorCode::Forbidden => {
            // The officer's scope does not cover the agency this dossier goes to.
            tinhso_http::context::log_denial(
                &state,
                &ctx,
                Permission::DossierProcess,
                &format!("procedure:{}", p.code),
            )
            .await;
            Err(ctx.page_err(e))
        }
        Err(e) => Err(ctx.page_err(e)),
    }
}
