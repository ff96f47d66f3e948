//! 受信一覧's rows in a compact form. A list of 100 000 rows held as the client's structs
//! costs a dozen heap strings per row; here every string lives in one arena, repeated
//! strings (sender names, messages, CSVバージョン) are stored once, and what the screen
//! never shows (SHA-256, sizes) is dropped. Built on the worker that fetched the list.

use std::collections::HashMap;
use std::ops::Range;

use careplan_client::ReceivedTransmission;
use careplan_core::Category;
use careplan_core::latest::mark_latest;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// 24 bytes per transmission: the strings are indexes into the shared ones.
#[derive(Debug, Clone, Copy)]
struct TRow {
    received_at: i64,
    sender_office: u32,
    sender_name: u32,
    message: u32,
    /// Its files are `first_file..` the next transmission's `first_file`.
    first_file: u32,
}

/// 16 bytes per file, plus its 16-byte ID in `ids` and its own part of the name in `names`.
#[derive(Debug, Clone, Copy)]
struct FRow {
    /// The shared beginning of the name (see [`name_prefix`]), [`NONE`] when none.
    name_prefix: u32,
    /// Where this file's own part of the name ends in `names` (it starts where the previous
    /// file's ends; see [`put_rest`] for its form).
    name_end: u32,
    /// The later file that replaces this one (file index), [`NONE`] when none (issue 15,
    /// computed once when the table is built). The later 削除 file that removes it is in
    /// `deleted` (rare), flagged [`DELETED`].
    superseded_by: u32,
    /// CSVバージョン: index into `versions`, [`NO_VERSION`] when none.
    version: u16,
    category: Category,
    flags: u8,
}

/// No file (and no string).
const NONE: u32 = u32::MAX;
const NO_VERSION: u16 = u16::MAX;
/// データ取得状況 済.
const ACQUIRED: u8 = 1;
/// The file ID is not 32 lower-case hex digits: its 16 bytes hold a [`Span`] into `shared`.
const ODD_ID: u8 = 2;
/// A later 削除 file removes this one (which one: `deleted`).
const DELETED: u8 = 4;
/// At most this many digits at the start of a name's own part are packed two to a byte.
const MAX_DIGITS: usize = 32;

/// Whether a later file replaces or removes a received file (「最新のファイル」, issue 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RowMark {
    /// The newest: no later file replaces or removes it.
    #[default]
    Current,
    /// A later file of the same series replaces it (差し替え済).
    Superseded,
    /// A later 削除 file removes it (削除済).
    Deleted,
}

impl RowMark {
    /// The label shown in the list and the viewer (empty for the newest).
    pub(crate) fn label(self) -> &'static str {
        match self {
            RowMark::Current => "",
            RowMark::Superseded => "差し替え済",
            RowMark::Deleted => "削除済",
        }
    }
}

/// A file ID as text: the relay's 32 hex digits are stored as 16 bytes and spelled out
/// again here (on the stack); any other ID is borrowed from the table.
pub(crate) enum FileIdText<'a> {
    Hex([u8; 32]),
    Other(&'a str),
}

impl std::ops::Deref for FileIdText<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            FileIdText::Hex(b) => std::str::from_utf8(b).unwrap_or(""),
            FileIdText::Other(s) => s,
        }
    }
}

impl std::fmt::Display for FileIdText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// A file name in three parts: the beginning shared with other files, the digits that
/// follow it (stored packed, spelled out here), and the rest.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileName<'a> {
    prefix: &'a str,
    digits: [u8; MAX_DIGITS],
    n_digits: u8,
    tail: &'a str,
}

impl FileName<'_> {
    fn digits(&self) -> &str {
        std::str::from_utf8(&self.digits[..self.n_digits as usize]).unwrap_or("")
    }

    /// Append the name to `out`.
    pub(crate) fn push_to(self, out: &mut String) {
        out.push_str(self.prefix);
        out.push_str(self.digits());
        out.push_str(self.tail);
    }
}

impl std::fmt::Display for FileName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.prefix)?;
        f.write_str(self.digits())?;
        f.write_str(self.tail)
    }
}

