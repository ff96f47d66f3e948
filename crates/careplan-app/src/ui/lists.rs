//! 受信一覧 (with データ受信 and the contents viewer) and 送信一覧.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use careplan_client::{
    Client, ClientError, Listing, ReceiveReport, ReceivedTransmission, SentTransmission,
};
use egui::RichText;
use egui_extras::{Column, TableBuilder};
use time::OffsetDateTime;

use super::jobs::{Jobs, Msg};
use super::received_table::{ReceivedTable, RowMark};
use super::table::{ListView, empty_state, matches, status_text};
use super::{CareplanApp, when};
use crate::viewer::{Compare, FileViewer};

/// Results of 受信一覧 jobs.
pub enum ReceivedMsg {
    /// The list (compact), whether it is the offline copy, when it was fetched.
    List(Result<(Box<ReceivedTable>, bool, OffsetDateTime), ClientError>),
    /// A file finished during データ受信: (done, total, name).
    Progress(usize, usize, String),
    /// データ受信 finished (or stopped).
    Done(Result<ReceiveReport, ClientError>, bool),
    /// A saved file read for the viewer.
    Viewer(Result<Box<FileViewer>, String>),
    /// The folder picked in the dialog.
    Folder(Option<PathBuf>),
}

/// Results of 送信一覧 jobs.
pub enum SentMsg {
    /// The list.
    List(Result<Listing<SentTransmission>, ClientError>),
}

#[derive(Default)]
struct ReceiveDialog {
    open: bool,
    folder: String,
    ids: Vec<String>,
    running: bool,
    progress: (usize, usize, String),
    cancel: Arc<AtomicBool>,
    result: Option<Result<ReceiveReport, String>>,
    cancelled: bool,
}

/// State of 受信一覧.
pub(crate) struct ReceivedScreen {
    table: Option<ReceivedTable>,
    fetched_at: Option<OffsetDateTime>,
    offline: bool,
    error: Option<String>,
    view: ListView,
    /// The file per visible row, in display order.
    rows: Rows,
    selected: BTreeSet<String>,
    /// Files not yet 済 (kept with the table).
    unread: usize,
    dialog: ReceiveDialog,
}

impl Default for ReceivedScreen {
    fn default() -> Self {
        Self {
            table: None,
            fetched_at: None,
            offline: false,
            error: None,
            view: ListView::new(0),
            rows: Rows::List(Vec::new()),
            selected: BTreeSet::new(),
            unread: 0,
            dialog: ReceiveDialog::default(),
        }
    }
}

/// 受信一覧's rows: the file index per visible row (its transmission is
/// [`ReceivedTable::transmission_of`]). Every file in the table's order, or newest first,
/// needs no list (4 bytes per row saved in the default view).
enum Rows {
    /// Every file, transmissions in the table's order.
    Forward(usize),
    /// Every file, transmissions in reverse order, each one's files in order.
    Backward(usize),
    /// Any other order, or a search.
    List(Vec<u32>),
}

