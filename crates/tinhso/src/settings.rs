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

/// An integer key of a section (khóa số nguyên): its name in the section, the environment
/// variable that overrides it, the whole numbers it accepts (`lo..=hi`) and their unit in the
/// messages (Vietnamese, English; e.g. `(" (giây)", " (seconds)")`).
#[derive(Clone, Copy, Debug)]
pub struct IntKey<'a> {
    pub key: &'a str,
    pub var: &'a str,
    pub range: (i64, i64),
    pub units: (&'a str, &'a str),
}

impl<'a> IntKey<'a> {
    pub const fn new(
        key: &'a str,
        var: &'a str,
        range: (i64, i64),
        units: (&'a str, &'a str),
    ) -> Self {
        Self {
            key,
            var,
            range,
            units,
        }
    }
}

/// Units named after a range in the messages.
pub const SECONDS: (&str, &str) = (" (giây)", " (seconds)");
/// No unit.
pub const NO_UNIT: (&str, &str) = ("", "");

/// What a key accepts, for the messages.
struct Allowed {
    vi: String,
    en: String,
}

impl<'a> Section<'a> {
    pub fn new(name: &'a str, env: Env<'a>) -> Self {
        Self { name, env }
    }

    /// An integer setting `k` (or its environment variable, which wins) within its range;
    /// `None` when neither sets it. Anything else stops start-up with a message naming the
    /// setting, where it came from and what is allowed (the units follow the range).
    pub fn int(&self, k: IntKey<'_>, file: Option<i64>) -> anyhow::Result<Option<i64>> {
        let IntKey {
            key,
            var,
            range: (lo, hi),
            units: (unit_vi, unit_en),
        } = k;
        let allowed = Allowed {
            vi: format!("phải là số nguyên từ {lo} đến {hi}{unit_vi}"),
            en: format!("must be a whole number from {lo} to {hi}{unit_en}"),
        };
        self.checked(key, var, file, &allowed, |v| (lo..=hi).contains(v))
    }

    /// [`Section::int`] into a field (đặt giá trị cho trường): `*field = convert(v)` when the
    /// environment or the file sets `k` to a valid `v`, the field left as it is (its default)
    /// when neither does. The one per-key step of every section's integer settings.
    pub fn set_int<T>(
        &self,
        field: &mut T,
        k: IntKey<'_>,
        file: Option<i64>,
        convert: impl FnOnce(i64) -> T,
    ) -> anyhow::Result<()> {
        if let Some(v) = self.int(k, file)? {
            *field = convert(v);
        }
        Ok(())
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
        const M: IntKey = IntKey::new("m", "TINHSO_X_M", (1, 10), NO_UNIT);
        assert_eq!(
            s.int(IntKey::new("n", "TINHSO_X_N", (1, 10), NO_UNIT), Some(3))
                .unwrap(),
            Some(7)
        );
        assert_eq!(s.int(M, Some(3)).unwrap(), Some(3));
        assert_eq!(s.int(M, None).unwrap(), None);
        let e = s
            .int(
                IntKey {
                    units: SECONDS,
                    ..M
                },
                Some(11),
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

    #[test]
    fn set_int_sets_the_field_only_when_the_key_is_set_and_valid() {
        let env = env_of(&[("TINHSO_X_SECS", "45"), ("TINHSO_X_BAD", "-2")]);
        let s = Section::new("x", &env);
        const SECS: IntKey = IntKey::new("secs", "TINHSO_X_SECS", (1, 60), SECONDS);
        const OTHER: IntKey = IntKey::new("other", "TINHSO_X_OTHER", (1, 60), SECONDS);
        let mut wait = std::time::Duration::from_secs(5);
        let secs = |v: i64| std::time::Duration::from_secs(u64::try_from(v).unwrap());
        // Neither the environment nor the file: the default stays.
        s.set_int(&mut wait, OTHER, None, secs).unwrap();
        assert_eq!(wait, std::time::Duration::from_secs(5));
        // The file sets it, converted.
        s.set_int(&mut wait, OTHER, Some(12), secs).unwrap();
        assert_eq!(wait, std::time::Duration::from_secs(12));
        // The environment wins over the file.
        s.set_int(&mut wait, SECS, Some(12), secs).unwrap();
        assert_eq!(wait, std::time::Duration::from_secs(45));
        // A bad value: the field is left as it was, the message the same as `int`'s.
        let bad = IntKey::new("bad", "TINHSO_X_BAD", (0, 10), NO_UNIT);
        let e = s.set_int(&mut wait, bad, Some(3), secs).unwrap_err();
        assert_eq!(wait, std::time::Duration::from_secs(45));
        assert_eq!(e.to_string(), s.int(bad, Some(3)).unwrap_err().to_string(),);
        assert_eq!(
            e.to_string(),
            "setting `x.bad` [TINHSO_X_BAD (biến môi trường / environment)]: \"-2\" không hợp lệ — phải là số nguyên từ 0 đến 10 / is not valid — must be a whole number from 0 to 10"
        );
        let e = s.set_int(&mut wait, OTHER, Some(61), secs).unwrap_err();
        assert!(e.to_string().contains("từ 1 đến 60 (giây)"), "{e}");
        assert_eq!(wait, std::time::Duration::from_secs(45));
    }
}
