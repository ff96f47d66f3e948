//! Golden tests for the rules of issue 15: for every rule, a file (or name, or set) that
//! breaks only that rule, and its clean twin that passes. Files are real MS932 bytes made
//! with the crate's own writer (or encoding_rs for the broken encodings).

use careplan_core::FileKind;
use careplan_core::csv::{self, validate, write_csv};
use careplan_core::name::{FileName, parse_name};
use careplan_core::route::{MAX_OFFICES, send_sets};
use proptest::prelude::*;

const CM: &str = "1370000018";
const PROVIDER: &str = "1370000026";
const SERIAL: &str = "20250325103000";

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

fn name_of(kind: FileKind) -> String {
    let (from, fs, to, ts) = if kind == FileKind::UpJsk || kind == FileKind::DltJsk {
        (PROVIDER, "11", CM, "43")
    } else {
        (CM, "43", PROVIDER, "11")
    };
    let month = if kind.has_month() { "202504_" } else { "" };
    format!(
        "{}_{month}{from}_{fs}_{to}_{ts}_{SERIAL}.CSV",
        kind.prefix()
    )
}

fn plan() -> Vec<String> {
    s(&[
        "202407",
        "131011",
        "0000012345",
        "20250325",
        "202504",
        CM,
        "介護 花子",
        "250",
        "",
        "20250401",
        "",
        "0930",
        "1030",
        "1",
        "111211",
        "",
        "",
        "",
        "",
        PROVIDER,
        "さくら訪問介護, 本店\r\n(第2)",
        "",
        "0",
        CM,
        "",
    ])
}

fn jsk() -> Vec<String> {
    let mut r = plan();
    r[23] = PROVIDER.into();
    r
}

fn sikyu_row(office: &str, code: &str, units: &str, n: &str) -> Vec<String> {
    s(&[
        "202407",
        "131011",
        "0000012345",
        "20250325",
        "202504",
        "さくら訪問介護",
        office,
        "",
        code,
        "",
        "",
        "",
        units,
        "",
        "",
        n,
        "",
        "2000",
        "0",
        "2000",
        "0",
        "2000",
        "11.40",
        "22800",
        "90",
        "20520",
        "",
        "2280",
        "0",
        "",
        "",
        "",
        "0",
        "",
        "",
        CM,
        "",
    ])
}

fn sikyu() -> Vec<Vec<String>> {
    vec![
        sikyu_row(PROVIDER, "111211", "250", "8"),
        sikyu_row("9999999999", "999999", "0", "0"),
    ]
}

fn kyo1() -> Vec<String> {
    s(&[
        "202407",
        "131011",
        "0000012345",
        "20250320",
        "",
        "",
        "",
        "介護 一郎",
        "さくら居宅介護支援",
        "",
        "",
        "",
        CM,
        "20250320",
        "20240401",
        "21",
        "2",
        "20250301",
        "20250401",
        "20260331",
        "22",
        "課題の分析",
        "",
        "総合的な方針",
        "",
        "",
        CM,
        "",
    ])
}

fn kyo2() -> Vec<String> {
    s(&[
        "202407",
        "131011",
        "0000012345",
        "20250320",
        "20250320",
        "1",
        "課題",
        "1",
        "長期目標",
        "短期目標",
        "",
        "",
        "1",
        "サービス内容",
        "Y",
        "訪問介護",
        PROVIDER,
        "さくら訪問介護",
        "週2回",
        "",
        CM,
        "",
    ])
}

fn hosoku() -> Vec<String> {
    let mut r = vec![String::new(); 63];
    for (i, v) in [
        "202407",
        "131011",
        "0000012345",
        "00000000",
        "カイゴ ハナコ",
        "介護 花子",
    ]
    .iter()
    .enumerate()
    {
        r[i] = (*v).to_owned();
    }
    r[62] = "202504".into();
    r
}

