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
//! | `ledger_meta` | `head`, `upgrades` | [`LedgerHead`], `Vec<`[`LedgerUpgrade`]`>` |
//! | `receipts` | `<office>/<file id>` | [`ReceiveRecord`] (the receive journal) |
//! | `watch_out` | `<office>/<idempotency key>` | sets of the 送信フォルダ in flight (`watch::queue`) |
//! | `watch_in` | `<office>` | the set the 受信フォルダ is receiving (`watch::inbox`) |
//!
//! Every write the user is told about (a saved draft, a ledger entry, a receive record) is
//! followed by `flush()` before the function returns: sled alone would only flush every
//! 500 ms.
//!
//! The ledger is a hash chain (see [`crate::ledger`] for the canonical bytes): every stored
//! entry carries the SHA-256 of the previous entry ([`ChainLink`]) and its own, and
//! `ledger_meta/head` names the last entry. Entries written by a version without the chain
//! are chained once when the store opens ([`Store::open`], flushed, recorded in
//! `ledger_meta/upgrades`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    /// The watched folders (送信フォルダ / 受信フォルダ, `crate::watch`).
    pub watch: crate::watch::WatchSettings,
    /// 文字の大きさ in per cent (100, 125, 150 or 200), on top of the OS scaling.
    pub text_size_percent: u16,
    /// 高コントラスト: black text and outlines, a deeper 未 tint.
    pub high_contrast: bool,
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
            watch: crate::watch::WatchSettings::default(),
            text_size_percent: 100,
            high_contrast: false,
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

/// Send, receive, a local repair (issue 15: a corrected copy made beside a file), or, for
/// the 送信フォルダ, a set that was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// 送信.
    Send,
    /// 受信.
    Receive,
    /// 修復: a mechanically corrected copy was written (`files[0]` the original,
    /// `files[1]` the copy with `saved_as`); nothing left the PC.
    Repair,
    /// 送信しなかった: a set of the 送信フォルダ refused by the pre-send check or by the
    /// relay, moved to `エラー` (nothing was sent).
    NotSent,
    /// 確認待ち: a set of the 送信フォルダ with warnings, held for a person (not sent).
    Held,
}

impl Direction {
    /// `送信` / `受信` / `修復` / `送信エラー` / `確認待ち`.
    pub fn label(self) -> &'static str {
        match self {
            Direction::Send => "送信",
            Direction::Receive => "受信",
            Direction::Repair => "修復",
            Direction::NotSent => "送信エラー",
            Direction::Held => "確認待ち",
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

/// The tamper-evidence fields stored with each ledger entry (next to the entry's own fields,
/// in the same JSON object). All `None` in entries written before the chain existed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// Sequence number of the previous entry (`None` for the first entry).
    #[serde(default)]
    pub prev_seq: Option<u64>,
    /// SHA-256 (lower-case hex) of the previous entry's canonical bytes
    /// ([`crate::ledger::GENESIS`] for the first entry).
    #[serde(default)]
    pub prev_hash: Option<String>,
    /// SHA-256 (lower-case hex) of this entry's canonical bytes
    /// ([`crate::ledger::canonical_bytes`]).
    #[serde(default)]
    pub hash: Option<String>,
}

/// A ledger entry as stored: the entry and its link in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedEntry {
    /// The entry.
    #[serde(flatten)]
    pub entry: LedgerEntry,
    /// Its link in the chain.
    #[serde(flatten)]
    pub link: ChainLink,
}

/// The last entry of the chain (`ledger_meta/head`): lets a verification notice entries
/// deleted from the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerHead {
    /// Sequence number of the last entry.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// Number of entries in the chain.
    #[serde(default)]
    pub count: u64,
}

/// One upgrade of entries written without the chain (`ledger_meta/upgrades`): those
/// entries were hash-protected only from `at` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerUpgrade {
    /// When the entries were chained.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// First chained sequence number.
    pub first_seq: u64,
    /// Last chained sequence number.
    pub last_seq: u64,
    /// Number of entries chained.
    pub count: u64,
}

