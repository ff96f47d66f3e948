//! The 受信フォルダ (inbox): new arrivals are received automatically, one set complete
//! before the next, in the order the care software imports them, each complete set
//! announced by a marker file.
//!
//! - Order: `careplan_core::latest::import_order` — ファイル連番 ascending (standard.md
//!   §2.4), then sender; inside one set 削除 files first, then 利用者補足情報, 第1表, 第2表,
//!   第3表, 第6表, 第7表, 実績, 利用者基本情報 (+別表1/別表2/画像), 支援計画書 (+別表);
//!   attachments (no ファイル連番) last, per transmission. Files that a later file replaces
//!   or deletes (`careplan_core::latest`) are received too, earlier in this order, so the
//!   newest is imported last.
//! - Each set is received with the client's durable path ([`crate::Client::receive`]:
//!   temporary file, flush, rename without replacing, verify, then 済). Then the marker
//!   `<ファイル連番>_<送信元事業所番号>.完了` (attachments: `<first name>.完了`) lists the
//!   saved names, one per line in import order (UTF-8, CRLF), written atomically.
//! - The set being received is journaled (sled tree `watch_in`, one slot per office,
//!   flushed) before its first file: after a crash the next run receives the rest (files
//!   already saved are recognised, not saved twice) and writes the marker before taking
//!   the next set. A set that cannot be received stops the round: the next set waits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use careplan_core::latest::{FileId, Incoming, import_order};
use careplan_core::parse_name;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Engine;
use crate::error::ClientError;
use crate::fsutil;
use crate::model::ReceivedTransmission;
use crate::store::{Store, StoreError};

const TREE: &str = "watch_in";

/// Suffix of the marker of a complete set.
pub const MARKER_SUFFIX: &str = ".完了";

/// The inbox between rounds.
#[derive(Debug)]
pub struct Inbox {
    dir: PathBuf,
    next_check: Option<Instant>,
}

impl Inbox {
    pub(super) fn new(dir: PathBuf) -> Inbox {
        Inbox {
            dir,
            next_check: None,
        }
    }

    /// The inbox folder (canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One set to receive: its files in import order and its marker name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InSet {
    /// The relay's file IDs, in import order.
    pub ids: Vec<String>,
    /// The file names, in the same order (for the log and the status).
    pub names: Vec<String>,
    /// The marker's file name (`….完了`).
    pub marker: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InRecord {
    set: InSet,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
}

fn record(store: &Store, office: &str) -> Result<Option<InRecord>, StoreError> {
    match store.tree(TREE)?.get(office.as_bytes())? {
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{TREE}/{office}: {e}"))),
        None => Ok(None),
    }
}

fn put_record(store: &Store, office: &str, r: &InRecord) -> Result<(), StoreError> {
    let v = serde_json::to_vec(r).map_err(|e| StoreError::Db(e.to_string()))?;
    store.tree(TREE)?.insert(office.as_bytes(), v)?;
    store.flush()
}

fn clear_record(store: &Store, office: &str) -> Result<(), StoreError> {
    store.tree(TREE)?.remove(office.as_bytes())?;
    store.flush()
}

/// A 事業所番号 from the relay, safe as part of a file name (ASCII letters and digits).
fn safe_office(s: &str) -> Option<&str> {
    (!s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(s)
}

/// The files not yet 済 of `list`, grouped into sets in import order (see the module
/// documentation). Pure.
pub fn plan_sets(list: &[ReceivedTransmission]) -> Vec<InSet> {
    let mut incoming = Vec::new();
    let mut transmission = Vec::new();
    for t in list {
        for f in t.files.iter().filter(|f| !f.acquired) {
            incoming.push(Incoming {
                id: FileId(f.id.clone()),
                name: f.name.clone(),
                sender: t.sender_office.clone(),
                received_at: t.received_at,
                identity: None,
            });
            transmission.push(t.id.clone());
        }
    }
    let order = import_order(&incoming);
    let mut keys: Vec<String> = Vec::new();
    let mut sets: HashMap<String, InSet> = HashMap::new();
    for i in order {
        let (f, tid) = (&incoming[i], &transmission[i]);
        let n = parse_name(&f.name);
        let (key, marker) = match (n.kind, &n.serial, safe_office(&f.sender)) {
            (Some(_), Some(serial), Some(sender)) => {
                let to = n
                    .to_office
                    .map(|o| o.as_str().to_owned())
                    .unwrap_or_default();
                (
                    format!("set/{}/{sender}/{to}", serial.as_str()),
                    format!("{}_{sender}{MARKER_SUFFIX}", serial.as_str()),
                )
            }
            _ => {
                let policy = careplan_core::safe_name::AttachmentPolicy::default();
                let marker =
                    if careplan_core::safe_name::check_transfer_name(&f.name, &policy).is_ok() {
                        format!("{}{MARKER_SUFFIX}", f.name)
                    } else {
                        format!(
                            "受信_{}{MARKER_SUFFIX}",
                            &crate::sha256_hex(tid.as_bytes())[..12]
                        )
                    };
                (format!("transmission/{tid}"), marker)
            }
        };
        let set = sets.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            InSet {
                ids: vec![],
                names: vec![],
                marker,
            }
        });
        set.ids.push(f.id.0.clone());
        set.names.push(f.name.clone());
    }
    keys.into_iter().filter_map(|k| sets.remove(&k)).collect()
}

