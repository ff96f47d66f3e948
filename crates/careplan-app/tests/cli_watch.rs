//! `careplan watch` as a real process against a real relay on loopback (mutual TLS), each
//! terminal with its own sled store in a temp dir: hands-free send and receive, Ctrl-C,
//! and SIGKILL in the middle of sending (each set exactly once).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use careplan_client::store::Direction;
use careplan_core::demo::{self, DemoFile, DemoOffice, DemoUser};
use careplan_core::{OfficeNumber, ServiceType};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_careplan");

#[derive(Debug, Clone, serde::Deserialize)]
struct Office {
    office: String,
    name: String,
    personal_user: String,
    personal_password: String,
    office_user: String,
    office_password: String,
    profile: PathBuf,
}

#[derive(serde::Deserialize)]
struct DemoJson {
    offices: Vec<Office>,
}

struct Relay {
    running: Option<careplan_relay::embedded::RunningRelay>,
    url: String,
    offices: Vec<Office>,
    _dir: tempfile::TempDir,
}

impl Relay {
    fn start() -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let running =
            careplan_relay::embedded::start_demo(dir.path(), "127.0.0.1:0".parse().unwrap())
                .unwrap();
        let url = format!("https://localhost:{}", running.addr.port());
        let demo: DemoJson =
            serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).unwrap()).unwrap();
        let offices = demo
            .offices
            .into_iter()
            .map(|mut o| {
                if o.profile.is_relative() {
                    o.profile = dir.path().join(&o.profile);
                }
                o
            })
            .collect();
        Relay {
            running: Some(running),
            url,
            offices,
            _dir: dir,
        }
    }

    fn demo_office(&self, i: usize) -> DemoOffice {
        let o = &self.offices[i];
        DemoOffice {
            number: OfficeNumber::parse(&o.office).unwrap(),
            name: o.name.clone(),
            service: ServiceType::parse(if i == 0 { "43" } else { "11" }).unwrap(),
            care_manager: i == 0,
        }
    }

    fn users(&self) -> Vec<DemoUser> {
        demo::demo_users(4242, 3)
    }

    fn plan_set(&self, from: usize, to: usize, serial: &str) -> Vec<DemoFile> {
        demo::plan_set(
            &self.demo_office(from),
            &self.demo_office(to),
            "202611",
            serial,
            &self.users(),
        )
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

/// One terminal of one office: its own data folder.
struct Terminal<'a> {
    relay: &'a Relay,
    office: usize,
    data: tempfile::TempDir,
}

