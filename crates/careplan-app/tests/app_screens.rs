//! Screens of issue 16, driven through `egui_kittest` against the real demo relay:
//! - 取引先一覧: every office the demo office exchanged with is listed with its name and its
//!   未読 / 未受信 counts, newest activity first, and the search narrows the rows (the
//!   expected figures are read independently through a second terminal's client);
//! - 文字の大きさ and 高コントラスト: chosen in the status bar (also before login), applied at
//!   once, kept per terminal, and Ctrl+「+」/「-」 step through the sizes.

mod support;

use std::collections::BTreeMap;

use careplan_client::{Client, ClientOptions, Identity, ProfilePaths, Store};
use careplan_core::partners::MonthState;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use support::kittest::{App, contains};

#[test]
fn every_partner_with_its_counts_and_search() {
    let mut a = App::start(0);
    a.login();
    let info = a.h.state().demo_info().cloned().expect("demo");
    let me = &info.offices[0];

    // What the relay holds for office 0, read on a second terminal.
    let second = tempfile::tempdir().expect("tempdir");
    let c = Client::new(
        Store::open(second.path()).expect("store"),
        &Identity::from_paths(&ProfilePaths::in_dir(&me.profile)).expect("identity"),
        &info.relay_url,
        ClientOptions::default(),
    )
    .expect("client");
    c.login(
        &me.personal_user,
        &me.personal_password,
        &me.office_user,
        &me.office_password,
    )
    .expect("login");
    let received = c.received().expect("received").items;
    let sent = c.sent().expect("sent").items;
    // office → (unread transmissions, files not saved)
    let mut expected: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for t in &received {
        let e = expected.entry(t.sender_office.clone()).or_default();
        let missing = t.files.iter().filter(|f| !f.acquired).count();
        e.1 += missing;
        e.0 += usize::from(missing > 0);
    }
    for t in &sent {
        for d in &t.destinations {
            expected.entry(d.office.clone()).or_default();
        }
    }
    assert!(
        expected.len() >= 2,
        "the demo exchanges with several offices"
    );

    // The window's title counts the files not yet received, fetched at login.
    let undownloaded: usize = expected.values().map(|(_, files)| files).sum();
    assert!(undownloaded > 0, "the demo office has mail");
    a.wait("title", |h| {
        h.state()
            .window_title()
            .starts_with(&format!("（未受信 {undownloaded}件）"))
    });

    a.click("取引先一覧");
    a.wait("rows", |h| !h.state().partner_rows().is_empty());
    let rows = a.h.state().partner_rows();
    let got: BTreeMap<String, (usize, usize)> = rows
        .iter()
        .map(|p| (p.office.clone(), (p.unread, p.undownloaded)))
        .collect();
    assert_eq!(got, expected);
    for w in rows.windows(2) {
        assert!(
            w[0].last_activity() >= w[1].last_activity(),
            "newest activity first"
        );
    }
    // Names of the demo offices, each shown with its number.
    for o in info.offices.iter().skip(1) {
        if let Some(p) = rows.iter().find(|p| p.office == o.office) {
            assert_eq!(p.name, o.name);
            assert!(contains(&a.h, &o.office), "{} shown", o.office);
            assert!(contains(&a.h, &o.name), "{} shown", o.name);
        }
    }
    // Nothing sent this month by the demo office: なし (the demo data is received mail and
    // older sends).
    for p in &rows {
        if !sent.iter().any(|t| {
            t.destinations.iter().any(|d| d.office == p.office)
                && careplan_client::ledger::jst(t.sent_at)[..7]
                    == careplan_client::ledger::jst(time::OffsetDateTime::now_utc())[..7]
        }) {
            assert_eq!(p.this_month, MonthState::None);
        }
    }

    // Search by name: one row left.
    let target = rows[rows.len() - 1].clone();
    a.set_text("検索", &target.name);
    a.wait("filtered", |h| h.state().partner_rows().len() == 1);
    assert_eq!(a.h.state().partner_rows()[0].office, target.office);
    a.set_text("検索", "該当なしの事業所");
    a.wait("none", |h| contains(h, "検索に一致する事業所はありません"));
}

