//! ログイン: two steps (個人ユーザID, then 事業所ユーザID), and the change-password step
//! when the relay says the password is expired or temporary.

use std::path::PathBuf;

use careplan_client::{Client, ClientError, ClientOptions, Identity, LoginInfo, Settings};
use careplan_relay::demo::DemoInfo;
use egui::{Color32, Key, RichText};

use super::jobs::Msg;
use super::{CareplanApp, Relay};

/// Results of the login jobs.
pub enum LoginMsg {
    /// Step 1 done: the client to continue with.
    Personal(Result<Client, String>),
    /// Step 2 (or the change-password step) done.
    Office(Result<LoginInfo, ClientError>),
    /// The password was changed and the login finished, or it failed.
    Changed(Result<LoginInfo, ClientError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Personal,
    Office,
    ChangePassword,
}

/// The login screen's state. Passwords live only here, only until the step is done.
pub(crate) struct LoginScreen {
    pub(crate) step: Step,
    pub(crate) personal_user: String,
    personal_password: String,
    pub(crate) office_user: String,
    office_password: String,
    new_password: String,
    new_password2: String,
    pub(crate) message: Option<String>,
    client: Option<Client>,
    pub(crate) pending_demo_dir: Option<PathBuf>,
}

impl LoginScreen {
    pub(crate) fn new(settings: &Settings) -> Self {
        Self {
            step: Step::Personal,
            personal_user: settings.personal_user.clone().unwrap_or_default(),
            personal_password: String::new(),
            office_user: settings.office_user.clone().unwrap_or_default(),
            office_password: String::new(),
            new_password: String::new(),
            new_password2: String::new(),
            message: None,
            client: None,
            pending_demo_dir: None,
        }
    }

    pub(crate) fn fill_demo_ids(&mut self, info: &DemoInfo, office: usize) {
        if let Some(o) = info.offices.get(office) {
            self.personal_user.clone_from(&o.personal_user);
            self.office_user.clone_from(&o.office_user);
        }
    }

    pub(crate) fn clear_passwords(&mut self) {
        self.personal_password.clear();
        self.office_password.clear();
        self.new_password.clear();
        self.new_password2.clear();
        self.client = None;
    }

    pub(crate) fn reset_after_logout(&mut self, settings: &Settings) {
        self.clear_passwords();
        self.step = Step::Personal;
        self.message = None;
        // A shared terminal forgets the IDs unless the user asked to remember them.
        self.personal_user = settings.personal_user.clone().unwrap_or_default();
        self.office_user = settings.office_user.clone().unwrap_or_default();
    }
}

pub(crate) fn apply(app: &mut CareplanApp, ctx: &egui::Context, m: LoginMsg) {
    let l = &mut app.login;
    match m {
        LoginMsg::Personal(Ok(client)) => {
            l.client = Some(client);
            l.personal_password.clear();
            l.step = Step::Office;
            l.message = None;
        }
        LoginMsg::Personal(Err(e)) => {
            l.personal_password.clear();
            l.message = Some(e);
        }
        LoginMsg::Office(r) | LoginMsg::Changed(r) => match r {
            Ok(info) => {
                if let Some(client) = l.client.take() {
                    app.logged_in(ctx, client, info);
                }
            }
            Err(ClientError::PasswordChangeRequired) => {
                l.step = Step::ChangePassword;
                l.message = Some(
                    "パスワードの有効期限が切れているか、仮パスワードです。新しいパスワードを決めてください。"
                        .to_owned(),
                );
            }
            Err(ClientError::SessionExpired) => {
                l.clear_passwords();
                l.step = Step::Personal;
                l.message = Some(
                    "ログインの途中で時間が切れました。個人ユーザIDからもう一度ログインしてください。"
                        .to_owned(),
                );
            }
            Err(e) => {
                if l.step == Step::Office {
                    l.office_password.clear();
                }
                l.new_password.clear();
                l.new_password2.clear();
                l.message = Some(e.message_ja());
            }
        },
    }
}

fn field(ui: &mut egui::Ui, label: &str, value: &mut String, password: bool) -> egui::Response {
    let l = ui.label(label);
    let r = ui
        .add(
            egui::TextEdit::singleline(value)
                // Keyed by the label: a message that appears above never moves the focus.
                .id_salt(("login-field", label))
                .password(password)
                .desired_width(260.0),
        )
        .labelled_by(l.id);
    ui.end_row();
    r
}

fn submitted(ui: &egui::Ui, r: &egui::Response) -> bool {
    r.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter))
}