/// A name's own part, as stored: one byte with the number of digits it starts with (up to
/// [`MAX_DIGITS`]), those digits two to a byte, then the rest as text. A standard name's
/// `作成日時.CSV` (18 bytes) takes 12.
fn put_rest(out: &mut Vec<u8>, rest: &str) {
    let n = rest
        .bytes()
        .take(MAX_DIGITS)
        .take_while(u8::is_ascii_digit)
        .count();
    out.push(n as u8);
    for pair in rest.as_bytes()[..n].chunks(2) {
        let hi = pair[0] - b'0';
        let lo = pair.get(1).map_or(0, |d| d - b'0');
        out.push(hi << 4 | lo);
    }
    out.extend_from_slice(&rest.as_bytes()[n..]);
}

/// The part of a file name shared by a series: a standard name is
/// `種別_年月_事業所番号_サービス種別_事業所番号_サービス種別_作成日時.CSV`, and everything up
/// to the sixth `_` repeats across a partner's files; otherwise up to the last `_`.
fn name_prefix(name: &str) -> &str {
    let mut end = 0;
    for (n, (i, _)) in name.match_indices('_').enumerate() {
        end = i + 1;
        if n == 5 {
            break;
        }
    }
    &name[..end]
}

fn hex_id(id: &str) -> Option<[u8; 16]> {
    let b = id.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// The received list, compact (about 50 bytes per file for relay IDs and standard names).
#[derive(Debug, Default)]
pub struct ReceivedTable {
    /// Strings stored once however often they occur (offices, names, messages, versions,
    /// the shared beginnings of file names), and odd file IDs.
    shared: String,
    /// The shared strings by index.
    spans: Vec<Span>,
    /// The files' own parts of their names, back to back in file order ([`put_rest`]).
    names: Vec<u8>,
    /// CSVバージョン (index into `spans`), few distinct.
    versions: Vec<u32>,
    trans: Vec<TRow>,
    files: Vec<FRow>,
    /// File IDs, 16 bytes each (see [`ODD_ID`]).
    ids: Vec<[u8; 16]>,
    /// (file, the later 削除 file that removes it), by file.
    deleted: Vec<(u32, u32)>,
}

struct Builder<'a> {
    shared: String,
    spans: Vec<Span>,
    seen: HashMap<&'a str, u32>,
    versions: Vec<u32>,
}

impl<'a> Builder<'a> {
    fn span(&mut self, s: &str) -> Span {
        let start = self.shared.len() as u32;
        self.shared.push_str(s);
        Span {
            start,
            len: s.len() as u32,
        }
    }

    /// Stored once however often it occurs; its index.
    fn shared(&mut self, s: &'a str) -> u32 {
        if let Some(&i) = self.seen.get(s) {
            return i;
        }
        let sp = self.span(s);
        let i = self.spans.len() as u32;
        self.spans.push(sp);
        self.seen.insert(s, i);
        i
    }

    fn version(&mut self, v: Option<&'a str>) -> u16 {
        let Some(v) = v else { return NO_VERSION };
        let i = self.shared(v);
        match self.versions.iter().position(|&x| x == i) {
            Some(n) => n as u16,
            None if self.versions.len() < NO_VERSION as usize => {
                self.versions.push(i);
                (self.versions.len() - 1) as u16
            }
            None => NO_VERSION,
        }
    }
}

