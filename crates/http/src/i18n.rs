//! Languages of the web pages (ngôn ngữ): Vietnamese by default, English on request.

use serde::Serialize;

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Pick the text for this language: templates write `{{ t.s("Đăng nhập", "Sign in") }}`.
    pub fn s<'a>(&self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    pub fn is_en(&self) -> bool {
        *self == Lang::En
    }
}
