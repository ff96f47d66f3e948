//! File names from strangers: which names may be written to a disk, which attachments may
//! be sent or saved, and which names of one send would land on the same file.
//!
//! Every check here works by an **allow-list** (house style: "names from strangers are
//! allowed by a list, not refused by one"):
//!
//! - [`check_safe_file_name`]: a name is made only of letters, marks, digits, punctuation,
//!   symbols and the two ordinary spaces (U+0020, U+3000), minus `/ \ < > : " | ? *`; no
//!   control, format, invisible, private-use or unassigned character; no leading dot or
//!   space, no trailing dot or space; no Windows device name before any extension.
//! - [`check_attachment`]: an attachment (a name that is not a standard data file) must end
//!   in an extension of the [`AttachmentPolicy`] (default:
//!   [`DEFAULT_ATTACHMENT_EXTENSIONS`]); [`REFUSED_EXTENSIONS`] and [`REFUSED_NAMES`] are
//!   refused whatever the policy says.
//! - [`check_name_clashes`]: names of one send that differ only in case or Unicode
//!   normalisation (NFC/NFKC) are reported, since Windows and macOS would store them as one.
//!
//! Every refusal is an error [`Finding`] with a Japanese message that says what is wrong and
//! what to do. Pure: no file system.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::finding::Finding;

/// The longest accepted name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Windows device names: a name whose part before the first dot is one of these (in any
/// case, also after NFKC, so `ＣＯＮ` and `COM¹` count) cannot be a file name.
pub const RESERVED_DEVICE_NAMES: [&str; 33] = [
    "CON", "PRN", "AUX", "NUL", "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7",
    "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6",
    "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³", "CONIN$", "CONOUT$", "CLOCK$",
];

/// The extensions of attachments allowed by default (compared without case): documents,
/// pictures and spreadsheets that care offices exchange. `zip` is **not** in the list: an
/// archive can carry any file, past every check here.
pub const DEFAULT_ATTACHMENT_EXTENSIONS: [&str; 20] = [
    "pdf", "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "heic", "txt", "csv", "doc", "docx",
    "xls", "xlsx", "ppt", "pptx", "odt", "ods", "rtf",
];

/// Extensions refused whatever the policy says: files that run code, open other places or
/// mount disks when double-clicked (shortcuts, search connectors, scripts, installers,
/// libraries, disk images, Java archives …). Compared without case.
pub const REFUSED_EXTENSIONS: [&str; 52] = [
    "lnk",
    "url",
    "library-ms",
    "searchconnector-ms",
    "search-ms",
    "settingcontent-ms",
    "appref-ms",
    "scf",
    "exe",
    "com",
    "pif",
    "bat",
    "cmd",
    "ps1",
    "psm1",
    "psd1",
    "ps1xml",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "wsc",
    "hta",
    "msi",
    "msp",
    "mst",
    "msix",
    "msixbundle",
    "appx",
    "appxbundle",
    "application",
    "reg",
    "dll",
    "ocx",
    "sys",
    "drv",
    "scr",
    "cpl",
    "inf",
    "chm",
    "hlp",
    "gadget",
    "xll",
    "iso",
    "img",
    "vhd",
    "vhdx",
    "jar",
    "jnlp",
    "diagcab",
];

/// Whole names refused whatever the policy says (compared without case): files that
/// Windows Explorer reads by themselves when it shows or mounts the folder.
pub const REFUSED_NAMES: [&str; 3] = ["desktop.ini", "thumbs.db", "autorun.inf"];

/// Extensions of standard data files (the CSV files and the family image), always allowed
/// for names that [`crate::parse_name`] recognises as data files.
const DATA_EXTENSIONS: [&str; 3] = ["csv", "jpg", "jpeg"];

/// Which attachments (files that are not standard data files) may be sent or saved: an
/// allow-list of extensions. [`Default`] is [`DEFAULT_ATTACHMENT_EXTENSIONS`]; an office or
/// a relay operator can narrow or widen it with [`AttachmentPolicy::new`] or
/// [`AttachmentPolicy::parse`], but never to one of [`REFUSED_EXTENSIONS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentPolicy {
    /// Lower-case extensions without the dot, in the order given, without duplicates.
    extensions: Vec<String>,
}

