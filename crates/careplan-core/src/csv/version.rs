//! Cheap look-up of the CSVバージョン (field 1 of the first data record).

/// How many records [`read_csv_version`] looks at before giving up (header rows are skipped).
const MAX_RECORDS_SCANNED: usize = 64;

/// The CSVバージョン (field 1, `YYYYMM`) of the first data record, without decoding the file.
///
/// Cheap: it scans raw bytes (MS932 trail bytes never collide with `"` `,` CR LF, so this
/// is safe on Shift-JIS), skips a UTF-8 BOM and rows whose field 1 is not 6 digits (header
/// rows), stops at the first data record and never looks past the first 64 records.
/// Returns `None` when no record starts with 6 digits.
pub fn read_csv_version(bytes: &[u8]) -> Option<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut pos = 0usize;
    for _ in 0..MAX_RECORDS_SCANNED {
        if pos >= bytes.len() {
            return None;
        }
        // Skip blank lines.
        while pos < bytes.len() && (bytes[pos] == b'\r' || bytes[pos] == b'\n') {
            pos += 1;
        }
        if pos >= bytes.len() {
            return None;
        }
        let (first, next) = first_field_and_next_record(bytes, pos);
        let first = first.trim_ascii();
        if first.len() == 6 && first.iter().all(u8::is_ascii_digit) {
            return std::str::from_utf8(first).ok().map(str::to_owned);
        }
        pos = next;
    }
    None
}

/// The first field of the record starting at `start` (quotes removed when it is quoted and
/// simple) and the offset where the next record starts.
fn first_field_and_next_record(bytes: &[u8], start: usize) -> (&[u8], usize) {
    let mut i = start;
    let mut in_quotes = false;
    let mut field_end: Option<usize> = None;
    let quoted_first = bytes.get(start) == Some(&b'"');
    while i < bytes.len() {
        let b = bytes[i];
        if in_quotes {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                in_quotes = false;
            }
            i += 1;
            continue;
        }
        match b {
            // A quote opens a quoted field only at the start of a field (as in the reader).
            b'"' if i == start || bytes[i - 1] == b',' => in_quotes = true,
            b',' if field_end.is_none() => field_end = Some(i),
            b'\r' | b'\n' => {
                let end = field_end.unwrap_or(i);
                let mut next = i + 1;
                if b == b'\r' && bytes.get(next) == Some(&b'\n') {
                    next += 1;
                }
                return (unquote(&bytes[start..end], quoted_first), next);
            }
            _ => {}
        }
        i += 1;
    }
    let end = field_end.unwrap_or(bytes.len());
    (unquote(&bytes[start..end], quoted_first), bytes.len())
}

fn unquote(field: &[u8], quoted: bool) -> &[u8] {
    if quoted && field.len() >= 2 && field.ends_with(b"\"") {
        &field[1..field.len() - 1]
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::read_csv_version;

    #[test]
    fn first_data_record() {
        assert_eq!(
            read_csv_version(b"202407,131011,0000000001\r\n"),
            Some("202407".into())
        );
        assert_eq!(
            read_csv_version(b"\"202208\",131011\n"),
            Some("202208".into())
        );
        assert_eq!(read_csv_version(b"202407"), Some("202407".into()));
    }

    #[test]
    fn skips_header_and_blank_rows() {
        let data = "\r\nCSVバージョン,保険者番号\r\n202407,1\r\n";
        assert_eq!(read_csv_version(data.as_bytes()), Some("202407".into()));
        let data = b"\xEF\xBB\xBF\"a\r\n202208,\",x\r\n202003,1\r\n";
        assert_eq!(read_csv_version(data), Some("202003".into()));
    }

    #[test]
    fn bare_quote_does_not_open_a_field() {
        let data = b"x\"y,1\r\n202407,2\r\n";
        assert_eq!(read_csv_version(data), Some("202407".into()));
    }

    #[test]
    fn none_when_absent() {
        assert_eq!(read_csv_version(b""), None);
        assert_eq!(read_csv_version(b"abc,def\n\"unterminated"), None);
        assert_eq!(read_csv_version(b"20240,1\n2024071,2"), None);
    }
}
