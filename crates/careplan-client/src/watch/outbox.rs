//! The 送信フォルダ (outbox): which files are complete, which form a send-set, and what
//! happens to a set (see `docs/watch.md` for the folder layout).
//!
//! ```text
//! <outbox>/                    the care software writes here (only the top level is read)
//! <outbox>/確認済/              a person moves held sets here to send them anyway
//! <outbox>/送信中/<key>/        sets taken and not finished (do not touch)
//! <outbox>/送信済/YYYYMM/       sent sets (month of the relay's acceptance, JST)
//! <outbox>/エラー/              refused sets, each file with `<name>.エラー.txt`
//! <outbox>/確認待ち/            sets with warnings held for a person, `<name>.確認待ち.txt`
//! ```
//!
//! A file is complete when its size and modification time have not changed for
//! [`super::WatchConfig::settle`] and, on Windows, it can be opened with no sharing at all
//! (the care software no longer holds it open). Files are grouped by ファイル連番, sender
//! and destination (`careplan_core::parse_name`); a set goes once every member is complete
//! and the set is complete (`careplan_core::route::send_sets`), or
//! [`super::WatchConfig::set_wait`] after its newest member settled.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use careplan_core::parse_name;

use super::queue::{self, Dest, OutRecord, OutState};
use super::{Engine, WarningPolicy, test_pause};
use crate::error::{ClientError, Refusal};
use crate::fsutil;
use crate::send::{OutgoingFile, SendMode, SendPlan};
use crate::store::{Direction, LedgerEntry, LedgerFile};

/// Sets taken and not finished.
pub const SENDING_DIR: &str = "送信中";
/// Sent sets, by month.
pub const SENT_DIR: &str = "送信済";
/// Refused sets.
pub const ERROR_DIR: &str = "エラー";
/// Sets with warnings, held for a person.
pub const HELD_DIR: &str = "確認待ち";
/// Where a person puts held sets to send them anyway.
pub const CONFIRMED_DIR: &str = "確認済";
/// Suffix of the reason file next to a refused file.
pub const ERROR_NOTE: &str = ".エラー.txt";
/// Suffix of the reason file next to a held file.
pub const HELD_NOTE: &str = ".確認待ち.txt";

/// Names the outbox never takes: hidden and temporary files of editors, office suites,
/// browsers and copy tools, and our own reason files.
pub fn ignored(name: &str) -> bool {
    let lower = name.to_lowercase();
    name.starts_with('.')
        || name.starts_with('~')
        || [
            ".tmp",
            ".part",
            ".partial",
            ".crdownload",
            ".filepart",
            ".swp",
        ]
        .iter()
        .any(|s| lower.ends_with(s))
        || matches!(lower.as_str(), "thumbs.db" | "desktop.ini")
        || name.ends_with(ERROR_NOTE)
        || name.ends_with(HELD_NOTE)
}

/// True when no other program holds `path` open: on Windows, an open with no sharing at
/// all succeeds only then (`ERROR_SHARING_VIOLATION` otherwise). Elsewhere a program can
/// hold a file open without any sign to others; the settle time is the rule there.
#[cfg(windows)]
fn not_held_open(path: &Path) -> bool {
    use std::os::windows::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .share_mode(0)
        .open(path)
        .is_ok()
}

#[cfg(not(windows))]
fn not_held_open(_path: &Path) -> bool {
    true
}

#[derive(Debug, Clone)]
struct Seen {
    size: u64,
    mtime: Option<SystemTime>,
    stable_since: Instant,
    confirmed: bool,
    name: String,
}

/// What groups files into one set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey {
    Set {
        serial: String,
        to: String,
        from: String,
        confirmed: bool,
    },
    Lone {
        name: String,
        confirmed: bool,
    },
}

/// A set ready to be taken.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    paths: Vec<PathBuf>,
    names: Vec<String>,
    serial: Option<String>,
    to_office: Option<String>,
    confirmed: bool,
}

/// The state of the outbox between rounds: what was seen, since when unchanged.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    seen: BTreeMap<PathBuf, Seen>,
}

