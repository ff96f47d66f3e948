//! Several offices on one PC (issue 14), in the window, against the real demo relay on
//! loopback: two office profiles, each with its own store; the header switches between them
//! and counts each one's files not yet received; an arrival for the profile that is not
//! shown is counted and announced; neither sees the other's lists or ledger; one kiosk lock
//! logs both out; the profiles come back after a restart; a profile can be removed.

mod support;

use std::time::{Duration, Instant};

use careplan_app::ui::offices::{Offices, load_registry};
use careplan_app::ui::{AppConfig, RelaySource};
use careplan_client::Store;
use careplan_client::store::Direction;
use careplan_relay::demo::DemoInfo;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use support::kittest::{click_label, contains, demo_relay, send_plan_set, wait_until, window};

type H = Harness<'static, Offices>;

fn harness(root: &std::path::Path, info: &DemoInfo) -> H {
    let store = Store::open(root).expect("store");
    let offices = Offices::open(
        root,
        AppConfig {
            store,
            relay: RelaySource::Demo(info.clone()),
            renderer_note: String::new(),
            renderer_file: None,
        },
    );
    window(offices, |ui, o: &mut Offices| o.show(ui))
}

fn wait(h: &mut H, what: &str, cond: impl Fn(&H) -> bool) {
    wait_until(h, what, cond);
}

fn click(h: &mut H, label: &str) {
    click_label(h, label);
}

fn click_contains(h: &mut H, label: &str) {
    h.query_all_by_label_contains(label)
        .next()
        .unwrap_or_else(|| panic!("no widget with {label}"))
        .click();
    h.run_steps(2);
}

fn login(h: &mut H) {
    click(h, "デモのパスワードを入力");
    click(h, "次へ");
    wait(h, "step 2", |h| {
        h.query_by_label("事業所ユーザID").is_some()
    });
    click(h, "ログイン");
    wait(h, "logged in", |h| h.state().app().is_logged_in());
}

fn transmission_ids(store: &Store, dir: Direction) -> Vec<String> {
    store
        .ledger()
        .expect("ledger")
        .into_iter()
        .filter(|e| e.direction == dir)
        .map(|e| e.transmission_id)
        .collect()
}

#[test]
fn two_offices_on_one_pc_each_see_only_their_own_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (relay, info) = demo_relay(&dir.path().join("relay"));
    let root = dir.path().join("terminal");
    let mut h = harness(&root, &info);

    // One profile: the header offers to add another.
    assert_eq!(h.state().profiles().len(), 1);
    login(&mut h);
    let care_manager = info.offices[0].office.clone();
    let provider = info.offices[1].office.clone();
    assert_eq!(
        h.state().app().session_office().map(|o| o.to_string()),
        Some(care_manager.clone())
    );

    // 事業所を追加: a label, the next free demo office; shown at once, logged out.
    click(&mut h, "＋ 事業所を追加");
    let label = h.get_by_label("表示名");
    label.focus();
    h.run_steps(1);
    h.get_by_label("表示名").type_text("ひまわり訪問介護");
    h.run_steps(1);
    click(&mut h, "追加");
    assert_eq!(h.state().profiles().len(), 2);
    assert_eq!(h.state().active(), 1);
    assert!(!h.state().app().is_logged_in());
    assert!(
        root.join("offices/o2/store").is_dir(),
        "the profile has a store of its own"
    );
    login(&mut h);
    assert_eq!(
        h.state().app().session_office().map(|o| o.to_string()),
        Some(provider.clone())
    );
    wait(&mut h, "both lists loaded", |h| {
        h.state().unread(0).is_some() && h.state().unread(1).is_some()
    });
    assert!(contains(&h, "ひまわり訪問介護 未受信"), "the header counts");

    // Back to the care manager (Ctrl+PageUp); the provider stays logged in behind.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::PageUp);
    h.run_steps(2);
    assert_eq!(h.state().active(), 0);
    assert!(h.state().app_at(1).expect("provider").is_logged_in());
    let before = h.state().unread(1).expect("provider's count");
    h.state_mut().take_announcements();

    // The care manager's profile sends a set to the provider (its own store: its ledger).
    let (tid, set) = send_plan_set(
        &info,
        h.state().store_at(0).expect("store"),
        "20261202101500",
        "複数事業所のテスト",
    );

    // The provider, not shown, is woken by the relay, counts the set and announces it.
    wait(&mut h, "the provider counts the new set", |h| {
        h.state().unread(1) == Some(before + set.len())
    });
    let a = h.state_mut().take_announcements();
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].profile, "ひまわり訪問介護");
    assert_eq!(a[0].files, set.len());
    assert!(
        !a[0].text().1.contains(&set[0]),
        "no file names in a notification"
    );
    assert!(
        h.state().window_title().contains("未受信"),
        "{}",
        h.state().window_title()
    );
    assert!(contains(
        &h,
        &format!("ひまわり訪問介護 未受信 {}件", before + set.len())
    ));

    // Each profile's ledger holds only its own side.
    let sent_by_cm = transmission_ids(h.state().store_at(0).expect("store"), Direction::Send);
    assert!(sent_by_cm.contains(&tid));
    let provider_ledger: Vec<String> = h
        .state()
        .store_at(1)
        .expect("store")
        .ledger()
        .expect("ledger")
        .into_iter()
        .map(|e| e.transmission_id)
        .collect();
    assert!(
        !provider_ledger.contains(&tid),
        "the care manager's send is not in the provider's ledger"
    );
    // The provider's 受信一覧 lists it; the care manager's does not.
    click_contains(&mut h, "ひまわり訪問介護 ");
    assert_eq!(h.state().active(), 1);
    click(&mut h, "受信一覧");
    wait(&mut h, "the provider's list shows the set", |h| {
        contains(h, &set[0])
    });
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::PageDown);
    h.run_steps(2);
    assert_eq!(h.state().active(), 0);
    click(&mut h, "受信一覧");
    h.run_steps(5);
    assert!(
        !contains(&h, &set[0]),
        "the care manager's 受信一覧 never shows the provider's arrival"
    );

    // One kiosk lock for both.
    h.state_mut().set_lock_after(Duration::from_millis(300));
    std::thread::sleep(Duration::from_millis(400));
    wait(&mut h, "both locked", |h| {
        (0..2).all(|i| !h.state().app_at(i).expect("app").is_logged_in())
    });
    for i in 0..2 {
        assert!(
            h.state()
                .app_at(i)
                .and_then(|a| a.login_message())
                .is_some_and(|m| m.contains("ロックしました")),
            "profile {i} says why"
        );
    }

    // After a restart: both profiles, their labels and the one shown last.
    h.state_mut().switch_to(1);
    drop(h);
    let r = load_registry(&root);
    assert_eq!(r.offices.len(), 2);
    assert_eq!(r.active, "o2");
    assert_eq!(r.offices[1].label, "ひまわり訪問介護");
    assert!(
        r.offices[0].office.contains(&care_manager),
        "{:?}",
        r.offices[0]
    );
    // The session's long-poll thread keeps its handle on the store until its wait returns
    // (25 s at most); a restarted app is a new process, here the same one waits for it.
    let free = Instant::now();
    while Store::open(&root).is_err() || Store::open(&root.join("offices/o2")).is_err() {
        assert!(free.elapsed() < Duration::from_secs(60), "stores released");
    }
    let mut h = harness(&root, &info);
    assert_eq!(h.state().profiles().len(), 2);
    assert_eq!(h.state().active(), 1);
    assert!(contains(&h, "ひまわり訪問介護 未ログイン"));

    // この事業所を外す: confirmed, the profile and its folder are gone.
    click(&mut h, "この事業所を外す");
    click(&mut h, "外す（データを削除）");
    assert_eq!(h.state().profiles().len(), 1);
    assert_eq!(h.state().active(), 0);
    let gone = Instant::now();
    while root.join("offices/o2").exists() {
        assert!(gone.elapsed() < Duration::from_secs(10), "folder deleted");
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        root.join("store").is_dir(),
        "the first profile is untouched"
    );
    drop(relay);
}

