//! File names of the standard (standard.md §2): parsing, building and safety checks.
//!
//! A name is read as `PREFIX_[YYYYMM_]FROM10_[SVC2_]TO10_[SVC2_]TS14[_NNNN].EXT`. The prefix
//! is matched case-insensitively, longest first (`UPKIHON_SUB1` before `UPKIHON`); the number
//! of `_`-separated segments after it decides between the v3 shape (no service-type codes)
//! and the v4 shape. Names that match no prefix are attachments (PDF等) and are not routed.

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Findings};
use crate::ids::{OfficeNumber, ServiceType};
use crate::kind::{Category, FileKind, NameShape};

/// The result of reading one file name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileName {
    /// The file name as given.
    pub file: String,
    /// The data kind, or `None` for attachments (PDF等).
    pub kind: Option<FileKind>,
    /// 登録 / 削除 / PDF等.
    pub category: Category,
    /// v3 or v4 name shape, when the segments could be counted.
    pub shape: Option<NameShape>,
    /// Sender 事業所番号.
    pub from_office: Option<OfficeNumber>,
    /// Sender サービス種類コード (v4 names).
    pub from_service: Option<ServiceType>,
    /// Destination 事業所番号.
    pub to_office: Option<OfficeNumber>,
    /// Destination サービス種類コード (v4 names).
    pub to_service: Option<ServiceType>,
    /// 対象年月 / 提供年月 `YYYYMM`, or `000000` for a 利用者補足情報 tied to a 1表/2表 set.
    pub month: Option<Month>,
    /// The 14-digit ファイル連番 (`YYYYMMDDHHMMSS`) shared by a send-set.
    pub serial: Option<Serial>,
    /// The 4-digit branch number of a family image.
    pub branch: Option<String>,
    /// Errors and warnings about the name.
    pub findings: Vec<Finding>,
}

impl FileName {
    /// True when the name has at least one error.
    pub fn has_errors(&self) -> bool {
        self.findings.has_errors()
    }

    /// True for standard data files (a kind was recognised), even with errors.
    pub fn is_data(&self) -> bool {
        self.kind.is_some()
    }

    /// The destination office when the name is a data file without errors.
    pub fn destination(&self) -> Option<&OfficeNumber> {
        if self.kind.is_some() && !self.has_errors() {
            self.to_office.as_ref()
        } else {
            None
        }
    }

    /// Build a spec-conformant name from its parts (see [`NameParts`]).
    pub fn build(parts: &NameParts) -> String {
        parts.to_name()
    }
}