impl Outbox {
    /// Create the folders (outbox, `送信中`, `確認済`) and return the outbox.
    pub(super) fn open(dir: &Path) -> std::io::Result<Outbox> {
        std::fs::create_dir_all(dir)?;
        let dir = std::fs::canonicalize(dir)?;
        std::fs::create_dir_all(dir.join(SENDING_DIR))?;
        std::fs::create_dir_all(dir.join(CONFIRMED_DIR))?;
        Ok(Outbox {
            dir,
            seen: BTreeMap::new(),
        })
    }

    /// The outbox folder (canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folders whose top level is read.
    pub(super) fn watched_dirs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone(), self.dir.join(CONFIRMED_DIR)]
    }

    /// Files seen and not taken yet.
    pub(super) fn waiting(&self) -> usize {
        self.seen.len()
    }

    /// Read the top level of the outbox and of `確認済`: new files start their settle
    /// time, changed files start it again, vanished files are forgotten.
    fn scan(&mut self, now: Instant) {
        let mut present = HashSet::new();
        for (dir, confirmed) in [
            (self.dir.clone(), false),
            (self.dir.join(CONFIRMED_DIR), true),
        ] {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    tracing::warn!(error = %e, confirmed, "watch: cannot read the outbox");
                    continue;
                }
            };
            for entry in rd.flatten() {
                // Regular files only (no folders, no links).
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if ignored(&name) {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                let path = entry.path();
                let (size, mtime) = (meta.len(), meta.modified().ok());
                present.insert(path.clone());
                match self.seen.get_mut(&path) {
                    Some(s) if s.size == size && s.mtime == mtime => {}
                    Some(s) => {
                        s.size = size;
                        s.mtime = mtime;
                        s.stable_since = now;
                    }
                    None => {
                        self.seen.insert(
                            path,
                            Seen {
                                size,
                                mtime,
                                stable_since: now,
                                confirmed,
                                name,
                            },
                        );
                    }
                }
            }
        }
        self.seen.retain(|p, _| present.contains(p));
    }

    /// The sets ready to be taken, oldest ファイル連番 first, and when to look again.
    /// Files named in `claimed` (`(confirmed, name)` of sets being taken) are skipped.
    fn ready(
        &self,
        now: Instant,
        cfg: &super::WatchConfig,
        claimed: &HashSet<(bool, String)>,
    ) -> (Vec<Candidate>, Option<Instant>) {
        let mut groups: BTreeMap<GroupKey, Vec<(&PathBuf, &Seen)>> = BTreeMap::new();
        for (p, s) in &self.seen {
            if claimed.contains(&(s.confirmed, s.name.clone())) {
                continue;
            }
            let n = parse_name(&s.name);
            let key = match (n.kind, &n.serial, &n.to_office, &n.from_office) {
                (Some(_), Some(serial), Some(to), Some(from)) => GroupKey::Set {
                    serial: serial.as_str().to_owned(),
                    to: to.as_str().to_owned(),
                    from: from.as_str().to_owned(),
                    confirmed: s.confirmed,
                },
                _ => GroupKey::Lone {
                    name: s.name.clone(),
                    confirmed: s.confirmed,
                },
            };
            groups.entry(key).or_default().push((p, s));
        }
        let mut out = Vec::new();
        let mut next: Option<Instant> = None;
        let mut wake = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for (key, members) in groups {
            let unsettled: Vec<Instant> = members
                .iter()
                .map(|(_, s)| s.stable_since + cfg.settle)
                .filter(|t| *t > now)
                .collect();
            if let Some(t) = unsettled.iter().min() {
                wake(*t);
                continue;
            }
            let names: Vec<String> = members.iter().map(|(_, s)| s.name.clone()).collect();
            let (serial, to_office, complete) = match &key {
                GroupKey::Set { serial, to, .. } => {
                    let parsed: Vec<_> = names.iter().map(|n| parse_name(n)).collect();
                    let complete = careplan_core::route::send_sets(&parsed)
                        .iter()
                        .all(|s| s.complete);
                    (Some(serial.clone()), Some(to.clone()), complete)
                }
                GroupKey::Lone { .. } => (None, None, true),
            };
            if !complete {
                let newest = members
                    .iter()
                    .map(|(_, s)| s.stable_since)
                    .max()
                    .unwrap_or(now);
                let due = newest + cfg.settle + cfg.set_wait;
                if due > now {
                    wake(due);
                    continue;
                }
            }
            if !members.iter().all(|(p, _)| not_held_open(p)) {
                // Still open in the care software: look again shortly.
                wake(now + std::time::Duration::from_secs(1));
                continue;
            }
            let confirmed = match key {
                GroupKey::Set { confirmed, .. } | GroupKey::Lone { confirmed, .. } => confirmed,
            };
            out.push(Candidate {
                paths: members.iter().map(|(p, _)| (*p).clone()).collect(),
                names,
                serial,
                to_office,
                confirmed,
            });
        }
        (out, next)
    }
}

