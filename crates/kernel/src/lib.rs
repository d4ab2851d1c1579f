//! Kernel of Tỉnh số (hạt nhân): the pure, dependency-light building blocks every module uses.
//!
//! - [`error`]: the catalogue of stable error codes (mã lỗi) with HTTP status and messages in
//!   Vietnamese and English, and field-level validation errors.
//! - [`text`]: Vietnamese text — NFC normalisation, diacritic-insensitive folding for search,
//!   Vietnamese collation order.
//! - [`validate`]: identifiers — CCCD (căn cước công dân), MST (mã số thuế), phone, e-mail.
//! - [`lunar`] and [`calendar`]: the Vietnamese lunar calendar and the working-day calendar
//!   (ngày làm việc) used by every deadline.
//! - [`money`]: amounts in integer VND (đồng).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod calendar;
pub mod error;
pub mod lunar;
pub mod money;
pub mod text;
pub mod validate;

pub use error::{AppError, ErrorCode, FieldError, FieldErrors, Invalid};