pub(crate) fn ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    ui.vertical_centered(|ui| {
        ui.add_space(40.0);
        ui.heading(RichText::new("ケアプランデータ連携 クライアント").size(24.0));
        ui.add_space(8.0);
        if app.relay.is_demo() {
            ui.label(
                RichText::new(
                    "【デモ】中継サーバが設定されていないため、このパソコンの中でデモ用の中継サーバを動かしています。事業所・利用者・データはすべて架空です。",
                )
                .color(Color32::from_rgb(0xb0, 0x40, 0x00)),
            );
        }
        ui.add_space(16.0);
    });
    let busy = app.jobs.is_running("login");
    let ready = app.relay.url_and_profile().is_some();
    ui.vertical_centered(|ui| {
        ui.set_max_width(520.0);
        demo_picker(app, ui);
        let step = app.login.step;
        ui.group(|ui| {
            ui.set_width(480.0);
            match step {
                Step::Personal => {
                    ui.label(RichText::new("ステップ1: 個人ユーザでログイン").strong());
                    let mut go = false;
                    egui::Grid::new("login-personal")
                        .num_columns(2)
                        .show(ui, |ui| {
                            field(ui, "個人ユーザID", &mut app.login.personal_user, false);
                            let r = field(ui, "パスワード", &mut app.login.personal_password, true);
                            go |= submitted(ui, &r);
                        });
                    let mut remember = app.settings.remember_ids;
                    if ui
                        .checkbox(
                            &mut remember,
                            "この端末にIDを記憶する（パスワードは記憶しません）",
                        )
                        .changed()
                    {
                        app.settings.remember_ids = remember;
                        app.save_settings();
                    }
                    go |= ui
                        .add_enabled(ready && !busy, egui::Button::new("次へ"))
                        .clicked();
                    if go && ready && !busy {
                        start_personal(app, &ctx);
                    }
                }
                Step::Office => {
                    ui.label(RichText::new("ステップ2: 事業所ユーザでログイン").strong());
                    ui.weak(format!("個人ユーザID: {}", app.login.personal_user));
                    let mut go = false;
                    egui::Grid::new("login-office")
                        .num_columns(2)
                        .show(ui, |ui| {
                            field(ui, "事業所ユーザID", &mut app.login.office_user, false);
                            let r =
                                field(ui, "事業所パスワード", &mut app.login.office_password, true);
                            go |= submitted(ui, &r);
                        });
                    ui.horizontal(|ui| {
                        go |= ui
                            .add_enabled(!busy, egui::Button::new("ログイン"))
                            .clicked();
                        if ui.button("戻る").clicked() {
                            app.login.clear_passwords();
                            app.login.step = Step::Personal;
                            app.login.message = None;
                        }
                    });
                    if go && !busy {
                        start_office(app, &ctx);
                    }
                }
                Step::ChangePassword => {
                    ui.label(RichText::new("パスワードの変更").strong());
                    ui.label("8文字以上で、英字・数字・記号のうち2種類以上を含めてください。");
                    let mut go = false;
                    egui::Grid::new("login-change")
                        .num_columns(2)
                        .show(ui, |ui| {
                            field(ui, "事業所ユーザID", &mut app.login.office_user, false);
                            field(ui, "現在のパスワード", &mut app.login.office_password, true);
                            field(ui, "新しいパスワード", &mut app.login.new_password, true);
                            let r = field(
                                ui,
                                "新しいパスワード（確認）",
                                &mut app.login.new_password2,
                                true,
                            );
                            go |= submitted(ui, &r);
                        });
                    go |= ui
                        .add_enabled(!busy, egui::Button::new("パスワードを変更してログイン"))
                        .clicked();
                    if go && !busy {
                        start_change(app, &ctx);
                    }
                }
            }
            if busy {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("確認しています…");
                });
            }
            if let Some(m) = &app.login.message {
                ui.add_space(6.0);
                ui.colored_label(ui.visuals().error_fg_color, m);
            }
        });
    });
}

