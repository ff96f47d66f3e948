//! The ledger (送受信記録): its hash chain and verification, the CSV export and the monthly
//! report for audits (運営指導).
//!
//! # The chain
//!
//! Every stored entry carries `prev_seq`, `prev_hash` and `hash` ([`crate::store::ChainLink`]).
//! `hash` is the SHA-256 (lower-case hex) of the entry's **canonical bytes**
//! ([`canonical_bytes`]): the compact UTF-8 JSON array (serde_json: no spaces, strings
//! escaped the JSON way, `/` and non-ASCII written as they are)
//!
//! ```text
//! ["careplan-ledger/1", seq, prev_seq|null, prev_hash, at (Unix time in ns, decimal string),
//!  "send"|"receive", office, counterpart, counterpart_name|null, transmission_id, message,
//!  [[file name, size, sha256, saved_as|null], ...], receipt, terminal]
//! ```
//!
//! `prev_hash` is the previous entry's `hash` (64 zeros, [`GENESIS`], for the first entry),
//! so changing, removing or reordering any entry breaks the chain at that entry.
//! [`verify_chain`] is the pure check; `ledger_meta/head` in the store names the last entry
//! so that entries removed from the end are noticed too.
//!
//! # The export
//!
//! Format decision: **UTF-8 with BOM, CRLF line ends**, one row per file, times in JST
//! (`YYYY-MM-DD HH:MM:SS`, +09:00). UTF-8 with BOM opens correctly in Excel on Japanese
//! Windows and, unlike MS932, cannot lose a character of an office name or a file name.
//! Fields are quoted when they hold a comma, a quote or a line break (RFC 4180).
//!
//! CSV injection (OWASP): every text cell that starts with `=`, `+`, `-`, `@`, TAB or CR
//! (a message, a file name, an office name … anything another office or the relay can
//! choose) gets a leading `'`, so that Excel shows it as text instead of running it as a
//! formula. The numbers the ledger writes itself (記録番号, サイズ) and its own times are
//! written as they are.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset};

use crate::error::ClientError;
use crate::store::{Direction, LedgerEntry, LedgerHead, RawLedgerRecord};

/// `prev_hash` of the first entry of the chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The first element of the canonical bytes (the version of their layout).
pub const CANONICAL_TAG: &str = "careplan-ledger/1";

/// The canonical bytes of an entry linked after `prev_seq` / `prev_hash` (see the module
/// documentation). `entry.seq` must be the entry's final sequence number.
pub fn canonical_bytes(entry: &LedgerEntry, prev_seq: Option<u64>, prev_hash: &str) -> Vec<u8> {
    let files: Vec<Value> = entry
        .files
        .iter()
        .map(|f| {
            json!([
                f.name,
                f.size,
                f.sha256,
                f.saved_as
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
            ])
        })
        .collect();
    let v = json!([
        CANONICAL_TAG,
        entry.seq,
        prev_seq,
        prev_hash,
        entry.at.unix_timestamp_nanos().to_string(),
        match entry.direction {
            Direction::Send => "send",
            Direction::Receive => "receive",
            Direction::Repair => "repair",
            Direction::NotSent => "not_sent",
            Direction::Held => "held",
        },
        entry.office,
        entry.counterpart,
        entry.counterpart_name,
        entry.transmission_id,
        entry.message,
        files,
        entry.receipt,
        entry.terminal,
    ]);
    // Serialising a `Value` cannot fail (string keys only).
    serde_json::to_vec(&v).unwrap_or_default()
}

/// SHA-256 (lower-case hex) of [`canonical_bytes`].
pub fn entry_hash(entry: &LedgerEntry, prev_seq: Option<u64>, prev_hash: &str) -> String {
    crate::sha256_hex(&canonical_bytes(entry, prev_seq, prev_hash))
}

