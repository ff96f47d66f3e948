//! Compare a file with the previous version of it (issue 15): which 利用者, rows and cells
//! were added, removed or changed, as a view model the viewer can draw.
//!
//! Rows are matched per 利用者 (保険者番号 + 被保険者番号) by a key that fits the layout:
//! - 第6表 予定/実績: the service line (サービスコード, start and end time, サービス事業者
//!   コード) and サービス利用日 (and 明細判別コード); besides the rows, the month calendar is
//!   compared day by day ([`CalendarRowDiff`]);
//! - 第7表: the office, サテライト枝番, サービスコード and 福祉用具 codes, so subtotal and
//!   total rows are matched with their own kind and their amounts compared cell by cell;
//! - 第2表: 課題ＮＯ, 援助目標ＮＯ, 援助内容ＮＯ; 支援計画書 別表: 課題ＮＯ, 支援計画ＮＯ,
//!   利用サービスＮＯ; 別表1: 時間; 別表2: 年月日, 病名;
//! - 第1表, 利用者補足情報, 利用者基本情報, 支援計画書: one row per 利用者, every text field
//!   compared;
//! - 第3表 and 削除 files: the whole row (rows are only added or removed).
//!
//! Rows whose key repeats are paired in file order. Fields are matched by their Japanese name,
//! so a v3 file and a v4 file compare field by field. The fields every row of a 利用者 repeats
//! (作成年月日, 計画作成（変更）日, 対象年月, 担当者, 更新業者コード) are compared once per 利用者
//! ([`UserDiff::header`]), not on every row. Values are shown as the viewer shows them
//! ([`crate::view::show`]). Decisions are in `docs/csv.md` (「前の版との比較」).

use std::collections::HashMap;

use serde::Serialize;

use crate::csv::{CsvReport, Layout, Record, validate};
use crate::kind::FileKind;
use crate::view::{Subtotal, calendar, show, show_date, show_time};

/// Added, removed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only in the new file.
    Added,
    /// Only in the previous file.
    Removed,
    /// In both, with different values.
    Changed,
}

impl Change {
    /// `追加` / `削除` / `変更`.
    pub fn label(self) -> &'static str {
        match self {
            Change::Added => "追加",
            Change::Removed => "削除",
            Change::Changed => "変更",
        }
    }
}

/// One field whose value differs (or, for an added or removed row, one non-empty field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellDiff {
    /// 1-based field number in the new file's layout (the previous file's for removed rows
    /// and for fields only the previous layout has).
    pub field: usize,
    /// The field's Japanese name.
    pub name: &'static str,
    /// The previous value as shown (empty when absent).
    pub old: String,
    /// The new value as shown (empty when absent).
    pub new: String,
}

/// One row (record) added, removed or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowDiff {
    /// What happened to the row.
    pub change: Change,
    /// What the row is, for people: `課題1・目標1・援助内容1`, `2025/04/07 09:30〜10:30 111211
    /// 訪問介護`, `合計`, ….
    pub label: String,
    /// 1-based record number in the previous file.
    pub old_record: Option<usize>,
    /// 1-based record number in the new file.
    pub new_record: Option<usize>,
    /// The changed cells (changed rows), or the non-empty cells (added and removed rows).
    pub cells: Vec<CellDiff>,
}

/// One day of a 第6表 calendar row whose count changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayDiff {
    /// Day of the month, 1–31.
    pub day: u8,
    /// The previous count (0: no service that day).
    pub old: u32,
    /// The new count.
    pub new: u32,
}

/// One service line of the 第6表 calendar added, removed or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarRowDiff {
    /// What happened to the line.
    pub change: Change,
    /// サービスコード.
    pub service_code: String,
    /// The service type of the code (`訪問介護`), when known.
    pub service_label: Option<String>,
    /// サービス開始時刻 `HHMM`.
    pub start: String,
    /// サービス終了時刻 `HHMM`.
    pub end: String,
    /// サービス事業者コード.
    pub office_code: String,
    /// サービス事業所名.
    pub office_name: String,
    /// The days whose count differs (every day with a service, for added and removed lines).
    pub days: Vec<DayDiff>,
    /// Sum of the previous counts.
    pub old_total: u32,
    /// Sum of the new counts.
    pub new_total: u32,
}

