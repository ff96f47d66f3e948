//! `careplan-core`: the pure domain of ケアプランデータ連携.
//!
//! Identifiers (事業所番号 and friends), file-name parsing and building, MS932 CSV reading,
//! record layouts and validation, send-set grouping, routing by office number, the 50-office
//! bulk limit, the demo-data generator and the wire types shared by relay and client.
//!
//! This crate must stay pure: no file system, no clock, no network, no threads. Callers give
//! it bytes, names and an explicit `now`.

pub mod csv;
pub mod demo;
pub mod diff;
pub mod finding;
pub mod ids;
pub mod kind;
pub mod latest;
pub mod name;
pub mod partners;
pub mod repair;
pub mod route;
pub mod safe_name;
pub mod view;
pub mod wire;

pub use finding::{Finding, Severity};
pub use ids::{
    InsuredNumber, InsurerNumber, OfficeNumber, OfficeUserId, PersonalUserId, ServiceType,
    check_password,
};
pub use kind::{Category, FileKind, NameShape};
pub use name::{FileName, parse_name};
