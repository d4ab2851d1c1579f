//! The web layer of the public-services module (cổng dịch vụ công và một cửa điện tử): the
//! citizen portal (catalogue, e-form submission, receipt, tracking, my dossiers), the one-stop
//! back office (queue, dossier, actions, counter entry) and the JSON API, with their access
//! rules. `tinhso-web` composes [`RULES`], [`routes`] and [`ApiDoc`] with the other modules.
//!
//! Handlers translate HTTP to the services in [`crate::catalogue`] and [`crate::dossier`];
//! resource-scoped checks go through [`tinhso_http::context::require`] with
//! [`crate::dossier::scope_of`], so every refusal is audited.

pub mod api;
pub mod certificates;
pub mod crls;
pub mod feedback;
pub mod forms;
mod indicators;
pub mod lookup_limit;
mod office;
pub mod payment;
mod population_check;
mod portal;
mod procedures;
pub mod results;
mod upload_page;
mod view;

use axum::routing::{get, post};
use axum::Router;
use tinhso_http::access::{Access, Rule};
use tinhso_http::AppState;
use tinhso_identity::{Permission, Principal, Scope};
use tinhso_kernel::AppError;
use tinhso_refdata::agencies;

pub use api::ApiDoc;

/// (method, route template, rule) of every route of the module.
pub const RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        // citizen portal
        ("GET", "/tai-nguyen/dich-vu-cong.css", Public),
        ("GET", "/dich-vu-cong", Public),
        ("GET", "/dich-vu-cong/{code}", Public),
        ("GET", "/dich-vu-cong/{code}/nop", Public),
        ("POST", "/dich-vu-cong/{code}/nop", Public),
        ("GET", "/ho-so/{code}/bien-nhan", Public),
        ("GET", "/ho-so/{code}/bien-nhan.pdf", Public),
        // electronic results: verification is public (the QR code); downloads check the
        // lookup code, the owner or the officer's scope inside
        ("GET", "/xac-thuc", Public),
        ("GET", "/xac-thuc/{id}", Public),
        ("POST", "/xac-thuc/{id}", Public),
        ("GET", "/tra-cuu/ket-qua", Public),
        ("GET", "/kho-du-lieu", SignedIn),
        ("GET", "/kho-du-lieu/{id}", SignedIn),
        ("GET", "/nghiep-vu/ho-so/{code}/ket-qua", Perm(DossierRead)),
        (
            "POST",
            "/nghiep-vu/ho-so/{code}/thu-hoi-ket-qua",
            Perm(DossierApprove),
        ),
        ("GET", "/api/v1/results/{id}", Public),
        ("GET", "/api/v1/dossiers/{code}/result", Public),
        ("GET", "/api/v1/dossiers/{code}/result/pdf", Public),
        (
            "POST",
            "/api/v1/dossiers/{code}/result/revocation",
            Perm(DossierApprove),
        ),
        ("GET", "/api/v1/me/documents", SignedIn),
        // PAdES: checking a PDF's embedded signature is public (nothing stored); agency
        // certificates are managed by whoever approves the agency's results (scope checked
        // inside); the test CA only in demo mode
        ("POST", "/api/v1/pades/verification", Public),
        // CRLs the verifier checks signers against: administrators (province scope inside)
        ("GET", "/api/v1/pades/crls", Perm(AgencyManage)),
        ("POST", "/api/v1/pades/crls", Perm(AgencyManage)),
        ("GET", "/nghiep-vu/danh-sach-thu-hoi", Perm(AgencyManage)),
        ("POST", "/nghiep-vu/danh-sach-thu-hoi", Perm(AgencyManage)),
        ("GET", "/nghiep-vu/chung-thu-so", Perm(DossierApprove)),
        ("POST", "/nghiep-vu/chung-thu-so", Perm(DossierApprove)),
        (
            "POST",
            "/nghiep-vu/chung-thu-so/thu-nghiem",
            Perm(DossierApprove),
        ),
        ("GET", "/tra-cuu", Public),
        ("POST", "/tra-cuu/rut-ho-so", Public),
        ("POST", "/tra-cuu/bo-sung", Public),
        // payment: lookup code or owner checked inside; the simulator only in demo mode
        ("GET", "/tra-cuu/thanh-toan", Public),
        ("POST", "/tra-cuu/thanh-toan/mo-phong", Public),
        ("GET", "/ho-so-cua-toi", SignedIn),
        // ratings (the applicant: lookup code or owner, checked inside) and PAKN (anyone)
        ("GET", "/tra-cuu/danh-gia", Public),
        ("POST", "/tra-cuu/danh-gia", Public),
        ("GET", "/phan-anh-kien-nghi", Public),
        ("POST", "/phan-anh-kien-nghi", Public),
        ("GET", "/phan-anh-kien-nghi/tra-cuu", Public),
        ("GET", "/nghiep-vu/phan-anh-kien-nghi", Perm(DossierProcess)),
        (
            "GET",
            "/nghiep-vu/phan-anh-kien-nghi/{code}",
            Perm(DossierProcess),
        ),
        (
            "POST",
            "/nghiep-vu/phan-anh-kien-nghi/{code}/xu-ly",
            Perm(DossierProcess),
        ),
        // one-stop back office
        ("GET", "/nghiep-vu/ho-so", Perm(DossierRead)),
        ("GET", "/nghiep-vu/chi-so", Perm(DossierRead)),
        (
            "GET",
            "/nghiep-vu/ho-so/tiep-nhan-truc-tiep",
            Perm(DossierProcess),
        ),
        (
            "POST",
            "/nghiep-vu/ho-so/tiep-nhan-truc-tiep",
            Perm(DossierProcess),
        ),
        ("GET", "/nghiep-vu/ho-so/{code}", Perm(DossierRead)),
        (
            "POST",
            "/nghiep-vu/ho-so/{code}/xu-ly",
            Perm(DossierProcess),
        ),
        // JSON API
        ("GET", "/api/v1/indicators/dossiers", Perm(DossierRead)),
        ("GET", "/api/v1/procedures", Public),
        ("GET", "/api/v1/procedures/{code}", Public),
        ("PUT", "/api/v1/procedures/{code}", Perm(ProcedureManage)),
        ("POST", "/api/v1/dossiers", Public),
        ("GET", "/api/v1/dossiers", SignedIn),
        ("GET", "/api/v1/dossiers/{code}", SignedIn),
        ("GET", "/api/v1/dossiers/{code}/track", Public),
        ("POST", "/api/v1/dossiers/{code}/transitions", Public),
        // attachments: the applicant (lookup code or owner) or staff in scope, checked inside
        ("POST", "/api/v1/dossiers/{code}/files", Public),
        ("GET", "/api/v1/dossiers/{code}/files/{sha256}", Public),
        // payments: the applicant (lookup code or owner); the callback is authenticated by
        // its HMAC signature
        ("POST", "/api/v1/dossiers/{code}/payments", Public),
        ("POST", "/api/v1/payments/callback", Public),
        ("GET", "/api/v1/payments/reconciliation", Perm(DossierRead)),
        // ratings: the applicant (lookup code or owner); PAKN: anyone sends, the sender reads
        // with the lookup code, officers in the agency's scope (checked inside) handle them
        ("POST", "/api/v1/dossiers/{code}/rating", Public),
        ("GET", "/api/v1/dossiers/{code}/rating", Public),
        ("POST", "/api/v1/feedback", Public),
        ("GET", "/api/v1/feedback", Perm(DossierProcess)),
        ("GET", "/api/v1/feedback/{code}", Public),
        (
            "POST",
            "/api/v1/feedback/{code}/actions",
            Perm(DossierProcess),
        ),
        // forms 02, 03, 04 (the applicant: lookup code or owner; staff in scope, checked
        // inside), the apology (form 04), form 06 and the register (form 07)
        ("GET", "/ho-so/{code}/mau-02.pdf", Public),
        ("GET", "/ho-so/{code}/mau-03.pdf", Public),
        ("GET", "/ho-so/{code}/mau-04.pdf", Public),
        (
            "GET",
            "/nghiep-vu/ho-so/{code}/xin-loi",
            Perm(DossierProcess),
        ),
        (
            "POST",
            "/nghiep-vu/ho-so/{code}/xin-loi",
            Perm(DossierProcess),
        ),
        ("GET", "/nghiep-vu/ho-so/{code}/mau-06", Perm(DossierRead)),
        (
            "GET",
            "/nghiep-vu/ho-so/{code}/mau-06.pdf",
            Perm(DossierRead),
        ),
        ("GET", "/nghiep-vu/so-theo-doi", Perm(DossierRead)),
        ("GET", "/nghiep-vu/so-theo-doi.csv", Perm(DossierRead)),
        ("GET", "/nghiep-vu/so-theo-doi.pdf", Perm(DossierRead)),
        ("GET", "/api/v1/dossiers/{code}/forms/{form}", Public),
        (
            "POST",
            "/api/v1/dossiers/{code}/apology",
            Perm(DossierProcess),
        ),
        ("GET", "/api/v1/dossier-register", Perm(DossierRead)),
        // editing the procedure catalogue
        ("GET", "/quan-tri/thu-tuc", Perm(ProcedureManage)),
        ("GET", "/quan-tri/thu-tuc/{code}", Perm(ProcedureManage)),
        ("POST", "/quan-tri/thu-tuc/{code}", Perm(ProcedureManage)),
    ]
};

