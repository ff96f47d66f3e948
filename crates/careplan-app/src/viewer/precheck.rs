//! The pre-send check widget: per file OK / 注意 / エラー with its findings, the findings
//! across files, a button that opens the viewer at the record, and the send button (disabled
//! on errors; on warnings it asks for a confirmation that lists them).

use careplan_core::view::{Precheck, PrecheckItem, Status};
use careplan_core::{Finding, OfficeNumber};
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::{FileViewer, ok_color, place, severity_color};

/// What the user asked for in [`PrecheckPanel::ui`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrecheckAction {
    /// Nothing this frame.
    None,
    /// Send: there is no error, and any warnings were confirmed in the dialog.
    Send,
}

/// The pre-send check of a batch of files, drawn as a list with a send button.
///
/// Owns the files (name, bytes) it checked, so it can open them in the viewer; the screen
/// takes them back with [`PrecheckPanel::files`] / [`PrecheckPanel::into_files`].
pub struct PrecheckPanel {
    files: Vec<(String, Vec<u8>)>,
    check: Precheck,
    send_label: String,
    viewer: Option<FileViewer>,
    viewer_open: bool,
    confirming: bool,
    acknowledged: bool,
}

impl PrecheckPanel {
    /// Check `files` for `our_office` (the logged-in office; `None` when not known yet).
    pub fn new(our_office: Option<&OfficeNumber>, files: Vec<(String, Vec<u8>)>) -> Self {
        let check = Precheck::run(our_office, &files);
        Self::from_check(check, files)
    }

    /// A panel over a check computed elsewhere (e.g. on a worker thread) for `files`.
    pub fn from_check(check: Precheck, files: Vec<(String, Vec<u8>)>) -> Self {
        Self {
            files,
            check,
            send_label: "送信する".to_owned(),
            viewer: None,
            viewer_open: false,
            confirming: false,
            acknowledged: false,
        }
    }

    /// Use `label` on the send button (default 「送信する」).
    #[must_use]
    pub fn with_send_label(mut self, label: &str) -> Self {
        label.clone_into(&mut self.send_label);
        self
    }

    /// The check result.
    pub fn check(&self) -> &Precheck {
        &self.check
    }

    /// The files checked, in order.
    pub fn files(&self) -> &[(String, Vec<u8>)] {
        &self.files
    }

    /// Give the files back.
    pub fn into_files(self) -> Vec<(String, Vec<u8>)> {
        self.files
    }

    /// True while the warning confirmation dialog is open.
    pub fn is_confirming(&self) -> bool {
        self.confirming
    }

    /// Open the viewer on file `index` at `record`/`field` (1-based, as in findings).
    pub fn open_viewer(&mut self, index: usize, record: Option<usize>, field: Option<usize>) {
        if let Some((name, bytes)) = self.files.get(index) {
            self.viewer = Some(FileViewer::open_at(name, bytes, record, field));
            self.viewer_open = true;
        }
    }

    /// The viewer opened from the list, if any.
    pub fn viewer(&self) -> Option<&FileViewer> {
        self.viewer.as_ref().filter(|_| self.viewer_open)
    }

    /// Draw the list and the send button; returns [`PrecheckAction::Send`] when the user
    /// sends (no errors, warnings confirmed).
    pub fn ui(&mut self, ui: &mut Ui) -> PrecheckAction {
        self.list_ui(ui);
        ui.separator();
        let action = self.send_button(ui);
        self.windows(ui.ctx());
        action
    }

    /// Only the status line, the file list and the findings (no send button).
    pub fn list_ui(&mut self, ui: &mut Ui) {
        self.summary_ui(ui);
        self.files_ui(ui);
        self.findings_ui(ui);
    }

    fn summary_ui(&self, ui: &mut Ui) {
        let errors = self.check.errors().len();
        let warnings = self.check.warnings().len();
        let text = match self.check.status() {
            _ if self.check.files.is_empty() => {
                "ファイルがありません。送るファイルを追加してください。".to_owned()
            }
            Status::Ok => format!(
                "送信前チェック：{}ファイルすべて問題ありません。",
                self.check.files.len()
            ),
            Status::Warning => format!(
                "送信前チェック：注意が{warnings}件あります。内容を確認してから送信してください。"
            ),
            Status::Error => format!(
                "送信前チェック：エラーが{errors}件あります（注意{warnings}件）。エラーを直すまで送信できません。"
            ),
        };
        let color = match self.check.status() {
            Status::Ok => ok_color(ui),
            Status::Warning => ui.visuals().warn_fg_color,
            Status::Error => ui.visuals().error_fg_color,
        };
        ui.label(RichText::new(text).color(color).strong());
    }

