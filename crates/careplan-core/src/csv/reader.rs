//! A hand-written RFC 4180 style tokenizer.
//!
//! Quoted fields may hold commas, CR/LF and `""`; records end with CRLF, LF or a lone CR;
//! the last record needs no line end; blank lines are skipped. It never panics: slices are
//! taken with `get` and every cut is at an ASCII delimiter (a UTF-8 character boundary).
//!
//! Speed: the file is decoded once (encoding_rs), then records are found with SIMD searches
//! for `"` CR LF and split on the positions of `,` and `"`. All records of a file share the
//! decoded text and one span table (two allocations per file, not one per field).

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
    spans: Arc<Vec<(u32, u32)>>,
    /// Range of this record's fields in `spans`.
    first: usize,
    count: usize,
}

impl Record {
    /// A record from its fields.
    pub fn new<S: AsRef<str>>(number: usize, fields: &[S]) -> Self {
        let mut text = String::new();
        let mut spans = Vec::with_capacity(fields.len());
        for f in fields {
            let start = offset32(text.len());
            text.push_str(f.as_ref());
            spans.push((start, offset32(text.len())));
        }
        Self {
            number,
            text: Arc::new(text),
            spans: Arc::new(spans),
            first: 0,
            count: fields.len(),
        }
    }

    fn spans(&self) -> &[(u32, u32)] {
        self.spans
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
        let (start, end) = *self.spans().get(index)?;
        self.text.get(start as usize..end as usize)
    }

    /// The field with 1-based number `no` (as in the layouts: field 1 = CSVバージョン).
    pub fn field(&self, no: usize) -> Option<&str> {
        self.get(no.checked_sub(1)?)
    }

