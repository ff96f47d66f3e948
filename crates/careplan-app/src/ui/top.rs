//! トップページ: お知らせ一覧 with a detail view, ライセンス期限, 証明書情報 (read from the
//! certificate), expiry warnings, 証明書の更新 (申請 and インストール, `careplan_client::csr`
//! on a worker), and the terminal's settings.

use std::path::{Path, PathBuf};

use careplan_client::csr;
use careplan_client::{Client, ClientError, Listing, Notice, ProfilePaths};
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
    /// The state of the profile folder (申請中, backup).
    CertStatus(Box<csr::Status>),
    /// 証明書の更新を申請: the CSR was written (or why not).
    CertRequested(Result<csr::Request, String>),
    /// 証明書をインストール: done (or why not).
    CertInstalled(Result<csr::Installed, String>),
    /// A folder picked for the CSR.
    CertFolder(Option<PathBuf>),
    /// A certificate file picked.
    CertFile(Option<PathBuf>),
    /// 送受信記録（台帳）: check and report.
    Ledger(super::ledger_panel::LedgerMsg),
}

/// The steps of a certificate renewal, in the words of the buttons (same as
/// `careplan cert --help`).
pub(crate) const CERT_HELP: &str = "証明書の有効期限が近づいたら（30日前から）、次の手順で更新します。
1. 「証明書の更新を申請」を押すと、この端末の中だけで新しい鍵を作り、申請ファイル（.csr）を下のフォルダに保存します。鍵は外に出ません。
2. 申請ファイルを運用者（中継サーバの管理者）に送ります。秘密の情報は入っていないので、メールに添付して構いません。
3. 運用者から証明書ファイル（.crt）が届いたら、そのファイルを選んで「証明書をインストール」を押します。申請を作ったこの端末で行ってください。
更新が終わるまで、今の証明書はそのまま使えます。";

/// State of 証明書の更新 on トップページ.
#[derive(Default)]
pub(crate) struct CertPanel {
    /// Folder where the CSR is saved (typed, or picked with 参照…).
    pub(crate) folder: String,
    /// The certificate file to install.
    pub(crate) file: String,
    status: Option<csr::Status>,
    status_asked: bool,
    /// Last result: (ok, message).
    result: Option<(bool, String)>,
}

/// State of トップページ.
pub(crate) struct TopScreen {
    notices: Option<Listing<Notice>>,
    error: Option<String>,
    detail: Option<Notice>,
    view: ListView,
    order: Vec<usize>,
    pub(crate) cert: CertPanel,
    pub(crate) ledger: super::ledger_panel::LedgerPanel,
}