impl ReceivedTable {
    /// Convert the client's list (the strings are copied once into the table).
    pub(crate) fn new(items: &[ReceivedTransmission]) -> Self {
        let mut b = Builder {
            shared: String::new(),
            spans: Vec::new(),
            seen: HashMap::new(),
            versions: Vec::new(),
        };
        let n_files = items.iter().map(|t| t.files.len()).sum();
        let mut trans = Vec::with_capacity(items.len());
        let mut files = Vec::with_capacity(n_files);
        let mut ids = Vec::with_capacity(n_files);
        let mut names = Vec::new();
        for t in items {
            let first_file = files.len() as u32;
            for f in &t.files {
                let prefix = name_prefix(&f.name);
                put_rest(&mut names, &f.name[prefix.len()..]);
                let (id, mut flags) = match hex_id(&f.id) {
                    Some(id) => (id, 0),
                    None => {
                        let sp = b.span(&f.id);
                        let mut id = [0u8; 16];
                        id[..4].copy_from_slice(&sp.start.to_le_bytes());
                        id[4..8].copy_from_slice(&sp.len.to_le_bytes());
                        (id, ODD_ID)
                    }
                };
                if f.acquired {
                    flags |= ACQUIRED;
                }
                ids.push(id);
                files.push(FRow {
                    name_prefix: if prefix.is_empty() {
                        NONE
                    } else {
                        b.shared(prefix)
                    },
                    name_end: names.len() as u32,
                    superseded_by: NONE,
                    version: b.version(f.csv_version.as_deref()),
                    category: f.category,
                    flags,
                });
            }
            trans.push(TRow {
                received_at: t.received_at.unix_timestamp(),
                sender_office: b.shared(&t.sender_office),
                sender_name: b.shared(&t.sender_name),
                message: b.shared(&t.message),
                first_file,
            });
        }
        // The marks, once per list (never per frame): `from_received` flattens the
        // transmissions' files in the same order as `files`.
        let incoming = crate::cli::net::received_incoming(items);
        let index: HashMap<&str, u32> = incoming
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.as_str(), i as u32))
            .collect();
        let at = |id: Option<&careplan_core::latest::FileId>| {
            id.and_then(|id| index.get(id.as_str()).copied())
                .unwrap_or(NONE)
        };
        let mut deleted = Vec::new();
        for (f, (row, m)) in files.iter_mut().zip(mark_latest(&incoming)).enumerate() {
            row.superseded_by = at(m.superseded_by.as_ref());
            let by = at(m.deleted_by.as_ref());
            if by != NONE {
                row.flags |= DELETED;
                deleted.push((f as u32, by));
            }
        }
        deleted.shrink_to_fit();
        names.shrink_to_fit();
        drop(index);
        drop(incoming);
        let Builder {
            mut shared,
            mut spans,
            mut versions,
            ..
        } = b;
        shared.shrink_to_fit();
        spans.shrink_to_fit();
        versions.shrink_to_fit();
        Self {
            shared,
            spans,
            names,
            versions,
            trans,
            files,
            ids,
            deleted,
        }
    }

    /// Bytes held on the heap (the memory measurement, issue 16).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.shared.capacity()
            + self.names.capacity()
            + self.spans.capacity() * size_of::<Span>()
            + self.versions.capacity() * size_of::<u32>()
            + self.trans.capacity() * size_of::<TRow>()
            + self.files.capacity() * size_of::<FRow>()
            + self.ids.capacity() * size_of::<[u8; 16]>()
            + self.deleted.capacity() * size_of::<(u32, u32)>()
    }

    fn text(&self, sp: Span) -> &str {
        self.shared
            .get(sp.start as usize..(sp.start + sp.len) as usize)
            .unwrap_or("")
    }

    fn s(&self, i: u32) -> &str {
        self.spans.get(i as usize).map_or("", |&sp| self.text(sp))
    }

    /// Number of transmissions.
    pub(crate) fn len(&self) -> usize {
        self.trans.len()
    }

    /// True when there is no transmission.
    pub(crate) fn is_empty(&self) -> bool {
        self.trans.is_empty()
    }

    /// 受信日時.
    pub(crate) fn received_at(&self, t: usize) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.trans[t].received_at)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// 受信日時 as seconds (sorting).
    pub(crate) fn received_secs(&self, t: usize) -> i64 {
        self.trans[t].received_at
    }

    /// メッセージ.
    pub(crate) fn message(&self, t: usize) -> &str {
        self.s(self.trans[t].message)
    }

    /// 送信元事業所名称.
    pub(crate) fn sender_name(&self, t: usize) -> &str {
        self.s(self.trans[t].sender_name)
    }

    /// 送信元事業所番号.
    pub(crate) fn sender_office(&self, t: usize) -> &str {
        self.s(self.trans[t].sender_office)
    }

    /// The file indexes of transmission `t`.
    pub(crate) fn files(&self, t: usize) -> Range<usize> {
        let end = self
            .trans
            .get(t + 1)
            .map_or(self.files.len(), |n| n.first_file as usize);
        self.trans[t].first_file as usize..end
    }

    /// The file shown in row `r` when the transmissions are shown in reverse order (newest
    /// first), each with its files in order: the default view needs no list of rows.
    pub(crate) fn file_in_reverse_order(&self, r: usize) -> usize {
        let g = self.files.len() - 1 - r;
        let range = self.files(self.transmission_of(g));
        range.start + range.end - 1 - g
    }

    /// The transmission of file `f`.
    pub(crate) fn transmission_of(&self, f: usize) -> usize {
        self.trans
            .partition_point(|t| t.first_file as usize <= f)
            .saturating_sub(1)
    }

    /// True when every file of `t` is 済.
    pub(crate) fn all_acquired(&self, t: usize) -> bool {
        self.files(t).all(|f| self.acquired(f))
    }

    /// All file indexes.
    pub(crate) fn all_files(&self) -> Range<usize> {
        0..self.files.len()
    }

    /// File ID.
    pub(crate) fn file_id(&self, f: usize) -> FileIdText<'_> {
        let id = &self.ids[f];
        if self.files[f].flags & ODD_ID != 0 {
            let word = |i: usize| u32::from_le_bytes([id[i], id[i + 1], id[i + 2], id[i + 3]]);
            return FileIdText::Other(self.text(Span {
                start: word(0),
                len: word(4),
            }));
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (o, b) in out.chunks_exact_mut(2).zip(id) {
            o[0] = HEX[(b >> 4) as usize];
            o[1] = HEX[(b & 15) as usize];
        }
        FileIdText::Hex(out)
    }

    /// File name.
    pub(crate) fn file_name(&self, f: usize) -> FileName<'_> {
        let r = &self.files[f];
        let start = match f.checked_sub(1) {
            Some(p) => self.files[p].name_end as usize,
            None => 0,
        };
        let stored = self.names.get(start..r.name_end as usize).unwrap_or(&[]);
        let n = stored.first().map_or(0, |&n| (n as usize).min(MAX_DIGITS));
        let packed = stored.get(1..1 + n.div_ceil(2)).unwrap_or(&[]);
        let mut digits = [b'0'; MAX_DIGITS];
        for (i, d) in digits.iter_mut().take(n).enumerate() {
            let b = packed.get(i / 2).copied().unwrap_or(0);
            *d = b'0' + if i % 2 == 0 { b >> 4 } else { b & 15 };
        }
        FileName {
            prefix: if r.name_prefix == NONE {
                ""
            } else {
                self.s(r.name_prefix)
            },
            digits,
            n_digits: n as u8,
            tail: stored
                .get(1 + n.div_ceil(2)..)
                .and_then(|t| std::str::from_utf8(t).ok())
                .unwrap_or(""),
        }
    }

    /// ファイル種別.
    pub(crate) fn category(&self, f: usize) -> Category {
        self.files[f].category
    }

    /// バージョン (CSVバージョン read from the file).
    pub(crate) fn version(&self, f: usize) -> Option<&str> {
        let v = self.files[f].version;
        (v != NO_VERSION)
            .then(|| self.versions.get(v as usize).map(|&i| self.s(i)))
            .flatten()
    }

    /// 差し替え済 / 削除済 / the newest.
    /// (削除済 wins: the file is gone, whatever replaced it before.)
    pub(crate) fn mark(&self, f: usize) -> RowMark {
        let r = &self.files[f];
        if r.flags & DELETED != 0 {
            RowMark::Deleted
        } else if r.superseded_by != NONE {
            RowMark::Superseded
        } else {
            RowMark::Current
        }
    }

    fn index(&self, by: u32) -> Option<usize> {
        (by != NONE && (by as usize) < self.files.len()).then_some(by as usize)
    }

    /// The later file that replaces `f`, if any.
    pub(crate) fn superseded_by(&self, f: usize) -> Option<usize> {
        self.index(self.files[f].superseded_by)
    }

    /// The file (index) that removes `f` or, when none, replaces it.
    pub(crate) fn marked_by(&self, f: usize) -> Option<usize> {
        let deleted_by = if self.files[f].flags & DELETED != 0 {
            self.deleted
                .binary_search_by_key(&(f as u32), |&(g, _)| g)
                .map_or(NONE, |i| self.deleted[i].1)
        } else {
            NONE
        };
        self.index(deleted_by).or_else(|| self.superseded_by(f))
    }

    /// The hover text of a mark: which file replaces or removes `f`.
    pub(crate) fn mark_hover(&self, f: usize) -> Option<String> {
        let by = self.marked_by(f)?;
        let name = self.file_name(by);
        Some(match self.mark(f) {
            RowMark::Current => return None,
            RowMark::Superseded => format!(
                "後から届いた「{name}」で差し替えられています。取り込むのは新しいファイルです。"
            ),
            RowMark::Deleted => format!("後から届いた削除ファイル「{name}」で削除されています。"),
        })
    }

    /// データ取得状況: true = 済.
    pub(crate) fn acquired(&self, f: usize) -> bool {
        self.files[f].flags & ACQUIRED != 0
    }
}