/// What changed for one 利用者.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserDiff {
    /// 保険者番号.
    pub insurer: String,
    /// 被保険者番号.
    pub insured: String,
    /// Added (only in the new file), removed (only in the previous file) or changed.
    pub change: Change,
    /// The fields every row of the 利用者 repeats, compared once (作成年月日, 対象年月, …).
    pub header: Vec<CellDiff>,
    /// The rows added, removed or changed, new file order first, then removed rows.
    pub rows: Vec<RowDiff>,
    /// 第6表 予定/実績: the calendar lines added, removed or changed (empty otherwise).
    pub calendar: Vec<CalendarRowDiff>,
}

/// The differences between two files of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    /// The kind of both files.
    pub kind: FileKind,
    /// CSVバージョン of the previous file.
    pub old_version: Option<String>,
    /// CSVバージョン of the new file.
    pub new_version: Option<String>,
    /// The 利用者 with a difference, in new file order, then the removed ones.
    pub users: Vec<UserDiff>,
    /// How many 利用者 are in both files without any difference.
    pub unchanged_users: usize,
    /// Rows added, over all 利用者.
    pub rows_added: usize,
    /// Rows removed.
    pub rows_removed: usize,
    /// Rows changed.
    pub rows_changed: usize,
}

impl FileDiff {
    /// True when the two files hold the same values (CSVバージョン aside).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// One line for people: `利用者2人に変更（追加3行・削除1行・変更2行）` or `変更はありません`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "前の版から変更はありません。".to_owned();
        }
        format!(
            "利用者{}人に変更があります（追加{}行・削除{}行・変更{}行）。",
            self.users.len(),
            self.rows_added,
            self.rows_removed,
            self.rows_changed
        )
    }
}

/// Why two files cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DiffError {
    /// What is wrong, in Japanese.
    pub message: String,
}

/// Compare the previous version `old` of a file with the new one, both read by
/// [`validate`] as files of `kind`.
pub fn diff(kind: FileKind, old: &CsvReport, new: &CsvReport) -> Result<FileDiff, DiffError> {
    let (Some(ol), Some(nl)) = (old.layout, new.layout) else {
        return Err(DiffError {
            message: "データ行のないファイルは比べられません。ファイルの中身を確認してください。"
                .to_owned(),
        });
    };
    if ol.kind != kind || nl.kind != kind {
        return Err(DiffError {
            message: format!(
                "種類の違うファイルは比べられません（{}と{}）。同じ種類のファイルを選んでください。",
                ol.kind.label(),
                nl.kind.label()
            ),
        });
    }
    let spec = spec(kind);
    let fields = FieldMap::new(ol, nl);
    let old_users = group_users(ol, &old.records);
    let new_users = group_users(nl, &new.records);
    let mut out = FileDiff {
        kind,
        old_version: old.csv_version.clone(),
        new_version: new.csv_version.clone(),
        users: Vec::new(),
        unchanged_users: 0,
        rows_added: 0,
        rows_removed: 0,
        rows_changed: 0,
    };
    let key_cols = |l: &Layout, new_side: bool| -> Vec<Option<usize>> {
        if spec.whole_row {
            fields
                .pairs
                .iter()
                .filter(|(n, _, _)| !NOT_CELLS.contains(n) && !spec.header.contains(n))
                .map(|&(_, ni, oi)| if new_side { ni } else { oi })
                .collect()
        } else {
            spec.key
                .iter()
                .map(|name| l.fields.iter().position(|f| f.name == *name))
                .collect()
        }
    };
    let ctx = Ctx {
        spec: &spec,
        fields: &fields,
        ol,
        nl,
        old: &old.records,
        new: &new.records,
        old_key: key_cols(ol, false),
        new_key: key_cols(nl, true),
    };
    let empty: Vec<usize> = Vec::new();
    let mut seen_old = vec![false; old_users.order.len()];
    fn push(u: UserDiff, out: &mut FileDiff) {
        for r in &u.rows {
            match r.change {
                Change::Added => out.rows_added += 1,
                Change::Removed => out.rows_removed += 1,
                Change::Changed => out.rows_changed += 1,
            }
        }
        out.users.push(u);
    }
    for (key, rows) in new_users.iter() {
        let old_slot = old_users.at.get(key).copied();
        if let Some(s) = old_slot
            && let Some(flag) = seen_old.get_mut(s)
        {
            *flag = true;
        }
        let old_rows = old_slot.map_or(&empty, |s| &old_users.order[s].1);
        let mut u = ctx.user(key, old_rows, rows);
        if spec.calendar {
            u.calendar = calendar_diff(
                ctx.calendar(ol, ctx.old, old_rows).as_ref(),
                ctx.calendar(nl, ctx.new, rows).as_ref(),
            );
        }
        u.change = if old_slot.is_none() {
            Change::Added
        } else {
            Change::Changed
        };
        if old_slot.is_some() && u.rows.is_empty() && u.header.is_empty() && u.calendar.is_empty() {
            out.unchanged_users += 1;
        } else {
            push(u, &mut out);
        }
    }
    for (slot, (key, rows)) in old_users.order.iter().enumerate() {
        if seen_old.get(slot).copied().unwrap_or(true) {
            continue;
        }
        let mut u = ctx.user(key, rows, &empty);
        if spec.calendar {
            u.calendar = calendar_diff(ctx.calendar(ol, ctx.old, rows).as_ref(), None);
        }
        u.change = Change::Removed;
        push(u, &mut out);
    }
    Ok(out)
}

