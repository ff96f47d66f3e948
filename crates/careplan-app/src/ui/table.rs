//! What every list shares: a search box, sortable headers, an empty-state message, the
//! tint of 未 rows. The row order is computed when the data, the search or the sort
//! changes, never per frame; the body lays out only the visible rows (`body.rows`).

use egui::{Color32, Ui};

/// Search and sort state of one list.
#[derive(Debug, Clone)]
pub(crate) struct ListView {
    pub(crate) search: String,
    pub(crate) sort: usize,
    pub(crate) ascending: bool,
    pub(crate) dirty: bool,
}

impl ListView {
    /// Newest first on column `sort`.
    pub(crate) fn new(sort: usize) -> Self {
        Self {
            search: String::new(),
            sort,
            ascending: false,
            dirty: true,
        }
    }

    /// The search box; marks the list for re-filtering when it changes.
    pub(crate) fn search_box(&mut self, ui: &mut Ui, id: &str, hint: &str) {
        let l = ui.label("検索");
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut self.search)
                    .id_salt(id)
                    .hint_text(hint)
                    .desired_width(260.0),
            )
            .labelled_by(l.id);
        if r.changed() {
            self.dirty = true;
        }
        if !self.search.is_empty() && ui.button("クリア").clicked() {
            self.search.clear();
            self.dirty = true;
        }
    }

    /// A header cell that sorts by `col` when clicked (again: reverse).
    pub(crate) fn header(&mut self, ui: &mut Ui, col: usize, label: &str) {
        let arrow = if self.sort == col {
            if self.ascending { " ▲" } else { " ▼" }
        } else {
            ""
        };
        let r = ui.add(
            egui::Button::new(egui::RichText::new(format!("{label}{arrow}")).strong()).frame(false),
        );
        if r.clicked() {
            if self.sort == col {
                self.ascending = !self.ascending;
            } else {
                self.sort = col;
                self.ascending = true;
            }
            self.dirty = true;
        }
    }

    /// The lower-cased search terms (all must match).
    pub(crate) fn terms(&self) -> Vec<String> {
        self.search
            .split_whitespace()
            .map(str::to_lowercase)
            .collect()
    }
}

/// True when every term occurs in `haystack` (already lower-cased).
pub(crate) fn matches(terms: &[String], haystack: &str) -> bool {
    terms.iter().all(|t| haystack.contains(t.as_str()))
}

/// The message shown instead of an empty table.
pub(crate) fn empty_state(ui: &mut Ui, text: &str) {
    ui.add_space(24.0);
    ui.vertical_centered(|ui| {
        ui.label(
            egui::RichText::new(text)
                .color(Color32::from_gray(90))
                .size(15.0),
        );
    });
}

/// 未 / 済 label.
pub(crate) fn status_text(acquired: bool) -> &'static str {
    if acquired { "済" } else { "未" }
}

/// A table wider than the window (large text, a narrow window) scrolls sideways instead of
/// being cut off: the columns keep their least widths inside a horizontal scroll area that
/// fills the space left (the table's own vertical scrolling stays inside it).
pub(crate) fn wide<R>(ui: &mut Ui, id: &str, add: impl FnOnce(&mut Ui) -> R) -> R {
    egui::ScrollArea::horizontal()
        .id_salt(id)
        .auto_shrink([false, true])
        .show(ui, add)
        .inner
}