/// The sequence number of a `ledger` key (8 bytes, big-endian).
pub fn key_seq(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

/// What is wrong at the first broken place of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakKind {
    /// The stored value cannot be read.
    Unreadable {
        /// Technical detail.
        detail: String,
    },
    /// The key of the record is not a sequence number.
    BadKey,
    /// The entry's sequence number differs from its key.
    SeqChanged {
        /// The number written in the entry.
        stored: u64,
    },
    /// The entry has no hash (or no link) although the chain covers it.
    NoHash,
    /// The entry's contents differ from what was hashed when it was recorded.
    ContentChanged,
    /// The entry named by the next entry's link is not there (deleted).
    Deleted {
        /// The next entry, whose link names the missing one.
        next: u64,
    },
    /// The entry's link names another previous entry or hash than the one before it.
    Unlinked {
        /// The entry actually before it (`None`: it is first).
        prev: Option<u64>,
    },
    /// The last entry(ies) of the chain are missing: `seq` is the last recorded one.
    TailDeleted {
        /// The last entry present (`None`: none left).
        last_present: Option<u64>,
    },
    /// The chain's record of its last entry is missing or names another hash.
    HeadMismatch,
    /// The chain's record of its last entry cannot be read.
    HeadUnreadable {
        /// Technical detail.
        detail: String,
    },
}

/// The first broken entry of the ledger chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerBreak {
    /// 記録番号 of the broken (or missing) entry.
    pub seq: u64,
    /// What is wrong.
    pub kind: BreakKind,
}

impl LedgerBreak {
    /// What is wrong and what to do, in Japanese.
    pub fn message_ja(&self) -> String {
        let n = self.seq;
        let what = match &self.kind {
            BreakKind::Unreadable { .. } => {
                format!("記録番号 {n} の記録が壊れていて読み取れません。")
            }
            BreakKind::BadKey => "台帳に記録番号の読み取れない記録があります。".to_owned(),
            BreakKind::SeqChanged { stored } => {
                format!("記録番号 {n} の記録の中の記録番号が {stored} に書き換えられています。")
            }
            BreakKind::NoHash => {
                format!("記録番号 {n} に改ざん検出用のハッシュがありません（消されています）。")
            }
            BreakKind::ContentChanged => format!(
                "記録番号 {n} の内容（日時・相手・メッセージ・ファイル名・サイズ・SHA-256 など）が記録した時から変わっています。"
            ),
            BreakKind::Deleted { next } => format!(
                "記録番号 {n} の記録がありません（削除されています）。記録番号 {next} の直前の記録です。"
            ),
            BreakKind::Unlinked { prev } => match prev {
                Some(p) => format!(
                    "記録番号 {n} が直前の記録（記録番号 {p}）とつながっていません。どちらかが書き換えられたか差し替えられています。"
                ),
                None => format!(
                    "記録番号 {n} は台帳の最初の記録ですが、前の記録があったことになっています（前の記録が削除されています）。"
                ),
            },
            BreakKind::TailDeleted { last_present } => match last_present {
                Some(p) => format!(
                    "記録番号 {n} までの記録があるはずですが、記録番号 {p} より後の記録がありません（削除されています）。"
                ),
                None => format!(
                    "記録番号 {n} までの記録があるはずですが、記録が1件もありません（削除されています）。"
                ),
            },
            BreakKind::HeadMismatch => format!(
                "台帳の最後の記録の控えが記録番号 {n} と一致しません（控えが消されたか、記録が書き換えられています）。"
            ),
            BreakKind::HeadUnreadable { .. } => {
                "台帳の最後の記録の控えが壊れていて読み取れません。".to_owned()
            }
        };
        format!(
            "送受信記録（台帳）が改ざんされているか壊れています: {what}この端末の台帳を書き出した控えやバックアップと照合し、管理者に連絡してください。"
        )
    }
}

impl std::fmt::Display for LedgerBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message_ja())
    }
}

