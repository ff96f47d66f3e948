//! Validation of a CSV file against its layout (standard.md §3, §4).

use std::collections::BTreeSet;

use crate::finding::{Finding, Findings, Severity};
use crate::kind::{FileKind, NameShape};
use crate::name::FileName;

use super::encoding::{Encoding, sniff};
use super::layout::{FieldDef, Format, Generation, Layout, resolve_layout, resolve_version, shown};
use super::reader::{
    Decode, MAX_INPUT, Record, TokenIssue, View, Visit, issue_finding, tokenize_with,
};

/// How many findings of one code are listed before the rest are summed up.
const MAX_PER_CODE: usize = 50;

/// The result of reading and validating one CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvReport {
    /// CSVバージョン of the first data record.
    pub csv_version: Option<String>,
    /// The layout the records were read with.
    pub layout: Option<&'static Layout>,
    /// The data records (header rows skipped), kept even when other records are broken.
    pub records: Vec<Record>,
    /// Everything found, errors and warnings.
    pub findings: Vec<Finding>,
}

impl CsvReport {
    /// True when any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.has_errors()
    }

    /// Only the errors.
    pub fn errors(&self) -> Vec<&Finding> {
        self.findings.errors()
    }

    /// Only the warnings.
    pub fn warnings(&self) -> Vec<&Finding> {
        self.findings.warnings()
    }
}

/// Collects findings, listing at most [`MAX_PER_CODE`] per code and summing up the rest.
pub(super) struct Sink {
    findings: Vec<Finding>,
    counts: Vec<(&'static str, Severity, usize)>,
}

impl Sink {
    fn new(initial: Vec<Finding>) -> Self {
        Self {
            findings: initial,
            counts: Vec::new(),
        }
    }

    /// Whether another finding of `code` would still be listed (saves building messages).
    pub(super) fn wants(&mut self, code: &'static str, severity: Severity) -> bool {
        match self.counts.iter_mut().find(|(c, _, _)| *c == code) {
            Some(entry) => {
                entry.2 += 1;
                entry.2 <= MAX_PER_CODE
            }
            None => {
                self.counts.push((code, severity, 1));
                true
            }
        }
    }

    pub(super) fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    /// Add the findings of `other`, collected on its own, as if they had been collected
    /// here after the ones already here.
    fn merge(&mut self, other: Sink) {
        for f in other.findings {
            let counted = other
                .counts
                .iter()
                .find(|(c, _, _)| *c == f.code)
                .map(|&(c, s, _)| (c, s));
            match counted {
                Some((code, severity)) => {
                    if self.wants(code, severity) {
                        self.findings.push(f);
                    }
                }
                None => self.findings.push(f),
            }
        }
        // The ones `other` only counted.
        for (code, severity, n) in other.counts {
            let unlisted = n.saturating_sub(MAX_PER_CODE);
            if unlisted == 0 {
                continue;
            }
            match self.counts.iter_mut().find(|(c, _, _)| *c == code) {
                Some(entry) => entry.2 += unlisted,
                None => self.counts.push((code, severity, unlisted)),
            }
        }
    }

