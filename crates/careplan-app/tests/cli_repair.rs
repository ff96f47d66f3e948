//! `careplan repair` (issue 15), run as the real binary on real files.

use std::path::Path;
use std::process::Command;

use careplan_core::FileKind;
use careplan_core::csv::{decode_ms932, parse_records, validate};
use serde_json::Value;

/// Run `careplan` with a terminal data folder of its own (the repair's ledger).
fn careplan(args: &[&str]) -> (i32, String, String) {
    let data = tempfile::tempdir().expect("data dir");
    careplan_in(data.path(), args)
}

/// Run `careplan` with `data` as the terminal's data folder (`CAREPLAN_DATA_DIR`).
fn careplan_in(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_careplan"))
        .args(args)
        .env("CAREPLAN_DATA_DIR", data)
        .output()
        .expect("run careplan");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A real 第6表 (MS932, CRLF) from the demo generator: its name and bytes.
fn plan_file() -> (String, Vec<u8>) {
    let offices = careplan_core::demo::demo_offices(9, 3);
    let users = careplan_core::demo::demo_users(9, 3);
    let set =
        careplan_core::demo::plan_set(&offices[0], &offices[1], "202505", "20250420090000", &users);
    let f = set.into_iter().next().expect("UPPLAN");
    (f.name, f.bytes)
}

/// The same file as a start-guide tool writes it: UTF-8 with a BOM, LF, `JP…` and `.csv`.
fn damaged(name: &str, clean: &[u8]) -> (String, Vec<u8>) {
    let text = decode_ms932(clean).expect("ms932").replace("\r\n", "\n");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(text.as_bytes());
    let bad_name = format!("JP{}", &name[2..]).replace(".CSV", ".csv");
    (bad_name, bytes)
}

fn values(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => String::from_utf8(rest.to_vec()).expect("utf-8"),
        None => decode_ms932(bytes).expect("ms932"),
    };
    parse_records(&text).iter().map(|r| r.to_vec()).collect()
}

#[test]
fn repair_writes_a_corrected_copy_beside_the_original_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (name, clean) = plan_file();
    let (bad_name, bad) = damaged(&name, &clean);
    let original = dir.path().join(&bad_name);
    std::fs::write(&original, &bad).expect("write");

    let (code, out, err) = careplan(&["repair", "--json", path(&original)]);
    assert_eq!(code, 0, "{out}{err}");
    let v = json_lines(&out);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["file"], bad_name.as_str());
    assert_eq!(v[0]["status"], "repaired");
    assert_eq!(v[0]["name"], name.as_str());
    assert_eq!(v[0]["error"], Value::Null);
    let codes: Vec<&str> = v[0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        vec![
            "R_NAME_JP_PREFIX",
            "R_NAME_EXTENSION",
            "R_BOM",
            "R_UTF8",
            "R_LINE_ENDS"
        ]
    );
    // The copy is the clean file byte for byte, it passes the check, and every value is
    // the original's; the original is untouched.
    let written = dir.path().join(&name);
    assert_eq!(v[0]["written"], path(&written));
    let copy = std::fs::read(&written).expect("copy");
    assert_eq!(copy, clean);
    assert!(!validate(FileKind::UpPlan, None, &copy).has_errors());
    assert_eq!(values(&copy), values(&bad));
    assert_eq!(std::fs::read(&original).expect("original"), bad);

    // Again: the corrected name is taken now, so the second copy gets a suffix.
    let (code, out, _) = careplan(&["repair", "--json", path(&original)]);
    assert_eq!(code, 0);
    let v = json_lines(&out);
    let second = dir.path().join(name.replace(".CSV", " (1).CSV"));
    assert_eq!(v[0]["written"], path(&second));
    assert_eq!(std::fs::read(&second).expect("second copy"), clean);
    assert_eq!(std::fs::read(&written).expect("first copy"), clean);
    // No temporary file is left behind.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn every_repair_is_recorded_in_the_ledger_and_the_chain_stays_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("data");
    let (name, clean) = plan_file();
    let (bad_name, bad) = damaged(&name, &clean);
    let original = dir.path().join(&bad_name);
    std::fs::write(&original, &bad).expect("write");

    let (code, out, err) = careplan_in(
        data.path(),
        &["repair", "--terminal", "受付PC", path(&original)],
    );
    assert_eq!(code, 0, "{out}{err}");
    // A clean file adds nothing to the ledger.
    let clean_path = dir.path().join("other").join(&name);
    std::fs::create_dir(clean_path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&clean_path, &clean).expect("write clean");
    let (code, _, _) = careplan_in(data.path(), &["repair", path(&clean_path)]);
    assert_eq!(code, 0);

    let store = careplan_client::Store::open(data.path()).expect("store");
    let entries = store.ledger().expect("ledger");
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e.direction, careplan_client::store::Direction::Repair);
    assert_eq!(e.direction.label(), "修復");
    assert_eq!(e.terminal, "受付PC");
    let parsed = careplan_core::parse_name(&name);
    assert_eq!(e.office, parsed.from_office.expect("from").to_string());
    assert_eq!(e.counterpart, parsed.to_office.expect("to").to_string());
    assert!(e.message.contains("MS932"), "{}", e.message);
    assert_eq!(e.files.len(), 2);
    assert_eq!(e.files[0].name, bad_name);
    assert_eq!(e.files[0].sha256, careplan_client::sha256_hex(&bad));
    assert_eq!(e.files[0].size, bad.len() as u64);
    assert_eq!(e.files[1].name, name);
    assert_eq!(e.files[1].sha256, careplan_client::sha256_hex(&clean));
    assert_eq!(
        e.files[1].saved_as.as_deref(),
        Some(dir.path().join(&name).as_path())
    );
    assert_eq!(store.verify_ledger().expect("verify"), Ok(1));
    // The export names it too.
    let csv = String::from_utf8(careplan_client::ledger::to_csv(&entries)).expect("utf-8");
    assert!(csv.contains(",修復,"), "{csv}");
}

