//! One-click repair of the mechanical problems of a file (issue 15): problems of how a care
//! software wrote the file, never of its content.
//!
//! Repaired, and nothing else:
//! - text in UTF-8 instead of Shift-JIS (MS932), when every character exists in MS932
//!   (a character that MS932 reads back as another one, such as 「−」 U+2212, is refused);
//! - a UTF-8 BOM at the start;
//! - record ends written as LF or a lone CR (→ CRLF); line breaks inside quoted free text
//!   are values and stay as they are;
//! - a lower-case extension (`.csv` → `.CSV`, `.jpg` → `.JPG`);
//! - the start guide's `JP…` prefixes (`JP1KYO_…` → `UP1KYO_…`).
//!
//! The repaired file is read back and every field value is compared with the original's
//! (a debug assertion, and a refusal in release builds should they ever differ). A file with
//! any other error is refused with the reason, in Japanese. See `docs/csv.md` (「機械的な
//! 修復」).

use encoding_rs::SHIFT_JIS;
use serde::Serialize;

use crate::csv::{EncodeError, decode_ms932, encode_ms932, parse_records, validate};
use crate::finding::{Finding, Findings};
use crate::name::parse_name;

/// One thing a repair changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Stable code: `R_NAME_JP_PREFIX`, `R_NAME_EXTENSION`, `R_BOM`, `R_UTF8`, `R_LINE_ENDS`.
    pub code: &'static str,
    /// What was changed, in Japanese.
    pub message: String,
}

/// A repaired file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The corrected file name (the original name when it needed nothing).
    pub name: String,
    /// The corrected bytes (the original bytes when they needed nothing).
    pub bytes: Vec<u8>,
    /// What was changed, in order; empty when the file needed nothing.
    pub changes: Vec<Change>,
    /// Warnings the repaired file still has (not errors: those refuse the repair).
    pub warnings: Vec<Finding>,
}