/// Closing the window while 自動送受信 runs is held: the user chooses to minimise and keep it
/// running (the default), to quit, or to cancel.
#[test]
fn closing_while_the_watched_folders_run_asks_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (relay, info) = demo_relay(&dir.path().join("relay"));
    let root = dir.path().join("terminal");
    {
        // A terminal with a 送信フォルダ: the engine starts at login.
        let store = Store::open(&root).expect("store");
        let mut s = store.settings().expect("settings");
        s.watch.outbox = Some(dir.path().join("送信フォルダ"));
        store.save_settings(&s).expect("save");
        store.flush().expect("flush");
    }
    let mut h = harness(&root, &info);
    let close = |h: &mut H| {
        h.input_mut()
            .viewports
            .entry(egui::ViewportId::ROOT)
            .or_default()
            .events
            .push(egui::ViewportEvent::Close);
        h.step();
    };
    let commands = |h: &H| -> Vec<egui::ViewportCommand> {
        h.output()
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map(|v| v.commands.clone())
            .unwrap_or_default()
    };
    // Logged out, nothing runs: the window closes at once.
    close(&mut h);
    assert!(h.state().close_question().is_none());
    assert!(!commands(&h).contains(&egui::ViewportCommand::CancelClose));

    login(&mut h);
    wait(&mut h, "watching", |h| {
        h.state().app().watch_status().is_some_and(|s| s.running)
    });
    close(&mut h);
    assert!(
        commands(&h).contains(&egui::ViewportCommand::CancelClose),
        "the close is held"
    );
    assert_eq!(h.state().close_question().map(|n| n.len()), Some(1));
    h.run_steps(2);
    assert!(contains(&h, "自動送受信が動いています"));
    // Escape cancels: the window stays, the engine runs.
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(h.state().close_question().is_none());
    assert!(h.state().app().watch_status().is_some_and(|s| s.running));
    // The default button minimises.
    close(&mut h);
    h.run_steps(1);
    h.get_by_label("最小化して続ける").click();
    h.step();
    assert!(commands(&h).contains(&egui::ViewportCommand::Minimized(true)));
    assert!(h.state().close_question().is_none());
    // 終了する lets the close through.
    close(&mut h);
    h.run_steps(1);
    h.get_by_label("終了する").click();
    h.step();
    assert!(commands(&h).contains(&egui::ViewportCommand::Close));
    drop(h);
    drop(relay);
}
