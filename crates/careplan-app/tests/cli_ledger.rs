//! `careplan ledger --verify` / `--report`, and the connection options before or after the
//! sub-command, run as a real process against a real relay on loopback (mutual TLS), each
//! terminal with its own sled store in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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

fn args<'a>(head: &[&'a str], files: &'a [String]) -> Vec<&'a str> {
    let mut v = head.to_vec();
    v.extend(files.iter().map(String::as_str));
    v
}

impl Terminal<'_> {
    /// The same options as `command`, but all of them BEFORE the sub-command.
    fn run_options_first(&self, args: &[&str]) -> Output {
        let o = &self.relay.offices[self.office];
        Command::new(BIN)
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
            .arg("--terminal")
            .arg(self.name)
            .args(args)
            .env("CAREPLAN_PASSWORD", &o.personal_password)
            .env("CAREPLAN_OFFICE_PASSWORD", &o.office_password)
            .env_remove("CAREPLAN_DATA_DIR")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn ids_of(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// A sends a plan set to B; B receives everything. Returns the files sent.
fn exchange(relay: &Relay, a: &Terminal, b: &Terminal, serial: &str) -> Vec<DemoFile> {
    let src = tempfile::tempdir().unwrap();
    let files = relay.plan_set(0, 1, serial);
    let paths = write_files(src.path(), &files);
    let to = relay.offices[1].office.clone();
    ok_json(&a.run(&args(
        &["send", "--to", &to, "--message", "=1+1 今月分", "--json"],
        &paths,
    )));
    let out = b.data.path().join("inbox");
    std::fs::create_dir_all(&out).unwrap();
    let out_s = out.to_string_lossy().into_owned();
    let got = ok_json(&b.run(&["receive", "--all", "--out", &out_s, "--json"]));
    assert!(got["failed"].as_array().unwrap().is_empty());
    files
}

#[test]
fn connection_options_work_before_or_after_the_sub_command() {
    let relay = Relay::start();
    let a = Terminal::new(&relay, 0, "A-1");
    let b = Terminal::new(&relay, 1, "B-1");
    let src = tempfile::tempdir().unwrap();
    let paths = write_files(src.path(), &relay.plan_set(0, 1, "20261103090000"));
    let to = relay.offices[1].office.clone();

    // login and send with every option before the sub-command.
    let login = ok_json(&a.run_options_first(&["login", "--json"]));
    assert_eq!(login["office"], relay.offices[0].office.as_str());
    let sent = ok_json(&a.run_options_first(&args(&["send", "--to", &to, "--json"], &paths)));
    assert_eq!(sent["offices"], serde_json::json!([to]));

    // The same list either way; --json before the sub-command too.
    let after = ok_json(&b.run(&["received", "--json"]));
    let before = ok_json(&b.run_options_first(&["received", "--json"]));
    let before_json_first = ok_json(&b.run_options_first(&["--json", "received"]));
    assert!(!ids_of(&after).is_empty());
    assert_eq!(ids_of(&after), ids_of(&before));
    assert_eq!(ids_of(&after), ids_of(&before_json_first));

    // Mixed: some options before, some after.
    let o = &relay.offices[1];
    let mixed = Command::new(BIN)
        .arg("--profile")
        .arg(&o.profile)
        .arg("--data-dir")
        .arg(b.data.path())
        .args(["received", "--json", "--relay", &relay.url])
        .args(["--user", &o.personal_user, "--office-user", &o.office_user])
        .env("CAREPLAN_PASSWORD", &o.personal_password)
        .env("CAREPLAN_OFFICE_PASSWORD", &o.office_password)
        .env_remove("CAREPLAN_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(ids_of(&ok_json(&mixed)), ids_of(&after));

    // Sub-sub-commands and the local ledger too.
    let drafts = ok_json(&b.run_options_first(&["drafts", "list", "--json"]));
    assert!(drafts.is_array());
    let v = ok_json(&b.run_options_first(&["ledger", "--verify", "--json"]));
    assert_eq!(v["ok"], true);

    // An unknown option is still a usage error (exit 2), before or after.
    for argv in [&["--bogus", "received"][..], &["received", "--bogus"][..]] {
        let o = Command::new(BIN).args(argv).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{argv:?}");
    }
}

fn this_month_jst() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(9, 0, 0).unwrap());
    format!("{:04}{:02}", t.year(), u8::from(t.month()))
}

/// The table of a report (after the title block), read with the csv crate.
fn report_rows(path: &Path) -> (String, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "UTF-8 with BOM");
    let s = String::from_utf8(bytes).unwrap();
    let (title, table) = s
        .split_once("\r\n\r\n")
        .expect("title block, then the table");
    let mut r = csv::ReaderBuilder::new().from_reader(table.as_bytes());
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (title.to_owned(), rows)
}