fn kihon() -> Vec<String> {
    let mut r = vec![String::new(); 71];
    for (i, v) in ["202407", "131011", "0000012345", "20250320", "1"]
        .iter()
        .enumerate()
    {
        r[i] = (*v).to_owned();
    }
    r[14] = "介護 花子".into();
    r
}

fn yobo() -> Vec<String> {
    let mut r = vec![String::new(); 57];
    for (i, v) in ["202407", "131011", "0000012345", "20250320", "1"]
        .iter()
        .enumerate()
    {
        r[i] = (*v).to_owned();
    }
    r[7] = "介護 花子".into();
    r[13] = "1".into();
    r
}

fn yobo_sub() -> Vec<String> {
    let mut r = vec![String::new(); 17];
    for (i, v) in ["202407", "131011", "0000012345", "20250320", "1"]
        .iter()
        .enumerate()
    {
        r[i] = (*v).to_owned();
    }
    r[9] = "1".into();
    r[13] = "1".into();
    r
}

fn dltplan() -> Vec<String> {
    s(&["202407", "131011", "0000012345", "202504"])
}

fn clean(kind: FileKind) -> Vec<Vec<String>> {
    use FileKind as K;
    match kind {
        K::UpPlan => vec![plan()],
        K::UpJsk => vec![jsk()],
        K::UpSikyu => sikyu(),
        K::Up1Kyo => vec![kyo1()],
        K::Up2Kyo => vec![kyo2()],
        K::UpHosoku => vec![hosoku()],
        K::UpKihon => vec![kihon()],
        K::UpYobo => vec![yobo()],
        K::UpYoboSub => vec![yobo_sub()],
        K::DltPlan => vec![dltplan()],
        other => panic!("no clean records for {other:?}"),
    }
}

fn bytes(kind: FileKind, records: &[Vec<String>]) -> Vec<u8> {
    write_csv(kind, "202407", records).expect("MS932")
}

fn run(kind: FileKind, b: &[u8]) -> csv::CsvReport {
    let name = parse_name(&name_of(kind));
    assert!(name.findings.is_empty(), "{:?}", name.findings);
    validate(kind, Some(&name), b)
}

fn codes(r: &csv::CsvReport) -> Vec<String> {
    r.findings.iter().map(|f| f.code.clone()).collect()
}

/// The clean twin passes; the broken file gives `code` and nothing else.
fn golden(kind: FileKind, code: &str, broken: Vec<Vec<String>>) {
    let twin = run(kind, &bytes(kind, &clean(kind)));
    assert!(
        twin.findings.is_empty(),
        "clean twin of {code}: {:?}",
        twin.findings
    );
    let r = run(kind, &bytes(kind, &broken));
    let got = codes(&r);
    assert!(!got.is_empty(), "{code}: no finding");
    assert!(got.iter().all(|c| c == code), "{code}: {:?}", r.findings);
    for f in &r.findings {
        assert!(
            f.record.is_some() && f.field.is_some(),
            "{code} has a place: {f:?}"
        );
        assert!(
            f.message.contains("してください"),
            "{code} says what to do: {}",
            f.message
        );
    }
}

fn with(kind: FileKind, edit: impl FnOnce(&mut Vec<Vec<String>>)) -> Vec<Vec<String>> {
    let mut r = clean(kind);
    edit(&mut r);
    r
}

// ------------------------------------------------------------------ 第6表

#[test]
fn e_csv_day_month() {
    let k = FileKind::UpPlan;
    golden(
        k,
        "E_CSV_DAY_MONTH",
        with(k, |r| r[0][9] = "20250501".into()),
    );
}