macro_rules! fixed_token {
    ($(#[$m:meta])* $name:ident, $n:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $n]);

        impl $name {
            /// From ASCII text of exactly the right length (the caller checked the content).
            fn from_ascii(s: &str) -> Option<Self> {
                if !s.is_ascii() {
                    return None;
                }
                <[u8; $n]>::try_from(s.as_bytes()).ok().map(Self)
            }

            /// The token as text.
            pub fn as_str(&self) -> &str {
                std::str::from_utf8(&self.0).unwrap_or_default()
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl From<$name> for String {
            fn from(t: $name) -> String {
                t.as_str().to_owned()
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_ascii(&s).ok_or_else(|| serde::de::Error::custom(concat!("bad ", stringify!($name))))
            }
        }
    };
}

fixed_token!(
    /// A month segment of a name: `YYYYMM`, or `000000` (利用者補足情報 of a 1表 set).
    /// Stored inline: names are parsed by the ten thousand.
    Month, 6
);

fixed_token!(
    /// The 14-digit ファイル連番 `YYYYMMDDHHMMSS`, stored inline.
    Serial, 14
);

/// The parts of a name to build with [`NameParts::to_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameParts {
    /// The kind (gives the prefix).
    pub kind: FileKind,
    /// v3 (no service-type codes) or v4.
    pub shape: NameShape,
    /// `YYYYMM` (or `000000` for 補足 of a 1表 set); ignored for kinds without a month.
    pub month: Option<String>,
    /// Sender.
    pub from: OfficeNumber,
    /// Sender service type (v4).
    pub from_service: Option<ServiceType>,
    /// Destination.
    pub to: OfficeNumber,
    /// Destination service type (v4).
    pub to_service: Option<ServiceType>,
    /// 14-digit serial.
    pub serial: String,
    /// 4-digit image branch number (family image only).
    pub branch: Option<String>,
}

impl NameParts {
    /// The file name, with upper-case `.CSV` (`.JPG` for the image) as in the spec examples.
    pub fn to_name(&self) -> String {
        let mut s = String::from(self.kind.prefix());
        let mut push = |seg: &str| {
            s.push('_');
            s.push_str(seg);
        };
        if self.kind.has_month() {
            push(self.month.as_deref().unwrap_or("000000"));
        }
        push(self.from.as_str());
        if self.shape == NameShape::V4 {
            push(self.from_service.as_ref().map_or("00", |x| x.as_str()));
        }
        push(self.to.as_str());
        if self.shape == NameShape::V4 {
            push(self.to_service.as_ref().map_or("00", |x| x.as_str()));
        }
        push(&self.serial);
        if self.kind.is_image() {
            push(self.branch.as_deref().unwrap_or("0001"));
        }
        s.push_str(if self.kind.is_image() { ".JPG" } else { ".CSV" });
        s
    }
}

/// The 14-digit serial for a date-time (`YYYYMMDDHHMMSS`).
pub fn serial_for(dt: time::PrimitiveDateTime) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Reads a 14-digit serial back into a date-time, if it is a valid one.
pub fn serial_datetime(serial: &str) -> Option<time::PrimitiveDateTime> {
    let b = serial.as_bytes();
    if b.len() != 14 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |i: usize, len: usize| {
        b[i..i + len]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let year = i32::try_from(n(0, 4)).ok()?;
    let month = time::Month::try_from(u8::try_from(n(4, 2)).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(n(6, 2)).ok()?).ok()?;
    let t = time::Time::from_hms(
        u8::try_from(n(8, 2)).ok()?,
        u8::try_from(n(10, 2)).ok()?,
        u8::try_from(n(12, 2)).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, t))
}

/// Whether `s` is a valid `YYYYMM` month (years 1900–2199).
pub fn is_valid_month(s: &str) -> bool {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let y: u32 = s[..4].parse().unwrap_or(0);
    let m: u32 = s[4..].parse().unwrap_or(0);
    (1900..=2199).contains(&y) && (1..=12).contains(&m)
}

/// What each segment of a name is, for messages and diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seg {
    Month,
    From,
    FromSvc,
    To,
    ToSvc,
    Serial,
    Branch,
}

impl Seg {
    fn width(self) -> usize {
        match self {
            Seg::Month => 6,
            Seg::From | Seg::To => 10,
            Seg::FromSvc | Seg::ToSvc => 2,
            Seg::Serial => 14,
            Seg::Branch => 4,
        }
    }
    fn label(self) -> &'static str {
        match self {
            Seg::Month => "対象年月（YYYYMM）",
            Seg::From => "送信元事業所番号（10桁）",
            Seg::FromSvc => "送信元サービス種類コード（2桁）",
            Seg::To => "送信先事業所番号（10桁）",
            Seg::ToSvc => "送信先サービス種類コード（2桁）",
            Seg::Serial => "ファイル連番（YYYYMMDDHHMMSS 14桁）",
            Seg::Branch => "枝番（4桁）",
        }
    }
    fn placeholder(self) -> &'static str {
        match self {
            Seg::Month => "YYYYMM",
            Seg::From => "送信元事業所番号",
            Seg::FromSvc => "送信元サービス種類",
            Seg::To => "送信先事業所番号",
            Seg::ToSvc => "送信先サービス種類",
            Seg::Serial => "YYYYMMDDHHMMSS",
            Seg::Branch => "枝番",
        }
    }
}

/// The segments of a name after its prefix, in order (at most 7).
#[derive(Debug, Clone, Copy)]
struct Layout {
    segs: [Seg; 7],
    len: usize,
}

impl Layout {
    fn as_slice(&self) -> &[Seg] {
        &self.segs[..self.len]
    }
    fn len(&self) -> usize {
        self.len
    }
}

fn layout(kind: FileKind, shape: NameShape) -> Layout {
    let mut l = Layout {
        segs: [Seg::Serial; 7],
        len: 0,
    };
    let mut push = |s: Seg| {
        l.segs[l.len] = s;
        l.len += 1;
    };
    if kind.has_month() {
        push(Seg::Month);
    }
    push(Seg::From);
    if shape == NameShape::V4 {
        push(Seg::FromSvc);
    }
    push(Seg::To);
    if shape == NameShape::V4 {
        push(Seg::ToSvc);
    }
    push(Seg::Serial);
    if kind.is_image() {
        push(Seg::Branch);
    }
    l
}

fn pattern(kind: FileKind, shape: NameShape) -> String {
    let mut s = String::from(kind.prefix());
    for &seg in layout(kind, shape).as_slice() {
        s.push('_');
        s.push_str(seg.placeholder());
    }
    s.push_str(if kind.is_image() { ".jpg" } else { ".CSV" });
    s
}

