//! The icon in the notification area (issue 14), on Linux as a StatusNotifierItem: the test
//! starts a private session bus (`dbus-daemon`) and plays the panel on it (a
//! StatusNotifierWatcher, reading the item's properties and clicking its menu over D-Bus,
//! as KDE or the GNOME AppIndicator extension do), against the real window (kittest) logged
//! in to the real demo relay with a 送信フォルダ running.
//!
//! Without a panel the icon is not shown and closing asks as before; once a panel appears
//! it shows the icon. Closing while 自動送受信 runs explains once, then hides the window in
//! the tray; hidden, the app still counts arrivals (tooltip, attention state, notification);
//! 受信一覧 in the menu brings the window back on that list; a click on the icon opens it;
//! 終了 ends the app.

#![cfg(target_os = "linux")]

mod support;

use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use careplan_app::tray::Tray;
use careplan_app::ui::offices::{Offices, load_registry};
use careplan_app::ui::{AppConfig, RelaySource, Tab};
use careplan_client::Store;
use egui_kittest::Harness;
use support::kittest::{click_label, contains, demo_relay, send_plan_set, wait_until, window};
use zbus::zvariant::{OwnedValue, Value};

type H = Harness<'static, Offices>;

/// A private session bus in a temp folder (stopped on drop).
struct Bus {
    child: Child,
    address: String,
}