    fn finish(mut self) -> Vec<Finding> {
        for (code, severity, n) in self.counts {
            if n > MAX_PER_CODE {
                let msg = format!(
                    "同じ種類の指摘（{code}）がほかに{}件あります。上の指摘を参考に、介護ソフトの出力を確認してください。",
                    n - MAX_PER_CODE
                );
                self.findings.push(match severity {
                    Severity::Error => Finding::error(code, msg),
                    Severity::Warning => Finding::warning(code, msg),
                });
            }
        }
        self.findings
    }
}

/// Read and validate a CSV file of `kind`.
///
/// `name` is the parsed file name when known: its month, shape and sender are compared with
/// the content. Readable records are kept even when others are broken, so a viewer can show
/// a damaged file.
pub fn validate(kind: FileKind, name: Option<&FileName>, bytes: &[u8]) -> CsvReport {
    if kind.is_image() {
        let (_, findings) = resolve_layout(kind, "");
        return CsvReport {
            csv_version: None,
            layout: None,
            records: Vec::new(),
            findings,
        };
    }
    let sniffed = sniff(bytes);
    let mut sink = Sink::new(sniffed.findings);
    if bytes.len() > MAX_INPUT {
        sink.push(Finding::error(
            "E_CSV_TOO_LARGE",
            format!(
                "ファイルが大きすぎます（{}バイト）。1GiBを超えるCSVは読み込めません。ファイルを分けて出力し直してください。",
                bytes.len()
            ),
        ));
    }
    if bytes.is_empty() || bytes.len() > MAX_INPUT {
        return CsvReport {
            csv_version: None,
            layout: None,
            records: Vec::new(),
            findings: sink.finish(),
        };
    }
    let shift = bytes.len() - sniffed.body.len();
    let decode = match sniffed.encoding {
        Encoding::Ms932 => Decode::Ms932,
        Encoding::Utf8 => Decode::Utf8,
    };
    let mut reading = Reading {
        kind,
        shift,
        issues: Sink::new(Vec::new()),
        skipped: Sink::new(Vec::new()),
        checks: Sink::new(Vec::new()),
        seen: 0,
        data: None,
    };
    // The records are checked while they are read; the findings of each step are listed
    // in the order of the steps (tokenizer, header rows, layout, records, rules).
    let records = tokenize_with(sniffed.body, decode, &mut reading);
    sink.merge(reading.issues);
    if reading.seen == 0 {
        sink.push(Finding::error(
            "E_CSV_EMPTY",
            "ファイルに空行しかありません（データがありません）。介護ソフトで出力し直してください。",
        ));
        return CsvReport {
            csv_version: None,
            layout: None,
            records,
            findings: sink.finish(),
        };
    }
    sink.merge(reading.skipped);
    let Some(data) = reading.data else {
        sink.push(Finding::error(
            "E_CSV_NO_RECORDS",
            "データ行がありません（1項目目がCSVバージョン（YYYYMMの6桁）の行が1行もありません）。介護ソフトで出力し直してください。",
        ));
        return CsvReport {
            csv_version: None,
            layout: None,
            records,
            findings: sink.finish(),
        };
    };
    let (version, layout) = (data.version, data.layout);
    for f in data.layout_findings {
        sink.push(f.at_record(data.first_number).at_field(1));
    }
    sink.merge(reading.checks);
    check_months(&mut sink, kind, layout, name, &records);
    super::rules::check(&mut sink, kind, layout, name, &records);
    if let Some(name) = name {
        check_name(&mut sink, kind, layout, name, &version, &records);
    }

    CsvReport {
        csv_version: Some(version),
        layout: Some(layout),
        records,
        findings: sink.finish(),
    }
}

/// What the first data record decided: the version, the layout, and the state of the
/// record checks.
struct DataState {
    version: String,
    layout: &'static Layout,
    /// Record number of the first data record.
    first_number: usize,
    layout_findings: Vec<Finding>,
    /// `ok[i]`: whether field `i` of the last record that had it was fine.
    ok: Vec<bool>,
    /// How many of `ok[1..]` are false.
    bad: usize,
    /// The previous data record (first field index and count in the tokenizer's table).
    prev: Option<(usize, usize)>,
}

/// The validator's side of the tokenizer: findings of the tokenizer, header rows skipped,
/// and every data record checked as soon as it is read.
struct Reading {
    kind: FileKind,
    /// Added to byte offsets (a skipped BOM).
    shift: usize,
    issues: Sink,
    skipped: Sink,
    checks: Sink,
    /// Records read, header rows included.
    seen: usize,
    data: Option<DataState>,
}

impl Visit for Reading {
    fn issue(&mut self, issue: TokenIssue) {
        let (code, severity) = issue.code();
        if self.issues.wants(code, severity) {
            self.issues.push(issue_finding(issue, self.shift));
        }
    }