/// The prefix (standard `UP…`/`DLT…`, or the `JP…` alias of an `UP…` prefix) that `stem`
/// starts with, case-insensitively, followed by `_` or the end; the longest one wins
/// (`UPKIHON_SUB1` before `UPKIHON`). Returns the kind, the prefix length and whether it
/// was the alias.
fn match_prefix(stem: &str) -> Option<(FileKind, usize, bool)> {
    let b = stem.as_bytes();
    // The head is everything up to the first `_`; the sub-file kinds add one more token.
    let head_len = b.iter().position(|&c| c == b'_').unwrap_or(b.len());
    if !(5..=8).contains(&head_len) {
        return None;
    }
    let mut head = [0u8; 8];
    for (d, s) in head.iter_mut().zip(&b[..head_len]) {
        *d = s.to_ascii_uppercase();
    }
    let head = &head[..head_len];
    let (alias, up_head): (bool, &[u8]) = match head {
        [b'J', b'P', rest @ ..] => (true, rest),
        [b'U', b'P', rest @ ..] => (false, rest),
        _ => (false, head),
    };
    let kind = if head.starts_with(b"DLT") {
        match head {
            b"DLT1KYO" => FileKind::Dlt1Kyo,
            b"DLTPLAN" => FileKind::DltPlan,
            b"DLTJSK" => FileKind::DltJsk,
            b"DLTKIHON" => FileKind::DltKihon,
            b"DLTYOBO" => FileKind::DltYobo,
            _ => return None,
        }
    } else if head.starts_with(b"UP") || head.starts_with(b"JP") {
        match up_head {
            b"HOSOKU" => FileKind::UpHosoku,
            b"1KYO" => FileKind::Up1Kyo,
            b"2KYO" => FileKind::Up2Kyo,
            b"3KYO" => FileKind::Up3Kyo,
            b"PLAN" => FileKind::UpPlan,
            b"JSK" => FileKind::UpJsk,
            b"SIKYU" => FileKind::UpSikyu,
            b"KIHON" => FileKind::UpKihon,
            b"YOBO" => FileKind::UpYobo,
            _ => return None,
        }
    } else {
        return None;
    };
    // Sub-files: `UPKIHON_SUB1`, `UPKIHON_SUB2`, `UPKIHON_IMAGE`, `UPYOBO_SUB`.
    let rest = &b[head_len..];
    let sub = |token: &[u8]| {
        rest.len() > token.len()
            && rest[1..=token.len()].eq_ignore_ascii_case(token)
            && matches!(rest.get(token.len() + 1), None | Some(b'_'))
    };
    let sub_kind = match kind {
        FileKind::UpKihon => [
            (&b"SUB1"[..], FileKind::UpKihonSub1),
            (&b"SUB2"[..], FileKind::UpKihonSub2),
            (&b"IMAGE"[..], FileKind::UpKihonImage),
        ]
        .into_iter()
        .find(|(t, _)| sub(t)),
        FileKind::UpYobo => sub(b"SUB").then_some((&b"SUB"[..], FileKind::UpYoboSub)),
        _ => None,
    };
    Some(match sub_kind {
        Some((t, k)) => (k, head_len + 1 + t.len(), alias),
        None => (kind, head_len, alias),
    })
}

fn attachment(file: &str) -> FileName {
    FileName {
        file: file.to_owned(),
        kind: None,
        category: Category::Attachment,
        shape: None,
        from_office: None,
        from_service: None,
        to_office: None,
        to_service: None,
        month: None,
        serial: None,
        branch: None,
        findings: Vec::new(),
    }
}

/// Whether `ext` is the extension data files of `kind` have (`.CSV`; `.jpg` for images).
fn data_extension(kind: FileKind, ext: &str) -> bool {
    if kind.is_image() {
        ext.eq_ignore_ascii_case("jpg") || ext.eq_ignore_ascii_case("jpeg")
    } else {
        ext.eq_ignore_ascii_case("csv")
    }
}

/// A stem with what a browser or Explorer adds to a second copy removed: ` (1)`, `(2)`,
/// ` - コピー`, ` - Copy`, ` - コピー (2)`. `None` when there is no such suffix.
fn strip_copy_suffix(stem: &str) -> Option<&str> {
    let mut s = stem;
    let mut found = false;
    if let Some(inner) = s.strip_suffix(')')
        && let Some(open) = inner.rfind('(')
    {
        let digits = &inner[open + 1..];
        if (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            s = inner[..open].trim_end_matches([' ', '\u{3000}']);
            found = true;
        }
    }
    for copy in [" - コピー", " - Copy", "- コピー", "-コピー"] {
        if let Some(inner) = s.strip_suffix(copy) {
            s = inner;
            found = true;
            break;
        }
    }
    found.then_some(s)
}