    fn files_ui(&mut self, ui: &mut Ui) {
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 8.0;
        let n = self.check.files.len();
        let mut open: Option<usize> = None;
        let height = (row_height + 4.0) * (n.min(8) as f32 + 1.0);
        ui.push_id("precheck-files", |ui| {
            TableBuilder::new(ui)
                .id_salt("precheck-files-table")
                .striped(true)
                .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
                .max_scroll_height(height)
                .column(Column::exact(56.0))
                .column(Column::initial(420.0).resizable(true).clip(true))
                .column(Column::initial(210.0).resizable(true).clip(true))
                .column(Column::exact(100.0))
                .column(Column::exact(60.0))
                .column(Column::exact(60.0))
                .column(Column::exact(60.0))
                .header(row_height, |mut h| {
                    for t in [
                        "状態",
                        "ファイル名",
                        "種類",
                        "CSVバージョン",
                        "件数",
                        "指摘",
                        "",
                    ] {
                        h.col(|ui| {
                            ui.strong(t);
                        });
                    }
                })
                .body(|body| {
                    body.rows(row_height, n, |mut row| {
                        let i = row.index();
                        let Some(f) = self.check.files.get(i) else {
                            return;
                        };
                        row.col(|ui| {
                            let color = match f.status {
                                Status::Ok => ok_color(ui),
                                Status::Warning => ui.visuals().warn_fg_color,
                                Status::Error => ui.visuals().error_fg_color,
                            };
                            ui.label(RichText::new(f.status.label()).color(color).strong());
                        });
                        row.col(|ui| {
                            ui.add(egui::Label::new(&f.name).truncate());
                        });
                        row.col(|ui| {
                            ui.label(f.parsed.kind.map_or("PDF等", |k| k.label()));
                        });
                        row.col(|ui| {
                            ui.label(f.csv_version.as_deref().unwrap_or("―"));
                        });
                        row.col(|ui| {
                            if f.parsed.kind.is_some_and(|k| k.is_csv()) {
                                ui.label(f.records.to_string());
                            }
                        });
                        row.col(|ui| {
                            let batch = self.check.batch_findings_of(i).count();
                            let k = f.findings.len() + batch;
                            if k > 0 {
                                ui.label(format!("{k}件"));
                            }
                        });
                        row.col(|ui| {
                            if f.parsed.kind.is_some_and(|k| k.is_csv())
                                && ui
                                    .button("内容")
                                    .on_hover_text(format!("{} の内容を表示します", f.name))
                                    .clicked()
                            {
                                open = Some(i);
                            }
                        });
                    });
                });
        });
        if let Some(i) = open {
            self.open_viewer(i, None, None);
        }
    }

