//! The contents viewer and the pre-send check (issue 6).
//!
//! - [`FileViewer`]: any standard file as a table with the Japanese field names of its kind
//!   and CSVバージョン (codes decoded, dates as dates, free text with its line breaks), and
//!   as the paper form people know (第1表, 第2表, 第6表/実績 calendar, 第7表, 補足 per user).
//!   Damaged files show what can be read, with the problems marked on their rows and fields.
//! - [`SetView`]: the files of a batch grouped into send-sets with their completeness.
//! - [`PrecheckPanel`]: the pre-send check of a batch (OK / 注意 / エラー per file, findings
//!   with a button that opens the viewer at the record) and the send button that is
//!   disabled on errors and asks for a confirmation listing the warnings.
//!
//! The models are pure and live in [`careplan_core::view`]; this module only draws them.
//! How the screens call this is written down in `docs/viewer.md`.

mod compare;
mod forms;
mod precheck;
mod set;
mod table;

use std::collections::HashMap;

use careplan_core::csv::{CsvReport, Layout, Record, validate};
use careplan_core::view::{self, Calendar, HosokuUser, Plan2, Sheet7User, UserRecords};
use careplan_core::{FileKind, FileName, Finding, parse_name};
use egui::{Color32, RichText, Ui};

pub use careplan_core::view::{Precheck, Status};
pub use precheck::{PrecheckAction, PrecheckPanel};
pub use set::SetView;

/// 前回との比較 of a received file (issue 15): the differences from the earlier file it
/// replaces, or why they cannot be shown.
#[derive(Debug, Clone)]
pub enum Compare {
    /// The earlier file was read from this terminal and compared.
    Diff {
        /// The earlier file's name.
        previous: String,
        /// What changed.
        diff: Box<careplan_core::diff::FileDiff>,
    },
    /// The earlier file is not on this PC (or cannot be read or compared).
    Missing {
        /// The earlier file's name.
        previous: String,
        /// Why, in Japanese, with what to do.
        reason: String,
    },
}

/// Run the pre-send check of `files` (name, bytes) for `our_office` (see
/// [`careplan_core::view::Precheck::run`]). Pure and `Send`: run it on a worker thread for
/// large batches.
pub fn precheck<N: AsRef<str>, B: AsRef<[u8]>>(
    our_office: Option<&careplan_core::OfficeNumber>,
    files: &[(N, B)],
) -> Precheck {
    Precheck::run(our_office, files)
}

/// Which view of the file is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewMode {
    /// All records as a table.
    Table,
    /// The paper-form view of the kind (第2表, calendar, 第7表 …).
    Form,
    /// The list of problems found.
    Findings,
    /// 前回との比較 (only when a [`Compare`] was set).
    Compare,
}

/// The models of the form views, computed once when the file is opened.
#[derive(Debug, Default)]
struct FormModels {
    users: Vec<UserRecords>,
    plan2: Vec<Plan2>,
    calendars: Vec<Calendar>,
    sheet7: Vec<Sheet7User>,
    hosoku: Vec<HosokuUser>,
}