    /// The fields in order.
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            text: &self.text,
            spans: self.spans().iter(),
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
    spans: std::slice::Iter<'a, (u32, u32)>,
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let (start, end) = *self.spans.next()?;
        Some(
            self.text
                .get(start as usize..end as usize)
                .unwrap_or_default(),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
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

/// The largest input file read (1 GiB); its decoded text (at most 3 bytes of UTF-8 per
/// byte) always fits u32 offsets.
pub(crate) const MAX_INPUT: usize = 1 << 30;
/// The largest decoded text the tokenizer reads.
const MAX_TEXT: usize = 3 << 30;

#[inline]
fn offset32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Where a record ends in the raw bytes.
struct RecordEnd {
    /// Exclusive end of the record's content (before its line end).
    end: usize,
    /// Where the next record starts.
    next: usize,
    /// Whether the record holds any `"`.
    has_quote: bool,
}

/// Find the end of the record starting at `start`: the first CR or LF outside a quoted
/// field. A `"` opens a quoted field only at the start of a field; one that is never
/// closed is taken literally (then no `"` follows it anywhere in the input).
fn record_end(b: &[u8], start: usize) -> RecordEnd {
    let n = b.len();
    let mut p = start;
    let mut has_quote = false;
    loop {
        let Some(k) = b
            .get(p..)
            .and_then(|r| memchr::memchr3(b'\n', b'\r', b'"', r))
        else {
            return RecordEnd {
                end: n,
                next: n,
                has_quote,
            };
        };
        let q = p + k;
        match b[q] {
            b'"' => {
                has_quote = true;
                let opener = q == start || b[q - 1] == b',';
                p = q + 1;
                if !opener {
                    continue;
                }
                // Skip to the closing quote (`""` is an escaped quote).
                loop {
                    match b.get(p..).and_then(|r| memchr::memchr(b'"', r)) {
                        Some(c) if b.get(p + c + 1) == Some(&b'"') => p = p + c + 2,
                        Some(c) => {
                            p = p + c + 1;
                            break;
                        }
                        None => {
                            // Unterminated: the quote is literal; the record ends at the
                            // line end after it.
                            let rest = b.get(q..).unwrap_or_default();
                            let e = memchr::memchr2(b'\n', b'\r', rest).map_or(n, |e| q + e);
                            return RecordEnd {
                                end: e,
                                next: line_end(b, e),
                                has_quote,
                            };
                        }
                    }
                }
            }
            _ => {
                return RecordEnd {
                    end: q,
                    next: line_end(b, q),
                    has_quote,
                };
            }
        }
    }
}

/// The offset after the line end (CRLF, CR or LF) at `at`.
fn line_end(b: &[u8], at: usize) -> usize {
    match b.get(at) {
        Some(b'\r') if b.get(at + 1) == Some(&b'\n') => at + 2,
        Some(b'\r' | b'\n') => at + 1,
        _ => at,
    }
}

/// Remove the quoting of a quoted field's raw content (`""` → `"`) and add stray text.
fn unescape(content: &[u8], stray: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + stray.len());
    let mut i = 0;
    while i < content.len() {
        v.push(content[i]);
        i += if content[i] == b'"' { 2 } else { 1 };
    }
    v.extend_from_slice(stray);
    v
}

/// Split one decoded record (`buf[rec..]`) into field spans, reporting quoting problems.
///
/// Works on the positions of `,` and `"` only (found with SIMD); a record whose quote never
/// closes is handed to [`split_record_slow`].
#[allow(clippy::too_many_arguments)]
fn split_record(
    buf: &[u8],
    rec: usize,
    len: usize,
    has_quote: bool,
    spans: &mut Vec<(u32, u32)>,
    pending: &mut Vec<(usize, Vec<u8>)>,
    number: usize,
    issue: &mut impl FnMut(TokenIssue),
) {
    if !has_quote {
        let mut start = rec;
        for p in memchr::memchr_iter(b',', buf.get(rec..len).unwrap_or_default()) {
            spans.push((offset32(start), offset32(rec + p)));
            start = rec + p + 1;
        }
        spans.push((offset32(start), offset32(len)));
        return;
    }
    let first = spans.len();
    let first_pending = pending.len();
    let mut issues: Vec<TokenIssue> = Vec::new();
    let t = buf.get(rec..len).unwrap_or_default();
    // State of the current field (offsets relative to `rec`).
    let mut field_start = 0usize;
    let mut open: Option<usize> = None;
    let mut close: Option<usize> = None;
    let mut escaped = false;
    let mut bare = false;
    let mut skip: Option<usize> = None;
    let mut finish = |end: usize,
                      open: Option<usize>,
                      close: Option<usize>,
                      escaped: bool,
                      bare: bool,
                      spans: &mut Vec<(u32, u32)>,
                      field_start: usize| {
        let field_no = spans.len() - first + 1;
        match (open, close) {
            (Some(o), Some(c)) => {
                let stray = c + 1 < end;
                if stray {
                    issues.push(TokenIssue::AfterQuote(number, field_no));
                }
                if escaped || stray {
                    let raw = t.get(o + 1..c).unwrap_or_default();
                    let rest = t.get(c + 1..end).unwrap_or_default();
                    pending.push((spans.len(), unescape(raw, rest)));
                }
                spans.push((offset32(rec + o + 1), offset32(rec + c)));
            }
            _ => {
                if bare {
                    issues.push(TokenIssue::BareQuote(number, field_no));
                }
                spans.push((offset32(rec + field_start), offset32(rec + end)));
            }
        }
    };
    for p in memchr::memchr2_iter(b',', b'"', t) {
        if skip == Some(p) {
            continue;
        }
        let c = t[p];
        if open.is_some() && close.is_none() {
            // Inside quotes: only a quote matters.
            if c == b'"' {
                if t.get(p + 1) == Some(&b'"') {
                    escaped = true;
                    skip = Some(p + 1);
                } else {
                    close = Some(p);
                }
            }
            continue;
        }
        if c == b'"' {
            if p == field_start {
                open = Some(p);
            } else if open.is_none() {
                bare = true;
            }
            continue;
        }
        finish(p, open, close, escaped, bare, spans, field_start);
        field_start = p + 1;
        open = None;
        close = None;
        escaped = false;
        bare = false;
    }
    if open.is_some() && close.is_none() {
        // A quote that never closes: read this record the slow way.
        spans.truncate(first);
        pending.truncate(first_pending);
        split_record_slow(buf, rec, len, spans, pending, number, issue);
        return;
    }
    finish(t.len(), open, close, escaped, bare, spans, field_start);
    for i in issues {
        issue(i);
    }
}

/// Byte-by-byte splitting of one decoded record, for records with an unterminated quote.
#[allow(clippy::too_many_arguments)]
fn split_record_slow(
    buf: &[u8],
    rec: usize,
    len: usize,
    spans: &mut Vec<(u32, u32)>,
    pending: &mut Vec<(usize, Vec<u8>)>,
    number: usize,
    issue: &mut impl FnMut(TokenIssue),
) {
    let first = spans.len();
    let mut pos = rec;
    loop {
        let field_no = spans.len() - first + 1;
        let t = buf;
        let closing = if t.get(pos) == Some(&b'"') {
            let mut q = pos + 1;
            let mut escaped = false;
            loop {
                match t.get(q..len).and_then(|r| memchr::memchr(b'"', r)) {
                    Some(c) if t.get(q + c + 1) == Some(&b'"') => {
                        escaped = true;
                        q += c + 2;
                    }
                    Some(c) => break Some((q + c, escaped)),
                    None => break None,
                }
            }
        } else {
            None
        };
        match closing {
            Some((c, escaped)) => {
                let content = (pos + 1, c);
                pos = c + 1;
                let after = pos;
                while pos < len && t[pos] != b',' {
                    pos += 1;
                }
                if pos > after {
                    issue(TokenIssue::AfterQuote(number, field_no));
                }
                if escaped || pos > after {
                    let raw = t.get(content.0..content.1).unwrap_or_default();
                    let stray = t.get(after..pos).unwrap_or_default();
                    pending.push((spans.len(), unescape(raw, stray)));
                }
                spans.push((offset32(content.0), offset32(content.1)));
            }
            None => {
                let start = pos;
                let unterminated = t.get(pos) == Some(&b'"');
                if unterminated {
                    issue(TokenIssue::Unterminated(number, field_no));
                }
                let mut quote = false;
                while pos < len && t[pos] != b',' {
                    quote |= t[pos] == b'"';
                    pos += 1;
                }
                if quote && !unterminated {
                    issue(TokenIssue::BareQuote(number, field_no));
                }
                spans.push((offset32(start), offset32(pos)));
            }
        }
        if pos >= len {
            break;
        }
        pos += 1;
        if pos >= len {
            spans.push((offset32(len), offset32(len)));
            break;
        }
    }
}

/// Split decoded CSV text into records and fields, reporting quoting problems.
///
/// The records share `text` (fields that needed unescaping get their text appended to it).
pub(crate) fn tokenize(mut text: String, mut issue: impl FnMut(TokenIssue)) -> Vec<Record> {
    // Offsets are u32: inputs whose text could exceed them are not read.
    if text.len() > MAX_TEXT {
        return Vec::new();
    }
    let n = text.len();
    // (number, first span, span count) of each record.
    let mut metas: Vec<(usize, usize, usize)> = Vec::with_capacity(n / 128 + 1);
    let mut spans: Vec<(u32, u32)> = Vec::with_capacity(n / 6 + 1);
    let mut pending: Vec<(usize, Vec<u8>)> = Vec::new();
    {
        let b = text.as_bytes();
        let mut i = 0usize;
        let mut number = 0usize;
        while i < n {
            if b[i] == b'\n' || b[i] == b'\r' {
                i += 1;
                continue;
            }
            number += 1;
            let RecordEnd {
                end,
                next,
                has_quote,
            } = record_end(b, i);
            let first = spans.len();
            split_record(
                b,
                i,
                end,
                has_quote,
                &mut spans,
                &mut pending,
                number,
                &mut issue,
            );
            metas.push((number, first, spans.len() - first));
            i = next.max(i + 1);
        }
    }
    // Fields that needed unescaping get their text after everything else.
    for (index, bytes) in pending {
        let start = offset32(text.len());
        text.push_str(&String::from_utf8_lossy(&bytes));
        if let Some(span) = spans.get_mut(index) {
            *span = (start, offset32(text.len()));
        }
    }
    let text = Arc::new(text);
    let spans = Arc::new(spans);
    metas
        .into_iter()
        .map(|(number, first, count)| Record {
            number,
            text: Arc::clone(&text),
            spans: Arc::clone(&spans),
            first,
            count,
        })
        .collect()
}

/// Split decoded CSV text into records (quoting problems are ignored; use
/// [`validate`](super::validate) for findings).
pub fn parse_records(text: &str) -> Vec<Record> {
    tokenize(text.to_owned(), |_| {})
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
        let r = tokenize("1,\"abc\r\n2,x\r\n3,y".into(), |i| issues.push(i));
        assert_eq!(issues, vec![TokenIssue::Unterminated(1, 2)]);
        assert_eq!(
            r.iter().map(Record::to_vec).collect::<Vec<_>>(),
            vec![vec!["1", "\"abc"], vec!["2", "x"], vec!["3", "y"]]
        );
    }

