//! `[pades]` settings (chữ ký số PAdES trên kết quả): the time-stamp authority that makes
//! result signatures PAdES-B-T.
//!
//! ```toml
//! [pades]
//! tsa_url = "http://tsa.example.vn/tsr"     # TINHSO_PADES_TSA_URL
//! tsa_certificate = "/etc/tinhso/tsa.pem"   # TINHSO_PADES_TSA_CERTIFICATE
//! tsa_timeout_ms = 5000                     # TINHSO_PADES_TSA_TIMEOUT_MS (100–60000)
//! ```
//!
//! `tsa_url` needs `tsa_certificate` (the TSA's own certificate, pinned, or its issuing CA).
//! The certificate alone is enough to verify the time-stamps of results already issued. The
//! PAdES trust list is trusted for time-stamps too. Without `tsa_url`, results are PAdES-B-B.

use crate::settings::{place, Section};
use anyhow::bail;
use serde::Deserialize;
use std::time::Duration;

/// The `[pades]` table of `tinhso.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PadesFile {
    tsa_url: Option<String>,
    tsa_certificate: Option<String>,
    tsa_timeout_ms: Option<u64>,
}

/// Resolved `[pades]` settings.
#[derive(Debug, Clone, Default)]
pub struct PadesSettings {
    /// The TSA for new result signatures; `None`: PAdES-B-B.
    pub tsa: Option<tinhso_tsa::TsaConfig>,
    /// TSA certificates trusted when verifying result time-stamps.
    pub tsa_trust: tinhso_tsa::TrustedTsa,
}

/// A text setting and where it came from (the variable or `tinhso.toml`), for messages.
fn value(
    file: Option<&String>,
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    Section::new("pades", env)
        .text(file, var)
        .map(|(v, from_env)| (v, place(from_env, var)))
}

impl PadesSettings {
    /// From the file's `[pades]` table and the environment (which wins).
    pub fn resolve(
        f: Option<&PadesFile>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let empty = PadesFile::default();
        let f = f.unwrap_or(&empty);
        let url = value(f.tsa_url.as_ref(), "TINHSO_PADES_TSA_URL", env);
        let cert = value(
            f.tsa_certificate.as_ref(),
            "TINHSO_PADES_TSA_CERTIFICATE",
            env,
        );
        let timeout_ms = match env("TINHSO_PADES_TSA_TIMEOUT_MS").filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                anyhow::anyhow!(
                    "setting `pades.tsa_timeout_ms` [TINHSO_PADES_TSA_TIMEOUT_MS]: {v:?} không phải số mili giây / is not a number of milliseconds"
                )
            })?),
            None => f.tsa_timeout_ms,
        }
        .unwrap_or(5_000);
        if !(100..=60_000).contains(&timeout_ms) {
            bail!(
                "setting `pades.tsa_timeout_ms`: {timeout_ms} phải từ 100 đến 60000 / must be between 100 and 60000"
            );
        }
        if let Some((u, place)) = &url {
            let ok = reqwest::Url::parse(u)
                .ok()
                .is_some_and(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some());
            if !ok {
                bail!(
                    "setting `pades.tsa_url` [{place}]: {u:?} không hợp lệ — phải là địa chỉ http:// hoặc https:// / is not valid — must be an http:// or https:// address"
                );
            }
            if cert.is_none() {
                bail!(
                    "setting `pades.tsa_certificate`: cần tệp PEM chứng thư tin cậy của TSA khi đặt tsa_url / a PEM file with the TSA's trusted certificate is required when tsa_url is set"
                );
            }
        }
        let tsa_trust = match &cert {
            None => tinhso_tsa::TrustedTsa::default(),
            Some((path, place)) => {
                let pem = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!(
                        "setting `pades.tsa_certificate` [{place}]: không đọc được {path:?} / cannot read {path:?}: {e}"
                    )
                })?;
                tinhso_tsa::TrustedTsa::from_pem(&pem).map_err(|e| {
                    anyhow::anyhow!("setting `pades.tsa_certificate` [{place}] {path:?}: {e}")
                })?
            }
        };
        let tsa = url.map(|(url, _)| tinhso_tsa::TsaConfig {
            url,
            trust: tsa_trust.clone(),
            timeout: Duration::from_millis(timeout_ms),
        });
        Ok(Self { tsa, tsa_trust })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::env_of;

    #[test]
    fn the_tsa_needs_a_certificate_a_valid_url_and_a_sane_timeout() {
        let none = PadesSettings::resolve(None, &env_of(&[])).unwrap();
        assert!(none.tsa.is_none() && none.tsa_trust.is_empty());
        let e = PadesSettings::resolve(
            None,
            &env_of(&[("TINHSO_PADES_TSA_URL", "http://127.0.0.1:3161/")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`pades.tsa_certificate`") && e.contains("required"),
            "{e}"
        );
        let e = PadesSettings::resolve(
            None,
            &env_of(&[("TINHSO_PADES_TSA_URL", "ftp://tsa.example.vn/")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`pades.tsa_url`") && e.contains("không hợp lệ"),
            "{e}"
        );
        let f: PadesFile = toml::from_str("tsa_timeout_ms = 50").unwrap();
        let e = PadesSettings::resolve(Some(&f), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`pades.tsa_timeout_ms`"), "{e}");
        let e = toml::from_str::<PadesFile>("tsa_adress = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tsa_adress"), "{e}");
    }

    #[test]
    fn a_configured_tsa_is_read_from_the_file_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let kp = tinhso_tsa::testing::Keypair::tsa("CN=TSA thử nghiệm,C=VN");
        let path = dir.path().join("tsa.pem");
        std::fs::write(&path, kp.pem()).unwrap();
        let f: PadesFile = toml::from_str(&format!(
            "tsa_url = \"https://tsa.example.vn/tsr\"\ntsa_certificate = {:?}\ntsa_timeout_ms = 2500\n",
            path.to_string_lossy()
        ))
        .unwrap();
        let s = PadesSettings::resolve(Some(&f), &env_of(&[])).unwrap();
        let tsa = s.tsa.unwrap();
        assert_eq!(tsa.url, "https://tsa.example.vn/tsr");
        assert_eq!(tsa.timeout, Duration::from_millis(2500));
        assert!(!s.tsa_trust.is_empty());
        let s = PadesSettings::resolve(
            Some(&f),
            &env_of(&[("TINHSO_PADES_TSA_URL", "http://127.0.0.1:3161/")]),
        )
        .unwrap();
        assert_eq!(s.tsa.unwrap().url, "http://127.0.0.1:3161/");
        let e = PadesSettings::resolve(
            None,
            &env_of(&[("TINHSO_PADES_TSA_CERTIFICATE", "/nonexistent/tsa.pem")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("không đọc được"), "{e}");
    }
}
