//! The network commands of the `careplan` binary, run as a real process against a real relay
//! on loopback (mutual TLS), each terminal with its own sled store in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use careplan_core::demo::{self, DemoFile, DemoOffice};
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

    fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
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

    fn plan_set(&self, from: usize, to: usize, serial: &str) -> Vec<DemoFile> {
        let users = demo::demo_users(7 + from as u64 * 13 + to as u64, 3);
        demo::plan_set(
            &self.demo_office(from),
            &self.demo_office(to),
            "202611",
            serial,
            &users,
        )
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One terminal of one office: its own data folder.
struct Terminal<'a> {
    relay: &'a Relay,
    office: usize,
    data: tempfile::TempDir,
    name: &'static str,
}

impl<'a> Terminal<'a> {
    fn new(relay: &'a Relay, office: usize, name: &'static str) -> Self {
        Terminal {
            relay,
            office,
            data: tempfile::tempdir().unwrap(),
            name,
        }
    }

    fn command(&self, relay_url: &str, args: &[&str]) -> Command {
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
            .arg(relay_url)
            .arg("--data-dir")
            .arg(self.data.path())
            .arg("--terminal")
            .arg(self.name)
            .env("CAREPLAN_PASSWORD", &o.personal_password)
            .env("CAREPLAN_OFFICE_PASSWORD", &o.office_password)
            .env_remove("CAREPLAN_DATA_DIR")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(&self.relay.url, args).output().unwrap()
    }

    fn run_offline(&self, args: &[&str]) -> Output {
        // Port 1 on loopback: connection refused, as when the relay is down.
        self.command("https://localhost:1", args).output().unwrap()
    }
}

fn ok_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn write_files(dir: &Path, files: &[DemoFile]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            let p = dir.join(&f.name);
            std::fs::write(&p, &f.bytes).unwrap();
            p.to_string_lossy().into_owned()
        })
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn args<'a>(head: &[&'a str], files: &'a [String]) -> Vec<&'a str> {
    let mut v = head.to_vec();
    v.extend(files.iter().map(String::as_str));
    v
}

