//! The reader shared by the settings sections of `tinhso.toml` (thiết lập): a key of the file's
//! `[section]`, overridden by its `TINHSO_*` environment variable (environment > file >
//! default). A value out of range stops start-up with a message, in Vietnamese and English,
//! naming the setting, where it came from (the variable or `tinhso.toml`) and what is allowed.
//! Used by `[exchange]` ([`crate::exchange_config`]), `[services]`
//! ([`crate::services_config`]) and `[pades]` ([`crate::pades_config`]).

/// The environment, as a look-up (tests pass their own).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One section of the file (mục cấu hình) and the environment that overrides its keys.
#[derive(Clone, Copy)]
pub struct Section<'a> {
    /// The section's name in messages (`exchange`, `services`).
    name: &'a str,
    env: Env<'a>,
}

/// One setting: its key in the section, its environment variable, the value from the file.
struct Source<'a, T> {
    section: &'a str,
    key: &'a str,
    env: &'a str,
    file: Option<T>,
}

/// What a key accepts, for the messages.
struct Allowed {
    vi: String,
    en: String,
}

impl<'a> Section<'a> {
    pub fn new(name: &'a str, env: Env<'a>) -> Self {
        Self { name, env }
    }

    /// An integer setting `key` (or its environment variable `var`, which wins) within
    /// `lo..=hi`; `None` when neither sets it. Anything else stops start-up with a message
    /// naming the setting, where it came from and what is allowed (`units` follow the range).
    pub fn int(
        &self,
        key: &str,
        var: &str,
        file: Option<i64>,
        (lo, hi): (i64, i64),
        (unit_vi, unit_en): (&str, &str),
    ) -> anyhow::Result<Option<i64>> {
        let allowed = Allowed {
            vi: format!("phải là số nguyên từ {lo} đến {hi}{unit_vi}"),
            en: format!("must be a whole number from {lo} to {hi}{unit_en}"),
        };
        self.checked(key, var, file, &allowed, |v| (lo..=hi).contains(v))
    }

    /// A decimal setting: more than `lo` (or at least, when `lo_inclusive`), at most `hi`.
    pub fn float(
        &self,
        key: &str,
        var: &str,
        file: Option<f64>,
        (lo, lo_inclusive, hi): (f64, bool, f64),
    ) -> anyhow::Result<Option<f64>> {
        let allowed = if lo_inclusive {
            Allowed {
                vi: format!("phải là số từ {lo} đến {hi}"),
                en: format!("must be a number from {lo} to {hi}"),
            }
        } else {
            Allowed {
                vi: format!("phải là số lớn hơn {lo} và không quá {hi}"),
                en: format!("must be a number above {lo} and at most {hi}"),
            }
        };
        self.checked(key, var, file, &allowed, |v| {
            let above = if lo_inclusive { *v >= lo } else { *v > lo };
            v.is_finite() && above && *v <= hi
        })
    }

    /// The value of `var` (parsed) or else the file's, when `ok` accepts it.
    fn checked<T: std::str::FromStr + Copy + ToString>(
        &self,
        key: &str,
        var: &str,
        file: Option<T>,
        allowed: &Allowed,
        ok: impl Fn(&T) -> bool,
    ) -> anyhow::Result<Option<T>> {
        let s = Source {
            section: self.name,
            key,
            env: var,
            file,
        };
        let (v, raw, from_env) = match (self.env)(var).filter(|v| !v.trim().is_empty()) {
            Some(raw) => match raw.trim().parse::<T>() {
                Ok(v) => (v, raw.trim().to_string(), true),
                Err(_) => return Err(bad(&s, &raw, allowed, true)),
            },
            None => match s.file {
                Some(v) => (v, v.to_string(), false),
                None => return Ok(None),
            },
        };
        if !ok(&v) {
            return Err(bad(&s, &raw, allowed, from_env));
        }
        Ok(Some(v))
    }

    /// A text setting: the environment variable `var` (non-empty, trimmed) wins over the
    /// file's; with `true` when it came from the environment.
    pub fn text(&self, file: Option<&String>, var: &str) -> Option<(String, bool)> {
        if let Some(v) = (self.env)(var).filter(|v| !v.trim().is_empty()) {
            return Some((v.trim().to_string(), true));
        }
        file.map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| (v, false))
    }
}

/// Where a value came from, for messages: the variable `var`, or the file.
pub fn place(from_env: bool, var: &str) -> String {
    if from_env {
        format!("{var} (biến môi trường / environment)")
    } else {
        "tinhso.toml".to_string()
    }
}

fn bad<T>(s: &Source<'_, T>, raw: &str, allowed: &Allowed, from_env: bool) -> anyhow::Error {
    anyhow::anyhow!(
        "setting `{section}.{key}` [{place}]: {raw:?} không hợp lệ — {vi} / is not valid — {en}",
        section = s.section,
        key = s.key,
        place = place(from_env, s.env),
        vi = allowed.vi,
        en = allowed.en,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::env_of;

    #[test]
    fn the_environment_wins_and_bad_values_name_the_setting_and_its_place() {
        let env = env_of(&[("TINHSO_X_N", " 7 "), ("TINHSO_X_BAD", "bảy")]);
        let s = Section::new("x", &env);
        assert_eq!(
            s.int("n", "TINHSO_X_N", Some(3), (1, 10), ("", ""))
                .unwrap(),
            Some(7)
        );
        assert_eq!(
            s.int("m", "TINHSO_X_M", Some(3), (1, 10), ("", ""))
                .unwrap(),
            Some(3)
        );
        assert_eq!(
            s.int("m", "TINHSO_X_M", None, (1, 10), ("", "")).unwrap(),
            None
        );
        let e = s
            .int(
                "m",
                "TINHSO_X_M",
                Some(11),
                (1, 10),
                (" (giây)", " (seconds)"),
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "setting `x.m` [tinhso.toml]: \"11\" không hợp lệ — phải là số nguyên từ 1 đến 10 (giây) / is not valid — must be a whole number from 1 to 10 (seconds)"
        );
        let e = s
            .float("bad", "TINHSO_X_BAD", Some(0.5), (0.0, true, 1.0))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "setting `x.bad` [TINHSO_X_BAD (biến môi trường / environment)]: \"bảy\" không hợp lệ — phải là số từ 0 đến 1 / is not valid — must be a number from 0 to 1"
        );
        assert!(s
            .float("f", "TINHSO_X_F", Some(0.0), (0.0, false, 1.0))
            .is_err());
        assert_eq!(
            s.text(Some(&" a ".to_string()), "TINHSO_X_N"),
            Some(("7".to_string(), true))
        );
        assert_eq!(
            s.text(Some(&" a ".to_string()), "TINHSO_X_T"),
            Some(("a".to_string(), false))
        );
        assert_eq!(s.text(Some(&"  ".to_string()), "TINHSO_X_T"), None);
    }
}