/// A data file name spoiled by a copy suffix or a doubled extension: the name parsed
/// without it, marked with an error that names the right name.
fn spoiled_name(file: &str, stem: &str, ext: Option<&str>) -> Option<FileName> {
    let ext = ext?;
    let plain = |e: &str| {
        e.eq_ignore_ascii_case("csv")
            || e.eq_ignore_ascii_case("jpg")
            || e.eq_ignore_ascii_case("jpeg")
    };
    if !plain(ext) {
        return None;
    }
    // `NAME.CSV.csv`
    if let Some((inner, inner_ext)) = stem.rsplit_once('.')
        && plain(inner_ext)
    {
        let fixed = format!("{inner}.{inner_ext}");
        let mut n = parse_name(&fixed);
        if n.kind.is_some() {
            n.file = file.to_owned();
            n.findings.insert(
                0,
                Finding::error(
                    "E_NAME_DOUBLE_EXTENSION",
                    format!(
                        "ファイル名の拡張子が「.{inner_ext}.{ext}」と二重になっています（Windowsで拡張子を表示しない設定のまま名前を変えると起こります）。送信先で取り込めないため、ファイル名を「{fixed}」に変えてから送ってください。"
                    ),
                ),
            );
            return Some(n);
        }
    }
    // `NAME (1).CSV`
    let base = strip_copy_suffix(stem)?;
    let fixed = format!("{base}.{ext}");
    let mut n = parse_name(&fixed);
    n.kind?;
    let added = stem.get(base.len()..).unwrap_or_default();
    n.file = file.to_owned();
    n.findings.insert(
        0,
        Finding::error(
            "E_NAME_COPY_SUFFIX",
            format!(
                "ファイル名の末尾に「{added}」が付いています。ブラウザーやエクスプローラーが同じ名前のファイルを重ねて保存したときに付ける印で、標準仕様のファイル名ではないため送信先で取り込めません。ファイル名を「{fixed}」に変えてから送ってください（同じ名前のファイルが既にある場合は、どちらが新しいか確かめてから古い方を別の場所へ移してください）。"
            ),
        ),
    );
    Some(n)
}

/// Parse one file name (a name, not a path). Never fails: problems are findings.
///
/// A data file's name with another extension (a printed plan saved as PDF) is an
/// attachment with a warning; a name with a browser's ` (1)` or a doubled extension
/// (`.CSV.csv`) is read without it, with an error that names the right name.
pub fn parse_name(file: &str) -> FileName {
    let (stem, ext) = match file.rsplit_once('.') {
        Some((s, e)) => (s, Some(e)),
        None => (file, None),
    };
    if let Some(n) = spoiled_name(file, stem, ext) {
        return n;
    }
    if let Some((kind, _, _)) = match_prefix(stem)
        && let Some(e) = ext
        && !data_extension(kind, e)
        && !e.is_empty()
    {
        let mut out = attachment(file);
        let want = if kind.is_image() { ".jpg" } else { ".CSV" };
        out.findings.push(Finding::warning(
            "W_NAME_DATA_AS_ATTACHMENT",
            format!(
                "「{}」は{}のファイル名ですが、拡張子が「.{}」のため、データファイルではなく添付ファイル（PDF等）として送ります。送信先の介護ソフトには取り込まれません。データとして送る場合は、介護ソフトから拡張子「{want}」のファイルを出力して送ってください。",
                file.chars().take(80).collect::<String>(),
                kind.label(),
                e.chars().take(10).collect::<String>()
            ),
        ));
        return out;
    }
    let Some((kind, prefix_len, alias)) = match_prefix(stem) else {
        let mut out = attachment(file);
        if ext.is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            out.findings.push(Finding::warning(
                "W_NAME_NOT_STANDARD",
                "標準仕様のファイル名ではないCSVファイルです。添付ファイル（PDF等）として扱い、送信先は自動で判定しません。",
            ));
        }
        return out;
    };

    let mut out = attachment(file);
    out.kind = Some(kind);
    out.category = kind.category();
    if alias {
        out.findings.push(Finding::warning(
            "W_NAME_JP_PREFIX",
            format!(
                "ファイル名の先頭「{}」は標準仕様にない名前です。「{}」として読み取りました。",
                &stem[..prefix_len],
                kind.prefix()
            ),
        ));
    }

    let tail = &stem[prefix_len..];
    let tail = tail.strip_prefix('_').unwrap_or(tail);
    // At most 10 segments are kept (no valid name has more than 8); more only ever makes
    // the count wrong, which `count` still tells.
    let mut buf = [""; 10];
    let v3 = layout(kind, NameShape::V3);
    let v4 = layout(kind, NameShape::V4);
    let mut count = if let Some(n) = split_fixed(tail, &v4, &mut buf) {
        n
    } else if let Some(n) = split_fixed(tail, &v3, &mut buf) {
        n
    } else {
        split_any(tail, &mut buf)
    };
    let mut segs: &[&str] = &buf[..count.min(buf.len())];

    // The start guide shows `DLT1KYO_202304_…` with a month segment: tolerate it.
    if kind == FileKind::Dlt1Kyo
        && (count == v3.len() + 1 || count == v4.len() + 1)
        && segs
            .first()
            .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()))
    {
        out.findings.push(Finding::warning(
            "W_NAME_DLT1KYO_MONTH",
            format!(
                "第1表削除のファイル名に年月「{}」が含まれています。標準仕様（v4.1）では年月はありません。年月を無視して読み取りました。",
                segs[0]
            ),
        ));
        segs = &segs[1..];
        count -= 1;
    }

    let shape = if count == v4.len() {
        NameShape::V4
    } else if count == v3.len() {
        NameShape::V3
    } else {
        out.findings.push(segment_count_error(
            kind,
            segs,
            count,
            v3.as_slice(),
            v4.as_slice(),
        ));
        check_extension(&mut out, kind, ext);
        return out;
    };
    out.shape = Some(shape);
    if shape == NameShape::V3 && kind.v4_only() {
        out.findings.push(Finding::warning(
            "W_NAME_V3_SHAPE_FOR_V4_KIND",
            format!(
                "{}は第4版以降のファイルですが、サービス種類コードのない旧形式（v3）の名前です。正しい形: {}",
                kind.label(),
                pattern(kind, NameShape::V4)
            ),
        ));
    }

    let segments = if shape == NameShape::V4 { v4 } else { v3 };
    for (&seg, &value) in segments.as_slice().iter().zip(segs) {
        read_segment(&mut out, kind, seg, value);
    }
    check_extension(&mut out, kind, ext);

    if let (Some(f), Some(t)) = (&out.from_office, &out.to_office)
        && f == t
    {
        out.findings.push(Finding::warning(
            "W_NAME_SAME_OFFICE",
            format!(
                "送信元と送信先が同じ事業所番号「{f}」です。送信先の事業所番号を確認してください。"
            ),
        ));
    }
    out
}

