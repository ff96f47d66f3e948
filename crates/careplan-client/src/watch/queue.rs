//! The journal of the outbox: one record per set taken from the 送信フォルダ and not yet
//! finished, in the sled tree `watch_out` (key `<office>/<idempotency key>`, JSON value).
//! Every change is flushed before the step it announces (a move, a send), so that a run
//! killed at any moment finds the set, its files and its idempotency key again.
//!
//! States ([`OutState`]):
//! - `staging`: the record and its key are on disk; the files are being moved from the
//!   outbox into `送信中/<key>/`. Nothing has been sent.
//! - `ready`: the pre-send check passed (or its warnings are accepted); the set may have
//!   been sent already. Every try uses the same key, so the relay records it once.
//! - `finishing`: the outcome is decided (sent / エラー / 確認待ち); the files are being
//!   moved to their folder. The record goes once the last file has moved.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

const TREE: &str = "watch_out";

/// Where a finished set goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Dest {
    /// `送信済/<month>/` (`YYYYMM` of the relay's acceptance, JST).
    Sent {
        /// `YYYYMM`.
        month: String,
    },
    /// `エラー/` with a reason file per file.
    Error,
    /// `確認待ち/` with a reason file per file.
    Held,
}

/// The state of a set in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutState {
    /// Moving the files into `送信中/<key>/`; not checked, not sent.
    Staging,
    /// Checked; to be sent (perhaps sent already) with the record's key.
    Ready,
    /// Decided; moving the files to `dest`.
    Finishing {
        /// Where the files go.
        dest: Dest,
        /// The reason text written next to each file (エラー / 確認待ち).
        #[serde(default)]
        reason: Option<String>,
    },
}

/// One set in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutRecord {
    /// The idempotency key of the set (also its folder under `送信中`).
    pub key: String,
    /// Our 事業所番号.
    pub office: String,
    /// The outbox the set was taken from (its files are under `送信中/<key>/` there, even
    /// when the setting changes meanwhile).
    pub outbox: std::path::PathBuf,
    /// The file names (as in the outbox).
    pub names: Vec<String>,
    /// ファイル連番, when the names have one.
    pub serial: Option<String>,
    /// Destination 事業所番号, when the names tell it.
    pub to_office: Option<String>,
    /// Taken from `確認済`: a person accepted the warnings.
    #[serde(default)]
    pub confirmed: bool,
    /// The state.
    pub state: OutState,
    /// When it was taken from the outbox.
    #[serde(with = "time::serde::rfc3339")]
    pub staged_at: OffsetDateTime,
    /// Send attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Why the last attempt failed (Japanese).
    #[serde(default)]
    pub last_error: Option<String>,
}

impl OutRecord {
    /// The queue-view row of this record.
    pub fn entry(&self) -> super::QueueEntry {
        super::QueueEntry {
            key: self.key.clone(),
            serial: self.serial.clone(),
            to_office: self.to_office.clone(),
            files: self.names.clone(),
            state: match self.state {
                OutState::Staging => "確認中",
                OutState::Ready => "送信待ち",
                OutState::Finishing { .. } => "整理中",
            }
            .to_owned(),
            attempts: self.attempts,
            reason: self.last_error.clone(),
            staged_at: self.staged_at,
        }
    }

    /// The order sets are sent in: ファイル連番 ascending (the receiver's import order),
    /// then the time they were taken.
    pub fn order_key(&self) -> (bool, Option<String>, OffsetDateTime, String) {
        (
            self.serial.is_none(),
            self.serial.clone(),
            self.staged_at,
            self.key.clone(),
        )
    }
}

fn key_of(office: &str, key: &str) -> Vec<u8> {
    format!("{office}/{key}").into_bytes()
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// Write `r` and flush (durable before this returns).
pub fn put(store: &Store, r: &OutRecord) -> Result<(), StoreError> {
    put_lazy(store, r)?;
    store.flush()
}

/// Write `r` without waiting for the disk (for bookkeeping that a crash may lose: attempt
/// counters and the last error).
pub fn put_lazy(store: &Store, r: &OutRecord) -> Result<(), StoreError> {
    let v = serde_json::to_vec(r).map_err(db_err)?;
    store.tree(TREE)?.insert(key_of(&r.office, &r.key), v)?;
    Ok(())
}

/// Remove the record of a finished set (flushed).
pub fn remove(store: &Store, office: &str, key: &str) -> Result<(), StoreError> {
    store.tree(TREE)?.remove(key_of(office, key))?;
    store.flush()
}

/// The records of `office`, in sending order ([`OutRecord::order_key`]). A record that
/// cannot be read is reported, not dropped: its set stays under `送信中` for a person.
pub fn list(store: &Store, office: &str) -> Result<Vec<OutRecord>, StoreError> {
    let mut out = Vec::new();
    for kv in store
        .tree(TREE)?
        .scan_prefix(format!("{office}/").as_bytes())
    {
        let (k, v) = kv?;
        match serde_json::from_slice::<OutRecord>(&v) {
            Ok(r) => out.push(r),
            Err(e) => {
                return Err(StoreError::Corrupt(format!(
                    "{TREE}/{}: {e}",
                    String::from_utf8_lossy(&k)
                )));
            }
        }
    }
    out.sort_by_key(OutRecord::order_key);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, serial: Option<&str>) -> OutRecord {
        OutRecord {
            key: key.into(),
            office: "1310000001".into(),
            outbox: "/outbox".into(),
            names: vec!["a.CSV".into()],
            serial: serial.map(str::to_owned),
            to_office: None,
            confirmed: false,
            state: OutState::Staging,
            staged_at: OffsetDateTime::UNIX_EPOCH,
            attempts: 0,
            last_error: None,
        }
    }

    #[test]
    fn records_survive_a_reopen_in_sending_order_and_per_office() {
        let d = tempfile::tempdir().unwrap();
        {
            let s = Store::open(d.path()).unwrap();
            put(&s, &rec("k2", Some("20260102000000"))).unwrap();
            put(&s, &rec("k1", Some("20260101000000"))).unwrap();
            put(&s, &rec("k3", None)).unwrap();
            let mut other = rec("k4", Some("20250101000000"));
            other.office = "1310000002".into();
            put(&s, &other).unwrap();
            let mut r = rec("k2", Some("20260102000000"));
            r.state = OutState::Finishing {
                dest: Dest::Sent {
                    month: "202601".into(),
                },
                reason: None,
            };
            put(&s, &r).unwrap();
        }
        let s = Store::open(d.path()).unwrap();
        let l = list(&s, "1310000001").unwrap();
        let keys: Vec<&str> = l.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["k1", "k2", "k3"]);
        assert!(matches!(l[1].state, OutState::Finishing { .. }));
        remove(&s, "1310000001", "k1").unwrap();
        assert_eq!(list(&s, "1310000001").unwrap().len(), 2);
        assert_eq!(list(&s, "1310000002").unwrap().len(), 1);
    }
}