/// The module's routes (pages and API).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tai-nguyen/dich-vu-cong.css", get(view::stylesheet))
        .route("/dich-vu-cong", get(portal::catalogue_page))
        .route("/dich-vu-cong/{code}", get(portal::procedure_page))
        .route(
            "/dich-vu-cong/{code}/nop",
            get(portal::submit_form).post(portal::submit_post),
        )
        .route("/ho-so/{code}/bien-nhan", get(portal::receipt_page))
        .route("/ho-so/{code}/bien-nhan.pdf", get(portal::receipt_pdf))
        .route("/tra-cuu", get(portal::track_page))
        .route("/tra-cuu/rut-ho-so", post(portal::withdraw_post))
        .route("/tra-cuu/bo-sung", post(portal::supplement_post))
        .route("/ho-so-cua-toi", get(portal::my_dossiers))
        .route("/nghiep-vu/ho-so", get(office::queue_page))
        .route(
            "/nghiep-vu/ho-so/tiep-nhan-truc-tiep",
            get(office::counter_form).post(office::counter_post),
        )
        .route("/nghiep-vu/ho-so/{code}", get(office::dossier_page))
        .route("/nghiep-vu/ho-so/{code}/xu-ly", post(office::action_post))
        .merge(api::routes())
        .merge(indicators::routes())
        .merge(payment::routes())
        .merge(results::routes())
        .merge(certificates::routes())
        .merge(crls::routes())
        .merge(feedback::routes())
        .merge(forms::routes())
        .merge(procedures::routes())
        // The exact wait of a look-up refused for too many wrong codes.
        .layer(axum::middleware::from_fn(lookup_limit::retry_after_layer))
}

