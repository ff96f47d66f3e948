//! The send-set view: the files of a batch grouped by serial (ファイル連番) and destination,
//! each set with its kind and completeness, and any file opened in the viewer below.

use careplan_core::route::{SendSet, send_sets};
use careplan_core::{FileName, parse_name};
use egui::{RichText, Ui};

use super::{FileViewer, ok_color};

/// Files grouped into send-sets (same serial and destination) with their completeness.
pub struct SetView {
    files: Vec<(String, Vec<u8>)>,
    names: Vec<FileName>,
    sets: Vec<SendSet>,
    viewer: Option<FileViewer>,
}

impl SetView {
    /// Group `files` (name, bytes) into send-sets.
    pub fn new(files: Vec<(String, Vec<u8>)>) -> Self {
        let names: Vec<FileName> = files.iter().map(|(n, _)| parse_name(n)).collect();
        let sets = send_sets(&names);
        Self {
            files,
            names,
            sets,
            viewer: None,
        }
    }

    /// The send-sets, in the receiver's import order (ascending serial).
    pub fn sets(&self) -> &[SendSet] {
        &self.sets
    }

    /// The file opened in the viewer, if any.
    pub fn viewer(&self) -> Option<&FileViewer> {
        self.viewer.as_ref()
    }

    /// Open file `name` of the batch in the viewer below the sets.
    pub fn open(&mut self, name: &str) {
        if let Some((n, b)) = self.files.iter().find(|(n, _)| n == name) {
            self.viewer = Some(FileViewer::open(n, b));
        }
    }

    /// Draw the sets, the files outside any set, and the opened file.
    pub fn ui(&mut self, ui: &mut Ui) {
        let mut open: Option<String> = None;
        if self.sets.is_empty() {
            ui.label("送信セットになる標準仕様のファイルがありません。");
        }
        for (si, set) in self.sets.iter().enumerate() {
            ui.push_id(("send-set", si), |ui| {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        ui.strong(format!("連番 {}", set.serial));
                        ui.label(set.kind.label());
                        if let Some(to) = &set.to_office {
                            ui.label(format!("送信先 {to}"));
                        }
                        if set.complete && set.findings.is_empty() {
                            ui.label(RichText::new("そろっています").color(ok_color(ui)));
                        } else if set.complete {
                            ui.colored_label(ui.visuals().warn_fg_color, "確認が必要です");
                        } else {
                            ui.colored_label(ui.visuals().warn_fg_color, "不足があります");
                        }
                    });
                    for f in &set.findings {
                        ui.horizontal_wrapped(|ui| {
                            ui.colored_label(ui.visuals().warn_fg_color, "注意");
                            ui.add(egui::Label::new(&f.message).wrap());
                        });
                    }
                    egui::Grid::new("set-files").striped(true).show(ui, |ui| {
                        for name in &set.files {
                            let kind = self
                                .names
                                .iter()
                                .find(|n| &n.file == name)
                                .and_then(|n| n.kind);
                            ui.label(kind.map_or("PDF等", |k| k.label()));
                            ui.label(name);
                            if ui.button("表示").clicked() {
                                open = Some(name.clone());
                            }
                            ui.end_row();
                        }
                    });
                });
            });
        }
        let outside: Vec<&FileName> = self
            .names
            .iter()
            .filter(|n| !self.sets.iter().any(|s| s.files.contains(&n.file)))
            .collect();
        if !outside.is_empty() {
            ui.add_space(4.0);
            ui.strong("送信セットに入らないファイル（PDF等・名前に誤りのあるファイル）");
            egui::Grid::new("set-outside").striped(true).show(ui, |ui| {
                for n in outside {
                    ui.label(n.kind.map_or("PDF等", |k| k.label()));
                    ui.label(&n.file);
                    if let Some(f) = n.findings.first() {
                        ui.add(egui::Label::new(&f.message).wrap());
                    } else {
                        ui.label("");
                    }
                    ui.end_row();
                }
            });
        }
        if let Some(name) = open {
            self.open(&name);
        }
        if let Some(v) = &mut self.viewer {
            ui.separator();
            let mut close = false;
            ui.horizontal(|ui| {
                if ui.button("内容表示を閉じる").clicked() {
                    close = true;
                }
            });
            v.ui(ui);
            if close {
                self.viewer = None;
            }
        }
    }
}
