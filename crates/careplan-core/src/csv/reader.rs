//! A hand-written RFC 4180 style tokenizer over the raw bytes.
//!
//! Quoted fields may hold commas, CR/LF and `""`; records end with CRLF, LF or a lone CR;
//! the last record needs no line end; blank lines are skipped. It never panics: slices are
//! taken with `get`, and text is only built from ASCII bytes and encoding_rs output.
//!
//! Speed: tokenizing the raw MS932 bytes is exact (the trail bytes of double-byte characters,
//! 0x40–0xFC, never equal `"` `,` CR or LF), so ASCII fields are copied without decoding and
//! only fields holding other bytes go through encoding_rs. All records of a file share one
//! text buffer and one offset table (two allocations per file, not one per field).

use std::sync::Arc;

use crate::finding::Finding;

/// One record (data row) of a CSV file.
///
/// Read the fields with [`Record::fields`], [`Record::field`] (1-based, like the layouts)
/// or [`Record::get`] (0-based). Records of one file share their text buffer, so cloning
/// a record is cheap.
#[derive(Clone, Default)]
pub struct Record {
    /// 1-based record number: the n-th non-blank row of the file, header rows included.
    pub number: usize,
    text: Arc<String>,
    ends: Arc<Vec<u32>>,
    /// Offset in `text` where the first field starts.
    start: usize,
    /// Range of this record's field ends in `ends`.
    first: usize,
    count: usize,
}

impl Record {
    /// A record from its fields.
    pub fn new<S: AsRef<str>>(number: usize, fields: &[S]) -> Self {
        let mut text = String::new();
        let mut ends = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(f.as_ref());
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        Self {
            number,
            text: Arc::new(text),
            ends: Arc::new(ends),
            start: 0,
            first: 0,
            count: fields.len(),
        }
    }

    fn ends(&self) -> &[u32] {
        self.ends
            .get(self.first..self.first + self.count)
            .unwrap_or_default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the record has no field (never the case for a parsed record).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The field at 0-based `index`.
    pub fn get(&self, index: usize) -> Option<&str> {
        let ends = self.ends();
        let end = *ends.get(index)? as usize;
        let start = match index {
            0 => self.start,
            i => *ends.get(i - 1)? as usize + 1,
        };
        self.text.get(start..end)
    }

    /// The field with 1-based number `no` (as in the layouts: field 1 = CSVバージョン).
    pub fn field(&self, no: usize) -> Option<&str> {
        self.get(no.checked_sub(1)?)
    }

    /// The fields in order.
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            text: &self.text,
            ends: self.ends().iter(),
            start: self.start,
        }
    }

    /// The fields as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.fields().map(str::to_owned).collect()
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number && self.count == other.count && self.fields().eq(other.fields())
    }
}

impl Eq for Record {}

/// Iterator over the fields of a [`Record`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    text: &'a str,
    ends: std::slice::Iter<'a, u32>,
    start: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let end = *self.ends.next()? as usize;
        let s = self.text.get(self.start..end).unwrap_or_default();
        // Fields are separated by one byte in the shared text.
        self.start = end + 1;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ends.size_hint()
    }
}

impl ExactSizeIterator for Fields<'_> {}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("number", &self.number)
            .field("fields", &self.fields().collect::<Vec<_>>())
            .finish()
    }
}

/// Problems the tokenizer reports; they are turned into findings by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenIssue {
    /// A quoted field without its closing quote (record, field).
    Unterminated(usize, usize),
    /// Text after the closing quote of a field (record, field).
    AfterQuote(usize, usize),
    /// A `"` inside an unquoted field (record, field).
    BareQuote(usize, usize),
}

#[inline]
fn is_delim(b: u8) -> bool {
    matches!(b, b',' | b'\r' | b'\n')
}

/// How field bytes are turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// MS932 (the standard's encoding).
    Ms932,
    /// UTF-8 (wrong for the standard, but shown readably).
    Utf8,
}

/// Where the first byte that is not MS932 was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadByte {
    /// 0-based offset in the file.
    pub offset: usize,
    /// 1-based record.
    pub record: usize,
    /// 1-based field.
    pub field: usize,
}

/// Appends the UTF-8 text of `raw` (the bytes of a field, a part of one or a whole
/// record) to `out`.
///
/// ASCII is copied as is; anything else is decoded as MS932 (see [`super::ms932`]) or
/// checked as UTF-8. Bytes that cannot be read become U+FFFD and the first one is reported
/// through `bad` (`offset` = file offset of `raw`). Only valid UTF-8 is ever appended.
#[inline]
fn append(out: &mut Vec<u8>, raw: &[u8], enc: Encoding, offset: usize, bad: &mut Option<usize>) {
    if raw.is_ascii() {
        out.extend_from_slice(raw);
        return;
    }
    match enc {
        Encoding::Utf8 => out.extend_from_slice(String::from_utf8_lossy(raw).as_bytes()),
        Encoding::Ms932 => {
            if let Some(at) = super::ms932::decode_into(out, raw)
                && bad.is_none()
            {
                *bad = Some(offset + at);
            }
        }
    }
}

