//! The local store (sled 0.34.7), behind this one module so that it can be swapped.
//!
//! Layout (one sled database per OS user, in `<data dir>/store`; trees hold JSON values):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `settings` | `settings` | [`Settings`] |
//! | `cache` | `<office>/<list>` (`received`, `sent`, `notices`) | `{fetched_at, items}` |
//! | `drafts` | draft id | [`Draft`] |
//! | `draft_files` | SHA-256 hex | the file bytes (content-addressed, shared by drafts) |
//! | `ledger` | 8-byte big-endian sequence | [`LedgerEntry`] |
//! | `ledger_keys` | unique event key (`send:<key>:<office>`, `recv:<file id>`) | sequence |
//! | `receipts` | `<office>/<file id>` | [`ReceiveRecord`] (the receive journal) |
//!
//! Every write the user is told about (a saved draft, a ledger entry, a receive record) is
//! followed by `flush()` before the function returns: sled alone would only flush every
//! 500 ms.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cert::ProfilePaths;

/// Errors of the local store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be opened (locked by another running client, damaged, no space).
    #[error(
        "端末のデータ（{}）を開けません。ほかにこのアプリが起動していないか確認してください。（{detail}）", .path.display()
    )]
    Open {
        /// Database folder.
        path: PathBuf,
        /// Technical detail.
        detail: String,
    },
    /// Reading or writing the database failed.
    #[error("端末のデータを読み書きできません。ディスクの空き容量を確認してください。（{0}）")]
    Db(String),
    /// A stored value cannot be read back.
    #[error("端末のデータの一部（{0}）が壊れています。")]
    Corrupt(String),
    /// No per-user data folder could be determined.
    #[error("ユーザーのデータフォルダが見つかりません。")]
    NoDataDir,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

/// Terminal settings. Passwords are never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Relay base URL, e.g. `https://relay.example.jp:8443`.
    pub relay_url: Option<String>,
    /// Certificate, key and CA files.
    pub profile: Option<ProfilePaths>,
    /// 端末名 shown in 下書き一覧 (defaults to the host name).
    pub terminal_name: String,
    /// Last folder chosen in データ受信.
    pub receive_dir: Option<PathBuf>,
    /// Remember the IDs below (the user ticked the box).
    pub remember_ids: bool,
    /// Remembered 個人ユーザID.
    pub personal_user: Option<String>,
    /// Remembered 事業所ユーザID.
    pub office_user: Option<String>,
    /// Kiosk lock after this many idle minutes (`None`: never).
    pub lock_after_minutes: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            relay_url: None,
            profile: None,
            terminal_name: default_terminal_name(),
            receive_dir: None,
            remember_ids: false,
            personal_user: None,
            office_user: None,
            lock_after_minutes: None,
        }
    }
}

/// The host name, or `端末` when it cannot be read.
pub fn default_terminal_name() -> String {
    let h = gethostname::gethostname()
        .to_string_lossy()
        .trim()
        .to_owned();
    if h.is_empty() { "端末".to_owned() } else { h }
}

/// A list as last fetched from the relay, for the offline view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cached<T> {
    /// When it was fetched.
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
    /// The items.
    pub items: T,
}

/// Where a draft stands with respect to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftSync {
    /// Same as on the relay.
    Synced,
    /// Saved locally, not yet on the relay (offline or failed): synced at the next chance.
    Pending,
    /// Deleted locally; the deletion is not yet on the relay.
    PendingDelete,
}

/// One file of a draft (its bytes are in the store, by SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftFile {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (lower-case hex) of the bytes.
    pub sha256: String,
}

/// A draft of 新規作成 (下書き).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// Draft ID, chosen by the terminal that created it (also the relay's ID).
    pub id: String,
    /// The office it belongs to.
    pub office: String,
    /// 保存日時.
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
    /// 端末名 of the terminal that saved it.
    pub terminal: String,
    /// メッセージ.
    pub message: String,
    /// 送信先事業所番号 (when known).
    pub to_office: Option<String>,
    /// The files.
    pub files: Vec<DraftFile>,
    /// Sync state.
    pub sync: DraftSync,
    /// Set when a sync met a different version on the relay: what happened, in Japanese.
    #[serde(default)]
    pub conflict: Option<String>,
}

/// Send or receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// 送信.
    Send,
    /// 受信.
    Receive,
}

impl Direction {
    /// `送信` / `受信`.
    pub fn label(self) -> &'static str {
        match self {
            Direction::Send => "送信",
            Direction::Receive => "受信",
        }
    }
}

/// One file in a ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFile {
    /// File name (as sent, or as announced by the relay).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (lower-case hex).
    pub sha256: String,
    /// Where it was saved (receive only).
    #[serde(default)]
    pub saved_as: Option<PathBuf>,
}