/// Check the chain of the `ledger` tree records (in key order) against the head record.
/// Returns the number of entries when intact, else the first broken entry.
///
/// Per record: the key is a sequence number equal to the entry's own; the entry has a link;
/// its hash is the hash of its canonical bytes; its `prev_seq`/`prev_hash` are those of the
/// record before it (a `prev_seq` pointing past the record before it names the deleted
/// entry). At the end the last entry is the head.
pub fn verify_chain(
    records: &[RawLedgerRecord],
    head: Option<&LedgerHead>,
) -> Result<usize, LedgerBreak> {
    let brk = |seq, kind| Err(LedgerBreak { seq, kind });
    let mut prev: Option<(u64, &str)> = None;
    for r in records {
        let Some(seq) = key_seq(&r.key) else {
            return brk(prev.map_or(0, |p| p.0), BreakKind::BadKey);
        };
        let c = match &r.value {
            Ok(c) => c,
            Err(detail) => {
                return brk(
                    seq,
                    BreakKind::Unreadable {
                        detail: detail.clone(),
                    },
                );
            }
        };
        if c.entry.seq != seq {
            return brk(
                seq,
                BreakKind::SeqChanged {
                    stored: c.entry.seq,
                },
            );
        }
        let (Some(hash), Some(prev_hash)) = (&c.link.hash, &c.link.prev_hash) else {
            return brk(seq, BreakKind::NoHash);
        };
        if entry_hash(&c.entry, c.link.prev_seq, prev_hash) != *hash {
            return brk(seq, BreakKind::ContentChanged);
        }
        let before = prev.map(|p| p.0);
        if c.link.prev_seq != before {
            if let Some(p) = c.link.prev_seq
                && before.is_none_or(|b| p > b)
            {
                return brk(p, BreakKind::Deleted { next: seq });
            }
            return brk(seq, BreakKind::Unlinked { prev: before });
        }
        if prev_hash != prev.map_or(GENESIS, |p| p.1) {
            return brk(seq, BreakKind::Unlinked { prev: before });
        }
        prev = Some((seq, hash));
    }
    match (head, prev) {
        (None, None) => Ok(0),
        (None, Some((last, _))) => brk(last, BreakKind::HeadMismatch),
        (Some(h), last) if last.is_none_or(|(s, _)| s < h.seq) => brk(
            h.seq,
            BreakKind::TailDeleted {
                last_present: last.map(|l| l.0),
            },
        ),
        (Some(h), Some((last, hash))) if last != h.seq || hash != h.hash => {
            brk(last, BreakKind::HeadMismatch)
        }
        _ => Ok(records.len()),
    }
}

/// The header row of the export.
pub const HEADER: [&str; 14] = [
    "記録番号",
    "日時",
    "区分",
    "自事業所番号",
    "相手事業所番号",
    "相手事業所名称",
    "送受信ID",
    "メッセージ",
    "ファイル名",
    "サイズ(バイト)",
    "SHA-256",
    "保存先",
    "中継サーバ受付",
    "端末名",
];

/// Format a time as JST `YYYY-MM-DD HH:MM:SS`.
pub fn jst(t: OffsetDateTime) -> String {
    let off = UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC);
    let t = t.to_offset(off);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A text cell made safe for spreadsheets: a leading `'` when it starts with `=`, `+`,
/// `-`, `@`, TAB or CR (the OWASP rule against CSV injection).
pub fn neutralise(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A text cell: [`neutralise`]d.
fn text(s: &str) -> String {
    neutralise(s).into_owned()
}

/// The export as bytes (BOM + CRLF rows).
pub fn to_csv(entries: &[LedgerEntry]) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let row = |out: &mut String, cols: &[String]| {
        let line: Vec<String> = cols.iter().map(|c| field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    };
    row(
        &mut out,
        &HEADER.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
    );
    for e in entries {
        for f in &e.files {
            row(
                &mut out,
                &[
                    e.seq.to_string(),
                    jst(e.at),
                    text(e.direction.label()),
                    text(&e.office),
                    text(&e.counterpart),
                    text(e.counterpart_name.as_deref().unwrap_or_default()),
                    text(&e.transmission_id),
                    text(&e.message),
                    text(&f.name),
                    f.size.to_string(),
                    text(&f.sha256),
                    f.saved_as
                        .as_ref()
                        .map(|p| text(&p.display().to_string()))
                        .unwrap_or_default(),
                    text(&e.receipt),
                    text(&e.terminal),
                ],
            );
        }
    }
    out.into_bytes()
}

/// Write the export durably to `path` (replacing it). Returns the number of file rows.
pub fn export(entries: &[LedgerEntry], path: &Path) -> Result<usize, ClientError> {
    let rows = entries.iter().map(|e| e.files.len()).sum();
    crate::fsutil::write_atomic(path, &to_csv(entries), false)?;
    Ok(rows)
}

/// `YYYYMM` → (year, month), for the monthly report. `None` unless 6 digits with a month
/// from 01 to 12 (years 2000–2099).
pub fn parse_month(s: &str) -> Option<(i32, u8)> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = s.get(..4)?.parse().ok()?;
    let month: u8 = s.get(4..)?.parse().ok()?;
    ((2000..=2099).contains(&year) && (1..=12).contains(&month)).then_some((year, month))
}

