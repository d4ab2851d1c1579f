//! The officer's "check the population record" (đối chiếu CSDL quốc gia về dân cư) on a
//! citizen's dossier: the button posts to the connectors crate
//! (`POST /nghiep-vu/ho-so/{code}/kiem-tra-dan-cu`, `tinhso_connectors::web`), which asks the
//! population database with the applicant's CCCD and name and audits the answer
//! (`connectors.population.verify`, the purpose `dossier:<code>`, a keyed digest of the
//! number — never the number, the name or the record). The dossier page shows the latest
//! verdict for this dossier from that audit entry: match, mismatch (which fields), not found
//! or service unavailable, with when and by whom — nothing of the population record itself.

use crate::dossier::Dossier;
use tinhso_http::i18n::Lang;
use tinhso_http::layout::local_time;
use tinhso_kernel::AppError;
use tinhso_store::audit::{self, AuditFilter};
use tinhso_store::Db;

/// The audit action the connector writes for each verification.
pub const ACTION: &str = "connectors.population.verify";

/// The purpose a dossier's check is recorded with.
pub fn purpose(code: &str) -> String {
    format!("dossier:{code}")
}

/// The audit target of a CCCD: a keyed digest under the master key (the same as
/// `tinhso_connectors::population::cccd_digest`; the connectors' page test checks both agree).
pub fn target_id(cccd: &str) -> String {
    let mac = tinhso_identity::keys::mac("population-verify", cccd.as_bytes());
    format!("cccd-digest:{}", hex::encode(&mac[..8]))
}

/// A verdict as the page shows it.
#[derive(Debug, Clone)]
pub struct Shown {
    /// `match`, `mismatch`, `not_found` or `unavailable`.
    pub result: String,
    pub label: String,
    /// The fields that differ, named in the page's language.
    pub fields: String,
    pub at: String,
    pub by: String,
}

/// The latest check of `d`'s applicant made for `d`, if any.
pub async fn latest(db: &Db, d: &Dossier, lang: Lang) -> Result<Option<Shown>, AppError> {
    let cccd: String = d
        .applicant
        .id_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let entries = audit::list(
        db,
        &AuditFilter {
            action: Some(ACTION.into()),
            target_type: Some("citizen".into()),
            target_id: Some(target_id(&cccd)),
            limit: Some(50),
            ..Default::default()
        },
    )
    .await?;
    let want = purpose(&d.code);
    for e in entries {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.summary) else {
            continue;
        };
        if v["purpose"].as_str() != Some(want.as_str()) {
            continue;
        }
        let result = v["result"].as_str().unwrap_or_default().to_string();
        let label = match result.as_str() {
            "match" => lang.s("Khớp với CSDL dân cư", "Matches the population database"),
            "mismatch" => lang.s("Không khớp", "Does not match"),
            "not_found" => lang.s(
                "Không tìm thấy số định danh",
                "Identification number not found",
            ),
            _ => lang.s(
                "Không kết nối được CSDL dân cư",
                "The population database could not be reached",
            ),
        }
        .to_string();
        let fields = v["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str())
                    .map(|f| match f {
                        "full_name" => lang.s("họ tên", "full name"),
                        "date_of_birth" => lang.s("ngày sinh", "date of birth"),
                        _ => f,
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return Ok(Some(Shown {
            result,
            label,
            fields,
            at: local_time(e.at),
            by: e.actor,
        }));
    }
    Ok(None)
}
