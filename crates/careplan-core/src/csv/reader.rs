//! A hand-written RFC 4180 style tokenizer.
//!
//! Quoted fields may hold commas, CR/LF and `""`; records end with CRLF, LF or a lone CR;
//! the last record needs no line end; blank lines are skipped. It never panics: slices are
//! taken with `get` and every cut is at an ASCII delimiter (a UTF-8 character boundary).
//!
//! Speed: the file is decoded once (encoding_rs), then each record is scanned in one pass
//! (a byte-class loop outside quotes, a SIMD search for the closing quote inside them).
//! All records of a file share the decoded text and one span table (two allocations per
//! file, not one per field).

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

    /// The fields as bytes (UTF-8; no character-boundary checks, for the validator).
    pub(crate) fn raw_fields(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let bytes = self.text.as_bytes();
        self.spans()
            .iter()
            .map(move |&(s, e)| bytes.get(s as usize..e as usize).unwrap_or_default())
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

/// Byte classes for the record scanner: 0 ordinary, 1 `,`, 2 `"`, 3 CR or LF.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b',' as usize] = 1;
    t[b'"' as usize] = 2;
    t[b'\r' as usize] = 3;
    t[b'\n' as usize] = 3;
    t
};

/// Scan the record that starts at `start` (not a line end) in one pass: push its field
/// spans, the unescaped text of fields that need it, and quoting issues; return where the
/// next record starts.
///
/// A `"` opens a quoted field only at the start of a field; inside, `""` is a quote and
/// `,` CR LF are text. A quote that never closes is taken literally (then no `"` follows
/// it anywhere) and the field is read as unquoted. Text after a closing quote is kept.
fn scan_record(
    t: &[u8],
    start: usize,
    number: usize,
    spans: &mut Vec<(u32, u32)>,
    pending: &mut Vec<(usize, Vec<u8>)>,
    issue: &mut impl FnMut(TokenIssue),
) -> usize {
    let n = t.len();
    let first = spans.len();
    let mut p = start;
    loop {
        let field_no = spans.len() - first + 1;
        let field_start = p;
        let mut quoted = false;
        let mut literal_open = false;
        if t.get(p) == Some(&b'"') {
            let mut q = p + 1;
            let mut escaped = false;
            let close = loop {
                match t.get(q..).and_then(|r| memchr::memchr(b'"', r)) {
                    Some(k) if t.get(q + k + 1) == Some(&b'"') => {
                        escaped = true;
                        q += k + 2;
                    }
                    Some(k) => break Some(q + k),
                    None => break None,
                }
            };
            match close {
                Some(c) => {
                    quoted = true;
                    p = c + 1;
                    let after = p;
                    while p < n && !matches!(CLASS[usize::from(t[p])], 1 | 3) {
                        p += 1;
                    }
                    if p > after {
                        issue(TokenIssue::AfterQuote(number, field_no));
                    }
                    if escaped || p > after {
                        let raw = t.get(field_start + 1..c).unwrap_or_default();
                        let stray = t.get(after..p).unwrap_or_default();
                        pending.push((spans.len(), unescape(raw, stray)));
                    }
                    spans.push((offset32(field_start + 1), offset32(c)));
                }
                None => {
                    issue(TokenIssue::Unterminated(number, field_no));
                    literal_open = true;
                    p += 1;
                }
            }
        }
        if !quoted {
            let mut bare = false;
            loop {
                while p < n && CLASS[usize::from(t[p])] == 0 {
                    p += 1;
                }
                if p < n && t[p] == b'"' {
                    bare = true;
                    p += 1;
                    continue;
                }
                break;
            }
            if bare && !literal_open {
                issue(TokenIssue::BareQuote(number, field_no));
            }
            spans.push((offset32(field_start), offset32(p)));
        }
        if p >= n {
            return n;
        }
        if t[p] == b',' {
            p += 1;
            if p >= n {
                spans.push((offset32(n), offset32(n)));
                return n;
            }
            continue;
        }
        return line_end(t, p);
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

/// Reference splitter of one line (the first implementation), kept to check
/// [`scan_record`] against it.
#[cfg(test)]
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
            let first = spans.len();
            let next = scan_record(b, i, number, &mut spans, &mut pending, &mut issue);
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
                scan_record(buf, 0, 1, &mut spans, &mut pending, &mut push);
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
        /// The one-pass scanner and the reference splitter agree on every record.
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