/// A standard file opened for reading: table view, form views and its problems.
///
/// Open it with [`FileViewer::open`] and draw it with [`FileViewer::ui`] inside any `Ui`
/// (a screen's central panel, a window: see [`FileViewer::show_window`]).
pub struct FileViewer {
    name: String,
    parsed: FileName,
    kind: Option<FileKind>,
    /// How the kind was chosen when the name is not standard.
    kind_note: Option<String>,
    size: usize,
    report: Option<CsvReport>,
    models: FormModels,
    /// Finding indexes per record number.
    by_record: HashMap<usize, Vec<usize>>,
    /// Finding indexes per (record number, field number).
    by_field: HashMap<(usize, usize), Vec<usize>>,
    mode: ViewMode,
    /// Selected record (0-based position in `report.records`).
    selected: Option<usize>,
    /// Selected field (1-based) of the selected record.
    selected_field: Option<usize>,
    /// Scroll the table to this position on the next frame.
    scroll_to: Option<usize>,
    /// Selected user of the form views (index into the form's list).
    user: usize,
    filter: String,
    filtered: Option<(String, Vec<usize>)>,
    /// Bytes kept only when the name is not standard (to re-read as another kind).
    reread: Option<Vec<u8>>,
    /// 差し替え済 / 削除済 of a received file, with which file replaces or removes it.
    mark: Option<(&'static str, String)>,
    /// 前回との比較 of a received file that replaces an earlier one.
    compare: Option<Compare>,
}

impl FileViewer {
    /// Open `bytes` named `name`. Never fails: a damaged file shows what can be read, and a
    /// file that is not a standard CSV (PDF等) says so.
    ///
    /// A CSV whose name is not standard (opened from disk) is read as the kind its content
    /// fits best; the user can pick another kind in the viewer.
    pub fn open(name: &str, bytes: &[u8]) -> Self {
        let parsed = parse_name(name);
        let mut kind = parsed.kind;
        let mut kind_note = None;
        let mut reread = None;
        let is_csv_name = name
            .rsplit_once('.')
            .is_some_and(|(_, e)| e.eq_ignore_ascii_case("csv"));
        if kind.is_none() && is_csv_name {
            if let Some(&k) = view::guess_kinds(bytes).first() {
                kind = Some(k);
                kind_note = Some(format!(
                    "ファイル名が標準仕様の形式ではないため、内容から「{}」として読み込みました。違う場合は下の「ファイルの種類」で選び直してください。",
                    k.label()
                ));
            } else {
                kind_note = Some(
                    "ファイル名が標準仕様の形式ではなく、内容もどの様式にも合いません。「ファイルの種類」を選ぶと、その様式として読み込みます。"
                        .to_owned(),
                );
            }
            reread = Some(bytes.to_vec());
        }
        Self::build(name, parsed, kind, kind_note, bytes, reread)
    }

    /// Open `bytes` read as `kind`, whatever the name says.
    pub fn open_as(name: &str, bytes: &[u8], kind: FileKind) -> Self {
        let parsed = parse_name(name);
        let note = (parsed.kind != Some(kind)).then(|| {
            format!(
                "「{}」として読み込んでいます（ファイル名からは判定していません）。",
                kind.label()
            )
        });
        let reread = (parsed.kind != Some(kind)).then(|| bytes.to_vec());
        Self::build(name, parsed, Some(kind), note, bytes, reread)
    }

    fn build(
        name: &str,
        parsed: FileName,
        kind: Option<FileKind>,
        kind_note: Option<String>,
        bytes: &[u8],
        reread: Option<Vec<u8>>,
    ) -> Self {
        let report = kind.filter(|k| k.is_csv()).map(|k| {
            let name_for_check = (parsed.kind == Some(k)).then_some(&parsed);
            let mut r = validate(k, name_for_check, bytes);
            // Problems of the name come first.
            if name_for_check.is_some() {
                let mut all = parsed.findings.clone();
                all.append(&mut r.findings);
                r.findings = all;
            }
            r
        });
        let mut v = Self {
            name: name.to_owned(),
            parsed,
            kind,
            kind_note,
            size: bytes.len(),
            report,
            models: FormModels::default(),
            by_record: HashMap::new(),
            by_field: HashMap::new(),
            mode: ViewMode::Table,
            selected: None,
            selected_field: None,
            scroll_to: None,
            user: 0,
            filter: String::new(),
            filtered: None,
            reread,
            mark: None,
            compare: None,
        };
        v.index();
        if v.has_form() {
            v.mode = ViewMode::Form;
        }
        v
    }

    fn index(&mut self) {
        let Some(report) = &self.report else { return };
        for (i, f) in report.findings.iter().enumerate() {
            if let Some(r) = f.record {
                self.by_record.entry(r).or_default().push(i);
                if let Some(c) = f.field {
                    self.by_field.entry((r, c)).or_default().push(i);
                }
            }
        }
        let Some(layout) = report.layout else { return };
        let recs = &report.records;
        let m = &mut self.models;
        m.users = view::users(layout, recs);
        match layout.kind {
            FileKind::Up2Kyo => m.plan2 = view::sheet2(layout, recs),
            FileKind::UpPlan | FileKind::UpJsk => m.calendars = view::calendar(layout, recs),
            FileKind::UpSikyu => m.sheet7 = view::sheet7(layout, recs),
            FileKind::UpHosoku => m.hosoku = view::hosoku(layout, recs),
            _ => {}
        }
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind the file is read as (`None`: not a standard CSV).
    pub fn kind(&self) -> Option<FileKind> {
        self.kind
    }

    /// The validation report (records, layout, findings); `None` for attachments.
    pub fn report(&self) -> Option<&CsvReport> {
        self.report.as_ref()
    }

    /// Every problem found (name and content).
    pub fn findings(&self) -> &[Finding] {
        self.report
            .as_ref()
            .map_or(self.parsed.findings.as_slice(), |r| r.findings.as_slice())
    }

    /// True when any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.findings().iter().any(Finding::is_error)
    }

