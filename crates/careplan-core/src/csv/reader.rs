//! The tokenizer: `csv-core` over the raw bytes, plus the diagnostics csv-core does not
//! give (quoting problems, bytes that are not MS932, 外字, UTF-8 fields).
//!
//! Quoted fields may hold commas, CR/LF and `""`; records end with CRLF, LF or a lone CR;
//! the last record needs no line end; blank lines are skipped. It never panics: slices are
//! taken with `get` and every cut is at an ASCII delimiter (a character boundary in MS932
//! and in UTF-8).
//!
//! Speed: csv-core writes one record at a time into a small buffer that stays in the
//! cache; from there the record is appended to the file's text, its ASCII runs as they
//! are and only the fields holding non-ASCII bytes decoded (encoding_rs). The caller sees
//! each record right after it is read ([`Visit`]), so it validates it while its bytes are
//! still in the cache. All records of a file share one text and one table of field ends
//! (4 bytes per field).

use std::sync::Arc;

use crate::finding::{Finding, Severity};

/// The text and field ends shared by the records of one file.
#[derive(Default)]
struct Shared {
    /// Every field of every record, one after the other, without separators.
    text: String,
    /// The end offset in `text` of every field; a field starts where the one before it
    /// ends (the first field of the file at 0).
    ends: Vec<u32>,
}

/// One record (data row) of a CSV file.
///
/// Read the fields with [`Record::fields`], [`Record::field`] (1-based, like the layouts)
/// or [`Record::get`] (0-based). Records of one file share their text buffer, so cloning
/// a record is cheap.
#[derive(Clone, Default)]
pub struct Record {
    /// 1-based record number: the n-th non-blank row of the file, header rows included.
    pub number: usize,
    shared: Arc<Shared>,
    /// Index of this record's first field in `shared.ends`.
    first: u32,
    /// Number of fields.
    count: u32,
}

/// The fields of one record, borrowed from the text being built or from a [`Record`].
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    text: &'a str,
    /// The ends of this record's fields.
    ends: &'a [u32],
    /// Where the first field starts.
    start: u32,
}

impl<'a> View<'a> {
    /// The record with fields `first..first + count` of a text and its field ends.
    pub(crate) fn new(text: &'a str, all_ends: &'a [u32], first: usize, count: usize) -> Self {
        let start = first
            .checked_sub(1)
            .and_then(|p| all_ends.get(p))
            .copied()
            .unwrap_or(0);
        Self {
            text,
            ends: all_ends
                .get(first..first.saturating_add(count))
                .unwrap_or_default(),
            start,
        }
    }

    /// Number of fields.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    #[inline]
    fn bounds(&self, index: usize) -> Option<(usize, usize)> {
        let end = *self.ends.get(index)?;
        let start = match index.checked_sub(1) {
            Some(p) => self.ends.get(p).copied().unwrap_or(end),
            None => self.start,
        };
        Some((start as usize, end as usize))
    }

    /// The field at 0-based `index`.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&'a str> {
        let (s, e) = self.bounds(index)?;
        self.text.get(s..e)
    }

    /// The field at 0-based `index` as bytes (empty when there is none).
    #[inline]
    pub(crate) fn raw(&self, index: usize) -> &'a [u8] {
        self.bounds(index)
            .and_then(|(s, e)| self.text.as_bytes().get(s..e))
            .unwrap_or_default()
    }

    /// The whole text the fields are in.
    #[inline]
    pub(crate) fn text(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Where the first field starts in [`View::text`].
    #[inline]
    pub(crate) fn start(&self) -> usize {
        self.start as usize
    }

    /// The end offsets of the fields in [`View::text`].
    #[inline]
    pub(crate) fn ends(&self) -> &'a [u32] {
        self.ends
    }

    /// The fields in order.
    pub(crate) fn fields(&self) -> Fields<'a> {
        Fields {
            text: self.text,
            start: self.start,
            ends: self.ends.iter(),
        }
    }
}

impl Record {
    /// A record from its fields.
    pub fn new<S: AsRef<str>>(number: usize, fields: &[S]) -> Self {
        let mut text = String::new();
        let mut ends = Vec::with_capacity(fields.len());
        for f in fields {
            text.push_str(f.as_ref());
            ends.push(offset32(text.len()));
        }
        Self {
            number,
            count: offset32(ends.len()),
            shared: Arc::new(Shared { text, ends }),
            first: 0,
        }
    }

    #[inline]
    pub(crate) fn view(&self) -> View<'_> {
        View::new(
            &self.shared.text,
            &self.shared.ends,
            self.first as usize,
            self.count as usize,
        )
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the record has no field (never the case for a parsed record).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The field at 0-based `index`.
    #[inline]
    pub fn get(&self, index: usize) -> Option<&str> {
        self.view().get(index)
    }

    /// The field with 1-based number `no` (as in the layouts: field 1 = CSVバージョン).
    pub fn field(&self, no: usize) -> Option<&str> {
        self.get(no.checked_sub(1)?)
    }

    /// The fields in order.
    pub fn fields(&self) -> Fields<'_> {
        self.view().fields()
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
    /// Where the next field starts.
    start: u32,
    ends: std::slice::Iter<'a, u32>,
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let end = *self.ends.next()?;
        let start = std::mem::replace(&mut self.start, end);
        Some(
            self.text
                .get(start as usize..end as usize)
                .unwrap_or_default(),
        )
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
///
/// Offsets are 0-based byte offsets in the bytes given to the tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenIssue {
    /// A quoted field without its closing quote (record, field).
    Unterminated(usize, usize),
    /// Text after the closing quote of a field (record, field).
    AfterQuote(usize, usize),
    /// A `"` inside an unquoted field (record, field).
    BareQuote(usize, usize),
    /// Bytes that are not MS932 (record, field, offset of the first bad byte, that byte).
    NotMs932(usize, usize, usize, u8),
    /// A character of the user-defined area (外字, lead byte 0xF0–0xF9): record, field,
    /// offset of its lead byte, and its two bytes.
    Gaiji(usize, usize, usize, [u8; 2]),
    /// A field of an MS932 file that is UTF-8 Japanese text (record, field, offset of its
    /// first non-ASCII byte).
    Utf8Part(usize, usize, usize),
    /// A field of a UTF-8 file that is not UTF-8 (record, field, offset of the bad byte).
    NotUtf8(usize, usize, usize),
}

impl TokenIssue {
    /// The code and severity of the finding [`issue_finding`] makes of this issue.
    pub(crate) fn code(&self) -> (&'static str, Severity) {
        match self {
            TokenIssue::Unterminated(..) => ("E_CSV_QUOTE_UNTERMINATED", Severity::Error),
            TokenIssue::AfterQuote(..) => ("W_CSV_AFTER_QUOTE", Severity::Warning),
            TokenIssue::BareQuote(..) => ("W_CSV_BARE_QUOTE", Severity::Warning),
            TokenIssue::NotMs932(..) => ("E_CSV_NOT_MS932", Severity::Error),
            TokenIssue::Gaiji(..) => ("E_CSV_GAIJI", Severity::Error),
            TokenIssue::Utf8Part(..) => ("E_CSV_UTF8_PART", Severity::Error),
            TokenIssue::NotUtf8(..) => ("E_CSV_MIXED_ENCODING", Severity::Error),
        }
    }
}

/// How the non-ASCII fields of a file are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decode {
    /// MS932 (the standard's encoding), with 外字 and UTF-8 fields reported.
    Ms932,
    /// UTF-8 (a file written wrongly, or text that is already decoded).
    Utf8,
}

/// The largest input file read (1 GiB); its text (at most 3 bytes of UTF-8 per input
/// byte: half-width kana and replaced bad bytes grow 3×) always fits u32 offsets.
pub(crate) const MAX_INPUT: usize = 1 << 30;

#[inline]
fn offset32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// How many encoding issues get their exact place; later ones (never listed, only counted
/// by the validator) get the record's start, so hostile input stays linear.
const LOCATED_ISSUES: usize = 256;

/// The offset of the first field of a record's raw bytes (after skipped blank lines).
fn record_start(raw: &[u8]) -> usize {
    raw.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(raw.len())
}

/// Where the field after the one starting at `s` starts, or `None` at the record's end.
/// `raw` is one record's input bytes (its line end included).
fn next_field_start(raw: &[u8], s: usize) -> Option<usize> {
    let mut p = s;
    if raw.get(p) == Some(&b'"') {
        let mut q = p + 1;
        loop {
            match raw.get(q..).and_then(|r| memchr::memchr(b'"', r)) {
                Some(k) if raw.get(q + k + 1) == Some(&b'"') => q += k + 2,
                Some(k) => {
                    p = q + k + 1;
                    break;
                }
                None => return None,
            }
        }
    }
    let rest = raw.get(p..)?;
    match memchr::memchr3(b',', b'\r', b'\n', rest) {
        Some(k) if rest[k] == b',' => Some(p + k + 1),
        _ => None,
    }
}

