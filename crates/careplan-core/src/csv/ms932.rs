//! A fast MS932 → UTF-8 decoder for the reader, whose mapping is taken from encoding_rs.
//!
//! encoding_rs is the authority for MS932 (WHATWG Shift_JIS). Passing every byte of a file
//! through it costs more than the whole parse of the `csv` crate, because these files are
//! mostly ASCII with short runs of kanji. So the reader copies ASCII runs as they are and
//! looks double-byte characters up in a table that is filled, once, by asking encoding_rs
//! to decode every lead/trail pair. Anything the table cannot answer (invalid bytes) is
//! reported; a property test checks that this decoder and encoding_rs agree on all input.

use std::sync::OnceLock;

use encoding_rs::SHIFT_JIS;

const TRAILS: usize = 0xFD - 0x40;
const LEADS: usize = 60;

/// Index of a lead byte (0x81–0x9F, 0xE0–0xFC), or `None` for bytes that do not lead.
#[inline]
fn lead_index(b: u8) -> Option<usize> {
    match b {
        0x81..=0x9F => Some(usize::from(b - 0x81)),
        0xE0..=0xFC => Some(usize::from(b - 0xE0) + 31),
        _ => None,
    }
}

fn table() -> &'static [u16] {
    static TABLE: OnceLock<Box<[u16]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = vec![0u16; LEADS * TRAILS].into_boxed_slice();
        for lead in (0x81u8..=0x9F).chain(0xE0..=0xFC) {
            let Some(li) = lead_index(lead) else { continue };
            for trail in 0x40u8..=0xFC {
                let pair = [lead, trail];
                if let Some(s) =
                    SHIFT_JIS.decode_without_bom_handling_and_without_replacement(&pair)
                {
                    let mut chars = s.chars();
                    if let (Some(c), None) = (chars.next(), chars.next())
                        && let Ok(v) = u16::try_from(u32::from(c))
                        && v != 0
                    {
                        t[li * TRAILS + usize::from(trail - 0x40)] = v;
                    }
                }
            }
        }
        t
    })
}

/// The character of a single non-ASCII byte, if it stands alone in MS932.
#[inline]
fn single(b: u8) -> Option<char> {
    match b {
        // Half-width katakana.
        0xA1..=0xDF => char::from_u32(0xFF61 + u32::from(b - 0xA1)),
        // WHATWG maps 0x80 to U+0080.
        0x80 => Some('\u{80}'),
        _ => None,
    }
}

/// Length of the ASCII prefix of `b`, eight bytes at a time.
#[inline]
pub(crate) fn ascii_run(b: &[u8]) -> usize {
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let high = u64::from_le_bytes(w) & 0x8080_8080_8080_8080;
        if high != 0 {
            return i + (high.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i] < 0x80 {
        i += 1;
    }
    i
}

#[inline]
fn push_char(out: &mut Vec<u8>, c: char) {
    let v = u32::from(c);
    // Bit twiddling of UTF-8; each `as u8` keeps the low bits on purpose.
    if v < 0x80 {
        out.push(v as u8);
    } else if v < 0x800 {
        out.push(0xC0 | (v >> 6) as u8);
        out.push(0x80 | (v & 0x3F) as u8);
    } else if v < 0x1_0000 {
        out.push(0xE0 | (v >> 12) as u8);
        out.push(0x80 | ((v >> 6) & 0x3F) as u8);
        out.push(0x80 | (v & 0x3F) as u8);
    } else {
        let mut tmp = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
    }
}

/// Append the UTF-8 text of MS932 `raw` to `out`. Returns the offset (in `raw`) of the
/// first byte that is not MS932; such bytes become U+FFFD as encoding_rs would write them.
pub(crate) fn decode_into(out: &mut Vec<u8>, raw: &[u8]) -> Option<usize> {
    let table = table();
    let mut bad = None;
    let mut i = 0usize;
    let n = raw.len();
    out.reserve(n + n / 2);
    while i < n {
        // Copy the ASCII run as it is.
        let run = ascii_run(raw.get(i..).unwrap_or_default());
        if run > 0 {
            out.extend_from_slice(raw.get(i..i + run).unwrap_or_default());
            i += run;
            continue;
        }
        let b = raw[i];
        if let Some(c) = single(b) {
            push_char(out, c);
            i += 1;
            continue;
        }
        match lead_index(b) {
            Some(li) => {
                let trail = raw.get(i + 1).copied();
                let c = trail
                    .filter(|t| (0x40..=0xFC).contains(t))
                    .map(|t| table[li * TRAILS + usize::from(t - 0x40)])
                    .filter(|&v| v != 0)
                    .and_then(|v| char::from_u32(u32::from(v)));
                match c {
                    Some(c) => {
                        push_char(out, c);
                        i += 2;
                    }
                    None => {
                        bad.get_or_insert(i);
                        push_char(out, '\u{FFFD}');
                        // Like encoding_rs: an ASCII trail byte is read again as ASCII.
                        i += match trail {
                            Some(t) if t >= 0x80 => 2,
                            _ => 1,
                        };
                    }
                }
            }
            None => {
                bad.get_or_insert(i);
                push_char(out, '\u{FFFD}');
                i += 1;
            }
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::decode_into;
    use proptest::prelude::*;

    fn ours(raw: &[u8]) -> (String, bool) {
        let mut out = Vec::new();
        let bad = decode_into(&mut out, raw);
        (String::from_utf8(out).unwrap(), bad.is_some())
    }

    #[test]
    fn ascii_runs() {
        assert_eq!(super::ascii_run(b""), 0);
        assert_eq!(super::ascii_run(b"abc"), 3);
        assert_eq!(super::ascii_run(b"abcdefghij\x80"), 10);
        assert_eq!(super::ascii_run(b"abcdefg\x82"), 7);
        assert_eq!(super::ascii_run(b"\x82abcdefghij"), 0);
    }

    #[test]
    fn known_text() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("ｱｲｳ,介護①髙ソ表\\");
        assert_eq!(ours(&bytes), ("ｱｲｳ,介護①髙ソ表\\".to_owned(), false));
        assert!(ours(&[0x82, 0x20]).1);
        assert!(ours(&[0xFF]).1);
        assert!(ours(&[0x82]).1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Same text and same validity as encoding_rs on any bytes.
        #[test]
        fn agrees_with_encoding_rs(raw in prop::collection::vec(
            prop_oneof![any::<u8>(), 0x81u8..=0x9F, 0xE0u8..=0xFC, 0x40u8..=0x7E],
            0..64,
        )) {
            let (expected, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(&raw);
            let (got, bad) = ours(&raw);
            prop_assert_eq!(got, expected.into_owned());
            prop_assert_eq!(bad, had_errors);
        }
    }
}