    /// Mark a received file that a later one replaces or removes (`label`: 差し替え済 /
    /// 削除済; `detail`: which file, shown beside it).
    pub fn set_mark(&mut self, label: &'static str, detail: String) {
        self.mark = Some((label, detail));
    }

    /// The mark set with [`FileViewer::set_mark`].
    pub fn mark(&self) -> Option<&str> {
        self.mark.as_ref().map(|m| m.0)
    }

    /// Offer 「前回との比較」 for a received file that replaces an earlier one.
    pub fn set_compare(&mut self, compare: Compare) {
        self.compare = Some(compare);
    }

    /// The comparison set with [`FileViewer::set_compare`].
    pub fn compare(&self) -> Option<&Compare> {
        self.compare.as_ref()
    }

    /// The current view.
    pub fn mode(&self) -> ViewMode {
        self.mode
    }

    /// Switch view (the form view only exists for CSV files).
    pub fn set_mode(&mut self, mode: ViewMode) {
        self.mode = mode;
    }

    /// Show record `record` (1-based record number, as in findings) in the table, with
    /// field `field` (1-based) highlighted; without a record, show the list of problems.
    pub fn go_to(&mut self, record: Option<usize>, field: Option<usize>) {
        match record.and_then(|r| self.position_of(r)) {
            Some(pos) => {
                self.mode = ViewMode::Table;
                self.selected = Some(pos);
                self.selected_field = field;
                self.scroll_to = Some(pos);
                self.filter.clear();
                self.filtered = None;
            }
            None => self.mode = ViewMode::Findings,
        }
    }

    /// Open `name`/`bytes` at a finding's place (see [`FileViewer::go_to`]).
    pub fn open_at(name: &str, bytes: &[u8], record: Option<usize>, field: Option<usize>) -> Self {
        let mut v = Self::open(name, bytes);
        if record.is_some() || field.is_some() {
            v.go_to(record, field);
        } else if v.has_errors() {
            v.mode = ViewMode::Findings;
        }
        v
    }

    /// Show the viewer in its own window (title: the file name). `open` is cleared when the
    /// user closes the window.
    pub fn show_window(&mut self, ctx: &egui::Context, open: &mut bool) {
        egui::Window::new(format!("内容表示：{}", self.name))
            .id(egui::Id::unique(("careplan-viewer-window", &self.name)))
            .open(open)
            .default_size([1000.0, 640.0])
            .resizable(true)
            .show(ctx, |ui| self.ui(ui));
    }

    fn position_of(&self, record: usize) -> Option<usize> {
        self.report
            .as_ref()?
            .records
            .binary_search_by_key(&record, |r| r.number)
            .ok()
    }

    fn layout(&self) -> Option<&'static Layout> {
        self.report.as_ref().and_then(|r| r.layout)
    }

    fn records(&self) -> &[Record] {
        self.report.as_ref().map_or(&[], |r| r.records.as_slice())
    }

    fn has_form(&self) -> bool {
        self.layout().is_some() && !self.records().is_empty()
    }

