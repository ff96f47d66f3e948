//! 自動送受信 (issue 14): the watched 送信フォルダ and the automatic 受信フォルダ of this
//! terminal, run inside the app by the same engine as `careplan watch`
//! ([`careplan_client::watch::Engine`], on its own thread while the office is logged in),
//! with the queue view: the sets taken and not finished, each with its state and the reason
//! it waits, why the relay cannot be used now, and what was done since the start.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use careplan_client::Client;
use careplan_client::watch::{
    Engine, StopHandle, WarningPolicy, WatchConfig, WatchSettings, WatchStatus,
};
use egui::RichText;
use egui_extras::{Column, TableBuilder};

use super::jobs::Msg;
use super::{CareplanApp, when};

/// Results of 自動送受信 jobs.
pub enum WatchMsg {
    /// The folder picked for 送信フォルダ (`true`) or 受信フォルダ (`false`).
    Folder(bool, Option<PathBuf>),
    /// The engine's thread ended (with the reason when it failed).
    Ended(Option<String>),
}

/// A running engine.
struct Running {
    stop: StopHandle,
    status: Arc<Mutex<WatchStatus>>,
}

/// State of 自動送受信.
#[derive(Default)]
pub(crate) struct WatchScreen {
    /// The folders and choices being edited (saved to the settings on 開始).
    outbox: String,
    inbox: String,
    warnings: WarningPolicy,
    message: String,
    loaded: bool,
    running: Option<Running>,
    /// Why the engine could not start or stopped by itself.
    error: Option<String>,
    /// The engine's last status (kept after it stopped).
    last: Option<WatchStatus>,
    /// Whether the app starts at the PC's login (read from the OS when the tab is first
    /// drawn, see [`crate::autostart`]).
    autostart: Option<bool>,
}

fn path_of(s: &str) -> Option<PathBuf> {
    let t = s.trim();
    (!t.is_empty()).then(|| PathBuf::from(t))
}

fn text_of(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

impl WatchScreen {
    fn load(&mut self, s: &WatchSettings) {
        if !self.loaded {
            self.loaded = true;
            self.outbox = text_of(&s.outbox);
            self.inbox = text_of(&s.inbox);
            self.warnings = s.warnings;
            self.message = s.message.clone();
        }
    }

    fn edited(&self) -> WatchSettings {
        WatchSettings {
            outbox: path_of(&self.outbox),
            inbox: path_of(&self.inbox),
            warnings: self.warnings,
            message: self.message.trim().to_owned(),
        }
    }

    /// True while the engine runs.
    pub(crate) fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The engine's current status (a copy), if one ran.
    pub(crate) fn status(&self) -> Option<WatchStatus> {
        match &self.running {
            Some(r) => Some(r.status.lock().map(|s| s.clone()).unwrap_or_default()),
            None => self.last.clone(),
        }
    }

    /// Start the engine for `client` with `settings` on its own thread. The app keeps no
    /// password, so when the session ends the engine cannot log in again by itself: it says
    /// so (「ログインし直してください」) and waits, and logging in again restarts it.
    pub(crate) fn start(
        &mut self,
        ctx: &egui::Context,
        client: &Client,
        settings: &WatchSettings,
        send: impl Fn(Msg) + Send + 'static,
    ) {
        self.stop();
        self.error = None;
        let cfg = WatchConfig {
            status_file: Some(careplan_client::watch::status_file_for(
                client.store().path(),
            )),
            ..WatchConfig::from_settings(settings)
        };
        let relogin: careplan_client::watch::LoginFn = Box::new(|_c: &Client| {
            Err(careplan_client::ClientError::Protocol(
                "ログインの有効期限が切れました。ログインし直すと自動送受信が再開します。".into(),
            ))
        });
        let engine = match Engine::new(client.clone(), cfg, relogin) {
            Ok(e) => e,
            Err(e) => {
                self.error = Some(e.message_ja());
                return;
            }
        };
        let stop = engine.stop_handle();
        let status = engine.status_handle();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("careplan-watch".into())
            .spawn(move || {
                let r = engine.run();
                send(Msg::Watch(WatchMsg::Ended(r.err().map(|e| e.message_ja()))));
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.running = Some(Running { stop, status }),
            Err(e) => self.error = Some(format!("自動送受信を開始できません: {e}")),
        }
    }

    /// Ask the engine to stop after the step it is doing (nothing is left half-done).
    pub(crate) fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop.stop();
            self.last = r.status.lock().ok().map(|s| s.clone());
        }
    }

    pub(crate) fn apply(&mut self, m: WatchMsg) {
        match m {
            WatchMsg::Folder(true, Some(p)) => self.outbox = p.display().to_string(),
            WatchMsg::Folder(false, Some(p)) => self.inbox = p.display().to_string(),
            WatchMsg::Folder(_, None) => {}
            WatchMsg::Ended(e) => {
                if let Some(r) = self.running.take() {
                    self.last = r.status.lock().ok().map(|s| s.clone());
                }
                if e.is_some() {
                    self.error = e;
                }
            }
        }
    }
}

