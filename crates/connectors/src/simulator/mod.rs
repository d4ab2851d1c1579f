//! Local conformance simulators of the national systems — **used only in tests and in
//! `tinhso serve --demo`**, never in production. Each implements the same contract the real
//! connector speaks (strictly: bad credentials, unknown codes, illegal transitions and missing
//! fields are refused) on a loopback port, keeps what it received and can be told to fail.

pub mod customs;
pub mod dvcqg;
pub mod population;
