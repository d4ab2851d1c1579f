//! Who may read a unit's values in the operations centre (quyền xem số liệu theo đơn vị):
//! `DossierRead` over the unit, as `/api/v1/observations`; and, for the border-gate indicators
//! (`border.*`) of a commune, `BorderManage` over an agency present at one of the commune's
//! gates — so the border managers (`border_manager`, e.g. the Ban Quản lý Khu kinh tế cửa khẩu)
//! drill from a border target into the communes of the gates and the trips behind the number
//! without being given the commune's dossiers.

use crate::engine::OrgUnit;
use crate::reported;
use tinhso_identity::{authorize, Permission, Principal, ResourceScope};
use tinhso_kernel::AppError;
use tinhso_store::Db;

/// The scope of a commune's gates (phạm vi các cửa khẩu trong xã): every agency present at a
/// gate in the commune, with its ancestors; `None` when the commune has no gate.
pub async fn gates_scope(db: &Db, commune: &str) -> Result<Option<ResourceScope>, AppError> {
    let mut agencies: Vec<String> = Vec::new();
    let mut any = false;
    for g in tinhso_border::gates::list(db).await? {
        if g.commune_code != commune {
            continue;
        }
        any = true;
        for a in &g.agencies {
            for code in tinhso_refdata::agencies::ancestors(db, &a.agency).await? {
                if !agencies.contains(&code) {
                    agencies.push(code);
                }
            }
        }
    }
    Ok(any.then_some(ResourceScope {
        agencies,
        commune: None,
        owner_user_id: None,
    }))
}

/// The permission and scope under which the caller reads `org`'s values of indicator `key`:
/// `BorderManage` over the commune's gates when `key` is a border indicator, `org` a commune
/// with gates, and the caller holds that but not `DossierRead` over the commune; otherwise
/// `DossierRead` over the unit (the caller may or may not hold it: the check is the caller's).
pub async fn read_grant(
    db: &Db,
    principal: Option<&Principal>,
    key: &str,
    org: &OrgUnit,
) -> Result<(Permission, ResourceScope), AppError> {
    let scope = reported::scope_of(db, org).await?;
    if let (true, OrgUnit::Commune(c)) = (key.starts_with("border."), org) {
        if authorize(principal, Permission::DossierRead, &scope).is_err() {
            if let Some(gates) = gates_scope(db, c).await? {
                if authorize(principal, Permission::BorderManage, &gates).is_ok() {
                    return Ok((Permission::BorderManage, gates));
                }
            }
        }
    }
    Ok((Permission::DossierRead, scope))
}

/// Whether the caller may read `org`'s values of `key` (no audit: used to filter lists).
pub async fn may_read(
    db: &Db,
    principal: Option<&Principal>,
    key: &str,
    org: &OrgUnit,
) -> Result<bool, AppError> {
    if authorize(
        principal,
        Permission::DossierRead,
        &ResourceScope::province(),
    )
    .is_ok()
    {
        return Ok(true);
    }
    let (perm, scope) = read_grant(db, principal, key, org).await?;
    Ok(authorize(principal, perm, &scope).is_ok())
}