/// Fast path: `tail` has exactly the widths of `lay` with `_` between the segments.
fn split_fixed<'a>(tail: &'a str, lay: &Layout, out: &mut [&'a str; 10]) -> Option<usize> {
    let segs = lay.as_slice();
    let total: usize = segs.iter().map(|s| s.width()).sum::<usize>() + segs.len() - 1;
    let b = tail.as_bytes();
    if b.len() != total {
        return None;
    }
    let mut pos = 0;
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            if b[pos] != b'_' {
                return None;
            }
            pos += 1;
        }
        let w = seg.width();
        out[i] = tail.get(pos..pos + w)?;
        pos += w;
    }
    Some(segs.len())
}

/// Any `_`-separated tail: fills `out` (at most 10) and returns the real segment count.
fn split_any<'a>(tail: &'a str, out: &mut [&'a str; 10]) -> usize {
    if tail.is_empty() {
        return 0;
    }
    let mut count = 0;
    for part in tail.split('_') {
        if let Some(slot) = out.get_mut(count) {
            *slot = part;
        }
        count += 1;
    }
    count
}

fn segment_count_error(
    kind: FileKind,
    segs: &[&str],
    count: usize,
    v3: &[Seg],
    v4: &[Seg],
) -> Finding {
    // Which single segment is missing? Try each layout with one segment left out and see
    // whether every remaining width matches.
    let widths: Vec<usize> = segs.iter().map(|s| s.len()).collect();
    let missing = [v4, v3].into_iter().find_map(|lay| {
        if lay.len() != widths.len() + 1 {
            return None;
        }
        let hits: Vec<Seg> = (0..lay.len())
            .filter(|&skip| {
                lay.iter()
                    .enumerate()
                    .filter(|&(i, _)| i != skip)
                    .map(|(_, s)| s.width())
                    .eq(widths.iter().copied())
            })
            .map(|skip| lay[skip])
            .collect();
        (hits.len() == 1).then(|| hits[0])
    });
    let expected = format!(
        "正しい形: {}（v4）または {}（v3）",
        pattern(kind, NameShape::V4),
        pattern(kind, NameShape::V3)
    );
    match missing {
        Some(seg) => Finding::error(
            "E_NAME_MISSING_SEGMENT",
            format!(
                "{}のファイル名に「{}」がありません。{}",
                kind.label(),
                seg.label(),
                expected
            ),
        ),
        None => Finding::error(
            "E_NAME_SEGMENTS",
            format!(
                "{}のファイル名の区切り（_）の数が合いません（{}個の項目があります。v4は{}個、v3は{}個）。{}",
                kind.label(),
                count,
                v4.len(),
                v3.len(),
                expected
            ),
        ),
    }
}

