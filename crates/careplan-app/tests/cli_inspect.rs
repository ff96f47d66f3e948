//! The headless contract of issue 2: `careplan inspect` and `careplan route`, run as the real
//! binary.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn careplan(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_careplan"))
        .args(args)
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

const KEYS: [&str; 14] = [
    "file",
    "kind",
    "category",
    "name_format",
    "from_office",
    "to_office",
    "from_service",
    "to_service",
    "month",
    "serial",
    "csv_version",
    "records",
    "errors",
    "warnings",
];

#[test]
fn inspect_names_only_prints_the_contract_keys() {
    let (code, out, _) = careplan(&[
        "inspect",
        "--json",
        "--names-only",
        "/nowhere/UPKIHON_SUB1_0300000100_43_0300000005_11_20191025200201.CSV",
        "sample.pdf",
        "DLT1KYO_202304_0300000100_0300000005_20230305112600.csv",
    ]);
    assert_eq!(code, 0, "{out}");
    let v = json_lines(&out);
    assert_eq!(v.len(), 3);
    for o in &v {
        for k in KEYS {
            assert!(o.get(k).is_some(), "missing key {k} in {o}");
        }
        assert!(o["records"].is_null());
    }
    assert_eq!(
        v[0]["file"],
        "UPKIHON_SUB1_0300000100_43_0300000005_11_20191025200201.CSV"
    );
    assert_eq!(v[0]["kind"], "UPKIHON_SUB1");
    assert_eq!(v[0]["category"], "登録");
    assert_eq!(v[0]["name_format"], "v4");
    assert_eq!(v[0]["from_office"], "0300000100");
    assert_eq!(v[0]["to_service"], "11");
    assert_eq!(v[0]["serial"], "20191025200201");
    assert_eq!(v[0]["errors"].as_array().map(Vec::len), Some(0));
    assert!(
        v[0]["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|f| f["code"] == "W_OFFICE_CHECK_DIGIT"))
    );
    assert_eq!(v[1]["kind"], Value::Null);
    assert_eq!(v[1]["category"], "PDF等");
    assert_eq!(v[1]["name_format"], Value::Null);
    assert_eq!(v[2]["kind"], "DLT1KYO");
    assert_eq!(v[2]["category"], "削除");
    assert_eq!(v[2]["name_format"], "v3");
}

#[test]
fn inspect_exits_1_and_names_the_wrong_part() {
    let (code, out, _) = careplan(&[
        "inspect",
        "--json",
        "--names-only",
        "UPPLAN_202513_0300000100_43_0300000005_11_20191025200201.CSV",
        "UP1KYO_123456789_2468135790_20191110102233.CSV",
    ]);
    assert_eq!(code, 1);
    let v = json_lines(&out);
    assert_eq!(v[0]["errors"][0]["code"], "E_NAME_MONTH");
    assert_eq!(v[1]["errors"][0]["code"], "E_NAME_FROM_OFFICE");
    assert!(
        v[1]["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("送信元")
    );
}

#[test]
fn inspect_reports_missing_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir
        .path()
        .join("UP1KYO_0300000100_43_0300000005_11_20191025200201.CSV");
    let (code, out, _) = careplan(&["inspect", "--json", path(&missing)]);
    assert_eq!(code, 1);
    let v = json_lines(&out);
    assert_eq!(v[0]["errors"][0]["code"], "E_FILE_READ");
}

#[test]
fn inspect_without_json_prints_a_japanese_table() {
    let (code, out, _) = careplan(&["inspect", "--names-only", "sample.pdf"]);
    assert_eq!(code, 0);
    assert!(out.contains("ファイル名"));
    assert!(out.contains("PDF等"));
}

#[test]
fn route_groups_by_destination() {
    let (code, out, _) = careplan(&[
        "route",
        "--json",
        "--from",
        "0300000100",
        "UP1KYO_0300000100_43_0300000005_11_20250401093000.CSV",
        "UP2KYO_0300000100_43_0300000005_11_20250401093000.CSV",
        "UPPLAN_202504_0300000100_43_0300000013_15_20250401093000.CSV",
        "sample.pdf",
        "UPJSK_202504_0300000005_11_0300000100_43_20250401093000.CSV",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["error"], Value::Null);
    let groups = v["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["to_office"], "0300000005");
    assert_eq!(groups[0]["files"].as_array().map(Vec::len), Some(2));
    let unrouted = v["unrouted"].as_array().expect("unrouted");
    assert_eq!(unrouted.len(), 2);
    assert_eq!(unrouted[0]["file"], "sample.pdf");
    assert!(
        unrouted[0]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
}

#[test]
fn route_refuses_more_offices_than_the_limit() {
    let files: Vec<String> = (0..4)
        .map(|i| format!("UPPLAN_202504_0300000100_43_03000002{i:02}_11_20250401093000.CSV"))
        .collect();
    let mut args = vec![
        "route",
        "--json",
        "--from",
        "0300000100",
        "--max-offices",
        "3",
    ];
    args.extend(files.iter().map(String::as_str));
    let (code, out, _) = careplan(&args);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["error"]["code"], "E_TOO_MANY_OFFICES");
    assert_eq!(v["error"]["offices"], 4);
    let (code, _, err) = careplan(&["route", "--json", "--from", "123", "x.csv"]);
    assert_eq!(code, 2);
    assert!(err.contains("3桁"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, _) = careplan(&["inspect"]);
    assert_eq!(code, 2);
    let (code, _, _) = careplan(&["no-such-command"]);
    assert_eq!(code, 2);
}

#[test]
fn inspect_reads_real_ms932_files_from_the_demo_generator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let world =
        careplan_core::demo::generate(7, time::macros::datetime!(2025-05-20 10:00 UTC), 5, 2);
    let mut paths = Vec::new();
    for t in world.transmissions.iter().take(6) {
        for f in &t.files {
            let p = dir.path().join(&f.name);
            std::fs::write(&p, &f.bytes).expect("write");
            paths.push(p);
        }
    }
    assert!(!paths.is_empty());
    let mut args = vec!["inspect", "--json"];
    args.extend(paths.iter().map(|p| path(p)));
    let (code, out, _) = careplan(&args);
    assert_eq!(code, 0, "{out}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), paths.len());
    let csvs: Vec<&Value> = lines.iter().filter(|v| v["kind"].is_string()).collect();
    assert!(!csvs.is_empty());
    for v in csvs {
        if v["kind"] == "UPKIHON_IMAGE" {
            continue;
        }
        assert!(v["csv_version"].is_string(), "{v}");
        assert!(v["records"].as_u64().is_some_and(|n| n > 0), "{v}");
        assert_eq!(v["errors"].as_array().map(Vec::len), Some(0), "{v}");
    }
}

#[test]
fn inspect_refuses_utf8_content_with_a_japanese_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir
        .path()
        .join("UPPLAN_202504_0300000100_43_0300000005_11_20250401093000.CSV");
    std::fs::write(
        &p,
        "\u{feff}202407,131011,0000012345,20250401,202504,利用者\r\n",
    )
    .expect("write");
    let (code, out, _) = careplan(&["inspect", "--json", path(&p)]);
    assert_eq!(code, 1);
    let v = json_lines(&out);
    let errors = v[0]["errors"].as_array().expect("errors");
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .any(|e| e["message"].as_str().is_some_and(|m| m.contains("Shift")))
            || errors.iter().any(|e| e["code"]
                .as_str()
                .is_some_and(|c| c.contains("UTF8") || c.contains("BOM"))),
        "{out}"
    );
}

/// Golden test: every name example of the standard, the start guide's variants and
/// malformed names, against the committed expected output (`tests/golden/`).
#[test]
fn golden_names() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
    let names = std::fs::read_to_string(dir.join("names.txt")).expect("names.txt");
    let names: Vec<&str> = names.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut args = vec!["inspect", "--json", "--names-only"];
    args.extend(names.iter().copied());
    let (_, out, _) = careplan(&args);
    let golden = dir.join("names.golden.jsonl");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &out).expect("write golden");
    }
    let expected =
        std::fs::read_to_string(&golden).expect("names.golden.jsonl (UPDATE_GOLDEN=1 makes it)");
    let got = json_lines(&out);
    let want = json_lines(&expected);
    assert_eq!(got.len(), names.len());
    assert_eq!(
        got.len(),
        want.len(),
        "golden has a different number of lines"
    );
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "inspect output changed for {}", g["file"]);
    }
}
