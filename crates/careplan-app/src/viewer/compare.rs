//! 前回との比較 (issue 15): draws a [`FileDiff`] of a received file and the earlier file it
//! replaces — per 利用者 the header fields, the rows added / removed / changed with their
//! cells (前回 → 今回, changed cells highlighted) and, for 第6表, the calendar days.

use careplan_core::diff::{CalendarRowDiff, CellDiff, Change, FileDiff, RowDiff};
use egui::{Color32, RichText, Ui};

use super::Compare;

/// The background of a changed cell (light and dark theme).
fn highlight(ui: &Ui) -> Color32 {
    if ui.visuals().dark_mode {
        Color32::from_rgb(92, 78, 20)
    } else {
        Color32::from_rgb(255, 236, 150)
    }
}

fn change_color(ui: &Ui, c: Change) -> Color32 {
    match c {
        Change::Added => super::ok_color(ui),
        Change::Removed => ui.visuals().error_fg_color,
        Change::Changed => ui.visuals().warn_fg_color,
    }
}

/// Draw the comparison.
pub(super) fn compare_ui(c: &Compare, ui: &mut Ui) {
    match c {
        Compare::Missing { previous, reason } => {
            ui.label(format!("前の版：{previous}"));
            ui.colored_label(ui.visuals().warn_fg_color, reason);
        }
        Compare::Diff { previous, diff } => diff_ui(previous, diff, ui),
    }
}

fn diff_ui(previous: &str, d: &FileDiff, ui: &mut Ui) {
    ui.label(format!("前の版「{previous}」と比べた変更点です。"));
    if d.old_version != d.new_version {
        ui.label(format!(
            "CSVバージョン：{} → {}",
            d.old_version.as_deref().unwrap_or("不明"),
            d.new_version.as_deref().unwrap_or("不明")
        ));
    }
    ui.label(RichText::new(d.summary()).strong());
    if d.unchanged_users > 0 {
        ui.weak(format!("変更のない利用者：{}人", d.unchanged_users));
    }
    egui::ScrollArea::vertical()
        .id_salt("viewer-compare")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (ui_i, u) in d.users.iter().enumerate() {
                ui.add_space(6.0);
                ui.horizontal_wrapped(|ui| {
                    ui.label(
                        RichText::new(format!(
                            "利用者 保険者番号 {} 被保険者番号 {}",
                            u.insurer, u.insured
                        ))
                        .strong(),
                    );
                    ui.colored_label(change_color(ui, u.change), u.change.label());
                });
                if !u.header.is_empty() {
                    cells_ui(ui, ("hdr", ui_i), &u.header, Change::Changed);
                }
                for (ri, r) in u.rows.iter().enumerate() {
                    row_ui(ui, (ui_i, ri), r);
                }
                for (ci, c) in u.calendar.iter().enumerate() {
                    calendar_ui(ui, (ui_i, ci), c);
                }
                ui.separator();
            }
        });
}

fn row_ui(ui: &mut Ui, id: (usize, usize), r: &RowDiff) {
    ui.horizontal_wrapped(|ui| {
        ui.colored_label(
            change_color(ui, r.change),
            format!("［{}］", r.change.label()),
        );
        ui.label(&r.label);
        let place = match (r.old_record, r.new_record) {
            (Some(o), Some(n)) => format!("（前回{o}行目・今回{n}行目）"),
            (Some(o), None) => format!("（前回{o}行目）"),
            (None, Some(n)) => format!("（今回{n}行目）"),
            (None, None) => String::new(),
        };
        ui.weak(place);
    });
    if !r.cells.is_empty() {
        cells_ui(ui, ("row", id.0, id.1), &r.cells, r.change);
    }
}

/// 項目 | 前回 | 今回, the cell of the side that changed highlighted.
fn cells_ui(
    ui: &mut Ui,
    id: impl std::hash::Hash + std::fmt::Debug + Copy,
    cells: &[CellDiff],
    change: Change,
) {
    let bg = highlight(ui);
    ui.indent(("cmp-indent", id), |ui| {
        egui::Grid::new(("cmp-cells", id))
            .num_columns(3)
            .striped(false)
            .spacing([12.0, 2.0])
            .show(ui, |ui| {
                ui.weak("項目");
                ui.weak("前回");
                ui.weak("今回");
                ui.end_row();
                for c in cells {
                    ui.label(c.name);
                    let old = if c.old.is_empty() {
                        "（なし）"
                    } else {
                        &c.old
                    };
                    let new = if c.new.is_empty() {
                        "（なし）"
                    } else {
                        &c.new
                    };
                    match change {
                        Change::Added => {
                            ui.weak("—");
                            ui.label(RichText::new(new).background_color(bg));
                        }
                        Change::Removed => {
                            ui.label(RichText::new(old).strikethrough());
                            ui.weak("—");
                        }
                        Change::Changed => {
                            ui.label(old);
                            ui.label(RichText::new(new).background_color(bg).strong());
                        }
                    }
                    ui.end_row();
                }
            });
    });
}

fn calendar_ui(ui: &mut Ui, id: (usize, usize), c: &CalendarRowDiff) {
    let bg = highlight(ui);
    ui.horizontal_wrapped(|ui| {
        ui.colored_label(
            change_color(ui, c.change),
            format!("［{}］", c.change.label()),
        );
        let service = c.service_label.as_deref().unwrap_or("");
        ui.label(format!(
            "カレンダー {} {service} {}〜{} {}",
            c.service_code,
            hhmm(&c.start),
            hhmm(&c.end),
            c.office_name
        ));
        ui.weak(format!("回数 {} → {}", c.old_total, c.new_total));
    });
    if c.days.is_empty() {
        return;
    }
    ui.indent(("cmp-cal", id), |ui| {
        ui.horizontal_wrapped(|ui| {
            for d in &c.days {
                ui.label(
                    RichText::new(format!("{}日 {}→{}", d.day, d.old, d.new)).background_color(bg),
                );
            }
        });
    });
}

/// `0930` → `09:30` (other text as it is).
fn hhmm(s: &str) -> String {
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}:{}", &s[..2], &s[2..])
    } else {
        s.to_owned()
    }
}