impl Default for TopScreen {
    fn default() -> Self {
        Self {
            notices: None,
            error: None,
            detail: None,
            view: ListView::new(0),
            order: Vec::new(),
            cert: CertPanel::default(),
            ledger: Default::default(),
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
            TopMsg::CertStatus(st) => self.cert.status = Some(*st),
            TopMsg::CertRequested(r) => {
                self.cert.status_asked = false;
                self.cert.result = Some(match r {
                    Ok(r) => (
                        true,
                        format!(
                            "申請ファイルを保存しました:\n{}\n\n次にすること:\n1. このファイルを運用者に送ってください（秘密の情報は入っていません）。\n2. 証明書ファイル（.crt）が届いたら、下の「証明書ファイル」で選んで「証明書をインストール」を押してください。\n今の証明書は、インストールするまでそのまま使えます。",
                            r.csr.display()
                        ),
                    ),
                    Err(e) => (false, e),
                });
            }
            TopMsg::CertInstalled(r) => {
                self.cert.status_asked = false;
                self.cert.result = Some(match r {
                    Ok(done) => {
                        let mut m = format!(
                            "証明書をインストールしました（事業所番号 {}、有効期限 {}）。\n新しい証明書は次回のログインから使われます。いったんログアウトして、ログインし直してください。",
                            done.info.office,
                            when(done.info.not_after)
                        );
                        if done.backup {
                            m.push_str("\n前の証明書と鍵は client.crt.old / client.key.old として残しました。");
                        }
                        self.cert.file.clear();
                        (true, m)
                    }
                    Err(e) => (false, e),
                });
            }
            TopMsg::CertFolder(Some(p)) => self.cert.folder = p.display().to_string(),
            TopMsg::CertFile(Some(p)) => self.cert.file = p.display().to_string(),
            TopMsg::CertFolder(None) | TopMsg::CertFile(None) => {}
            TopMsg::Ledger(m) => self.ledger.apply(m),
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

/// One of the three boxes (ライセンス, 証明書情報, パスワード): as wide as its column, text
/// left-aligned (the columns' justified layout spread wrapped Japanese text letter by letter
/// at large sizes).
fn info_box(ui: &mut egui::Ui, add: impl FnOnce(&mut egui::Ui)) {
    ui.with_layout(egui::Layout::top_down(egui::Align::Min), |ui| {
        ui.group(|ui| {
            ui.set_min_width(ui.available_width());
            add(ui);
        });
    });
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
        info_box(&mut cols[0], |ui| {
            ui.label(RichText::new("ライセンス").strong());
            expiry_line(ui, "ライセンス期限", info.licence_expires_at);
        });
        info_box(&mut cols[1], |ui| {
            ui.label(RichText::new("証明書情報").strong());
            ui.label(format!("事業所番号: {}", cert.office));
            expiry_line(ui, "証明書の有効期限", Some(cert.not_after));
            if days_left(cert.not_after) <= 30 {
                ui.label("下の「証明書の更新」から申請できます。");
            }
        });
        info_box(&mut cols[2], |ui| {
            ui.label(RichText::new("パスワード").strong());
            expiry_line(ui, "パスワードの有効期限", info.password_expires_at);
        });
    });
    ui.add_space(8.0);
    cert_ui(app, ui, days_left(cert.not_after) <= 30);
    settings_ui(app, ui);
    super::ledger_panel::ui(app, ui);
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
    super::table::wide(ui, "notices-wide", |ui| {
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

/// The profile folder of the relay in use, when its files have the standard names
/// (`client.crt`, `client.key`, `ca.crt` in one folder).
fn profile_dir(paths: &ProfilePaths) -> Option<PathBuf> {
    let dir = paths.cert.parent()?.to_path_buf();
    (ProfilePaths::in_dir(&dir) == *paths).then_some(dir)
}

fn cert_ui(app: &mut CareplanApp, ui: &mut egui::Ui, expiring: bool) {
    let ctx = ui.ctx().clone();
    let profile = app
        .relay
        .url_and_profile()
        .and_then(|(_, p)| profile_dir(&p));
    let panel = &mut app.top.cert;
    if let Some(dir) = &profile
        && !panel.status_asked
    {
        panel.status_asked = true;
        let dir = dir.clone();
        app.jobs.spawn(&ctx, "cert-status", move || {
            let st = csr::status(&dir, OffsetDateTime::now_utc());
            Msg::Top(TopMsg::CertStatus(Box::new(st)))
        });
    }
    if panel.folder.is_empty()
        && let Some(d) = app.settings.receive_dir.as_ref().or(profile.as_ref())
    {
        panel.folder = d.display().to_string();
    }
    let pending = panel
        .status
        .as_ref()
        .and_then(|s| s.pending_since)
        .map(when);
    let busy = app.jobs.is_running("cert");
    let mut request = false;
    let mut install = false;
    let mut pick_folder = false;
    let mut pick_file = false;
    egui::CollapsingHeader::new("証明書の更新")
        .id_salt("cert-renewal")
        .default_open(expiring || pending.is_some())
        .show(ui, |ui| {
            ui.add(egui::Label::new(CERT_HELP).wrap());
            let Some(_) = &profile else {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    "この端末の証明書ファイルは標準の形（1つのフォルダに client.crt, client.key, ca.crt）ではないため、ここからは更新できません。careplan cert コマンドを使うか、運用者に相談してください。",
                );
                return;
            };
            if let Some(t) = &pending {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!("申請中: {t} に作った申請の証明書を待っています。届いたら「証明書をインストール」を押してください。"),
                );
            }
            ui.add_space(4.0);
            egui::Grid::new("cert-grid").num_columns(3).show(ui, |ui| {
                let l = ui.label("申請ファイルの保存先フォルダ");
                // Stable ids: a status line that appears above (申請中) must not take the
                // focus away from a field being typed in.
                ui.add(egui::TextEdit::singleline(&mut panel.folder).id_salt("cert-folder").desired_width(380.0))
                    .labelled_by(l.id);
                ui.horizontal(|ui| {
                    pick_folder |= ui.add_enabled(!busy, egui::Button::new("フォルダを選ぶ…")).clicked();
                    request |= ui
                        .add_enabled(!busy && !panel.folder.trim().is_empty(), egui::Button::new("証明書の更新を申請"))
                        .clicked();
                });
                ui.end_row();
                let l = ui.label("届いた証明書ファイル（.crt）");
                ui.add(egui::TextEdit::singleline(&mut panel.file).id_salt("cert-file").desired_width(380.0))
                    .labelled_by(l.id);
                ui.horizontal(|ui| {
                    pick_file |= ui.add_enabled(!busy, egui::Button::new("ファイルを選ぶ…")).clicked();
                    install |= ui
                        .add_enabled(!busy && !panel.file.trim().is_empty(), egui::Button::new("証明書をインストール"))
                        .clicked();
                });
                ui.end_row();
            });
            if busy {
                ui.spinner();
            }
            if let Some((ok, m)) = &panel.result {
                let color = if *ok {
                    ui.visuals().text_color()
                } else {
                    ui.visuals().error_fg_color
                };
                ui.group(|ui| {
                    ui.add(egui::Label::new(RichText::new(m).color(color)).wrap());
                });
            }
        });
    let Some(dir) = profile else { return };
    let office = app.session.as_ref().map(|s| s.client.certificate().office);
    if request && let Some(office) = office {
        let folder = PathBuf::from(panel.folder.trim());
        let out = folder.join(csr::default_csr_name(&office, OffsetDateTime::now_utc()));
        panel.result = None;
        app.jobs.spawn(&ctx, "cert", move || {
            Msg::Top(TopMsg::CertRequested(
                csr::request(&dir, Some(&office), &out).map_err(|e| e.message_ja()),
            ))
        });
    } else if install {
        let file = PathBuf::from(panel.file.trim());
        panel.result = None;
        app.jobs.spawn(&ctx, "cert", move || {
            Msg::Top(TopMsg::CertInstalled(install_file(&dir, &file)))
        });
    } else if pick_folder {
        let start = PathBuf::from(panel.folder.trim());
        app.jobs.spawn(&ctx, "pick", move || {
            let mut dlg = rfd::FileDialog::new().set_title("申請ファイルの保存先フォルダ");
            if start.is_dir() {
                dlg = dlg.set_directory(start);
            }
            Msg::Top(TopMsg::CertFolder(dlg.pick_folder()))
        });
    } else if pick_file {
        app.jobs.spawn(&ctx, "pick", move || {
            Msg::Top(TopMsg::CertFile(
                rfd::FileDialog::new()
                    .set_title("届いた証明書ファイル")
                    .add_filter("証明書", &["crt", "pem", "cer"])
                    .pick_file(),
            ))
        });
    }
}

fn install_file(profile: &Path, file: &Path) -> Result<csr::Installed, String> {
    let bytes = std::fs::read(file).map_err(|e| {
        format!(
            "証明書ファイル「{}」を読めません（{e}）。ファイルの場所を確認してください。",
            file.display()
        )
    })?;
    csr::install(profile, &bytes, None, OffsetDateTime::now_utc()).map_err(|e| e.message_ja())
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
                        .add(
                            egui::TextEdit::singleline(&mut app.settings.terminal_name)
                                .id_salt("terminal-name"),
                        )
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
