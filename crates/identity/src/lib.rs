//! Identity and authorization (định danh và phân quyền).
//!
//! - [`authz`]: roles, permissions and scopes; [`authz::authorize`] is the one place where
//!   every route and service call is checked, denying by default.
//! - [`accounts`]: citizens (công dân), enterprises (doanh nghiệp), household businesses (hộ
//!   kinh doanh) and staff (cán bộ, công chức) with their roles.
//! - [`auth`]: sign-in with argon2id passwords, TOTP second factor, lockout with back-off,
//!   browser sessions and scoped API tokens.
//! - [`keys`]: each staff member's signing key pair, used to sign their decisions.
//! - [`usage`]: staff with a verified digital identity and agencies acting on the platform,
//!   counted for the plan's live indicators.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
pub mod auth;
pub mod authz;
pub mod keys;
pub mod password;
pub mod usage;

use tinhso_store::migrate::Migration;

pub use authz::{authorize, Permission, Principal, ResourceScope, Role, Scope};

/// The identity tables.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 2001,
        name: "accounts, roles, sessions, tokens, signing keys",
        sql: include_str!("../migrations/2001_identity.sql"),
    },
    Migration {
        version: 2002,
        name: "TOTP replay protection",
        sql: include_str!("../migrations/2002_totp_last_step.sql"),
    },
    Migration {
        version: 2003,
        name: "agency signing keys",
        sql: include_str!("../migrations/2003_agency_keys.sql"),
    },
];
