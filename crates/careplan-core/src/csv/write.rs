//! Writing records as an MS932 CSV file of the standard.

use crate::kind::FileKind;

use super::encoding::{EncodeError, encode_ms932, unmappable_in_field};
use super::layout::layout;

/// Append one field, quoted when it is free text (フリーテキスト) or holds `,` `"` CR or LF.
fn push_field(out: &mut String, value: &str, free_text: bool) {
    let needs = value
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if (free_text && !value.is_empty()) || needs {
        out.push('"');
        for (i, part) in value.split('"').enumerate() {
            if i > 0 {
                out.push_str("\"\"");
            }
            out.push_str(part);
        }
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// Write complete records (field 1 = CSVバージョン included) as an MS932 CSV file.
///
/// `csv_version` selects the layout that says which fields are free text: those are
/// enclosed in `"` (empty ones are written as Null, without quotes), as is any field that
/// holds `,` `"` CR or LF; `"` is escaped as `""`. Records end with CRLF. The records are
/// written as given (their field count is not checked: use `validate` on the result).
/// A character that MS932 cannot represent is refused with an error naming it, its record
/// and field.
pub fn write_csv(
    kind: FileKind,
    csv_version: &str,
    records: &[Vec<String>],
) -> Result<Vec<u8>, EncodeError> {
    let (layout, _) = layout(kind, csv_version);
    let size: usize = records
        .iter()
        .map(|r| r.iter().map(|f| f.len() + 3).sum::<usize>() + 2)
        .sum();
    let mut text = String::with_capacity(size);
    for record in records {
        for (i, value) in record.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let free = layout.field(i + 1).is_some_and(|f| f.format.is_free_text());
            push_field(&mut text, value, free);
        }
        text.push_str("\r\n");
    }
    encode_ms932(&text).map_err(|e| locate(&e, records))
}

/// Find the record and field of an unmappable character.
fn locate(err: &EncodeError, records: &[Vec<String>]) -> EncodeError {
    for (r, record) in records.iter().enumerate() {
        for (f, value) in record.iter().enumerate() {
            if value.contains(err.character) {
                return unmappable_in_field(err, value, r + 1, f + 1);
            }
        }
    }
    err.clone()
}