/// The staging folder of a set.
fn staging_dir(outbox: &Path, key: &str) -> PathBuf {
    outbox.join(SENDING_DIR).join(key)
}

/// The first name among `name`, `name (1).ext`, … that is free in `dir`.
fn free_name(dir: &Path, name: &str) -> String {
    for c in fsutil::candidates(name, 10_000) {
        if std::fs::symlink_metadata(dir.join(&c)).is_err() {
            return c;
        }
    }
    name.to_owned()
}

/// Text for Notepad: UTF-8 with BOM, CRLF.
fn note_bytes(text: &str) -> Vec<u8> {
    let mut s = String::from("\u{feff}");
    for line in text.lines() {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.into_bytes()
}

fn set_line(r: &OutRecord) -> String {
    let mut s = String::from("送信セット:");
    if let Some(x) = &r.serial {
        s.push_str(&format!(" 連番 {x}"));
    }
    if let Some(x) = &r.to_office {
        s.push_str(&format!(" 送信先 {x}"));
    }
    if r.serial.is_none() && r.to_office.is_none() {
        s.push_str(" （ファイル名から判定できません）");
    }
    s
}

/// The reason file of a refused set: what is wrong, what to do.
fn error_note(r: &OutRecord, refusal: &Refusal, by_relay: bool) -> String {
    let outbox = r.outbox.display();
    let head = if by_relay {
        "中継サーバがこの送信を受け付けなかったため、送信していません。"
    } else {
        "送信前の確認でエラーが見つかったため、送信していません。"
    };
    let todo = if by_relay {
        "上の理由を確認してください（送信先の事業所番号、ファイルの内容や大きさなど）。直したファイルを送信フォルダに置くと、あらためて送信します。"
    } else {
        "介護ソフトでデータを直して出力し直し、送信セットのファイルをすべて送信フォルダに置いてください。あらためて確認して送信します。"
    };
    format!(
        "{head}（送信フォルダの自動送信）\n\n日時: {}\n{}\nファイル: {}\n（同じ送信セットのファイルはまとめてこのフォルダに移しました。）\n\n何が問題か:\n{}\n\nどうすればよいか:\n{todo}\n送信フォルダ: {outbox}\nこのフォルダ（エラー）のファイルは送信されません。不要になったら削除してください。\n",
        crate::ledger::jst(crate::now()),
        set_line(r),
        r.names.join("、"),
        refusal.detailed_message(),
    )
}

/// The reason file of a held set: the warnings, and how to send or drop it.
fn held_note(r: &OutRecord, plan: &SendPlan) -> String {
    let confirmed = r.outbox.join(CONFIRMED_DIR);
    format!(
        "確認が必要な警告があるため、送信していません（送信フォルダの自動送信）。\n\n日時: {}\n{}\nファイル: {}\n\n警告:\n{}\n\nどうすればよいか:\n内容を確認して、このまま送信してよい場合は、上のファイルをすべて（送信セットごと）「確認済」フォルダに移してください。すぐに送信します。\n確認済フォルダ: {}\n直す場合は、介護ソフトで出力し直して送信フォルダに置き、このフォルダのファイルは削除してください。\n",
        crate::ledger::jst(crate::now()),
        set_line(r),
        r.names.join("、"),
        plan.warnings_refusal().detailed_message(),
        confirmed.display(),
    )
}

/// The `YYYYMM` (JST) of `t`.
fn month_jst(t: time::OffsetDateTime) -> String {
    let off = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let t = t.to_offset(off);
    format!("{:04}{:02}", t.year(), u8::from(t.month()))
}

/// Read the staged files of `r` (those still there).
fn read_staged(r: &OutRecord) -> Result<Vec<OutgoingFile>, ClientError> {
    let dir = staging_dir(&r.outbox, &r.key);
    let mut out = Vec::new();
    for name in &r.names {
        let p = dir.join(name);
        if std::fs::symlink_metadata(&p).is_ok() {
            out.push(OutgoingFile::read(&p)?);
        }
    }
    Ok(out)
}

impl Engine {
    /// One round of the outbox; returns when to look again.
    pub(super) fn outbox_round(&mut self, now: Instant) -> Instant {
        let rescan = now + self.cfg.rescan;
        let claimed = self.claimed();
        let Some(ob) = self.outbox.as_mut() else {
            return rescan;
        };
        ob.scan(now);
        let (ready, next) = ob.ready(now, &self.cfg, &claimed);
        for c in ready {
            if self.stopped() {
                break;
            }
            let paths = c.paths.clone();
            self.take(c);
            if let Some(ob) = self.outbox.as_mut() {
                for p in &paths {
                    ob.seen.remove(p);
                }
            }
        }
        self.drain_queue();
        next.map_or(rescan, |n| n.min(rescan))
    }

    /// Names of the files that sets being taken still have to move out of the outbox.
    fn claimed(&self) -> HashSet<(bool, String)> {
        let office = self.client.office().as_str();
        queue::list(self.client.store(), office)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.state == OutState::Staging)
            .flat_map(|r| {
                let c = r.confirmed;
                r.names.into_iter().map(move |n| (c, n))
            })
            .collect()
    }

    /// Finish what an earlier run left (no network): sets being taken are taken and
    /// checked, decided sets are moved. Sets ready to send go in the first round.
    pub(super) fn outbox_recover(&mut self) -> Result<(), ClientError> {
        let office = self.client.office().as_str().to_owned();
        let recs = queue::list(self.client.store(), &office)?;
        if !recs.is_empty() {
            tracing::info!(
                sets = recs.len(),
                "watch: resuming sets left by an earlier run"
            );
        }
        for r in recs {
            match r.state {
                OutState::Staging => self.resume_staging(r),
                OutState::Ready => {}
                OutState::Finishing { .. } => self.complete_finish(r),
            }
        }
        Ok(())
    }

    /// Take a ready set: record it with a fresh idempotency key (flushed), then move its
    /// files under `送信中/<key>/` and check it.
    fn take(&mut self, c: Candidate) {
        let Some(ob) = &self.outbox else { return };
        let rec = OutRecord {
            key: crate::new_key(),
            office: self.client.office().as_str().to_owned(),
            outbox: ob.dir().to_path_buf(),
            names: c.names,
            serial: c.serial,
            to_office: c.to_office,
            confirmed: c.confirmed,
            state: OutState::Staging,
            staged_at: crate::now(),
            attempts: 0,
            last_error: None,
        };
        if let Err(e) = queue::put(self.client.store(), &rec) {
            tracing::error!(error = %e, "watch: cannot record a set; it stays in the outbox");
            return;
        }
        tracing::info!(
            set = rec.serial.as_deref().unwrap_or("-"),
            to = rec.to_office.as_deref().unwrap_or("-"),
            files = rec.names.len(),
            key = &rec.key[..8],
            confirmed = rec.confirmed,
            "watch: set taken from the outbox"
        );
        self.resume_staging(rec);
    }

    /// Move the files of a set being taken into its staging folder (those not moved yet;
    /// files that vanished are dropped), then check the set.
    fn resume_staging(&mut self, mut rec: OutRecord) {
        let staging = staging_dir(&rec.outbox, &rec.key);
        let src_dir = if rec.confirmed {
            rec.outbox.join(CONFIRMED_DIR)
        } else {
            rec.outbox.clone()
        };
        let moved = std::fs::create_dir_all(&staging)
            .map_err(|e| ClientError::io(&staging, e))
            .and_then(|()| fsutil::sync_dir(&rec.outbox.join(SENDING_DIR)));
        if let Err(e) = moved {
            self.staging_problem(rec, &e);
            return;
        }
        let mut present = Vec::new();
        for name in rec.names.clone() {
            if std::fs::symlink_metadata(staging.join(&name)).is_ok() {
                present.push(name);
                continue;
            }
            let src = src_dir.join(&name);
            if std::fs::symlink_metadata(&src).is_err() {
                tracing::warn!(key = &rec.key[..8], "watch: a file of the set vanished");
                continue;
            }
            match fsutil::rename_no_clobber(&src, &staging, &name) {
                Ok(_) => present.push(name),
                Err(e) => {
                    // E.g. still open in the care software on Windows: the set stays
                    // being taken and the move is tried again in the next round.
                    self.staging_problem(rec, &e);
                    return;
                }
            }
            test_pause();
        }
        rec.names = present;
        if rec.names.is_empty() {
            let _ = std::fs::remove_dir(&staging);
            if let Err(e) = queue::remove(self.client.store(), &rec.office, &rec.key) {
                tracing::error!(error = %e, "watch: cannot update the journal");
            }
            return;
        }
        self.check(rec);
    }

    fn staging_problem(&mut self, mut rec: OutRecord, e: &ClientError) {
        tracing::warn!(key = &rec.key[..8], code = %e.code(), "watch: cannot move a file of the set yet");
        rec.last_error = Some(e.message_ja());
        if let Err(e) = queue::put_lazy(self.client.store(), &rec) {
            tracing::error!(error = %e, "watch: cannot update the journal");
        }
    }

    /// The pre-send check of a staged set: エラー, 確認待ち, or ready to send.
    fn check(&mut self, mut rec: OutRecord) {
        let files = match read_staged(&rec) {
            Ok(f) => f,
            Err(e) => return self.staging_problem(rec, &e),
        };
        match self
            .client
            .prepare_send(files, &self.cfg.message, &SendMode::Bulk)
        {
            Err(ClientError::Refused(r)) => {
                let note = error_note(&rec, &r, false);
                self.refuse(rec, &r, note, false);
            }
            Err(e) => self.staging_problem(rec, &e),
            Ok(plan) => {
                if plan.has_warnings() && self.cfg.warnings == WarningPolicy::Hold && !rec.confirmed
                {
                    let note = held_note(&rec, &plan);
                    let codes = codes(&plan.warnings_refusal());
                    tracing::info!(
                        set = rec.serial.as_deref().unwrap_or("-"),
                        key = &rec.key[..8],
                        warnings = %codes,
                        "watch: set held for confirmation (確認待ち)"
                    );
                    let receipt = format!("警告があるため確認待ち（{codes}）。送信していません。");
                    self.finish(rec, Dest::Held, Some(note), Direction::Held, receipt);
                    self.count(|c| c.held_sets += 1);
                    return;
                }
                if plan.has_warnings() {
                    tracing::info!(
                        key = &rec.key[..8],
                        warnings = %codes(&plan.warnings_refusal()),
                        "watch: warnings accepted by the setting or a person"
                    );
                }
                rec.state = OutState::Ready;
                rec.last_error = None;
                if let Err(e) = queue::put(self.client.store(), &rec) {
                    tracing::error!(error = %e, "watch: cannot update the journal");
                }
            }
        }
    }

    /// Send every ready set in order; the first network failure ends the round (the rest
    /// would fail the same way) and starts the back-off.
    fn drain_queue(&mut self) {
        let office = self.client.office().as_str().to_owned();
        let recs = match queue::list(self.client.store(), &office) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "watch: cannot read the journal");
                return;
            }
        };
        for r in recs {
            if self.stopped() {
                return;
            }
            match r.state {
                // A move that failed earlier.
                OutState::Staging => self.resume_staging(r),
                OutState::Finishing { .. } => self.complete_finish(r),
                OutState::Ready => {
                    if !self.relay_ready() {
                        return;
                    }
                    if !self.send_one(r) {
                        return;
                    }
                }
            }
        }
    }

    /// Send one ready set with its own key. False when the relay could not be used.
    fn send_one(&mut self, mut rec: OutRecord) -> bool {
        let files = match read_staged(&rec) {
            Ok(f) if !f.is_empty() => f,
            Ok(_) => {
                tracing::error!(
                    key = &rec.key[..8],
                    "watch: the files of a set are gone from 送信中; dropping the set"
                );
                let _ = queue::remove(self.client.store(), &rec.office, &rec.key);
                return true;
            }
            Err(e) => {
                self.staging_problem(rec, &e);
                return true;
            }
        };
        let mut plan = match self
            .client
            .prepare_send(files, &self.cfg.message, &SendMode::Bulk)
        {
            Ok(p) => p,
            Err(ClientError::Refused(r)) => {
                let note = error_note(&rec, &r, false);
                self.refuse(rec, &r, note, false);
                return true;
            }
            Err(e) => {
                self.staging_problem(rec, &e);
                return true;
            }
        };
        // The key recorded before anything left: a resend is the same send.
        plan.key = rec.key.clone();
        test_pause();
        let res = self.client.send(&plan, true);
        test_pause();
        match res {
            Ok(receipt) => {
                self.net_ok();
                tracing::info!(
                    set = rec.serial.as_deref().unwrap_or("-"),
                    to = rec.to_office.as_deref().unwrap_or("-"),
                    files = rec.names.len(),
                    key = &rec.key[..8],
                    transmissions = receipt.ids.len(),
                    "watch: set sent"
                );
                let month = month_jst(receipt.accepted_at);
                self.finish(
                    rec,
                    Dest::Sent { month },
                    None,
                    Direction::Send,
                    String::new(),
                );
                self.count(|c| c.sent_sets += 1);
                true
            }
            Err(ClientError::Refused(r)) => {
                self.net_ok();
                let note = error_note(&rec, &r, true);
                self.refuse(rec, &r, note, true);
                true
            }
            Err(ClientError::Relay { code, message, .. }) if code == "E_IDEMPOTENCY_CONFLICT" => {
                self.net_ok();
                let r = Refusal {
                    code,
                    message,
                    files: vec![],
                    offices: vec![],
                };
                let note = error_note(&rec, &r, true);
                self.refuse(rec, &r, note, true);
                true
            }
            Err(e) => {
                rec.attempts = rec.attempts.saturating_add(1);
                rec.last_error = Some(e.message_ja());
                if let Err(e) = queue::put_lazy(self.client.store(), &rec) {
                    tracing::error!(error = %e, "watch: cannot update the journal");
                }
                self.net_failed(&e);
                false
            }
        }
    }

    /// Move a refused set to `エラー` with its reason.
    fn refuse(&mut self, rec: OutRecord, r: &Refusal, note: String, by_relay: bool) {
        let codes = codes(r);
        tracing::warn!(
            set = rec.serial.as_deref().unwrap_or("-"),
            key = &rec.key[..8],
            code = %r.code,
            findings = %codes,
            by_relay,
            "watch: set refused; moved to エラー, nothing sent"
        );
        let receipt = format!(
            "{}（{}）。送信していません。",
            if by_relay {
                "中継サーバが受け付けませんでした"
            } else {
                "送信前の確認でエラー"
            },
            r.code
        );
        self.finish(rec, Dest::Error, Some(note), Direction::NotSent, receipt);
        self.count(|c| c.error_sets += 1);
    }

    /// Decide a set (flushed), record the outcome in the ledger (sends are recorded by
    /// the client), then move its files.
    fn finish(
        &mut self,
        mut rec: OutRecord,
        dest: Dest,
        reason: Option<String>,
        direction: Direction,
        receipt: String,
    ) {
        if direction != Direction::Send {
            let files = read_staged(&rec)
                .unwrap_or_default()
                .into_iter()
                .map(|f| LedgerFile {
                    size: f.bytes.len() as u64,
                    sha256: crate::sha256_hex(&f.bytes),
                    name: f.name,
                    saved_as: None,
                })
                .collect();
            let entry = LedgerEntry {
                seq: 0,
                at: crate::now(),
                direction,
                office: rec.office.clone(),
                counterpart: rec.to_office.clone().unwrap_or_default(),
                counterpart_name: None,
                transmission_id: String::new(),
                message: self.cfg.message.clone(),
                files,
                receipt,
                terminal: self.client.terminal_name().to_owned(),
            };
            let kind = if direction == Direction::Held {
                "held"
            } else {
                "error"
            };
            if let Err(e) = self
                .client
                .store()
                .append_ledger(&format!("watch:{}:{kind}", rec.key), entry)
            {
                tracing::error!(error = %e, "watch: cannot write the ledger");
            }
        }
        rec.state = OutState::Finishing { dest, reason };
        if let Err(e) = queue::put(self.client.store(), &rec) {
            tracing::error!(error = %e, "watch: cannot update the journal");
            return;
        }
        self.complete_finish(rec);
    }

    /// Move the files of a decided set to their folder (with the reason files), remove
    /// the staging folder and the record. Idempotent: a crash in the middle is finished by
    /// the next run.
    fn complete_finish(&mut self, rec: OutRecord) {
        let OutState::Finishing { dest, reason } = &rec.state else {
            return;
        };
        let (target, note_suffix) = match dest {
            Dest::Sent { month } => (rec.outbox.join(SENT_DIR).join(month), None),
            Dest::Error => (rec.outbox.join(ERROR_DIR), Some(ERROR_NOTE)),
            Dest::Held => (rec.outbox.join(HELD_DIR), Some(HELD_NOTE)),
        };
        let staging = staging_dir(&rec.outbox, &rec.key);
        let res = (|| -> Result<(), ClientError> {
            std::fs::create_dir_all(&target).map_err(|e| ClientError::io(&target, e))?;
            for name in &rec.names {
                let src = staging.join(name);
                if std::fs::symlink_metadata(&src).is_err() {
                    continue;
                }
                let final_name = free_name(&target, name);
                if let (Some(suffix), Some(text)) = (note_suffix, reason) {
                    let note = target.join(format!("{final_name}{suffix}"));
                    fsutil::write_atomic(&note, &note_bytes(text), false)?;
                }
                fsutil::rename_no_clobber(&src, &target, &final_name)?;
                test_pause();
            }
            Ok(())
        })();
        if let Err(e) = res {
            tracing::error!(key = &rec.key[..8], code = %e.code(), "watch: cannot move the set; trying again later");
            return;
        }
        if let Err(e) = std::fs::remove_dir(&staging)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "watch: the staging folder is not empty; left for a person");
        }
        let _ = fsutil::sync_dir(&rec.outbox.join(SENDING_DIR));
        if let Err(e) = queue::remove(self.client.store(), &rec.office, &rec.key) {
            tracing::error!(error = %e, "watch: cannot update the journal");
        }
    }
}