/// [`diff`] of two files given as bytes (each read with [`validate`]).
pub fn diff_bytes(kind: FileKind, old: &[u8], new: &[u8]) -> Result<FileDiff, DiffError> {
    diff(kind, &validate(kind, None, old), &validate(kind, None, new))
}

/// How rows of a kind are matched.
struct Spec {
    /// Key fields by name; empty: one row per 利用者 (paired in order).
    key: &'static [&'static str],
    /// Match on the whole row (all fields but the header ones).
    whole_row: bool,
    /// Fields compared once per 利用者.
    header: &'static [&'static str],
    /// Also compare the 第6表 calendar.
    calendar: bool,
}

fn spec(kind: FileKind) -> Spec {
    use FileKind as K;
    const PLAN_HEADER: &[&str] = &[
        "作成年月日",
        "対象年月",
        "プラン担当業者コード",
        "プラン担当者名",
        "更新業者コード",
    ];
    let one = Spec {
        key: &[],
        whole_row: false,
        header: &[],
        calendar: false,
    };
    match kind {
        K::Up1Kyo | K::UpHosoku | K::UpKihon | K::UpYobo => one,
        K::Up2Kyo => Spec {
            key: &["課題ＮＯ", "援助目標ＮＯ", "援助内容ＮＯ"],
            header: &[
                "居宅計画書作成年月日",
                "居宅サービス計画作成（変更）日",
                "更新業者コード",
            ],
            ..one
        },
        K::Up3Kyo => Spec {
            whole_row: true,
            header: &[
                "週間サービス計画表作成年月日",
                "居宅サービス計画作成（変更）日",
            ],
            ..one
        },
        K::UpPlan | K::UpJsk => Spec {
            key: &[
                "サービス利用日",
                "サービス開始時刻",
                "サービス終了時刻",
                "サービスコード",
                "サービス事業者コード",
                "明細判別コード",
            ],
            header: PLAN_HEADER,
            calendar: true,
            ..one
        },
        K::UpSikyu => Spec {
            key: &[
                "サービス事業所コード",
                "サテライト枝番",
                "サービスコード",
                "TAISコード",
                "福祉用具届出コード",
            ],
            header: &["作成年月日", "対象年月", "更新業者コード"],
            ..one
        },
        K::UpKihonSub1 => Spec {
            key: &["時間"],
            header: &["相談日"],
            ..one
        },
        K::UpKihonSub2 => Spec {
            key: &["年月日", "病名"],
            header: &["相談日"],
            ..one
        },
        K::UpYoboSub => Spec {
            key: &["課題ＮＯ", "支援計画ＮＯ", "利用サービスＮＯ"],
            header: &["計画作成(変更)日"],
            ..one
        },
        K::Dlt1Kyo | K::DltPlan | K::DltJsk | K::DltKihon | K::DltYobo | K::UpKihonImage => Spec {
            whole_row: true,
            ..one
        },
    }
}

/// Fields that are never compared as cells: the 利用者 key and the version.
const NOT_CELLS: [&str; 3] = ["CSVバージョン", "保険者番号", "被保険者番号"];