    fn record(
        &mut self,
        number: usize,
        text: &str,
        ends: &[u32],
        first: usize,
        count: usize,
    ) -> bool {
        self.seen += 1;
        let r = View::new(text, ends, first, count);
        let f1 = r.raw(0);
        if !(f1.len() == 6 && all_digits(f1)) {
            if self.skipped.wants("W_CSV_ROW_SKIPPED", Severity::Warning) {
                skipped_finding(&mut self.skipped, number, r.get(0).unwrap_or_default());
            }
            return false;
        }
        let kind = self.kind;
        let data = self.data.get_or_insert_with(|| {
            let version = r.get(0).unwrap_or_default().to_owned();
            let (layout, layout_findings) = resolve_layout(kind, &version);
            DataState {
                ok: vec![false; layout.fields.len()],
                bad: layout.fields.len().saturating_sub(1),
                version,
                layout,
                first_number: number,
                layout_findings,
                prev: None,
            }
        });
        let prev = data.prev.map(|(f, c)| View::new(text, ends, f, c));
        check_record(
            &mut self.checks,
            data.layout,
            &data.version,
            number,
            r,
            prev,
            &mut data.ok,
            &mut data.bad,
        );
        data.prev = Some((first, count));
        true
    }
}

#[cold]
#[inline(never)]
fn skipped_finding(sink: &mut Sink, number: usize, first: &str) {
    sink.push(
        Finding::warning(
            "W_CSV_ROW_SKIPPED",
            format!(
                "{}行目は1項目目「{}」がCSVバージョン（YYYYMMの6桁）ではないため、見出し行とみなして読み飛ばしました。データ行であれば、1項目目にCSVバージョン（例: 202407）を出力してください。",
                number,
                shown(first)
            ),
        )
        .at_record(number)
        .at_field(1),
    );
}

/// Check one record. `prev` is the record before it and `ok[i]` whether its field `i` was
/// fine: a coded value equal to a fine one just above is not checked again (the rows of one
/// user repeat 保険者番号, 被保険者番号, dates, months, office numbers and codes).
#[allow(clippy::too_many_arguments)]
fn check_record(
    sink: &mut Sink,
    layout: &Layout,
    version: &str,
    n_record: usize,
    r: View<'_>,
    prev: Option<View<'_>>,
    ok: &mut [bool],
    bad: &mut usize,
) {
    let n = n_record;
    if let Some(v) = r.get(0)
        && v != version
        && sink.wants("E_CSV_VERSION_MIXED", Severity::Error)
    {
        sink.push(
            Finding::error(
                "E_CSV_VERSION_MIXED",
                format!(
                    "{n}行目のCSVバージョンが「{}」で、最初のデータ行（{version}）と異なります。1つのファイルに異なるCSVバージョンのレコードを混在させることはできません。バージョンごとに別のファイルとして出力し直してください。",
                    shown(v)
                ),
            )
            .at_record(n)
            .at_field(1),
        );
    }
    let expected = layout.fields.len();
    if r.len() != expected && sink.wants("E_CSV_FIELD_COUNT", Severity::Error) {
        let hint = other_generation_hint(layout, r.len());
        sink.push(
            Finding::error(
                "E_CSV_FIELD_COUNT",
                format!(
                    "{n}行目の項目数が{}です。{}（CSVバージョン {version}）は{expected}項目です。{hint}介護ソフトで出力し直してください。",
                    r.len(),
                    layout.kind.label(),
                ),
            )
            .at_record(n),
        );
    }
    // Field 1 (the version) is checked above; the fields are walked with their offsets.
    // A field equal to the one above is found without comparing it: the records are
    // compared once, from the front and from the back, and a field lies in the common
    // front (or back) at the same offsets.
    let (text, ends) = (r.text(), r.ends());
    let start0 = r.start();
    let rec = text
        .get(start0..ends.last().map_or(start0, |&e| e as usize))
        .unwrap_or_default();
    let above = prev.map(|p| {
        let s = p.start();
        let e = p.ends().last().map_or(s, |&e| e as usize);
        (p.ends(), s, p.text().get(s..e).unwrap_or_default())
    });
    let (above_ends, above_start, above_rec) = above.unwrap_or((&[], 0, &[]));
    let front = common_prefix(rec, above_rec);
    let back = common_suffix(rec, above_rec);
    let defs = layout.fields;
    let n = ends.len().min(defs.len()).min(ok.len());
    let (len, above_len) = (rec.len(), above_rec.len());
    // Offsets of field ends from the record's start.
    let rel = |k: usize| ends.get(k).map(|&e| e as usize - start0);
    let above_rel = |k: usize| above_ends.get(k).map(|&e| e as usize - above_start);
    // Fields 1..lo end where the ones above end, inside the common front: equal.
    let mut lo = 0usize;
    while lo < n
        && let (Some(x), Some(y)) = (rel(lo), above_rel(lo))
        && x == y
        && x <= front
    {
        lo += 1;
    }
    // Fields hi.. start and end where the ones above do, counted from the record's end,
    // inside the common back (with as many fields above): equal. Field `hi - 1` joins
    // when its start (the end of field `hi - 2`) does.
    let mut hi = ends.len();
    if above_ends.len() == ends.len() {
        while hi >= 2
            && hi > lo
            && let (Some(x), Some(y)) = (rel(hi - 2), above_rel(hi - 2))
            && len - x == above_len - y
            && len - x <= back
        {
            hi -= 1;
        }
    }
    // When every field above was fine, only the fields between the common front and back
    // need a look.
    let first = if *bad == 0 { lo.max(1) } else { 1 };
    let last = if *bad == 0 { hi.min(n) } else { n };
    let mut at = first
        .checked_sub(1)
        .and_then(|k| ends.get(k))
        .map_or(0, |&e| e as usize);
    for i in first..last {
        let (Some(&end), Some(def), Some(slot)) = (ends.get(i), defs.get(i), ok.get_mut(i)) else {
            break;
        };
        let field = text.get(at..end as usize).unwrap_or_default();
        at = end as usize;
        if *slot && (i < lo || i >= hi) {
            continue;
        }
        let fine = check_field(sink, n_record, def, field);
        if fine != *slot {
            *slot = fine;
            if fine {
                *bad = bad.saturating_sub(1);
            } else {
                *bad += 1;
            }
        }
    }
}

/// How many bytes `a` and `b` have in common from the front (eight at a time).
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0usize;
    while i + 8 <= n {
        let (Some(x), Some(y)) = (a.get(i..i + 8), b.get(i..i + 8)) else {
            break;
        };
        let x = u64::from_le_bytes(x.try_into().unwrap_or_default());
        let y = u64::from_le_bytes(y.try_into().unwrap_or_default());
        if x != y {
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a.get(i) == b.get(i) {
        i += 1;
    }
    i
}

/// How many bytes `a` and `b` have in common from the back (eight at a time).
#[inline]
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (la, lb) = (a.len(), b.len());
    let mut i = 0usize;
    while i + 8 <= n {
        let (Some(x), Some(y)) = (a.get(la - i - 8..la - i), b.get(lb - i - 8..lb - i)) else {
            break;
        };
        let x = u64::from_le_bytes(x.try_into().unwrap_or_default());
        let y = u64::from_le_bytes(y.try_into().unwrap_or_default());
        if x != y {
            return i + ((x ^ y).leading_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a.get(la - i - 1) == b.get(lb - i - 1) {
        i += 1;
    }
    i
}

fn other_generation_hint(layout: &Layout, got: usize) -> String {
    let other = if layout.is_v4() {
        Generation::V3
    } else {
        Generation::V4
    };
    let o = super::layout::layout_for(layout.kind, other);
    if o.fields.len() == got && o.version != layout.version {
        format!(
            "この項目数はCSVバージョン{}のレイアウトと同じです。1項目目のCSVバージョンと項目の並びが合っているか確認し、",
            o.version
        )
    } else {
        String::new()
    }
}

/// Check one field value; pushes at most one finding.
/// Check one field value; pushes at most one finding. The checks are inline, the
/// reporting is out of line (it is rare).
/// Returns whether the value is fine (no finding).
#[inline]
fn check_field(sink: &mut Sink, record: usize, def: &FieldDef, value: &[u8]) -> bool {
    if value.is_empty() {
        if def.required {
            report_required(sink, record, def);
            return false;
        }
        return true;
    }
    if let Some(len) = def.len {
        let len = usize::from(len);
        // Characters = bytes that are not UTF-8 continuation bytes.
        if value.len() > len && value.iter().filter(|&&b| (b & 0xC0) != 0x80).count() > len {
            report_length(sink, record, def, as_str(value));
            return false;
        }
    }
    if matches!(def.format, Format::Text | Format::FreeText) {
        return true;
    }
    match check_format(def.format, value) {
        Some(problem) => {
            report_problem(sink, record, def, as_str(value), problem);
            false
        }
        None => true,
    }
}

#[cold]
#[inline(never)]
fn report_required(sink: &mut Sink, record: usize, def: &FieldDef) {
    if !sink.wants("E_CSV_REQUIRED", Severity::Error) {
        return;
    }
    let no = usize::from(def.no);
    sink.push(
        Finding::error(
            "E_CSV_REQUIRED",
            format!(
                "{record}行目 {no}項目「{}」が空です。必須項目のため、介護ソフトで入力してから出力し直してください。",
                def.name
            ),
        )
        .at_record(record)
        .at_field(no),
    );
}

#[cold]
#[inline(never)]
fn report_length(sink: &mut Sink, record: usize, def: &FieldDef, value: &str) {
    if !sink.wants("E_CSV_LENGTH", Severity::Error) {
        return;
    }
    let no = usize::from(def.no);
    let chars = value.chars().count();
    let len = def.len.unwrap_or_default();
    sink.push(
        Finding::error(
            "E_CSV_LENGTH",
            format!(
                "{record}行目 {no}項目「{}」が{chars}文字です。この項目は{len}文字以内です。介護ソフトで内容を確認して出力し直してください。",
                def.name
            ),
        )
        .at_record(record)
        .at_field(no),
    );
}

#[cold]
#[inline(never)]
fn report_problem(sink: &mut Sink, record: usize, def: &FieldDef, value: &str, problem: Problem) {
    let no = usize::from(def.no);
    let (code, severity) = match problem {
        Problem::Code => ("W_CSV_CODE", Severity::Warning),
        Problem::Format(_) => ("E_CSV_FORMAT", Severity::Error),
    };
    if !sink.wants(code, severity) {
        return;
    }
    let f = match problem {
        Problem::Code => {
            let table = match def.format {
                Format::Code(t) => t.describe(),
                _ => String::new(),
            };
            Finding::warning(
                code,
                format!(
                    "{record}行目 {no}項目「{}」の「{}」はコード表にない値です。使えるコード: {table}。送信先で取り込めない可能性があるため、介護ソフトの設定を確認してください。",
                    def.name,
                    shown(value)
                ),
            )
        }
        Problem::Format(expect) => {
            let what = if def.format == Format::Insured {
                format!("{}文字の値", value.chars().count())
            } else {
                format!("「{}」", shown(value))
            };
            Finding::error(
                code,
                format!(
                    "{record}行目 {no}項目「{}」が{what}です。{expect}の形式で出力し直してください。",
                    def.name
                ),
            )
        }
    };
    sink.push(f.at_record(record).at_field(no));
}

enum Problem {
    Format(&'static str),
    Code,
}

pub(super) fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

fn num(s: &[u8]) -> u32 {
    s.iter().fold(0u32, |acc, &b| {
        acc.saturating_mul(10)
            .saturating_add(u32::from(b.wrapping_sub(b'0')))
    })
}

pub(crate) fn is_date(b: &[u8]) -> bool {
    if b.len() != 8 || !all_digits(b) {
        return false;
    }
    let y = num(&b[0..4]);
    let m = num(&b[4..6]);
    let d = num(&b[6..8]);
    if !(1868..=2199).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let dim = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= dim
}

pub(crate) fn is_month(b: &[u8]) -> bool {
    b.len() == 6
        && all_digits(b)
        && (1868..=2199).contains(&num(&b[0..4]))
        && (1..=12).contains(&num(&b[4..6]))
}

fn is_time(b: &[u8]) -> bool {
    if b.len() != 4 || !all_digits(b) {
        return false;
    }
    let h = num(&b[0..2]);
    let m = num(&b[2..4]);
    (h < 24 && m < 60) || (h == 24 && m == 0)
}

fn is_integer(b: &[u8]) -> bool {
    all_digits(b.strip_prefix(b"-").unwrap_or(b))
}

fn is_decimal(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"-").unwrap_or(b);
    let mut parts = b.splitn(2, |&c| c == b'.');
    let int = parts.next().unwrap_or_default();
    match parts.next() {
        None => all_digits(int),
        Some(frac) => all_digits(int) && all_digits(frac),
    }
}

fn is_office(b: &[u8]) -> bool {
    b.len() == 10
        && b.iter().enumerate().all(|(i, &c)| {
            c.is_ascii_digit()
                || (i == 2 && c.is_ascii_uppercase() && !matches!(c, b'I' | b'O' | b'Q'))
        })
}

/// A field as text for messages (field bytes are always whole UTF-8 characters).
fn as_str(v: &[u8]) -> &str {
    std::str::from_utf8(v).unwrap_or_default()
}

fn check_format(format: Format, v: &[u8]) -> Option<Problem> {
    let ok = match format {
        Format::Text | Format::FreeText => true,
        Format::Version => is_month(v),
        Format::Digits => all_digits(v),
        Format::Integer => is_integer(v),
        Format::Decimal => is_decimal(v),
        Format::Alnum => v.iter().all(u8::is_ascii_alphanumeric),
        Format::Date => is_date(v),
        Format::DateOrZero => v == b"00000000" || is_date(v),
        Format::Month => is_month(v),
        Format::MonthOrZero => v == b"000000" || is_month(v),
        Format::Time => is_time(v),
        Format::TimeOr9999 => v == b"9999" || is_time(v),
        Format::DayMask => v.iter().all(|&b| b == b'0' || b == b'1'),
        Format::Insurer => v.len() == 6 && all_digits(v),
        Format::Insured => {
            v.len() == 10 && (all_digits(v) || (v[0] == b'H' && all_digits(&v[1..])))
        }
        Format::Office => is_office(v),
        Format::Code(table) => {
            let known = table.codes.iter().any(|(c, _)| c.as_bytes() == v);
            return (!known).then_some(Problem::Code);
        }
    };
    if ok {
        return None;
    }
    Some(Problem::Format(match format {
        Format::Version => "YYYYMM（例: 202407）",
        Format::Digits => "半角数字",
        Format::Integer => "半角の整数（例: 350、-20）",
        Format::Decimal => "半角の数値（例: 10.21）",
        Format::Alnum => "半角英数字（例: 111111、11AAAA）",
        Format::Date => "YYYYMMDD（例: 20250401）の実在する日付",
        Format::DateOrZero => "YYYYMMDD（例: 20250401、該当なしは00000000）",
        Format::Month => "YYYYMM（例: 202504）",
        Format::MonthOrZero => "YYYYMM（例: 202504、第1表・第2表に紐づく場合は000000）",
        Format::Time => "HHMM（例: 0930）",
        Format::TimeOr9999 => "HHMM（例: 0930。時間のないサービスは9999）",
        Format::DayMask => "日ごとに0か1を並べた31桁以内（例: 1111100000000000000000000000000）",
        Format::Insurer => "半角数字6桁",
        Format::Insured => "半角数字10桁（生活保護単独の場合は「H」＋数字9桁）",
        Format::Office => "10桁の事業所番号（3桁目のみ英大文字可）",
        Format::Text | Format::FreeText | Format::Code(_) => "正しい値",
    }))
}

/// The 1-based number of the field holding the service month, for kinds that have one.
pub(crate) fn month_field(kind: FileKind, layout: &Layout) -> Option<usize> {
    let name = match kind {
        FileKind::UpPlan | FileKind::UpJsk | FileKind::UpSikyu | FileKind::UpHosoku => "対象年月",
        FileKind::DltPlan | FileKind::DltJsk => "削除対象年月",
        _ => return None,
    };
    layout
        .fields
        .iter()
        .position(|f| f.name == name)
        .map(|p| p + 1)
}

fn check_months(
    sink: &mut Sink,
    kind: FileKind,
    layout: &Layout,
    name: Option<&FileName>,
    records: &[Record],
) {
    let Some(mf) = month_field(kind, layout) else {
        return;
    };
    let mut months = BTreeSet::new();
    // Rows of one month follow one another: the set is touched when the month changes.
    let mut last = None;
    for r in records {
        if let Some(m) = r.get(mf - 1)
            && !m.is_empty()
            && last != Some(m)
        {
            months.insert(m);
            last = Some(m);
        }
    }
    if kind.is_monthly() && months.len() > 1 {
        let list: Vec<String> = months.iter().take(6).map(|m| shown(m)).collect();
        sink.push(
            Finding::error(
                "E_CSV_MONTHS_MIXED",
                format!(
                    "1つのファイルに複数の対象年月（{}）のデータがあります。{}は1ファイルに1か月分しか入れられません。対象年月ごとに別のファイルとして出力し直してください。",
                    list.join("、"),
                    kind.label()
                ),
            )
            .at_field(mf),
        );
    }
    let Some(name_month) = name.and_then(|n| n.month.as_deref()) else {
        return;
    };
    if let Some(r) = records.iter().find(|r| {
        r.get(mf - 1)
            .is_some_and(|m| !m.is_empty() && m != name_month)
    }) {
        let m = r.get(mf - 1).unwrap_or_default();
        let field_name = layout.field(mf).map_or("対象年月", |f| f.name);
        sink.push(
            Finding::error(
                "E_CSV_NAME_MONTH",
                format!(
                    "{}行目 {mf}項目「{field_name}」が「{}」ですが、ファイル名の年月は「{name_month}」です。ファイル名と中身の年月を合わせて出力し直してください。",
                    r.number,
                    shown(m)
                ),
            )
            .at_record(r.number)
            .at_field(mf),
        );
    }
}

fn check_name(
    sink: &mut Sink,
    kind: FileKind,
    layout: &Layout,
    name: &FileName,
    version: &str,
    records: &[Record],
) {
    let (generation, _) = resolve_version(version);
    match (name.shape, generation) {
        (Some(NameShape::V4), Generation::V3) if !kind.v4_only() => sink.push(Finding::warning(
            "W_CSV_NAME_SHAPE",
            format!(
                "ファイル名は第4版の形（サービス種類コード付き）ですが、CSVバージョンは「{}」（第3版以前）です。送信先の介護ソフトが取り込めるか確認してください。",
                shown(version)
            ),
        )),
        (Some(NameShape::V3), Generation::V4) => sink.push(Finding::warning(
            "W_CSV_NAME_SHAPE",
            format!(
                "CSVバージョンは「{}」（第4版）ですが、ファイル名にサービス種類コードがありません（第3版の形）。第4版のファイル名（例: {}_…_送信元事業所番号_43_送信先事業所番号_11_…）で出力し直してください。",
                shown(version),
                kind.prefix()
            ),
        )),
        _ => {}
    }
    let Some(from) = name.from_office.as_ref() else {
        return;
    };
    let Some(uf) = layout
        .fields
        .iter()
        .position(|f| f.name == "更新業者コード")
        .map(|p| p + 1)
    else {
        return;
    };
    if let Some(r) = records.iter().find(|r| {
        r.get(uf - 1)
            .is_some_and(|v| !v.is_empty() && v != from.as_str())
    }) {
        let v = r.get(uf - 1).unwrap_or_default();
        sink.push(
            Finding::warning(
                "W_CSV_SENDER",
                format!(
                    "{}行目 {uf}項目「更新業者コード」が「{}」で、ファイル名の送信元事業所番号「{}」と異なります。別の事業所のデータでないか確認してください。",
                    r.number,
                    shown(v),
                    from
                ),
            )
            .at_record(r.number)
            .at_field(uf),
        );
    }
}
