//! `[services]` settings (dịch vụ công): the limits on wrong look-up codes (mã tra cứu) when a
//! dossier or a PAKN is tracked without signing in (`tinhso_services::web::lookup_limit`).
//!
//! ```toml
//! [services]
//! lookup_wrong_tries_per_item = 10      # TINHSO_SERVICES_LOOKUP_WRONG_TRIES_PER_ITEM (1–1000)
//! lookup_wrong_tries_per_address = 30   # TINHSO_SERVICES_LOOKUP_WRONG_TRIES_PER_ADDRESS (1–100000)
//! lookup_window_secs = 900              # TINHSO_SERVICES_LOOKUP_WINDOW_SECS (10–86400)
//! inline_file_max_kib = 64              # TINHSO_SERVICES_INLINE_FILE_MAX_KIB (0–1024)
//! ```
//!
//! Wrong codes allowed per dossier or PAKN, and per client address, within the window (the
//! budgets refill evenly over it). Attachments up to `inline_file_max_kib` KiB are kept in the
//! database with their dossier, larger ones in the file store (0: every one in the file store). The environment wins over the file; a value out of range
//! stops start-up with a message naming the setting.

use crate::settings::{IntKey, Section, SECONDS};
use serde::Deserialize;
use std::time::Duration;
use tinhso_http::ratelimit::LookupBudgets;

/// The `[services]` table of `tinhso.toml`: every key optional (the default applies).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesFile {
    lookup_wrong_tries_per_item: Option<i64>,
    lookup_wrong_tries_per_address: Option<i64>,
    lookup_window_secs: Option<i64>,
    inline_file_max_kib: Option<i64>,
}

/// Wrong codes, the unit of the two budgets in messages.
const TRIES: (&str, &str) = (" (lần nhập sai)", " (wrong codes)");
const TRIES_PER_ITEM: IntKey = IntKey::new(
    "lookup_wrong_tries_per_item",
    "TINHSO_SERVICES_LOOKUP_WRONG_TRIES_PER_ITEM",
    (1, 1000),
    TRIES,
);
const TRIES_PER_ADDRESS: IntKey = IntKey::new(
    "lookup_wrong_tries_per_address",
    "TINHSO_SERVICES_LOOKUP_WRONG_TRIES_PER_ADDRESS",
    (1, 100_000),
    TRIES,
);
const WINDOW: IntKey = IntKey::new(
    "lookup_window_secs",
    "TINHSO_SERVICES_LOOKUP_WINDOW_SECS",
    (10, 86_400),
    SECONDS,
);

const INLINE_FILE_MAX: IntKey = IntKey::new(
    "inline_file_max_kib",
    "TINHSO_SERVICES_INLINE_FILE_MAX_KIB",
    (0, 1024),
    (
        " (KiB; 0 = mọi tệp lưu thành tệp)",
        " (KiB; 0 = every file in the file store)",
    ),
);

/// Resolved `[services]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServicesSettings {
    /// Wrong look-up codes allowed per item and per client address.
    pub lookup: LookupBudgets,
    /// Attachments up to this many bytes are kept in the database (tệp nhỏ lưu trong cơ sở
    /// dữ liệu), not as files.
    pub inline_file_max: usize,
}

impl Default for ServicesSettings {
    fn default() -> Self {
        Self {
            lookup: LookupBudgets::DEFAULT,
            inline_file_max: tinhso_store::files::INLINE_MAX_DEFAULT,
        }
    }
}

