//! The ledger (送受信記録) CSV export for audits (運営指導).
//!
//! Format decision: **UTF-8 with BOM, CRLF line ends**, one row per file, times in JST
//! (`YYYY-MM-DD HH:MM:SS`, +09:00). UTF-8 with BOM opens correctly in Excel on Japanese
//! Windows and, unlike MS932, cannot lose a character of an office name or a file name.
//! Fields are quoted when they hold a comma, a quote or a line break (RFC 4180).

use std::path::Path;

use time::{OffsetDateTime, UtcOffset};

use crate::error::ClientError;
use crate::store::LedgerEntry;

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

fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
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
                    e.direction.label().to_owned(),
                    e.office.clone(),
                    e.counterpart.clone(),
                    e.counterpart_name.clone().unwrap_or_default(),
                    e.transmission_id.clone(),
                    e.message.clone(),
                    f.name.clone(),
                    f.size.to_string(),
                    f.sha256.clone(),
                    f.saved_as
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    e.receipt.clone(),
                    e.terminal.clone(),
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
}
