//! The table view: one row per record, one column per field of the layout, only the
//! visible rows laid out; the selected record in full below (free text with line breaks).

use careplan_core::csv::{FieldDef, Layout, Record};
use careplan_core::view::{self, Shown, ShownKind};
use egui::{Align, Color32, RichText, Sense, Ui};
use egui_extras::{Column, TableBuilder};

use super::{FileViewer, place, severity_color, severity_label};

/// Width of a field's column from its name and length.
fn column_width(def: Option<&FieldDef>) -> f32 {
    let Some(def) = def else { return 120.0 };
    let name = def.name.chars().count() as f32 * 13.0;
    let len = def.len.map_or(220.0, |l| f32::from(l) * 9.0);
    (name.max(len) + 16.0).clamp(64.0, 260.0)
}

/// Text shown in a table cell: the readable value on one line.
pub(super) fn cell_text(layout: &Layout, no: usize, raw: &str) -> (Shown, String) {
    let shown = view::show(layout, no, raw);
    let text = match (&shown.kind, &shown.meaning) {
        // A code of a table: its meaning (the code is in the tooltip and the detail).
        (ShownKind::Code, Some(m)) if shown.text == *m => m.clone(),
        // サービスコード: code and service type.
        (ShownKind::Code, Some(m)) => format!("{} {m}", shown.text),
        _ => shown.one_line(),
    };
    (shown, text)
}

fn matches(record: &Record, needle: &str) -> bool {
    record.fields().any(|f| f.contains(needle))
}