#[test]
fn send_list_receive_and_acquired_with_the_json_contract() {
    let relay = Relay::start();
    let a = Terminal::new(&relay, 0, "A-1");
    let b = Terminal::new(&relay, 1, "B-1");
    let src = tempfile::tempdir().unwrap();
    let files = relay.plan_set(0, 1, "20261102090000");
    let paths = write_files(src.path(), &files);
    let to = relay.offices[1].office.clone();

    let login = ok_json(&a.run(&["login", "--json"]));
    assert_eq!(login["office"], relay.offices[0].office.as_str());

    let sent = ok_json(&a.run(&args(
        &["send", "--to", &to, "--message", "11月分です", "--json"],
        &paths,
    )));
    assert_eq!(keys(&sent), ["ids", "offices"]);
    assert_eq!(sent["offices"], serde_json::json!([to]));
    assert_eq!(sent["ids"].as_array().unwrap().len(), 1);

    let rec = ok_json(&b.run(&["received", "--json"]));
    let t = rec
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["message"] == "11月分です")
        .expect("listed at B")
        .clone();
    assert_eq!(
        keys(&t),
        [
            "files",
            "id",
            "message",
            "received_at",
            "sender_name",
            "sender_office"
        ]
    );
    assert_eq!(t["sender_office"], relay.offices[0].office.as_str());
    let fs = t["files"].as_array().unwrap();
    assert_eq!(fs.len(), 3);
    for f in fs {
        assert_eq!(
            keys(f),
            [
                "acquired",
                "category",
                "csv_version",
                "deleted_by",
                "id",
                "name",
                "superseded_by"
            ]
        );
        assert_eq!(f["acquired"], false);
        assert_eq!(f["category"], "登録");
        assert_eq!(f["csv_version"], "202407");
    }

    // 取引先一覧 (issue 16): A's set is this month's newest send to B, not yet saved; at B,
    // A has one unread transmission of 3 files.
    let partner = |t: &Terminal, office: &str| {
        let v = ok_json(&t.run(&["partners", "--json"]));
        v.as_array()
            .unwrap()
            .iter()
            .find(|p| p["office"] == office)
            .unwrap_or_else(|| panic!("{office} in {v}"))
            .clone()
    };
    let from = relay.offices[0].office.clone();
    let pa = partner(&a, &to);
    assert_eq!(
        keys(&pa),
        [
            "last_received",
            "last_sent",
            "name",
            "office",
            "receipts",
            "sends",
            "this_month",
            "undownloaded",
            "unread"
        ]
    );
    assert_eq!(pa["this_month"], "pending");
    assert_eq!(pa["name"], relay.offices[1].name.as_str());
    let pb = partner(&b, &from);
    assert!(pb["unread"].as_u64().unwrap() >= 1);
    assert!(pb["undownloaded"].as_u64().unwrap() >= 3);
    assert!(pb["last_received"].is_string());

    let out = tempfile::tempdir().unwrap();
    let out_s = out.path().to_string_lossy().into_owned();
    let got = ok_json(&b.run(&["receive", "--all", "--out", &out_s, "--json"]));
    let saved = got["saved"].as_array().unwrap().len();
    assert!(saved >= 3, "ours and the demo data");
    assert!(got["failed"].as_array().unwrap().is_empty());
    for f in &files {
        assert_eq!(std::fs::read(out.path().join(&f.name)).unwrap(), f.bytes);
    }

    let rec = ok_json(&b.run(&["received", "--json"]));
    let t2 = rec
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == t["id"])
        .unwrap()
        .clone();
    assert!(
        t2["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["acquired"] == true)
    );

    assert_eq!(partner(&a, &to)["this_month"], "acquired");
    let pb = partner(&b, &from);
    assert_eq!(
        (pb["unread"].as_u64(), pb["undownloaded"].as_u64()),
        (Some(0), Some(0))
    );

    let s = ok_json(&a.run(&["sent", "--json"]));
    let st = s
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["message"] == "11月分です")
        .unwrap()
        .clone();
    assert_eq!(keys(&st), ["destinations", "id", "message", "sent_at"]);
    let d = &st["destinations"][0];
    assert_eq!(keys(d), ["files", "office"]);
    assert_eq!(d["office"], to.as_str());
    for f in d["files"].as_array().unwrap() {
        assert_eq!(keys(f), ["acquired", "name"]);
        assert_eq!(f["acquired"], true);
    }

    // The ledger export (UTF-8 BOM, CRLF) has one row per received file.
    let csv = out.path().join("ledger.csv");
    let o = b.run(&["ledger", "--export", &csv.to_string_lossy()]);
    assert!(o.status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with('\u{feff}'));
    assert_eq!(text.matches("\r\n").count(), saved + 1);
    for f in &files {
        assert!(text.contains(&f.name));
    }
    assert!(text.contains("受信"));
}

