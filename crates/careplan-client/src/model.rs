//! The data the client shows: notices, received and sent lists, login information.
//!
//! The rows of the lists are the wire types of `careplan_core::wire`, re-exported here
//! as they are (one definition of the wire: what the relay answers is what the UI shows
//! and what the offline cache keeps). Only what is the client's own lives here: a list
//! with where it came from ([`Listing`]) and what a login tells ([`LoginInfo`]).

pub use careplan_core::wire::{
    Notice, ReceivedFile, ReceivedTransmission, SentDestination, SentFile, SentTransmission,
    WaitAnswer,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A list with where it came from: live from the relay, or from the cache when offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing<T> {
    /// The items.
    pub items: Vec<T>,
    /// When the items were fetched from the relay.
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
    /// True when the relay was unreachable and the items are the cached copy
    /// (the UI shows 「オフライン: 前回取得した一覧です」).
    pub offline: bool,
}

/// What the relay says after a successful two-step login (トップページ).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginInfo {
    /// Our 事業所番号.
    pub office: String,
    /// Our 事業所名称.
    pub office_name: String,
    /// ライセンス期限, when the relay tells it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub licence_expires_at: Option<OffsetDateTime>,
    /// When the office user's password expires, when the relay tells it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub password_expires_at: Option<OffsetDateTime>,
}
