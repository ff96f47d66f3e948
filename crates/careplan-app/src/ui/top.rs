//! トップページ: お知らせ一覧 with a detail view, ライセンス期限, 証明書情報 (read from the
//! certificate), expiry warnings, and the terminal's settings.

use careplan_client::{Client, ClientError, Listing, Notice};
use egui::RichText;
use egui_extras::{Column, TableBuilder};
use time::OffsetDateTime;

use super::jobs::{Jobs, Msg};
use super::table::{ListView, empty_state, matches};
use super::{CareplanApp, when};

/// Results of トップページ jobs.
pub enum TopMsg {
    /// お知らせ一覧.
    Notices(Result<Listing<Notice>, ClientError>),
}

/// State of トップページ.
pub(crate) struct TopScreen {
    notices: Option<Listing<Notice>>,
    error: Option<String>,
    detail: Option<Notice>,
    view: ListView,
    order: Vec<usize>,
}

impl Default for TopScreen {
    fn default() -> Self {
        Self {
            notices: None,
            error: None,
            detail: None,
            view: ListView::new(0),
            order: Vec::new(),
        }
    }
}

impl TopScreen {
    pub(crate) fn refresh(&mut self, ctx: &egui::Context, jobs: &mut Jobs, client: &Client) {
        let c = client.clone();
        jobs.spawn_once(ctx, "notices", move || {
            Msg::Top(TopMsg::Notices(c.notices()))
        });
    }

    pub(crate) fn apply(&mut self, m: TopMsg) {
        match m {
            TopMsg::Notices(Ok(l)) => {
                self.notices = Some(l);
                self.error = None;
                self.view.dirty = true;
            }
            TopMsg::Notices(Err(e)) => self.error = Some(e.message_ja()),
        }
    }

    pub(crate) fn offline_since(&self) -> Option<OffsetDateTime> {
        self.notices
            .as_ref()
            .filter(|l| l.offline)
            .map(|l| l.fetched_at)
    }

    fn reorder(&mut self) {
        let Some(l) = &self.notices else { return };
        let terms = self.view.terms();
        let mut order: Vec<usize> = (0..l.items.len())
            .filter(|&i| {
                let n = &l.items[i];
                matches(&terms, &format!("{} {}", n.title, n.body).to_lowercase())
            })
            .collect();
        match self.view.sort {
            1 => order.sort_by(|&a, &b| l.items[a].title.cmp(&l.items[b].title)),
            _ => order.sort_by_key(|&i| l.items[i].posted_at),
        }
        if !self.view.ascending {
            order.reverse();
        }
        self.order = order;
        self.view.dirty = false;
    }
}

fn days_left(t: OffsetDateTime) -> i64 {
    (t - OffsetDateTime::now_utc()).whole_days()
}

fn expiry_line(ui: &mut egui::Ui, what: &str, t: Option<OffsetDateTime>) {
    match t {
        Some(t) => {
            let d = days_left(t);
            ui.label(format!("{what}: {}（あと{d}日）", when(t)));
            if d < 0 {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("【期限切れ】{what}が切れています。"),
                );
            } else if d <= 30 {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!("【注意】{what}まで30日を切りました。早めに更新してください。"),
                );
            }
        }
        None => {
            ui.label(format!("{what}: 情報なし"));
        }
    }
}

