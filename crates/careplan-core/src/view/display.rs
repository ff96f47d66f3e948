//! One field value as a user reads it: `20250401` → `2025/04/01`, `0930` → `09:30`,
//! 要介護状態区分 `21` → `要介護１`, サービスコード `111211` → `訪問介護`, 日割対象日 as days.
//!
//! Values that do not fit their format are shown as they are (validation reports them).

use crate::csv::{Format, Layout};
use crate::ids::service_type_label;

/// What kind of value a [`Shown`] is, so a viewer can align or style it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownKind {
    /// Empty (Null).
    Empty,
    /// Plain text or a number as written.
    Plain,
    /// A date, month or time rewritten for reading.
    DateTime,
    /// A code with its meaning from a code table.
    Code,
    /// フリーテキスト, possibly with line breaks.
    FreeText,
    /// The value does not fit its format; shown as written.
    Raw,
}

/// A field value prepared for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The text to show: the readable form (`2025/04/01`, `要介護１`), or the raw value.
    pub text: String,
    /// The value as written in the file.
    pub raw: String,
    /// The meaning of a code (`要介護１` for `21`), or the service type of a サービスコード.
    pub meaning: Option<String>,
    /// What kind of value this is.
    pub kind: ShownKind,
}

impl Shown {
    fn new(text: String, raw: &str, meaning: Option<String>, kind: ShownKind) -> Self {
        Self {
            text,
            raw: raw.to_owned(),
            meaning,
            kind,
        }
    }

    /// True when the text has line breaks.
    pub fn is_multiline(&self) -> bool {
        self.text.contains('\n')
    }