/// The raw start of field `field` (0-based) of a record.
fn field_raw_start(raw: &[u8], field: usize) -> usize {
    let mut s = record_start(raw);
    for _ in 0..field {
        match next_field_start(raw, s) {
            Some(n) => s = n,
            None => return s,
        }
    }
    s
}

/// The raw offset of output byte `k` of the field whose raw bytes start at `s`.
fn raw_offset_in_field(raw: &[u8], s: usize, k: usize) -> usize {
    if raw.get(s) != Some(&b'"') {
        return s + k;
    }
    let mut i = s + 1;
    let mut n = 0;
    while i < raw.len() {
        if raw[i] == b'"' {
            if raw.get(i + 1) == Some(&b'"') {
                if n == k {
                    return i;
                }
                n += 1;
                i += 2;
                continue;
            }
            // The closing quote: text after it continues the value.
            return i + 1 + (k - n);
        }
        if n == k {
            return i;
        }
        n += 1;
        i += 1;
    }
    i
}

/// Field numbers (1-based) of positions in one record, computed lazily and forwards.
struct FieldCounter {
    start: usize,
    field: usize,
}

impl FieldCounter {
    fn new(raw: &[u8]) -> Self {
        Self {
            start: record_start(raw),
            field: 1,
        }
    }

    /// The field holding raw offset `pos` (positions asked for only grow).
    fn at(&mut self, raw: &[u8], pos: usize) -> usize {
        while let Some(n) = next_field_start(raw, self.start) {
            if n > pos {
                break;
            }
            self.start = n;
            self.field += 1;
        }
        self.field
    }
}

/// Walk the quotes of one record's raw bytes: report text after a closing quote and quotes
/// inside unquoted fields (once per field), and return the offset of an opening quote that
/// never closes. Costs one `memchr` over a record without quotes.
fn walk_quotes(raw: &[u8], number: usize, issue: &mut impl FnMut(TokenIssue)) -> Option<usize> {
    let start = record_start(raw);
    let mut counter = FieldCounter::new(raw);
    let mut p = start;
    let next_comma = |from: usize| {
        raw.get(from..)
            .and_then(|r| memchr::memchr(b',', r))
            .map_or(raw.len(), |k| from + k)
    };
    while let Some(k) = raw.get(p..).and_then(|r| memchr::memchr(b'"', r)) {
        let q = p + k;
        let at_field_start = q == start || raw.get(q.wrapping_sub(1)) == Some(&b',');
        if !at_field_start {
            // A field whose opening quote was taken literally keeps its quotes silently.
            let field_start = raw
                .get(..q)
                .and_then(|r| memchr::memrchr(b',', r))
                .map_or(start, |c| c + 1);
            if raw.get(field_start) != Some(&LITERAL_QUOTE) {
                issue(TokenIssue::BareQuote(number, counter.at(raw, q)));
            }
            p = next_comma(q);
            continue;
        }
        let mut c = q + 1;
        let close = loop {
            match raw.get(c..).and_then(|r| memchr::memchr(b'"', r)) {
                Some(j) if raw.get(c + j + 1) == Some(&b'"') => c += j + 2,
                Some(j) => break Some(c + j),
                None => break None,
            }
        };
        let Some(x) = close else {
            return Some(q);
        };
        p = x + 1;
        if !matches!(raw.get(p), None | Some(b',' | b'\r' | b'\n')) {
            issue(TokenIssue::AfterQuote(number, counter.at(raw, q)));
            p = next_comma(p);
        }
    }
    None
}

/// Is `b` a lead byte of a two-byte MS932 character?
#[inline]
fn is_lead(b: u8) -> bool {
    matches!(b, 0x81..=0x9F | 0xE0..=0xFC)
}

/// The output offset of the first 外字 (lead byte 0xF0–0xF9) in MS932 bytes, and its bytes.
fn find_gaiji(f: &[u8]) -> Option<(usize, [u8; 2])> {
    let mut i = 0;
    while i < f.len() {
        let b = f[i];
        if (0xF0..=0xF9).contains(&b) {
            return Some((i, [b, f.get(i + 1).copied().unwrap_or(0)]));
        }
        i += if is_lead(b) { 2 } else { 1 };
    }
    None
}

/// Valid UTF-8 that holds Japanese written as UTF-8: at least one character of three bytes
/// and every non-ASCII character in the ranges Japanese text uses (no Latin-1 letters). MS932 text almost never
/// is valid UTF-8 at all (its lead bytes 0x81–0x9F are UTF-8 continuation bytes).
fn japanese_utf8(f: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(f).ok()?;
    let mut three = false;
    for c in s.chars() {
        let u = u32::from(c);
        if u < 0x80 {
            continue;
        }
        // Latin-1 letters (U+00C0–U+00FF but × and ÷) are left out: MS932 half-width kana
        // followed by a kanji can spell them by chance (ﾃ亥亜 = C3 88 E6 88 9F = "È刟").
        let plausible = matches!(u,
            0x00A0..=0x00BF
            | 0x00D7
            | 0x00F7
            | 0x2010..=0x206F
            | 0x2100..=0x22FF
            | 0x2460..=0x24FF
            | 0x2500..=0x257F
            | 0x25A0..=0x26FF
            | 0x3000..=0x30FF
            | 0x3200..=0x33FF
            | 0x4E00..=0x9FFF
            | 0xF900..=0xFAFF
            | 0xFF00..=0xFFEF);
        if !plausible {
            return None;
        }
        three |= u >= 0x800;
    }
    three.then_some(s)
}

/// The file offset of output byte `k` of field `field` (0-based) of a record, or the
/// record's start once many issues have been located.
fn place(located: &mut usize, raw: &[u8], raw_at: usize, field: usize, k: usize) -> usize {
    *located += 1;
    if *located > LOCATED_ISSUES {
        return raw_at + record_start(raw);
    }
    raw_at + raw_offset_in_field(raw, field_raw_start(raw, field), k)
}