/// True when `t` falls in `year`/`month` in JST.
pub fn in_month_jst(t: OffsetDateTime, year: i32, month: u8) -> bool {
    let off = UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC);
    let t = t.to_offset(off);
    t.year() == year && u8::from(t.month()) == month
}

/// The header columns of the monthly report's table.
pub const REPORT_HEADER: [&str; 11] = [
    "記録番号",
    "日時",
    "区分",
    "相手事業所番号",
    "相手事業所名称",
    "ファイル名",
    "サイズ(バイト)",
    "SHA-256",
    "済日時",
    "中継サーバ受付",
    "送受信ID",
];

/// What the monthly report says about itself (above the table).
#[derive(Debug, Clone)]
pub struct ReportInfo {
    /// Our 事業所番号.
    pub office: String,
    /// The year of the month reported.
    pub year: i32,
    /// The month reported (1–12).
    pub month: u8,
    /// When the report was made.
    pub made_at: OffsetDateTime,
    /// The result of the chain check, one line of Japanese.
    pub chain: String,
}

/// One file row of the monthly report (plain text, not neutralised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// 記録番号.
    pub seq: u64,
    /// 日時 (JST).
    pub at: String,
    /// 区分: 送信 / 受信 / 修復.
    pub kind: &'static str,
    /// 相手事業所番号.
    pub counterpart: String,
    /// 相手事業所名称.
    pub counterpart_name: String,
    /// ファイル名.
    pub file: String,
    /// サイズ (bytes).
    pub size: u64,
    /// SHA-256.
    pub sha256: String,
    /// 済日時 (receipts only).
    pub done_at: String,
    /// 中継サーバ受付.
    pub receipt: String,
    /// 送受信ID.
    pub transmission_id: String,
}

/// The content of the monthly report: counts and one row per file, in recording order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthReport {
    /// 送信 entries and their files.
    pub sends: (usize, usize),
    /// 受信 entries and their files.
    pub receipts: (usize, usize),
    /// 修復 entries.
    pub repairs: usize,
    /// One row per file.
    pub rows: Vec<ReportRow>,
}

impl MonthReport {
    /// The 件数 line.
    pub fn counts_line(&self) -> String {
        let (sends, send_files) = self.sends;
        let (recvs, recv_files) = self.receipts;
        let base = format!(
            "送信 {sends}件（{send_files}ファイル）、受信 {recvs}件（{recv_files}ファイル）"
        );
        if self.repairs == 0 {
            base
        } else {
            format!("{base}、修復 {}件", self.repairs)
        }
    }
}

/// Every send, receipt and repair of `info.office` in that month (JST), in recording order.
/// 済日時 is the time this terminal acknowledged a receipt; sends and repairs leave it empty
/// (the relay does not tell when the destination saved them).
pub fn month_report(entries: &[LedgerEntry], info: &ReportInfo) -> MonthReport {
    let ours: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| e.office == info.office && in_month_jst(e.at, info.year, info.month))
        // The report is about exchanges and repairs: sets of the 送信フォルダ that were not
        // sent are in the ledger and its export, not here.
        .filter(|e| {
            matches!(
                e.direction,
                Direction::Send | Direction::Receive | Direction::Repair
            )
        })
        .collect();
    let count = |d: Direction| {
        let es: Vec<_> = ours.iter().filter(|e| e.direction == d).collect();
        (es.len(), es.iter().map(|e| e.files.len()).sum::<usize>())
    };
    let rows = ours
        .iter()
        .flat_map(|e| {
            e.files.iter().map(move |f| ReportRow {
                seq: e.seq,
                at: jst(e.at),
                kind: e.direction.label(),
                counterpart: e.counterpart.clone(),
                counterpart_name: e.counterpart_name.clone().unwrap_or_default(),
                file: f.name.clone(),
                size: f.size,
                sha256: f.sha256.clone(),
                done_at: match e.direction {
                    Direction::Receive => jst(e.at),
                    _ => String::new(),
                },
                receipt: e.receipt.clone(),
                transmission_id: e.transmission_id.clone(),
            })
        })
        .collect();
    MonthReport {
        sends: count(Direction::Send),
        receipts: count(Direction::Receive),
        repairs: count(Direction::Repair).0,
        rows,
    }
}

