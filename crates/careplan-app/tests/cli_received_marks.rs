//! `careplan received` marks a file that a later one replaces (`superseded_by`) or that a
//! later 削除 file removes (`deleted_by`) — issue 15 — run as a real process against the real
//! relay on loopback (mutual TLS), with real MS932 files sent by another terminal.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

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
    dir: tempfile::TempDir,
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
            dir,
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

    /// `careplan ARGS` as office `i` with its own data folder `data`.
    fn run(&self, i: usize, data: &std::path::Path, args: &[&str]) -> Output {
        let o = &self.offices[i];
        Command::new(BIN)
            .args(args)
            .arg("--user")
            .arg(&o.personal_user)
            .arg("--office-user")
            .arg(&o.office_user)
            .arg("--profile")
            .arg(&o.profile)
            .arg("--relay")
            .arg(&self.url)
            .arg("--data-dir")
            .arg(data)
            .arg("--terminal")
            .arg(format!("T-{i}"))
            .env("CAREPLAN_PASSWORD", &o.personal_password)
            .env("CAREPLAN_OFFICE_PASSWORD", &o.office_password)
            .env_remove("CAREPLAN_DATA_DIR")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn send(relay: &Relay, data: &std::path::Path, files: &[DemoFile], message: &str) {
    let src = tempfile::tempdir_in(relay.dir.path()).unwrap();
    let mut args = vec![
        "send".to_owned(),
        "--to".to_owned(),
        relay.offices[1].office.clone(),
        "--message".to_owned(),
        message.to_owned(),
        "--json".to_owned(),
    ];
    for f in files {
        let p = src.path().join(&f.name);
        std::fs::write(&p, &f.bytes).unwrap();
        args.push(p.to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&relay.run(0, data, &args));
}

#[test]
fn received_json_names_the_file_that_replaces_or_deletes_each_file() {
    let relay = Relay::start();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (from, to) = (relay.demo_office(0), relay.demo_office(1));
    let users = demo::demo_users(77, 2);
    let first = demo::plan_set(&from, &to, "202611", "20261101090000", &users);
    let second = demo::plan_set(&from, &to, "202611", "20261102090000", &users);
    let delete = demo::plan_delete(&from, &to, "202611", "20261103090000", &users);
    send(&relay, a.path(), &first, "marks 1回目");
    send(&relay, a.path(), &second, "marks 2回目");
    send(
        &relay,
        a.path(),
        std::slice::from_ref(&delete),
        "marks 削除",
    );

    let list: Value =
        serde_json::from_str(&ok(&relay.run(1, b.path(), &["received", "--json"]))).expect("JSON");
    let files: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["files"].as_array().unwrap())
        .collect();
    let by_name = |name: &str| -> &Value {
        files
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    // Every file has both fields, null when nothing later replaces or removes it.
    for f in &files {
        assert!(f.get("superseded_by").is_some() && f.get("deleted_by").is_some());
    }
    // The first 第6表 is replaced by the second one; the first 補足 by the second 補足.
    let (plan1, plan2) = (by_name(&first[0].name), by_name(&second[0].name));
    assert_eq!(plan1["superseded_by"], plan2["id"]);
    let (hosoku1, hosoku2) = (by_name(&first[2].name), by_name(&second[2].name));
    assert_eq!(hosoku1["superseded_by"], hosoku2["id"]);
    assert_eq!(
        hosoku1["deleted_by"],
        Value::Null,
        "DLTPLAN does not remove 補足"
    );
    // The 予定削除 removes the second 第6表 and 第7表; they are not replaced by anything.
    let del = by_name(&delete.name);
    for f in [&second[0], &second[1]] {
        let f = by_name(&f.name);
        assert_eq!(f["deleted_by"], del["id"], "{f}");
        assert_eq!(f["superseded_by"], Value::Null, "{f}");
    }
    // The newest stay plain: the second 補足 and the 削除 file itself.
    for f in [hosoku2, del] {
        assert_eq!(f["superseded_by"], Value::Null);
        assert_eq!(f["deleted_by"], Value::Null);
    }

    // The text output shows the marks with the ID of the later file.
    let text = ok(&relay.run(1, b.path(), &["received"]));
    let line = |name: &str| {
        text.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
            .to_owned()
    };
    assert!(
        line(&first[2].name).contains(&format!(
            "[差し替え済 → ID {}]",
            hosoku2["id"].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(
        line(&second[0].name).contains(&format!("[削除済 → ID {}]", del["id"].as_str().unwrap())),
        "{text}"
    );
    let plain = line(&second[2].name);
    assert!(
        !plain.contains("差し替え済") && !plain.contains("削除済"),
        "{plain}"
    );
}