impl Repaired {
    /// True when nothing had to be changed.
    pub fn is_unchanged(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Why a file was not repaired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// Stable code: `E_REPAIR_NOT_DATA`, `E_REPAIR_UNMAPPABLE`, `E_REPAIR_CHANGES_VALUE`,
    /// `E_REPAIR_ENCODING`, `E_REPAIR_OTHER_ERRORS`, `E_REPAIR_NOT_JPEG`, `E_REPAIR_EMPTY`.
    pub code: &'static str,
    /// What is wrong and what to do, in Japanese.
    pub message: String,
    /// The errors the file would still have (for `E_REPAIR_OTHER_ERRORS`).
    pub findings: Vec<Finding>,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            findings: Vec::new(),
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What to say after a refusal: the user cannot fix this here.
const REEXPORT: &str = "自動では直せません。介護ソフトで出力し直してください。";

/// Repair the file `name` with content `bytes` (see the module documentation).
///
/// Returns the corrected name and bytes and what changed, or why nothing may be repaired.
/// A file that needs nothing comes back unchanged with no changes.
pub fn repair(name: &str, bytes: &[u8]) -> Result<Repaired, Refusal> {
    let mut changes = Vec::new();
    let new_name = repair_name(name, &mut changes)?;
    let parsed = parse_name(&new_name);
    let Some(kind) = parsed.kind else {
        return Err(not_data(name));
    };
    if parsed.has_errors() {
        let errors: Vec<Finding> = parsed.findings.errors().into_iter().cloned().collect();
        return Err(other_errors(errors));
    }
    let name_warnings = parsed.findings.warnings().into_iter().cloned();
    if kind.is_image() {
        if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Err(Refusal::new(
                "E_REPAIR_NOT_JPEG",
                format!("家族構成画像の中身がJPEG形式ではありません。{REEXPORT}"),
            ));
        }
        return Ok(Repaired {
            name: new_name,
            bytes: bytes.to_vec(),
            changes,
            warnings: name_warnings.collect(),
        });
    }
    if bytes.is_empty() {
        return Err(Refusal::new(
            "E_REPAIR_EMPTY",
            format!("ファイルが空です（データがありません）。{REEXPORT}"),
        ));
    }

    let (body, had_bom) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    if had_bom {
        changes.push(Change {
            code: "R_BOM",
            message: "ファイル先頭のBOM（UTF-8の印）を取り除きました。".to_owned(),
        });
    }
    let (original_text, ms932) = to_ms932(body, had_bom, &mut changes)?;
    let (fixed, lf, cr) = crlf_record_ends(&ms932);
    if lf + cr > 0 {
        let mut parts = Vec::new();
        if lf > 0 {
            parts.push(format!("LF {lf}か所"));
        }
        if cr > 0 {
            parts.push(format!("CRのみ {cr}か所"));
        }
        changes.push(Change {
            code: "R_LINE_ENDS",
            message: format!(
                "行の区切りをCRLFに直しました（{}）。項目の中の改行はそのままです。",
                parts.join("、")
            ),
        });
    }

    // The proof: every field value of the repaired file equals the original's. Hostile
    // bytes (a stray quote, say) can make the two readings differ: then nothing is
    // repaired.
    let same = same_values(&original_text, &fixed);
    if !same {
        return Err(Refusal::new(
            "E_REPAIR_CHANGES_VALUE",
            format!("修復すると項目の値が変わってしまうため、修復しませんでした。{REEXPORT}"),
        ));
    }

    let report = validate(kind, Some(&parsed), &fixed);
    if report.has_errors() {
        let errors: Vec<Finding> = report.errors().into_iter().cloned().collect();
        return Err(other_errors(errors));
    }
    let mut warnings: Vec<Finding> = name_warnings.collect();
    warnings.extend(report.warnings().into_iter().cloned());
    Ok(Repaired {
        name: new_name,
        bytes: fixed,
        changes,
        warnings,
    })
}

fn not_data(name: &str) -> Refusal {
    let shown: String = name.chars().filter(|c| !c.is_control()).take(80).collect();
    Refusal::new(
        "E_REPAIR_NOT_DATA",
        format!(
            "「{shown}」は標準仕様のデータファイルの名前ではないため、修復の対象外です（添付ファイル（PDF等）はそのまま送れます）。"
        ),
    )
}

fn other_errors(errors: Vec<Finding>) -> Refusal {
    let first = errors.first().map(ToString::to_string).unwrap_or_default();
    let more = if errors.len() > 1 {
        format!("（ほかに{}件）", errors.len() - 1)
    } else {
        String::new()
    };
    Refusal {
        code: "E_REPAIR_OTHER_ERRORS",
        message: format!(
            "文字コード・BOM・改行・拡張子・JPの接頭辞のほかにも問題があるため、修復しませんでした（値を変える修正は自動では行いません）: {first}{more}"
        ),
        findings: errors,
    }
}

/// The corrected name: `JP…` prefix → `UP…`, lower-case extension → upper case.
fn repair_name(name: &str, changes: &mut Vec<Change>) -> Result<String, Refusal> {
    let parsed = parse_name(name);
    let Some(kind) = parsed.kind else {
        return Err(not_data(name));
    };
    let mut out = name.to_owned();
    if parsed.findings.iter().any(|f| f.code == "W_NAME_JP_PREFIX")
        && let Some(rest) = name.get(2..)
    {
        // The head token (`JP1KYO`, `jphosoku`) becomes the standard prefix in capitals.
        let head_len = rest.find('_').unwrap_or(rest.len());
        let old: String = name.get(..head_len + 2).unwrap_or(name).to_owned();
        out = format!(
            "UP{}{}",
            rest.get(..head_len)
                .unwrap_or_default()
                .to_ascii_uppercase(),
            rest.get(head_len..).unwrap_or_default()
        );
        changes.push(Change {
            code: "R_NAME_JP_PREFIX",
            message: format!(
                "ファイル名の先頭「{old}」を標準仕様の「{}」に直しました。",
                kind.prefix()
            ),
        });
    }
    if let Some((stem, ext)) = out.rsplit_once('.') {
        let upper = ext.to_ascii_uppercase();
        let known = if kind.is_image() {
            upper == "JPG" || upper == "JPEG"
        } else {
            upper == "CSV"
        };
        if known && upper != ext {
            changes.push(Change {
                code: "R_NAME_EXTENSION",
                message: format!("拡張子「.{ext}」を大文字の「.{upper}」に直しました。"),
            });
            out = format!("{stem}.{upper}");
        }
    }
    Ok(out)
}

/// The body as text (for the comparison) and as MS932 bytes: MS932 as it is, or UTF-8
/// converted when every character has an MS932 form that reads back as the same character.
fn to_ms932(
    body: &[u8],
    had_bom: bool,
    changes: &mut Vec<Change>,
) -> Result<(String, Vec<u8>), Refusal> {
    let utf8 = std::str::from_utf8(body).ok();
    // The validator's rule: valid UTF-8 with a character of 3 bytes (kana, kanji) is UTF-8;
    // after a UTF-8 BOM any valid UTF-8 is.
    let is_utf8 = utf8.is_some_and(|s| had_bom || s.chars().any(|c| u32::from(c) >= 0x800));
    if let (true, Some(text)) = (is_utf8, utf8) {
        let encoded = encode_ms932(text).map_err(|e| unmappable(text, &e))?;
        let back = SHIFT_JIS
            .decode_without_bom_handling_and_without_replacement(&encoded)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default();
        if back != text {
            return Err(changed_character(text, &back));
        }
        if !text.is_ascii() {
            changes.push(Change {
                code: "R_UTF8",
                message: "文字コードをUTF-8からShift-JIS（MS932）に変換しました（文字はすべてMS932にあるものです）。".to_owned(),
            });
        }
        return Ok((text.to_owned(), encoded));
    }
    // MS932 (after a BOM too: a BOM in front of MS932 text is only removed).
    match decode_ms932(body) {
        Ok(text) => Ok((text, body.to_vec())),
        Err(f) => Err(Refusal::new(
            "E_REPAIR_ENCODING",
            format!(
                "Shift-JIS（MS932）としてもUTF-8としても読めない部分があります（文字コードが混ざっているか、ファイルが壊れています）。{REEXPORT}（{}）",
                f.message
            ),
        )),
    }
}

/// Where character `c` first occurs: `3行目 22項目` (record and field, as the validator
/// numbers them), or the character position in the text.
fn place_of(text: &str, c: char, position: usize) -> String {
    parse_records(text)
        .iter()
        .find_map(|r| {
            r.fields()
                .position(|f| f.contains(c))
                .map(|i| format!("{}行目 {}項目", r.number, i + 1))
        })
        .unwrap_or_else(|| format!("先頭から{position}文字目"))
}

fn shown_char(c: char) -> String {
    if c.is_control() {
        format!("制御文字(U+{:04X})", u32::from(c))
    } else {
        format!("「{c}」(U+{:04X})", u32::from(c))
    }
}

fn unmappable(text: &str, e: &EncodeError) -> Refusal {
    let place = place_of(text, e.character, e.position);
    Refusal::new(
        "E_REPAIR_UNMAPPABLE",
        format!(
            "このファイルはUTF-8で保存されていて、{place}の{}がShift-JIS（MS932）にない文字のため、Shift-JISに変換できません。介護ソフトでその文字をMS932にある文字（例: 「𠮷」→「吉」）に直して、Shift-JIS（MS932）で出力し直してください。",
            shown_char(e.character)
        ),
    )
}

fn changed_character(text: &str, back: &str) -> Refusal {
    let found = text
        .chars()
        .zip(back.chars())
        .enumerate()
        .find(|(_, (a, b))| a != b);
    let message = match found {
        Some((i, (a, b))) => {
            let place = place_of(text, a, i + 1);
            format!(
                "このファイルはUTF-8で保存されていて、{place}の{}はShift-JIS（MS932）にない文字です（MS932では{}として読まれ、値が変わります）。介護ソフトでその文字を直して、Shift-JIS（MS932）で出力し直してください。",
                shown_char(a),
                shown_char(b)
            )
        }
        None => format!("Shift-JIS（MS932）に変換すると文字が変わってしまいます。{REEXPORT}"),
    };
    Refusal::new("E_REPAIR_UNMAPPABLE", message)
}

/// Rewrite record ends (outside quoted fields) that are LF or a lone CR as CRLF; returns
/// the bytes and how many LF and lone CR were rewritten. Works on MS932 (and ASCII) bytes:
/// an MS932 trail byte is never `"`, `,`, CR or LF. Follows the reader: a `"` opens a quoted
/// field only at the start of a field; `""` inside is a quote; a quote that never closes is
/// read literally; text after a closing quote runs to the next `,` or line end.
fn crlf_record_ends(b: &[u8]) -> (Vec<u8>, usize, usize) {
    let n = b.len();
    let mut out = Vec::with_capacity(n + n / 64 + 2);
    let (mut lf, mut cr) = (0usize, 0usize);
    let mut i = 0usize;
    // The index of the first byte not yet copied to `out`.
    let mut copied = 0usize;
    let mut line_end = |i: usize, out: &mut Vec<u8>, copied: &mut usize| -> usize {
        out.extend_from_slice(&b[*copied..i]);
        let next = match (b[i], b.get(i + 1)) {
            (b'\r', Some(b'\n')) => i + 2,
            (b'\r', _) => {
                cr += 1;
                i + 1
            }
            _ => {
                lf += 1;
                i + 1
            }
        };
        out.extend_from_slice(b"\r\n");
        *copied = next;
        next
    };
    let stop = |c: u8| matches!(c, b',' | b'\r' | b'\n');
    'records: while i < n {
        if matches!(b[i], b'\r' | b'\n') {
            i = line_end(i, &mut out, &mut copied);
            continue;
        }
        loop {
            // One field.
            if b[i] == b'"' {
                let mut q = i + 1;
                let close = loop {
                    match b.get(q..).and_then(|r| memchr::memchr(b'"', r)) {
                        Some(k) if b.get(q + k + 1) == Some(&b'"') => q += k + 2,
                        Some(k) => break Some(q + k),
                        None => break None,
                    }
                };
                i = close.map_or(i + 1, |c| c + 1);
            }
            while i < n && !stop(b[i]) {
                i += 1;
            }
            if i >= n {
                break 'records;
            }
            if b[i] == b',' {
                i += 1;
                if i >= n {
                    break 'records;
                }
                continue;
            }
            i = line_end(i, &mut out, &mut copied);
            continue 'records;
        }
    }
    out.extend_from_slice(&b[copied.min(n)..]);
    (out, lf, cr)
}