#[test]
fn text_size_and_high_contrast_apply_at_once_and_are_kept() {
    let mut a = App::start(0);
    let store = a.store.clone();
    assert_eq!(a.h.ctx.zoom_factor(), 1.0);
    let tint = careplan_app::ui::unread_tint(&a.h.ctx);
    assert_eq!(tint, careplan_app::ui::UNREAD_TINT);

    // On the login screen: 200 % from the combo box.
    a.h.get_by_role_and_label(Role::ComboBox, "文字の大きさ")
        .click();
    a.h.run_steps(2);
    a.click("200%");
    a.wait("zoomed", |h| h.ctx.zoom_factor() == 2.0);
    a.click("高コントラスト");
    a.wait("contrast", |h| {
        careplan_app::ui::unread_tint(&h.ctx) == careplan_app::ui::UNREAD_TINT_HIGH_CONTRAST
    });
    a.wait("saved", |_| {
        let s = a_settings(&store);
        s.text_size_percent == 200 && s.high_contrast
    });

    // Ctrl+minus steps down: 150 %, then 125 %.
    a.h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Minus);
    a.wait("150", |h| h.ctx.zoom_factor() == 1.5);
    a.h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Minus);
    a.wait("125", |h| h.ctx.zoom_factor() == 1.25);
    a.wait("saved 125", |_| a_settings(&store).text_size_percent == 125);

    // And the login still works at that size.
    a.login();
}

fn a_settings(store: &careplan_client::Store) -> careplan_client::Settings {
    store.settings().expect("settings")
}

/// Interactive controls on the screen: how many, and those without an accessible name (a
/// screen reader would say only 「ボタン」), role and value of each.
fn unnamed_controls<S>(h: &egui_kittest::Harness<'_, S>) -> (usize, Vec<String>) {
    use egui_kittest::kittest::{NodeT, by};
    let interactive = [
        Role::Button,
        Role::CheckBox,
        Role::RadioButton,
        Role::TextInput,
        Role::MultilineTextInput,
        Role::PasswordInput,
        Role::SearchInput,
        Role::ComboBox,
        Role::Slider,
        Role::SpinButton,
        Role::Link,
        Role::Tab,
    ];
    let all = h
        .query_all(by().predicate(move |n| interactive.contains(&n.role())))
        .count();
    let unnamed = h
        .query_all(by().predicate(move |n| {
            interactive.contains(&n.role()) && n.label().is_none_or(|l| l.trim().is_empty())
        }))
        .map(|n| {
            let a = n.accesskit_node();
            format!("{:?} value={:?}", a.role(), a.value())
        })
        .collect();
    (all, unnamed)
}