/// Start the engine at login when this terminal has watched folders.
pub(crate) fn start_at_login(app: &mut CareplanApp, ctx: &egui::Context) {
    let ws = app.settings.watch.clone();
    if ws.outbox.is_none() && ws.inbox.is_none() {
        return;
    }
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    let send = app.jobs.progress_sender(ctx);
    app.watch.start(ctx, &client, &ws, send);
}

fn folder_row(ui: &mut egui::Ui, label: &str, value: &mut String, id: &str, hint: &str) -> bool {
    let l = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(value)
            .id_salt(id)
            .desired_width(420.0)
            .hint_text(hint),
    )
    .labelled_by(l.id);
    let pick = ui
        .button(format!("{label}を選ぶ…"))
        .on_hover_text("フォルダを選ぶ画面を開きます");
    ui.end_row();
    pick.clicked()
}

pub(crate) fn ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    app.watch.load(&app.settings.watch);
    ui.heading("自動送受信");
    ui.label(
        "送信フォルダに置いたファイルを、そろったセットごとに自動で検査して送信します（エラーのセットは「エラー」フォルダへ、送信済みは「送信済/年月」フォルダへ移します）。受信フォルダを指定すると、届いたデータを取り込み順に自動で保存し、セットがそろうと「.完了」ファイルを置きます。",
    );
    ui.add_space(4.0);
    let running = app.watch.is_running();
    let mut pick: Option<bool> = None;
    let mut start = false;
    let mut stop = false;
    {
        let w = &mut app.watch;
        ui.add_enabled_ui(!running, |ui| {
            egui::Grid::new("watch-grid").num_columns(3).show(ui, |ui| {
                if folder_row(
                    ui,
                    "送信フォルダ",
                    &mut w.outbox,
                    "watch-outbox",
                    "例: C:\\ケアプラン\\送信",
                ) {
                    pick = Some(true);
                }
                if folder_row(
                    ui,
                    "受信フォルダ",
                    &mut w.inbox,
                    "watch-inbox",
                    "空欄: 自動で受信しない",
                ) {
                    pick = Some(false);
                }
                let l = ui.label("注意のあるセット");
                ui.horizontal(|ui| {
                    ui.radio_value(
                        &mut w.warnings,
                        WarningPolicy::Hold,
                        "確認待ちにする（送らない）",
                    )
                    .labelled_by(l.id);
                    ui.radio_value(&mut w.warnings, WarningPolicy::Send, "そのまま送信する");
                });
                ui.end_row();
                let l = ui.label("メッセージ");
                ui.add(
                    egui::TextEdit::singleline(&mut w.message)
                        .id_salt("watch-message")
                        .char_limit(200)
                        .desired_width(420.0),
                )
                .labelled_by(l.id);
                ui.end_row();
            });
        });
        ui.horizontal(|ui| {
            if running {
                stop = ui.button("自動送受信を停止").clicked();
                // A still mark, not a spinner: a spinner repaints every frame, and the
                // window stays idle while nothing changes (once a second while shown).
                ui.label(
                    RichText::new("● 実行中").color(egui::Color32::from_rgb(0x1e, 0x7a, 0x1e)),
                );
            } else {
                let ready = path_of(&w.outbox).is_some() || path_of(&w.inbox).is_some();
                start = ui
                    .add_enabled(
                        ready,
                        egui::Button::new(RichText::new("自動送受信を開始").strong()),
                    )
                    .on_disabled_hover_text("送信フォルダか受信フォルダを指定してください")
                    .clicked();
                ui.label("停止中");
            }
        });
        let mut on = *w.autostart.get_or_insert_with(crate::autostart::is_enabled);
        if ui
            .checkbox(
                &mut on,
                "パソコンにログインしたら、このアプリを起動する（自動送受信はこのアプリにログインすると始まります）",
            )
            .changed()
        {
            match crate::autostart::set_enabled(on) {
                Ok(()) => w.autostart = Some(on),
                Err(e) => {
                    w.autostart = None;
                    w.error = Some(format!("自動起動を変更できませんでした: {e}"));
                }
            }
        }
        if let Some(e) = &w.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
    }
    if start {
        // Remembered for this terminal: the next login starts it again.
        app.settings.watch = app.watch.edited();
        app.save_settings();
        let ws = app.settings.watch.clone();
        let send = app.jobs.progress_sender(&ctx);
        app.watch.start(&ctx, &client, &ws, send);
    }
    if stop {
        app.watch.stop();
    }
    if let Some(outbox) = pick {
        let start_dir = path_of(if outbox {
            &app.watch.outbox
        } else {
            &app.watch.inbox
        });
        app.jobs.spawn(&ctx, "pick", move || {
            let mut dlg = rfd::FileDialog::new().set_title(if outbox {
                "送信フォルダ"
            } else {
                "受信フォルダ"
            });
            if let Some(d) = start_dir {
                dlg = dlg.set_directory(d);
            }
            Msg::Watch(WatchMsg::Folder(outbox, dlg.pick_folder()))
        });
    }
    ui.separator();
    status_ui(app, ui);
    if app.watch.is_running() {
        // The status changes on the engine's thread: look again each second while shown.
        ctx.request_repaint_after(Duration::from_secs(1));
    }
}