/// The offset of the first byte ≥ 0x80 in `b` (eight bytes at a time).
#[inline]
fn first_non_ascii(b: &[u8]) -> Option<usize> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0usize;
    for c in &mut chunks {
        let word: [u8; 8] = c.try_into().unwrap_or_default();
        let high = u64::from_le_bytes(word) & HIGH;
        if high != 0 {
            return Some(at + (high.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c >= 0x80)
        .map(|p| at + p)
}

/// One pass over a record as csv-core wrote it: the offset of its first non-ASCII byte,
/// and whether it holds a `"`.
#[inline]
fn scan_record(b: &[u8]) -> (Option<usize>, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = 0x2222_2222_2222_2222;
    // A zero byte of `w ^ QUOTES` is a `"` of `w` (exact for "is there any").
    let has_quote = |w: u64| {
        let x = w ^ QUOTES;
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let mut first = None;
    let mut quote = 0u64;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0usize;
    // Until the first non-ASCII byte, then only quotes.
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
        quote |= has_quote(w);
        let high = w & HIGH;
        at += 8;
        if high != 0 {
            first = Some(at - 8 + (high.trailing_zeros() / 8) as usize);
            break;
        }
    }
    for c in &mut chunks {
        quote |= has_quote(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        at += 8;
    }
    for (k, &c) in chunks.remainder().iter().enumerate() {
        quote |= u64::from(c == b'"');
        if c >= 0x80 && first.is_none() {
            first = Some(at + k);
        }
    }
    (first, quote != 0)
}

/// Whether a record's input surely holds no `"`, told from what csv-core wrote for it
/// (`rec`, without a `"`, with `nfields` fields): every input byte is then accounted for
/// as an output byte, a separator or a line break before or after the record, so no quote
/// was dropped either. (When the output ends with a line break, the breaks at the end of
/// the input may be field text; then this says no.)
#[inline]
fn surely_unquoted(raw: &[u8], rec: &[u8], nfields: usize) -> bool {
    let is_break = |b: &u8| *b == b'\r' || *b == b'\n';
    if rec.last().is_some_and(is_break) {
        return false;
    }
    let lead = raw.iter().take_while(|b| is_break(b)).count();
    let trail = raw
        .get(lead..)
        .unwrap_or_default()
        .iter()
        .rev()
        .take_while(|b| is_break(b))
        .count();
    raw.len() == lead + trail + rec.len() + nfields.saturating_sub(1)
}

/// Whether a record's input is plain CSV, told from csv-core's output field ends, when
/// that output holds no `"`: every field is either its output bytes or `"` + its output
/// bytes + `"`, separated by commas, with only line breaks before and after. Then the
/// quote walk finds nothing (its quotes all open and close fields), so it is skipped.
/// (A closing quote followed by more text, or one that never comes, makes the field's
/// input longer or shorter than this, so such records say no and get the walk.)
fn plainly_quoted(raw: &[u8], rec_ends: &[usize]) -> bool {
    let is_break = |b: &u8| *b == b'\r' || *b == b'\n';
    let mut p = raw.iter().take_while(|b| is_break(b)).count();
    let mut prev = 0usize;
    let last = rec_ends.len().saturating_sub(1);
    for (i, &e) in rec_ends.iter().enumerate() {
        let Some(len) = e.checked_sub(prev) else {
            return false;
        };
        prev = e;
        let end = if raw.get(p) == Some(&b'"') {
            let end = p + len + 2;
            if raw.get(end - 1) != Some(&b'"') {
                return false;
            }
            end
        } else {
            p + len
        };
        if i == last {
            return raw.get(end..).is_some_and(|rest| rest.iter().all(is_break));
        }
        if raw.get(end) != Some(&b',') {
            return false;
        }
        p = end + 1;
    }
    false
}

/// The 0-based indices of the fields of `rec` (field ends `rec_ends`) that hold a byte
/// ≥ 0x80, the first of which is at `first_at`, into `wide`.
fn wide_fields(rec: &[u8], rec_ends: &[usize], first_at: Option<usize>, wide: &mut Vec<u32>) {
    wide.clear();
    let mut next = first_at;
    let mut j = 0usize;
    while let Some(p) = next {
        while rec_ends.get(j).is_some_and(|&e| e <= p) {
            j += 1;
        }
        let Some(&end) = rec_ends.get(j) else {
            break;
        };
        wide.push(offset32(j));
        j += 1;
        next = first_non_ascii(rec.get(end..).unwrap_or_default()).map(|k| end + k);
    }
}

/// What the tokenizer tells its caller, record by record.
pub(crate) trait Visit {
    /// A quoting or encoding problem.
    fn issue(&mut self, issue: TokenIssue);

    /// Record `number` has just been read: its fields are the `count` fields from index
    /// `first` of `ends` over `text` (see [`View::new`]); the records kept before it are
    /// in the same text. Returns whether to keep the record.
    fn record(
        &mut self,
        number: usize,
        text: &str,
        ends: &[u32],
        first: usize,
        count: usize,
    ) -> bool;
}

/// Keeps every record and hands the issues to a function.
struct KeepAll<F>(F);

impl<F: FnMut(TokenIssue)> Visit for KeepAll<F> {
    fn issue(&mut self, issue: TokenIssue) {
        (self.0)(issue);
    }

    fn record(&mut self, _: usize, _: &str, _: &[u32], _: usize, _: usize) -> bool {
        true
    }
}

/// The length of a character in a [`ms932_utf8`] or [`SINGLE`] entry (bits 24–25).
const LEN_SHIFT: u32 = 24;
/// The flag of a 外字 (lead byte 0xF0–0xF9) in a [`ms932_utf8`] entry.
const GAIJI_FLAG: u32 = 1 << 31;

/// See [`ms932_utf8`].
type Utf8Table = [u32; 64 * 256];

/// The row in [`ms932_utf8`] of an MS932 lead byte: leads 0x81–0x9F then 0xE0–0xFC.
const fn lead_row(b: u8) -> Option<usize> {
    match b {
        0x81..=0x9F => Some((b - 0x81) as usize),
        0xE0..=0xFC => Some((b - 0xC1) as usize),
        _ => None,
    }
}

/// What one byte of MS932 is, for [`decode_ms932_plain`]: an ASCII byte or a half-width
/// katakana (U+FF61–U+FF9F) as its UTF-8 with its length at bit 24; otherwise (length 0)
/// the lead byte's row in [`ms932_utf8`], or row 63 (all 0) for a byte that is neither
/// (0x80, 0xA0, 0xFD–0xFF).
const SINGLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut b = 0usize;
    while b < 256 {
        t[b] = if b < 0x80 {
            b as u32 | 1 << LEN_SHIFT
        } else if b >= 0xA1 && b <= 0xDF {
            let cp = 0xFF61 + (b as u32 - 0xA1);
            (0xE0 | cp >> 12)
                | (0x80 | (cp >> 6 & 0x3F)) << 8
                | (0x80 | (cp & 0x3F)) << 16
                | 3 << LEN_SHIFT
        } else {
            match lead_row(b as u8) {
                Some(row) => row as u32,
                None => 63,
            }
        };
        b += 1;
    }
    t
};

/// MS932 two-byte characters as encoding_rs decodes them, as ready-made UTF-8: `(row of
/// the lead byte) * 256 + trail byte` → the character's UTF-8 bytes (little-endian, 2 or 3
/// bytes), its length at bit 24 and [`GAIJI_FLAG`] for a 外字; 0 where the pair is not a
/// character. Rows: leads 0x81–0x9F then 0xE0–0xFC, and 4 rows of 0 (so that any row below
/// 64 is in the table: no bounds check per character). Built once from encoding_rs (about
/// 11 000 pairs), so the mapping stays encoding_rs's; the reader decodes with it and falls
/// back to encoding_rs itself for any field it cannot decode (bytes that are not MS932).
fn ms932_utf8() -> &'static Utf8Table {
    static TABLE: std::sync::OnceLock<Box<Utf8Table>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: Box<Utf8Table> = Box::new([0u32; 64 * 256]);
        // All pairs in one input, decoded in runs: a run stops at a pair that is not a
        // character (left 0) and the next run starts at the pair after it, with a new
        // decoder. Each pair of a run is one character (checked against encoding_rs pair
        // by pair in the tests).
        let pairs: Vec<[u8; 2]> = (0x81..=0x9Fu8)
            .chain(0xE0..=0xFC)
            .flat_map(|lead| (0x40..=0xFCu8).map(move |trail| [lead, trail]))
            .collect();
        let input = pairs.concat();
        let mut out = vec![0u8; 3 * input.len() + 16];
        let mut next = 0usize;
        while let Some(rest) = input.get(2 * next..) {
            if rest.is_empty() {
                break;
            }
            let mut decoder = encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling();
            let (result, read, written) =
                decoder.decode_to_utf8_without_replacement(rest, &mut out, true);
            let (good, skip) = match result {
                encoding_rs::DecoderResult::Malformed(bad, after) => {
                    let at = read.saturating_sub(usize::from(bad) + usize::from(after));
                    (at / 2, at / 2 + 1)
                }
                _ => (rest.len() / 2, rest.len() / 2),
            };
            let text =
                std::str::from_utf8(out.get(..written).unwrap_or_default()).unwrap_or_default();
            for (c, &[lead, trail]) in text
                .chars()
                .zip(pairs.get(next..next + good).unwrap_or_default())
            {
                let mut utf8 = [0u8; 4];
                let utf8 = c.encode_utf8(&mut utf8).as_bytes();
                // All of MS932 is in the BMP: 1 to 3 bytes.
                if let (Some(row), true) = (lead_row(lead), utf8.len() <= 3)
                    && let Some(slot) = table.get_mut(row << 8 | usize::from(trail))
                {
                    let mut entry = (utf8.len() as u32) << LEN_SHIFT;
                    for (k, &u) in utf8.iter().enumerate() {
                        entry |= u32::from(u) << (8 * k);
                    }
                    if (0xF0..=0xF9).contains(&lead) {
                        entry |= GAIJI_FLAG;
                    }
                    *slot = entry;
                }
            }
            next += skip.max(1);
        }
        table
    })
}

/// Decode an MS932 field made only of ASCII, half-width kana and mapped two-byte
/// characters into `out` from `o`: each character is one lookup and a four-byte store of
/// its ready-made UTF-8 (the byte past a shorter character is written over by the next one
/// or left past the end). `None` (with `out` partly written) for anything else, or when
/// `out` has no room (the caller gives it 3 bytes per input byte and 4 more). `Some`
/// holds the end of the output and the offset of the first 外字 (lead byte 0xF0–0xF9), if
/// any.
#[inline]
fn decode_ms932_plain(
    bytes: &[u8],
    out: &mut [u8],
    mut o: usize,
    table: &Utf8Table,
) -> Option<(usize, Option<usize>)> {
    let mut flags = 0u32;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        let single = SINGLE[usize::from(b)];
        let entry = if single >> LEN_SHIFT != 0 {
            i += 1;
            single
        } else {
            let trail = *bytes.get(i + 1)?;
            let entry = table[(single as usize & 63) << 8 | usize::from(trail)];
            if entry == 0 {
                return None;
            }
            i += 2;
            entry
        };
        flags |= entry;
        out.get_mut(o..o + 4)?.copy_from_slice(&entry.to_le_bytes());
        o += (entry >> LEN_SHIFT & 3) as usize;
    }
    // The first 外字: the same walk over lead and trail bytes as above.
    Some((
        o,
        if flags & GAIJI_FLAG != 0 {
            find_gaiji(bytes).map(|(k, _)| k)
        } else {
            None
        },
    ))
}

