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

#[derive(Debug, Clone, Copy)]
struct TRow {
    received_at: i64,
    sender_office: Span,
    sender_name: Span,
    message: Span,
    first_file: u32,
    files: u32,
}

#[derive(Debug, Clone, Copy)]
struct FRow {
    id: Span,
    name: Span,
    version: Option<Span>,
    category: Category,
    acquired: bool,
    /// The later file that replaces this one (file index), [`NONE`] when none (issue 15,
    /// computed once when the table is built).
    superseded_by: u32,
    /// The later 削除 file that removes this one (file index), [`NONE`] when none.
    deleted_by: u32,
}

/// No file.
const NONE: u32 = u32::MAX;

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

/// The received list, compact.
#[derive(Debug, Default)]
pub struct ReceivedTable {
    arena: String,
    trans: Vec<TRow>,
    files: Vec<FRow>,
}

struct Builder<'a> {
    arena: String,
    seen: HashMap<&'a str, Span>,
}

impl<'a> Builder<'a> {
    fn put(&mut self, s: &str) -> Span {
        let start = self.arena.len() as u32;
        self.arena.push_str(s);
        Span {
            start,
            len: s.len() as u32,
        }
    }

    /// Stored once however often it occurs.
    fn shared(&mut self, s: &'a str) -> Span {
        if let Some(sp) = self.seen.get(s) {
            return *sp;
        }
        let sp = self.put(s);
        self.seen.insert(s, sp);
        sp
    }
}

impl ReceivedTable {
    /// Convert the client's list (the strings are copied once into the arena).
    pub(crate) fn new(items: &[ReceivedTransmission]) -> Self {
        let mut b = Builder {
            arena: String::new(),
            seen: HashMap::new(),
        };
        let mut trans = Vec::with_capacity(items.len());
        let mut files = Vec::with_capacity(items.iter().map(|t| t.files.len()).sum());
        for t in items {
            let first_file = files.len() as u32;
            for f in &t.files {
                files.push(FRow {
                    id: b.put(&f.id),
                    name: b.put(&f.name),
                    version: f.csv_version.as_deref().map(|v| b.shared(v)),
                    category: f.category,
                    acquired: f.acquired,
                    superseded_by: NONE,
                    deleted_by: NONE,
                });
            }
            trans.push(TRow {
                received_at: t.received_at.unix_timestamp(),
                sender_office: b.shared(&t.sender_office),
                sender_name: b.shared(&t.sender_name),
                message: b.shared(&t.message),
                first_file,
                files: t.files.len() as u32,
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
        for (row, m) in files.iter_mut().zip(mark_latest(&incoming)) {
            row.superseded_by = at(m.superseded_by.as_ref());
            row.deleted_by = at(m.deleted_by.as_ref());
        }
        drop(index);
        drop(incoming);
        let mut arena = b.arena;
        arena.shrink_to_fit();
        Self {
            arena,
            trans,
            files,
        }
    }

    fn s(&self, sp: Span) -> &str {
        self.arena
            .get(sp.start as usize..(sp.start + sp.len) as usize)
            .unwrap_or("")
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
        let r = &self.trans[t];
        r.first_file as usize..(r.first_file + r.files) as usize
    }

    /// True when every file of `t` is 済.
    pub(crate) fn all_acquired(&self, t: usize) -> bool {
        self.files(t).all(|f| self.files[f].acquired)
    }

    /// All file indexes.
    pub(crate) fn all_files(&self) -> Range<usize> {
        0..self.files.len()
    }

    /// File ID.
    pub(crate) fn file_id(&self, f: usize) -> &str {
        self.s(self.files[f].id)
    }

    /// File name.
    pub(crate) fn file_name(&self, f: usize) -> &str {
        self.s(self.files[f].name)
    }

    /// ファイル種別.
    pub(crate) fn category(&self, f: usize) -> Category {
        self.files[f].category
    }

    /// バージョン (CSVバージョン read from the file).
    pub(crate) fn version(&self, f: usize) -> Option<&str> {
        self.files[f].version.map(|v| self.s(v))
    }

    /// 差し替え済 / 削除済 / the newest.
    /// (削除済 wins: the file is gone, whatever replaced it before.)
    pub(crate) fn mark(&self, f: usize) -> RowMark {
        let r = &self.files[f];
        if r.deleted_by != NONE {
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
        self.index(self.files[f].deleted_by)
            .or_else(|| self.superseded_by(f))
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
        self.files[f].acquired
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
        assert_eq!(t.file_name(1), "B.PDF");
        assert_eq!(t.file_id(0), "f1");
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
}