impl Default for AttachmentPolicy {
    fn default() -> Self {
        Self {
            extensions: DEFAULT_ATTACHMENT_EXTENSIONS
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
        }
    }
}

impl AttachmentPolicy {
    /// A policy allowing exactly `extensions` (with or without the leading dot, any case).
    /// An empty list allows no attachment at all (data files only). Fails with
    /// `E_ATTACHMENT_POLICY` for an extension that is empty, not ASCII letters/digits/`-`,
    /// longer than 20 characters, or one of [`REFUSED_EXTENSIONS`].
    pub fn new<I, S>(extensions: I) -> Result<Self, Finding>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out: Vec<String> = Vec::new();
        for raw in extensions {
            let raw = raw.as_ref().trim();
            let e = raw.strip_prefix('.').unwrap_or(raw).to_ascii_lowercase();
            let bad = |why: &str| {
                Err(Finding::error(
                    "E_ATTACHMENT_POLICY",
                    format!(
                        "添付ファイルの拡張子の設定「{}」は使えません（{why}）。設定を直してください。",
                        shown(raw)
                    ),
                ))
            };
            if e.is_empty() {
                return bad("空です");
            }
            if e.len() > 20 || !e.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return bad("半角英数字と「-」の20文字以内で書いてください");
            }
            if REFUSED_EXTENSIONS.contains(&e.as_str()) {
                return bad("開くとプログラムが動くおそれのある種類は許可できません");
            }
            if !out.contains(&e) {
                out.push(e);
            }
        }
        Ok(Self { extensions: out })
    }

    /// A policy from a list written in a settings file: extensions separated by commas,
    /// semicolons or white space (`"pdf, jpg .png"`). See [`AttachmentPolicy::new`].
    pub fn parse(list: &str) -> Result<Self, Finding> {
        Self::new(
            list.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .filter(|s| !s.is_empty()),
        )
    }

    /// The allowed extensions (lower case, without the dot).
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// True when attachments ending in `.ext` are allowed (`ext` without the dot, any case).
    pub fn allows(&self, ext: &str) -> bool {
        let e = ext.to_ascii_lowercase();
        !REFUSED_EXTENSIONS.contains(&e.as_str()) && self.extensions.contains(&e)
    }
}

/// Why a character is not allowed, or `None` when it is.
fn char_problem(c: char) -> Option<&'static str> {
    if c == '/' || c == '\\' {
        return Some("フォルダの区切り（/ \\）を含んでいます");
    }
    if "<>:\"|?*".contains(c) {
        return Some("< > : \" | ? * は使えません");
    }
    if c.is_control() {
        return Some("制御文字を含んでいます");
    }
    if is_default_ignorable(c) || c.general_category() == GeneralCategory::Format {
        return Some("見えない文字や文字の向きを変える制御文字を含んでいます");
    }
    if c == '\u{FFFD}' {
        return Some("文字化けした文字（U+FFFD）を含んでいます");
    }
    match c.general_category_group() {
        GeneralCategoryGroup::Letter
        | GeneralCategoryGroup::Mark
        | GeneralCategoryGroup::Number
        | GeneralCategoryGroup::Punctuation
        | GeneralCategoryGroup::Symbol => None,
        GeneralCategoryGroup::Separator if c == ' ' || c == '\u{3000}' => None,
        GeneralCategoryGroup::Separator => Some("通常の空白以外の空白・改行文字を含んでいます"),
        GeneralCategoryGroup::Other => match c.general_category() {
            GeneralCategory::PrivateUse => Some("外字（私用領域の文字）を含んでいます"),
            _ => Some("この環境で扱えない文字を含んでいます"),
        },
    }
}

/// Unicode's Default_Ignorable_Code_Point: characters drawn as nothing (zero-width spaces
/// and joiners, direction marks and overrides, variation selectors, fillers, tags …).
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// True when `c` may appear in a file name (see [`check_safe_file_name`]).
pub fn is_allowed_char(c: char) -> bool {
    char_problem(c).is_none()
}