/// The pairing of the two layouts' fields by name (the n-th field of a name with the n-th
/// field of that name: 第3表 has two 開始時間).
struct FieldMap {
    /// (name, index in the new layout, index in the old layout).
    pairs: Vec<(&'static str, Option<usize>, Option<usize>)>,
}

impl FieldMap {
    fn new(ol: &Layout, nl: &Layout) -> Self {
        let nth = |l: &Layout, name: &str, n: usize| {
            l.fields
                .iter()
                .enumerate()
                .filter(|(_, f)| f.name == name)
                .nth(n)
                .map(|(i, _)| i)
        };
        let occurrence = |l: &Layout, i: usize| {
            let name = l.fields[i].name;
            l.fields[..i].iter().filter(|f| f.name == name).count()
        };
        let mut pairs = Vec::new();
        for (i, f) in nl.fields.iter().enumerate() {
            pairs.push((f.name, Some(i), nth(ol, f.name, occurrence(nl, i))));
        }
        for (i, f) in ol.fields.iter().enumerate() {
            if nth(nl, f.name, occurrence(ol, i)).is_none() {
                pairs.push((f.name, None, Some(i)));
            }
        }
        Self { pairs }
    }
}

/// Records per 利用者 in order of first appearance.
struct Users {
    order: Vec<((String, String), Vec<usize>)>,
    at: HashMap<(String, String), usize>,
}

impl Users {
    fn iter(&self) -> impl Iterator<Item = (&(String, String), &Vec<usize>)> {
        self.order.iter().map(|(k, v)| (k, v))
    }
}

fn group_users(layout: &Layout, records: &[Record]) -> Users {
    let col = |name: &str| layout.fields.iter().position(|f| f.name == name);
    let (ins, insd) = (col("保険者番号"), col("被保険者番号"));
    let mut users = Users {
        order: Vec::new(),
        at: HashMap::new(),
    };
    for (i, r) in records.iter().enumerate() {
        let get = |c: Option<usize>| c.and_then(|c| r.get(c)).unwrap_or_default().to_owned();
        let key = (get(ins), get(insd));
        let slot = *users.at.entry(key.clone()).or_insert_with(|| {
            users.order.push((key, Vec::new()));
            users.order.len() - 1
        });
        if let Some((_, v)) = users.order.get_mut(slot) {
            v.push(i);
        }
    }
    users
}

struct Ctx<'a> {
    spec: &'a Spec,
    fields: &'a FieldMap,
    ol: &'a Layout,
    nl: &'a Layout,
    old: &'a [Record],
    new: &'a [Record],
    /// The key columns of the previous and the new layout (see [`Spec`]).
    old_key: Vec<Option<usize>>,
    new_key: Vec<Option<usize>>,
}