fn read_segment(out: &mut FileName, kind: FileKind, seg: Seg, value: &str) {
    let shown = || value.chars().take(20).collect::<String>();
    match seg {
        Seg::Month => {
            let ok = is_valid_month(value) || (kind == FileKind::UpHosoku && value == "000000");
            if let (true, Some(m)) = (ok, Month::from_ascii(value)) {
                out.month = Some(m);
            } else {
                let hint = if kind == FileKind::UpHosoku {
                    "YYYYMM（例: 202504）、または第1表・第2表と送る場合は000000"
                } else {
                    "YYYYMM（例: 202504）"
                };
                out.findings.push(Finding::error(
                    "E_NAME_MONTH",
                    format!("ファイル名の対象年月「{}」が正しくありません。{hint}の形で指定してください。", shown()),
                ));
            }
        }
        Seg::From | Seg::To => {
            let (code, who) = if seg == Seg::From {
                ("E_NAME_FROM_OFFICE", "送信元")
            } else {
                ("E_NAME_TO_OFFICE", "送信先")
            };
            match OfficeNumber::parse(value) {
                Ok(n) => {
                    if let Some(mut w) = n.check_digit_warning() {
                        w.message = format!("{who}: {}", w.message);
                        out.findings.push(w);
                    }
                    if seg == Seg::From {
                        out.from_office = Some(n);
                    } else {
                        out.to_office = Some(n);
                    }
                }
                Err(e) => out.findings.push(Finding::error(
                    code,
                    format!(
                        "ファイル名の{who}事業所番号が正しくありません: {}",
                        e.message
                    ),
                )),
            }
        }
        Seg::FromSvc | Seg::ToSvc => {
            let (code, who) = if seg == Seg::FromSvc {
                ("E_NAME_FROM_SERVICE", "送信元")
            } else {
                ("E_NAME_TO_SERVICE", "送信先")
            };
            match ServiceType::parse(value) {
                Ok(s) => {
                    if seg == Seg::FromSvc {
                        out.from_service = Some(s);
                    } else {
                        out.to_service = Some(s);
                    }
                }
                Err(e) => out.findings.push(Finding::error(
                    code,
                    format!(
                        "ファイル名の{who}サービス種類コードが正しくありません: {}",
                        e.message
                    ),
                )),
            }
        }
        Seg::Serial => {
            if let (Some(_), Some(t)) = (serial_datetime(value), Serial::from_ascii(value)) {
                out.serial = Some(t);
            } else {
                out.findings.push(Finding::error(
                    "E_NAME_SERIAL",
                    format!(
                        "ファイル名の連番「{}」が正しくありません。作成日時を表す14桁の数字（YYYYMMDDHHMMSS、例: 20250401093000）で指定してください。",
                        shown()
                    ),
                ));
            }
        }
        Seg::Branch => {
            if value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit()) {
                out.branch = Some(value.to_owned());
            } else {
                out.findings.push(Finding::error(
                    "E_NAME_BRANCH",
                    format!("家族構成画像の枝番「{}」が正しくありません。4桁の数字（例: 0001）で指定してください。", shown()),
                ));
            }
        }
    }
}

fn check_extension(out: &mut FileName, kind: FileKind, ext: Option<&str>) {
    let ok = match ext {
        Some(e) if kind.is_image() => {
            e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg")
        }
        Some(e) => e.eq_ignore_ascii_case("csv"),
        None => false,
    };
    if !ok {
        let want = if kind.is_image() { ".jpg" } else { ".CSV" };
        let got = ext.map_or_else(
            || "（なし）".to_owned(),
            |e| format!(".{}", e.chars().take(10).collect::<String>()),
        );
        out.findings.push(Finding::error(
            "E_NAME_EXTENSION",
            format!(
                "{}の拡張子が「{got}」です。拡張子は「{want}」にしてください。",
                kind.label()
            ),
        ));
    }
}