/// The UTF-8 of the record being appended: `buf[..len]`. `buf` is kept longer than that
/// (sized once per record), so the decoders write into it without growing it per
/// character.
#[derive(Default)]
struct RecordBuf {
    buf: Vec<u8>,
    len: usize,
}

impl RecordBuf {
    /// Start a record of `n` input bytes: empty, with room for 3 output bytes per input
    /// byte and 4 more (what [`decode_ms932_plain`] needs; every decoder writes at most 3
    /// bytes per input byte).
    #[inline]
    fn start(&mut self, n: usize) {
        self.len = 0;
        let need = n.saturating_mul(3).saturating_add(4);
        if self.buf.len() < need {
            let room = need.max(4096);
            self.buf
                .resize(room.checked_next_power_of_two().unwrap_or(room), 0);
        }
    }

    /// Append bytes (growing the buffer if it must).
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if self.buf.len() < end {
            self.buf.resize(end.saturating_mul(2), 0);
        }
        if let Some(room) = self.buf.get_mut(self.len..end) {
            room.copy_from_slice(bytes);
        }
        self.len = end;
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// Per-file state of the tokenizer: the text being built and the issue counter.
struct Builder {
    decode: Decode,
    text: String,
    ends: Vec<u32>,
    /// The UTF-8 of the record being appended (checked once, then pushed to `text`).
    record: RecordBuf,
    /// Room for one field decoded by encoding_rs (NUL characters: it decodes into a
    /// `&mut str`).
    scratch: String,
    /// [`ms932_utf8`] when decoding MS932.
    table: Option<&'static Utf8Table>,
    located: usize,
}

impl Builder {
    /// Append one record's fields to the text and their ends to the table, decoding the
    /// fields that hold non-ASCII bytes. `rec` is what csv-core wrote for the record,
    /// `rec_ends` its field ends in `rec`, `wide` the 0-based indices of its fields that
    /// hold bytes ≥ 0x80 (in order); `raw` is the record's input, `raw_at` its offset in
    /// the file.
    #[allow(clippy::too_many_arguments)]
    fn append_record(
        &mut self,
        visit: &mut impl Visit,
        number: usize,
        rec: &[u8],
        rec_ends: &[usize],
        wide: &[u32],
        raw: &[u8],
        raw_at: usize,
    ) {
        let base = self.text.len();
        if wide.is_empty() {
            // All ASCII: as csv-core wrote it.
            match simdutf8::basic::from_utf8(rec) {
                Ok(t) => self.text.push_str(t),
                // Not reached: the record is ASCII.
                Err(_) => self.text.push_str(&String::from_utf8_lossy(rec)),
            }
            self.ends
                .extend(rec_ends.iter().map(|&e| offset32(base + e)));
            return;
        }
        // `rec[s..]` and the fields from `i` are still to be appended.
        self.record.start(rec.len());
        let mut s = 0usize;
        let mut i = 0usize;
        for &j in wide {
            let j = j as usize;
            let Some(&end) = rec_ends.get(j) else {
                break;
            };
            let start = j
                .checked_sub(1)
                .and_then(|x| rec_ends.get(x))
                .copied()
                .unwrap_or(0);
            let at = base + self.record.len;
            self.record.put(rec.get(s..start).unwrap_or_default());
            self.ends.extend(
                rec_ends
                    .get(i..j)
                    .unwrap_or_default()
                    .iter()
                    .map(|&e| offset32(at + e.saturating_sub(s))),
            );
            self.decode_field(
                visit,
                number,
                j,
                rec.get(start..end).unwrap_or_default(),
                raw,
                raw_at,
            );
            self.ends.push(offset32(base + self.record.len));
            s = end;
            i = j + 1;
        }
        let at = base + self.record.len;
        let last = rec_ends.last().copied().unwrap_or(0).max(s);
        self.record.put(rec.get(s..last).unwrap_or_default());
        self.ends.extend(
            rec_ends
                .get(i..)
                .unwrap_or_default()
                .iter()
                .map(|&e| offset32(at + e.saturating_sub(s))),
        );
        // One check of the whole record (SIMD; far cheaper than `std::str::from_utf8` on
        // text with many multi-byte characters).
        let record = self.record.bytes();
        match simdutf8::basic::from_utf8(record) {
            Ok(t) => self.text.push_str(t),
            // Not reached: ASCII and what the decoders wrote is UTF-8.
            Err(_) => self.text.push_str(&String::from_utf8_lossy(record)),
        }
    }

    /// Append a field holding non-ASCII bytes to `record`, decoded, and report what is
    /// wrong with it.
    #[inline(never)]
    fn decode_field(
        &mut self,
        visit: &mut impl Visit,
        number: usize,
        field: usize,
        bytes: &[u8],
        raw: &[u8],
        raw_at: usize,
    ) {
        if self.decode == Decode::Utf8 {
            match std::str::from_utf8(bytes) {
                Ok(s) => self.record.put(s.as_bytes()),
                Err(e) => {
                    let bad = e.valid_up_to();
                    self.record.put(String::from_utf8_lossy(bytes).as_bytes());
                    let at = place(&mut self.located, raw, raw_at, field, bad);
                    visit.issue(TokenIssue::NotUtf8(number, field + 1, at));
                }
            }
            return;
        }
        // Kanji fields mostly start with a non-ASCII byte.
        let first_non_ascii = match bytes.first() {
            Some(&b) if b >= 0x80 => 0,
            _ => first_non_ascii(bytes).unwrap_or(0),
        };
        // Valid UTF-8 starts its first non-ASCII character with 0xC2–0xF4; most MS932
        // lead bytes (0x81–0x9F) are not, so this check rarely needs a UTF-8 pass.
        if bytes
            .get(first_non_ascii)
            .is_some_and(|b| (0xC2..=0xF4).contains(b))
            && let Some(s) = japanese_utf8(bytes)
        {
            // Shown as what it is; reported as UTF-8.
            self.record.put(s.as_bytes());
            let at = place(&mut self.located, raw, raw_at, field, first_non_ascii);
            visit.issue(TokenIssue::Utf8Part(number, field + 1, at));
            return;
        }
        let table = self.table;
        let plain =
            table.and_then(|t| decode_ms932_plain(bytes, &mut self.record.buf, self.record.len, t));
        let gaiji = match plain {
            Some((end, gaiji)) => {
                self.record.len = end;
                gaiji.map(|k| {
                    (
                        k,
                        [
                            bytes.get(k).copied().unwrap_or(0),
                            bytes.get(k + 1).copied().unwrap_or(0),
                        ],
                    )
                })
            }
            // What it wrote past `len` is written over.
            None => {
                self.decode_with_encoding_rs(visit, number, field, bytes, raw, raw_at);
                if bytes.iter().any(|c| (0xF0..=0xF9).contains(c)) {
                    find_gaiji(bytes)
                } else {
                    None
                }
            }
        };
        if let Some((k, pair)) = gaiji {
            let at = place(&mut self.located, raw, raw_at, field, k);
            visit.issue(TokenIssue::Gaiji(number, field + 1, at, pair));
        }
    }

    /// Decode a field with encoding_rs (bytes that are not MS932 become U+FFFD and are
    /// reported).
    #[cold]
    fn decode_with_encoding_rs(
        &mut self,
        visit: &mut impl Visit,
        number: usize,
        field: usize,
        bytes: &[u8],
        raw: &[u8],
        raw_at: usize,
    ) {
        let mut decoder = encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling();
        let room = decoder
            .max_utf8_buffer_length(bytes.len())
            .unwrap_or(usize::MAX);
        if self.scratch.len() < room {
            self.scratch = "\0".repeat(room.max(256).next_power_of_two());
        }
        let (result, read, written) =
            decoder.decode_to_str_without_replacement(bytes, &mut self.scratch, true);
        match result {
            encoding_rs::DecoderResult::Malformed(bad, after) => {
                let k = read.saturating_sub(usize::from(bad) + usize::from(after));
                let byte = bytes.get(k).copied().unwrap_or(0);
                let mut decoder = encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling();
                let (_, _, written, _) = decoder.decode_to_str(bytes, &mut self.scratch, true);
                self.record
                    .put(self.scratch.get(..written).unwrap_or_default().as_bytes());
                let at = place(&mut self.located, raw, raw_at, field, k);
                visit.issue(TokenIssue::NotMs932(number, field + 1, at, byte));
            }
            // With the whole field given and room for all of it, this is all of it.
            encoding_rs::DecoderResult::InputEmpty | encoding_rs::DecoderResult::OutputFull => {
                self.record
                    .put(self.scratch.get(..written).unwrap_or_default().as_bytes());
            }
        }
    }
}

/// What [`fast_record`] made of the input at a record's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fast {
    /// Not a plain record: csv-core reads it.
    No,
    /// Only line breaks are left.
    End,
    /// A plain record: `nin` input bytes read, `nout` output bytes and `nfields` field
    /// ends written (as csv-core would have written them).
    Record {
        nin: usize,
        nout: usize,
        nfields: usize,
    },
}

