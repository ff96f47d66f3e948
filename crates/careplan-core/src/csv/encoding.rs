//! MS932 (Shift-JIS as Windows writes it) decoding and encoding with encoding_rs.
//!
//! encoding_rs's `SHIFT_JIS` is the WHATWG Shift_JIS, i.e. Windows-31J / CP932 / MS932 with
//! the NEC and IBM extensions.

use encoding_rs::{DecoderResult, EncoderResult, SHIFT_JIS};

use crate::finding::Finding;

/// How a file's bytes are turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// MS932 (the standard's encoding).
    Ms932,
    /// UTF-8 (wrong for the standard, but shown readably).
    Utf8,
}

/// What the first bytes of a file say about its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sniffed<'a> {
    /// The bytes to read (without a UTF-8 BOM).
    pub body: &'a [u8],
    /// How to read them.
    pub encoding: Encoding,
    /// Findings about the encoding (empty file, UTF-8, BOM).
    pub findings: Vec<Finding>,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decide how to read a file: MS932, or UTF-8 (with an error finding) when it has a UTF-8
/// BOM or is valid UTF-8 holding Japanese text.
pub(crate) fn sniff(bytes: &[u8]) -> Sniffed<'_> {
    let mut findings = Vec::new();
    if bytes.is_empty() {
        findings.push(empty_finding());
        return Sniffed {
            body: bytes,
            encoding: Encoding::Ms932,
            findings,
        };
    }
    if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        findings.push(Finding::error(
            "E_CSV_UTF8_BOM",
            "このファイルはUTF-8（先頭にBOM付き）で保存されています。標準仕様の文字コードはShift-JIS（MS932）です。介護ソフトでShift_JIS（MS932）を選んで出力し直してください（表計算ソフトで保存した場合は「CSV UTF-8」ではなく「CSV（コンマ区切り）」を選んでください）。",
        ));
        return Sniffed {
            body: rest,
            encoding: Encoding::Utf8,
            findings,
        };
    }
    if looks_like_utf8(bytes) {
        findings.push(Finding::error(
            "E_CSV_UTF8",
            "このファイルはUTF-8で保存されています。介護ソフトでShift_JIS（MS932）を選んで出力し直してください。標準仕様の文字コードはShift-JIS（MS932）で、UTF-8のままでは送信先で文字化けします。",
        ));
        return Sniffed {
            body: bytes,
            encoding: Encoding::Utf8,
            findings,
        };
    }
    Sniffed {
        body: bytes,
        encoding: Encoding::Ms932,
        findings,
    }
}

/// Valid UTF-8 with multi-byte characters that is not plain MS932. UTF-8 Japanese text
/// always has 3-byte characters (kana, kanji, full-width forms), which MS932 text never
/// forms across a whole file; valid UTF-8 with only 2-byte characters is taken as UTF-8
/// only when it is not valid MS932 (MS932 half-width kana pairs such as 「ﾃｱ」 are valid
/// 2-byte UTF-8 by chance). Fails fast on MS932 input (its lead bytes 0x81–0x9F are UTF-8
/// continuation bytes).
fn looks_like_utf8(bytes: &[u8]) -> bool {
    if bytes.is_ascii() {
        return false;
    }
    let Ok(s) = std::str::from_utf8(bytes) else {
        return false;
    };
    s.chars().any(|c| u32::from(c) >= 0x800)
        || SHIFT_JIS
            .decode_without_bom_handling_and_without_replacement(bytes)
            .is_none()
}

fn empty_finding() -> Finding {
    Finding::error(
        "E_CSV_EMPTY",
        "ファイルが空です（データがありません）。介護ソフトで出力し直してください。",
    )
}

/// 0-based offset of the first byte sequence that is not MS932.
fn first_bad_offset(bytes: &[u8]) -> Option<usize> {
    let mut decoder = SHIFT_JIS.new_decoder_without_bom_handling();
    let mut buf = [0u8; 8192];
    let mut pos = 0usize;
    loop {
        let rest = bytes.get(pos..)?;
        let (result, read, _) = decoder.decode_to_utf8_without_replacement(rest, &mut buf, true);
        pos += read;
        match result {
            DecoderResult::InputEmpty => return None,
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(bad, extra) => {
                return Some(pos.saturating_sub(usize::from(bad) + usize::from(extra)));
            }
        }
    }
}

/// Decode MS932 bytes strictly: the text, or the first problem (empty file, UTF-8 with or
/// without BOM, bytes that are not MS932) as an error [`Finding`].
pub fn decode_ms932(bytes: &[u8]) -> Result<String, Finding> {
    let sniffed = sniff(bytes);
    if let Some(f) = sniffed.findings.into_iter().next() {
        return Err(f);
    }
    match SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => {
            // 外字 (lead bytes 0xF0–0xF9) decode to the private use area U+E000–U+E757.
            if let Some((at, c)) = text
                .char_indices()
                .find(|(_, c)| ('\u{E000}'..='\u{E757}').contains(c))
            {
                let offset = SHIFT_JIS.encode(text.get(..at).unwrap_or_default()).0.len();
                return Err(Finding::error(
                    "E_CSV_GAIJI",
                    format!(
                        "先頭から{}バイト目の文字（U+{:04X}）は外字（Shift_JISの利用者定義領域）です。外字は標準仕様で使えません。標準の文字に置き換えてから出力し直してください。",
                        offset + 1,
                        u32::from(c)
                    ),
                ));
            }
            Ok(text.into_owned())
        }
        None => {
            let offset = first_bad_offset(bytes).unwrap_or(0);
            let byte = bytes.get(offset).copied().unwrap_or(0);
            Err(Finding::error(
                "E_CSV_NOT_MS932",
                format!(
                    "先頭から{}バイト目（0x{:02X}）がShift-JIS（MS932）の文字として読めません。ファイルが壊れているか、別の文字コードで保存されています。介護ソフトでShift-JIS（MS932）として出力し直してください。",
                    offset + 1,
                    byte
                ),
            ))
        }
    }
}

