//! Number plates (biển số xe): Vietnamese and Chinese plates parsed, validated and stored in one
//! canonical form whatever way they were typed.
//!
//! SKELETON: the contract below is what the rest of the crate uses; the parser is being written
//! (issue #4) and replaces this body.

use serde::{Deserialize, Serialize};
use tinhso_kernel::Invalid;

/// The country that issued the plate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Country {
    /// Việt Nam.
    Vn,
    /// Trung Quốc (中国).
    Cn,
}

impl Country {
    pub fn as_str(self) -> &'static str {
        match self {
            Country::Vn => "vn",
            Country::Cn => "cn",
        }
    }
}

/// A valid plate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Plate {
    pub country: Country,
    /// The one stored form: Vietnamese `12C-123.45` / `12R-012.34`, Chinese `桂A·12345`.
    pub canonical: String,
    /// A trailer or semi-trailer plate (Vietnamese series `R`).
    pub trailer: bool,
}

/// Parse a plate typed any way (spaces, dots, dashes, lower case, two lines).
pub fn parse(input: &str) -> Result<Plate, Invalid> {
    let compact: String = input
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect();
    if compact.len() < 7 {
        return Err(Invalid::new(
            "plate",
            "Biển số không hợp lệ",
            "The plate is not valid",
        ));
    }
    Ok(Plate {
        country: Country::Vn,
        trailer: compact.chars().nth(2) == Some('R'),
        canonical: compact,
    })
}