impl Ctx<'_> {
    fn is_header(&self, name: &str) -> bool {
        self.spec.header.contains(&name)
    }

    fn value(r: Option<&Record>, i: Option<usize>) -> &str {
        match (r, i) {
            (Some(r), Some(i)) => r.get(i).unwrap_or_default(),
            _ => "",
        }
    }

    /// The cells of the pair (old, new) over `names`; all cells of a row with one side
    /// missing are its non-empty values.
    fn cells(
        &self,
        old: Option<&Record>,
        new: Option<&Record>,
        include: impl Fn(&str) -> bool,
    ) -> Vec<CellDiff> {
        let mut out = Vec::new();
        for &(name, ni, oi) in &self.fields.pairs {
            if NOT_CELLS.contains(&name) || !include(name) {
                continue;
            }
            let a = Self::value(old, oi);
            let b = Self::value(new, ni);
            if a == b {
                continue;
            }
            let shown = |l: &Layout, i: Option<usize>, v: &str| match i {
                Some(i) => show(l, i + 1, v).text,
                None => v.to_owned(),
            };
            out.push(CellDiff {
                field: ni.or(oi).map_or(0, |i| i + 1),
                name,
                old: shown(self.ol, oi, a),
                new: shown(self.nl, ni, b),
            });
        }
        out
    }

    /// The key of a record: the key fields' values, or all non-header values.
    fn key<'r>(&self, new_side: bool, r: &'r Record) -> Vec<&'r str> {
        let cols = if new_side {
            &self.new_key
        } else {
            &self.old_key
        };
        cols.iter()
            .map(|&c| c.and_then(|c| r.get(c)).unwrap_or_default())
            .collect()
    }

    /// The 第6表 calendar of the records `rows` (one 利用者).
    fn calendar(
        &self,
        layout: &Layout,
        records: &[Record],
        rows: &[usize],
    ) -> Option<crate::view::Calendar> {
        let mine: Vec<Record> = rows
            .iter()
            .filter_map(|&i| records.get(i).cloned())
            .collect();
        calendar(layout, &mine).into_iter().next()
    }

    fn label(&self, layout: &Layout, r: &Record) -> String {
        let get = |name: &str| {
            layout
                .fields
                .iter()
                .position(|f| f.name == name)
                .and_then(|i| r.get(i))
                .unwrap_or_default()
        };
        match layout.kind {
            FileKind::Up2Kyo => format!(
                "課題{}・目標{}・援助内容{}",
                get("課題ＮＯ"),
                get("援助目標ＮＯ"),
                get("援助内容ＮＯ")
            ),
            FileKind::UpYoboSub => format!(
                "課題{}・支援計画{}・利用サービス{}",
                get("課題ＮＯ"),
                get("支援計画ＮＯ"),
                get("利用サービスＮＯ")
            ),
            FileKind::UpPlan | FileKind::UpJsk => {
                let date = get("サービス利用日");
                let time = |t: &str| {
                    if t == "9999" {
                        "時間指定なし".to_owned()
                    } else {
                        show_time(t).unwrap_or_else(|| t.to_owned())
                    }
                };
                let code = get("サービスコード");
                let meaning = crate::view::display::service_code_meaning(code)
                    .map(|m| format!(" {m}"))
                    .unwrap_or_default();
                format!(
                    "{} {}〜{} {code}{meaning} {}",
                    show_date(date).unwrap_or_else(|| date.to_owned()),
                    time(get("サービス開始時刻")),
                    time(get("サービス終了時刻")),
                    get("サービス事業所名")
                )
                .trim_end()
                .to_owned()
            }
            FileKind::UpSikyu => {
                let code = get("サービスコード");
                match Subtotal::of(code, get("サービス事業所コード")) {
                    Some(s) => {
                        let svc = code
                            .get(..2)
                            .and_then(crate::ids::service_type_label)
                            .filter(|_| s != Subtotal::Total)
                            .map(|l| format!("{l} "))
                            .unwrap_or_default();
                        format!("{svc}{}", s.label())
                    }
                    None => {
                        let meaning = crate::view::display::service_code_meaning(code)
                            .map(|m| format!(" {m}"))
                            .unwrap_or_default();
                        format!("{code}{meaning} {}", get("サービス事業所名"))
                            .trim_end()
                            .to_owned()
                    }
                }
            }
            FileKind::UpKihonSub1 => get("時間").to_owned(),
            FileKind::UpKihonSub2 => format!("{} {}", get("年月日"), get("病名")),
            _ if self.spec.key.is_empty() && !self.spec.whole_row => "利用者の行".to_owned(),
            _ => {
                // The first three non-empty values of the row.
                let vals: Vec<String> = layout
                    .fields
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !NOT_CELLS.contains(&f.name) && !self.is_header(f.name))
                    .filter_map(|(i, _)| {
                        let v = r.get(i).unwrap_or_default();
                        (!v.is_empty()).then(|| show(layout, i + 1, v).one_line())
                    })
                    .take(3)
                    .collect();
                vals.join(" ")
            }
        }
    }

    fn user(&self, key: &(String, String), old_rows: &[usize], new_rows: &[usize]) -> UserDiff {
        let first_old = old_rows.first().and_then(|&i| self.old.get(i));
        let first_new = new_rows.first().and_then(|&i| self.new.get(i));
        let header = if first_old.is_some() && first_new.is_some() {
            self.cells(first_old, first_new, |n| self.is_header(n))
        } else {
            Vec::new()
        };
        // Old rows by key, in order; each new row takes the first unused one of its key.
        let mut by_key: HashMap<Vec<&str>, std::collections::VecDeque<usize>> = HashMap::new();
        for &i in old_rows {
            if let Some(r) = self.old.get(i) {
                by_key.entry(self.key(false, r)).or_default().push_back(i);
            }
        }
        let mut used = vec![false; self.old.len()];
        let mut rows = Vec::new();
        let not_header = |n: &str| !self.is_header(n);
        for &i in new_rows {
            let Some(r) = self.new.get(i) else { continue };
            let matched = by_key
                .get_mut(&self.key(true, r))
                .and_then(std::collections::VecDeque::pop_front);
            match matched.and_then(|o| self.old.get(o).map(|x| (o, x))) {
                Some((o, old)) => {
                    if let Some(u) = used.get_mut(o) {
                        *u = true;
                    }
                    let cells = self.cells(Some(old), Some(r), not_header);
                    if !cells.is_empty() {
                        rows.push(RowDiff {
                            change: Change::Changed,
                            label: self.label(self.nl, r),
                            old_record: Some(old.number),
                            new_record: Some(r.number),
                            cells,
                        });
                    }
                }
                None => rows.push(RowDiff {
                    change: Change::Added,
                    label: self.label(self.nl, r),
                    old_record: None,
                    new_record: Some(r.number),
                    cells: self.cells(None, Some(r), not_header),
                }),
            }
        }
        for &i in old_rows {
            if used.get(i).copied().unwrap_or(true) {
                continue;
            }
            let Some(r) = self.old.get(i) else { continue };
            rows.push(RowDiff {
                change: Change::Removed,
                label: self.label(self.ol, r),
                old_record: Some(r.number),
                new_record: None,
                cells: self.cells(Some(r), None, not_header),
            });
        }
        UserDiff {
            insurer: key.0.clone(),
            insured: key.1.clone(),
            change: Change::Changed,
            header,
            rows,
            calendar: Vec::new(),
        }
    }
}