    /// The first line of the text, with `…` when more follows (for one-line table cells).
    pub fn one_line(&self) -> String {
        match self.text.split_once('\n') {
            Some((first, _)) => format!("{first} …"),
            None => self.text.clone(),
        }
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn num(s: &str) -> Option<u32> {
    if digits(s) { s.parse().ok() } else { None }
}

/// `YYYYMMDD` → `YYYY/MM/DD` when it is a plausible calendar date.
pub fn show_date(s: &str) -> Option<String> {
    if s.len() != 8 || !digits(s) {
        return None;
    }
    let y = num(s.get(..4)?)?;
    let m = num(s.get(4..6)?)?;
    let d = num(s.get(6..)?)?;
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let y32 = i32::try_from(y).ok()?;
    if d == 0 || d > u32::from(month.length(y32)) {
        return None;
    }
    Some(format!("{y:04}/{m:02}/{d:02}"))
}

/// `YYYYMM` → `YYYY/MM` when the month is 01–12.
pub fn show_month(s: &str) -> Option<String> {
    if s.len() != 6 || !digits(s) {
        return None;
    }
    let y = num(s.get(..4)?)?;
    let m = num(s.get(4..)?)?;
    (1..=12).contains(&m).then(|| format!("{y:04}/{m:02}"))
}

/// `HHMM` → `HH:MM` (00:00–24:00).
pub fn show_time(s: &str) -> Option<String> {
    if s.len() != 4 || !digits(s) {
        return None;
    }
    let h = num(s.get(..2)?)?;
    let m = num(s.get(2..)?)?;
    (h < 24 && m < 60 || h == 24 && m == 0).then(|| format!("{h:02}:{m:02}"))
}

/// 日割対象日 `1111100…` → `1〜5日`.
fn show_day_mask(s: &str) -> Option<String> {
    if !s.bytes().all(|b| b == b'0' || b == b'1') {
        return None;
    }
    let days: Vec<usize> = s
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'1')
        .map(|(i, _)| i + 1)
        .collect();
    if days.is_empty() {
        return Some("なし".to_owned());
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let start = days[i];
        let mut end = start;
        while i + 1 < days.len() && days[i + 1] == end + 1 {
            i += 1;
            end = days[i];
        }
        parts.push(if end > start {
            format!("{start}〜{end}")
        } else {
            start.to_string()
        });
        i += 1;
    }
    Some(format!("{}日", parts.join("、")))
}

/// What a サービスコード means: its service type, or the subtotal / total row of 第7表.
pub fn service_code_meaning(code: &str) -> Option<String> {
    if code == "999999" {
        return Some("合計".to_owned());
    }
    let kind = code.get(..2)?;
    let label = service_type_label(kind);
    let sub = match code.get(2..) {
        Some("AAAA") => Some("小計（区分支給限度対象）"),
        Some("EEEE") => Some("小計（区分支給限度対象外）"),
        Some("ZZZZ") => Some("小計（30日超過分）"),
        _ => None,
    };
    match (label, sub) {
        (Some(l), Some(s)) => Some(format!("{l} {s}")),
        (None, Some(s)) => Some(s.to_owned()),
        (Some(l), None) => Some(l.to_owned()),
        (None, None) => None,
    }
}

/// Line breaks of free text as `\n` (the files use CRLF or lone CR).
fn normalize_breaks(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Field `field_no` (1-based) of `layout` with value `raw`, prepared for display.
pub fn show(layout: &Layout, field_no: usize, raw: &str) -> Shown {
    if raw.is_empty() {
        return Shown::new(String::new(), raw, None, ShownKind::Empty);
    }
    let Some(def) = layout.field(field_no) else {
        // A field beyond the layout (too many fields): shown as written.
        return Shown::new(normalize_breaks(raw), raw, None, ShownKind::Raw);
    };
    let rewritten = |r: Option<String>, kind: ShownKind| match r {
        Some(t) => Shown::new(t, raw, None, kind),
        None => Shown::new(raw.to_owned(), raw, None, ShownKind::Raw),
    };
    match def.format {
        Format::Date => rewritten(show_date(raw), ShownKind::DateTime),
        Format::DateOrZero if raw == "00000000" => {
            Shown::new("なし".to_owned(), raw, None, ShownKind::DateTime)
        }
        Format::DateOrZero => rewritten(show_date(raw), ShownKind::DateTime),
        Format::Month => rewritten(show_month(raw), ShownKind::DateTime),
        Format::MonthOrZero if raw == "000000" => Shown::new(
            "なし（計画書と送る補足情報）".to_owned(),
            raw,
            None,
            ShownKind::DateTime,
        ),
        Format::MonthOrZero => rewritten(show_month(raw), ShownKind::DateTime),
        Format::Time => rewritten(show_time(raw), ShownKind::DateTime),
        Format::TimeOr9999 if raw == "9999" => {
            Shown::new("時間指定なし".to_owned(), raw, None, ShownKind::DateTime)
        }
        Format::TimeOr9999 => rewritten(show_time(raw), ShownKind::DateTime),
        Format::DayMask => rewritten(show_day_mask(raw), ShownKind::DateTime),
        Format::Code(table) => match table.meaning(raw) {
            Some(m) => Shown::new(m.to_owned(), raw, Some(m.to_owned()), ShownKind::Code),
            None => Shown::new(raw.to_owned(), raw, None, ShownKind::Raw),
        },
        Format::Alnum if def.name.ends_with("サービスコード") => {
            let meaning = service_code_meaning(raw);
            Shown::new(raw.to_owned(), raw, meaning, ShownKind::Code)
        }
        Format::Alnum if def.name.ends_with("サービス種類コード") => {
            let meaning = service_type_label(raw).map(str::to_owned);
            Shown::new(raw.to_owned(), raw, meaning, ShownKind::Code)
        }
        Format::FreeText => Shown::new(normalize_breaks(raw), raw, None, ShownKind::FreeText),
        _ => Shown::new(raw.to_owned(), raw, None, ShownKind::Plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::{Generation, layout_for};
    use crate::kind::FileKind;

    #[test]
    fn dates_months_and_times() {
        assert_eq!(show_date("20250401").as_deref(), Some("2025/04/01"));
        assert_eq!(show_date("20250229"), None);
        assert_eq!(show_date("20240229").as_deref(), Some("2024/02/29"));
        assert_eq!(show_date("2025041"), None);
        assert_eq!(show_month("202504").as_deref(), Some("2025/04"));
        assert_eq!(show_month("202513"), None);
        assert_eq!(show_time("0930").as_deref(), Some("09:30"));
        assert_eq!(show_time("2400").as_deref(), Some("24:00"));
        assert_eq!(show_time("2460"), None);
    }

    #[test]
    fn codes_and_special_values() {
        let kyo1 = layout_for(FileKind::Up1Kyo, Generation::V4);
        let s = show(kyo1, 21, "21");
        assert_eq!(s.text, "要介護１");
        assert_eq!(s.kind, ShownKind::Code);
        assert_eq!(show(kyo1, 16, "21").text, "継続");
        assert_eq!(show(kyo1, 14, "20250401").text, "2025/04/01");
        assert_eq!(show(kyo1, 21, "99").kind, ShownKind::Raw);
        let free = show(kyo1, 22, "一行目\r\n二行目");
        assert_eq!(free.text, "一行目\n二行目");
        assert!(free.is_multiline());
        assert_eq!(free.one_line(), "一行目 …");

        let plan = layout_for(FileKind::UpPlan, Generation::V4);
        assert_eq!(show(plan, 12, "9999").text, "時間指定なし");
        assert_eq!(show(plan, 12, "0930").text, "09:30");
        assert_eq!(show(plan, 5, "202504").text, "2025/04");
        assert_eq!(
            show(plan, 11, "1111100000000000000000000000001").text,
            "1〜5、31日"
        );
        let code = show(plan, 15, "111211");
        assert_eq!(code.meaning.as_deref(), Some("訪問介護"));

        let sikyu = layout_for(FileKind::UpSikyu, Generation::V4);
        assert_eq!(
            show(sikyu, 9, "11AAAA").meaning.as_deref(),
            Some("訪問介護 小計（区分支給限度対象）")
        );
        assert_eq!(show(sikyu, 9, "999999").meaning.as_deref(), Some("合計"));

        let hosoku = layout_for(FileKind::UpHosoku, Generation::V4);
        assert_eq!(show(hosoku, 4, "00000000").text, "なし");
        assert_eq!(show(hosoku, 18, "13").text, "要支援２");
        assert_eq!(show(hosoku, 7, "2").text, "女性");
        assert_eq!(show(hosoku, 99, "x").kind, ShownKind::Raw);
        assert_eq!(show(hosoku, 6, "").kind, ShownKind::Empty);
    }
}