impl Rows {
    fn len(&self) -> usize {
        match self {
            Rows::Forward(n) | Rows::Backward(n) => *n,
            Rows::List(v) => v.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn file(&self, l: &ReceivedTable, r: usize) -> usize {
        match self {
            Rows::Forward(_) => r,
            Rows::Backward(_) => l.file_in_reverse_order(r),
            Rows::List(v) => v[r] as usize,
        }
    }
}

fn received_key(l: &ReceivedTable, t: usize, col: usize) -> String {
    let f = l.files(t).next();
    match col {
        1 => l.message(t).to_owned(),
        2 => l.sender_name(t).to_owned(),
        3 => f.map(|f| l.file_name(f).to_string()).unwrap_or_default(),
        4 => f
            .map(|f| l.category(f).label().to_owned())
            .unwrap_or_default(),
        5 => f.and_then(|f| l.version(f)).unwrap_or_default().to_owned(),
        6 => status_text(l.all_acquired(t)).to_owned(),
        _ => String::new(),
    }
}

impl ReceivedScreen {
    pub(crate) fn refresh(&mut self, ctx: &egui::Context, jobs: &mut Jobs, client: &Client) {
        let c = client.clone();
        jobs.spawn_once(ctx, "received", move || {
            // The compact table is built here, on the worker, not on the UI thread.
            let r = c.received().map(|l| {
                (
                    Box::new(ReceivedTable::new(&l.items)),
                    l.offline,
                    l.fetched_at,
                )
            });
            super::received_table::release_freed_memory();
            Msg::Received(ReceivedMsg::List(r))
        });
    }

    pub(crate) fn set_items(
        &mut self,
        items: Vec<ReceivedTransmission>,
        offline: bool,
        fetched_at: OffsetDateTime,
    ) {
        let table = ReceivedTable::new(&items);
        drop(items);
        self.set_table(table, offline, fetched_at);
        // After the row order too: its temporary lists are freed by then.
        super::received_table::release_freed_memory();
    }

    pub(crate) fn set_table(
        &mut self,
        table: ReceivedTable,
        offline: bool,
        fetched_at: OffsetDateTime,
    ) {
        if !self.selected.is_empty() {
            let ids: HashSet<String> = table
                .all_files()
                .map(|f| table.file_id(f).to_string())
                .collect();
            self.selected.retain(|id| ids.contains(id.as_str()));
        }
        self.unread = table.all_files().filter(|&f| !table.acquired(f)).count();
        self.table = Some(table);
        self.offline = offline;
        self.fetched_at = Some(fetched_at);
        self.view.dirty = true;
        self.reorder();
    }

    /// Something arrived for our office (the waiting worker): refresh the list when it is
    /// shown or was loaded, except during データ受信 (its end refreshes it anyway).
    pub(crate) fn arrived(
        &mut self,
        ctx: &egui::Context,
        jobs: &mut Jobs,
        client: &Client,
        visible: bool,
    ) {
        if (visible || self.table.is_some()) && !self.dialog.running {
            self.refresh(ctx, jobs, client);
        }
    }

    /// The list was fetched (or read from the offline cache) at least once.
    pub(crate) fn loaded(&self) -> bool {
        self.table.is_some()
    }

    /// Files not yet 済 in the list (0 before it was fetched).
    pub(crate) fn unread(&self) -> usize {
        if self.table.is_some() { self.unread } else { 0 }
    }

    pub(crate) fn row_count(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn offline_since(&self) -> Option<OffsetDateTime> {
        self.fetched_at.filter(|_| self.offline)
    }

    fn reorder(&mut self) {
        self.view.dirty = false;
        self.rows = Rows::List(Vec::new());
        let Some(l) = &self.table else {
            return;
        };
        let terms = self.view.terms();
        let mut order: Vec<usize> = (0..l.len())
            .filter(|&t| {
                if terms.is_empty() {
                    return true;
                }
                let mut hay = format!(
                    "{} {} {} {}",
                    l.message(t),
                    l.sender_name(t),
                    l.sender_office(t),
                    when(l.received_at(t))
                );
                for f in l.files(t) {
                    hay.push(' ');
                    l.file_name(f).push_to(&mut hay);
                }
                matches(&terms, &hay.to_lowercase())
            })
            .collect();
        let col = self.view.sort;
        if col == 0 {
            order.sort_by_key(|&t| l.received_secs(t));
        } else {
            let keys: Vec<String> = (0..l.len()).map(|t| received_key(l, t, col)).collect();
            order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        }
        if !self.view.ascending {
            order.reverse();
        }
        let n = l.all_files().len();
        if order.len() == l.len() && order.iter().enumerate().all(|(i, &t)| i == t) {
            self.rows = Rows::Forward(n);
        } else if order.len() == l.len() && order.iter().rev().enumerate().all(|(i, &t)| i == t) {
            self.rows = Rows::Backward(n);
        } else {
            let mut rows = Vec::with_capacity(order.iter().map(|&t| l.files(t).len()).sum());
            for t in order {
                rows.extend(l.files(t).map(|f| f as u32));
            }
            self.rows = Rows::List(rows);
        }
    }

    fn unread_ids(&self) -> Vec<String> {
        self.table
            .as_ref()
            .map(|l| {
                l.all_files()
                    .filter(|&f| !l.acquired(f))
                    .map(|f| l.file_id(f).to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub(crate) fn apply_received(app: &mut CareplanApp, ctx: &egui::Context, m: ReceivedMsg) {
    let r = &mut app.received;
    match m {
        ReceivedMsg::List(Ok((table, offline, fetched_at))) => {
            r.error = None;
            r.set_table(*table, offline, fetched_at);
        }
        ReceivedMsg::List(Err(ClientError::SessionExpired)) => {
            app.session_lost(ctx);
        }
        ReceivedMsg::List(Err(e)) => r.error = Some(e.message_ja()),
        ReceivedMsg::Progress(done, total, name) => r.dialog.progress = (done, total, name),
        ReceivedMsg::Done(res, cancelled) => {
            r.dialog.running = false;
            r.dialog.cancelled = cancelled;
            if let Ok(rep) = &res {
                for s in &rep.saved {
                    r.selected.remove(&s.id);
                }
            }
            r.dialog.result = Some(res.map_err(|e| e.message_ja()));
            if let Some(s) = &app.session {
                let c = s.client.clone();
                app.received.refresh(ctx, &mut app.jobs, &c);
            }
        }
        ReceivedMsg::Viewer(Ok(v)) => app.viewer = Some(v),
        ReceivedMsg::Viewer(Err(e)) => app.error("ファイルを開けません", &e),
        ReceivedMsg::Folder(Some(p)) => r.dialog.folder = p.display().to_string(),
        ReceivedMsg::Folder(None) => {}
    }
}

pub(crate) fn received_ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    // No client only in the benchmark mode (rows without a relay).
    let client = app.session.as_ref().map(|s| s.client.clone());
    let office = client
        .as_ref()
        .map(|c| c.office().as_str().to_owned())
        .unwrap_or_default();
    let r = &mut app.received;
    ui.horizontal(|ui| {
        ui.heading("受信一覧");
        r.view
            .search_box(ui, "received-search", "ファイル名・メッセージ・事業所");
        if ui.button("更新").clicked()
            && let Some(c) = &client
        {
            r.refresh(&ctx, &mut app.jobs, c);
        }
        ui.separator();
        // The count is kept with the table: nothing per frame walks all rows.
        if ui
            .add_enabled(r.unread > 0, egui::Button::new("未取得をすべて選択"))
            .clicked()
        {
            r.selected = r.unread_ids().into_iter().collect();
        }
        if ui
            .add_enabled(!r.selected.is_empty(), egui::Button::new("選択を解除"))
            .clicked()
        {
            r.selected.clear();
        }
        if ui
            .add_enabled(
                !r.selected.is_empty() && !r.dialog.running,
                egui::Button::new(
                    RichText::new(format!("データ受信（{}件）", r.selected.len())).strong(),
                ),
            )
            .clicked()
        {
            r.dialog.open = true;
            r.dialog.result = None;
            r.dialog.ids = r.selected.iter().cloned().collect();
            if r.dialog.folder.is_empty()
                && let Some(d) = &app.settings.receive_dir
            {
                r.dialog.folder = d.display().to_string();
            }
        }
    });
    if let Some(e) = &r.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if r.view.dirty {
        r.reorder();
    }
    let mut open_file: Option<OpenRequest> = None;
    match &r.table {
        None => empty_state(ui, "受信一覧を取得しています…"),
        Some(l) if r.rows.is_empty() => empty_state(
            ui,
            if l.is_empty() {
                "受信したデータはありません。"
            } else {
                "検索に一致するデータはありません。"
            },
        ),
        Some(l) => {
            let row_h = 25.0;
            let rows = &r.rows;
            let selected = &mut r.selected;
            let view = &mut r.view;
            // 未 rows: the table's "selected" row background, in the light green of the
            // official client, with normal text colour (a full-width band, no gaps).
            let text = ui.visuals().text_color();
            ui.visuals_mut().selection.bg_fill = super::unread_tint(ui.ctx());
            ui.visuals_mut().selection.stroke.color = text;
            super::table::wide(ui, "received-wide", |ui| {
                TableBuilder::new(ui)
                    .id_salt("received")
                    .striped(false)
                    .column(Column::exact(34.0))
                    .column(Column::exact(172.0))
                    .column(
                        Column::initial(140.0)
                            .at_least(60.0)
                            .resizable(true)
                            .clip(true),
                    )
                    .column(
                        Column::initial(160.0)
                            .at_least(60.0)
                            .resizable(true)
                            .clip(true),
                    )
                    // The file name takes what is left, so the table always fits the window
                    // and the last column (内容) stays reachable.
                    .column(Column::remainder().at_least(120.0).clip(true))
                    .column(Column::exact(100.0))
                    .column(Column::exact(84.0))
                    .column(Column::exact(118.0))
                    .column(Column::exact(52.0))
                    .header(row_h + 4.0, |mut h| {
                        h.col(|ui| {
                            ui.strong("選択");
                        });
                        h.col(|ui| view.header(ui, 0, "受信日時"));
                        h.col(|ui| view.header(ui, 1, "メッセージ"));
                        h.col(|ui| view.header(ui, 2, "送信元事業所名称"));
                        h.col(|ui| view.header(ui, 3, "ファイル名"));
                        h.col(|ui| view.header(ui, 4, "ファイル種別"));
                        h.col(|ui| view.header(ui, 5, "バージョン"));
                        h.col(|ui| view.header(ui, 6, "データ取得状況"));
                        h.col(|ui| {
                            ui.strong("内容");
                        });
                    })
                    .body(|mut body| {
                        // egui_extras gives every cell its own clip rectangle, so every cell
                        // is a separate draw call, and Mesa's software renderer keeps memory per
                        // draw call of a frame (≈ 7 MB for a screen of this table, issue 16).
                        // The cells' contents fit their cells (exact widths, or truncated:
                        // egui_extras sets `Truncate` in the clipped columns), so the body's
                        // clip rectangle draws the same pixels, and the body is one draw call.
                        let body_clip = body.ui_mut().clip_rect();
                        body.rows(row_h, rows.len(), |mut row| {
                            let f = rows.file(l, row.index());
                            let t = l.transmission_of(f);
                            let first = l.files(t).start == f;
                            let (f_id, f_name, acquired) =
                                (l.file_id(f), l.file_name(f), l.acquired(f));
                            let unread = !acquired;
                            row.set_selected(unread);
                            row.col(|ui| {
                                ui.set_clip_rect(body_clip);
                                let mut on = selected.contains(&*f_id);
                                let label = format!("{f_name} を選択");
                                let resp = ui.add(egui::Checkbox::without_text(&mut on));
                                resp.widget_info(|| {
                                    egui::WidgetInfo::selected(
                                        egui::Role::CheckBox,
                                        true,
                                        on,
                                        label.clone(),
                                    )
                                });
                                if resp.on_hover_text(label.as_str()).changed() {
                                    if on {
                                        selected.insert(f_id.to_string());
                                    } else {
                                        selected.remove(&*f_id);
                                    }
                                }
                            });
                            row.col(|ui| {
                                ui.set_clip_rect(body_clip);
                                if first {
                                    ui.label(when(l.received_at(t)));
                                }
                            });
                            row.col(|ui| {
                                ui.set_clip_rect(body_clip);
                                if first {
                                    ui.label(l.message(t));
                                }
                            });
                            row.col(|ui| {
                                ui.set_clip_rect(body_clip);
                                if first {
                                    ui.label(l.sender_name(t)).on_hover_text(format!(
                                        "事業所番号 {}",
                                        l.sender_office(t)
                                    ));
                                }
                            });
                            row.col(|ui| {
                                ui.set_clip_rect(body_clip);
                                let prefix = if first { "" } else { "└ " };
                                let mark = l.mark(f);
                                if mark == RowMark::Current {
                                    ui.label(format!("{prefix}{f_name}"));
                                } else {
                                    // A later file replaces or removes this one: the mark first
                                    // (the name column clips), which file on hover.
                                    ui.horizontal(|ui| {
                                        ui.spacing_mut().item_spacing.x = 4.0;
                                        if !prefix.is_empty() {
                                            ui.label(prefix);
                                        }
                                        let tag = ui.label(
                                            RichText::new(mark.label())
                                                .color(ui.visuals().warn_fg_color)
                                                .strong(),
                                        );
                                        if let Some(h) = l.mark_hover(f) {
                                            tag.on_hover_text(h);
                                        }
                                        ui.add(
                                            egui::Label::new(
                                                RichText::new(f_name.to_string()).weak(),
                                            )
                                            .truncate(),
                                        );
                                    });
                                }
                            });
                            row.col(|ui| {
                                ui.set_clip_rect(body_clip);
                                ui.label(l.category(f).label());
                            });
                            row.col(|ui| {
                                ui.set_clip_rect(body_clip);
                                ui.label(l.version(f).unwrap_or("—"));
                            });
                            row.col(|ui| {
                                ui.set_clip_rect(body_clip);
                                ui.label(status_text(acquired));
                            });
                            row.col(|ui| {
                                ui.set_clip_rect(body_clip);
                                if acquired && {
                                    let label = format!("{f_name} の内容を表示");
                                    let b = ui.small_button("表示");
                                    b.widget_info(|| {
                                        egui::WidgetInfo::labeled(
                                            egui::Role::Button,
                                            true,
                                            label.clone(),
                                        )
                                    });
                                    b.on_hover_text(label.as_str()).clicked()
                                } {
                                    open_file = Some(open_request(l, f));
                                }
                            });
                        });
                    });
            });
        }
    }
    if let Some(req) = open_file {
        let store = app.store.clone();
        app.jobs.spawn(&ctx, "files", move || {
            let r = (|| {
                let rec = store
                    .receive_record(&office, &req.id)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| {
                        "この端末で受信したファイルではないため、内容を表示できません。この端末でデータ受信してください。".to_owned()
                    })?;
                let bytes = std::fs::read(&rec.path).map_err(|e| {
                    format!(
                        "受信したファイル {} を読めません（{e}）。移動または削除された可能性があります。",
                        rec.path.display()
                    )
                })?;
                let mut v = FileViewer::open(&req.name, &bytes);
                if let Some(m) = req.mark {
                    v.set_mark(m.0, m.1);
                }
                if let Some((prev_id, prev_name)) = req.previous {
                    v.set_compare(previous_compare(
                        &store, &office, &prev_id, &prev_name, &req.name, &bytes,
                    ));
                }
                Ok(Box::new(v))
            })();
            Msg::Received(ReceivedMsg::Viewer(r))
        });
    }
    receive_dialog(app, &ctx);
}

/// What 表示 opens: the file, its mark and the earlier file it replaces.
struct OpenRequest {
    id: String,
    name: String,
    /// (label, which file replaces or removes it).
    mark: Option<(&'static str, String)>,
    /// The latest earlier file this one replaces: (id, name).
    previous: Option<(String, String)>,
}

/// Built on a click only (a scan of the files, never per frame).
fn open_request(l: &ReceivedTable, f: usize) -> OpenRequest {
    let mark = (l.mark(f) != RowMark::Current)
        .then(|| (l.mark(f).label(), l.mark_hover(f).unwrap_or_default()));
    let previous = l
        .all_files()
        .filter(|&g| l.superseded_by(g) == Some(f))
        .max_by_key(|&g| (l.received_secs(l.transmission_of(g)), g))
        .map(|g| (l.file_id(g).to_string(), l.file_name(g).to_string()));
    OpenRequest {
        id: l.file_id(f).to_string(),
        name: l.file_name(f).to_string(),
        mark,
        previous,
    }
}

/// 前回との比較 of a received file with the earlier file it replaces, when this terminal
/// saved that one (the receive journal has its path).
fn previous_compare(
    store: &careplan_client::Store,
    office: &str,
    prev_id: &str,
    prev_name: &str,
    name: &str,
    bytes: &[u8],
) -> Compare {
    let missing = |why: String| Compare::Missing {
        previous: prev_name.to_owned(),
        reason: why,
    };
    let rec = match store.receive_record(office, prev_id) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return missing(format!(
                "前の版「{prev_name}」はこのパソコンで受信していないため、比較できません。前の版を受信一覧で選んで「データ受信」すると比較できます。"
            ));
        }
        Err(e) => return missing(format!("受信の記録を読めません（{e}）。")),
    };
    let old = match std::fs::read(&rec.path) {
        Ok(b) => b,
        Err(e) => {
            return missing(format!(
                "前の版「{prev_name}」の保存先 {} を読めません（{e}）。移動または削除された可能性があります。",
                rec.path.display()
            ));
        }
    };
    let Some(kind) = careplan_core::parse_name(name).kind else {
        return missing("ファイル名から種類が分からないため、比較できません。".to_owned());
    };
    match careplan_core::diff::diff_bytes(kind, &old, bytes) {
        Ok(d) => Compare::Diff {
            previous: prev_name.to_owned(),
            diff: Box::new(d),
        },
        Err(e) => missing(e.message),
    }
}

fn receive_dialog(app: &mut CareplanApp, ctx: &egui::Context) {
    if !app.received.dialog.open {
        return;
    }
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    let mut start = false;
    let mut close = false;
    let mut pick = false;
    let d = &mut app.received.dialog;
    let modal = egui::Modal::new(egui::Id::unique("receive-dialog")).show(ctx, |ui| {
        ui.set_width(560.0);
        ui.heading("データ受信");
        ui.label(format!("選択した{}件のファイルを保存します。", d.ids.len()));
        ui.horizontal(|ui| {
            let l = ui.label("保存先フォルダ");
            ui.add_enabled(
                !d.running,
                egui::TextEdit::singleline(&mut d.folder)
                    .id_salt("receive-folder")
                    .desired_width(320.0),
            )
            .labelled_by(l.id);
            if ui
                .add_enabled(!d.running, egui::Button::new("参照…"))
                .clicked()
            {
                pick = true;
            }
        });
        ui.weak("同じ名前のファイルがあるときは上書きせず、名前に (1) などを付けて保存します。");
        if d.running {
            let (done, total, name) = &d.progress;
            let frac = if *total == 0 {
                0.0
            } else {
                *done as f32 / *total as f32
            };
            ui.add(egui::ProgressBar::new(frac).text(format!("{done} / {total}  {name}")));
            if ui.button("中止").clicked() {
                d.cancel.store(true, Ordering::Relaxed);
            }
        } else if let Some(res) = &d.result {
            match res {
                Ok(rep) => {
                    let head = if d.cancelled {
                        "受信を中止しました。"
                    } else {
                        "受信が完了しました。"
                    };
                    ui.label(
                        RichText::new(format!(
                            "{head} 保存: {}件、失敗: {}件",
                            rep.saved.len(),
                            rep.failed.len()
                        ))
                        .strong(),
                    );
                    egui::ScrollArea::vertical()
                        .max_height(200.0)
                        .show(ui, |ui| {
                            for s in &rep.saved {
                                ui.label(format!("保存 {}", s.path.display()));
                            }
                            for f in &rep.failed {
                                ui.colored_label(
                                    ui.visuals().error_fg_color,
                                    format!(
                                        "失敗 {}: {}",
                                        f.name.as_deref().unwrap_or(&f.id),
                                        f.message
                                    ),
                                );
                            }
                        });
                }
                Err(e) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
            }
            if ui.button("閉じる").clicked() {
                close = true;
            }
        } else {
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(!d.folder.trim().is_empty(), egui::Button::new("受信する"))
                    .clicked()
                {
                    start = true;
                }
                if ui.button("キャンセル").clicked() {
                    close = true;
                }
            });
        }
    });
    if modal.should_close() && !d.running {
        close = true;
    }
    if close {
        d.open = false;
        d.result = None;
    }
    if pick {
        let start_dir = PathBuf::from(d.folder.clone());
        app.jobs.spawn(ctx, "pick", move || {
            let mut dlg = rfd::FileDialog::new().set_title("保存先フォルダ");
            if start_dir.is_dir() {
                dlg = dlg.set_directory(start_dir);
            }
            Msg::Received(ReceivedMsg::Folder(dlg.pick_folder()))
        });
    }
    if start {
        let dir = PathBuf::from(d.folder.trim());
        app.settings.receive_dir = Some(dir.clone());
        let ids = d.ids.clone();
        d.running = true;
        d.progress = (0, ids.len(), String::new());
        d.cancel = Arc::new(AtomicBool::new(false));
        let cancel = d.cancel.clone();
        let send = app.jobs.progress_sender(ctx);
        app.save_settings();
        app.jobs.spawn(ctx, "receive", move || {
            let total = ids.len();
            let mut report = ReceiveReport::default();
            let mut done = 0;
            // Chunks of a few files: 中止 takes effect between chunks, never mid-file, so
            // a file is either saved and 済 or untouched.
            for chunk in ids.chunks(5) {
                if cancel.load(Ordering::Relaxed) {
                    return Msg::Received(ReceivedMsg::Done(Ok(report), true));
                }
                let r = client.receive(chunk, &dir, &mut |p| {
                    send(Msg::Received(ReceivedMsg::Progress(
                        done + p.done,
                        total,
                        p.name,
                    )));
                });
                match r {
                    Ok(rep) => {
                        report.saved.extend(rep.saved);
                        report.failed.extend(rep.failed);
                    }
                    Err(e) if report.saved.is_empty() && report.failed.is_empty() => {
                        return Msg::Received(ReceivedMsg::Done(Err(e), false));
                    }
                    Err(e) => {
                        for id in chunk {
                            report.failed.push(careplan_client::ReceiveFailure {
                                id: id.clone(),
                                name: None,
                                code: e.code(),
                                message: e.message_ja(),
                            });
                        }
                    }
                }
                done += chunk.len();
            }
            Msg::Received(ReceivedMsg::Done(Ok(report), false))
        });
    }
}

/// State of 送信一覧.
pub(crate) struct SentScreen {
    list: Option<Listing<SentTransmission>>,
    error: Option<String>,
    view: ListView,
    /// (transmission, destination, file) per visible row.
    rows: Vec<(u32, u32, u32)>,
}

impl Default for SentScreen {
    fn default() -> Self {
        Self {
            list: None,
            error: None,
            view: ListView::new(0),
            rows: Vec::new(),
        }
    }
}

fn sent_key(t: &SentTransmission, col: usize) -> String {
    let d = t.destinations.first();
    match col {
        1 => t.message.clone(),
        2 => d.map(|d| d.office.clone()).unwrap_or_default(),
        3 => d
            .and_then(|d| d.files.first())
            .map(|f| f.name.clone())
            .unwrap_or_default(),
        4 => d
            .and_then(|d| d.files.first())
            .map(|f| f.category.label().to_owned())
            .unwrap_or_default(),
        5 => status_text(t.destinations.iter().all(|d| d.all_acquired())).to_owned(),
        _ => String::new(),
    }
}

impl SentScreen {
    pub(crate) fn refresh(&mut self, ctx: &egui::Context, jobs: &mut Jobs, client: &Client) {
        let c = client.clone();
        jobs.spawn_once(ctx, "sent", move || Msg::Sent(SentMsg::List(c.sent())));
    }

    pub(crate) fn apply(&mut self, m: SentMsg) {
        match m {
            SentMsg::List(Ok(l)) => {
                self.list = Some(l);
                self.error = None;
                self.view.dirty = true;
            }
            SentMsg::List(Err(e)) => self.error = Some(e.message_ja()),
        }
    }

    pub(crate) fn offline_since(&self) -> Option<OffsetDateTime> {
        self.list
            .as_ref()
            .filter(|l| l.offline)
            .map(|l| l.fetched_at)
    }

    fn reorder(&mut self) {
        self.view.dirty = false;
        self.rows.clear();
        let Some(l) = &self.list else { return };
        let terms = self.view.terms();
        let mut order: Vec<usize> = (0..l.items.len())
            .filter(|&i| {
                if terms.is_empty() {
                    return true;
                }
                let t = &l.items[i];
                let mut hay = format!("{} {}", t.message, when(t.sent_at));
                for d in &t.destinations {
                    hay.push_str(&format!(
                        " {} {}",
                        d.office,
                        d.name.as_deref().unwrap_or("")
                    ));
                    for f in &d.files {
                        hay.push(' ');
                        hay.push_str(&f.name);
                    }
                }
                matches(&terms, &hay.to_lowercase())
            })
            .collect();
        let col = self.view.sort;
        if col == 0 {
            order.sort_by_key(|&i| l.items[i].sent_at);
        } else {
            let keys: Vec<String> = l.items.iter().map(|t| sent_key(t, col)).collect();
            order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        }
        if !self.view.ascending {
            order.reverse();
        }
        for i in order {
            for (di, d) in l.items[i].destinations.iter().enumerate() {
                for fi in 0..d.files.len() {
                    self.rows.push((i as u32, di as u32, fi as u32));
                }
            }
        }
    }
}

pub(crate) fn sent_ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    let s = &mut app.sent;
    ui.horizontal(|ui| {
        ui.heading("送信一覧");
        s.view
            .search_box(ui, "sent-search", "ファイル名・メッセージ・事業所");
        if ui.button("更新").clicked() {
            s.refresh(&ctx, &mut app.jobs, &client);
        }
    });
    if let Some(e) = &s.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if s.view.dirty {
        s.reorder();
    }
    let Some(l) = &s.list else {
        empty_state(ui, "送信一覧を取得しています…");
        return;
    };
    if s.rows.is_empty() {
        empty_state(
            ui,
            if l.items.is_empty() {
                "送信したデータはありません。「新規作成」または「一括送信」から送信できます。"
            } else {
                "検索に一致するデータはありません。"
            },
        );
        return;
    }
    let row_h = 25.0;
    let rows = &s.rows;
    let view = &mut s.view;
    super::table::wide(ui, "sent-wide", |ui| {
        TableBuilder::new(ui)
            .id_salt("sent")
            .striped(true)
            .column(Column::exact(172.0))
            .column(
                Column::initial(180.0)
                    .at_least(60.0)
                    .resizable(true)
                    .clip(true),
            )
            .column(
                Column::initial(230.0)
                    .at_least(80.0)
                    .resizable(true)
                    .clip(true),
            )
            .column(Column::remainder().at_least(120.0).clip(true))
            .column(Column::exact(100.0))
            .column(Column::exact(130.0))
            .header(row_h + 4.0, |mut h| {
                h.col(|ui| view.header(ui, 0, "送信日時"));
                h.col(|ui| view.header(ui, 1, "メッセージ"));
                h.col(|ui| view.header(ui, 2, "送信先事業所"));
                h.col(|ui| view.header(ui, 3, "ファイル名"));
                h.col(|ui| view.header(ui, 4, "ファイル種別"));
                h.col(|ui| view.header(ui, 5, "ダウンロード状況"));
            })
            .body(|body| {
                body.rows(row_h, rows.len(), |mut row| {
                    let (ti, di, fi) = rows[row.index()];
                    let t = &l.items[ti as usize];
                    let d = &t.destinations[di as usize];
                    let f = &d.files[fi as usize];
                    let first_t = di == 0 && fi == 0;
                    let first_d = fi == 0;
                    row.col(|ui| {
                        if first_t {
                            ui.label(when(t.sent_at));
                        }
                    });
                    row.col(|ui| {
                        if first_t {
                            ui.label(&t.message);
                        }
                    });
                    row.col(|ui| {
                        if first_d {
                            match &d.name {
                                Some(n) => ui.label(format!("{} {n}", d.office)),
                                None => ui.label(&d.office),
                            };
                        }
                    });
                    row.col(|ui| {
                        ui.label(&f.name);
                    });
                    row.col(|ui| {
                        ui.label(f.category.label());
                    });
                    row.col(|ui| {
                        if first_d {
                            let all = d.all_acquired();
                            let text = RichText::new(status_text(all));
                            ui.label(if all { text } else { text.strong() })
                                .on_hover_text("済: 送信先がすべてのファイルを保存しました。");
                        }
                    });
                });
            });
    });
}