#[test]
fn ledger_verify_names_the_altered_entry_and_the_report_lists_the_month() {
    let relay = Relay::start();
    let a = Terminal::new(&relay, 0, "A-1");
    let b = Terminal::new(&relay, 1, "B-1");
    let files = exchange(&relay, &a, &b, "20261104090000");
    let month = this_month_jst();

    // Intact: exit 0, every entry counted.
    let entries = ok_json(&b.run(&["ledger", "--json"]));
    let n = entries.as_array().unwrap().len();
    assert!(n >= 3);
    let v = ok_json(&b.run(&["ledger", "--verify", "--json"]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["count"], n);
    assert_eq!(v["head"]["hash"].as_str().unwrap().len(), 64);
    let o = b.run(&["ledger", "--verify"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("改ざんはありません"));

    // The monthly report of the receiver: our three files with size, SHA-256 and 済.
    let out = b.data.path().join("report.csv");
    let r = ok_json(&b.run(&[
        "ledger",
        "--report",
        &month,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(r["office"], relay.offices[1].office.as_str());
    assert_eq!(r["chain_ok"], true);
    let (title, rows) = report_rows(&out);
    assert_eq!(r["rows"], rows.len());
    assert!(title.contains(&relay.offices[1].office), "{title}");
    assert!(title.contains("改ざんなし"), "{title}");
    for f in &files {
        let row = rows
            .iter()
            .find(|row| row[5] == f.name)
            .unwrap_or_else(|| panic!("{} in the report", f.name));
        assert_eq!(row[2], "受信");
        assert_eq!(row[3], relay.offices[0].office);
        assert_eq!(row[6], f.bytes.len().to_string());
        assert_eq!(row[7], careplan_client::sha256_hex(&f.bytes));
        assert!(!row[8].is_empty(), "済日時");
    }
    // The sender's report: the sends to B, 済日時 empty; nothing for another month.
    let out_a = a.data.path().join("a.csv");
    ok_json(&a.run(&[
        "ledger",
        "--report",
        &month,
        "--out",
        out_a.to_str().unwrap(),
        "--json",
    ]));
    let (_, rows_a) = report_rows(&out_a);
    assert_eq!(rows_a.len(), files.len());
    assert!(
        rows_a
            .iter()
            .all(|r| r[2] == "送信" && r[3] == relay.offices[1].office)
    );
    let empty = ok_json(&a.run(&[
        "ledger",
        "--report",
        "203001",
        "--out",
        out_a.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(empty["rows"], 0);
    // The same report as PDF (the format follows the extension), read back by poppler's
    // pdftotext: A4, the font embedded, every file with its SHA-256, page numbers.
    let pdf = b.data.path().join("report.pdf");
    let r = ok_json(&b.run(&[
        "ledger",
        "--report",
        &month,
        "--out",
        pdf.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(r["rows"], rows.len());
    let text = pdf_text(&pdf);
    assert!(text.contains("送受信記録"), "{text}");
    assert!(text.contains(&relay.offices[1].office), "{text}");
    assert!(text.contains("改ざんなし"), "{text}");
    assert!(text.contains("1 / 1 ページ"), "{text}");
    for f in &files {
        assert!(text.contains(&f.name), "{} in {text}", f.name);
        assert!(
            text.contains(&careplan_client::sha256_hex(&f.bytes)),
            "SHA-256 of {} in {text}",
            f.name
        );
    }
    let info = pdf_info(&pdf);
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .map(str::trim);
    assert_eq!(pages, Some("1"), "{info}");
    assert!(info.contains("595.28 x 841.89 pts (A4)"), "{info}");
    let fonts = pdf_fonts(&pdf);
    assert!(
        fonts.contains("BIZUDPGothic") && fonts.contains(" yes "),
        "embedded font: {fonts}"
    );
    // A bad month, a name that is neither .csv nor .pdf: usage errors.
    for bad in [
        ["--report", "2026-1", "--out", "x.csv"],
        ["--report", &month, "--out", "x.txt"],
    ] {
        let o = a.run(&[&["ledger", "--json"][..], &bad[..]].concat());
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }

    // Alter the size of the second entry directly in sled: named, exit 1.
    let victim = entries[1]["seq"].as_u64().unwrap();
    {
        let db = open_sled(b.data.path());
        let t = db.open_tree("ledger").unwrap();
        let v = t.get(victim.to_be_bytes()).unwrap().unwrap();
        let mut j: Value = serde_json::from_slice(&v).unwrap();
        j["files"][0]["size"] = 1.into();
        t.insert(victim.to_be_bytes(), serde_json::to_vec(&j).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let o = b.run(&["ledger", "--verify", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["broken"]["seq"], victim);
    assert_eq!(v["broken"]["kind"]["code"], "content_changed");
    let o = b.run(&["ledger", "--verify"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("記録番号 {victim} ")), "{text}");
    // The report still gets written, and says the ledger is broken.
    let r = ok_json(&b.run(&[
        "ledger",
        "--report",
        &month,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(r["chain_ok"], false);
    let (title, _) = report_rows(&out);
    assert!(title.contains(&format!("記録番号 {victim} ")), "{title}");
}

/// Run one of poppler's tools (Debian `poppler-utils`, installed by `.ci/run`) on a PDF.
fn poppler(tool: &str, args: &[&str], pdf: &Path) -> String {
    let out = std::process::Command::new(tool)
        .args(args)
        .arg(pdf)
        .args(if tool == "pdftotext" {
            &["-"][..]
        } else {
            &[][..]
        })
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} (Debian package poppler-utils) is needed to read the PDF back: {e}")
        });
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn pdf_text(pdf: &Path) -> String {
    poppler("pdftotext", &["-layout", "-enc", "UTF-8"], pdf)
}

fn pdf_info(pdf: &Path) -> String {
    poppler("pdfinfo", &[], pdf)
}

fn pdf_fonts(pdf: &Path) -> String {
    poppler("pdffonts", &[], pdf)
}

fn open_sled(data: &Path) -> sled::Db {
    for _ in 0..100 {
        if let Ok(db) = sled::open(data.join("store")) {
            return db;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("sled lock not released");
}
