//! The data the client shows: notices, received and sent lists, login information.
//! These are the client's own types (the UI codes against them); `relay` maps the wire
//! types of `careplan_core::wire` onto them.

use careplan_core::Category;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One お知らせ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Notice ID.
    pub id: String,
    /// 掲載日時.
    #[serde(with = "time::serde::rfc3339")]
    pub posted_at: OffsetDateTime,
    /// 件名.
    pub title: String,
    /// 詳細 (full text).
    pub body: String,
}

impl Notice {
    /// 詳細(抜粋): the first line of the body, at most `chars` characters.
    pub fn excerpt(&self, chars: usize) -> String {
        let line = self.body.lines().next().unwrap_or("");
        let mut s: String = line.chars().take(chars).collect();
        if line.chars().count() > chars || self.body.lines().nth(1).is_some() {
            s.push('…');
        }
        s
    }
}

/// One file of a received transmission (a sub-row of 受信一覧).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedFile {
    /// The relay's file ID (what `receive` takes).
    pub id: String,
    /// File name.
    pub name: String,
    /// ファイル種別: 登録 / 削除 / PDF等.
    pub category: Category,
    /// CSVバージョン read from the file (None for attachments or unreadable files).
    pub csv_version: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (lower-case hex) announced by the relay.
    pub sha256: String,
    /// データ取得状況: true = 済.
    pub acquired: bool,
}

/// One row of 受信一覧: a transmission with its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedTransmission {
    /// Transmission ID.
    pub id: String,
    /// 受信日時.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// 送信元事業所番号.
    pub sender_office: String,
    /// 送信元事業所名称.
    pub sender_name: String,
    /// メッセージ.
    pub message: String,
    /// The files (sub-rows).
    pub files: Vec<ReceivedFile>,
}

impl ReceivedTransmission {
    /// True when every file is 済.
    pub fn all_acquired(&self) -> bool {
        self.files.iter().all(|f| f.acquired)
    }
}

/// One file of a sent transmission, for one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentFile {
    /// The relay's file ID.
    pub id: String,
    /// File name.
    pub name: String,
    /// ファイル種別.
    pub category: Category,
    /// ダウンロード状況 at this destination: true = 済.
    pub acquired: bool,
}

/// One destination of a sent transmission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentDestination {
    /// 送信先事業所番号.
    pub office: String,
    /// 送信先事業所名称 when known.
    pub name: Option<String>,
    /// The files.
    pub files: Vec<SentFile>,
}

impl SentDestination {
    /// 済 once the destination saved every file.
    pub fn all_acquired(&self) -> bool {
        self.files.iter().all(|f| f.acquired)
    }
}

/// One row of 送信一覧.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentTransmission {
    /// Transmission ID.
    pub id: String,
    /// 送信日時.
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    /// メッセージ.
    pub message: String,
    /// The destinations.
    pub destinations: Vec<SentDestination>,
}

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