impl<'a> Terminal<'a> {
    fn new(relay: &'a Relay, office: usize) -> Self {
        Terminal {
            relay,
            office,
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let o = &self.relay.offices[self.office];
        let mut c = Command::new(BIN);
        c.args(args)
            .arg("--user")
            .arg(&o.personal_user)
            .arg("--office-user")
            .arg(&o.office_user)
            .arg("--profile")
            .arg(&o.profile)
            .arg("--relay")
            .arg(&self.relay.url)
            .arg("--data-dir")
            .arg(self.data.path())
            .env("CAREPLAN_PASSWORD", &o.personal_password)
            .env("CAREPLAN_OFFICE_PASSWORD", &o.office_password)
            .env_remove("CAREPLAN_DATA_DIR")
            .env_remove("CAREPLAN_LOG")
            .stdin(Stdio::null());
        c
    }

    /// `careplan watch` with short times, its log into `log`.
    fn watch(&self, folders: &[&str], log: &Path, slow_ms: Option<u64>) -> Child {
        let mut args = vec!["watch"];
        args.extend_from_slice(folders);
        args.extend_from_slice(&[
            "--settle-secs",
            "0.4",
            "--set-wait-secs",
            "1",
            "--poll-secs",
            "0.5",
            "--rescan-secs",
            "0.3",
            "--retry-secs",
            "0.2",
            "--retry-max-secs",
            "1",
        ]);
        let mut c = self.command(&args);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        c.stdout(Stdio::null()).stderr(f);
        if let Some(ms) = slow_ms {
            c.env("CAREPLAN_TEST_WATCH_SLOW_MS", ms.to_string());
        }
        c.spawn().unwrap()
    }

    fn status(&self) -> Value {
        let o = self
            .command(&["watch", "--status", "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// Transmissions in this office's 受信一覧 whose files carry `serial`.
    fn arrivals(&self, serial: &str) -> usize {
        let o = self.command(&["received", "--json"]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|t| {
                t["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["name"].as_str().unwrap().contains(serial))
            })
            .count()
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn archived(outbox: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for m in std::fs::read_dir(outbox.join("送信済"))
        .into_iter()
        .flatten()
        .flatten()
    {
        v.extend(files_in(&m.path()));
    }
    v.sort();
    v
}

fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "careplan watch did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ledger_sends(data: &Path) -> usize {
    let store = careplan_client::Store::open(data).unwrap();
    store
        .ledger()
        .unwrap()
        .iter()
        .filter(|e| e.direction == Direction::Send)
        .count()
}

#[test]
fn watch_sends_and_receives_hands_free_logs_no_patient_data_and_stops_on_ctrl_c() {
    let relay = Relay::start();
    let (a, b) = (Terminal::new(&relay, 0), Terminal::new(&relay, 1));
    let folders = tempfile::tempdir().unwrap();
    let outbox = folders.path().join("送信フォルダ");
    let inbox = folders.path().join("受信フォルダ");
    let (log_a, log_b) = (folders.path().join("a.log"), folders.path().join("b.log"));
    let mut pa = a.watch(&["--outbox", outbox.to_str().unwrap()], &log_a, None);
    let mut pb = b.watch(&["--inbox", inbox.to_str().unwrap()], &log_b, None);
    wait_until("A's outbox created", Duration::from_secs(20), || {
        outbox.join("送信中").is_dir()
    });

    let serial = "20261109090000";
    let files = relay.plan_set(0, 1, serial);
    for f in &files {
        std::fs::write(outbox.join(&f.name), &f.bytes).unwrap();
    }
    let marker = inbox.join(format!("{serial}_{}.完了", relay.offices[0].office));
    wait_until("the marker in B's inbox", Duration::from_secs(60), || {
        marker.exists()
    });
    for f in &files {
        assert_eq!(std::fs::read(inbox.join(&f.name)).unwrap(), f.bytes);
    }
    wait_until("A archived the set", Duration::from_secs(20), || {
        archived(&outbox).len() == 3
    });
    let s = a.status();
    assert_eq!(s["running"], true);
    assert_eq!(s["counters"]["sent_sets"], 1);
    assert_eq!(s["queue"].as_array().unwrap().len(), 0);

    // Ctrl-C: both stop cleanly, nothing half-done.
    assert!(interrupt(&mut pa).success());
    assert!(interrupt(&mut pb).success());
    assert_eq!(a.status()["running"], false);
    let la = std::fs::read_to_string(&log_a).unwrap();
    let lb = std::fs::read_to_string(&log_b).unwrap();
    assert!(la.contains("set sent"), "{la}");
    assert!(lb.contains("set received"), "{lb}");
    assert!(la.contains("監視を停止しました"), "{la}");
    // No 被保険者番号, 氏名 or password in either log.
    for u in relay.users() {
        for log in [&la, &lb] {
            assert!(!log.contains(&u.insured), "被保険者番号 in the log");
            assert!(!log.contains(&u.name), "氏名 in the log");
        }
    }
    for o in &relay.offices[..2] {
        assert!(!la.contains(&o.personal_password) && !lb.contains(&o.office_password));
    }
    assert!(
        inbox
            .read_dir()
            .unwrap()
            .flatten()
            .all(|e| { !e.file_name().to_string_lossy().ends_with(".part") })
    );
    assert_eq!(b.arrivals(serial), 1);
}

#[test]
fn watch_killed_with_sigkill_while_sending_and_started_again_sends_each_set_exactly_once() {
    let relay = Relay::start();
    let (a, b) = (Terminal::new(&relay, 0), Terminal::new(&relay, 1));
    let folders = tempfile::tempdir().unwrap();
    let outbox = folders.path().join("out");
    std::fs::create_dir_all(&outbox).unwrap();
    let log = folders.path().join("a.log");
    let serials: Vec<String> = (0..6).map(|i| format!("202611100900{i:02}")).collect();
    let mut names = Vec::new();
    for s in &serials {
        for f in relay.plan_set(0, 1, s) {
            std::fs::write(outbox.join(&f.name), &f.bytes).unwrap();
            names.push(f.name);
        }
    }
    names.sort();

    // Kill the process (SIGKILL) again and again at different moments: while it moves
    // files, just before and just after a send, while it archives.
    let mut kills = 0;
    for delay_ms in [900u64, 1300, 700, 1700, 1100, 2100, 1500, 2500] {
        let mut p = a.watch(&["--outbox", outbox.to_str().unwrap()], &log, Some(150));
        std::thread::sleep(Duration::from_millis(delay_ms));
        if p.try_wait().unwrap().is_none() {
            p.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        p.wait().unwrap();
        if archived(&outbox) == names {
            break;
        }
    }
    assert!(kills >= 3, "the process was killed mid-work");
    // Started again, it finishes: every set sent, archived once.
    let started = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("監視を開始しました")
            .count()
    };
    let runs_before = started();
    let mut p = a.watch(&["--outbox", outbox.to_str().unwrap()], &log, None);
    // Up (logged in, Ctrl-C caught) before it is interrupted: the killed runs may have
    // archived every set already, and a Ctrl-C during the login ends any program.
    wait_until("watch started", Duration::from_secs(30), || {
        started() > runs_before
    });
    wait_until("every set archived", Duration::from_secs(120), || {
        archived(&outbox) == names
    });
    wait_until("nothing in flight", Duration::from_secs(20), || {
        a.status()["queue"].as_array().is_some_and(|q| q.is_empty())
    });
    let stopped = interrupt(&mut p);
    assert!(
        stopped.success(),
        "{stopped:?}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(files_in(&outbox).is_empty());
    assert!(
        std::fs::read_dir(outbox.join("送信中"))
            .unwrap()
            .next()
            .is_none(),
        "送信中 is empty"
    );
    // Exactly once at the relay and in the ledger.
    for s in &serials {
        assert_eq!(b.arrivals(s), 1, "set {s} arrived exactly once");
    }
    assert_eq!(ledger_sends(a.data.path()), serials.len());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("resuming sets left by an earlier run"),
        "{text}"
    );
}

#[test]
fn watch_without_any_folder_is_a_usage_error() {
    let relay = Relay::start();
    let a = Terminal::new(&relay, 0);
    let o = a.command(&["watch"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("送信フォルダも受信フォルダも"));
}