/// The finding codes of a refusal, for the log (never the messages: they may quote data).
fn codes(r: &Refusal) -> String {
    let mut v: Vec<&str> = vec![r.code.as_str()];
    for f in &r.files {
        for x in &f.findings {
            v.push(x.code.as_str());
        }
    }
    for o in &r.offices {
        v.push(o.code.as_str());
    }
    v.sort_unstable();
    v.dedup();
    v.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_and_hidden_names_are_ignored() {
        for n in [
            ".hidden.CSV",
            "~$book.xlsx",
            "a.tmp",
            "a.CSV.part",
            "x.crdownload",
            "Thumbs.db",
            "desktop.ini",
            "A.CSV.エラー.txt",
            "A.CSV.確認待ち.txt",
        ] {
            assert!(ignored(n), "{n}");
        }
        assert!(!ignored(
            "UPPLAN_202611_1310000001_43_1310000002_11_20261102090000.CSV"
        ));
        assert!(!ignored("memo.pdf"));
    }

    #[test]
    fn free_names_never_reuse_a_taken_name() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(free_name(d.path(), "a.CSV"), "a.CSV");
        std::fs::write(d.path().join("a.CSV"), b"x").unwrap();
        assert_eq!(free_name(d.path(), "a.CSV"), "a (1).CSV");
    }

    #[test]
    fn notes_are_utf8_with_bom_and_crlf() {
        let b = note_bytes("一行目\n二行目\n");
        assert!(b.starts_with("\u{feff}".as_bytes()));
        assert!(String::from_utf8(b).unwrap().ends_with("二行目\r\n"));
    }

    #[test]
    fn months_are_jst() {
        let t = time::macros::datetime!(2026-10-31 15:30 UTC);
        assert_eq!(month_jst(t), "202611");
    }
}