    type Split = (Vec<String>, Vec<TokenIssue>);

    fn split_both(text: &str) -> (Split, Split) {
        let run = |fast: bool| {
            let buf = text.as_bytes();
            let mut spans = Vec::new();
            let mut pending = Vec::new();
            let mut issues = Vec::new();
            let mut push = |i| issues.push(i);
            if fast {
                split_record(
                    buf,
                    0,
                    buf.len(),
                    true,
                    &mut spans,
                    &mut pending,
                    1,
                    &mut push,
                );
            } else {
                split_record_slow(buf, 0, buf.len(), &mut spans, &mut pending, 1, &mut push);
            }
            let mut fields: Vec<String> = spans
                .iter()
                .map(|&(s, e)| String::from_utf8_lossy(&buf[s as usize..e as usize]).into_owned())
                .collect();
            for (i, v) in pending {
                fields[i] = String::from_utf8_lossy(&v).into_owned();
            }
            (fields, issues)
        };
        (run(true), run(false))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The SIMD splitter and the byte-by-byte one agree on every record.
        #[test]
        fn fast_split_matches_slow(text in "[a\",x]{0,24}") {
            let (fast, slow) = split_both(&text);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn stray_quotes() {
        let mut issues = Vec::new();
        let r = tokenize("\"ab\"c,d\"e\"".into(), |i| issues.push(i));
        assert_eq!(r[0].to_vec(), vec!["abc", "d\"e\""]);
        assert_eq!(
            issues,
            vec![TokenIssue::AfterQuote(1, 1), TokenIssue::BareQuote(1, 2)]
        );
    }
}