pub(super) fn table_ui(v: &mut FileViewer, ui: &mut Ui) {
    let Some(layout) = v.layout() else {
        ui.label("データ行がないため、表示できる内容がありません。下の指摘を確認してください。");
        for f in v.findings() {
            super::finding_label(ui, f);
        }
        return;
    };
    // Search box.
    ui.horizontal(|ui| {
        let label = ui.label("絞り込み");
        ui.add(
            egui::TextEdit::singleline(&mut v.filter)
                .hint_text("含む文字（氏名、被保険者番号、サービスコード など）")
                .desired_width(320.0),
        )
        .labelled_by(label.id);
        if !v.filter.is_empty() && ui.button("解除").clicked() {
            v.filter.clear();
        }
    });
    let filter = v.filter.trim().to_owned();
    let rows: Option<Vec<usize>> = if filter.is_empty() {
        v.filtered = None;
        None
    } else {
        let stale = v.filtered.as_ref().is_none_or(|(f, _)| *f != filter);
        if stale {
            let hits: Vec<usize> = v
                .records()
                .iter()
                .enumerate()
                .filter(|(_, r)| matches(r, &filter))
                .map(|(i, _)| i)
                .collect();
            v.filtered = Some((filter.clone(), hits));
        }
        v.filtered.as_ref().map(|(_, h)| h.clone())
    };
    let total = rows.as_ref().map_or(v.records().len(), Vec::len);
    if total == 0 {
        ui.label("該当する行がありません。絞り込みの文字を変えてください。");
    }

    // The selected record in full, at the bottom.
    if v.selected.is_some() {
        egui::Panel::bottom("viewer-record-detail")
            .resizable(true)
            .default_size(220.0)
            .show(ui, |ui| detail_ui(v, layout, ui));
    }

    let n_fields = v
        .records()
        .iter()
        .map(Record::len)
        .max()
        .unwrap_or(0)
        .max(layout.fields.len())
        // A broken line can hold thousands of commas: the detail panel shows them all.
        .min(layout.fields.len() + 16);
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    let scroll_to = v.scroll_to.take().map(|pos| match &rows {
        Some(r) => r.iter().position(|&p| p == pos).unwrap_or(0),
        None => pos,
    });
    let mut clicked: Option<(usize, Option<usize>)> = None;
    egui::ScrollArea::horizontal()
        .id_salt("viewer-table-h")
        .show(ui, |ui| {
            // Clicks on cells select the row (labels would take them for text selection).
            ui.style_mut().interaction.selectable_labels = false;
            let mut tb = TableBuilder::new(ui)
                .id_salt("viewer-table")
                .striped(true)
                .sense(Sense::click())
                .cell_layout(egui::Layout::left_to_right(Align::Center))
                .column(Column::exact(56.0));
            for no in 1..=n_fields {
                tb = tb.column(
                    Column::initial(column_width(layout.field(no)))
                        .resizable(true)
                        .clip(true),
                );
            }
            if let Some(r) = scroll_to {
                tb = tb.scroll_to_row(r, Some(Align::Center));
            }
            tb.header(row_height + 4.0, |mut h| {
                h.col(|ui| {
                    ui.strong("行");
                });
                for no in 1..=n_fields {
                    h.col(|ui| match layout.field(no) {
                        Some(def) => {
                            let req = if def.required { "必須" } else { "任意" };
                            let len = def.len.map_or("自由".to_owned(), |l| format!("{l}桁"));
                            ui.strong(def.name)
                                .on_hover_text(format!("{no}項目目：{}（{len}・{req}）", def.name));
                        }
                        None => {
                            ui.colored_label(
                                ui.visuals().error_fg_color,
                                format!("余分な項目{no}"),
                            );
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(row_height, total, |mut row| {
                    let pos = match &rows {
                        Some(r) => r.get(row.index()).copied(),
                        None => Some(row.index()),
                    };
                    let Some(pos) = pos else { return };
                    let Some(record) = v.records().get(pos) else {
                        return;
                    };
                    let number = record.number;
                    row.set_selected(v.selected == Some(pos));
                    let record_findings: Vec<_> = v.findings_of_record(number).collect();
                    let row_bad = record_findings.iter().any(|f| f.field.is_none());
                    row.col(|ui| {
                        let text = RichText::new(number.to_string());
                        if let Some(f) = record_findings.first() {
                            let c = severity_color(ui, f);
                            let mark = if row_bad { "×" } else { "！" };
                            ui.label(text.color(c).strong())
                                .on_hover_text(hover_of(&record_findings));
                            ui.colored_label(c, mark);
                        } else {
                            ui.label(text);
                        }
                    });
                    for no in 1..=n_fields {
                        let raw = record.field(no);
                        let field_findings: Vec<_> = v.findings_of_field(number, no).collect();
                        let focused = v.selected == Some(pos) && v.selected_field == Some(no);
                        let (_, resp) = row.col(|ui| {
                            if let Some(f) = field_findings.first() {
                                let c = severity_color(ui, f);
                                ui.painter().rect_filled(
                                    ui.max_rect(),
                                    0.0,
                                    c.gamma_multiply(0.18),
                                );
                            }
                            if focused {
                                ui.painter().rect_stroke(
                                    ui.max_rect(),
                                    0.0,
                                    egui::Stroke::new(2.0, ui.visuals().selection.stroke.color),
                                    egui::StrokeKind::Inside,
                                );
                            }
                            match raw {
                                Some(raw) => {
                                    let (shown, text) = cell_text(layout, no, raw);
                                    let mut hover = String::new();
                                    if shown.kind == ShownKind::Code || shown.text != shown.raw {
                                        hover.push_str(&format!("ファイル上の値：{}", shown.raw));
                                    }
                                    if shown.is_multiline() {
                                        if !hover.is_empty() {
                                            hover.push('\n');
                                        }
                                        hover.push_str(&shown.text);
                                    }
                                    if !field_findings.is_empty() {
                                        if !hover.is_empty() {
                                            hover.push('\n');
                                        }
                                        hover.push_str(&hover_of(&field_findings));
                                    }
                                    let label = ui.add(egui::Label::new(text).truncate());
                                    if !hover.is_empty() {
                                        label.on_hover_text(hover);
                                    }
                                }
                                None if no <= layout.fields.len() => {
                                    ui.weak("（項目なし）");
                                }
                                None => {}
                            }
                        });
                        if resp.clicked() {
                            clicked = Some((pos, Some(no)));
                        }
                    }
                    if row.response().clicked() && clicked.is_none() {
                        clicked = Some((pos, None));
                    }
                });
            });
        });
    if let Some((pos, field)) = clicked {
        v.selected = Some(pos);
        v.selected_field = field;
    }
}

fn hover_of(findings: &[&careplan_core::Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            let s = if f.is_error() { "エラー" } else { "注意" };
            format!("【{s}】{}", f.message)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// All fields of the selected record: number, name, readable value (with line breaks),
/// the value in the file, and the problems of the field.
fn detail_ui(v: &mut FileViewer, layout: &Layout, ui: &mut Ui) {
    let Some(pos) = v.selected else { return };
    let Some(record) = v.records().get(pos).cloned() else {
        return;
    };
    let number = record.number;
    let mut close = false;
    ui.horizontal(|ui| {
        ui.strong(format!("{number}行目の内容"));
        if ui.button("閉じる").clicked() {
            close = true;
        }
    });
    let record_level: Vec<_> = v
        .findings_of_record(number)
        .filter(|f| f.field.is_none())
        .cloned()
        .collect();
    for f in &record_level {
        ui.horizontal_wrapped(|ui| {
            severity_label(ui, f);
            ui.label(format!("{}：{}", place(f), f.message));
        });
    }
    egui::ScrollArea::vertical()
        .id_salt("viewer-detail-scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            record_grid(v, layout, &record, ui, "viewer-detail-grid");
        });
    if close {
        v.selected = None;
        v.selected_field = None;
    }
}

/// One record as a grid of 項目 → 内容, used by the detail panel and the one-by-one forms.
pub(super) fn record_grid(v: &FileViewer, layout: &Layout, record: &Record, ui: &mut Ui, id: &str) {
    record_grid_fields(v, layout, record, ui, id, None);
}

/// [`record_grid`] limited to the given 1-based field numbers.
pub(super) fn record_grid_fields(
    v: &FileViewer,
    layout: &Layout,
    record: &Record,
    ui: &mut Ui,
    id: &str,
    only: Option<&[usize]>,
) {
    let n = record.len().max(layout.fields.len());
    egui::Grid::new(id)
        .num_columns(3)
        .striped(true)
        .min_col_width(40.0)
        .show(ui, |ui| {
            for no in 1..=n {
                if only.is_some_and(|o| !o.contains(&no)) {
                    continue;
                }
                let name = layout
                    .field(no)
                    .map_or_else(|| format!("余分な項目{no}"), |d| d.name.to_owned());
                let findings: Vec<_> = v.findings_of_field(record.number, no).collect();
                let focused = v.selected_field == Some(no);
                ui.weak(no.to_string());
                let name_text = if focused {
                    RichText::new(name).strong().underline()
                } else {
                    RichText::new(name).strong()
                };
                ui.label(name_text);
                ui.vertical(|ui| {
                    value_ui(ui, layout, no, record.field(no));
                    for f in findings {
                        ui.horizontal_wrapped(|ui| {
                            severity_label(ui, f);
                            ui.add(egui::Label::new(&f.message).wrap());
                        });
                    }
                });
                ui.end_row();
            }
        });
}

/// A field value in full: readable text (free text with its line breaks), and the code or
/// the value as written when it differs.
pub(super) fn value_ui(ui: &mut Ui, layout: &Layout, no: usize, raw: Option<&str>) {
    let Some(raw) = raw else {
        ui.weak("（項目がありません）");
        return;
    };
    let shown = view::show(layout, no, raw);
    ui.horizontal_wrapped(|ui| {
        ui.set_max_width(720.0);
        match shown.kind {
            ShownKind::Empty => {
                ui.weak("（空）");
            }
            ShownKind::Code => {
                ui.label(&shown.text);
                if let Some(m) = &shown.meaning
                    && *m != shown.text
                {
                    ui.label(m);
                } else {
                    ui.weak(format!("（コード {}）", shown.raw));
                }
            }
            ShownKind::DateTime if shown.text != shown.raw => {
                ui.label(&shown.text);
                ui.weak(format!("（{}）", shown.raw));
            }
            ShownKind::Raw => {
                ui.label(RichText::new(&shown.text).color(Color32::from_rgb(200, 60, 60)));
            }
            _ => {
                ui.add(egui::Label::new(&shown.text).wrap());
            }
        }
    });
}