/// One durable record of a send (per destination) or a receive (per file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Sequence number (order of recording).
    pub seq: u64,
    /// When it happened (after the relay's receipt).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Send or receive.
    pub direction: Direction,
    /// Our 事業所番号.
    pub office: String,
    /// The destination (send) or sender (receive) 事業所番号.
    pub counterpart: String,
    /// The counterpart's name when known.
    #[serde(default)]
    pub counterpart_name: Option<String>,
    /// The relay's transmission ID.
    pub transmission_id: String,
    /// メッセージ.
    pub message: String,
    /// The files.
    pub files: Vec<LedgerFile>,
    /// The relay's receipt (accepted time / acknowledgement), as the relay gave it.
    pub receipt: String,
    /// 端末名.
    pub terminal: String,
}

/// The receive journal: one record per received file, written once the file is in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveRecord {
    /// The relay's file ID.
    pub file_id: String,
    /// Where it was saved.
    pub path: PathBuf,
    /// SHA-256 (lower-case hex).
    pub sha256: String,
    /// Size.
    pub size: u64,
    /// True once the relay acknowledged 済.
    pub acked: bool,
}

/// The local store. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Db(e.to_string()))
}

fn dec<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

impl Store {
    /// The default data folder of this OS user (e.g. `~/.local/share/careplan` on Linux,
    /// `%APPDATA%\careplan\careplan\data` on Windows).
    pub fn default_dir() -> Result<PathBuf, StoreError> {
        directories::ProjectDirs::from("jp", "careplan", "careplan")
            .map(|d| d.data_dir().to_path_buf())
            .ok_or(StoreError::NoDataDir)
    }

