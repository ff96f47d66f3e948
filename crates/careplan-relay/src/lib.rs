//! `careplan-relay`: the store-and-forward relay between care offices.
//!
//! Every connection is mutual TLS with a client certificate issued by the relay's CA (the
//! office's 事業所番号 is the certificate subject's CN); every request but the two login
//! steps carries a session token bound to that office. Accepted files and their metadata are
//! written in one database transaction with synchronous commits before the relay answers.
//!
//! May depend on `careplan-core` only (never on the client).

pub mod auth;
pub mod blob;
pub mod config;
pub mod conn;
pub mod db;
pub mod demo;
pub mod embedded;
pub mod error;
mod exec;
mod group;
pub mod guard;
pub mod handlers;
pub mod housekeeping;
pub mod mailbox;
pub mod migrate;
pub mod notify;
pub mod pack;
pub mod pki;
#[cfg(test)]
mod plans;
pub mod secret_file;
pub mod server;

pub use config::Config;
pub use error::RelayError;