/// The name as it can be shown in a message: characters that are not allowed become
/// `[U+XXXX]` (so that a direction override cannot reorder the message), at most 60
/// characters.
fn shown(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 60 {
            out.push('…');
            break;
        }
        if is_allowed_char(c) || c == '/' || c == '\\' || "<>:\"|?*".contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("[U+{:04X}]", u32::from(c)));
        }
    }
    out
}

/// The text before the first dot, without trailing spaces, in upper case: what Windows
/// compares with its device names.
fn device_base(name: &str) -> String {
    name.split('.')
        .next()
        .unwrap_or(name)
        .trim_end_matches([' ', '\u{3000}'])
        .to_uppercase()
}

/// True when the part of `name` before its first dot is a Windows device name
/// ([`RESERVED_DEVICE_NAMES`]), compared without case, as written and after NFKC.
pub fn is_reserved_device_name(name: &str) -> bool {
    // The reserved names after NFKC, worked out once (this runs for every name of every
    // send and list).
    static RESERVED_NFKC: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        RESERVED_DEVICE_NAMES
            .iter()
            .map(|r| r.nfkc().collect())
            .collect()
    });
    let raw = device_base(name);
    let nfkc = device_base(&name.nfkc().collect::<String>());
    RESERVED_DEVICE_NAMES
        .iter()
        .zip(RESERVED_NFKC.iter())
        .any(|(r, rn)| *r == raw || *r == nfkc || *rn == nfkc)
}

fn unsafe_name(name: &str, why: &str) -> Finding {
    Finding::error(
        "E_NAME_UNSAFE",
        format!(
            "ファイル名「{}」は使えません（{why}）。ファイル名を変えてください。受信したファイルの場合は、送信元に名前を変えて送り直すよう依頼してください。",
            shown(name)
        ),
    )
}

/// Checks that a file name from the network or from a user is safe to use as one file
/// name on any OS. Allowed: at most [`MAX_NAME_CHARS`] characters, each a letter, mark,
/// digit, punctuation or symbol, or one of the spaces U+0020 and U+3000; not any of
/// `/ \ < > : " | ? *`. Refused besides: control, format and invisible characters (e.g.
/// U+202E, U+200B, U+FEFF), other spaces, private-use and unassigned characters, U+FFFD,
/// `.` and `..`, a leading dot or space, a trailing dot or space, and a Windows device name
/// before any extension (`CON.txt.csv`, `COM¹`, `CONIN$` …). Code `E_NAME_UNSAFE`.
pub fn check_safe_file_name(name: &str) -> Result<(), Finding> {
    if name.is_empty() {
        return Err(unsafe_name(name, "名前が空です"));
    }
    let n = name.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(unsafe_name(
            name,
            &format!("{MAX_NAME_CHARS}文字を超えています（{n}文字）"),
        ));
    }
    if name == "." || name == ".." {
        return Err(unsafe_name(name, "フォルダを指す名前です"));
    }
    if let Some(why) = name.chars().find_map(char_problem) {
        return Err(unsafe_name(name, why));
    }
    if name.starts_with('.') {
        return Err(unsafe_name(
            name,
            "先頭が「.」です（隠しファイルになります）",
        ));
    }
    if name.starts_with([' ', '\u{3000}']) {
        return Err(unsafe_name(name, "先頭が空白です"));
    }
    if name.ends_with(['.', ' ', '\u{3000}']) {
        return Err(unsafe_name(
            name,
            "末尾が「.」または空白です（Windowsでは消えてしまいます）",
        ));
    }
    if is_reserved_device_name(name) {
        return Err(unsafe_name(
            name,
            "CON・PRN・AUX・NUL・COM1・LPT1などのWindowsの予約名です",
        ));
    }
    Ok(())
}

/// The extension of `name` (after the last dot) when it has a non-empty stem and a
/// non-empty extension.
fn extension(name: &str) -> Option<&str> {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext),
        _ => None,
    }
}