#[test]
fn every_control_has_an_accessible_name_on_every_screen() {
    let mut a = App::start(0);
    let mut missing = Vec::new();
    let mut check = |a: &App, screen: &str| {
        let (all, unnamed) = unnamed_controls(&a.h);
        // The tab bar, the status bar's controls and the screen's own: never only a few.
        assert!(all >= 4, "{screen}: only {all} controls found");
        for c in unnamed {
            missing.push(format!("{screen}: {c}"));
        }
    };
    check(&a, "ログイン");
    a.click("デモのパスワードを入力");
    a.click("次へ");
    a.wait("step 2", |h| h.query_by_label("事業所ユーザID").is_some());
    check(&a, "ログイン（ステップ2）");
    a.click("ログイン");
    a.wait("logged in", |h| h.state().is_logged_in());
    for (tab, ready) in [
        ("トップページ", "お知らせ一覧"),
        ("受信一覧", "データ受信"),
        ("送信一覧", "送信日時"),
        ("新規作成", "ファイルを選択…"),
        ("下書き一覧", "下書き一覧"),
        ("一括送信", "一括送信"),
        ("取引先一覧", "事業所番号"),
    ] {
        a.click(tab);
        a.wait(ready, |h| contains(h, ready));
        a.wait("idle", |h| h.state().jobs_running() == 0);
        check(&a, tab);
    }
    // The panels that open on the top page.
    a.click("トップページ");
    for panel in ["証明書の更新", "この端末の設定", "送受信記録（台帳）"] {
        a.click(panel);
    }
    a.h.run_steps(3);
    check(&a, "トップページ（設定と台帳を開いたところ）");
    assert!(
        missing.is_empty(),
        "controls without a name:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_name_check_finds_an_unnamed_control() {
    // egui_kittest's own check (on in every harness of the app's tests) would stop at the
    // first frame: off here, to see that ours finds the same.
    let h = egui_kittest::Harness::builder()
        .with_accessibility_check(false)
        .build_ui(|ui| {
            let mut on = false;
            ui.add(egui::Checkbox::without_text(&mut on));
            let _ = ui.button("OK");
        });
    let (all, unnamed) = unnamed_controls(&h);
    assert_eq!(all, 2);
    assert_eq!(unnamed.len(), 1, "{unnamed:?}");
}

fn demo_office(info: &careplan_relay::demo::DemoInfo, i: usize) -> careplan_core::demo::DemoOffice {
    let o = &info.offices[i];
    careplan_core::demo::DemoOffice {
        number: careplan_core::OfficeNumber::parse(&o.office).expect("office"),
        name: o.name.clone(),
        service: careplan_core::ServiceType::parse(if i == 0 { "43" } else { "11" })
            .expect("service"),
        care_manager: i == 0,
    }
}

/// Files under `dir`, recursively (names only).
fn names_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(names_under(&p));
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// Issue 14 in the window: 自動送受信 takes a 送信フォルダ, starts the engine, sends a complete
/// set with no click, puts a broken set into エラー with its reason, shows both in its counts,
/// keeps the folders for this terminal, and stops.
#[test]
fn watched_outbox_from_the_app_sends_a_set_and_refuses_a_broken_one() {
    let mut a = App::start(0);
    a.login();
    let info = a.h.state().demo_info().cloned().expect("demo");
    let outbox = a.dir.path().join("送信フォルダ");

    a.click("自動送受信");
    assert!(contains(&a.h, "まだ開始していません"));
    a.set_text("送信フォルダ", outbox.to_str().expect("utf-8"));
    a.click("自動送受信を開始");
    a.wait("running", |h| {
        h.state().watch_status().is_some_and(|s| s.running)
    });
    assert_eq!(
        a.store
            .settings()
            .expect("settings")
            .watch
            .outbox
            .as_deref(),
        Some(outbox.as_path()),
        "kept for this terminal"
    );

    let users = careplan_core::demo::demo_users(7, 2);
    let (me, to) = (demo_office(&info, 0), demo_office(&info, 1));
    let good = careplan_core::demo::plan_set(&me, &to, "202612", "20261202090000", &users);
    let mut bad = careplan_core::demo::plan_set(&me, &to, "202612", "20261202090001", &users);
    bad[0].bytes = b"\x82\xa0,broken\r\n".to_vec();
    for f in good.iter().chain(&bad) {
        std::fs::write(outbox.join(&f.name), &f.bytes).expect("write");
    }
    a.wait("one set sent, one refused", |h| {
        h.state()
            .watch_status()
            .is_some_and(|s| s.counters.sent_sets == 1 && s.counters.error_sets == 1)
    });
    a.wait("counts shown", |h| {
        contains(h, "送信 1セット、エラー 1セット")
    });
    let sent = names_under(&outbox.join("送信済"));
    for f in &good {
        assert!(sent.contains(&f.name), "{} archived in 送信済", f.name);
    }
    let refused = names_under(&outbox.join("エラー"));
    assert!(refused.contains(&bad[0].name), "{refused:?}");
    assert!(
        refused.iter().any(|n| n.ends_with(".txt")),
        "a reason file beside the refused set: {refused:?}"
    );

    // Office 1 has the good set and not the broken one.
    let o = &info.offices[1];
    let second = tempfile::tempdir().expect("tempdir");
    let c = Client::new(
        Store::open(second.path()).expect("store"),
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
    let names: Vec<String> = c
        .received()
        .expect("received")
        .items
        .iter()
        .flat_map(|t| t.files.iter().map(|f| f.name.clone()))
        .collect();
    assert!(good.iter().all(|f| names.contains(&f.name)));
    assert!(
        !names.contains(&bad[1].name),
        "nothing of the broken set left"
    );

    a.click("自動送受信を停止");
    a.wait("stopped", |h| {
        h.state().watch_status().is_some_and(|s| !s.running) || contains(h, "停止中")
    });
}