#[test]
fn e_csv_time_pair() {
    let k = FileKind::UpPlan;
    golden(k, "E_CSV_TIME_PAIR", with(k, |r| r[0][11] = "9999".into()));
    // Both 9999 is fine.
    let r = run(
        k,
        &bytes(
            k,
            &with(k, |r| {
                r[0][11] = "9999".into();
                r[0][12] = "9999".into();
            }),
        ),
    );
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn e_csv_tais_required() {
    let k = FileKind::UpPlan;
    golden(
        k,
        "E_CSV_TAIS_REQUIRED",
        with(k, |r| r[0][14] = "171001".into()),
    );
    for (tais, todoke) in [("00001-000010", ""), ("", "T-123")] {
        let ok = with(k, |r| {
            r[0][14] = "171001".into();
            r[0][15] = tais.into();
            r[0][16] = todoke.into();
        });
        assert!(run(k, &bytes(k, &ok)).findings.is_empty());
    }
}

#[test]
fn w_csv_meisai_code() {
    let k = FileKind::UpPlan;
    golden(k, "W_CSV_MEISAI_CODE", with(k, |r| r[0][18] = "1".into()));
    let ok = with(k, |r| {
        r[0][14] = "171001".into();
        r[0][15] = "00001-000010".into();
        r[0][18] = "1".into();
    });
    assert!(run(k, &bytes(k, &ok)).findings.is_empty());
}

#[test]
fn w_csv_jsk_provider() {
    let k = FileKind::UpJsk;
    golden(
        k,
        "W_CSV_JSK_PROVIDER",
        with(k, |r| r[0][19] = "1370000035".into()),
    );
}

#[test]
fn w_csv_created_after_name() {
    let k = FileKind::UpPlan;
    golden(
        k,
        "W_CSV_CREATED_AFTER_NAME",
        with(k, |r| r[0][3] = "20250326".into()),
    );
}

// ------------------------------------------------------------------ 第7表

#[test]
fn e_csv_total_row_missing() {
    let k = FileKind::UpSikyu;
    golden(
        k,
        "E_CSV_TOTAL_ROW_MISSING",
        with(k, |r| {
            r.pop();
        }),
    );
}

#[test]
fn e_csv_total_row_office() {
    let k = FileKind::UpSikyu;
    golden(
        k,
        "E_CSV_TOTAL_ROW_OFFICE",
        with(k, |r| r[1][6] = PROVIDER.into()),
    );
}

#[test]
fn w_csv_total_row_units() {
    let k = FileKind::UpSikyu;
    golden(
        k,
        "W_CSV_TOTAL_ROW_UNITS",
        with(k, |r| r[1][12] = "250".into()),
    );
}

#[test]
fn w_csv_subtotal_missing() {
    let k = FileKind::UpSikyu;
    let two_codes = |r: &mut Vec<Vec<String>>| {
        r.insert(1, sikyu_row(PROVIDER, "111311", "300", "4"));
    };
    golden(k, "W_CSV_SUBTOTAL_MISSING", with(k, two_codes));
    let ok = with(k, |r| {
        two_codes(r);
        r.insert(2, sikyu_row(PROVIDER, "11AAAA", "0", "0"));
    });
    assert!(run(k, &bytes(k, &ok)).findings.is_empty());
}

// ------------------------------------------------------------------ 第1表・第2表・補足

#[test]
fn e_csv_date_order() {
    let k = FileKind::Up1Kyo;
    golden(
        k,
        "E_CSV_DATE_ORDER",
        with(k, |r| r[0][18] = "20270401".into()),
    );
    golden(
        k,
        "E_CSV_DATE_ORDER",
        with(k, |r| r[0][14] = "20250321".into()),
    );
    let k = FileKind::UpHosoku;
    golden(
        k,
        "E_CSV_DATE_ORDER",
        with(k, |r| {
            r[0][13] = "20250401".into();
            r[0][14] = "20250331".into();
        }),
    );
}

#[test]
fn e_csv_cond_required() {
    let k = FileKind::Up1Kyo;
    golden(k, "E_CSV_COND_REQUIRED", with(k, |r| r[0][24] = "3".into()));
    let ok = with(k, |r| {
        r[0][24] = "3".into();
        r[0][25] = "日中独居".into();
    });
    assert!(run(k, &bytes(k, &ok)).findings.is_empty());
    let k = FileKind::UpKihon;
    golden(k, "E_CSV_COND_REQUIRED", with(k, |r| r[0][7] = "03".into()));
}

#[test]
fn e_csv_duplicate_key() {
    for k in [
        FileKind::Up1Kyo,
        FileKind::UpHosoku,
        FileKind::UpKihon,
        FileKind::UpYobo,
        FileKind::DltPlan,
    ] {
        golden(k, "E_CSV_DUPLICATE_KEY", with(k, |r| r.push(r[0].clone())));
    }
    // Two users in one file are fine.
    let k = FileKind::Up1Kyo;
    let ok = with(k, |r| {
        let mut other = r[0].clone();
        other[2] = "0000012346".into();
        r.push(other);
    });
    assert!(run(k, &bytes(k, &ok)).findings.is_empty());
}

#[test]
fn e_csv_number_range() {
    let k = FileKind::Up2Kyo;
    golden(k, "E_CSV_NUMBER_RANGE", with(k, |r| r[0][5] = "0".into()));
    let k = FileKind::UpYoboSub;
    golden(k, "E_CSV_NUMBER_RANGE", with(k, |r| r[0][9] = "00".into()));
}

#[test]
fn e_csv_hosoku_key() {
    let k = FileKind::UpHosoku;
    golden(
        k,
        "E_CSV_HOSOKU_KEY",
        with(k, |r| r[0][3] = "20250320".into()),
    );
}

// ------------------------------------------------------------------ 介護予防

#[test]
fn prevention_required_items() {
    for (k, i) in [
        (FileKind::UpKihon, 4),
        (FileKind::UpKihon, 14),
        (FileKind::UpYobo, 4),
        (FileKind::UpYobo, 7),
        (FileKind::UpYobo, 13),
    ] {
        golden(k, "E_CSV_REQUIRED", with(k, |r| r[0][i] = String::new()));
    }
}

#[test]
fn w_csv_cond_recommended() {
    let k = FileKind::UpYobo;
    golden(
        k,
        "W_CSV_COND_RECOMMENDED",
        with(k, |r| r[0][25] = "1".into()),
    );
    let ok = with(k, |r| {
        r[0][25] = "1".into();
        r[0][26] = "歩行が不安定".into();
    });
    assert!(run(k, &bytes(k, &ok)).findings.is_empty());
}

// ------------------------------------------------------------------ CSVバージョン

#[test]
fn version_must_be_a_real_month() {
    let k = FileKind::UpPlan;
    for bad in ["202413", "202400", "000000"] {
        let recs = with(k, |r| r[0][0] = bad.into());
        let r = run(k, &bytes(k, &recs));
        assert_eq!(codes(&r), vec!["E_CSV_VERSION_FORMAT"], "{bad}");
        assert!(r.findings[0].message.contains("実在する年月"));
    }
    // A well-formed unknown version stays a warning.
    let r = run(k, &bytes(k, &with(k, |r| r[0][0] = "202501".into())));
    assert_eq!(codes(&r), vec!["W_CSV_VERSION_UNKNOWN"]);
    assert!(!r.has_errors());
}

// ------------------------------------------------------------------ encoding

fn plan_text() -> String {
    csv::decode_ms932(&bytes(FileKind::UpPlan, &[plan()])).expect("MS932")
}

#[test]
fn e_csv_gaiji_names_record_field_and_offset() {
    let k = FileKind::UpPlan;
    let clean = bytes(k, &[plan(), plan()]);
    assert!(run(k, &clean).findings.is_empty());
    let mut b = clean.clone();
    // 「介」 (0x89EE) of record 2, field 7 → the user-defined area 0xF040.
    let second = clean.len() / 2;
    let pos = second
        + clean[second..]
            .windows(2)
            .position(|w| w == [0x89, 0xEE])
            .expect("kanji");
    b[pos] = 0xF0;
    b[pos + 1] = 0x40;
    let r = run(k, &b);
    assert_eq!(codes(&r), vec!["E_CSV_GAIJI"]);
    let f = &r.findings[0];
    assert_eq!((f.record, f.field), (Some(2), Some(7)));
    assert!(
        f.message.contains(&format!("先頭から{}バイト目", pos + 1)),
        "{}",
        f.message
    );
    assert!(f.message.contains("外字"));
}

#[test]
fn e_csv_utf8_whole_file_and_bom() {
    let k = FileKind::UpPlan;
    let text = plan_text();
    let r = run(k, text.as_bytes());
    assert_eq!(codes(&r), vec!["E_CSV_UTF8"]);
    assert!(r.findings[0].message.contains(
        "このファイルはUTF-8で保存されています。介護ソフトでShift_JIS（MS932）を選んで出力し直してください。"
    ));
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(text.as_bytes());
    assert_eq!(codes(&run(k, &bom)), vec!["E_CSV_UTF8_BOM"]);
    // Only 2-byte UTF-8 characters: UTF-8 when the bytes are not MS932 (「×」 = C3 97),
    // MS932 when they are (「ﾃｱ」 = C3 B1 is also valid UTF-8 「ñ」).
    let ascii = text.replace("さくら訪問介護, 本店\r\n(第2)", "sakura");
    let two = ascii.replace("介護 花子", "×");
    assert_eq!(codes(&run(k, two.as_bytes())), vec!["E_CSV_UTF8"]);
    let kana = csv::encode_ms932(&ascii.replace("介護 花子", "ﾃｱ")).expect("MS932");
    assert!(std::str::from_utf8(&kana).is_ok());
    assert!(run(k, &kana).findings.is_empty());
    // The clean twin: the same text in MS932.
    assert!(
        run(k, &csv::encode_ms932(&text).expect("MS932"))
            .findings
            .is_empty()
    );
}

#[test]
fn e_csv_utf8_part_names_the_place() {
    let k = FileKind::UpPlan;
    let text = plan_text();
    let (head, tail) = text.split_once("介護 花子").expect("name");
    let mut b = csv::encode_ms932(head).expect("MS932");
    let at = b.len();
    b.extend("介護 花子".as_bytes());
    b.extend(csv::encode_ms932(tail).expect("MS932"));
    // Valid Shift_JIS by chance or not, it must not pass as MS932.
    let r = run(k, &b);
    assert_eq!(codes(&r), vec!["E_CSV_UTF8_PART"]);
    let f = &r.findings[0];
    assert_eq!((f.record, f.field), (Some(1), Some(7)));
    assert!(
        f.message.contains(&format!("先頭から{}バイト目", at + 1)),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains("Shift_JIS（MS932）を選んで出力し直してください")
    );
    // Shown as the UTF-8 it is.
    assert_eq!(r.records[0].field(7), Some("介護 花子"));
}

#[test]
fn e_csv_mixed_encoding_after_a_bom() {
    let k = FileKind::UpPlan;
    let text = plan_text();
    let (head, tail) = text.split_once("介護 花子").expect("name");
    let mut b = b"\xEF\xBB\xBF".to_vec();
    b.extend(head.as_bytes());
    b.extend(csv::encode_ms932("介護 花子").expect("MS932"));
    b.extend(tail.as_bytes());
    let r = run(k, &b);
    assert!(
        codes(&r).contains(&"E_CSV_MIXED_ENCODING".to_owned()),
        "{:?}",
        r.findings
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "E_CSV_MIXED_ENCODING")
        .expect("found");
    assert_eq!((f.record, f.field), (Some(1), Some(7)));
}

// ------------------------------------------------------------------ file names

fn name_codes(n: &FileName) -> Vec<&str> {
    n.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn data_name_with_another_extension_is_an_attachment() {
    let base = name_of(FileKind::UpPlan);
    let stem = base.trim_end_matches(".CSV");
    assert!(parse_name(&base).findings.is_empty());
    for ext in ["pdf", "PDF", "xlsx", "TXT"] {
        let n = parse_name(&format!("{stem}.{ext}"));
        assert_eq!(n.kind, None, "{ext}");
        assert!(!n.has_errors());
        assert_eq!(name_codes(&n), vec!["W_NAME_DATA_AS_ATTACHMENT"]);
        assert!(n.findings[0].message.contains("添付ファイル"));
    }
}

#[test]
fn browser_copy_suffix_says_what_to_rename_to() {
    let base = name_of(FileKind::UpPlan);
    let stem = base.trim_end_matches(".CSV");
    for suffix in [" (1)", "(2)", " - コピー"] {
        let n = parse_name(&format!("{stem}{suffix}.CSV"));
        assert_eq!(name_codes(&n), vec!["E_NAME_COPY_SUFFIX"], "{suffix}");
        assert!(
            n.findings[0]
                .message
                .contains(&format!("「{base}」に変えて"))
        );
        assert!(n.findings[0].message.contains(suffix.trim_start()));
        assert_eq!(n.kind, Some(FileKind::UpPlan));
        assert!(n.destination().is_none());
    }
}

#[test]
fn doubled_extension_says_what_to_rename_to() {
    let base = name_of(FileKind::UpPlan);
    let n = parse_name(&format!("{base}.csv"));
    assert_eq!(name_codes(&n), vec!["E_NAME_DOUBLE_EXTENSION"]);
    assert!(n.findings[0].message.contains(".CSV.csv"));
    assert!(
        n.findings[0]
            .message
            .contains(&format!("「{base}」に変えて"))
    );
}

// ------------------------------------------------------------------ send-sets

fn set_names(list: &[String]) -> Vec<FileName> {
    list.iter().map(|n| parse_name(n)).collect()
}

fn careplan_set(serial: &str) -> Vec<String> {
    ["UP1KYO", "UP2KYO", "UP3KYO"]
        .iter()
        .map(|p| format!("{p}_{CM}_43_{PROVIDER}_11_{serial}.CSV"))
        .chain([format!(
            "UPHOSOKU_000000_{CM}_43_{PROVIDER}_11_{serial}.CSV"
        )])
        .collect()
}

fn set_codes(names: &[String]) -> Vec<Vec<String>> {
    send_sets(&set_names(names))
        .iter()
        .map(|s| s.findings.iter().map(|f| f.code.clone()).collect())
        .collect()
}

#[test]
fn v4_careplan_set_needs_sheet3() {
    let full = careplan_set(SERIAL);
    assert_eq!(set_codes(&full), vec![Vec::<String>::new()]);
    let without: Vec<String> = full
        .iter()
        .filter(|n| !n.starts_with("UP3KYO"))
        .cloned()
        .collect();
    assert_eq!(
        set_codes(&without),
        vec![vec!["W_SET_INCOMPLETE".to_owned()]]
    );
}

#[test]
fn w_set_foreign_and_duplicate() {
    let mut set = careplan_set(SERIAL);
    set.push(format!("UPPLAN_202504_{CM}_43_{PROVIDER}_11_{SERIAL}.CSV"));
    let sets = send_sets(&set_names(&set));
    // 6表 makes it a 利用票 set that is incomplete and has foreign members.
    assert!(sets[0].findings.iter().any(|f| f.code == "W_SET_FOREIGN"));
    let mut set = careplan_set(SERIAL);
    set.push(format!(
        "UPHOSOKU_000000_{CM}_43_{PROVIDER}_11_{SERIAL}.csv"
    ));
    assert_eq!(
        set_codes(&set),
        vec![vec!["W_SET_DUPLICATE_KIND".to_owned()]]
    );
}

#[test]
fn w_set_delete_after_an_earlier_set() {
    let plan = |serial: &str| {
        vec![
            format!("UPPLAN_202504_{CM}_43_{PROVIDER}_11_{serial}.CSV"),
            format!("UPSIKYU_202504_{CM}_43_{PROVIDER}_11_{serial}.CSV"),
            format!("UPHOSOKU_202504_{CM}_43_{PROVIDER}_11_{serial}.CSV"),
        ]
    };
    let delete =
        |serial: &str, month: &str| format!("DLTPLAN_{month}_{CM}_43_{PROVIDER}_11_{serial}.CSV");
    // Delete first, then register again: clean.
    let mut ok = vec![delete("20250325103000", "202504")];
    ok.extend(plan("20250325103001"));
    assert!(
        set_codes(&ok).iter().all(Vec::is_empty),
        "{:?}",
        set_codes(&ok)
    );
    // Another month: clean.
    let mut ok = plan("20250325103000");
    ok.push(delete("20250325103001", "202505"));
    assert!(set_codes(&ok).iter().all(Vec::is_empty));
    // Register, then delete the same month: the delete removes 6表 and 7表.
    let mut bad = plan("20250325103000");
    bad.push(delete("20250325103001", "202504"));
    let codes = set_codes(&bad);
    assert_eq!(codes[0], Vec::<String>::new());
    assert_eq!(codes[1], vec!["W_SET_DELETE_AFTER".to_owned(); 2]);
    // 第1表の削除 may remove 1表, 2表 and 3表.
    let mut bad = careplan_set("20250325103000");
    bad.push(format!("DLT1KYO_{CM}_43_{PROVIDER}_11_20250325103001.CSV"));
    assert_eq!(set_codes(&bad)[1].len(), 3);
}

#[test]
fn the_fifty_office_limit_cannot_be_raised() {
    let ours = careplan_core::ids::OfficeNumber::parse(CM).expect("office");
    let names: Vec<FileName> = (0..51)
        .map(|i| {
            let to = careplan_core::ids::OfficeNumber::with_check_digit(&format!("132{i:06}"))
                .expect("office");
            parse_name(&format!("UPPLAN_202504_{CM}_43_{to}_11_{SERIAL}.CSV"))
        })
        .collect();
    let clean = careplan_core::route::route(&ours, &names[..MAX_OFFICES], usize::MAX);
    assert!(clean.is_ok());
    for max in [MAX_OFFICES, 51, 100, usize::MAX] {
        let r = careplan_core::route::route(&ours, &names, max);
        assert!(r.error.is_some(), "max {max}");
        let batches = careplan_core::route::split_batches(&r.groups, max);
        assert!(batches.iter().all(|b| b.len() <= MAX_OFFICES));
    }
}

// ------------------------------------------------------------------ property

fn free_text() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "介護 花子",
        "ｶｲｺﾞ ﾊﾅｺ",
        "さくら訪問介護, 本店",
        "「ひまわり」\r\n第2事業所",
        "髙橋 ①",
        "He said \"hi\"",
        "",
    ])
    .prop_map(str::to_owned)
}