impl ServicesSettings {
    /// From the file's `[services]` table and the environment (which wins).
    pub fn resolve(
        f: Option<&ServicesFile>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let empty = ServicesFile::default();
        let f = f.unwrap_or(&empty);
        let sec = Section::new("services", env);
        let mut lookup = LookupBudgets::DEFAULT;
        let tries = |v: i64| u32::try_from(v).unwrap_or(1);
        sec.set_int(
            &mut lookup.per_item,
            TRIES_PER_ITEM,
            f.lookup_wrong_tries_per_item,
            tries,
        )?;
        sec.set_int(
            &mut lookup.per_address,
            TRIES_PER_ADDRESS,
            f.lookup_wrong_tries_per_address,
            tries,
        )?;
        sec.set_int(&mut lookup.window, WINDOW, f.lookup_window_secs, |v| {
            Duration::from_secs(u64::try_from(v).unwrap_or(10))
        })?;
        let mut inline_file_max = tinhso_store::files::INLINE_MAX_DEFAULT;
        sec.set_int(
            &mut inline_file_max,
            INLINE_FILE_MAX,
            f.inline_file_max_kib,
            |kib| usize::try_from(kib).unwrap_or(0) * 1024,
        )?;
        Ok(Self {
            lookup,
            inline_file_max,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::env_of;

    #[test]
    fn defaults_file_and_environment() {
        let s = ServicesSettings::resolve(None, &env_of(&[])).unwrap();
        assert_eq!(s.lookup, LookupBudgets::DEFAULT);
        assert_eq!(
            (s.lookup.per_item, s.lookup.per_address, s.lookup.window),
            (10, 30, Duration::from_secs(900)),
            "the defaults are those of before the setting existed"
        );
        assert_eq!(s.inline_file_max, 64 * 1024);
        let s = ServicesSettings::resolve(
            Some(&toml::from_str("inline_file_max_kib = 0").unwrap()),
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(
            s.inline_file_max, 0,
            "0: every attachment in the file store"
        );
        let s = ServicesSettings::resolve(
            Some(&toml::from_str("inline_file_max_kib = 16").unwrap()),
            &env_of(&[("TINHSO_SERVICES_INLINE_FILE_MAX_KIB", "128")]),
        )
        .unwrap();
        assert_eq!(s.inline_file_max, 128 * 1024, "the environment wins");
        let f: ServicesFile = toml::from_str(
            "lookup_wrong_tries_per_item = 3\nlookup_wrong_tries_per_address = 7\nlookup_window_secs = 60\n",
        )
        .unwrap();
        let s = ServicesSettings::resolve(Some(&f), &env_of(&[])).unwrap();
        assert_eq!(
            s.lookup,
            LookupBudgets {
                per_item: 3,
                per_address: 7,
                window: Duration::from_secs(60)
            }
        );
        let s = ServicesSettings::resolve(
            Some(&f),
            &env_of(&[("TINHSO_SERVICES_LOOKUP_WRONG_TRIES_PER_ITEM", " 5 ")]),
        )
        .unwrap();
        assert_eq!(
            (s.lookup.per_item, s.lookup.per_address),
            (5, 7),
            "the environment wins, key by key"
        );
    }

    #[test]
    fn bad_values_stop_start_up_naming_the_setting() {
        let f: ServicesFile = toml::from_str("lookup_wrong_tries_per_item = 0").unwrap();
        let e = ServicesSettings::resolve(Some(&f), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`services.lookup_wrong_tries_per_item`")
                && e.contains("tinhso.toml")
                && e.contains("từ 1 đến 1000")
                && e.contains("from 1 to 1000"),
            "{e}"
        );
        let e = ServicesSettings::resolve(
            None,
            &env_of(&[("TINHSO_SERVICES_LOOKUP_WINDOW_SECS", "15m")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`services.lookup_window_secs`")
                && e.contains("TINHSO_SERVICES_LOOKUP_WINDOW_SECS")
                && e.contains("\"15m\""),
            "{e}"
        );
        let e = ServicesSettings::resolve(
            None,
            &env_of(&[("TINHSO_SERVICES_LOOKUP_WRONG_TRIES_PER_ADDRESS", "-1")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`services.lookup_wrong_tries_per_address`"),
            "{e}"
        );
        let e = ServicesSettings::resolve(
            None,
            &env_of(&[("TINHSO_SERVICES_INLINE_FILE_MAX_KIB", "2048")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`services.inline_file_max_kib`")
                && e.contains("từ 0 đến 1024")
                && e.contains("from 0 to 1024"),
            "{e}"
        );
        let e = toml::from_str::<ServicesFile>("lookup_tries = 3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lookup_tries"), "unknown keys are reported: {e}");
    }
}