#[test]
fn bulk_send_routes_by_name_and_51_offices_are_refused() {
    let relay = Relay::start();
    let a = Terminal::new(&relay, 0, "A-1");
    let src = tempfile::tempdir().unwrap();
    let mut files = relay.plan_set(0, 1, "20261102100000");
    files.extend(relay.plan_set(0, 2, "20261102100001"));
    let paths = write_files(src.path(), &files);
    let r = ok_json(&a.run(&args(&["bulk-send", "--message", "一括", "--json"], &paths)));
    let mut offices: Vec<String> = r["offices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    offices.sort();
    let mut want = vec![
        relay.offices[1].office.clone(),
        relay.offices[2].office.clone(),
    ];
    want.sort();
    assert_eq!(offices, want);
    assert_eq!(r["ids"].as_array().unwrap().len(), 2);

    // 51 destination offices: refused before anything leaves the PC.
    let many = demo::fake_office_numbers(99, 51);
    let users = demo::demo_users(3, 1);
    let from = relay.demo_office(0);
    let big = tempfile::tempdir().unwrap();
    let mut files51 = Vec::new();
    for (i, n) in many.iter().enumerate() {
        let to = DemoOffice {
            number: *n,
            name: "x".into(),
            service: ServiceType::parse("11").unwrap(),
            care_manager: false,
        };
        let serial = format!("20261102{:02}{:02}00", 10 + i / 60, i % 60);
        files51.push(demo::plan_delete(&from, &to, "202611", &serial, &users));
    }
    let paths51 = write_files(big.path(), &files51);
    let before = ok_json(&a.run(&["sent", "--json"]))
        .as_array()
        .unwrap()
        .len();
    let o = a.run(&args(&["bulk-send", "--json"], &paths51));
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(keys(&v), ["error"]);
    assert_eq!(keys(&v["error"]), ["code", "message"]);
    assert_eq!(v["error"]["code"], "E_TOO_MANY_OFFICES");
    assert!(v["error"]["message"].as_str().unwrap().contains("51"));
    let after = ok_json(&a.run(&["sent", "--json"]))
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before, "nothing was sent");
}

#[test]
fn lists_show_the_cache_when_the_relay_is_unreachable() {
    let relay = Relay::start();
    let a = Terminal::new(&relay, 0, "A-1");
    let b = Terminal::new(&relay, 1, "B-1");
    let src = tempfile::tempdir().unwrap();
    let paths = write_files(src.path(), &relay.plan_set(0, 1, "20261102110000"));
    let to = relay.offices[1].office.clone();
    ok_json(&a.run(&args(&["send", "--to", &to, "--json"], &paths)));
    let live = ok_json(&b.run(&["received", "--json"]));
    assert!(!live.as_array().unwrap().is_empty());
    let o = b.run_offline(&["received", "--json"]);
    let cached = ok_json(&o);
    assert_eq!(cached, live);
    assert!(String::from_utf8_lossy(&o.stderr).contains("オフライン"));
    // Sending needs the relay: a clear failure, exit 1.
    let o = a.run_offline(&args(&["send", "--to", &to, "--json"], &paths));
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "E_UNREACHABLE");
}

#[test]
fn a_draft_saved_offline_syncs_and_is_visible_on_a_second_terminal() {
    let relay = Relay::start();
    let t1 = Terminal::new(&relay, 0, "受付PC");
    let t2 = Terminal::new(&relay, 0, "相談室PC");
    let src = tempfile::tempdir().unwrap();
    let paths = write_files(src.path(), &relay.plan_set(0, 1, "20261102120000"));
    let to = relay.offices[1].office.clone();
    let d = ok_json(&t1.run_offline(&args(
        &[
            "drafts",
            "save",
            "--to",
            &to,
            "--message",
            "下書き",
            "--json",
        ],
        &paths,
    )));
    assert_eq!(d["sync"], "pending");
    let id = d["id"].as_str().unwrap().to_owned();
    // Nothing on the relay yet: terminal 2 does not see it.
    let has = |v: &Value| v.as_array().unwrap().iter().any(|d| d["id"] == id.as_str());
    let l2 = ok_json(&t2.run(&["drafts", "list", "--json"]));
    assert!(!has(&l2));
    // Terminal 1 online: synced.
    let find = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id.as_str())
            .cloned()
            .expect("the draft is listed")
    };
    let l1 = ok_json(&t1.run(&["drafts", "list", "--json"]));
    assert_eq!(find(&l1)["sync"], "synced");
    // Terminal 2 sees it, saved by 受付PC.
    let l2 = ok_json(&t2.run(&["drafts", "list", "--json"]));
    let d2 = find(&l2);
    assert_eq!(d2["terminal"], "受付PC");
    assert_eq!(d2["message"], "下書き");
    assert_eq!(d2["files"].as_array().unwrap().len(), 3);
    // Terminal 2 sends it: it arrives and the draft is gone everywhere.
    let r = ok_json(&t2.run(&["drafts", "send", &id, "--json"]));
    assert_eq!(r["offices"], serde_json::json!([to]));
    let l1 = ok_json(&t1.run(&["drafts", "list", "--json"]));
    assert!(!has(&l1));
}