pub use crate::safe_name::check_safe_file_name;

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(n: &FileName) -> Vec<&str> {
        n.findings.iter().map(|f| f.code.as_str()).collect()
    }

    fn errs(n: &FileName) -> Vec<&str> {
        n.findings
            .iter()
            .filter(|f| f.is_error())
            .map(|f| f.code.as_str())
            .collect()
    }

    #[test]
    fn every_v4_example_of_the_standard_parses() {
        let examples = [
            (
                "UPHOSOKU_000000_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::UpHosoku,
            ),
            (
                "UPHOSOKU_201909_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::UpHosoku,
            ),
            (
                "UP1KYO_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::Up1Kyo,
            ),
            (
                "DLT1KYO_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::Dlt1Kyo,
            ),
            (
                "UP2KYO_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::Up2Kyo,
            ),
            (
                "UP3KYO_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::Up3Kyo,
            ),
            (
                "UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::UpPlan,
            ),
            (
                "DLTPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::DltPlan,
            ),
            (
                "UPJSK_201912_0300000005_43_0300000100_11_20191025200201.CSV",
                FileKind::UpJsk,
            ),
            (
                "DLTJSK_201912_0300000005_43_0300000100_11_20191025200201.CSV",
                FileKind::DltJsk,
            ),
            (
                "UPSIKYU_201912_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::UpSikyu,
            ),
            (
                "UPKIHON_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::UpKihon,
            ),
            (
                "DLTKIHON_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::DltKihon,
            ),
            (
                "UPKIHON_SUB1_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::UpKihonSub1,
            ),
            (
                "UPKIHON_SUB2_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::UpKihonSub2,
            ),
            (
                "UPKIHON_IMAGE_0300000100_43_0300000005_11_20191025200201_0001.JPG",
                FileKind::UpKihonImage,
            ),
            (
                "UPYOBO_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::UpYobo,
            ),
            (
                "DLTYOBO_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::DltYobo,
            ),
            (
                "UPYOBO_SUB_0300000100_43_0300000005_11_20191025200201.CSV",
                FileKind::UpYoboSub,
            ),
        ];
        for (name, kind) in examples {
            let n = parse_name(name);
            assert_eq!(n.kind, Some(kind), "{name}");
            assert_eq!(n.shape, Some(NameShape::V4), "{name}");
            assert!(!n.has_errors(), "{name}: {:?}", n.findings);
            assert_eq!(n.serial.as_deref(), Some("20191025200201"));
            // the spec's sample numbers fail the check digit: warnings only
            assert!(
                codes(&n).iter().all(|c| *c == "W_OFFICE_CHECK_DIGIT"),
                "{name}"
            );
        }
        let img = parse_name("UPKIHON_IMAGE_0300000100_43_0300000005_11_20191025200201_0001.JPG");
        assert_eq!(img.branch.as_deref(), Some("0001"));
        let jsk = parse_name("UPJSK_201912_0300000005_43_0300000100_11_20191025200201.CSV");
        assert_eq!(jsk.from_office.unwrap().as_str(), "0300000005");
        assert_eq!(jsk.to_office.unwrap().as_str(), "0300000100");
        assert_eq!(jsk.month.as_deref(), Some("201912"));
        assert_eq!(jsk.from_service.unwrap().as_str(), "43");
    }

    #[test]
    fn v3_examples_parse() {
        let n = parse_name("UPPLAN_201912_0300000100_0300000005_20191025200201.CSV");
        assert_eq!(n.shape, Some(NameShape::V3));
        assert!(!n.has_errors());
        assert_eq!(n.from_service, None);
        let n = parse_name("UPJSK_201912_0300000005_0300000100_20191025200201.CSV");
        assert_eq!(n.kind, Some(FileKind::UpJsk));
        assert_eq!(n.shape, Some(NameShape::V3));
    }

    #[test]
    fn spec_errata_nine_digit_sender_is_an_error_naming_the_sender() {
        let n = parse_name("UP1KYO_123456789_2468135790_20191110102233.CSV");
        assert!(n.has_errors());
        assert_eq!(errs(&n), vec!["E_NAME_FROM_OFFICE"]);
        assert!(
            n.findings
                .iter()
                .find(|f| f.is_error())
                .unwrap()
                .message
                .contains("送信元")
        );
        assert!(
            n.findings
                .iter()
                .find(|f| f.is_error())
                .unwrap()
                .message
                .contains("9桁")
        );
    }

    #[test]
    fn case_insensitive_prefix_and_extension() {
        let n = parse_name("up1kyo_0300000100_43_0300000005_11_20191025200201.csv");
        assert_eq!(n.kind, Some(FileKind::Up1Kyo));
        assert!(!n.has_errors());
    }

    #[test]
    fn longest_prefix_wins() {
        let n = parse_name("UPKIHON_SUB1_0300000100_43_0300000005_11_20191025200201.CSV");
        assert_eq!(n.kind, Some(FileKind::UpKihonSub1));
        let n = parse_name("upyobo_sub_0300000100_43_0300000005_11_20191025200201.csv");
        assert_eq!(n.kind, Some(FileKind::UpYoboSub));
    }

    #[test]
    fn start_guide_variants_are_tolerated_with_warnings() {
        let n = parse_name("JP1KYO_0300000100_0300000005_20230211133000.csv");
        assert_eq!(n.kind, Some(FileKind::Up1Kyo));
        assert!(!n.has_errors());
        assert!(codes(&n).contains(&"W_NAME_JP_PREFIX"));
        let n = parse_name("JPHOSOKU_000000_0300000100_0300000005_20230211133000.csv");
        assert_eq!(n.kind, Some(FileKind::UpHosoku));
        let n = parse_name("DLT1KYO_202304_0300000100_0300000005_20230305112600.csv");
        assert_eq!(n.kind, Some(FileKind::Dlt1Kyo));
        assert!(!n.has_errors(), "{:?}", n.findings);
        assert!(codes(&n).contains(&"W_NAME_DLT1KYO_MONTH"));
        assert_eq!(n.month, None);
    }

    #[test]
    fn attachments_have_no_route() {
        for name in [
            "sample.pdf",
            "写真.JPG",
            "README",
            "UPPLANX_1.csv",
            "notes.csv",
        ] {
            let n = parse_name(name);
            assert_eq!(n.kind, None, "{name}");
            assert_eq!(n.category, Category::Attachment);
            assert!(n.destination().is_none());
            assert!(!n.has_errors());
        }
        assert!(codes(&parse_name("notes.csv")).contains(&"W_NAME_NOT_STANDARD"));
    }

    #[test]
    fn malformed_names_say_which_part_is_wrong() {
        let n = parse_name("UPPLAN_201913_0300000100_43_0300000005_11_20191025200201.CSV");
        assert_eq!(errs(&n), vec!["E_NAME_MONTH"]);
        let n = parse_name("UPPLAN_201912_0300000100_43_0300000005_11_20191325200201.CSV");
        assert!(codes(&n).contains(&"E_NAME_SERIAL"));
        let n = parse_name("UPPLAN_201912_0300000100_43_0300000005_11_2019102520020.CSV");
        assert!(
            codes(&n).contains(&"E_NAME_MISSING_SEGMENT") || codes(&n).contains(&"E_NAME_SERIAL")
        );
        // Another extension: an attachment with a warning (see data_name_with_another_extension).
        let n = parse_name("UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.TXT");
        assert!(codes(&n).contains(&"W_NAME_DATA_AS_ATTACHMENT"));
        let n = parse_name("UPPLAN_201912_0300000100_43_0300000005_11_20191025200201");
        assert!(codes(&n).contains(&"E_NAME_EXTENSION"));
        // a missing destination service type
        let n = parse_name("UPPLAN_201912_0300000100_43_0300000005_20191025200201.CSV");
        assert_eq!(errs(&n), vec!["E_NAME_MISSING_SEGMENT"]);
        assert!(
            n.findings
                .iter()
                .find(|f| f.is_error())
                .unwrap()
                .message
                .contains("送信先サービス種類コード"),
            "{}",
            n.findings[0].message
        );
        // missing month
        let n = parse_name("UPPLAN_0300000100_43_0300000005_11_20191025200201.CSV");
        assert_eq!(errs(&n), vec!["E_NAME_MISSING_SEGMENT"]);
        assert!(
            n.findings
                .iter()
                .find(|f| f.is_error())
                .unwrap()
                .message
                .contains("対象年月")
        );
        let n = parse_name("UP1KYO.csv");
        assert!(n.has_errors());
        let n = parse_name("UPPLAN_000000_0300000100_43_0300000005_11_20191025200201.CSV");
        assert_eq!(errs(&n), vec!["E_NAME_MONTH"]);
        let n = parse_name("UPKIHON_IMAGE_0300000100_43_0300000005_11_20191025200201_01.JPG");
        assert!(
            codes(&n).contains(&"E_NAME_BRANCH") || codes(&n).contains(&"E_NAME_MISSING_SEGMENT")
        );
        let n = parse_name("UPKIHON_IMAGE_0300000100_43_0300000005_11_20191025200201_0001.CSV");
        assert!(codes(&n).contains(&"W_NAME_DATA_AS_ATTACHMENT"));
    }

    #[test]
    fn built_names_parse_back() {
        let parts = NameParts {
            kind: FileKind::UpPlan,
            shape: NameShape::V4,
            month: Some("202504".into()),
            from: OfficeNumber::parse("12A8600011").unwrap(),
            from_service: Some(ServiceType::parse("43").unwrap()),
            to: OfficeNumber::parse("12A2400103").unwrap(),
            to_service: Some(ServiceType::parse("11").unwrap()),
            serial: "20250401093000".into(),
            branch: None,
        };
        let name = parts.to_name();
        assert_eq!(
            name,
            "UPPLAN_202504_12A8600011_43_12A2400103_11_20250401093000.CSV"
        );
        let n = parse_name(&name);
        assert!(n.findings.is_empty(), "{:?}", n.findings);
        assert_eq!(n.to_office, Some(parts.to));
    }

    #[test]
    fn hostile_names_do_not_panic() {
        for name in [
            "",
            ".",
            "_",
            "UP1KYO_",
            "UP1KYO____",
            "UPPLAN_ＡＢ_",
            "\u{0}UP",
            "UP1KYO_𠮷𠮷𠮷",
            "DLT1KYO_202304",
            "..CSV",
        ] {
            let _ = parse_name(name);
        }
    }

    #[test]
    fn safe_file_names() {
        assert!(check_safe_file_name("UP1KYO_0300000100_0300000005_20191025200201.CSV").is_ok());
        assert!(check_safe_file_name("利用者一覧.pdf").is_ok());
        for bad in [
            "",
            "../x.csv",
            "a/b.csv",
            "a\\b.csv",
            "..",
            "con.csv",
            "NUL",
            "x\u{0}.csv",
            "a?.csv",
            "x.csv.",
            "x ",
        ] {
            assert!(check_safe_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