/// The 第6表 calendar lines of one 利用者 compared day by day.
fn calendar_diff(
    old: Option<&crate::view::Calendar>,
    new: Option<&crate::view::Calendar>,
) -> Vec<CalendarRowDiff> {
    use crate::view::CalendarRow;
    let key = |r: &CalendarRow| {
        (
            r.service_code.clone(),
            r.start.clone(),
            r.end.clone(),
            r.office_code.clone(),
        )
    };
    let old_rows: &[CalendarRow] = old.map_or(&[], |c| &c.rows);
    let new_rows: &[CalendarRow] = new.map_or(&[], |c| &c.rows);
    let days = |a: &[u32], b: &[u32]| -> Vec<DayDiff> {
        (0..31usize)
            .filter_map(|d| {
                let o = a.get(d).copied().unwrap_or(0);
                let n = b.get(d).copied().unwrap_or(0);
                (o != n).then(|| DayDiff {
                    day: u8::try_from(d + 1).unwrap_or(31),
                    old: o,
                    new: n,
                })
            })
            .collect()
    };
    let make =
        |change: Change, r: &CalendarRow, d: Vec<DayDiff>, ot: u32, nt: u32| CalendarRowDiff {
            change,
            service_code: r.service_code.clone(),
            service_label: r.service_label.clone(),
            start: r.start.clone(),
            end: r.end.clone(),
            office_code: r.office_code.clone(),
            office_name: r.office_name.clone(),
            days: d,
            old_total: ot,
            new_total: nt,
        };
    let mut out = Vec::new();
    for n in new_rows {
        match old_rows.iter().find(|o| key(o) == key(n)) {
            Some(o) => {
                let d = days(&o.days, &n.days);
                if !d.is_empty() {
                    out.push(make(Change::Changed, n, d, o.total, n.total));
                }
            }
            None => out.push(make(Change::Added, n, days(&[], &n.days), 0, n.total)),
        }
    }
    for o in old_rows {
        if !new_rows.iter().any(|n| key(n) == key(o)) {
            out.push(make(Change::Removed, o, days(&o.days, &[]), o.total, 0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::write_csv;
    use crate::demo;

    struct Files {
        set: Vec<demo::DemoFile>,
    }

    fn plan_files() -> Files {
        let offices = demo::demo_offices(21, 12);
        // A 訪問介護 provider: its visits start at 09:30.
        let home = offices
            .iter()
            .find(|o| o.service.as_str() == "11")
            .expect("a 訪問介護 office");
        let users = demo::demo_users(21, 3);
        Files {
            set: demo::plan_set(&offices[0], home, "202505", "20250420090000", &users),
        }
    }

    fn careplan_files() -> Files {
        let offices = demo::demo_offices(22, 3);
        let users = demo::demo_users(22, 2);
        Files {
            set: demo::careplan_set(
                &offices[0],
                &offices[1],
                "20250401",
                "20250401090000",
                &users,
            ),
        }
    }

    impl Files {
        fn bytes(&self, prefix: &str) -> Vec<u8> {
            self.set
                .iter()
                .find(|f| f.name.starts_with(&format!("{prefix}_")))
                .expect("file of the set")
                .bytes
                .clone()
        }
    }

    fn records(kind: FileKind, bytes: &[u8]) -> Vec<Vec<String>> {
        let r = validate(kind, None, bytes);
        assert!(!r.has_errors(), "{:?}", r.findings);
        r.records.iter().map(|x| x.to_vec()).collect()
    }

    fn write(kind: FileKind, recs: &[Vec<String>]) -> Vec<u8> {
        let bytes = write_csv(kind, "202407", recs).expect("ms932");
        assert!(!validate(kind, None, &bytes).has_errors());
        bytes
    }

    #[test]
    fn the_same_file_has_no_differences() {
        let f = plan_files();
        for (kind, prefix) in [
            (FileKind::UpPlan, "UPPLAN"),
            (FileKind::UpSikyu, "UPSIKYU"),
            (FileKind::UpHosoku, "UPHOSOKU"),
        ] {
            let b = f.bytes(prefix);
            let d = diff_bytes(kind, &b, &b).expect("diff");
            assert!(d.is_empty(), "{prefix}: {:?}", d.users);
            assert_eq!(d.unchanged_users, 3);
            assert_eq!(d.summary(), "前の版から変更はありません。");
        }
    }

    #[test]
    fn sheet6_days_moved_are_shown_on_the_calendar_and_as_rows() {
        let f = plan_files();
        let old = f.bytes("UPPLAN");
        let mut recs = records(FileKind::UpPlan, &old);
        // The first user's first service day moves to another day of the month.
        let date = 9; // サービス利用日 (0-based)
        let first_user = recs[0][2].clone();
        let moved_from = recs[0][date].clone();
        let taken: std::collections::HashSet<String> = recs
            .iter()
            .filter(|r| r[2] == first_user)
            .map(|r| r[date].clone())
            .collect();
        let moved_to = (1..=28)
            .map(|d| format!("202505{d:02}"))
            .find(|d| !taken.contains(d))
            .expect("a free day");
        recs[0][date] = moved_to.clone();
        let new = write(FileKind::UpPlan, &recs);
        let d = diff_bytes(FileKind::UpPlan, &old, &new).expect("diff");
        assert_eq!(d.users.len(), 1, "{:?}", d.users);
        let u = &d.users[0];
        assert_eq!(u.insured, first_user);
        assert_eq!(u.change, Change::Changed);
        assert_eq!((d.rows_added, d.rows_removed, d.rows_changed), (1, 1, 0));
        assert_eq!(u.calendar.len(), 1);
        let line = &u.calendar[0];
        assert_eq!(line.change, Change::Changed);
        assert_eq!(line.old_total, line.new_total);
        let day = |s: &str| s[6..8].parse::<u8>().expect("day");
        assert_eq!(line.days, {
            let mut v = vec![
                DayDiff {
                    day: day(&moved_from),
                    old: 1,
                    new: 0,
                },
                DayDiff {
                    day: day(&moved_to),
                    old: 0,
                    new: 1,
                },
            ];
            v.sort_by_key(|x| x.day);
            v
        });
        let added = u
            .rows
            .iter()
            .find(|r| r.change == Change::Added)
            .expect("added");
        assert!(
            added
                .label
                .starts_with(&show_date(&moved_to).expect("date")),
            "{}",
            added.label
        );
        assert_eq!(added.new_record, Some(1));
    }

    #[test]
    fn sheet6_a_new_user_and_a_changed_time() {
        let f = plan_files();
        let old = f.bytes("UPPLAN");
        let mut recs = records(FileKind::UpPlan, &old);
        let last_user = recs.last().expect("rows")[2].clone();
        // The last user leaves the plan; the first user's visits start 30 minutes later.
        recs.retain(|r| r[2] != last_user);
        let first_user = recs[0][2].clone();
        for r in recs.iter_mut().filter(|r| r[2] == first_user) {
            if r[11] == "0930" {
                r[11] = "1000".into();
            }
        }
        let new = write(FileKind::UpPlan, &recs);
        let d = diff_bytes(FileKind::UpPlan, &old, &new).expect("diff");
        let removed = d
            .users
            .iter()
            .find(|u| u.change == Change::Removed)
            .expect("removed user");
        assert_eq!(removed.insured, last_user);
        assert!(removed.rows.iter().all(|r| r.change == Change::Removed));
        assert!(removed.calendar.iter().all(|r| r.change == Change::Removed));
        // Old and new file order: the removed user comes last.
        assert_eq!(d.users.last().map(|u| &u.insured), Some(&last_user));
        let u = d
            .users
            .iter()
            .find(|u| u.insured == first_user)
            .expect("changed user");
        // A different start time is another service line: removed and added.
        assert!(
            u.calendar
                .iter()
                .any(|c| c.change == Change::Added && c.start == "1000")
        );
        assert!(
            u.calendar
                .iter()
                .any(|c| c.change == Change::Removed && c.start == "0930")
        );
        assert_eq!(d.users.len(), 2);
    }

    #[test]
    fn sheet7_totals_are_compared_cell_by_cell() {
        let f = plan_files();
        let old = f.bytes("UPSIKYU");
        let mut recs = records(FileKind::UpSikyu, &old);
        let total = recs
            .iter()
            .position(|r| r[8] == "999999")
            .expect("a total row");
        let units = 17; // 給付管理単位数 (0-based)
        let before = recs[total][units].clone();
        let after = (before.parse::<u32>().unwrap_or(0) + 100).to_string();
        recs[total][units] = after.clone();
        recs[0][3] = "20250425".into(); // 作成年月日 of the first user (once per user)
        let new = write(FileKind::UpSikyu, &recs);
        let d = diff_bytes(FileKind::UpSikyu, &old, &new).expect("diff");
        let changed: Vec<&RowDiff> = d.users.iter().flat_map(|u| &u.rows).collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert_eq!(changed[0].change, Change::Changed);
        assert_eq!(changed[0].label, "合計");
        assert_eq!(
            changed[0].cells,
            vec![CellDiff {
                field: 18,
                name: "給付管理単位数",
                old: before,
                new: after,
            }]
        );
        let header: Vec<&CellDiff> = d.users.iter().flat_map(|u| &u.header).collect();
        assert_eq!(header.len(), 1);
        assert_eq!(header[0].name, "作成年月日");
        assert_eq!(header[0].new, "2025/04/25");
    }

    #[test]
    fn sheet1_and_sheet2_text_fields() {
        let f = careplan_files();
        let old1 = f.bytes("UP1KYO");
        let mut recs = records(FileKind::Up1Kyo, &old1);
        recs[1][23] = "通院の付き添いを追加し、\r\n転倒予防を続けます。".into();
        let level = if recs[1][20] == "23" { "24" } else { "23" };
        recs[1][20] = level.into();
        let new1 = write(FileKind::Up1Kyo, &recs);
        let d = diff_bytes(FileKind::Up1Kyo, &old1, &new1).expect("diff");
        assert_eq!(d.users.len(), 1);
        assert_eq!(d.unchanged_users, 1);
        let row = &d.users[0].rows[0];
        assert_eq!(row.change, Change::Changed);
        let names: Vec<&str> = row.cells.iter().map(|c| c.name).collect();
        assert_eq!(names, vec!["要介護状態区分", "総合的な援助の方針"]);
        assert_eq!(
            row.cells[0].new,
            if level == "23" {
                "要介護３"
            } else {
                "要介護４"
            }
        );
        assert_eq!(
            row.cells[1].new,
            "通院の付き添いを追加し、\n転倒予防を続けます。"
        );

        let old2 = f.bytes("UP2KYO");
        let mut recs = records(FileKind::Up2Kyo, &old2);
        recs[0][9] = "一人で安心して入浴できる".into();
        let mut extra = recs[1].clone();
        extra[12] = "2".into();
        extra[13] = "福祉用具の見直し".into();
        recs.insert(2, extra);
        let new2 = write(FileKind::Up2Kyo, &recs);
        let d = diff_bytes(FileKind::Up2Kyo, &old2, &new2).expect("diff");
        let rows = &d.users[0].rows;
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].change, Change::Changed);
        assert_eq!(rows[0].label, "課題1・目標1・援助内容1");
        assert_eq!(rows[0].cells[0].name, "短期目標");
        assert_eq!(rows[1].change, Change::Added);
        assert_eq!(rows[1].label, "課題2・目標1・援助内容2");
        assert!(rows[1].cells.iter().any(|c| c.new == "福祉用具の見直し"));
    }

    #[test]
    fn v3_and_v4_files_compare_by_field_name() {
        let offices = demo::demo_offices(23, 3);
        let users = demo::demo_users(23, 2);
        let v3 = demo::plan_set_in(
            demo::Era::V3,
            &offices[0],
            &offices[1],
            "202505",
            "20250420090000",
            &users,
        );
        let v4 = demo::plan_set(&offices[0], &offices[1], "202505", "20250420090000", &users);
        let d = diff_bytes(FileKind::UpPlan, &v3[0].bytes, &v4[0].bytes).expect("diff");
        assert_eq!(d.old_version.as_deref(), Some("202208"));
        assert_eq!(d.new_version.as_deref(), Some("202407"));
        // The same plan: the calendar is unchanged whatever the layout.
        assert!(
            d.users.iter().all(|u| u.calendar.is_empty()),
            "{:?}",
            d.users
        );
    }

    #[test]
    fn unreadable_or_other_kinds_are_refused() {
        let f = plan_files();
        let plan = validate(FileKind::UpPlan, None, &f.bytes("UPPLAN"));
        let s7 = validate(FileKind::UpSikyu, None, &f.bytes("UPSIKYU"));
        assert!(diff(FileKind::UpPlan, &plan, &s7).is_err());
        let empty = validate(FileKind::UpPlan, None, b"");
        let e = diff(FileKind::UpPlan, &empty, &plan).expect_err("empty");
        assert!(e.message.contains("比べられません"));
    }
}