#[test]
fn a_receive_killed_mid_write_leaves_no_partial_file_and_is_retried_once() {
    let relay = Relay::start();
    let a = Terminal::new(&relay, 0, "A-1");
    let b = Terminal::new(&relay, 1, "B-1");
    let src = tempfile::tempdir().unwrap();
    // A 4 MiB attachment rides along to B (新規作成 with an explicit destination).
    let big: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let p = src.path().join("資料.pdf");
    std::fs::write(&p, &big).unwrap();
    let to = relay.offices[1].office.clone();
    ok_json(&a.run(&["send", "--to", &to, "--yes", "--json", &p.to_string_lossy()]));

    let file_of = |rec: &Value| -> Value {
        rec.as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["files"].as_array().unwrap().iter())
            .find(|f| f["name"] == "資料.pdf")
            .cloned()
            .expect("the attachment is listed")
    };
    let rec = ok_json(&b.run(&["received", "--json"]));
    let fid = file_of(&rec)["id"].as_str().unwrap().to_owned();
    let out = tempfile::tempdir().unwrap();
    let out_s = out.path().to_string_lossy().into_owned();
    let mut child = b
        .command(&relay.url, &["receive", &fid, "--out", &out_s])
        .env("CAREPLAN_TEST_SLOW_WRITE_MS", "150")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let part = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
    };
    let start = Instant::now();
    while !part(out.path()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the receive never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the receive ended too early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200)); // mid-write
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.path().join("資料.pdf").exists(),
        "no partial file under the final name"
    );
    let rec = ok_json(&b.run(&["received", "--json"]));
    assert_eq!(file_of(&rec)["acquired"], false);

    // Retry: one complete file, no leftovers, 済 once.
    ok_json(&b.run(&["receive", &fid, "--out", &out_s, "--json"]));
    let names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["資料.pdf".to_owned()]);
    assert_eq!(std::fs::read(out.path().join("資料.pdf")).unwrap(), big);
    let rec = ok_json(&b.run(&["received", "--json"]));
    assert_eq!(file_of(&rec)["acquired"], true);
    let ledger = ok_json(&b.run(&["ledger", "--json"]));
    assert_eq!(
        ledger.as_array().unwrap().len(),
        1,
        "one receive in the ledger"
    );
    // Asking again writes nothing new and records nothing twice.
    let again = ok_json(&b.run(&["receive", &fid, "--out", &out_s, "--json"]));
    assert_eq!(again["saved"][0]["already_saved"], true);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
    let ledger = ok_json(&b.run(&["ledger", "--json"]));
    assert_eq!(ledger.as_array().unwrap().len(), 1);
}

#[test]
fn usage_errors_exit_with_2_and_validation_errors_with_1() {
    let relay = Relay::start();
    let a = Terminal::new(&relay, 0, "A-1");
    let o = a.run(&["receive", "--out", "x"]);
    assert_eq!(o.status.code(), Some(2));
    let o = a.run(&["send", "x.CSV"]);
    assert_eq!(o.status.code(), Some(2));
    // A file of another sender office: refused, nothing sent.
    let src = tempfile::tempdir().unwrap();
    let paths = write_files(src.path(), &relay.plan_set(2, 1, "20261102130000"));
    let to = relay.offices[1].office.clone();
    let o = a.run(&args(&["send", "--to", &to, "--json"], &paths));
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(keys(&v["error"]), ["code", "message"]);
    assert!(v["error"]["message"].as_str().unwrap().contains("送信元"));
}
