//! 取引先一覧 (issue 16): every office we exchanged with, its name, the last send and the
//! last receipt, 未読 and 未受信 counts, and whether it has our newest set of this month.
//! The rows come from [`careplan_core::partners`] over the 受信一覧 and 送信一覧 (fetched
//! together by a worker; the cached lists when offline). Sorting and search as in the other
//! lists.

use careplan_client::{Client, ClientError};
use careplan_core::partners::{MonthState, Partner, partners};
use egui::RichText;
use egui_extras::{Column, TableBuilder};
use time::OffsetDateTime;

use super::jobs::{Jobs, Msg};
use super::table::{ListView, empty_state, matches};
use super::{CareplanApp, when};

/// What the worker brings: the rows, whether from the offline copy, when fetched.
pub type PartnersList = (Vec<Partner>, bool, OffsetDateTime);

/// Results of 取引先一覧 jobs.
pub enum PartnersMsg {
    /// The rows.
    List(Result<PartnersList, ClientError>),
}

/// State of 取引先一覧.
pub(crate) struct PartnersScreen {
    list: Option<PartnersList>,
    error: Option<String>,
    view: ListView,
    /// Indexes into the rows, in display order.
    order: Vec<usize>,
}

impl Default for PartnersScreen {
    fn default() -> Self {
        Self {
            list: None,
            error: None,
            // Newest activity first (column 2 sorts by the last of send and receipt).
            view: ListView::new(2),
            order: Vec::new(),
        }
    }
}

/// The columns: 事業所番号, 名称, 最終送受信, 最終送信, 最終受信, 未読, 未受信, 今月の送信.
const HEADERS: [&str; 8] = [
    "事業所番号",
    "事業所名称",
    "最終送受信",
    "最終送信",
    "最終受信",
    "未読",
    "未受信",
    "今月の送信",
];

fn month_rank(m: MonthState) -> u8 {
    match m {
        MonthState::Pending => 2,
        MonthState::Acquired => 1,
        MonthState::None => 0,
    }
}

impl PartnersScreen {
    pub(crate) fn refresh(&mut self, ctx: &egui::Context, jobs: &mut Jobs, client: &Client) {
        let c = client.clone();
        jobs.spawn_once(ctx, "partners", move || {
            let res = (|| {
                let r = c.received()?;
                let s = c.sent()?;
                let rows = partners(
                    c.office().as_str(),
                    &r.items,
                    &s.items,
                    OffsetDateTime::now_utc(),
                );
                Ok((rows, r.offline || s.offline, r.fetched_at.min(s.fetched_at)))
            })();
            Msg::Partners(PartnersMsg::List(res))
        });
    }

    pub(crate) fn apply(&mut self, m: PartnersMsg) {
        match m {
            PartnersMsg::List(Ok(l)) => {
                self.list = Some(l);
                self.error = None;
                self.view.dirty = true;
            }
            PartnersMsg::List(Err(e)) => self.error = Some(e.message_ja()),
        }
    }

    pub(crate) fn offline_since(&self) -> Option<OffsetDateTime> {
        self.list
            .as_ref()
            .filter(|(_, offline, _)| *offline)
            .map(|(_, _, at)| *at)
    }

    /// The rows shown, in display order (tests).
    pub(crate) fn shown(&self) -> Vec<Partner> {
        match &self.list {
            Some((rows, _, _)) => self.order.iter().map(|&i| rows[i].clone()).collect(),
            None => Vec::new(),
        }
    }

    fn reorder(&mut self) {
        self.view.dirty = false;
        self.order.clear();
        let Some((rows, _, _)) = &self.list else {
            return;
        };
        let terms = self.view.terms();
        self.order = (0..rows.len())
            .filter(|&i| {
                let p = &rows[i];
                terms.is_empty()
                    || matches(&terms, &format!("{} {}", p.office, p.name).to_lowercase())
            })
            .collect();
        let col = self.view.sort;
        self.order.sort_by(|&a, &b| {
            let (x, y) = (&rows[a], &rows[b]);
            match col {
                0 => x.office.cmp(&y.office),
                1 => x.name.cmp(&y.name),
                2 => x.last_activity().cmp(&y.last_activity()),
                3 => x.last_sent.cmp(&y.last_sent),
                4 => x.last_received.cmp(&y.last_received),
                5 => x.unread.cmp(&y.unread),
                6 => x.undownloaded.cmp(&y.undownloaded),
                _ => month_rank(x.this_month).cmp(&month_rank(y.this_month)),
            }
            .then_with(|| x.office.cmp(&y.office))
        });
        if !self.view.ascending {
            self.order.reverse();
        }
    }
}