/// One raw record of the `ledger` tree, for [`crate::ledger::verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLedgerRecord {
    /// The sled key (8-byte big-endian sequence number when intact).
    pub key: Vec<u8>,
    /// The decoded value, or why it cannot be decoded.
    pub value: Result<ChainedEntry, String>,
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
    /// Serialises ledger appends (each links to the head) and verifications.
    ledger_lock: Arc<Mutex<()>>,
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
        // to be released by sled's background threads, longer on a busy PC (3 s was seen
        // not to be enough with both cores loaded): wait up to 10 s before giving up.
        let mut attempt = 0;
        let db = loop {
            match sled::Config::new().path(&path).open() {
                Ok(db) => break db,
                // sled reports a held lock as an `Other` error with this text.
                Err(sled::Error::Io(e))
                    if (e.kind() == std::io::ErrorKind::WouldBlock
                        || e.to_string().contains("could not acquire lock"))
                        && attempt < 200 =>
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
        let store = Self {
            db,
            path,
            ledger_lock: Arc::new(Mutex::new(())),
        };
        // A one-time, flushed upgrade of entries written without the chain. A failure is
        // logged, never fatal: `verify_ledger` then names the unchained entries.
        match store.upgrade_ledger() {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "ledger entries chained (upgrade)"),
            Err(e) => tracing::warn!(error = %e, "could not chain the old ledger entries"),
        }
        Ok(store)
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

    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
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

    fn ledger_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.ledger_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Append a ledger entry once per `unique_key` (a second call with the same key returns
    /// the existing entry). Flushed before returning. `entry.seq` is assigned here and the
    /// entry is linked to the chain.
    pub fn append_ledger(
        &self,
        unique_key: &str,
        entry: LedgerEntry,
    ) -> Result<LedgerEntry, StoreError> {
        self.append_chained(unique_key, entry, None)
    }

    /// Mark a received file acknowledged and append its ledger entry (once per
    /// `unique_key`), with ONE flush for both.
    pub fn record_receive(
        &self,
        office: &str,
        r: &ReceiveRecord,
        unique_key: &str,
        entry: LedgerEntry,
    ) -> Result<LedgerEntry, StoreError> {
        self.append_chained(unique_key, entry, Some((office, r)))
    }

    fn append_chained(
        &self,
        unique_key: &str,
        mut entry: LedgerEntry,
        receipt: Option<(&str, &ReceiveRecord)>,
    ) -> Result<LedgerEntry, StoreError> {
        let _guard = self.ledger_guard();
        let keys = self.tree("ledger_keys")?;
        let ledger = self.tree("ledger")?;
        let meta = self.tree("ledger_meta")?;
        if let Some(seq) = keys.get(unique_key.as_bytes())?
            && let Some(v) = ledger.get(&seq)?
        {
            if let Some((office, r)) = receipt {
                self.put("receipts", format!("{office}/{}", r.file_id).as_bytes(), r)?;
                self.flush()?;
            }
            return dec("ledger", &v);
        }
        let head = match self.ledger_head()? {
            Some(h) => Some(h),
            // No head yet: chain whatever an older version left first.
            None if !ledger.is_empty() => {
                self.upgrade_locked()?;
                self.ledger_head()?
            }
            None => None,
        };
        let seq = self.db.generate_id()?;
        entry.seq = seq;
        let prev_seq = head.as_ref().map(|h| h.seq);
        let prev_hash = head
            .as_ref()
            .map_or_else(|| crate::ledger::GENESIS.to_owned(), |h| h.hash.clone());
        let hash = crate::ledger::entry_hash(&entry, prev_seq, &prev_hash);
        let new_head = LedgerHead {
            seq,
            hash: hash.clone(),
            count: head.as_ref().map_or(0, |h| h.count) + 1,
        };
        let stored = ChainedEntry {
            entry,
            link: ChainLink {
                prev_seq,
                prev_hash: Some(prev_hash),
                hash: Some(hash),
            },
        };
        let value = enc(&stored)?;
        let head_bytes = enc(&new_head)?;
        let receipt_kv = match receipt {
            Some((office, r)) => Some((format!("{office}/{}", r.file_id), enc(r)?)),
            None => None,
        };
        let receipts = self.tree("receipts")?;
        use sled::Transactional;
        (&ledger, &keys, &meta, &receipts)
            .transaction(|(l, k, m, rc)| {
                l.insert(&seq.to_be_bytes(), value.as_slice())?;
                k.insert(unique_key.as_bytes(), &seq.to_be_bytes())?;
                m.insert(b"head", head_bytes.as_slice())?;
                if let Some((key, v)) = &receipt_kv {
                    rc.insert(key.as_bytes(), v.as_slice())?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Db(format!("{e:?}")))?;
        self.flush()?;
        Ok(stored.entry)
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

    /// Every record of the `ledger` tree as stored (undecodable values included), in
    /// key order.
    pub fn ledger_raw(&self) -> Result<Vec<RawLedgerRecord>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree("ledger")?.iter() {
            let (k, v) = kv?;
            out.push(RawLedgerRecord {
                key: k.to_vec(),
                value: serde_json::from_slice(&v).map_err(|e| e.to_string()),
            });
        }
        Ok(out)
    }

    /// The last entry of the chain (`None` before the first chained entry).
    pub fn ledger_head(&self) -> Result<Option<LedgerHead>, StoreError> {
        self.get("ledger_meta", b"head")
    }

    /// The upgrades of entries written without the chain, oldest first.
    pub fn ledger_upgrades(&self) -> Result<Vec<LedgerUpgrade>, StoreError> {
        Ok(self.get("ledger_meta", b"upgrades")?.unwrap_or_default())
    }

    /// Check the chain: `Ok(Ok(count))` when intact, `Ok(Err(..))` with the first broken
    /// entry, `Err` when the store cannot be read. See [`crate::ledger::verify_chain`].
    pub fn verify_ledger(&self) -> Result<Result<usize, crate::ledger::LedgerBreak>, StoreError> {
        let _guard = self.ledger_guard();
        let records = self.ledger_raw()?;
        let head = match self.tree("ledger_meta")?.get(b"head")? {
            None => None,
            Some(v) => match serde_json::from_slice::<LedgerHead>(&v) {
                Ok(h) => Some(h),
                Err(e) => {
                    return Ok(Err(crate::ledger::LedgerBreak {
                        seq: 0,
                        kind: crate::ledger::BreakKind::HeadUnreadable {
                            detail: e.to_string(),
                        },
                    }));
                }
            },
        };
        Ok(crate::ledger::verify_chain(&records, head.as_ref()))
    }

    /// Chain the entries written without the chain (by a version before it, or by an
    /// older version run after an upgrade): once, flushed. Returns how many were chained.
    ///
    /// Only the entries after the head (all of them when there is no head and none has a
    /// hash) are chained; an entry without a hash before the head, or an unreadable one,
    /// is left for [`Store::verify_ledger`] to report.
    pub fn upgrade_ledger(&self) -> Result<usize, StoreError> {
        let _guard = self.ledger_guard();
        self.upgrade_locked()
    }

    fn upgrade_locked(&self) -> Result<usize, StoreError> {
        let head = match self.ledger_head() {
            Ok(h) => h,
            Err(StoreError::Corrupt(_)) => return Ok(0),
            Err(e) => return Err(e),
        };
        // Only the records after the head are read (an open must not decode the whole
        // ledger every time).
        let tree = self.tree("ledger")?;
        let iter = match &head {
            Some(h) => match h.seq.checked_add(1) {
                Some(from) => tree.range(from.to_be_bytes()..),
                None => return Ok(0),
            },
            None => tree.iter(),
        };
        let mut records = Vec::new();
        for kv in iter {
            let (k, v) = kv?;
            records.push(RawLedgerRecord {
                key: k.to_vec(),
                value: serde_json::from_slice(&v).map_err(|e| e.to_string()),
            });
        }
        let mut todo = Vec::new();
        for r in &records {
            let Some(seq) = crate::ledger::key_seq(&r.key) else {
                return Ok(0);
            };
            if head.as_ref().is_some_and(|h| seq <= h.seq) {
                continue;
            }
            match &r.value {
                Ok(c) if c.link == ChainLink::default() && c.entry.seq == seq => {
                    todo.push(c.entry.clone())
                }
                // Already chained, altered or unreadable: not ours to fix.
                _ => return Ok(0),
            }
        }
        let (Some(first), Some(last)) = (todo.first(), todo.last()) else {
            return Ok(0);
        };
        let (first_seq, last_seq) = (first.seq, last.seq);
        let mut prev_seq = head.as_ref().map(|h| h.seq);
        let mut prev_hash = head
            .as_ref()
            .map_or_else(|| crate::ledger::GENESIS.to_owned(), |h| h.hash.clone());
        let mut count = head.as_ref().map_or(0, |h| h.count);
        let mut writes = Vec::with_capacity(todo.len());
        for entry in todo {
            let hash = crate::ledger::entry_hash(&entry, prev_seq, &prev_hash);
            let seq = entry.seq;
            let stored = ChainedEntry {
                entry,
                link: ChainLink {
                    prev_seq,
                    prev_hash: Some(prev_hash),
                    hash: Some(hash.clone()),
                },
            };
            writes.push((seq, enc(&stored)?));
            prev_seq = Some(seq);
            prev_hash = hash;
            count += 1;
        }
        let n = writes.len();
        let new_head = enc(&LedgerHead {
            seq: last_seq,
            hash: prev_hash,
            count,
        })?;
        let mut upgrades = self.ledger_upgrades().unwrap_or_default();
        upgrades.push(LedgerUpgrade {
            at: crate::now(),
            first_seq,
            last_seq,
            count: n as u64,
        });
        let upgrades = enc(&upgrades)?;
        let ledger = self.tree("ledger")?;
        let meta = self.tree("ledger_meta")?;
        use sled::Transactional;
        (&ledger, &meta)
            .transaction(|(l, m)| {
                for (seq, v) in &writes {
                    l.insert(&seq.to_be_bytes(), v.as_slice())?;
                }
                m.insert(b"head", new_head.as_slice())?;
                m.insert(b"upgrades", upgrades.as_slice())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Db(format!("{e:?}")))?;
        self.flush()?;
        Ok(n)
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