/// What [`fast_scan`] made of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Not a plain record.
    No,
    /// The record goes past the bytes given (the output buffer is too small for it).
    Grow,
    /// The record has more fields than there is room for.
    MoreEnds,
    /// A plain record (see [`Fast::Record`]).
    Record {
        nin: usize,
        nout: usize,
        nfields: usize,
    },
}

const HIGH: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `input` from `p` as a little-endian word, zeros past the end.
#[inline(always)]
fn word_at(input: &[u8], p: usize) -> u64 {
    match input.get(p..p.wrapping_add(8)) {
        Some(c) => u64::from_le_bytes(c.try_into().unwrap_or_default()),
        None => {
            let mut w = [0u8; 8];
            let rest = input.get(p..).unwrap_or_default();
            let n = rest.len().min(8);
            if let (Some(d), Some(s)) = (w.get_mut(..n), rest.get(..n)) {
                d.copy_from_slice(s);
            }
            u64::from_le_bytes(w)
        }
    }
}

/// Store a word at `out[o..o + 8]` (the caller keeps room for it).
#[inline(always)]
fn store_word(out: &mut [u8], o: usize, w: u64) -> bool {
    match out.get_mut(o..o.wrapping_add(8)) {
        Some(d) => {
            d.copy_from_slice(&w.to_le_bytes());
            true
        }
        None => false,
    }
}

/// Read one *plain* record at the start of `input` without csv-core: every field is
/// either unquoted without a `"`, or `"` + text without a `"` + `"` followed by a comma,
/// a line break or the end. That is the shape of nearly every record, and for it the
/// output and field ends are exactly csv-core's (csv-core's reader is at the start of a
/// record after every record it reads, and skips line breaks there like this does), and
/// the quote walk has nothing to report. Anything else (`""`, a quote inside a field or
/// after a closing quote, a quote that never closes, a UTF-8 BOM csv-core would strip
/// when `fresh`) gives [`Fast::No`] with nothing written that matters.
///
/// The 0-based indices of the fields holding bytes ≥ 0x80 are pushed to `wide` (in
/// order), so the caller decodes those without looking for them again.
///
/// The output buffer is sized once per record (the output of a plain record is never
/// longer than its input): only the input that fits is scanned, and a record longer
/// than that is scanned again with a larger buffer.
#[inline]
fn fast_record(
    input: &[u8],
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
    wide: &mut Vec<u32>,
    fresh: bool,
) -> Fast {
    if fresh && input.starts_with(b"\xEF\xBB\xBF") {
        return Fast::No;
    }
    let start = input
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(input.len());
    if start == input.len() {
        return Fast::End;
    }
    loop {
        // Room for the output (≤ the input) plus a word stored past its end, and for a
        // field end per input byte.
        let room = out.len().saturating_sub(16);
        let lim = input.len().min(start.saturating_add(room));
        wide.clear();
        match fast_scan(input, lim, start, out, ends, wide) {
            Scan::No => return Fast::No,
            Scan::Record { nin, nout, nfields } => {
                return Fast::Record { nin, nout, nfields };
            }
            Scan::Grow => {
                let n = out.len().saturating_mul(2).max(4096);
                out.resize(n, 0);
            }
            Scan::MoreEnds => {
                let n = ends.len().saturating_mul(2).max(64);
                ends.resize(n, 0);
            }
        }
    }
}

/// The scan of [`fast_record`] over `full[..lim]`, from `start` (the record's first
/// byte). Eight bytes at a time, across fields: each word is stored
/// at its output place, and only its bytes below 0x2D (where `,` `"` CR and LF are) are
/// looked at one by one; a comma drops out of the output by storing the rest of the word
/// again one place further left.
#[inline(always)]
fn fast_scan(
    full: &[u8],
    lim: usize,
    start: usize,
    out: &mut [u8],
    ends: &mut [usize],
    wide: &mut Vec<u32>,
) -> Scan {
    const BELOW: u64 = 0x2D2D_2D2D_2D2D_2D2D;
    // Bytes below `k` of a word.
    let below = |k: usize| (1u64 << (8 * k)) - 1;
    let input = full.get(..lim).unwrap_or_default();
    let truncated = lim < full.len();
    // The input word being read; `d` input bytes were dropped so far (its output place
    // is `i - d`); the current field starts at input `fs`; `acc` has a bit set when the
    // current field held a byte ≥ 0x80 in an earlier word.
    let (mut i, mut d, mut fs) = (start, start, start);
    let mut acc = 0u64;
    let mut nf = 0usize;
    'words: loop {
        let w = word_at(input, i);
        if !store_word(out, i - d, w) {
            return Scan::No;
        }
        let mut pending = w & HIGH;
        let mut cand = !((w | HIGH) - BELOW) & HIGH & !w;
        while cand != 0 {
            let k = (cand.trailing_zeros() / 8) as usize;
            cand &= cand - 1;
            let p = i + k;
            let Some(&b) = input.get(p) else {
                // The input's end (zeros past it).
                if truncated {
                    return Scan::Grow;
                }
                let Some(e) = ends.get_mut(nf) else {
                    return Scan::MoreEnds;
                };
                *e = p - d;
                if acc | (pending & below(k)) != 0 {
                    wide.push(offset32(nf));
                }
                return Scan::Record {
                    nin: p,
                    nout: p - d,
                    nfields: nf + 1,
                };
            };
            match b {
                b',' => {
                    let Some(e) = ends.get_mut(nf) else {
                        return Scan::MoreEnds;
                    };
                    *e = p - d;
                    let m = below(k);
                    if acc | (pending & m) != 0 {
                        wide.push(offset32(nf));
                    }
                    pending &= !m;
                    acc = 0;
                    nf += 1;
                    d += 1;
                    fs = p + 1;
                    // The rest of the word, one place further left.
                    if !store_word(out, p + 1 - d, word_at(input, p + 1)) {
                        return Scan::No;
                    }
                }
                b'\r' | b'\n' => {
                    let Some(e) = ends.get_mut(nf) else {
                        return Scan::MoreEnds;
                    };
                    *e = p - d;
                    if acc | (pending & below(k)) != 0 {
                        wide.push(offset32(nf));
                    }
                    return Scan::Record {
                        nin: p + 1,
                        nout: p - d,
                        nfields: nf + 1,
                    };
                }
                b'"' => {
                    if p != fs {
                        // A quote inside a field.
                        return Scan::No;
                    }
                    let body = full.get(p + 1..).unwrap_or_default();
                    let Some(n) = memchr::memchr(b'"', body) else {
                        return Scan::No;
                    };
                    if p + n + 2 > lim {
                        // Closes past the bytes there is room for.
                        return Scan::Grow;
                    }
                    let (Some(dst), Some(src)) = (out.get_mut(p - d..p - d + n), body.get(..n))
                    else {
                        return Scan::No;
                    };
                    dst.copy_from_slice(src);
                    acc = u64::from(!src.is_ascii());
                    // Both quotes drop out; reading goes on at the byte after the closing
                    // one, which must end the field.
                    d += 2;
                    i = p + n + 2;
                    match input.get(i) {
                        Some(b',' | b'\r' | b'\n') => {}
                        None if truncated => return Scan::Grow,
                        None => {}
                        Some(_) => return Scan::No,
                    }
                    continue 'words;
                }
                _ => {}
            }
        }
        acc |= pending;
        i += 8;
    }
}

/// The character that stands in for an opening quote that never closes while its record
/// is read again (any byte csv-core treats as plain text).
const LITERAL_QUOTE: u8 = 0x01;