fn when_or_dash(t: Option<OffsetDateTime>) -> String {
    t.map(when).unwrap_or_else(|| "-".to_owned())
}

pub(crate) fn ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    let s = &mut app.partners;
    ui.horizontal(|ui| {
        ui.heading("取引先一覧");
        s.view
            .search_box(ui, "partners-search", "事業所番号・事業所名称");
        if ui.button("更新").clicked() {
            s.refresh(&ctx, &mut app.jobs, &client);
        }
    });
    ui.label(
        "やり取りした事業所ごとの最終送受信と未受信の件数です。「今月の送信」は今月の最新の送信を相手が受信したかどうかです。",
    );
    if let Some(e) = &s.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if s.view.dirty {
        s.reorder();
    }
    let Some((rows, _, _)) = &s.list else {
        empty_state(ui, "取引先一覧を作成しています…");
        return;
    };
    if s.order.is_empty() {
        empty_state(
            ui,
            if rows.is_empty() {
                "やり取りした事業所はまだありません。送信または受信すると表示されます。"
            } else {
                "検索に一致する事業所はありません。"
            },
        );
        return;
    }
    let row_h = 25.0;
    let order = &s.order;
    let view = &mut s.view;
    // Partners with 未 files: the light-green band of 受信一覧's 未 rows (the table's
    // "selected" background, normal text colour).
    let text = ui.visuals().text_color();
    ui.visuals_mut().selection.bg_fill = super::unread_tint(ui.ctx());
    ui.visuals_mut().selection.stroke.color = text;
    super::table::wide(ui, "partners-wide", |ui| {
        TableBuilder::new(ui)
            .id_salt("partners")
            .striped(false)
            .column(Column::exact(112.0))
            .column(
                Column::initial(220.0)
                    .at_least(80.0)
                    .resizable(true)
                    .clip(true),
            )
            .column(Column::exact(150.0))
            .column(Column::exact(150.0))
            .column(Column::exact(150.0))
            .column(Column::exact(60.0))
            .column(Column::exact(70.0))
            .column(Column::remainder().at_least(90.0))
            .header(row_h + 4.0, |mut h| {
                for (i, label) in HEADERS.iter().enumerate() {
                    h.col(|ui| view.header(ui, i, label));
                }
            })
            .body(|body| {
                body.rows(row_h, order.len(), |mut row| {
                    let p = &rows[order[row.index()]];
                    row.set_selected(p.unread > 0);
                    let cell = |row: &mut egui_extras::TableRow<'_, '_>, text: RichText| {
                        row.col(|ui| {
                            ui.label(text);
                        });
                    };
                    cell(&mut row, RichText::new(&p.office));
                    cell(
                        &mut row,
                        RichText::new(if p.name.is_empty() {
                            "（名称不明）"
                        } else {
                            &p.name
                        }),
                    );
                    cell(&mut row, RichText::new(when_or_dash(p.last_activity())));
                    cell(&mut row, RichText::new(when_or_dash(p.last_sent)));
                    cell(&mut row, RichText::new(when_or_dash(p.last_received)));
                    let count = |n: usize| {
                        let t = RichText::new(n.to_string());
                        if n > 0 { t.strong() } else { t }
                    };
                    cell(&mut row, count(p.unread));
                    cell(&mut row, count(p.undownloaded));
                    let m = RichText::new(p.this_month.label());
                    cell(
                        &mut row,
                        if p.this_month == MonthState::Pending {
                            m.strong()
                        } else {
                            m
                        },
                    );
                });
            });
    });
}