fn demo_picker(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let Relay::Demo { info, office } = &mut app.relay else {
        return;
    };
    let mut chosen = *office;
    ui.horizontal(|ui| {
        let l = ui.label("デモ事業所");
        egui::ComboBox::from_id_salt("demo-office")
            .selected_text(
                info.offices
                    .get(chosen)
                    .map(|o| format!("{} {}", o.office, o.name))
                    .unwrap_or_default(),
            )
            .width(320.0)
            .show_ui(ui, |ui| {
                for (i, o) in info.offices.iter().enumerate() {
                    ui.selectable_value(&mut chosen, i, format!("{} {}", o.office, o.name));
                }
            })
            .response
            .labelled_by(l.id);
    });
    if chosen != *office {
        *office = chosen;
        app.login.fill_demo_ids(info, chosen);
        app.login.clear_passwords();
        app.login.step = Step::Personal;
    }
    if let Some(o) = info.offices.get(*office)
        && ui.button("デモのパスワードを入力").clicked()
    {
        app.login.personal_password.clone_from(&o.personal_password);
        app.login.office_password.clone_from(&o.office_password);
    }
    ui.add_space(6.0);
}

fn start_personal(app: &mut CareplanApp, ctx: &egui::Context) {
    let user = app.login.personal_user.trim().to_owned();
    let password = app.login.personal_password.clone();
    if user.is_empty() || password.is_empty() {
        app.login.message = Some("個人ユーザIDとパスワードを入力してください。".to_owned());
        return;
    }
    let Some((url, profile)) = app.relay.url_and_profile() else {
        return;
    };
    let store = app.store.clone();
    let terminal = app.settings.terminal_name.clone();
    app.login.message = None;
    app.jobs.spawn(ctx, "login", move || {
        let r = (|| {
            let identity = Identity::from_paths(&profile)?;
            let client = Client::new(
                store,
                &identity,
                &url,
                ClientOptions {
                    terminal_name: Some(terminal),
                    ..ClientOptions::default()
                },
            )?;
            client.login_personal(&user, &password)?;
            Ok::<_, ClientError>(client)
        })();
        Msg::Login(LoginMsg::Personal(r.map_err(|e| e.message_ja())))
    });
}

fn start_office(app: &mut CareplanApp, ctx: &egui::Context) {
    let user = app.login.office_user.trim().to_owned();
    let password = app.login.office_password.clone();
    if user.is_empty() || password.is_empty() {
        app.login.message = Some("事業所ユーザIDとパスワードを入力してください。".to_owned());
        return;
    }
    let Some(client) = app.login.client.clone() else {
        app.login.step = Step::Personal;
        return;
    };
    app.login.message = None;
    app.jobs.spawn(ctx, "login", move || {
        Msg::Login(LoginMsg::Office(client.login_office(&user, &password)))
    });
}

fn start_change(app: &mut CareplanApp, ctx: &egui::Context) {
    let l = &mut app.login;
    if l.new_password != l.new_password2 {
        l.message = Some(
            "新しいパスワードが確認欄と一致しません。同じパスワードを2回入力してください。"
                .to_owned(),
        );
        l.new_password2.clear();
        return;
    }
    if l.new_password == l.office_password {
        l.message = Some("新しいパスワードは現在のパスワードと違うものにしてください。".to_owned());
        return;
    }
    if let Err(e) = careplan_core::check_password(&l.new_password) {
        l.message = Some(e.to_finding().message);
        return;
    }
    let Some(client) = l.client.clone() else {
        l.step = Step::Personal;
        return;
    };
    let user = l.office_user.trim().to_owned();
    let old = l.office_password.clone();
    let new = l.new_password.clone();
    l.message = None;
    app.jobs.spawn(ctx, "login", move || {
        let r = client
            .change_password(&user, &old, &new)
            .and_then(|()| client.login_office(&user, &new));
        Msg::Login(LoginMsg::Changed(r))
    });
}