/// Split CSV bytes into records and fields with `csv-core`, reporting quoting and
/// encoding problems and handing each record to `visit` as soon as it is read.
///
/// The input is tokenized as bytes, which is exact for MS932 (its trail bytes, 0x40–0xFC,
/// never equal `"` `,` CR or LF) and for UTF-8. Only fields holding non-ASCII bytes are
/// decoded; all records share one text buffer and one table of field ends. Returns the
/// records `visit` kept.
///
/// An opening quote that never closes would make csv-core read the rest of the file as one
/// field; instead it is reported and taken literally, and its record is read again, so
/// every later record stays readable.
pub(crate) fn tokenize_with(input: &[u8], decode: Decode, visit: &mut impl Visit) -> Vec<Record> {
    tokenize_mode(input, decode, visit, true)
}

/// [`tokenize_with`], with plain records read by [`fast_record`] or not (then csv-core
/// reads every record; the tests compare the two).
fn tokenize_mode(
    input: &[u8],
    decode: Decode,
    visit: &mut impl Visit,
    fast_path: bool,
) -> Vec<Record> {
    if input.len() > MAX_INPUT {
        return Vec::new();
    }
    // Only set when an unterminated quote was found: a copy with such quotes replaced
    // (their offsets in `literal`).
    let mut patched: Option<Vec<u8>> = None;
    let mut literal: Vec<usize> = Vec::new();
    let mut builder = Builder {
        decode,
        // Decoded kanji take 3 bytes instead of 2; fields lose their separators.
        text: String::with_capacity(input.len() + input.len() / 8 + 64),
        ends: Vec::with_capacity(input.len() / 6 + 1),
        record: RecordBuf::default(),
        scratch: String::new(),
        table: (decode == Decode::Ms932).then(ms932_utf8),
        located: 0,
    };
    let mut metas: Vec<(usize, u32, u32)> = Vec::with_capacity(input.len() / 128 + 1);
    // csv-core's output for one record, and its field ends.
    let mut out = vec![0u8; 4096];
    let mut ends = vec![0usize; 64];
    // The fields of the record that hold bytes ≥ 0x80.
    let mut wide: Vec<u32> = Vec::new();
    let mut rdr = csv_core::Reader::new();
    let mut pos = 0usize;
    let mut number = 0usize;
    // Whether `rdr` has been given input, and whether it would have been if it had read
    // every record since it was made (csv-core strips a UTF-8 BOM at its first read only).
    let (mut rdr_used, mut rdr_due) = (false, false);
    'records: loop {
        let rec_in = pos;
        let mut opos = 0usize;
        let mut nfields = 0usize;
        let fast = if fast_path {
            let data: &[u8] = patched.as_deref().unwrap_or(input);
            fast_record(
                data.get(pos..).unwrap_or_default(),
                &mut out,
                &mut ends,
                &mut wide,
                !rdr_due,
            )
        } else {
            Fast::No
        };
        match fast {
            Fast::End => break 'records,
            Fast::Record {
                nin,
                nout,
                nfields: n,
            } => {
                pos += nin;
                opos = nout;
                nfields = n;
            }
            Fast::No => {}
        }
        if fast == Fast::No {
            loop {
                let data: &[u8] = patched.as_deref().unwrap_or(input);
                let mut rest = data.get(pos..).unwrap_or_default();
                if rdr_due && !rdr_used {
                    // One byte first, so that a BOM here is not stripped.
                    rest = rest.get(..1).unwrap_or_default();
                }
                rdr_used = true;
                if ends.len() <= nfields {
                    ends.resize(nfields * 2 + 64, 0);
                }
                if out.len() <= opos {
                    out.resize(opos * 2 + 4096, 0);
                }
                let (res, nin, nout, nend) = rdr.read_record(
                    rest,
                    out.get_mut(opos..).unwrap_or_default(),
                    ends.get_mut(nfields..).unwrap_or_default(),
                );
                pos += nin;
                opos += nout;
                nfields += nend;
                match res {
                    csv_core::ReadRecordResult::InputEmpty
                    | csv_core::ReadRecordResult::OutputFull
                    | csv_core::ReadRecordResult::OutputEndsFull => {}
                    csv_core::ReadRecordResult::Record => break,
                    csv_core::ReadRecordResult::End => break 'records,
                }
            }
        }
        rdr_due = true;
        let data: &[u8] = patched.as_deref().unwrap_or(input);
        let raw = data.get(rec_in..pos).unwrap_or_default();
        let this = number + 1;
        let rec = out.get(..opos).unwrap_or_default();
        let plain = if fast == Fast::No {
            let (first_non_ascii_at, quote) = scan_record(rec);
            let fields_out = ends.get(..nfields).unwrap_or_default();
            wide_fields(rec, fields_out, first_non_ascii_at, &mut wide);
            !quote && (surely_unquoted(raw, rec, nfields) || plainly_quoted(raw, fields_out))
        } else {
            // `fast_record` listed the wide fields.
            true
        };
        if !plain && memchr::memchr(b'"', raw).is_some() {
            let mut found = Vec::new();
            if let Some(q) = walk_quotes(raw, this, &mut |i| found.push(i)) {
                // Read this record again with the quote taken literally (the issues found
                // so far are found again then).
                let field = FieldCounter::new(raw).at(raw, q);
                visit.issue(TokenIssue::Unterminated(this, field));
                let copy = patched.get_or_insert_with(|| input.to_vec());
                if let Some(b) = copy.get_mut(rec_in + q) {
                    *b = LITERAL_QUOTE;
                    literal.push(rec_in + q);
                }
                rdr = csv_core::Reader::new();
                (rdr_used, rdr_due) = (false, false);
                pos = rec_in;
                continue;
            }
            for i in found {
                visit.issue(i);
            }
        }
        number = this;
        let ends_rec = ends.get(..nfields).unwrap_or_default();
        // Put back the quotes that were taken literally (each starts its field).
        if !literal.is_empty() {
            let mut counter = FieldCounter::new(raw);
            for &at in literal.iter().filter(|&&at| (rec_in..pos).contains(&at)) {
                let field = counter.at(raw, at - rec_in);
                let s = match field {
                    0 | 1 => 0,
                    f => ends_rec.get(f - 2).copied().unwrap_or(0),
                };
                if let Some(b) = out.get_mut(s)
                    && *b == LITERAL_QUOTE
                {
                    *b = b'"';
                }
            }
        }
        let first = builder.ends.len();
        builder.append_record(
            visit,
            number,
            out.get(..opos).unwrap_or_default(),
            ends_rec,
            &wide,
            raw,
            rec_in,
        );
        if visit.record(number, &builder.text, &builder.ends, first, nfields) {
            metas.push((number, offset32(first), offset32(nfields)));
        }
    }
    let shared = Arc::new(Shared {
        text: builder.text,
        ends: builder.ends,
    });
    metas
        .into_iter()
        .map(|(number, first, count)| Record {
            number,
            shared: Arc::clone(&shared),
            first,
            count,
        })
        .collect()
}

/// Split decoded CSV text into records (quoting problems are ignored; use
/// [`validate`](super::validate) for findings).
pub fn parse_records(text: &str) -> Vec<Record> {
    tokenize_bytes(text.as_bytes(), Decode::Utf8, |_| {})
}

/// [`tokenize_with`] keeping every record, the issues given to `issue`.
pub(crate) fn tokenize_bytes(
    input: &[u8],
    decode: Decode,
    issue: impl FnMut(TokenIssue),
) -> Vec<Record> {
    tokenize_with(input, decode, &mut KeepAll(issue))
}