/// The largest input the tokenizer reads (1 GiB): its text always fits u32 offsets.
pub(crate) const MAX_INPUT: usize = 1 << 30;

#[inline]
fn offset32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Split raw file bytes into records and fields, decoding field by field, and report
/// quoting problems and the first byte that is not MS932.
pub(crate) fn tokenize(
    b: &[u8],
    enc: Encoding,
    mut issue: impl FnMut(TokenIssue),
    bad_byte: &mut Option<BadByte>,
) -> Vec<Record> {
    let n = b.len();
    let slice = |from: usize, to: usize| b.get(from..to).unwrap_or_default();
    // (number, start, first, count) of each record.
    let mut metas: Vec<(usize, usize, usize, usize)> = Vec::with_capacity(n / 128 + 1);
    let mut buf: Vec<u8> = Vec::with_capacity(n + n / 4);
    let mut ends: Vec<u32> = Vec::with_capacity(n / 6 + 1);
    // Offsets are u32: refuse (return nothing for) inputs whose text could exceed them.
    if n > MAX_INPUT {
        return Vec::new();
    }
    let mut i = 0usize;
    let mut number = 0usize;
    let mut bad: Option<usize> = None;
    // After an unterminated quote, no `"` remains in the input: re-read that field as plain.
    let mut quote_recovery_at: Option<usize> = None;
    while i < n {
        if b[i] == b'\n' || b[i] == b'\r' {
            i += 1;
            continue;
        }
        number += 1;
        let rec_start = buf.len();
        let rec_first = ends.len();
        // Fast path: a record without any quote is decoded in one go; its commas are the
        // separators, and the decoded text keeps them.
        let rest = b.get(i..).unwrap_or_default();
        let stop = memchr::memchr3(b'\n', b'\r', b'"', rest).unwrap_or(rest.len());
        if rest.get(stop) != Some(&b'"') {
            let raw = rest.get(..stop).unwrap_or_default();
            let had_bad = bad.is_some();
            append(&mut buf, raw, enc, i, &mut bad);
            for p in memchr::memchr_iter(b',', buf.get(rec_start..).unwrap_or_default()) {
                ends.push(offset32(rec_start + p));
            }
            ends.push(offset32(buf.len()));
            if !had_bad
                && let Some(offset) = bad
                && bad_byte.is_none()
            {
                let before = b.get(i..offset).unwrap_or_default();
                *bad_byte = Some(BadByte {
                    offset,
                    record: number,
                    field: memchr::memchr_iter(b',', before).count() + 1,
                });
            }
            i += stop;
            if b.get(i) == Some(&b'\r') {
                i += 1;
            }
            if b.get(i) == Some(&b'\n') {
                i += 1;
            }
            buf.push(b'\n');
            metas.push((number, rec_start, rec_first, ends.len() - rec_first));
            continue;
        }
        loop {
            let field_no = ends.len() - rec_first + 1;
            let before_separator = buf.len();
            if field_no > 1 {
                buf.push(b',');
            }
            let had_bad = bad.is_some();
            if i < n && b[i] == b'"' && quote_recovery_at != Some(i) {
                let open = i;
                i += 1;
                let mut seg = i;
                let mut closed = false;
                while let Some(k) = b
                    .get(i..)
                    .and_then(|rest| rest.iter().position(|&c| c == b'"'))
                {
                    let q = i + k;
                    if b.get(q + 1) == Some(&b'"') {
                        append(&mut buf, slice(seg, q + 1), enc, seg, &mut bad);
                        i = q + 2;
                        seg = i;
                    } else {
                        append(&mut buf, slice(seg, q), enc, seg, &mut bad);
                        i = q + 1;
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    issue(TokenIssue::Unterminated(number, field_no));
                    // Read the field again as an unquoted one, from its opening quote.
                    buf.truncate(before_separator);
                    quote_recovery_at = Some(open);
                    i = open;
                    continue;
                }
                let after = i;
                while i < n && !is_delim(b[i]) {
                    i += 1;
                }
                if i > after {
                    issue(TokenIssue::AfterQuote(number, field_no));
                    append(&mut buf, slice(after, i), enc, after, &mut bad);
                }
            } else {
                let start = i;
                let mut quote = false;
                while i < n {
                    let c = b[i];
                    if is_delim(c) {
                        break;
                    }
                    quote |= c == b'"';
                    i += 1;
                }
                if quote && quote_recovery_at != Some(start) {
                    issue(TokenIssue::BareQuote(number, field_no));
                }
                append(&mut buf, slice(start, i), enc, start, &mut bad);
            }
            if !had_bad
                && let Some(offset) = bad
                && bad_byte.is_none()
            {
                *bad_byte = Some(BadByte {
                    offset,
                    record: number,
                    field: field_no,
                });
            }
            ends.push(offset32(buf.len()));
            if i >= n {
                break;
            }
            match b[i] {
                b',' => {
                    i += 1;
                    if i >= n {
                        buf.push(b',');
                        ends.push(offset32(buf.len()));
                        break;
                    }
                }
                b'\r' => {
                    i += 1;
                    if i < n && b[i] == b'\n' {
                        i += 1;
                    }
                    break;
                }
                _ => {
                    i += 1;
                    break;
                }
            }
        }
        buf.push(b'\n');
        metas.push((number, rec_start, rec_first, ends.len() - rec_first));
    }
    // Only ASCII and decoder output were appended, so this is valid UTF-8.
    let text = Arc::new(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    });
    let ends = Arc::new(ends);
    metas
        .into_iter()
        .map(|(number, start, first, count)| Record {
            number,
            text: Arc::clone(&text),
            ends: Arc::clone(&ends),
            start,
            first,
            count,
        })
        .collect()
}