pub(crate) fn ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let Some(s) = &app.session else { return };
    let cert = s.client.certificate().clone();
    let info = s.info.clone();
    ui.horizontal(|ui| {
        ui.heading(format!(
            "{}（事業所番号 {}）",
            info.office_name, info.office
        ));
    });
    ui.add_space(4.0);
    ui.columns(3, |cols| {
        cols[0].group(|ui| {
            ui.label(RichText::new("ライセンス").strong());
            expiry_line(ui, "ライセンス期限", info.licence_expires_at);
        });
        cols[1].group(|ui| {
            ui.label(RichText::new("証明書情報").strong());
            ui.label(format!("事業所番号: {}", cert.office));
            expiry_line(ui, "証明書の有効期限", Some(cert.not_after));
        });
        cols[2].group(|ui| {
            ui.label(RichText::new("パスワード").strong());
            expiry_line(ui, "パスワードの有効期限", info.password_expires_at);
        });
    });
    ui.add_space(8.0);
    settings_ui(app, ui);
    ui.add_space(8.0);
    let ctx = ui.ctx().clone();
    let top = &mut app.top;
    ui.horizontal(|ui| {
        ui.heading("お知らせ一覧");
        top.view.search_box(ui, "notices-search", "件名・本文");
        if ui.button("更新").clicked()
            && let Some(s) = &app.session
        {
            top.refresh(&ctx, &mut app.jobs, &s.client);
        }
    });
    if let Some(e) = &top.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if top.view.dirty {
        top.reorder();
    }
    let Some(list) = &top.notices else {
        empty_state(ui, "お知らせを取得しています…");
        return;
    };
    if top.order.is_empty() {
        empty_state(
            ui,
            if list.items.is_empty() {
                "お知らせはありません。"
            } else {
                "検索に一致するお知らせはありません。"
            },
        );
        return;
    }
    let mut open = None;
    let row_h = 24.0;
    TableBuilder::new(ui)
        .id_salt("notices")
        .striped(true)
        .sense(egui::Sense::click())
        .column(Column::exact(172.0))
        .column(Column::initial(320.0).at_least(120.0).resizable(true))
        .column(Column::remainder())
        .header(row_h, |mut h| {
            h.col(|ui| top.view.header(ui, 0, "掲載日時"));
            h.col(|ui| top.view.header(ui, 1, "件名"));
            h.col(|ui| {
                ui.strong("詳細(抜粋)");
            });
        })
        .body(|body| {
            body.rows(row_h, top.order.len(), |mut row| {
                let n = &list.items[top.order[row.index()]];
                row.col(|ui| {
                    ui.label(when(n.posted_at));
                });
                row.col(|ui| {
                    if ui.link(&n.title).clicked() {
                        open = Some(n.clone());
                    }
                });
                row.col(|ui| {
                    ui.label(n.excerpt(60));
                });
                if row.response().clicked() {
                    open = Some(n.clone());
                }
            });
        });
    if open.is_some() {
        top.detail = open;
    }
    if let Some(n) = &top.detail {
        let mut keep = true;
        egui::Window::new("お知らせ詳細")
            .collapsible(false)
            .default_width(560.0)
            .open(&mut keep)
            .show(ui.ctx(), |ui| {
                ui.heading(&n.title);
                ui.weak(format!("掲載日時: {}", when(n.posted_at)));
                ui.separator();
                egui::ScrollArea::vertical()
                    .max_height(400.0)
                    .show(ui, |ui| {
                        ui.add(egui::Label::new(&n.body).wrap());
                    });
            });
        if !keep {
            top.detail = None;
        }
    }
}

fn settings_ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    egui::CollapsingHeader::new("この端末の設定")
        .id_salt("terminal-settings")
        .show(ui, |ui| {
            let mut changed = false;
            egui::Grid::new("settings-grid")
                .num_columns(2)
                .show(ui, |ui| {
                    let l = ui.label("端末名（下書き一覧に表示）");
                    changed |= ui
                        .add(egui::TextEdit::singleline(&mut app.settings.terminal_name))
                        .labelled_by(l.id)
                        .lost_focus();
                    ui.end_row();
                    let l = ui.label("自動ロック（分、0で無効）");
                    let mut minutes = app.settings.lock_after_minutes.unwrap_or(0);
                    if ui
                        .add(egui::DragValue::new(&mut minutes).range(0..=240))
                        .labelled_by(l.id)
                        .changed()
                    {
                        app.settings.lock_after_minutes = (minutes > 0).then_some(minutes);
                        changed = true;
                    }
                    ui.end_row();
                    let l = ui.label("描画方式（次回の起動から）");
                    let mut r = app.renderer;
                    let before = r;
                    egui::ComboBox::from_id_salt("renderer")
                        .selected_text(r.label())
                        .show_ui(ui, |ui| {
                            for x in super::launch::RendererChoice::ALL {
                                ui.selectable_value(&mut r, x, x.label());
                            }
                        })
                        .response
                        .labelled_by(l.id);
                    if r != before {
                        app.renderer = r;
                        if let Some(f) = app.renderer_file.clone() {
                            app.jobs.spawn(ui.ctx(), "settings", move || {
                                super::launch::save_renderer(&f, r);
                                Msg::Nothing
                            });
                        }
                    }
                    ui.end_row();
                });
            if changed {
                app.save_settings();
            }
        });
}