/// Agency codes whose dossiers `p` may see with `perm`: the union over its roles granting
/// `perm` — a province-wide role gives `None` (everything); an agency role its subtree (and,
/// for the provincial one-stop centre, every provincial agency whose dossiers it receives); a
/// commune role that commune's People's Committee only. The same rules as
/// [`crate::dossier::scope_of`], computed for a list instead of one dossier.
pub async fn readable_agencies(
    state: &AppState,
    p: &Principal,
    perm: Permission,
) -> Result<Option<Vec<String>>, AppError> {
    if !p.can_somewhere(perm) {
        return Ok(Some(Vec::new()));
    }
    let all = agencies::list(
        &state.db,
        &agencies::AgencyFilter {
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await?;
    let mut codes: Vec<String> = Vec::new();
    for a in p
        .roles
        .iter()
        .filter(|a| a.role.permissions().contains(&perm))
    {
        match &a.scope {
            Scope::Province => return Ok(None),
            Scope::Agency(code) => {
                let sub = agencies::subtree(&state.db, code).await?;
                let has_centre = all
                    .iter()
                    .any(|ag| sub.contains(&ag.code) && crate::dossier::is_one_stop_centre(ag));
                codes.extend(sub);
                if has_centre {
                    codes.extend(
                        all.iter()
                            .filter(|ag| crate::dossier::received_at_centre(ag))
                            .map(|ag| ag.code.clone()),
                    );
                }
            }
            Scope::Commune(unit) => codes.extend(
                all.iter()
                    .filter(|ag| {
                        ag.kind == "ubnd_xa" && ag.admin_unit_code.as_deref() == Some(unit.as_str())
                    })
                    .map(|ag| ag.code.clone()),
            ),
            Scope::Own => {}
        }
    }
    codes.sort();
    codes.dedup();
    Ok(Some(codes))
}