    /// The name of the form view in the mode selector.
    fn form_label(&self) -> &'static str {
        match self.kind {
            Some(FileKind::Up1Kyo) => "第1表（帳票）",
            Some(FileKind::Up2Kyo) => "第2表（帳票）",
            Some(FileKind::Up3Kyo) => "第3表（週間）",
            Some(FileKind::UpPlan) => "予定カレンダー",
            Some(FileKind::UpJsk) => "実績カレンダー",
            Some(FileKind::UpSikyu) => "第7表（帳票）",
            Some(FileKind::UpHosoku) => "利用者ごと",
            _ => "1件ずつ",
        }
    }

    fn findings_of_record(&self, record: usize) -> impl Iterator<Item = &Finding> {
        let all = self.findings();
        self.by_record
            .get(&record)
            .into_iter()
            .flatten()
            .filter_map(move |&i| all.get(i))
    }

    fn findings_of_field(&self, record: usize, field: usize) -> impl Iterator<Item = &Finding> {
        let all = self.findings();
        self.by_field
            .get(&(record, field))
            .into_iter()
            .flatten()
            .filter_map(move |&i| all.get(i))
    }

    /// Draw the viewer.
    pub fn ui(&mut self, ui: &mut Ui) {
        self.header_ui(ui);
        ui.separator();
        if self.report.is_none() {
            self.not_csv_ui(ui);
            return;
        }
        match self.mode {
            ViewMode::Table => table::table_ui(self, ui),
            ViewMode::Form => forms::form_ui(self, ui),
            ViewMode::Findings => self.findings_ui(ui),
            ViewMode::Compare => match &self.compare {
                Some(c) => compare::compare_ui(c, ui),
                None => self.findings_ui(ui),
            },
        }
    }

    fn header_ui(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.heading(&self.name);
            if let Some((label, detail)) = &self.mark {
                ui.label(
                    RichText::new(*label)
                        .strong()
                        .color(ui.visuals().warn_fg_color),
                )
                .on_hover_text(detail.as_str());
            }
        });
        if let Some((_, detail)) = &self.mark
            && !detail.is_empty()
        {
            ui.colored_label(ui.visuals().warn_fg_color, detail);
        }
        ui.horizontal_wrapped(|ui| {
            let kind = self
                .kind
                .map_or("PDF等（標準仕様のCSVではありません）", |k| {
                    k.label()
                });
            ui.label(format!("種類：{kind}"));
            if let Some(report) = &self.report {
                let version = report.csv_version.as_deref().unwrap_or("不明");
                let layout = report.layout.map_or(String::new(), |l| {
                    let gen_label = if l.is_v4() { "第4.1版" } else { "第3版系" };
                    format!("（{gen_label}の様式・{}項目）", l.fields.len())
                });
                ui.label(format!("CSVバージョン：{version}{layout}"));
                ui.label(format!("データ：{}件", report.records.len()));
            }
            ui.label(format!("サイズ：{}バイト", self.size));
        });
        ui.horizontal_wrapped(|ui| {
            let p = &self.parsed;
            if let Some(from) = &p.from_office {
                ui.label(format!("送信元：{from}"));
            }
            if let Some(to) = &p.to_office {
                ui.label(format!("送信先：{to}"));
            }
            if let Some(m) = p.month.as_deref() {
                let shown = view::show_month(m).unwrap_or_else(|| "なし（000000）".to_owned());
                ui.label(format!("対象年月：{shown}"));
            }
            if let Some(s) = p.serial.as_deref() {
                ui.label(format!("連番：{s}"));
            }
        });
        if let Some(note) = &self.kind_note {
            ui.colored_label(ui.visuals().warn_fg_color, note);
        }
        if self.reread.is_some() {
            self.kind_picker_ui(ui);
        }
        let errors = self.findings().iter().filter(|f| f.is_error()).count();
        let warnings = self.findings().len() - errors;
        ui.horizontal_wrapped(|ui| {
            if errors + warnings == 0 {
                ui.label(RichText::new("問題は見つかりませんでした").color(ok_color(ui)));
            } else {
                if errors > 0 {
                    ui.colored_label(ui.visuals().error_fg_color, format!("エラー {errors}件"));
                }
                if warnings > 0 {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("注意 {warnings}件"));
                }
            }
            if self.report.is_some() {
                ui.separator();
                ui.selectable_value(&mut self.mode, ViewMode::Table, "表");
                if self.has_form() {
                    let label = self.form_label();
                    ui.selectable_value(&mut self.mode, ViewMode::Form, label);
                }
                ui.selectable_value(
                    &mut self.mode,
                    ViewMode::Findings,
                    format!("指摘一覧（{}件）", errors + warnings),
                );
                if self.compare.is_some() {
                    ui.selectable_value(&mut self.mode, ViewMode::Compare, "前回との比較");
                }
            }
        });
    }

    fn kind_picker_ui(&mut self, ui: &mut Ui) {
        let mut chosen = self.kind;
        egui::ComboBox::from_label("ファイルの種類")
            .selected_text(self.kind.map_or("（選んでください）", |k| k.label()))
            .show_ui(ui, |ui| {
                for k in FileKind::ALL.into_iter().filter(|k| k.is_csv()) {
                    ui.selectable_value(&mut chosen, Some(k), k.label());
                }
            });
        if chosen != self.kind
            && let (Some(k), Some(bytes)) = (chosen, self.reread.take())
        {
            let mode = self.mode;
            *self = Self::open_as(&self.name.clone(), &bytes, k);
            if self.has_form() && mode == ViewMode::Form {
                self.mode = mode;
            }
        }
    }

    fn not_csv_ui(&self, ui: &mut Ui) {
        let text = match self.kind {
            Some(k) if k.is_image() => {
                "家族構成 画像（JPEG）です。CSVではないため表としては表示しません。"
            }
            _ => {
                "標準仕様のCSVファイルではありません（PDF等の添付ファイル）。送信先の介護ソフトには取り込まれず、ファイルとして届きます。"
            }
        };
        ui.label(text);
        for f in &self.parsed.findings {
            finding_label(ui, f);
        }
    }

    fn findings_ui(&mut self, ui: &mut Ui) {
        let findings: Vec<Finding> = self.findings().to_vec();
        if findings.is_empty() {
            ui.label("問題は見つかりませんでした。");
            return;
        }
        let mut go: Option<(Option<usize>, Option<usize>)> = None;
        let row_height = ui.text_style_height(&egui::TextStyle::Body) * 2.6;
        egui_extras::TableBuilder::new(ui)
            .id_salt("viewer-findings")
            .striped(true)
            .column(egui_extras::Column::exact(64.0))
            .column(egui_extras::Column::exact(110.0))
            .column(egui_extras::Column::remainder().clip(true))
            .column(egui_extras::Column::exact(72.0))
            .header(22.0, |mut h| {
                h.col(|ui| {
                    ui.strong("区分");
                });
                h.col(|ui| {
                    ui.strong("場所");
                });
                h.col(|ui| {
                    ui.strong("内容");
                });
                h.col(|ui| {
                    ui.strong("移動");
                });
            })
            .body(|body| {
                body.rows(row_height, findings.len(), |mut row| {
                    let Some(f) = findings.get(row.index()) else {
                        return;
                    };
                    row.col(|ui| {
                        severity_label(ui, f);
                    });
                    row.col(|ui| {
                        ui.label(place(f));
                    });
                    row.col(|ui| {
                        ui.add(egui::Label::new(&f.message).wrap())
                            .on_hover_text(&f.message);
                    });
                    row.col(|ui| {
                        if f.record.is_some()
                            && ui
                                .button("表で見る")
                                .on_hover_text("この行を表で表示します")
                                .clicked()
                        {
                            go = Some((f.record, f.field));
                        }
                    });
                });
            });
        if let Some((r, c)) = go {
            self.go_to(r, c);
        }
    }
}

/// `3行目 5項目` or `3行目` or `ファイル全体`.
pub(crate) fn place(f: &Finding) -> String {
    match (f.record, f.field) {
        (Some(r), Some(c)) => format!("{r}行目 {c}項目"),
        (Some(r), None) => format!("{r}行目"),
        _ => "ファイル全体".to_owned(),
    }
}

pub(crate) fn ok_color(ui: &Ui) -> Color32 {
    if ui.visuals().dark_mode {
        Color32::from_rgb(110, 200, 120)
    } else {
        Color32::from_rgb(20, 120, 40)
    }
}

pub(crate) fn severity_color(ui: &Ui, f: &Finding) -> Color32 {
    if f.is_error() {
        ui.visuals().error_fg_color
    } else {
        ui.visuals().warn_fg_color
    }
}

pub(crate) fn severity_label(ui: &mut Ui, f: &Finding) {
    let text = if f.is_error() { "エラー" } else { "注意" };
    ui.colored_label(severity_color(ui, f), text);
}

pub(crate) fn finding_label(ui: &mut Ui, f: &Finding) {
    ui.horizontal_wrapped(|ui| {
        severity_label(ui, f);
        ui.add(egui::Label::new(f.to_string()).wrap());
    });
}