    /// Open (or create) the store in `data_dir` (the database is `data_dir/store`).
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join("store");
        std::fs::create_dir_all(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        // The lock of a store just closed (a restart, another command) can take a moment
        // to be released by sled's background thread: wait up to 3 s before giving up.
        let mut attempt = 0;
        let db = loop {
            match sled::Config::new().path(&path).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock && attempt < 60 =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(StoreError::Open {
                        path: path.clone(),
                        detail: e.to_string(),
                    });
                }
            }
        };
        Ok(Self { db, path })
    }

    /// Open the store in [`Store::default_dir`].
    pub fn open_default() -> Result<Self, StoreError> {
        Self::open(&Self::default_dir()?)
    }

    /// The database folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Make every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    fn get<T: DeserializeOwned>(&self, tree: &str, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.tree(tree)?.get(key)? {
            Some(v) => Ok(Some(dec(tree, &v)?)),
            None => Ok(None),
        }
    }

    fn put<T: Serialize>(&self, tree: &str, key: &[u8], v: &T) -> Result<(), StoreError> {
        self.tree(tree)?.insert(key, enc(v)?)?;
        Ok(())
    }

    // ----- settings -----

    /// The settings (defaults when none were saved).
    pub fn settings(&self) -> Result<Settings, StoreError> {
        Ok(self.get("settings", b"settings")?.unwrap_or_default())
    }

    /// Save the settings durably. Remembered IDs are dropped when `remember_ids` is off.
    pub fn save_settings(&self, s: &Settings) -> Result<(), StoreError> {
        let mut s = s.clone();
        if !s.remember_ids {
            s.personal_user = None;
            s.office_user = None;
        }
        self.put("settings", b"settings", &s)?;
        self.flush()
    }

    // ----- cache -----

    /// Save a fetched list for the offline view (not flushed: a lost cache is refetched).
    pub fn put_cache<T: Serialize>(
        &self,
        office: &str,
        list: &str,
        items: &T,
        fetched_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let c = Cached { fetched_at, items };
        self.put("cache", format!("{office}/{list}").as_bytes(), &c)
    }

    /// The last fetched list, if any.
    pub fn cache<T: DeserializeOwned>(
        &self,
        office: &str,
        list: &str,
    ) -> Result<Option<Cached<T>>, StoreError> {
        self.get("cache", format!("{office}/{list}").as_bytes())
    }

    // ----- drafts -----

    /// Store file bytes by SHA-256 (returns the hex digest).
    pub fn put_draft_file(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let h = crate::sha256_hex(bytes);
        let t = self.tree("draft_files")?;
        if !t.contains_key(h.as_bytes())? {
            t.insert(h.as_bytes(), bytes)?;
        }
        Ok(h)
    }

    /// File bytes by SHA-256.
    pub fn draft_file(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree("draft_files")?
            .get(sha256.as_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Save a draft durably (flushed before returning).
    pub fn put_draft(&self, d: &Draft) -> Result<(), StoreError> {
        self.put("drafts", d.id.as_bytes(), d)?;
        self.flush()
    }

    /// One draft.
    pub fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
        self.get("drafts", id.as_bytes())
    }

    /// All drafts of `office` (including pending deletions), newest first.
    pub fn drafts(&self, office: &str) -> Result<Vec<Draft>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree("drafts")?.iter() {
            let (_, v) = kv?;
            let d: Draft = dec("drafts", &v)?;
            if d.office == office {
                out.push(d);
            }
        }
        out.sort_by(|a, b| b.saved_at.cmp(&a.saved_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Remove a draft for good (flushed), and the file bytes no other draft uses.
    pub fn remove_draft(&self, id: &str) -> Result<(), StoreError> {
        self.tree("drafts")?.remove(id.as_bytes())?;
        self.gc_draft_files()?;
        self.flush()
    }

    fn gc_draft_files(&self) -> Result<(), StoreError> {
        let mut used = std::collections::HashSet::new();
        for kv in self.tree("drafts")?.iter() {
            let (_, v) = kv?;
            let d: Draft = dec("drafts", &v)?;
            used.extend(d.files.into_iter().map(|f| f.sha256));
        }
        let t = self.tree("draft_files")?;
        for k in t.iter().keys() {
            let k = k?;
            if !used.contains(String::from_utf8_lossy(&k).as_ref()) {
                t.remove(k)?;
            }
        }
        Ok(())
    }

    // ----- ledger -----

    /// Append a ledger entry once per `unique_key` (a second call with the same key returns
    /// the existing entry). Flushed before returning. `entry.seq` is assigned here.
    pub fn append_ledger(
        &self,
        unique_key: &str,
        mut entry: LedgerEntry,
    ) -> Result<LedgerEntry, StoreError> {
        let keys = self.tree("ledger_keys")?;
        let ledger = self.tree("ledger")?;
        if let Some(seq) = keys.get(unique_key.as_bytes())?
            && let Some(v) = ledger.get(&seq)?
        {
            return dec("ledger", &v);
        }
        let seq = self.db.generate_id()?;
        entry.seq = seq;
        ledger.insert(seq.to_be_bytes(), enc(&entry)?)?;
        keys.insert(unique_key.as_bytes(), &seq.to_be_bytes())?;
        self.flush()?;
        Ok(entry)
    }

    /// Mark a received file acknowledged and append its ledger entry (once per
    /// `unique_key`), with ONE flush for both.
    pub fn record_receive(
        &self,
        office: &str,
        r: &ReceiveRecord,
        unique_key: &str,
        mut entry: LedgerEntry,
    ) -> Result<LedgerEntry, StoreError> {
        self.put("receipts", format!("{office}/{}", r.file_id).as_bytes(), r)?;
        let keys = self.tree("ledger_keys")?;
        let ledger = self.tree("ledger")?;
        if let Some(seq) = keys.get(unique_key.as_bytes())?
            && let Some(v) = ledger.get(&seq)?
        {
            self.flush()?;
            return dec("ledger", &v);
        }
        let seq = self.db.generate_id()?;
        entry.seq = seq;
        ledger.insert(seq.to_be_bytes(), enc(&entry)?)?;
        keys.insert(unique_key.as_bytes(), &seq.to_be_bytes())?;
        self.flush()?;
        Ok(entry)
    }

    /// Every ledger entry in recording order.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree("ledger")?.iter() {
            let (_, v) = kv?;
            out.push(dec("ledger", &v)?);
        }
        Ok(out)
    }

    // ----- receive journal -----

    /// The journal record of a received file.
    pub fn receive_record(
        &self,
        office: &str,
        file_id: &str,
    ) -> Result<Option<ReceiveRecord>, StoreError> {
        self.get("receipts", format!("{office}/{file_id}").as_bytes())
    }

    /// Write a receive record durably (flushed).
    pub fn put_receive_record(&self, office: &str, r: &ReceiveRecord) -> Result<(), StoreError> {
        self.put_receive_record_lazy(office, r)?;
        self.flush()
    }

    /// Write a receive record without waiting for the disk (sled flushes within 500 ms).
    /// Used before the 済: losing it in a crash only costs a re-download, since the file
    /// in the folder is recognised by its SHA-256.
    pub fn put_receive_record_lazy(
        &self,
        office: &str,
        r: &ReceiveRecord,
    ) -> Result<(), StoreError> {
        self.put("receipts", format!("{office}/{}", r.file_id).as_bytes(), r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LedgerEntry {
        LedgerEntry {
            seq: 0,
            at: OffsetDateTime::UNIX_EPOCH,
            direction: Direction::Send,
            office: "1310000001".into(),
            counterpart: "1310000002".into(),
            counterpart_name: None,
            transmission_id: "t1".into(),
            message: String::new(),
            files: vec![],
            receipt: "r".into(),
            terminal: "pc".into(),
        }
    }

    #[test]
    fn ledger_is_once_per_key_and_survives_reopen() {
        let d = tempfile::tempdir().unwrap();
        {
            let s = Store::open(d.path()).unwrap();
            let a = s.append_ledger("k1", entry()).unwrap();
            let b = s.append_ledger("k1", entry()).unwrap();
            assert_eq!(a.seq, b.seq);
            s.append_ledger("k2", entry()).unwrap();
        }
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.ledger().unwrap().len(), 2);
    }

    #[test]
    fn settings_never_keep_ids_unless_asked() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let mut st = s.settings().unwrap();
        assert!(!st.terminal_name.is_empty());
        st.personal_user = Some("c0000001".into());
        s.save_settings(&st).unwrap();
        assert_eq!(s.settings().unwrap().personal_user, None);
        st.remember_ids = true;
        s.save_settings(&st).unwrap();
        assert_eq!(
            s.settings().unwrap().personal_user.as_deref(),
            Some("c0000001")
        );
    }
}