fn refused_type(name: &str, why: String) -> Finding {
    Finding::error(
        "E_ATTACHMENT_TYPE",
        format!(
            "ファイル「{}」は送受信できません。{why}受信したファイルの場合は、送信元にこのことを伝えて送り直しを依頼してください。",
            shown(name)
        ),
    )
}

/// Decides whether a file may be sent or saved by its type. Standard data files (a kind
/// that [`crate::parse_name`] recognises, ending in `.csv`/`.jpg`/`.jpeg`) are always
/// allowed; any other name is an attachment and must end in an extension of `policy`.
/// [`REFUSED_NAMES`] and [`REFUSED_EXTENSIONS`] are refused for every name. Extensions and
/// names are compared without case and also after NFKC. Code `E_ATTACHMENT_TYPE`.
///
/// This does not check the characters of the name: use [`check_transfer_name`] for both.
pub fn check_attachment(name: &str, policy: &AttachmentPolicy) -> Result<(), Finding> {
    let folded = name.nfkc().collect::<String>().to_lowercase();
    if REFUSED_NAMES
        .iter()
        .any(|r| name.eq_ignore_ascii_case(r) || folded == *r)
    {
        return Err(refused_type(
            name,
            "フォルダの表示や自動実行に使われる特別な名前です。送る必要のないファイルですので、外してください。".into(),
        ));
    }
    let ext = extension(name);
    let folded_ext = extension(&folded);
    for e in [ext, folded_ext].into_iter().flatten() {
        let e = e.to_lowercase();
        if REFUSED_EXTENSIONS.contains(&e.as_str()) {
            return Err(refused_type(
                name,
                format!(
                    "「.{}」のファイルは、開くとプログラムが動いたり別の場所を開いたりするおそれがあるため、送受信できません。PDF等に変換して送ってください。",
                    shown(&e)
                ),
            ));
        }
    }
    let Some(ext) = ext else {
        return Err(refused_type(
            name,
            "拡張子がないため種類が分かりません。「.pdf」などの拡張子を付けてください。".into(),
        ));
    };
    let lower = ext.to_ascii_lowercase();
    if DATA_EXTENSIONS.contains(&lower.as_str()) && crate::name::parse_name(name).kind.is_some() {
        return Ok(());
    }
    if policy.allows(ext) {
        return Ok(());
    }
    let list = if policy.extensions().is_empty() {
        "この設定では添付ファイルは送受信できません".to_owned()
    } else {
        format!("使える種類: {}", policy.extensions().join("、"))
    };
    Err(refused_type(
        name,
        format!(
            "添付ファイルの種類「.{}」は許可されていません（{list}）。PDF等に変換して送るか、必要なら管理者に許可する種類の設定を依頼してください。",
            shown(ext)
        ),
    ))
}

/// Both checks for a name that a stranger sent or a user picked: [`check_safe_file_name`],
/// then [`check_attachment`] with `policy`.
pub fn check_transfer_name(name: &str, policy: &AttachmentPolicy) -> Result<(), Finding> {
    check_safe_file_name(name)?;
    check_attachment(name, policy)
}

/// The key under which two names count as the same file: NFKC, lower case, NFKC again.
pub fn clash_key(name: &str) -> String {
    name.nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect()
}