/// Write the marker `name` into `dir` listing `lines` (UTF-8, CRLF), atomically and never
/// over another file; a marker with the same content already there (under `name` or
/// `name (n)`) is kept. Returns the marker's path.
pub fn write_marker(dir: &Path, name: &str, lines: &[String]) -> Result<PathBuf, ClientError> {
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push_str("\r\n");
    }
    for cand in fsutil::candidates(name, 1000) {
        let p = dir.join(&cand);
        match std::fs::read(&p) {
            Ok(b) if b == text.as_bytes() => return Ok(p),
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    let tmp = dir.join(format!(
        "{}{}{}",
        fsutil::TEMP_PREFIX,
        crate::new_key(),
        fsutil::TEMP_SUFFIX
    ));
    let res = (|| {
        use std::io::Write as _;
        let mut f = fsutil::create_new(&tmp, false)?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.flush())
            .and_then(|()| f.sync_all())
            .map_err(|e| ClientError::io(&tmp, e))?;
        drop(f);
        fsutil::rename_no_clobber(&tmp, dir, name)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

impl Engine {
    /// One round of the inbox when due; returns when the next one is due.
    pub(super) fn inbox_round(&mut self, now: Instant) -> Instant {
        let poll = self.cfg.poll;
        let Some(inbox) = self.inbox.as_mut() else {
            return now + poll;
        };
        if let Some(t) = inbox.next_check
            && now < t
        {
            return t;
        }
        inbox.next_check = Some(now + poll);
        if !self.relay_ready() {
            return now + poll;
        }
        let office = self.client.office().as_str().to_owned();
        // 1. The set an earlier round (or run) did not finish.
        match record(self.client.store(), &office) {
            Ok(Some(r)) => {
                if !self.receive_set(r.set) {
                    return now + poll;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "watch: cannot read the inbox journal");
                return now + poll;
            }
        }
        // 2. New arrivals, set by set.
        let list = match self.check_arrivals() {
            Ok(l) => l,
            Err(e) => {
                self.inbox_problem(&e.message_ja());
                self.net_failed(&e);
                return now + poll;
            }
        };
        self.net_ok();
        {
            let mut s = super::lock(&self.status);
            s.last_check = Some(crate::now());
        }
        let sets = plan_sets(&list);
        if !sets.is_empty() {
            tracing::info!(sets = sets.len(), "watch: new arrivals");
        }
        for set in sets {
            if self.stopped() {
                break;
            }
            let rec = InRecord {
                set,
                started_at: crate::now(),
            };
            if let Err(e) = put_record(self.client.store(), &office, &rec) {
                tracing::error!(error = %e, "watch: cannot write the inbox journal");
                break;
            }
            if !self.receive_set(rec.set) {
                break;
            }
        }
        now + poll
    }

    /// Ask the relay for arrivals: today the 受信一覧 at the poll interval
    /// ([`super::WatchConfig::poll`]). This is the one function a push endpoint of the
    /// relay replaces (wait for an arrival, then list).
    fn check_arrivals(&mut self) -> Result<Vec<ReceivedTransmission>, ClientError> {
        let l = self.client.received()?;
        if l.offline {
            return Err(ClientError::Unreachable {
                url: self.client.relay_url().to_owned(),
                detail: "受信一覧を取得できません".into(),
            });
        }
        Ok(l.items)
    }

    fn inbox_problem(&self, message: &str) {
        super::lock(&self.status).inbox_problem = Some(message.to_owned());
    }

    /// Receive one set into the inbox and write its marker. False when the round must
    /// stop (the set stays journaled and is finished first next time).
    fn receive_set(&mut self, set: InSet) -> bool {
        let Some(dir) = self.inbox.as_ref().map(|i| i.dir.clone()) else {
            return false;
        };
        let office = self.client.office().as_str().to_owned();
        let report = match self
            .client
            .receive(&set.ids, &dir, &mut |_: crate::ReceiveProgress| {})
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(code = %e.code(), "watch: cannot receive now");
                self.inbox_problem(&e.message_ja());
                self.net_failed(&e);
                return false;
            }
        };
        let mut stop: Option<(String, String)> = None;
        for f in &report.failed {
            if f.code == "E_NOT_FOUND" {
                // Gone from the relay (retention) since the set was planned.
                tracing::warn!(file_id = %f.id, "watch: a file of the set is no longer on the relay");
                continue;
            }
            stop.get_or_insert((f.code.clone(), f.message.clone()));
        }
        if let Some((code, message)) = stop {
            tracing::warn!(code = %code, marker = %set.marker, "watch: set not received completely; next round");
            self.inbox_problem(&message);
            match code.as_str() {
                "E_UNREACHABLE" => self.net_failed(&ClientError::Unreachable {
                    url: self.client.relay_url().to_owned(),
                    detail: message,
                }),
                "E_SESSION" => self.net_failed(&ClientError::SessionExpired),
                _ => {}
            }
            return false;
        }
        let lines: Vec<String> = report
            .saved
            .iter()
            .filter_map(|s| s.path.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        if !lines.is_empty() {
            match write_marker(&dir, &set.marker, &lines) {
                Ok(p) => {
                    tracing::info!(
                        marker = %p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                        files = lines.len(),
                        "watch: set received"
                    );
                }
                Err(e) => {
                    tracing::error!(code = %e.code(), "watch: cannot write the marker; next round");
                    self.inbox_problem(&e.message_ja());
                    return false;
                }
            }
        }
        if let Err(e) = clear_record(self.client.store(), &office) {
            tracing::error!(error = %e, "watch: cannot update the inbox journal");
            return false;
        }
        super::lock(&self.status).inbox_problem = None;
        let n = lines.len() as u64;
        self.count(|c| {
            c.received_sets += 1;
            c.received_files += n;
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ReceivedFile;
    use careplan_core::Category;

    fn file(id: &str, name: &str, acquired: bool) -> ReceivedFile {
        ReceivedFile {
            id: id.into(),
            name: name.into(),
            // As the relay lists it: the standard's prefix of a CSV name, none for a PDF.
            kind: careplan_core::parse_name(name)
                .kind
                .map(|k| k.prefix().to_owned()),
            category: Category::Registration,
            csv_version: None,
            size: 1,
            sha256: String::new(),
            acquired,
        }
    }

    fn t(id: &str, at: i64, files: Vec<ReceivedFile>) -> ReceivedTransmission {
        ReceivedTransmission {
            id: id.into(),
            received_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
            sender_office: "1310000001".into(),
            sender_name: "A".into(),
            message: String::new(),
            files,
        }
    }

    const TAIL_1: &str = "1310000001_43_1310000002_11_20261102090000.CSV";
    const TAIL_0: &str = "1310000001_43_1310000002_11_20261101090000.CSV";

    #[test]
    fn sets_follow_the_serial_and_the_order_inside_a_set() {
        // The later serial arrived first; inside a set, 補足 → 6表 → 7表.
        let list = vec![
            t(
                "t2",
                200,
                vec![
                    file("f1", &format!("UPSIKYU_202611_{TAIL_1}"), false),
                    file("f2", &format!("UPPLAN_202611_{TAIL_1}"), false),
                    file("f3", &format!("UPHOSOKU_202611_{TAIL_1}"), false),
                    file("f9", "memo.pdf", false),
                ],
            ),
            t(
                "t1",
                100,
                vec![
                    file("f4", &format!("UPPLAN_202611_{TAIL_0}"), false),
                    file("f5", &format!("DLTPLAN_202611_{TAIL_0}"), false),
                    file("f6", &format!("UPSIKYU_202611_{TAIL_0}"), true),
                ],
            ),
        ];
        let sets = plan_sets(&list);
        let ids: Vec<Vec<&str>> = sets
            .iter()
            .map(|s| s.ids.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            ids,
            vec![vec!["f5", "f4"], vec!["f3", "f2", "f1"], vec!["f9"]]
        );
        assert_eq!(sets[0].marker, "20261101090000_1310000001.完了");
        assert_eq!(sets[1].marker, "20261102090000_1310000001.完了");
        assert_eq!(sets[2].marker, "memo.pdf.完了");
    }

    #[test]
    fn markers_are_written_once_and_never_over_another_file() {
        let d = tempfile::tempdir().unwrap();
        let a = vec!["A.CSV".to_owned(), "B.CSV".to_owned()];
        let p1 = write_marker(d.path(), "x.完了", &a).unwrap();
        let p2 = write_marker(d.path(), "x.完了", &a).unwrap();
        assert_eq!(p1, p2);
        assert_eq!(std::fs::read(&p1).unwrap(), b"A.CSV\r\nB.CSV\r\n");
        let p3 = write_marker(d.path(), "x.完了", &["C.CSV".to_owned()]).unwrap();
        assert_eq!(p3.file_name().unwrap().to_str().unwrap(), "x (1).完了");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file left");
    }
}