/// Whether the repaired MS932 file holds exactly the records and field values of the
/// original text.
fn same_values(original: &str, repaired: &[u8]) -> bool {
    let Ok(text) = decode_ms932(repaired) else {
        return false;
    };
    let a = parse_records(original);
    let b = parse_records(&text);
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.fields().eq(y.fields()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::write_csv;
    use crate::demo;
    use crate::kind::FileKind;

    /// A clean 1表 (free text with CRLF, quotes and commas) and its name.
    fn clean_kyo1() -> (String, Vec<u8>, Vec<Vec<String>>) {
        let offices = demo::demo_offices(5, 3);
        let users = demo::demo_users(5, 2);
        let set = demo::careplan_set(
            &offices[0],
            &offices[1],
            "20250401",
            "20250401090000",
            &users,
        );
        let f = set
            .into_iter()
            .find(|f| f.name.starts_with("UP1KYO"))
            .expect("1表");
        let report = validate(FileKind::Up1Kyo, None, &f.bytes);
        assert!(!report.has_errors(), "{:?}", report.findings);
        let records = report.records.iter().map(|r| r.to_vec()).collect();
        (f.name, f.bytes, records)
    }

    /// The records written one by one and joined with `end` (the record ends only).
    fn with_record_ends(kind: FileKind, records: &[Vec<String>], end: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            let mut line = write_csv(kind, "202407", std::slice::from_ref(r)).expect("ms932");
            line.truncate(line.len() - 2);
            out.extend_from_slice(&line);
            out.extend_from_slice(end.as_bytes());
        }
        out
    }

    fn utf8_of(ms932: &[u8]) -> Vec<u8> {
        decode_ms932(ms932).expect("ms932").into_bytes()
    }

    fn codes(r: &Repaired) -> Vec<&str> {
        r.changes.iter().map(|c| c.code).collect()
    }

    #[test]
    fn a_clean_file_comes_back_unchanged() {
        let (name, bytes, _) = clean_kyo1();
        let r = repair(&name, &bytes).expect("clean");
        assert!(r.is_unchanged(), "{:?}", r.changes);
        assert_eq!(r.name, name);
        assert_eq!(r.bytes, bytes);
    }

    #[test]
    fn utf8_with_bom_and_lf_and_a_start_guide_name_are_all_repaired() {
        let (name, clean, records) = clean_kyo1();
        let mut damaged = UTF8_BOM.to_vec();
        damaged.extend(utf8_of(&with_record_ends(FileKind::Up1Kyo, &records, "\n")));
        let bad_name = format!("JP{}", name.trim_start_matches("UP")).replace(".CSV", ".csv");
        // The damaged file is refused by the validator today.
        assert!(validate(FileKind::Up1Kyo, None, &damaged).has_errors());
        let r = repair(&bad_name, &damaged).expect("repairable");
        assert_eq!(r.name, name);
        assert_eq!(
            r.bytes, clean,
            "the repaired file is byte for byte the clean one"
        );
        assert_eq!(
            codes(&r),
            vec![
                "R_NAME_JP_PREFIX",
                "R_NAME_EXTENSION",
                "R_BOM",
                "R_UTF8",
                "R_LINE_ENDS"
            ]
        );
        assert!(r.changes[0].message.contains("「JP1KYO」"));
        assert!(
            r.changes[4].message.contains("LF 2か所"),
            "{}",
            r.changes[4].message
        );
        // Line breaks inside the free text are values: still CRLF, untouched.
        let text = decode_ms932(&r.bytes).expect("ms932");
        assert!(text.contains("続けたい。\r\n家族"));
        // Every value is the same as in the original records.
        let back: Vec<Vec<String>> = parse_records(&text).iter().map(|r| r.to_vec()).collect();
        assert_eq!(back, records);
    }

    #[test]
    fn lf_inside_quoted_text_is_a_value_and_stays() {
        let (name, _, mut records) = clean_kyo1();
        records[0][21] = "一行目\n二行目".to_owned();
        let lf = with_record_ends(FileKind::Up1Kyo, &records, "\r");
        let r = repair(&name, &lf).expect("repairable");
        assert_eq!(codes(&r), vec!["R_LINE_ENDS"]);
        assert!(r.changes[0].message.contains("CRのみ 2か所"));
        let text = decode_ms932(&r.bytes).expect("ms932");
        let back = parse_records(&text);
        assert_eq!(back[0].field(22), Some("一行目\n二行目"));
        assert!(text.ends_with("\r\n"));
    }

    #[test]
    fn characters_outside_ms932_are_refused_with_their_place() {
        let (name, clean, _) = clean_kyo1();
        let text = decode_ms932(&clean).expect("ms932");
        let with = text.replacen("特になし", "特になし𠮷", 1);
        let e = repair(&name, with.as_bytes()).expect_err("refused");
        assert_eq!(e.code, "E_REPAIR_UNMAPPABLE");
        assert!(e.message.contains("「𠮷」(U+20BB7)"), "{}", e.message);
        assert!(e.message.contains("1行目 23項目"), "{}", e.message);
        // U+2212 MINUS SIGN has no MS932 form of its own: MS932 would read it back as U+FF0D.
        let minus = text.replacen("特になし", "血圧−低め", 1);
        let e = repair(&name, minus.as_bytes()).expect_err("refused");
        assert_eq!(e.code, "E_REPAIR_UNMAPPABLE");
        assert!(e.message.contains("U+2212"), "{}", e.message);
    }

    #[test]
    fn other_errors_refuse_the_repair() {
        let (name, _, mut records) = clean_kyo1();
        records[0][13] = "20251340".to_owned(); // 居宅サービス計画作成（変更）日: not a date
        let bytes = with_record_ends(FileKind::Up1Kyo, &records, "\n");
        let e = repair(&name, &bytes).expect_err("refused");
        assert_eq!(e.code, "E_REPAIR_OTHER_ERRORS");
        assert!(!e.findings.is_empty());
        assert!(e.message.contains("値を変える修正は自動では行いません"));
        // A name error that is not mechanical.
        let e = repair(&name.replace("_20250401090000", "_20251301090000"), &bytes)
            .expect_err("refused");
        assert_eq!(e.code, "E_REPAIR_OTHER_ERRORS");
        // Not a data file at all.
        assert_eq!(
            repair("計画書.pdf", b"%PDF").expect_err("pdf").code,
            "E_REPAIR_NOT_DATA"
        );
        // Bytes that are neither MS932 nor UTF-8.
        let mut mixed = with_record_ends(FileKind::Up1Kyo, &records, "\r\n");
        mixed.extend_from_slice(&[0x82, 0x20]);
        assert_eq!(
            repair(&name, &mixed).expect_err("mixed").code,
            "E_REPAIR_ENCODING"
        );
        assert_eq!(
            repair(&name, b"").expect_err("empty").code,
            "E_REPAIR_EMPTY"
        );
    }

    #[test]
    fn record_end_scanner_follows_the_reader() {
        let cases: [(&str, &str, usize, usize); 6] = [
            ("a,b\nc,d\n", "a,b\r\nc,d\r\n", 2, 0),
            ("a,\"x\ny\"\nb\n", "a,\"x\ny\"\r\nb\r\n", 2, 0),
            ("a,\"x\"\"\ny\"\rb", "a,\"x\"\"\ny\"\r\nb", 0, 1),
            ("a\r\n\nb", "a\r\n\r\nb", 1, 0),
            // An unterminated quote is literal: the LF after it ends the record.
            ("a,\"x\nb\n", "a,\"x\r\nb\r\n", 2, 0),
            // Text after a closing quote runs to the line end.
            ("\"a\"b\"c\nd", "\"a\"b\"c\r\nd", 1, 0),
        ];
        for (input, want, lf, cr) in cases {
            let (got, l, c) = crlf_record_ends(input.as_bytes());
            assert_eq!(String::from_utf8_lossy(&got), want, "{input:?}");
            assert_eq!((l, c), (lf, cr), "{input:?}");
            assert!(same_values(input, &got), "{input:?}");
        }
    }

    #[test]
    fn images_get_only_their_name_repaired() {
        let name = "JPKIHON_IMAGE_0300000100_43_0300000005_11_20191025200201_0001.jpg";
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10];
        let r = repair(name, &jpeg).expect("image");
        assert_eq!(
            r.name,
            "UPKIHON_IMAGE_0300000100_43_0300000005_11_20191025200201_0001.JPG"
        );
        assert_eq!(r.bytes, jpeg);
        assert_eq!(
            repair(name, b"not a jpeg").expect_err("not jpeg").code,
            "E_REPAIR_NOT_JPEG"
        );
    }

    #[test]
    fn a_lower_case_start_guide_prefix_becomes_the_standard_one() {
        let mut changes = Vec::new();
        let n = repair_name(
            "jp1kyo_0300000100_43_0300000005_11_20191025200201.csv",
            &mut changes,
        )
        .expect("name");
        assert_eq!(n, "UP1KYO_0300000100_43_0300000005_11_20191025200201.CSV");
        assert!(
            changes[0].message.contains("「jp1kyo」"),
            "{}",
            changes[0].message
        );
    }

    /// Pieces of hostile input: delimiters, quotes, line ends, MS932 and UTF-8 kana, a BOM,
    /// a lone MS932 lead byte, a character outside MS932, NUL.
    const PIECES: [&[u8]; 13] = [
        b"\"",
        b",",
        b"\r",
        b"\n",
        b"\r\n",
        b"202407",
        b"a",
        b"\x82\xA0",
        b"\xE3\x81\x82",
        b"\xEF\xBB\xBF",
        b"\x82",
        b"\xF0\xA0\xAE\xB7",
        b"\x00",
    ];

    fn free_text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9 ,\"\r\nあいう漢字カナｶﾅ①～、。「」]{0,24}")
            .expect("regex")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// A file our writer made from valid records needs nothing: same name, same bytes.
        #[test]
        fn clean_files_are_left_alone(a in free_text(), b in free_text(), c in free_text()) {
            let (name, _, mut records) = clean_kyo1();
            records[0][21] = a;
            records[1][22] = b;
            records[1][23] = c;
            let bytes = write_csv(FileKind::Up1Kyo, "202407", &records).expect("ms932");
            let r = repair(&name, &bytes).expect("clean");
            proptest::prop_assert!(r.is_unchanged(), "{:?}", r.changes);
            proptest::prop_assert_eq!(r.bytes, bytes);
            proptest::prop_assert_eq!(r.name, name);
        }

        /// Damage of every mechanical kind is undone exactly, and a second repair changes
        /// nothing (repair is idempotent).
        #[test]
        fn repair_restores_and_is_idempotent(
            a in free_text(),
            utf8 in proptest::bool::ANY,
            bom in proptest::bool::ANY,
            end in proptest::sample::select(vec!["\r\n", "\n", "\r"]),
            jp in proptest::bool::ANY,
            lower in proptest::bool::ANY,
        ) {
            let (name, _, mut records) = clean_kyo1();
            records[0][23] = a;
            let clean = write_csv(FileKind::Up1Kyo, "202407", &records).expect("ms932");
            let mut damaged = with_record_ends(FileKind::Up1Kyo, &records, end);
            if utf8 {
                damaged = utf8_of(&damaged);
            }
            if bom {
                damaged.splice(0..0, UTF8_BOM.iter().copied());
            }
            let mut bad_name = name.clone();
            if jp {
                bad_name = format!("JP{}", &bad_name[2..]);
            }
            if lower {
                bad_name = bad_name.replace(".CSV", ".csv");
            }
            let r = repair(&bad_name, &damaged).expect("repairable");
            proptest::prop_assert_eq!(&r.bytes, &clean);
            proptest::prop_assert_eq!(&r.name, &name);
            let again = repair(&r.name, &r.bytes).expect("repaired file");
            proptest::prop_assert!(again.is_unchanged(), "{:?}", again.changes);
            proptest::prop_assert_eq!(again.bytes, r.bytes);
        }

        /// Any bytes: a repair or a refusal, never a panic (the value check's debug
        /// assertion included), and whatever is repaired is repaired for good.
        #[test]
        fn hostile_bytes_never_panic(
            parts in proptest::collection::vec(
                proptest::sample::select(PIECES.to_vec()),
                0..40,
            ),
        ) {
            let bytes: Vec<u8> = parts.concat();
            let name = "UPPLAN_202504_0300000100_43_0300000005_11_20250401093000.CSV";
            if let Ok(r) = repair(name, &bytes) {
                let again = repair(&r.name, &r.bytes).expect("a repaired file stays repairable");
                proptest::prop_assert!(again.is_unchanged(), "{:?}", again.changes);
            }
        }
    }
}