/// A character that Shift-JIS (MS932) cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EncodeError {
    /// The character.
    pub character: char,
    /// 1-based position of the character (in characters) in the encoded text, or in the
    /// field when `field` is set.
    pub position: usize,
    /// 1-based record number, when writing a CSV.
    pub record: Option<usize>,
    /// 1-based field number, when writing a CSV.
    pub field: Option<usize>,
    /// What is wrong and what to do, in Japanese.
    pub message: String,
}

impl EncodeError {
    fn new(character: char, position: usize, record: Option<usize>, field: Option<usize>) -> Self {
        let place = match (record, field) {
            (Some(r), Some(f)) => format!("{r}行目 {f}項目の{position}文字目"),
            _ => format!("{position}文字目"),
        };
        let shown = if character.is_control() {
            String::from("制御文字")
        } else {
            format!("「{character}」")
        };
        let message = format!(
            "{place}の{shown}(U+{:04X}) は Shift-JIS(MS932) で表せません。外字・絵文字・一部の異体字は使えないため、MS932で表せる文字（例: 「𠮷」→「吉」）に置き換えてください。",
            u32::from(character)
        );
        Self {
            character,
            position,
            record,
            field,
            message,
        }
    }

    /// This error as an error [`Finding`] (code `E_CSV_UNMAPPABLE`).
    pub fn to_finding(&self) -> Finding {
        let mut f = Finding::error("E_CSV_UNMAPPABLE", self.message.clone());
        f.record = self.record;
        f.field = self.field;
        f
    }
}

/// Encode text as MS932, refusing any character MS932 cannot represent (encoding_rs would
/// otherwise write an HTML numeric character reference such as `&#134071;`).
pub fn encode_ms932(text: &str) -> Result<Vec<u8>, EncodeError> {
    let mut encoder = SHIFT_JIS.new_encoder();
    let cap = encoder
        .max_buffer_length_from_utf8_without_replacement(text.len())
        .unwrap_or(text.len().saturating_mul(2));
    let mut out = Vec::with_capacity(cap);
    let mut pos = 0usize;
    loop {
        let rest = text.get(pos..).unwrap_or_default();
        let (result, read) =
            encoder.encode_from_utf8_to_vec_without_replacement(rest, &mut out, true);
        pos += read;
        match result {
            EncoderResult::InputEmpty => return Ok(out),
            EncoderResult::OutputFull => out.reserve(rest.len().saturating_mul(2) + 16),
            EncoderResult::Unmappable(c) => {
                let before = text.get(..pos).unwrap_or_default();
                let position = before.chars().count();
                return Err(EncodeError::new(c, position, None, None));
            }
        }
    }
}

/// [`encode_ms932`] for one field of a record, with the error naming record and field.
pub(crate) fn unmappable_in_field(
    err: &EncodeError,
    field_text: &str,
    record: usize,
    field: usize,
) -> EncodeError {
    let position = field_text
        .chars()
        .position(|c| c == err.character)
        .map_or(err.position, |p| p + 1);
    EncodeError::new(err.character, position, Some(record), Some(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_kanji_and_kana() {
        let s = "山田　太郎,ﾔﾏﾀﾞ ﾀﾛｳ,①髙﨑～";
        let b = encode_ms932(s).unwrap();
        assert_eq!(decode_ms932(&b).unwrap(), s);
    }

    #[test]
    fn refuses_and_names_the_character() {
        let e = encode_ms932("吉田と𠮷田").unwrap_err();
        assert_eq!(e.character, '𠮷');
        assert_eq!(e.position, 4);
        assert!(
            e.message
                .contains("「𠮷」(U+20BB7) は Shift-JIS(MS932) で表せません")
        );
        let e = encode_ms932("ok😀").unwrap_err();
        assert_eq!(e.position, 3);
    }

    #[test]
    fn detects_bad_bytes() {
        let mut b = encode_ms932("202407,あいう\r\n").unwrap();
        b.push(0x82);
        b.push(0x20); // lead byte followed by a byte that is not a trail byte
        let e = decode_ms932(&b).unwrap_err();
        assert_eq!(e.code, "E_CSV_NOT_MS932");
        assert!(
            e.message
                .contains(&format!("先頭から{}バイト目（0x82）", b.len() - 1))
        );
    }

    #[test]
    fn decode_refuses_gaiji() {
        let mut b = encode_ms932("202407,あ").unwrap();
        b.extend([0xF0, 0x40]);
        let e = decode_ms932(&b).unwrap_err();
        assert_eq!(e.code, "E_CSV_GAIJI");
        assert!(
            e.message
                .contains(&format!("先頭から{}バイト目", b.len() - 1))
        );
    }

    #[test]
    fn detects_utf8() {
        assert_eq!(
            decode_ms932("202407,あ".as_bytes()).unwrap_err().code,
            "E_CSV_UTF8"
        );
        assert_eq!(
            decode_ms932(b"\xEF\xBB\xBF202407").unwrap_err().code,
            "E_CSV_UTF8_BOM"
        );
        assert_eq!(decode_ms932(b"").unwrap_err().code, "E_CSV_EMPTY");
        assert_eq!(decode_ms932(b"202407,1").unwrap(), "202407,1");
    }
}