fn valid_plan_record() -> impl Strategy<Value = Vec<String>> {
    (
        1u32..=30,
        prop::sample::select(vec![("0930", "1030"), ("9999", "9999"), ("2300", "2400")]),
        prop::sample::select(vec!["111211", "131111", "171001", "11AAAA"]),
        free_text(),
        free_text(),
        0u32..=99_999,
    )
        .prop_map(|(day, (start, end), code, who, office_name, units)| {
            let mut r = plan();
            r[6] = who;
            r[7] = units.to_string();
            r[9] = format!("202504{day:02}");
            r[11] = start.into();
            r[12] = end.into();
            r[14] = code.into();
            if code.starts_with("17") {
                r[15] = "00001-000010".into();
                r[18] = "1".into();
            }
            r[20] = office_name;
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A file that our own writer makes from valid records always passes every rule.
    #[test]
    fn own_writer_output_always_passes(
        records in prop::collection::vec(valid_plan_record(), 1..12),
    ) {
        let k = FileKind::UpPlan;
        let b = bytes(k, &records);
        let r = run(k, &b);
        prop_assert!(r.findings.is_empty(), "{:?}", r.findings);
        let got: Vec<Vec<String>> = r.records.iter().map(|x| x.to_vec()).collect();
        prop_assert_eq!(got, records);
    }
}