    fn findings_ui(&mut self, ui: &mut Ui) {
        let mut items: Vec<(Option<usize>, Option<String>, Finding, usize)> = self
            .check
            .errors()
            .into_iter()
            .chain(self.check.warnings())
            .map(|i: PrecheckItem<'_>| {
                (
                    i.file,
                    i.file_name.map(str::to_owned),
                    i.finding.clone(),
                    if i.batch { i.file_count } else { 0 },
                )
            })
            .collect();
        if items.is_empty() {
            return;
        }
        ui.add_space(4.0);
        ui.strong("指摘");
        let mut open: Option<(usize, Option<usize>, Option<usize>)> = None;
        egui::ScrollArea::vertical()
            .id_salt("precheck-findings")
            .max_height(260.0)
            .auto_shrink([false, true])
            .show(ui, |ui| {
                for (file, name, f, batch_files) in items.drain(..) {
                    ui.horizontal_wrapped(|ui| {
                        let c = severity_color(ui, &f);
                        ui.label(
                            RichText::new(if f.is_error() { "エラー" } else { "注意" })
                                .color(c)
                                .strong(),
                        );
                        let whom = match (&name, batch_files) {
                            (Some(n), 0) => format!("{n}（{}）", place(&f)),
                            (Some(n), 1) => n.clone(),
                            (Some(n), k) => format!("{n} ほか{}ファイル", k - 1),
                            (None, _) => "送信全体".to_owned(),
                        };
                        ui.weak(whom);
                        ui.add(egui::Label::new(&f.message).wrap());
                        let can_open = file
                            .and_then(|i| self.check.files.get(i))
                            .is_some_and(|c| c.parsed.kind.is_some_and(|k| k.is_csv()));
                        if let Some(i) = file.filter(|_| can_open)
                            && ui
                                .button("開く")
                                .on_hover_text(
                                    "このファイルを内容表示で開き、該当する行を表示します",
                                )
                                .clicked()
                        {
                            open = Some((i, f.record, f.field));
                        }
                    });
                }
            });
        if let Some((i, r, c)) = open {
            self.open_viewer(i, r, c);
        }
    }

    /// The send button alone: disabled on errors, asks for a confirmation on warnings.
    /// Returns `Send` when the user sends. Call [`PrecheckPanel::windows`] once per frame
    /// too (done by [`PrecheckPanel::ui`]).
    pub fn send_button(&mut self, ui: &mut Ui) -> PrecheckAction {
        let can = self.check.can_send();
        let mut action = PrecheckAction::None;
        ui.horizontal(|ui| {
            let resp = ui.add_enabled(can, egui::Button::new(self.send_label.as_str()));
            let resp = if self.check.files.is_empty() {
                resp.on_disabled_hover_text("送るファイルがありません。")
            } else {
                resp.on_disabled_hover_text(
                    "エラーがあるため送信できません。エラーのファイルを外すか、直したファイルに差し替えてください。",
                )
            };
            if resp.clicked() {
                if self.check.needs_confirmation() {
                    self.confirming = true;
                    self.acknowledged = false;
                } else {
                    action = PrecheckAction::Send;
                }
            }
            if !can && !self.check.files.is_empty() {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    "エラーがあるため送信できません。",
                );
            }
        });
        if self.confirming && self.confirm_ui(ui.ctx()) {
            action = PrecheckAction::Send;
        }
        action
    }

    /// The confirmation dialog listing the warnings; true when the user confirms.
    fn confirm_ui(&mut self, ctx: &egui::Context) -> bool {
        let warnings: Vec<(Option<String>, Finding)> = self
            .check
            .warnings()
            .into_iter()
            .map(|i| (i.file_name.map(str::to_owned), i.finding.clone()))
            .collect();
        let mut send = false;
        let mut cancel = false;
        let modal = egui::Modal::new(egui::Id::unique("precheck-confirm")).show(ctx, |ui| {
            ui.set_max_width(640.0);
            ui.heading("注意があります");
            ui.label(format!(
                "次の{}件の注意を確認してください。このまま送ると、送信先で取り込めないか、意図しない内容になるおそれがあります。",
                warnings.len()
            ));
            egui::ScrollArea::vertical()
                .max_height(280.0)
                .show(ui, |ui| {
                    for (name, f) in &warnings {
                        ui.horizontal_wrapped(|ui| {
                            ui.colored_label(ui.visuals().warn_fg_color, "注意");
                            if let Some(n) = name {
                                ui.weak(n);
                            }
                            ui.add(egui::Label::new(&f.message).wrap());
                        });
                    }
                });
            ui.separator();
            ui.checkbox(&mut self.acknowledged, "上の注意をすべて確認しました");
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(
                        self.acknowledged,
                        egui::Button::new("注意を確認して送信する"),
                    )
                    .clicked()
                {
                    send = true;
                }
                if ui.button("送信をやめる").clicked() {
                    cancel = true;
                }
            });
        });
        if modal.should_close() {
            cancel = true;
        }
        if send || cancel {
            self.confirming = false;
            self.acknowledged = false;
        }
        send
    }

    /// The viewer window opened from the list (call once per frame; [`PrecheckPanel::ui`]
    /// does).
    pub fn windows(&mut self, ctx: &egui::Context) {
        if let Some(v) = &mut self.viewer {
            let mut open = self.viewer_open;
            v.show_window(ctx, &mut open);
            self.viewer_open = open;
        }
        if !self.viewer_open {
            self.viewer = None;
        }
    }
}
