//! The ledger (送受信記録) CSV export for audits (運営指導).
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
}