/// Names of one send that would be one file on a case-insensitive or normalising file
/// system (Windows, macOS): names equal after NFKC and case folding ([`clash_key`]), the
/// same name twice included. One `E_NAME_CLASH` error per group of such names, in the
/// order the first name of each group appears; empty when there is no clash.
pub fn check_name_clashes<S: AsRef<str>>(names: &[S]) -> Vec<Finding> {
    let keys: Vec<String> = names.iter().map(|n| clash_key(n.as_ref())).collect();
    let mut out = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if keys[..i].contains(key) {
            continue;
        }
        let group: Vec<&str> = names
            .iter()
            .zip(&keys)
            .filter(|(_, k)| *k == key)
            .map(|(n, _)| n.as_ref())
            .collect();
        if group.len() < 2 {
            continue;
        }
        let first = group[0];
        let message = if group.iter().all(|n| *n == first) {
            format!(
                "同じ名前のファイル「{}」が{}つあります。1つにするか、名前を変えてください。",
                shown(first),
                group.len()
            )
        } else {
            format!(
                "ファイル名{}は、大文字・小文字、全角・半角、文字の合成の違いしかないため、保存先で同じファイルになってしまいます。どれか1つを残すか、名前をはっきり変えてください。",
                group
                    .iter()
                    .map(|n| format!("「{}」", shown(n)))
                    .collect::<String>()
            )
        };
        out.push(Finding::error("E_NAME_CLASH", message));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsafe_why(name: &str) -> String {
        match check_safe_file_name(name) {
            Ok(()) => panic!("{name:?} was accepted"),
            Err(f) => {
                assert_eq!(f.code, "E_NAME_UNSAFE");
                assert!(f.is_error());
                assert!(f.message.contains("変えて"), "{}", f.message);
                f.message
            }
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for ok in [
            "UP1KYO_0300000100_0300000005_20191025200201.CSV",
            "利用者一覧.pdf",
            "ケアプラン（第2版）【確定】.docx",
            "報告書　令和7年4月.xlsx",
            "a b.c.d.txt",
            "CONSENT.pdf",
            "console.txt",
            "COM10.txt",
            "LPT.txt",
            "NULL.csv",
            "x.con",
            "データ\u{3099}.pdf", // NFD voiced mark as macOS writes it
            "café.pdf",
            "émoji😀.png",
            "~$tmp.docx",
            "100%_#1&2=3+4@5.txt",
        ] {
            assert_eq!(check_safe_file_name(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn separators_and_dots_are_refused() {
        for bad in ["../x.csv", "a/b.csv", "a\\b.csv", ".", "..", "/", "\\x"] {
            unsafe_why(bad);
        }
        assert!(unsafe_why("").contains("空"));
        assert!(unsafe_why(".bashrc").contains("先頭が「.」"));
        assert!(unsafe_why(".careplan-x.part").contains("先頭が「.」"));
        assert!(unsafe_why("x.csv.").contains("末尾"));
        assert!(unsafe_why("x ").contains("末尾"));
        assert!(unsafe_why("x.pdf\u{3000}").contains("末尾"));
        assert!(unsafe_why(" x.pdf").contains("先頭が空白"));
    }

    #[test]
    fn windows_characters_are_refused() {
        for c in ['<', '>', ':', '"', '|', '?', '*'] {
            let name = format!("a{c}b.txt");
            assert!(unsafe_why(&name).contains("< >"), "{name}");
        }
        // An NTFS alternate data stream.
        unsafe_why("x.pdf:Zone.Identifier");
    }

    #[test]
    fn controls_and_invisible_characters_are_refused() {
        let mut bad: Vec<char> = (0u32..0x20).filter_map(char::from_u32).collect();
        bad.extend(['\u{7F}', '\u{85}', '\u{9F}']);
        bad.extend('\u{202A}'..='\u{202E}');
        bad.extend('\u{2066}'..='\u{2069}');
        bad.extend('\u{200B}'..='\u{200F}');
        bad.extend([
            '\u{FEFF}',
            '\u{00AD}',
            '\u{2060}',
            '\u{061C}',
            '\u{180E}',
            '\u{FE0F}',
            '\u{E0001}',
            '\u{3164}',
            '\u{FFF9}',
        ]);
        for c in bad {
            let name = format!("invoice{c}fdp.exe");
            let why = unsafe_why(&name);
            // The message names the code point and never carries the character itself.
            assert!(
                why.contains(&format!("[U+{:04X}]", u32::from(c))),
                "{c:?}: {why}"
            );
            assert!(!why.contains(c), "{c:?}");
        }
    }

    #[test]
    fn every_format_character_is_refused() {
        for c in (0u32..=0x10FFFF).filter_map(char::from_u32) {
            if c.general_category() == GeneralCategory::Format || c.is_control() {
                assert!(!is_allowed_char(c), "{c:?}");
            }
        }
    }

    #[test]
    fn odd_spaces_private_use_and_replacement_are_refused() {
        for c in ['\u{A0}', '\u{2002}', '\u{202F}', '\u{2028}', '\u{2029}'] {
            assert!(unsafe_why(&format!("a{c}b.pdf")).contains("空白"), "{c:?}");
        }
        assert!(unsafe_why("山\u{E000}.pdf").contains("外字"));
        assert!(unsafe_why("\u{FFFD}.pdf").contains("文字化け"));
        unsafe_why("a\u{0378}.pdf"); // unassigned
    }

    #[test]
    fn device_names_are_refused_before_any_extension() {
        for bad in [
            "CON",
            "con",
            "Con.txt",
            "CON.txt.csv",
            "CON .txt",
            "PRN.pdf",
            "AUX",
            "nul.tar.gz",
            "COM0",
            "COM1.pdf",
            "com9",
            "LPT0.txt",
            "lpt9.pdf",
            "COM¹",
            "COM².txt",
            "com³.pdf",
            "LPT¹",
            "LPT².txt",
            "LPT³",
            "CONIN$",
            "conout$.txt",
            "CLOCK$",
            "ＣＯＮ.txt",
            "ＣＯＭ１.pdf",
            "CON　.pdf",
        ] {
            assert!(unsafe_why(bad).contains("予約名"), "{bad:?}");
        }
    }

    #[test]
    fn length_is_counted_in_characters() {
        let ok = "あ".repeat(196) + ".pdf";
        assert_eq!(check_safe_file_name(&ok), Ok(()));
        let long = "あ".repeat(197) + ".pdf";
        assert!(unsafe_why(&long).contains("201文字"));
    }

    #[test]
    fn messages_are_short_and_clean() {
        let name = format!("{}\u{202E}{}.pdf", "あ".repeat(100), "x".repeat(50));
        let why = unsafe_why(&name);
        assert!(why.contains('…'));
        assert!(!why.contains('\u{202E}'));
    }

    #[test]
    fn default_policy_allows_office_documents_and_data_files() {
        let p = AttachmentPolicy::default();
        for ok in [
            "計画書.pdf",
            "写真.JPG",
            "写真.jpeg",
            "scan.TIFF",
            "img.heic",
            "メモ.txt",
            "一覧.csv",
            "a.doc",
            "a.docx",
            "a.xls",
            "a.xlsx",
            "a.ppt",
            "a.pptx",
            "a.odt",
            "a.ods",
            "a.rtf",
            "a.png",
            "a.gif",
            "a.bmp",
            "a.tif",
            "UP1KYO_0300000100_0300000005_20191025200201.CSV",
        ] {
            assert_eq!(check_attachment(ok, &p), Ok(()), "{ok:?}");
            assert_eq!(check_transfer_name(ok, &p), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn refused_types_are_refused_whatever_the_policy() {
        let p = AttachmentPolicy::default();
        for bad in [
            "run.lnk",
            "RUN.LNK",
            "x.library-ms",
            "x.searchConnector-ms",
            "x.url",
            "x.scf",
            "invoice.pdf.exe",
            "x.com",
            "x.bat",
            "x.cmd",
            "x.ps1",
            "x.vbs",
            "x.js",
            "x.jse",
            "x.wsf",
            "x.hta",
            "x.msi",
            "x.msix",
            "x.appx",
            "x.reg",
            "x.dll",
            "x.scr",
            "x.cpl",
            "x.iso",
            "x.img",
            "x.vhd",
            "x.vhdx",
            "x.jar",
            "x.ｌｎｋ",
        ] {
            let f = check_attachment(bad, &p).expect_err(bad);
            assert_eq!(f.code, "E_ATTACHMENT_TYPE");
            assert!(f.message.contains("プログラム"), "{bad}: {}", f.message);
        }
        for bad in ["desktop.ini", "Desktop.INI", "thumbs.db", "AUTORUN.INF"] {
            let f = check_attachment(bad, &p).expect_err(bad);
            assert!(f.message.contains("特別な名前"), "{bad}: {}", f.message);
        }
        // Even a policy built around the check cannot allow them.
        let wide = AttachmentPolicy {
            extensions: vec!["lnk".into(), "ini".into()],
        };
        assert!(check_attachment("run.lnk", &wide).is_err());
        assert!(check_attachment("desktop.ini", &wide).is_err());
        assert_eq!(check_attachment("settings.ini", &wide), Ok(()));
    }

    #[test]
    fn attachments_outside_the_list_are_refused_with_the_list() {
        let p = AttachmentPolicy::default();
        for bad in [
            "a.zip",
            "a.html",
            "a.svg",
            "a.docm",
            "noext",
            "a.",
            "UPPLAN_x.exe2",
        ] {
            let f = check_attachment(bad, &p).expect_err(bad);
            assert_eq!(f.code, "E_ATTACHMENT_TYPE");
        }
        let f = check_attachment("a.zip", &p).expect_err("zip");
        assert!(f.message.contains("pdf、jpg"), "{}", f.message);
        assert!(f.message.contains("管理者"), "{}", f.message);
        assert!(
            check_attachment("noext", &p)
                .expect_err("noext")
                .message
                .contains("拡張子がない")
        );
        // A data-file name with another extension is an attachment like any other.
        let name = "UP1KYO_0300000100_0300000005_20191025200201";
        assert!(check_attachment(&format!("{name}.zip"), &p).is_err());
        assert_eq!(check_attachment(&format!("{name}.pdf"), &p), Ok(()));
    }

    #[test]
    fn policies_are_configurable_but_never_dangerous() {
        let p = AttachmentPolicy::parse("PDF, .zip;  jpg\tpdf").expect("valid");
        assert_eq!(p.extensions(), ["pdf", "zip", "jpg"]);
        assert_eq!(check_attachment("a.zip", &p), Ok(()));
        assert!(check_attachment("a.docx", &p).is_err());
        // Data files do not need the policy.
        assert_eq!(
            check_attachment("UP1KYO_0300000100_0300000005_20191025200201.CSV", &p),
            Ok(())
        );
        let none = AttachmentPolicy::new(Vec::<&str>::new()).expect("empty is valid");
        let f = check_attachment("a.pdf", &none).expect_err("none");
        assert!(f.message.contains("添付ファイルは送受信できません"));
        let long = "a".repeat(21);
        for bad in ["exe", ".LNK", "p df", "", ".", "ｐｄｆ", long.as_str()] {
            let f = AttachmentPolicy::new([bad]).expect_err(bad);
            assert_eq!(f.code, "E_ATTACHMENT_POLICY");
        }
        assert!(AttachmentPolicy::parse("pdf, bat").is_err());
        assert_eq!(
            AttachmentPolicy::new(DEFAULT_ATTACHMENT_EXTENSIONS),
            Ok(AttachmentPolicy::default())
        );
    }

    #[test]
    fn transfer_check_runs_both() {
        let p = AttachmentPolicy::default();
        let f = check_transfer_name("invoice\u{202E}fdp.exe", &p).expect_err("bidi");
        assert_eq!(f.code, "E_NAME_UNSAFE");
        let f = check_transfer_name("run.lnk", &p).expect_err("lnk");
        assert_eq!(f.code, "E_ATTACHMENT_TYPE");
    }

    #[test]
    fn clashes_by_case_and_normalisation() {
        assert!(check_name_clashes(&["a.pdf", "b.pdf", "A.PDF.txt"]).is_empty());
        assert!(check_name_clashes::<&str>(&[]).is_empty());

        let f = check_name_clashes(&["Report.pdf", "x.pdf", "REPORT.PDF"]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "E_NAME_CLASH");
        assert!(f[0].message.contains("「Report.pdf」「REPORT.PDF」"));

        // NFC vs NFD (macOS) and full width vs half width (NFKC).
        let nfc = "データ.pdf";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd);
        assert_eq!(check_name_clashes(&[nfc, nfd.as_str()]).len(), 1);
        assert_eq!(check_name_clashes(&["ＡＢＣ.pdf", "abc.PDF"]).len(), 1);
        assert_eq!(check_name_clashes(&["ｶﾅ.pdf", "カナ.pdf"]).len(), 1);

        let same = check_name_clashes(&["a.pdf", "a.pdf", "a.pdf"]);
        assert_eq!(same.len(), 1);
        assert!(same[0].message.contains("3つ"));

        let two = check_name_clashes(&["a.pdf", "B.pdf", "A.pdf", "b.PDF"]);
        assert_eq!(two.len(), 2);
        assert!(two[0].message.contains("「a.pdf」「A.pdf」"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn accepted_names_hold_every_rule(name in name_strategy()) {
            if check_safe_file_name(&name).is_ok() {
                let n = name.chars().count();
                proptest::prop_assert!((1..=MAX_NAME_CHARS).contains(&n));
                for c in name.chars() {
                    proptest::prop_assert!(!c.is_control());
                    proptest::prop_assert!(!"/\\<>:\"|?*".contains(c));
                    proptest::prop_assert!(c.general_category() != GeneralCategory::Format);
                    proptest::prop_assert!(!is_default_ignorable(c));
                }
                proptest::prop_assert!(!name.starts_with('.'));
                proptest::prop_assert!(!name.ends_with(['.', ' ']));
                let base = name.split('.').next().unwrap_or("").trim_end().to_uppercase();
                let nfkc_base = name.nfkc().collect::<String>().split('.').next().unwrap_or("")
                    .trim_end().to_uppercase();
                for r in RESERVED_DEVICE_NAMES {
                    proptest::prop_assert!(base != r && nfkc_base != r.nfkc().collect::<String>());
                }
            }
        }

        #[test]
        fn attachment_check_never_accepts_a_refused_type(name in name_strategy()) {
            if check_attachment(&name, &AttachmentPolicy::default()).is_ok() {
                let lower = name.to_lowercase();
                proptest::prop_assert!(!REFUSED_NAMES.contains(&lower.as_str()));
                let ext = lower.rsplit('.').next().unwrap_or("");
                proptest::prop_assert!(!REFUSED_EXTENSIONS.contains(&ext));
                proptest::prop_assert!(name.contains('.'));
            }
        }

        #[test]
        fn clashes_are_exactly_the_equal_keys(names in proptest::collection::vec(name_strategy(), 0..6)) {
            let found = check_name_clashes(&names[..]);
            let keys: Vec<String> = names.iter().map(|n| clash_key(n)).collect();
            let mut groups = 0;
            for (i, k) in keys.iter().enumerate() {
                if !keys[..i].contains(k) && keys.iter().filter(|x| *x == k).count() > 1 {
                    groups += 1;
                }
            }
            proptest::prop_assert_eq!(found.len(), groups);
            proptest::prop_assert!(found.iter().all(|f| f.code == "E_NAME_CLASH" && !f.message.is_empty()));
        }
    }

    /// Names built from pieces that hit every rule: device names, dots, spaces, separators,
    /// invisible characters, superscripts, full-width letters and dangerous extensions.
    fn name_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            prop::sample::select(vec![
                "CON",
                "con",
                "COM",
                "LPT",
                "NUL",
                "AUX",
                "PRN",
                "CONIN$",
                "CONOUT$",
                "CLOCK$",
                "1",
                "0",
                "¹",
                "²",
                "³",
                "9",
                ".",
                ".",
                " ",
                "\u{3000}",
                "/",
                "\\",
                ":",
                "*",
                "\u{202E}",
                "\u{200B}",
                "\u{FEFF}",
                "\u{2066}",
                "\u{0}",
                "\u{7F}",
                "\u{E000}",
                "ＣＯＮ",
                "ｃｏｍ",
                "１",
                "lnk",
                "LNK",
                "exe",
                "pdf",
                "PDF",
                "desktop",
                "ini",
                "thumbs",
                "db",
                "autorun",
                "inf",
                "library-ms",
                "ｌｎｋ",
                "あ",
                "データ",
                "\u{3099}",
                "A",
                "a",
                "$",
                "-",
                "_",
            ])
            .prop_map(str::to_owned),
            any::<char>().prop_map(String::from),
            "[a-zA-Z0-9 ._-]{1,4}",
        ];
        proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
    }
}