/// Give freed heap memory back to the OS. The client's list (and its JSON) is dropped right
/// after the compact table is built; glibc keeps such freed small blocks in its arenas, so
/// without this the resident memory would still hold the list twice. Elsewhere a no-op.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only returns unused memory of the allocator's arenas to the OS; it
    // takes no pointers and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use careplan_client::ReceivedFile;

    #[test]
    fn keeps_every_field_the_screen_shows() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let items = vec![
            ReceivedTransmission {
                id: "t1".into(),
                received_at: t0,
                sender_office: "1370526111".into(),
                sender_name: "かえで居宅".into(),
                message: "11月分".into(),
                files: vec![
                    ReceivedFile {
                        id: "f1".into(),
                        name: "A.CSV".into(),
                        kind: None,
                        category: Category::Registration,
                        csv_version: Some("202404".into()),
                        size: 1,
                        sha256: "x".into(),
                        acquired: true,
                    },
                    ReceivedFile {
                        id: "f2".into(),
                        name: "B.PDF".into(),
                        kind: None,
                        category: Category::Attachment,
                        csv_version: None,
                        size: 1,
                        sha256: "y".into(),
                        acquired: false,
                    },
                ],
            },
            ReceivedTransmission {
                id: "t2".into(),
                received_at: t0,
                sender_office: "1370526111".into(),
                sender_name: "かえで居宅".into(),
                message: String::new(),
                files: vec![],
            },
        ];
        let t = ReceivedTable::new(&items);
        assert_eq!(t.len(), 2);
        assert_eq!(t.received_at(0), t0);
        assert_eq!(t.message(0), "11月分");
        assert_eq!(t.sender_name(1), "かえで居宅");
        assert_eq!(t.sender_office(1), "1370526111");
        assert_eq!(t.files(0), 0..2);
        assert_eq!(t.files(1), 2..2);
        assert_eq!(t.file_name(1).to_string(), "B.PDF");
        assert_eq!(&*t.file_id(0), "f1");
        assert_eq!(t.version(0), Some("202404"));
        assert_eq!(t.version(1), None);
        assert_eq!(t.category(1), Category::Attachment);
        assert!(!t.all_acquired(0));
        assert!(t.all_acquired(1));
        assert_eq!(t.message(1), "");
    }

    #[test]
    fn marks_are_kept_per_row_with_the_file_that_replaces_or_deletes() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let file = |id: &str, name: &str| ReceivedFile {
            id: id.into(),
            name: name.into(),
            kind: None,
            category: Category::Registration,
            csv_version: Some("202407".into()),
            size: 1,
            sha256: "x".into(),
            acquired: false,
        };
        let trans = |id: &str, files| ReceivedTransmission {
            id: id.into(),
            received_at: t0,
            sender_office: "1370526111".into(),
            sender_name: "かえで居宅".into(),
            message: String::new(),
            files,
        };
        let name = |kind: &str, serial: &str| {
            format!("{kind}_202504_1370526111_43_1370526186_11_{serial}.CSV")
        };
        let items = vec![
            trans(
                "t1",
                vec![
                    file("p1", &name("UPPLAN", "20250401090000")),
                    file("h1", &name("UPHOSOKU", "20250401090000")),
                ],
            ),
            trans(
                "t2",
                vec![
                    file("p2", &name("UPPLAN", "20250402090000")),
                    file("h2", &name("UPHOSOKU", "20250402090000")),
                ],
            ),
            trans("t3", vec![file("d3", &name("DLTPLAN", "20250403090000"))]),
        ];
        let t = ReceivedTable::new(&items);
        // p1: replaced by p2 and deleted by d3 (削除済 wins); h1 replaced by h2.
        assert_eq!(t.mark(0), RowMark::Deleted);
        assert_eq!(t.superseded_by(0), Some(2));
        assert_eq!(t.marked_by(0), Some(4));
        assert_eq!(t.mark(1), RowMark::Superseded);
        assert_eq!(t.marked_by(1), Some(3));
        assert!(
            t.mark_hover(1)
                .unwrap()
                .contains(&name("UPHOSOKU", "20250402090000"))
        );
        assert_eq!(t.mark(2), RowMark::Deleted);
        assert_eq!(t.superseded_by(2), None);
        // The newest stay plain, the 削除 file too.
        assert_eq!(t.mark(3), RowMark::Current);
        assert_eq!(t.mark(4), RowMark::Current);
        assert_eq!(t.mark_hover(4), None);
        assert_eq!(RowMark::Current.label(), "");
    }

    #[test]
    fn relay_ids_and_shared_name_beginnings_come_back_unchanged() {
        let items = crate::ui::launch::synthetic_received(1000);
        let t = ReceivedTable::new(&items);
        let flat: Vec<_> = items.iter().flat_map(|x| &x.files).collect();
        assert_eq!(t.all_files().len(), flat.len());
        for (f, orig) in flat.iter().enumerate() {
            assert_eq!(&*t.file_id(f), orig.id);
            assert_eq!(t.file_name(f).to_string(), orig.name);
            assert_eq!(t.version(f), orig.csv_version.as_deref());
            assert_eq!(t.acquired(f), orig.acquired);
            let tr = t.transmission_of(f);
            assert!(t.files(tr).contains(&f));
        }
        // Upper-case hex, other lengths: kept as text.
        assert_eq!(hex_id("0123456789ABCDEF0123456789abcdef"), None);
        assert_eq!(hex_id("0123456789abcdef"), None);
        assert_eq!(
            name_prefix("UPPLAN_202611_1310000001_43_1310000002_11_20261124100000.CSV"),
            "UPPLAN_202611_1310000001_43_1310000002_11_"
        );
        assert_eq!(name_prefix("見積書_山田.pdf"), "見積書_");
        assert_eq!(name_prefix("scan.pdf"), "");
        // Digits packed, odd counts, names without any, non-ASCII rests.
        let names = [
            "UPPLAN_202611_1310000001_43_1310000002_11_20261124100000.CSV",
            "A_12345.pdf",
            "scan.pdf",
            "見積書_2026年.pdf",
            "X_123456789012345678901234567890123456789.CSV",
            "",
        ];
        let mut one = items[..1].to_vec();
        one[0].files.truncate(1);
        let proto = one[0].files[0].clone();
        one[0].files = names
            .iter()
            .map(|n| careplan_client::ReceivedFile {
                name: (*n).into(),
                ..proto.clone()
            })
            .collect();
        let t1 = ReceivedTable::new(&one);
        for (f, n) in names.iter().enumerate() {
            assert_eq!(t1.file_name(f).to_string(), *n);
        }
        // Newest first without a list: transmissions backwards, their files forwards.
        let backwards: Vec<usize> = (0..t.len()).rev().flat_map(|x| t.files(x)).collect();
        for (r, &f) in backwards.iter().enumerate() {
            assert_eq!(t.file_in_reverse_order(r), f);
        }
    }

    /// `cargo test -p careplan-app --lib table_bytes -- --nocapture` prints the figure
    /// quoted in docs/performance.md.
    #[test]
    fn table_bytes_for_100_000_rows() {
        let items = crate::ui::launch::synthetic_received(100_000);
        let t = ReceivedTable::new(&items);
        let bytes = t.heap_bytes();
        println!(
            "100 000 rows: {} bytes ({:.1} per file), {} transmissions",
            bytes,
            bytes as f64 / 100_000.0,
            t.len()
        );
        assert!(bytes < 8 * 1024 * 1024, "{bytes}");
    }
}
