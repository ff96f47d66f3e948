//! A hand-written RFC 4180 style tokenizer over decoded text.
//!
//! Quoted fields may hold commas, CR/LF and `""`; records end with CRLF, LF or a lone CR;
//! the last record needs no line end; blank lines are skipped. It never panics: every
//! slice is cut at an ASCII delimiter, which is always a UTF-8 character boundary.

use crate::finding::Finding;

/// One record (data row) of a CSV file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// 1-based record number: the n-th non-blank row of the file, header rows included.
    pub number: usize,
    /// The fields, unquoted and unescaped.
    pub fields: Vec<String>,
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

/// Split text into records and fields, reporting quoting problems.
pub(crate) fn tokenize(text: &str, mut issue: impl FnMut(TokenIssue)) -> Vec<Record> {
    let b = text.as_bytes();
    let n = b.len();
    let slice = |from: usize, to: usize| text.get(from..to).unwrap_or_default();
    let mut records: Vec<Record> = Vec::new();
    let mut i = 0usize;
    let mut number = 0usize;
    let mut width = 8usize;
    // After an unterminated quote, no `"` remains in the text: re-read that field as plain.
    let mut quote_recovery_at: Option<usize> = None;
    while i < n {
        if b[i] == b'\n' || b[i] == b'\r' {
            i += 1;
            continue;
        }
        number += 1;
        let mut fields: Vec<String> = Vec::with_capacity(width);
        loop {
            let field_no = fields.len() + 1;
            if i < n && b[i] == b'"' && quote_recovery_at != Some(i) {
                let open = i;
                i += 1;
                let mut value = String::new();
                let mut seg = i;
                let mut closed = false;
                while let Some(k) = b
                    .get(i..)
                    .and_then(|rest| rest.iter().position(|&c| c == b'"'))
                {
                    let q = i + k;
                    if b.get(q + 1) == Some(&b'"') {
                        value.push_str(slice(seg, q + 1));
                        i = q + 2;
                        seg = i;
                    } else {
                        value.push_str(slice(seg, q));
                        i = q + 1;
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    issue(TokenIssue::Unterminated(number, field_no));
                    // Read the field again as an unquoted one, from its opening quote.
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
                    value.push_str(slice(after, i));
                }
                fields.push(value);
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
                fields.push(slice(start, i).to_owned());
            }
            if i >= n {
                break;
            }
            match b[i] {
                b',' => {
                    i += 1;
                    if i >= n {
                        fields.push(String::new());
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
        width = fields.len().max(1);
        records.push(Record { number, fields });
    }
    records
}

/// Split decoded CSV text into records (quoting problems are ignored; use
/// [`validate`](super::validate) for findings).
pub fn parse_records(text: &str) -> Vec<Record> {
    tokenize(text, |_| {})
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
        parse_records(text).into_iter().map(|r| r.fields).collect()
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
        assert_eq!(r[2].fields, vec!["3"]);
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
            r.into_iter().map(|r| r.fields).collect::<Vec<_>>(),
            vec![vec!["1", "\"abc"], vec!["2", "x"], vec!["3", "y"]]
        );
    }

    #[test]
    fn stray_quotes() {
        let mut issues = Vec::new();
        let r = tokenize("\"ab\"c,d\"e\"", |i| issues.push(i));
        assert_eq!(r[0].fields, vec!["abc", "d\"e\""]);
        assert_eq!(
            issues,
            vec![TokenIssue::AfterQuote(1, 1), TokenIssue::BareQuote(1, 2)]
        );
    }
}