impl Bus {
    fn start(dir: &std::path::Path) -> Self {
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .arg(format!("--address=unix:path={}", dir.join("bus").display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon; .ci/run installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the bus address");
        Self {
            child,
            address: line.trim().to_owned(),
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The panel's side: the items that registered.
#[derive(Clone, Default)]
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        // A bus name, or an object path on the caller's connection.
        let name = if service.starts_with('/') {
            header.sender().map(|s| s.to_string()).unwrap_or_default()
        } else {
            service.to_owned()
        };
        self.items.lock().expect("items").push(name);
    }

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().expect("items").clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

fn proxy<'a>(
    conn: &zbus::blocking::Connection,
    dest: &'a str,
    path: &'a str,
    iface: &'a str,
) -> zbus::blocking::Proxy<'a> {
    zbus::blocking::proxy::Builder::new(conn)
        .destination(dest)
        .expect("destination")
        .path(path)
        .expect("path")
        .interface(iface)
        .expect("interface")
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .expect("proxy")
}

/// An SNI pixmap: width, height, ARGB32 bytes.
type Pixmap = (i32, i32, Vec<u8>);

/// The item as the panel reads it: (status, tooltip title, tooltip text, icon width).
fn item_state(conn: &zbus::blocking::Connection, item: &str) -> (String, String, String, i32) {
    let p = proxy(
        conn,
        item,
        "/StatusNotifierItem",
        "org.kde.StatusNotifierItem",
    );
    let status: String = p.get_property("Status").expect("Status");
    let (_, _, title, text): (String, Vec<Pixmap>, String, String) =
        p.get_property("ToolTip").expect("ToolTip");
    let icons: Vec<Pixmap> = p.get_property("IconPixmap").expect("IconPixmap");
    (status, title, text, icons.first().map_or(0, |i| i.0))
}

/// Click the menu entry labelled `label`, as the panel does.
fn click_menu(conn: &zbus::blocking::Connection, item: &str, label: &str) {
    let menu = proxy(conn, item, "/MenuBar", "com.canonical.dbusmenu");
    let entries: Vec<(i32, HashMap<String, OwnedValue>)> = menu
        .call(
            "GetGroupProperties",
            &(Vec::<i32>::new(), vec!["label".to_owned()]),
        )
        .expect("menu");
    let id = entries
        .iter()
        .find(|(_, props)| {
            props
                .get("label")
                .and_then(|v| String::try_from(v.clone()).ok())
                .as_deref()
                == Some(label)
        })
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("no menu entry {label}"));
    let () = menu
        .call("Event", &(id, "clicked", Value::from(0i32), 0u32))
        .expect("click");
}

/// Run only what goes on while the window is hidden (eframe calls `logic`, not `ui`).
fn hidden_until(h: &mut H, what: &str, cond: impl Fn(&H) -> bool) {
    let start = Instant::now();
    let ctx = h.ctx.clone();
    loop {
        h.state_mut().background(&ctx);
        if cond(h) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn closed(h: &mut H) -> Vec<egui::ViewportCommand> {
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.step();
    let commands = h
        .output()
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .map(|v| v.commands.clone())
        .unwrap_or_default();
    // A pass without the close, as eframe's next one: what the logic reads while hidden.
    h.step();
    commands
}

#[test]
#[allow(unsafe_code)] // set_var: the private bus for this process
fn the_tray_icon_counts_hides_and_brings_back_the_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = Bus::start(dir.path());
    // SAFETY: the only test of this binary, set before any thread of it reads the
    // environment.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address) };

    let (relay, info) = demo_relay(&dir.path().join("relay"));
    let root = dir.path().join("terminal");
    {
        // A terminal with a 送信フォルダ: 自動送受信 starts at login.
        let store = Store::open(&root).expect("store");
        let mut s = store.settings().expect("settings");
        s.watch.outbox = Some(dir.path().join("送信フォルダ"));
        store.save_settings(&s).expect("save");
        store.flush().expect("flush");
    }
    let store = Store::open(&root).expect("store");
    let mut offices = Offices::open(
        &root,
        AppConfig {
            store,
            relay: RelaySource::Demo(info.clone()),
            renderer_note: String::new(),
            renderer_file: None,
        },
    );
    // The window is the provider's (demo office 1): the care manager sends to it.
    offices.app_mut().select_demo_office(1);
    let mut h = window(offices, |ui, o: &mut Offices| o.show(ui));

    // No panel yet: the icon exists on the bus but is not shown.
    let tray = Tray::start(&h.ctx).expect("a tray on the session bus");
    assert!(!tray.shown(), "no StatusNotifierWatcher runs yet");
    h.state_mut().set_tray(tray);

    // The panel starts: the item registers with it and is shown from then on.
    let watcher = Watcher::default();
    let panel = zbus::blocking::connection::Builder::session()
        .expect("bus")
        .name("org.kde.StatusNotifierWatcher")
        .expect("name")
        .serve_at("/StatusNotifierWatcher", watcher.clone())
        .expect("serve")
        .build()
        .expect("panel connection");
    wait_until(&mut h, "the icon is shown", |h| {
        h.state().tray().is_some_and(Tray::shown)
    });
    let start = Instant::now();
    let item = loop {
        if let Some(i) = watcher.items.lock().expect("items").first().cloned() {
            break i;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the item registers"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    };
    let (status, title, text, width) = item_state(&panel, &item);
    assert_eq!(
        (status.as_str(), title.as_str()),
        ("Active", "ケアプランデータ連携")
    );
    assert_eq!(text, "ログインしていません");
    assert_eq!(width, 32, "the app's own icon");

    // Log in: 自動送受信 runs; the tooltip counts what is not yet received.
    click_label(&mut h, "デモのパスワードを入力");
    click_label(&mut h, "次へ");
    wait_until(&mut h, "step 2", |h| contains(h, "事業所ユーザID"));
    click_label(&mut h, "ログイン");
    wait_until(&mut h, "watching", |h| {
        h.state().app().watch_status().is_some_and(|s| s.running)
    });
    wait_until(&mut h, "list loaded", |h| h.state().unread(0).is_some());
    let before = h.state().unread(0).expect("count");
    let start = Instant::now();
    loop {
        h.step();
        let (_, _, text, _) = item_state(&panel, &item);
        if (before == 0 && text == "未受信のデータはありません")
            || text == format!("未受信 {before}件")
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "tooltip: {text}");
    }

    // The first close explains, with 「通知領域で続ける」 as the default.
    let commands = closed(&mut h);
    assert!(commands.contains(&egui::ViewportCommand::CancelClose));
    h.run_steps(2);
    assert!(contains(&h, "通知領域で続ける"));
    assert!(contains(&h, "アイコンのメニューの「終了」"));
    click_label(&mut h, "通知領域で続ける");
    assert!(h.state().is_hidden());
    assert!(load_registry(&root).tray_told, "told once, remembered");
    assert!(h.state().app().watch_status().is_some_and(|s| s.running));

    // Hidden: an arrival is still counted, announced and shown by the icon.
    h.state_mut().take_announcements();
    let sender = Store::open(&dir.path().join("sender")).expect("sender store");
    let (_, set) = send_plan_set(&info, &sender, "20261202120000", "トレイのテスト");
    let want = before + set.len();
    hidden_until(&mut h, "the hidden app counts the arrival", |h| {
        h.state().unread(0) == Some(want)
    });
    let a = h.state_mut().take_announcements();
    assert_eq!(a.iter().map(|a| a.files).sum::<usize>(), set.len());
    let start = Instant::now();
    loop {
        let ctx = h.ctx.clone();
        h.state_mut().background(&ctx);
        let (status, _, text, _) = item_state(&panel, &item);
        if status == "NeedsAttention" && text == format!("未受信 {want}件") {
            assert!(!text.contains(&set[0]), "counts only, no file names");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{status} {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.state().is_hidden());

    // 受信一覧 in the menu: the window comes back on that list.
    click_menu(&panel, &item, "受信一覧");
    hidden_until(&mut h, "shown again", |h| !h.state().is_hidden());
    h.run_steps(2);
    assert_eq!(h.state().app().tab(), Some(Tab::Received));
    assert!(contains(&h, &set[0]), "the arrival is listed");

    // Told already: the next close hides at once, without asking.
    let commands = closed(&mut h);
    assert!(commands.contains(&egui::ViewportCommand::CancelClose));
    assert!(commands.contains(&egui::ViewportCommand::Visible(false)));
    assert!(h.state().close_question().is_none());
    assert!(h.state().is_hidden());

    // A click on the icon opens the window.
    let _: () = proxy(
        &panel,
        &item,
        "/StatusNotifierItem",
        "org.kde.StatusNotifierItem",
    )
    .call("Activate", &(0i32, 0i32))
    .expect("activate");
    hidden_until(&mut h, "opened by a click", |h| !h.state().is_hidden());

    // 終了: the app closes although 自動送受信 runs.
    click_menu(&panel, &item, "終了");
    let ctx = h.ctx.clone();
    let start = Instant::now();
    loop {
        h.state_mut().background(&ctx);
        h.step();
        let commands = h
            .output()
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map(|v| v.commands.clone())
            .unwrap_or_default();
        if commands.contains(&egui::ViewportCommand::Close) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "終了 closes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let commands = closed(&mut h);
    assert!(
        !commands.contains(&egui::ViewportCommand::CancelClose),
        "the close after 終了 goes through"
    );

    // The icon goes with the app.
    drop(h);
    let dbus = zbus::blocking::fdo::DBusProxy::new(&panel).expect("dbus");
    let start = Instant::now();
    while dbus
        .name_has_owner(item.as_str().try_into().expect("name"))
        .expect("has owner")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the item left the bus"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(relay);
}