/// The finding for a tokenizer issue; `shift` is added to byte offsets (a skipped BOM).
pub(crate) fn issue_finding(issue: TokenIssue, shift: usize) -> Finding {
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
        TokenIssue::NotMs932(r, f, at, byte) => Finding::error(
            "E_CSV_NOT_MS932",
            format!(
                "{r}行目 {f}項目: 先頭から{}バイト目（0x{byte:02X}）がShift-JIS（MS932）の文字として読めません。ファイルが壊れているか、別の文字コードで保存されています。介護ソフトでShift_JIS（MS932）を選んで出力し直してください。",
                at + shift + 1
            ),
        )
        .at_record(r)
        .at_field(f),
        TokenIssue::Gaiji(r, f, at, [lead, trail]) => Finding::error(
            "E_CSV_GAIJI",
            format!(
                "{r}行目 {f}項目: 先頭から{}バイト目の文字（0x{lead:02X}{trail:02X}）は外字（Shift_JISの利用者定義領域）です。外字は標準仕様で使えず、送信先では別の文字や空白になります。介護ソフトでこの文字を標準の文字（例: 「髙」→「高」）に置き換えてから出力し直してください。",
                at + shift + 1
            ),
        )
        .at_record(r)
        .at_field(f),
        TokenIssue::Utf8Part(r, f, at) => Finding::error(
            "E_CSV_UTF8_PART",
            format!(
                "{r}行目 {f}項目: 先頭から{}バイト目からの文字はUTF-8で書かれています（ファイルの一部だけがUTF-8です）。このままでは送信先で文字化けします。介護ソフトでShift_JIS（MS932）を選んで出力し直してください（表計算ソフトなどで貼り付けた文字であれば、貼り付け直してShift_JISで保存してください）。",
                at + shift + 1
            ),
        )
        .at_record(r)
        .at_field(f),
        TokenIssue::NotUtf8(r, f, at) => Finding::error(
            "E_CSV_MIXED_ENCODING",
            format!(
                "{r}行目 {f}項目: このファイルはUTF-8で保存されていますが、先頭から{}バイト目がUTF-8として読めません（UTF-8とShift_JISが混ざっています）。介護ソフトでShift_JIS（MS932）を選んで、ファイル全体を出力し直してください。",
                at + shift + 1
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

    fn tokenize(text: &str, issue: impl FnMut(TokenIssue)) -> Vec<Record> {
        tokenize_bytes(text.as_bytes(), Decode::Utf8, issue)
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
        let r = tokenize("1,\"abc\r\n2,x\r\n3,y", |i| issues.push(i));
        assert_eq!(issues, vec![TokenIssue::Unterminated(1, 2)]);
        assert_eq!(
            r.iter().map(Record::to_vec).collect::<Vec<_>>(),
            vec![vec!["1", "\"abc"], vec!["2", "x"], vec!["3", "y"]]
        );
    }

    #[test]
    fn stray_quotes() {
        let mut issues = Vec::new();
        let r = tokenize("\"ab\"c,d\"e\"", |i| issues.push(i));
        assert_eq!(r[0].to_vec(), vec!["abc", "d\"e\""]);
        assert_eq!(
            issues,
            vec![TokenIssue::AfterQuote(1, 1), TokenIssue::BareQuote(1, 2)]
        );
    }

    /// The first, byte-by-byte splitter of one record (a reference for the tokenizer).
    fn reference(line: &str) -> (Vec<String>, Vec<TokenIssue>) {
        let t = line.as_bytes();
        let mut fields = Vec::new();
        let mut issues = Vec::new();
        let mut pos = 0;
        loop {
            let no = fields.len() + 1;
            let mut value = Vec::new();
            let mut closed = false;
            if t.get(pos) == Some(&b'"') {
                let mut q = pos + 1;
                let mut content = Vec::new();
                loop {
                    match t.get(q) {
                        Some(b'"') if t.get(q + 1) == Some(&b'"') => {
                            content.push(b'"');
                            q += 2;
                        }
                        Some(b'"') => {
                            closed = true;
                            break;
                        }
                        Some(&c) => {
                            content.push(c);
                            q += 1;
                        }
                        None => break,
                    }
                }
                if closed {
                    pos = q + 1;
                    let after = pos;
                    while pos < t.len() && t[pos] != b',' {
                        content.push(t[pos]);
                        pos += 1;
                    }
                    if pos > after {
                        issues.push(TokenIssue::AfterQuote(1, no));
                    }
                    value = content;
                } else {
                    issues.push(TokenIssue::Unterminated(1, no));
                }
            }
            if !closed {
                let literal = t.get(pos) == Some(&b'"');
                let mut bare = false;
                while pos < t.len() && t[pos] != b',' {
                    bare |= t[pos] == b'"' && !(literal && value.is_empty());
                    value.push(t[pos]);
                    pos += 1;
                }
                if bare && !literal {
                    issues.push(TokenIssue::BareQuote(1, no));
                }
            }
            fields.push(String::from_utf8_lossy(&value).into_owned());
            if pos >= t.len() {
                break;
            }
            pos += 1;
        }
        (fields, issues)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The tokenizer agrees with the reference splitter on every one-line record.
        #[test]
        fn tokenizer_matches_reference(text in "[a\",x]{0,24}") {
            let mut issues = Vec::new();
            let r = tokenize(&text, |i| issues.push(i));
            let got = r.first().map(Record::to_vec).unwrap_or_else(|| vec![String::new()]);
            let (want, want_issues) = reference(&text);
            proptest::prop_assert_eq!(got, want);
            issues.sort_by_key(|i| format!("{i:?}"));
            let mut want_issues = want_issues;
            want_issues.sort_by_key(|i| format!("{i:?}"));
            proptest::prop_assert_eq!(issues, want_issues);
        }
    }

    #[test]
    fn encoding_issues_name_their_place() {
        // 「あ」 in MS932, then a 外字 (0xF040), then UTF-8 「あ」 in field 3.
        let mut b = b"202407,\"".to_vec();
        b.extend([0x82, 0xA0, 0xF0, 0x40]);
        b.extend(b"\",");
        b.extend("あい".as_bytes());
        b.extend(b"\r\n");
        let mut issues = Vec::new();
        let r = tokenize_bytes(&b, Decode::Ms932, |i| issues.push(i));
        assert_eq!(r[0].get(2), Some("あい"));
        assert_eq!(
            issues,
            vec![
                TokenIssue::Gaiji(1, 2, 10, [0xF0, 0x40]),
                TokenIssue::Utf8Part(1, 3, 14)
            ]
        );
    }

    #[test]
    fn pair_table_decodes_like_encoding_rs() {
        // Every two-byte sequence, alone and between ASCII: the table decoder either
        // gives encoding_rs's text or leaves the field to encoding_rs.
        let table = ms932_utf8();
        let mut decoded = 0;
        for lead in 0x80..=0xFFu8 {
            for trail in 0x00..=0xFFu8 {
                let bytes = [b'a', lead, trail, b'z'];
                let mut out = vec![0xFFu8; 3 * bytes.len() + 4];
                let Some((end, gaiji)) = decode_ms932_plain(&bytes, &mut out, 0, table) else {
                    continue;
                };
                decoded += 1;
                let (want, _, bad) = encoding_rs::SHIFT_JIS.decode(&bytes);
                assert!(!bad, "{lead:02X}{trail:02X}");
                assert_eq!(
                    std::str::from_utf8(&out[..end]).ok(),
                    Some(&*want),
                    "{lead:02X}{trail:02X}"
                );
                assert_eq!(
                    gaiji,
                    find_gaiji(&bytes).map(|(k, _)| k),
                    "{lead:02X}{trail:02X}"
                );
            }
        }
        assert!(decoded > 11_000, "{decoded}");
    }

    #[test]
    fn utf8_table_matches_encoding_rs_for_every_pair() {
        // Every pair lead 0x81–0xFC × trail 0x40–0xFC: the table holds exactly
        // encoding_rs's UTF-8 for it (and the 外字 flag for leads 0xF0–0xF9), or 0 where
        // encoding_rs does not decode the pair to one character.
        let table = ms932_utf8();
        let mut mapped = 0;
        for lead in 0x81..=0xFCu8 {
            for trail in 0x40..=0xFCu8 {
                let pair = [lead, trail];
                let (want, _, bad) = encoding_rs::SHIFT_JIS.decode(&pair);
                let entry = lead_row(lead)
                    .and_then(|row| table.get(row << 8 | usize::from(trail)))
                    .copied()
                    .unwrap_or(0);
                let one_char = !bad && want.chars().count() == 1;
                if !one_char {
                    assert_eq!(entry, 0, "{lead:02X}{trail:02X}");
                    continue;
                }
                mapped += 1;
                let len = (entry >> LEN_SHIFT & 3) as usize;
                let got = entry.to_le_bytes();
                assert_eq!(&got[..len], want.as_bytes(), "{lead:02X}{trail:02X}");
                assert_eq!(
                    entry & GAIJI_FLAG != 0,
                    (0xF0..=0xF9).contains(&lead),
                    "{lead:02X}{trail:02X}"
                );
                assert_eq!(
                    entry & !(GAIJI_FLAG | 3 << LEN_SHIFT | 0xFF_FFFF),
                    0,
                    "{lead:02X}{trail:02X}"
                );
            }
        }
        assert!(mapped > 9_500, "{mapped}");
        // The rows past the lead bytes' (where bytes that are neither ASCII, kana nor a
        // lead byte look) hold nothing.
        assert!(table[60 * 256..].iter().all(|&e| e == 0));
        assert!(
            (0x80..=0xFFu8)
                .filter(|&b| SINGLE[usize::from(b)] >> LEN_SHIFT == 0 && lead_row(b).is_none())
                .all(|b| SINGLE[usize::from(b)] == 63)
        );

        // All of them in one field, each followed in turn by nothing, an ASCII byte or a
        // half-width kana, written after some output already there: encoding_rs's text,
        // and the first 外字 where find_gaiji finds it.
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        let mut k = 0u8;
        for lead in (0x81..=0x9Fu8).chain(0xE0..=0xEF).chain(0xFA..=0xFC) {
            for trail in 0x40..=0xFCu8 {
                let (_, _, bad) = encoding_rs::SHIFT_JIS.decode(&[lead, trail]);
                if bad {
                    continue;
                }
                k = k.wrapping_add(1);
                let mut piece = vec![lead, trail];
                match k % 3 {
                    1 => piece.push(b'A' + k % 26),
                    2 => piece.push(0xA1 + k % 0x3F),
                    _ => {}
                }
                pieces.push(piece);
            }
        }
        let bytes = pieces.concat();
        let (want, _, bad) = encoding_rs::SHIFT_JIS.decode(&bytes);
        assert!(!bad);
        let mut out = vec![0u8; 3 * bytes.len() + 4 + 5];
        out[..5].copy_from_slice(b"head,");
        let (end, gaiji) = decode_ms932_plain(&bytes, &mut out, 5, table).unwrap();
        assert_eq!(gaiji, None);
        assert_eq!(std::str::from_utf8(&out[5..end]).unwrap(), want);
        assert_eq!(&out[..5], b"head,");
        // With a 外字 in the middle.
        let half = pieces.len() / 2;
        let before = pieces[..half].concat();
        let with_gaiji = [before.clone(), vec![0xF5, 0x80], pieces[half..].concat()].concat();
        let mut out = vec![0u8; 3 * with_gaiji.len() + 4];
        let (end, gaiji) = decode_ms932_plain(&with_gaiji, &mut out, 0, table).unwrap();
        let (want, _, bad) = encoding_rs::SHIFT_JIS.decode(&with_gaiji);
        assert!(!bad);
        assert_eq!(std::str::from_utf8(&out[..end]).unwrap(), want);
        assert_eq!(gaiji, Some(before.len()));
        assert_eq!(gaiji, find_gaiji(&with_gaiji).map(|(k, _)| k));
        // No room for the last four-byte store: left to encoding_rs.
        let (want, _, _) = encoding_rs::SHIFT_JIS.decode(&bytes);
        let mut out = vec![0u8; want.len()];
        assert_eq!(decode_ms932_plain(&bytes, &mut out, 0, table), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// A record said to be plainly quoted has nothing for the quote walk to report.
        #[test]
        fn plainly_quoted_records_have_no_quote_issues(text in "[a\",\r\n]{0,24}") {
            let bytes = text.as_bytes();
            let mut rdr = csv_core::Reader::new();
            let (mut out, mut ends) = ([0u8; 64], [0usize; 32]);
            let (res, nin, nout, nend) = rdr.read_record(bytes, &mut out, &mut ends);
            let (res, nend) = if res == csv_core::ReadRecordResult::InputEmpty {
                let (r, _, _, n) = rdr.read_record(&[], &mut out[nout..], &mut ends[nend..]);
                (r, nend + n)
            } else {
                (res, nend)
            };
            if res == csv_core::ReadRecordResult::Record {
                let raw = &bytes[..nin];
                let rec = &out[..nout];
                if !rec.contains(&b'"') && plainly_quoted(raw, &ends[..nend]) {
                    let mut found = Vec::new();
                    proptest::prop_assert_eq!(walk_quotes(raw, 1, &mut |i| found.push(i)), None);
                    proptest::prop_assert!(found.is_empty(), "{:?}", found);
                }
            }
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// Records (number and fields) and issues of one tokenizer run.
    fn run(
        input: &[u8],
        decode: Decode,
        fast: bool,
    ) -> (Vec<(usize, Vec<String>)>, Vec<TokenIssue>) {
        let mut issues = Vec::new();
        let records = tokenize_mode(input, decode, &mut KeepAll(|i| issues.push(i)), fast);
        (
            records.iter().map(|r| (r.number, r.to_vec())).collect(),
            issues,
        )
    }

    /// Pieces random files are made of: CSV syntax, ASCII text of several lengths (the
    /// fast path reads eight bytes at a time), MS932 kana and kanji, 外字, UTF-8, a BOM,
    /// bytes that are not MS932, the stand-in for a literal quote.
    fn piece() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(b",".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"\"\"".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"202504".to_vec()),
            Just(b"a b-c.d+e!f#".to_vec()),
            Just(b"0123456789ABCDEFGHIJ".to_vec()),
            Just(vec![0x82, 0xA0]),
            Just(vec![0x8A, 0xBF, 0x8E, 0x9A]),
            Just(vec![0xB1]),
            Just(vec![0xF0, 0x40]),
            Just("あい".as_bytes().to_vec()),
            Just(vec![0xEF, 0xBB, 0xBF]),
            Just(vec![0x80]),
            Just(vec![0xFF]),
            Just(vec![0x01]),
            "[a-z0-9 ]{1,11}".prop_map(String::into_bytes),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// The fast path gives exactly what csv-core alone gives: records, numbers,
        /// fields and issues (in order), for MS932 and UTF-8 input.
        #[test]
        fn fast_path_matches_csv_core(pieces in proptest::collection::vec(piece(), 0..40)) {
            let input = pieces.concat();
            for decode in [Decode::Ms932, Decode::Utf8] {
                proptest::prop_assert_eq!(run(&input, decode, true), run(&input, decode, false));
            }
        }
    }

    #[test]
    fn fast_path_edge_cases() {
        let cases: &[&[u8]] = &[
            b"",
            b"\r\n\r\n",
            b"a",
            b"a,",
            b",",
            b"\"\"",
            b"\"a\"",
            b"\"a\"b,c",
            b"\"a\"\"b\",c",
            b"\"abc",
            b"abc\"d,e",
            b"0123456789,0123456789012345\r\n\"x,\r\ny\",z\n\rlast",
            b"\xEF\xBB\xBFa,b\r\n\xEF\xBB\xBFc,d",
            b"a\r\n\xEF\xBB\xBF\"x\"\"\",d",
            b"1,\"abc\r\n\xEF\xBB\xBF2,x\r\n3,\"y\"\"\"",
            b"12345678,\"\x82\xA0\",\xF0\x40\r\n",
        ];
        for &c in cases {
            for decode in [Decode::Ms932, Decode::Utf8] {
                assert_eq!(run(c, decode, true), run(c, decode, false), "{c:?}");
            }
        }
        // Records longer than the fast path's first output buffer (it grows and reads the
        // record again), with more fields than its first table of field ends, long quoted
        // fields, and a quote that closes (or never closes) past the first buffer.
        let long_field = "x".repeat(5000);
        let many = vec!["1"; 300].join(",");
        let kanji = "\u{6f22}".repeat(2500);
        let long: Vec<Vec<u8>> = vec![
            format!("{long_field},b\r\nc,d").into_bytes(),
            format!("a,\"{long_field}\",b\r\n{many}\r\n").into_bytes(),
            format!("{many}\r\n{many},{long_field}").into_bytes(),
            format!("a,\"{long_field}").into_bytes(),
            format!("a,\"{long_field}\"x,b\r\nc").into_bytes(),
            format!("{}\r\n", "\r\n".repeat(3000)).into_bytes(),
            format!("{}a,{long_field}", "\n".repeat(5000)).into_bytes(),
            [
                format!("a,{kanji},\"{kanji}\",").as_bytes(),
                b"\xF0\x40\x82\xA0",
                format!("{long_field}\r\n1,2").as_bytes(),
            ]
            .concat(),
        ];
        for c in &long {
            for decode in [Decode::Ms932, Decode::Utf8] {
                assert_eq!(
                    run(c, decode, true),
                    run(c, decode, false),
                    "{:?}",
                    &c[..40]
                );
            }
        }
        let enc = |t: &str| encoding_rs::SHIFT_JIS.encode(t).0.into_owned();
        let sjis = enc(&format!(
            "\u{5c71}\u{7530},{kanji}a,\"\u{ff71}{long_field}\"\r\n{many}"
        ));
        assert_eq!(
            run(&sjis, Decode::Ms932, true),
            run(&sjis, Decode::Ms932, false)
        );
        // The bench's kind of file is read entirely by the fast path and gives the same.
        let big = crate::demo::large_plan_file(7, 200_000);
        assert_eq!(
            run(&big, Decode::Ms932, true),
            run(&big, Decode::Ms932, false)
        );
    }
}

#[cfg(test)]
mod utf8_field_tests {
    use super::japanese_utf8;

    #[test]
    fn ms932_kana_and_kanji_that_spell_latin_letters_are_not_utf8() {
        // ﾃ亥亜 in MS932 is valid UTF-8 ("È刟") by chance: it stays MS932.
        assert_eq!(japanese_utf8(&[0xC3, 0x88, 0xE6, 0x88, 0x9F]), None);
        // Real Japanese UTF-8 (with × and °) is still recognised.
        assert!(japanese_utf8("介護×2回 36.5°".as_bytes()).is_some());
    }
}