/// Split decoded CSV text into records (quoting problems are ignored; use
/// [`validate`](super::validate) for findings).
pub fn parse_records(text: &str) -> Vec<Record> {
    tokenize(text.as_bytes(), Encoding::Utf8, |_| {}, &mut None)
}

/// The finding for a tokenizer issue.
pub(crate) fn issue_finding(issue: TokenIssue) -> Finding {
    match issue {
        TokenIssue::Unterminated(r, f) => Finding::error(
            "E_CSV_QUOTE_UNTERMINATED",
            format!(
                "{r}行目 {f}項目: 「\"」で始まる項目が閉じられないままファイルが終わっています。フリーテキストは「\"」で囲み、中の「\"」は「\"\"」と2つ重ねて出力してください。この項目は囲みを無視して読み込みました。"
            ),
        )
        .at_record(r)
        .at_field(f),
        TokenIssue::AfterQuote(r, f) => Finding::warning(
            "W_CSV_AFTER_QUOTE",
            format!(
                "{r}行目 {f}項目: 閉じの「\"」の後に文字があります。項目の中の「\"」は「\"\"」と2つ重ねて出力してください。後ろの文字も項目の値として読み込みました。"
            ),
        )
        .at_record(r)
        .at_field(f),
        TokenIssue::BareQuote(r, f) => Finding::warning(
            "W_CSV_BARE_QUOTE",
            format!(
                "{r}行目 {f}項目: 「\"」で囲まれていない項目に「\"」が含まれています。「\"」を含む項目は「\"」で囲み、「\"\"」と2つ重ねて出力してください。そのまま値として読み込みました。"
            ),
        )
        .at_record(r)
        .at_field(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        parse_records(text).iter().map(Record::to_vec).collect()
    }

    #[test]
    fn plain_and_quoted() {
        assert_eq!(
            fields("a,b,c\r\n1,\"x,y\",\"he said \"\"hi\"\"\"\n\"multi\r\nline\",,"),
            vec![
                vec!["a", "b", "c"],
                vec!["1", "x,y", "he said \"hi\""],
                vec!["multi\r\nline", "", ""],
            ]
        );
    }

    #[test]
    fn record_numbers_skip_blank_lines() {
        let r = parse_records("\r\n1\r\n\r\n2\n\n3");
        let nums: Vec<usize> = r.iter().map(|r| r.number).collect();
        assert_eq!(nums, vec![1, 2, 3]);
        assert_eq!(r[2].to_vec(), vec!["3"]);
    }

    #[test]
    fn lone_cr_and_empty_fields() {
        assert_eq!(
            fields("a\rb,\r,c"),
            vec![vec!["a"], vec!["b", ""], vec!["", "c"]]
        );
        assert_eq!(fields(","), vec![vec!["", ""]]);
        assert_eq!(fields(""), Vec::<Vec<String>>::new());
    }

    #[test]
    fn unterminated_quote_keeps_what_is_readable() {
        let mut issues = Vec::new();
        let r = tokenize(
            b"1,\"abc\r\n2,x\r\n3,y",
            Encoding::Utf8,
            |i| issues.push(i),
            &mut None,
        );
        assert_eq!(issues, vec![TokenIssue::Unterminated(1, 2)]);
        assert_eq!(
            r.iter().map(Record::to_vec).collect::<Vec<_>>(),
            vec![vec!["1", "\"abc"], vec!["2", "x"], vec!["3", "y"]]
        );
    }

    #[test]
    fn stray_quotes() {
        let mut issues = Vec::new();
        let r = tokenize(
            b"\"ab\"c,d\"e\"",
            Encoding::Utf8,
            |i| issues.push(i),
            &mut None,
        );
        assert_eq!(r[0].to_vec(), vec!["abc", "d\"e\""]);
        assert_eq!(
            issues,
            vec![TokenIssue::AfterQuote(1, 1), TokenIssue::BareQuote(1, 2)]
        );
    }
}
