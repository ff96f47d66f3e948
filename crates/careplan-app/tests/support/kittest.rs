//! The app driven through `egui_kittest` against the real demo relay on loopback: one
//! harness for the window tests (`mod support;` then `support::kittest::…`).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use careplan_app::ui::{AppConfig, CareplanApp, RelaySource, install_fonts, install_style};
use careplan_client::Store;
use careplan_relay::embedded::RunningRelay;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// The window, its demo relay and its folders (removed on drop).
pub struct App {
    pub h: Harness<'static, CareplanApp>,
    pub relay: RunningRelay,
    pub store: Store,
    pub dir: tempfile::TempDir,
}

/// The demo relay on loopback with its data in `dir`, and its offices.
pub fn demo_relay(dir: &std::path::Path) -> (RunningRelay, careplan_relay::demo::DemoInfo) {
    let relay = careplan_relay::embedded::start_demo(dir, SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("demo relay");
    let info = relay.demo.clone().expect("demo info");
    (relay, info)
}

/// A 1280×900 window over `state`, drawn by `show`, with the app's fonts and style.
pub fn window<S: 'static>(
    state: S,
    show: impl FnMut(&mut egui::Ui, &mut S) + 'static,
) -> Harness<'static, S> {
    let mut h = Harness::builder()
        .with_size([1280.0, 900.0])
        .with_max_steps(2000)
        .with_step_dt(1.0 / 60.0)
        .with_context_setup(|ctx| {
            install_fonts(ctx);
            install_style(ctx);
        })
        .build_ui_state(show, state);
    h.run_steps(2);
    h
}

/// Step until `cond` holds (60 s at most).
pub fn wait_until<S>(
    h: &mut Harness<'static, S>,
    what: &str,
    cond: impl Fn(&Harness<'static, S>) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if cond(h) {
            h.run_steps(2);
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Click the first widget with this label.
pub fn click_label<S>(h: &mut Harness<'static, S>, label: &str) {
    h.query_all_by_label(label)
        .next()
        .unwrap_or_else(|| panic!("no widget labelled {label}"))
        .click();
    h.run_steps(2);
}

impl App {
    /// A 1280×900 window on a fresh terminal store, the demo relay started in a temp
    /// folder, demo office `office` selected on the login screen.
    pub fn start(office: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (relay, info) = demo_relay(&dir.path().join("relay"));
        let store_dir = dir.path().join("terminal");
        let store = Store::open(&store_dir).expect("store");
        let mut app = CareplanApp::new(AppConfig {
            store: store.clone(),
            relay: RelaySource::Demo(info),
            renderer_note: String::new(),
            renderer_file: None,
        });
        app.select_demo_office(office);
        let h = window(app, |ui, app: &mut CareplanApp| app.show(ui));
        Self {
            h,
            relay,
            store,
            dir,
        }
    }

    /// Step until `cond` holds (60 s at most).
    pub fn wait(&mut self, what: &str, cond: impl Fn(&Harness<'static, CareplanApp>) -> bool) {
        wait_until(&mut self.h, what, cond);
    }

    /// Click the first widget with this label.
    pub fn click(&mut self, label: &str) {
        click_label(&mut self.h, label);
    }

    /// Replace the text of the field labelled `label`.
    pub fn set_text(&mut self, label: &str, text: &str) {
        self.h.get_by_label(label).focus();
        self.h.run_steps(1);
        self.h
            .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        self.h.run_steps(1);
        self.h.get_by_label(label).type_text(text);
        self.h.run_steps(2);
    }

    /// The two login steps with the demo passwords.
    pub fn login(&mut self) {
        self.click("デモのパスワードを入力");
        self.click("次へ");
        self.wait("step 2", |h| h.query_by_label("事業所ユーザID").is_some());
        self.click("ログイン");
        self.wait("logged in", |h| h.state().is_logged_in());
    }
}

/// Some widget's label contains `text`.
pub fn contains<S>(h: &Harness<'static, S>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// Demo office `i` of the demo relay as `careplan_core::demo` draws its files (office 0 is
/// the care manager's).
pub fn demo_office(
    info: &careplan_relay::demo::DemoInfo,
    i: usize,
) -> careplan_core::demo::DemoOffice {
    careplan_core::demo::DemoOffice {
        number: careplan_core::OfficeNumber::parse(&info.offices[i].office).expect("office"),
        name: info.offices[i].name.clone(),
        service: careplan_core::ServiceType::parse(if i == 0 { "43" } else { "11" })
            .expect("service"),
        care_manager: i == 0,
    }
}

/// Demo office 0 (the care manager) sends a plan set for December 2026 to office 1 through
/// its own client over `store`, outside the window. Returns the transmission id and the
/// files' names.
pub fn send_plan_set(
    info: &careplan_relay::demo::DemoInfo,
    store: &Store,
    serial: &str,
    message: &str,
) -> (String, Vec<String>) {
    use careplan_client::{Client, ClientOptions, Identity, OutgoingFile, ProfilePaths, SendMode};
    let users = careplan_core::demo::demo_users(5, 1);
    let set = careplan_core::demo::plan_set(
        &demo_office(info, 0),
        &demo_office(info, 1),
        "202612",
        serial,
        &users,
    );
    let o = &info.offices[0];
    let c = Client::new(
        store.clone(),
        &Identity::from_paths(&ProfilePaths::in_dir(&o.profile)).expect("identity"),
        &info.relay_url,
        ClientOptions::default(),
    )
    .expect("client");
    c.login(
        &o.personal_user,
        &o.personal_password,
        &o.office_user,
        &o.office_password,
    )
    .expect("login");
    let files: Vec<OutgoingFile> = set
        .iter()
        .map(|f| OutgoingFile {
            name: f.name.clone(),
            bytes: f.bytes.clone(),
        })
        .collect();
    let plan = c
        .prepare_send(files, message, &SendMode::Single { to: None })
        .expect("plan");
    let receipt = c.send(&plan, true).expect("send");
    (
        receipt.ids[0].clone(),
        set.iter().map(|f| f.name.clone()).collect(),
    )
}
