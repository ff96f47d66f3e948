//! トップページ 証明書の更新, driven through `egui_kittest` against the real demo relay on
//! loopback: 「証明書の更新を申請」 writes the key and the CSR (folder typed in, as file
//! dialogs cannot open here), the relay library signs it as the operator would, and
//! 「証明書をインストール」 puts the certificate in place; the next login uses it over
//! mutual TLS.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use careplan_app::ui::{AppConfig, CareplanApp, RelaySource, install_fonts, install_style};
use careplan_client::Store;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

struct App {
    h: Harness<'static, CareplanApp>,
}

impl App {
    fn wait(&mut self, what: &str, cond: impl Fn(&Harness<'static, CareplanApp>) -> bool) {
        let start = Instant::now();
        loop {
            self.h.step();
            if cond(&self.h) {
                self.h.run_steps(2);
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for: {what}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn click(&mut self, label: &str) {
        self.h
            .query_all_by_label(label)
            .next()
            .unwrap_or_else(|| panic!("no widget labelled {label}"))
            .click();
        self.h.run_steps(2);
    }

    fn type_into(&mut self, label: &str, text: &str) {
        let node = self.h.get_by_label(label);
        node.focus();
        node.type_text(text);
        self.h.run_steps(2);
    }

    fn login(&mut self) {
        self.click("デモのパスワードを入力");
        self.click("次へ");
        self.wait("step 2", |h| h.query_by_label("事業所ユーザID").is_some());
        self.click("ログイン");
        self.wait("logged in", |h| h.state().is_logged_in());
    }
}

fn contains(h: &Harness<'static, CareplanApp>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

fn sign(demo: &Path, csr: &Path) -> String {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let db = careplan_relay::db::Db::open(&careplan_relay::config::sqlite_url(
            &demo.join("relay.sqlite3"),
        ))
        .await
        .expect("db");
        let ca = careplan_relay::pki::Pem {
            cert: std::fs::read_to_string(demo.join("pki/ca.crt")).expect("ca"),
            key: std::fs::read_to_string(demo.join("pki/ca.key")).expect("ca key"),
        };
        let req = std::fs::read(csr).expect("csr");
        let s = careplan_relay::pki::sign_office_csr(
            &db,
            &ca,
            &req,
            time::OffsetDateTime::now_utc(),
            365,
        )
        .await
        .expect("signed");
        db.pool.close().await;
        s.cert
    })
}

#[test]
fn request_and_install_from_the_top_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dir.path().join("relay");
    let relay = careplan_relay::embedded::start_demo(&demo, SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("demo relay");
    let mut info = relay.demo.clone().expect("demo info");
    // This terminal's own copy of office 0's profile.
    let profile = dir.path().join("profile");
    std::fs::create_dir(&profile).expect("mkdir");
    for f in ["client.crt", "client.key", "ca.crt"] {
        std::fs::copy(info.offices[0].profile.join(f), profile.join(f)).expect("copy");
    }
    info.offices[0].profile = profile.clone();
    let old_key = std::fs::read(profile.join("client.key")).expect("key");
    let out = dir.path().join("csr-out");
    std::fs::create_dir(&out).expect("mkdir");

    let store_dir = tempfile::tempdir().expect("store");
    let mut app = CareplanApp::new(AppConfig {
        store: Store::open(store_dir.path()).expect("store"),
        relay: RelaySource::Demo(info),
        renderer_note: String::new(),
        renderer_file: None,
    });
    app.select_demo_office(0);
    let h = Harness::builder()
        .with_size([1280.0, 900.0])
        .with_max_steps(2000)
        .with_step_dt(1.0 / 60.0)
        .with_context_setup(|ctx| {
            install_fonts(ctx);
            install_style(ctx);
        })
        .build_ui_state(|ui, app: &mut CareplanApp| app.show(ui), app);
    let mut a = App { h };
    a.h.run_steps(2);
    a.login();

    // The demo certificate has a year left: the section is closed until opened.
    assert!(a.h.query_by_label("証明書の更新を申請").is_none());
    a.click("証明書の更新");
    assert!(contains(&a.h, "運用者"), "the steps are explained");
    // The folder as a user would type it (file dialogs cannot open here).
    a.h.get_by_label("申請ファイルの保存先フォルダ").focus();
    a.h.run_steps(1);
    a.h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    a.h.run_steps(1);
    a.type_into("申請ファイルの保存先フォルダ", out.to_str().expect("utf8"));
    a.click("証明書の更新を申請");
    a.wait("request made", |h| {
        contains(h, "申請ファイルを保存しました")
    });
    assert!(contains(&a.h, "運用者に送ってください"));
    let csr = std::fs::read_dir(&out)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "csr"))
        .expect("a .csr was written");
    a.wait("pending shown", |h| contains(h, "申請中"));

    // The operator's answer comes back; the user picks it and installs.
    let crt = dir.path().join("office.crt");
    std::fs::write(&crt, sign(&demo, &csr)).expect("write");
    a.type_into("届いた証明書ファイル（.crt）", crt.to_str().expect("utf8"));
    a.click("証明書をインストール");
    a.wait("installed", |h| contains(h, "証明書をインストールしました"));
    let new_key = std::fs::read(profile.join("client.key")).expect("key");
    assert_ne!(new_key, old_key);
    assert!(!profile.join("client.key.new").exists());

    // A wrong file gets a plain explanation, nothing changes.
    a.type_into("届いた証明書ファイル（.crt）", csr.to_str().expect("utf8"));
    // The button stays disabled while the status check that follows an install runs:
    // press it again until the answer comes.
    let start = Instant::now();
    while !contains(&a.h, "申請ファイル（CSR）です") {
        if start.elapsed() > Duration::from_secs(60) {
            let seen: Vec<String> =
                a.h.query_all_by_label_contains("。")
                    .map(|n| format!("{n:?}"))
                    .collect();
            let field = a.h.get_by_label("届いた証明書ファイル（.crt）").value();
            panic!("timed out waiting for: refused; field {field:?}; on screen: {seen:?}");
        }
        a.click("証明書をインストール");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read(profile.join("client.key")).expect("key"),
        new_key
    );

    // The next login uses the new certificate (mutual TLS with the key made here).
    let id = careplan_client::Identity::from_profile_dir(&profile).expect("identity");
    assert!(id.info().days_left(time::OffsetDateTime::now_utc()) >= 364);
    let o = &relay.demo.as_ref().expect("demo").offices[0];
    let data = tempfile::tempdir().expect("data");
    let client = careplan_client::Client::new(
        Store::open(data.path()).expect("store"),
        &id,
        &relay.url(),
        careplan_client::ClientOptions::default(),
    )
    .expect("client");
    let login = client
        .login(
            &o.personal_user,
            &o.personal_password,
            &o.office_user,
            &o.office_password,
        )
        .expect("login with the new certificate");
    assert_eq!(login.office, o.office);
    drop(client);
    relay.shutdown();
}