#[test]
fn a_ledger_that_cannot_be_opened_refuses_and_writes_no_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("data");
    let (name, clean) = plan_file();
    let (bad_name, bad) = damaged(&name, &clean);
    let original = dir.path().join(&bad_name);
    std::fs::write(&original, &bad).expect("write");
    // The app holds the terminal's store open (sled allows one process).
    let store = careplan_client::Store::open(data.path()).expect("store");
    let (code, out, err) = careplan_in(data.path(), &["repair", "--json", path(&original)]);
    assert_eq!(code, 1, "{out}{err}");
    let v = json_lines(&out);
    assert_eq!(v[0]["error"]["code"], "E_LEDGER");
    assert!(
        v[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("アプリを閉じて")),
        "{out}"
    );
    assert!(!dir.path().join(&name).exists());
    assert_eq!(store.ledger().expect("ledger").len(), 0);
}

#[test]
fn a_clean_file_needs_nothing_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (name, clean) = plan_file();
    let p = dir.path().join(&name);
    std::fs::write(&p, &clean).expect("write");
    let (code, out, _) = careplan(&["repair", "--json", path(&p)]);
    assert_eq!(code, 0, "{out}");
    let v = json_lines(&out);
    assert_eq!(v[0]["status"], "unchanged");
    assert_eq!(v[0]["written"], Value::Null);
    assert_eq!(v[0]["changes"].as_array().map(Vec::len), Some(0));
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    let (code, out, _) = careplan(&["repair", path(&p)]);
    assert_eq!(code, 0);
    assert!(out.contains("修復の必要はありません"), "{out}");
}

#[test]
fn refusals_exit_1_with_the_reason_and_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (name, clean) = plan_file();
    // UTF-8 with a character that Shift-JIS (MS932) does not have.
    let text = decode_ms932(&clean).expect("ms932");
    let first_free_text = text.find('"').expect("a quoted field") + 1;
    let mut with = text.clone();
    with.insert(first_free_text, '𠮷');
    let unmappable = dir.path().join(&name);
    std::fs::write(&unmappable, with.replace("\r\n", "\n")).expect("write");
    let missing = dir
        .path()
        .join("UP1KYO_0300000100_43_0300000005_11_20250401093000.CSV");
    let (code, out, _) = careplan(&[
        "repair",
        "--json",
        path(&unmappable),
        path(&missing),
        "x.pdf",
    ]);
    assert_eq!(code, 1, "{out}");
    let v = json_lines(&out);
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["status"], "refused");
    assert_eq!(v[0]["error"]["code"], "E_REPAIR_UNMAPPABLE");
    assert!(
        v[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("「𠮷」") && m.contains("行目")),
        "{}",
        v[0]["error"]
    );
    assert_eq!(v[1]["error"]["code"], "E_FILE_READ");
    assert_eq!(v[2]["error"]["code"], "E_FILE_READ");
    // Only the input is in the folder.
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);

    // Without --json: a Japanese line per file.
    let (code, out, _) = careplan(&["repair", path(&unmappable)]);
    assert_eq!(code, 1);
    assert!(out.contains("修復できません"), "{out}");
    // Usage errors exit 2.
    let (code, _, _) = careplan(&["repair"]);
    assert_eq!(code, 2);
}

#[test]
fn other_errors_are_listed_and_nothing_is_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (name, clean) = plan_file();
    // LF line ends (mechanical) and a 対象年月 that is not a month (a value: not repaired).
    let text = decode_ms932(&clean)
        .expect("ms932")
        .replace("\r\n", "\n")
        .replacen(",202505,", ",202513,", 1);
    let p = dir.path().join(&name);
    std::fs::write(&p, careplan_core::csv::encode_ms932(&text).expect("ms932")).expect("write");
    let (code, out, _) = careplan(&["repair", "--json", path(&p)]);
    assert_eq!(code, 1, "{out}");
    let v = json_lines(&out);
    assert_eq!(v[0]["error"]["code"], "E_REPAIR_OTHER_ERRORS");
    assert!(
        v[0]["error"]["findings"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}