fn status_ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let Some(st) = app.watch.status() else {
        ui.weak("まだ開始していません。");
        return;
    };
    if let Some(b) = &st.blocked {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "中継サーバを使えません: {}（次の試行 {}）",
                b.message,
                when(b.next_try)
            ),
        );
    }
    if let Some(p) = &st.inbox_problem {
        ui.colored_label(ui.visuals().warn_fg_color, format!("受信フォルダ: {p}"));
    }
    let c = &st.counters;
    ui.label(format!(
        "開始してから: 送信 {}セット、エラー {}セット、確認待ち {}セット、受信 {}セット（{}ファイル）",
        c.sent_sets, c.error_sets, c.held_sets, c.received_sets, c.received_files
    ));
    ui.label(format!(
        "送信フォルダで待っているファイル: {}件{}",
        st.waiting_files,
        match st.last_check {
            Some(t) => format!("　最後の受信確認: {}", when(t)),
            None => String::new(),
        }
    ));
    ui.add_space(4.0);
    ui.label(RichText::new(format!("送信待ちのセット（{}件）", st.queue.len())).strong());
    if st.queue.is_empty() {
        ui.weak("ありません。");
        return;
    }
    let row_h = 25.0;
    super::table::wide(ui, "watch-queue-wide", |ui| {
        TableBuilder::new(ui)
            .id_salt("watch-queue")
            .striped(true)
            .column(Column::exact(150.0))
            .column(Column::exact(110.0))
            .column(
                Column::initial(320.0)
                    .at_least(120.0)
                    .resizable(true)
                    .clip(true),
            )
            .column(Column::exact(80.0))
            .column(Column::exact(60.0))
            .column(Column::remainder().at_least(200.0).clip(true))
            .header(row_h, |mut h| {
                for t in ["ファイル連番", "送信先", "ファイル", "状態", "試行", "理由"]
                {
                    h.col(|ui| {
                        ui.label(RichText::new(t).strong());
                    });
                }
            })
            .body(|body| {
                body.rows(row_h, st.queue.len(), |mut row| {
                    let q = &st.queue[row.index()];
                    row.col(|ui| {
                        ui.label(q.serial.as_deref().unwrap_or("-"));
                    });
                    row.col(|ui| {
                        ui.label(q.to_office.as_deref().unwrap_or("-"));
                    });
                    row.col(|ui| {
                        ui.label(q.files.join("、"));
                    });
                    row.col(|ui| {
                        ui.label(&q.state);
                    });
                    row.col(|ui| {
                        ui.label(q.attempts.to_string());
                    });
                    row.col(|ui| {
                        ui.label(q.reason.as_deref().unwrap_or(""));
                    });
                });
            });
    });
}