/// The monthly 送受信記録 report as CSV (UTF-8 with BOM, CRLF, like the export): a title
/// block (送受信記録 YYYY年MM月, 事業所番号, 作成日時, 台帳の検証, 件数), an empty line, then
/// one row per file of [`month_report`]. Text cells are [`neutralise`]d. Returns the bytes
/// and the number of file rows.
pub fn month_report_csv(entries: &[LedgerEntry], info: &ReportInfo) -> (Vec<u8>, usize) {
    let report = month_report(entries, info);
    let mut out = String::from("\u{feff}");
    let row = |out: &mut String, cols: &[String]| {
        let line: Vec<String> = cols.iter().map(|c| field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    };
    let pair = |out: &mut String, k: &str, v: String| row(out, &[k.to_owned(), v]);
    pair(
        &mut out,
        "送受信記録",
        format!("{}年{:02}月", info.year, info.month),
    );
    pair(&mut out, "事業所番号", text(&info.office));
    pair(&mut out, "作成日時", jst(info.made_at));
    pair(&mut out, "台帳の検証", text(&info.chain));
    pair(&mut out, "件数", report.counts_line());
    out.push_str("\r\n");
    row(
        &mut out,
        &REPORT_HEADER
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>(),
    );
    for r in &report.rows {
        row(
            &mut out,
            &[
                r.seq.to_string(),
                r.at.clone(),
                text(r.kind),
                text(&r.counterpart),
                text(&r.counterpart_name),
                text(&r.file),
                r.size.to_string(),
                text(&r.sha256),
                r.done_at.clone(),
                text(&r.receipt),
                text(&r.transmission_id),
            ],
        );
    }
    (out.into_bytes(), report.rows.len())
}

/// Write the monthly report durably to `path` (replacing it). Returns the number of file
/// rows.
pub fn write_month_report(
    entries: &[LedgerEntry],
    info: &ReportInfo,
    path: &Path,
) -> Result<usize, ClientError> {
    let (bytes, rows) = month_report_csv(entries, info);
    crate::fsutil::write_atomic(path, &bytes, false)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Direction, LedgerFile};

    #[test]
    fn export_has_bom_crlf_and_quotes() {
        let e = LedgerEntry {
            seq: 7,
            at: OffsetDateTime::UNIX_EPOCH,
            direction: Direction::Receive,
            office: "1310000001".into(),
            counterpart: "1310000002".into(),
            counterpart_name: Some("テスト事業所".into()),
            transmission_id: "t".into(),
            message: "a,\"b\"".into(),
            files: vec![LedgerFile {
                name: "X.CSV".into(),
                size: 3,
                sha256: "ab".into(),
                saved_as: None,
            }],
            receipt: "r".into(),
            terminal: "pc".into(),
        };
        let s = String::from_utf8(to_csv(&[e])).unwrap();
        assert!(s.starts_with('\u{feff}'));
        assert!(s.contains("\r\n7,1970-01-01 09:00:00,受信,"));
        assert!(s.contains("\"a,\"\"b\"\"\""));
        assert_eq!(s.matches("\r\n").count(), 2);
    }

    fn entry(message: &str, name: &str, office_name: &str) -> LedgerEntry {
        LedgerEntry {
            seq: 12,
            at: OffsetDateTime::UNIX_EPOCH,
            direction: Direction::Receive,
            office: "1310000001".into(),
            counterpart: "1310000002".into(),
            counterpart_name: Some(office_name.into()),
            transmission_id: "@t".into(),
            message: message.into(),
            files: vec![LedgerFile {
                name: name.into(),
                size: 1234,
                sha256: "ab".into(),
                saved_as: Some(std::path::PathBuf::from("-x.csv")),
            }],
            receipt: "+r".into(),
            terminal: "\tpc".into(),
        }
    }

    /// The cells of the data row, read back with the `csv` crate (RFC 4180 unquoting).
    fn cells(bytes: &[u8]) -> Vec<String> {
        let s = String::from_utf8(bytes.to_vec()).unwrap();
        let mut r = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(s.trim_start_matches('\u{feff}').as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        rec.iter().map(str::to_owned).collect()
    }

    #[test]
    fn formulas_in_text_cells_are_neutralised() {
        let bytes = to_csv(&[entry(
            "=HYPERLINK(\"http://x\",\"y\")",
            "=1+1.csv",
            "-事業所",
        )]);
        let s = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            s.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""),
            "{s}"
        );
        let c = cells(&bytes);
        assert_eq!(c[0], "12");
        assert_eq!(c[5], "'-事業所");
        assert_eq!(c[6], "'@t");
        assert_eq!(c[7], "'=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(c[8], "'=1+1.csv");
        assert_eq!(c[9], "1234");
        assert_eq!(c[11], "'-x.csv");
        assert_eq!(c[12], "'+r");
        assert_eq!(c[13], "'\tpc");
        // No cell of the row starts with a formula character.
        assert!(
            c.iter()
                .all(|v| !v.starts_with(['=', '+', '-', '@', '\t', '\r']))
        );
    }

    #[test]
    fn carriage_returns_and_ordinary_text_are_handled() {
        assert_eq!(neutralise("\r=1"), "'\r=1");
        assert_eq!(neutralise("予定どおり"), "予定どおり");
        assert_eq!(neutralise("a=1"), "a=1");
        assert_eq!(neutralise(""), "");
        let c = cells(&to_csv(&[entry("\r\n=cmd", "a.pdf", "事業所")]));
        assert_eq!(c[7], "'\r\n=cmd");
        assert_eq!(c[8], "a.pdf");
        assert_eq!(c[5], "事業所");
    }

    #[test]
    fn months_parse_strictly() {
        assert_eq!(parse_month("202611"), Some((2026, 11)));
        assert_eq!(parse_month("202613"), None);
        assert_eq!(parse_month("202600"), None);
        assert_eq!(parse_month("2026-1"), None);
        assert_eq!(parse_month("２０２６１１"), None);
        assert_eq!(parse_month("20261"), None);
    }

    #[test]
    fn the_month_is_cut_in_jst_and_cells_are_neutralised() {
        // 2026-10-31 15:00 UTC = 2026-11-01 00:00 JST: in November.
        let nov_first = OffsetDateTime::from_unix_timestamp(1_793_458_800).unwrap();
        let oct_last = nov_first - time::Duration::seconds(1);
        let mut a = entry("=cmd|' /C calc'!A0", "-2.csv", "@事業所");
        a.at = nov_first;
        a.seq = 1;
        let mut b = entry("10月", "B.CSV", "事業所");
        b.at = oct_last;
        b.seq = 2;
        let mut c = entry("他事業所", "C.CSV", "事業所");
        c.at = nov_first;
        c.office = "1310000009".into();
        let mut d = entry("送信", "D.CSV", "送信先");
        d.at = nov_first + time::Duration::days(29);
        d.direction = Direction::Send;
        d.seq = 4;
        let info = ReportInfo {
            office: "1310000001".into(),
            year: 2026,
            month: 11,
            made_at: nov_first,
            chain: "改ざんなし（4件）".into(),
        };
        let (bytes, rows) = month_report_csv(&[a, b, c, d], &info);
        assert_eq!(rows, 2);
        let s = String::from_utf8(bytes).unwrap();
        assert!(s.starts_with("\u{feff}送受信記録,2026年11月\r\n事業所番号,1310000001\r\n"));
        assert!(s.contains("件数,送信 1件（1ファイル）、受信 1件（1ファイル）\r\n"));
        let table = s.split("\r\n\r\n").nth(1).unwrap();
        let mut r = ::csv::ReaderBuilder::new().from_reader(table.as_bytes());
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            REPORT_HEADER
        );
        let recs: Vec<Vec<String>> = r
            .records()
            .map(|x| x.unwrap().iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0][0], "1");
        assert_eq!(recs[0][1], "2026-11-01 00:00:00");
        assert_eq!(recs[0][2], "受信");
        assert_eq!(recs[0][4], "'@事業所");
        assert_eq!(recs[0][5], "'-2.csv");
        assert_eq!(recs[0][6], "1234");
        assert_eq!(recs[0][8], "2026-11-01 00:00:00");
        assert_eq!(recs[0][9], "'+r");
        assert_eq!(recs[1][2], "送信");
        assert_eq!(recs[1][1], "2026-11-30 00:00:00");
        assert_eq!(recs[1][8], "");
        for rec in &recs {
            assert!(
                rec.iter()
                    .all(|v| !v.starts_with(['=', '+', '-', '@', '\t', '\r']))
            );
        }
    }
}
