//! CSV reading, layouts, validation and writing, with real MS932 bytes.

use careplan_core::csv::{
    self, Format, Layout, V3, V4, decode_code, encode_ms932, layout, read_csv_version, validate,
    write_csv,
};
use careplan_core::finding::Findings;
use careplan_core::{FileKind, parse_name};
use proptest::prelude::*;

// ---------------------------------------------------------------- golden layouts

#[test]
fn golden_field_counts_v4() {
    let expected = [
        (FileKind::UpHosoku, 63),
        (FileKind::Up1Kyo, 28),
        (FileKind::Dlt1Kyo, 4),
        (FileKind::Up2Kyo, 22),
        (FileKind::Up3Kyo, 13),
        (FileKind::UpPlan, 25),
        (FileKind::DltPlan, 4),
        (FileKind::UpJsk, 25),
        (FileKind::DltJsk, 6),
        (FileKind::UpSikyu, 37),
        (FileKind::UpKihon, 71),
        (FileKind::DltKihon, 4),
        (FileKind::UpKihonSub1, 7),
        (FileKind::UpKihonSub2, 11),
        (FileKind::UpYobo, 57),
        (FileKind::DltYobo, 4),
        (FileKind::UpYoboSub, 17),
    ];
    for (kind, n) in expected {
        let (l, f) = layout(kind, "202407");
        assert!(f.is_none(), "{kind}");
        assert_eq!(l.fields.len(), n, "{kind}");
        assert_eq!(l.version, V4);
        assert_numbered(l);
    }
}

#[test]
fn golden_field_counts_v3() {
    for v in ["201910", "202003", "202208"] {
        let expected = [
            (FileKind::UpHosoku, 63),
            (FileKind::Up1Kyo, 28),
            (FileKind::Dlt1Kyo, 4),
            (FileKind::Up2Kyo, 22),
            (FileKind::UpPlan, 22),
            (FileKind::DltPlan, 4),
            (FileKind::UpJsk, 22),
            (FileKind::DltJsk, 6),
            (FileKind::UpSikyu, 34),
        ];
        for (kind, n) in expected {
            let (l, f) = layout(kind, v);
            assert!(f.is_none(), "{kind} {v}");
            assert_eq!(l.fields.len(), n, "{kind} {v}");
            assert_eq!(l.version, V3);
            assert_numbered(l);
        }
    }
}

fn assert_numbered(l: &Layout) {
    for (i, f) in l.fields.iter().enumerate() {
        assert_eq!(usize::from(f.no), i + 1, "{} {}", l.kind, f.name);
        assert!(!f.name.is_empty());
    }
    assert_eq!(l.fields[0].name, "CSVバージョン");
    assert_eq!(l.fields[1].name, "保険者番号");
    assert_eq!(l.fields[2].name, "被保険者番号");
    assert!(l.fields[..3].iter().all(|f| f.required));
}

#[test]
fn golden_field_names() {
    let name = |k, v, no: usize| layout(k, v).0.field(no).map(|f| f.name);
    assert_eq!(name(FileKind::UpHosoku, V4, 18), Some("要介護状態区分"));
    assert_eq!(
        name(FileKind::UpHosoku, V4, 20),
        Some("１サービス種類コード")
    );
    assert_eq!(name(FileKind::UpHosoku, V4, 55), Some("９限度超単位数"));
    assert_eq!(name(FileKind::UpHosoku, V4, 63), Some("対象年月"));
    assert_eq!(
        name(FileKind::Up1Kyo, V4, 14),
        Some("居宅サービス計画作成（変更）日")
    );
    assert_eq!(name(FileKind::Up1Kyo, V4, 16), Some("計画書区分"));
    assert_eq!(name(FileKind::Up2Kyo, V4, 15), Some("保険対象区分"));
    assert_eq!(name(FileKind::Up3Kyo, V4, 7), Some("曜日"));
    assert_eq!(name(FileKind::UpPlan, V4, 16), Some("TAISコード"));
    assert_eq!(name(FileKind::UpPlan, V4, 23), Some("３０日超区分"));
    assert_eq!(name(FileKind::UpPlan, V3, 16), Some("明細判別コード"));
    assert_eq!(name(FileKind::UpPlan, V3, 20), Some("３０日超区分"));
    assert_eq!(name(FileKind::DltJsk, V4, 6), Some("サービス種類コード"));
    assert_eq!(name(FileKind::UpSikyu, V4, 16), Some("回数／日数"));
    assert_eq!(name(FileKind::UpSikyu, V4, 30), Some("前月までの利用日数"));
    assert_eq!(name(FileKind::UpSikyu, V3, 27), Some("前月までの利用日数"));
    assert_eq!(name(FileKind::UpSikyu, V3, 13), Some("回数／日数"));
    assert_eq!(
        name(FileKind::UpKihon, V4, 62),
        Some("家族構成 画像ファイル名")
    );
    assert_eq!(name(FileKind::UpKihon, V4, 71), Some("同意者氏名"));
    assert_eq!(name(FileKind::UpYobo, V4, 57), Some("同意者氏名"));
    assert_eq!(
        name(FileKind::UpYoboSub, V4, 17),
        Some("【利用サービス】期間")
    );
    assert_eq!(name(FileKind::UpKihonSub2, V4, 10), Some("経過"));
    // 回数／日数: 3 digits in v4, 2 before.
    assert_eq!(
        layout(FileKind::UpSikyu, V4)
            .0
            .field(16)
            .and_then(|f| f.len),
        Some(3)
    );
    assert_eq!(
        layout(FileKind::UpSikyu, V3)
            .0
            .field(13)
            .and_then(|f| f.len),
        Some(2)
    );
    assert_eq!(
        layout(FileKind::UpPlan, V4).0.field(18).map(|f| f.format),
        Some(Format::FreeText)
    );
}

#[test]
fn version_aliases_and_unknown_versions() {
    for v in ["202504", "202410"] {
        let (l, f) = layout(FileKind::UpPlan, v);
        assert_eq!(l.fields.len(), 25);
        assert_eq!(f.map(|f| f.code), Some("W_CSV_VERSION_ALIAS".to_owned()));
    }
    // Nearest by value: 202404 → 202407 (v4); 202101 → 202208 (v3); 201501 → 201910 (v3).
    for (v, n) in [
        ("202404", 25),
        ("202101", 22),
        ("201501", 22),
        ("209912", 25),
    ] {
        let (l, f) = layout(FileKind::UpPlan, v);
        assert_eq!(l.fields.len(), n, "{v}");
        assert_eq!(f.map(|f| f.code), Some("W_CSV_VERSION_UNKNOWN".to_owned()));
    }
    // A v4-only kind with a v3 version keeps its v4 layout, with a warning.
    let (l, f) = layout(FileKind::Up3Kyo, "202208");
    assert_eq!(l.fields.len(), 13);
    assert_eq!(f.map(|f| f.code), Some("W_CSV_KIND_VERSION".to_owned()));
}

#[test]
fn code_tables_decode() {
    assert_eq!(decode_code(FileKind::Up1Kyo, 21, "21"), Some("要介護１"));
    assert_eq!(
        decode_code(FileKind::Up1Kyo, 16, "54"),
        Some("初回＆紹介＆継続")
    );
    assert_eq!(decode_code(FileKind::UpHosoku, 7, "2"), Some("女性"));
    assert_eq!(decode_code(FileKind::UpPlan, 23, "0"), Some("非該当"));
    assert_eq!(decode_code(FileKind::UpKihon, 22, "08"), Some("Ｍ"));
    assert_eq!(decode_code(FileKind::UpKihon, 23, "01"), Some("非該当"));
    assert_eq!(decode_code(FileKind::Up1Kyo, 21, "26"), None);
    assert_eq!(decode_code(FileKind::Up1Kyo, 2, "131011"), None);
    assert_eq!(decode_code(FileKind::Up1Kyo, 999, "1"), None);
    let v3 = layout(FileKind::UpPlan, "202208").0;
    assert_eq!(csv::decode_code_in(v3, 20, "1"), Some("該当"));
}

// ---------------------------------------------------------------- helpers for real files

fn sjis(text: &str) -> Vec<u8> {
    encode_ms932(text).expect("test text is MS932")
}

const PLAN_NAME: &str = "UPPLAN_202504_1370000019_43_1370000027_11_20250325103000.CSV";

/// A valid v4 第6表 record for month 202504, day `day`.
fn plan_record(month: &str, day: u32) -> Vec<String> {
    let mut r: Vec<String> = vec![
        "202407",
        "131011",
        "0000012345",
        "20250325",
        month,
        "1370000019",
        "介護 花子",
        "250",
        "",
        "",
        "",
        "0930",
        "1030",
        "1",
        "111211",
        "",
        "",
        "",
        "",
        "1370000027",
        "さくら訪問介護, 本店\r\n(第2)",
        "",
        "0",
        "1370000019",
        "",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    r[9] = format!("{month}{day:02}");
    r
}

fn plan_bytes(records: &[Vec<String>]) -> Vec<u8> {
    write_csv(FileKind::UpPlan, "202407", records).expect("encodable")
}

fn codes(report: &csv::CsvReport) -> Vec<String> {
    report.findings.iter().map(|f| f.code.clone()).collect()
}

fn has(report: &csv::CsvReport, code: &str) -> bool {
    report.findings.iter().any(|f| f.code == code)
}

fn find<'a>(report: &'a csv::CsvReport, code: &str) -> &'a careplan_core::Finding {
    report
        .findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("{code} not in {:?}", report.findings))
}

// ---------------------------------------------------------------- valid files

#[test]
fn valid_plan_file_has_no_findings() {
    let recs = vec![plan_record("202504", 1), plan_record("202504", 8)];
    let bytes = plan_bytes(&recs);
    let name = parse_name(PLAN_NAME);
    let report = validate(FileKind::UpPlan, Some(&name), &bytes);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.csv_version.as_deref(), Some("202407"));
    assert_eq!(report.layout.map(|l| l.fields.len()), Some(25));
    assert_eq!(report.records.len(), 2);
    assert_eq!(report.records[0].to_vec(), recs[0]);
    assert_eq!(report.records[1].number, 2);
    assert_eq!(read_csv_version(&bytes).as_deref(), Some("202407"));
}

#[test]
fn header_row_is_skipped_with_warning() {
    let mut bytes = sjis("CSVバージョン,保険者番号\r\n");
    bytes.extend(plan_bytes(&[plan_record("202504", 1)]));
    let report = validate(FileKind::UpPlan, None, &bytes);
    assert_eq!(codes(&report), vec!["W_CSV_ROW_SKIPPED"]);
    let f = find(&report, "W_CSV_ROW_SKIPPED");
    assert_eq!((f.record, f.field), (Some(1), Some(1)));
    assert_eq!(report.records.len(), 1);
    assert_eq!(report.records[0].number, 2);
    assert!(!report.has_errors());
}

// ---------------------------------------------------------------- every finding code

#[test]
fn e_csv_empty() {
    assert_eq!(
        codes(&validate(FileKind::UpPlan, None, b"")),
        vec!["E_CSV_EMPTY"]
    );
    assert_eq!(
        codes(&validate(FileKind::UpPlan, None, b"\r\n\r\n")),
        vec!["E_CSV_EMPTY"]
    );
}

#[test]
fn e_csv_no_records() {
    let r = validate(FileKind::UpPlan, None, &sjis("見出し,だけ\r\n"));
    assert!(has(&r, "E_CSV_NO_RECORDS"));
    assert!(r.records.is_empty());
}

#[test]
fn e_csv_utf8_and_bom() {
    let text = "202407,131011,0000012345,20250325,202504\r\n";
    let mut utf8 = text.as_bytes().to_vec();
    utf8.extend("202407,あ\r\n".as_bytes());
    let r = validate(FileKind::UpPlan, None, &utf8);
    assert!(has(&r, "E_CSV_UTF8"));
    assert!(
        find(&r, "E_CSV_UTF8")
            .message
            .contains("Shift-JIS（MS932）")
    );
    // The text is still shown (as UTF-8) for the viewer.
    assert_eq!(r.records[1].get(1).unwrap(), "あ");
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(text.as_bytes());
    let r = validate(FileKind::UpPlan, None, &bom);
    assert!(has(&r, "E_CSV_UTF8_BOM"));
    assert_eq!(r.csv_version.as_deref(), Some("202407"));
}

#[test]
fn e_csv_not_ms932_names_offset_record_and_field() {
    let mut bytes = plan_bytes(&[plan_record("202504", 1)]);
    let second = plan_bytes(&[plan_record("202504", 2)]);
    let start = bytes.len();
    bytes.extend(&second);
    // Corrupt field 7 (プラン担当者名) of record 2: a lead byte followed by a space.
    let pos = start
        + second
            .windows(2)
            .position(|w| w == [0x89, 0xEE]) // 「介」
            .expect("kanji present");
    bytes[pos + 1] = b' ';
    let r = validate(FileKind::UpPlan, None, &bytes);
    let f = find(&r, "E_CSV_NOT_MS932");
    assert_eq!(f.record, Some(2));
    assert_eq!(f.field, Some(7));
    assert!(
        f.message.contains(&format!("先頭から{}バイト目", pos + 1)),
        "{}",
        f.message
    );
    // Both records stay readable.
    assert_eq!(r.records.len(), 2);
}

#[test]
fn e_csv_quote_unterminated() {
    let mut bytes = plan_bytes(&[plan_record("202504", 1)]);
    bytes.extend(sjis("202407,131011,\"途中で終わる\r\n"));
    let r = validate(FileKind::UpPlan, None, &bytes);
    let f = find(&r, "E_CSV_QUOTE_UNTERMINATED");
    assert_eq!((f.record, f.field), (Some(2), Some(3)));
    assert_eq!(r.records.len(), 2);
    assert_eq!(r.records[0].len(), 25);
}

#[test]
fn w_csv_quote_warnings() {
    let mut rec = plan_record("202504", 1);
    rec[6] = String::from("x");
    let line = write_csv(FileKind::UpPlan, "202407", &[rec]).unwrap();
    let text = csv::decode_ms932(&line).unwrap();
    let text = text
        .replacen("\"x\"", "\"x\"y", 1)
        .replacen(",250,", ",2\"5,", 1);
    let r = validate(FileKind::UpPlan, None, &sjis(&text));
    assert!(has(&r, "W_CSV_AFTER_QUOTE"));
    assert!(has(&r, "W_CSV_BARE_QUOTE"));
    assert_eq!(r.records[0].get(6).unwrap(), "xy");
}

#[test]
fn e_csv_field_count() {
    let mut rec = plan_record("202504", 1);
    rec.truncate(22);
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec]));
    let f = find(&r, "E_CSV_FIELD_COUNT");
    assert_eq!(f.record, Some(1));
    assert!(f.message.contains("25項目"));
    assert!(f.message.contains("202208"), "{}", f.message);
}

#[test]
fn e_csv_required() {
    let mut rec = plan_record("202504", 1);
    rec[14] = String::new();
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec]));
    let f = find(&r, "E_CSV_REQUIRED");
    assert_eq!((f.record, f.field), (Some(1), Some(15)));
    assert!(f.message.contains("サービスコード"));
}

#[test]
fn e_csv_length() {
    let mut rec = plan_record("202504", 1);
    rec[13] = String::from("100");
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec]));
    let f = find(&r, "E_CSV_LENGTH");
    assert_eq!(f.field, Some(14));
}

#[test]
fn e_csv_format_dates_months_times() {
    let cases: [(usize, &str); 8] = [
        (3, "20250230"), // 作成年月日: no 30 February
        (4, "2025-13"),  // 対象年月 (also > length 6? no: 7 chars → length)
        (9, "2025041"),  // サービス利用日
        (11, "2460"),    // 開始時刻
        (12, "12:0"),    // 終了時刻
        (10, "1110"),    // 日割対象日: fine
        (7, "abc"),      // 単位数
        (2, "12345"),    // 被保険者番号 (too short)
    ];
    for (idx, value) in cases {
        let mut rec = plan_record("202504", 1);
        rec[idx] = value.to_owned();
        let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec]));
        if idx == 10 {
            assert!(r.findings.is_empty(), "{:?}", r.findings);
            continue;
        }
        let f = r
            .findings
            .iter()
            .find(|f| f.code == "E_CSV_FORMAT" || f.code == "E_CSV_LENGTH")
            .unwrap_or_else(|| panic!("{idx} {value}: {:?}", r.findings));
        assert_eq!(f.field, Some(idx + 1), "{value}");
        assert!(f.is_error());
    }
    // 9999 (no time) is allowed in 第6表, not in 第3表.
    let mut rec = plan_record("202504", 1);
    rec[11] = "9999".into();
    rec[12] = "9999".into();
    assert!(
        validate(FileKind::UpPlan, None, &plan_bytes(&[rec]))
            .findings
            .is_empty()
    );
    let kyo3 = write_csv(
        FileKind::Up3Kyo,
        "202407",
        &[[
            "202407",
            "131011",
            "0000012345",
            "20250301",
            "20250301",
            "訪問介護",
            "1",
            "9999",
            "1000",
            "",
            "",
            "",
            "",
        ]
        .map(String::from)
        .to_vec()],
    )
    .unwrap();
    let r = validate(FileKind::Up3Kyo, None, &kyo3);
    assert_eq!(find(&r, "E_CSV_FORMAT").field, Some(8));
    // The message says what is wrong and what to do.
    let mut rec = plan_record("202504", 1);
    rec[4] = "202513".into();
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec]));
    let m = &find(&r, "E_CSV_FORMAT").message;
    assert!(
        m.contains("1行目 5項目「対象年月」が「202513」です。YYYYMM（例: 202504）"),
        "{m}"
    );
}

#[test]
fn insured_number_is_not_echoed() {
    let mut rec = plan_record("202504", 1);
    rec[2] = "98765X4321".into();
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec]));
    let f = find(&r, "E_CSV_FORMAT");
    assert!(!f.message.contains("98765X4321"));
    let mut rec = plan_record("202504", 1);
    rec[2] = "H123456789".into();
    assert!(
        validate(FileKind::UpPlan, None, &plan_bytes(&[rec]))
            .findings
            .is_empty()
    );
}

#[test]
fn w_csv_code() {
    let mut rec = plan_record("202504", 1);
    rec[22] = "2".into();
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec]));
    let f = find(&r, "W_CSV_CODE");
    assert!(!f.is_error());
    assert!(f.message.contains("1（該当）"));
    assert!(!r.has_errors());
}

#[test]
fn e_csv_version_mixed() {
    let mut second = plan_record("202504", 2);
    second[0] = "202504".into();
    let r = validate(
        FileKind::UpPlan,
        None,
        &plan_bytes(&[plan_record("202504", 1), second]),
    );
    let f = find(&r, "E_CSV_VERSION_MIXED");
    assert_eq!((f.record, f.field), (Some(2), Some(1)));
}

#[test]
fn version_alias_and_unknown_are_warnings() {
    let mut rec = plan_record("202504", 1);
    rec[0] = "202410".into();
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec]));
    assert_eq!(codes(&r), vec!["W_CSV_VERSION_ALIAS"]);
    let mut rec = plan_record("202504", 1);
    rec[0] = "202601".into();
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec]));
    assert_eq!(codes(&r), vec!["W_CSV_VERSION_UNKNOWN"]);
}

#[test]
fn e_csv_months_mixed_and_name_month() {
    let recs = [plan_record("202504", 1), plan_record("202505", 1)];
    let name = parse_name(PLAN_NAME);
    let r = validate(FileKind::UpPlan, Some(&name), &plan_bytes(&recs));
    assert!(has(&r, "E_CSV_MONTHS_MIXED"));
    let f = find(&r, "E_CSV_NAME_MONTH");
    assert_eq!((f.record, f.field), (Some(2), Some(5)));
    // DLTPLAN: 削除対象年月 is field 4.
    let dlt = write_csv(
        FileKind::DltPlan,
        "202407",
        &[
            vec![
                "202407".into(),
                "131011".into(),
                "0000012345".into(),
                "202504".into(),
            ],
            vec![
                "202407".into(),
                "131011".into(),
                "0000012346".into(),
                "202503".into(),
            ],
        ],
    )
    .unwrap();
    let r = validate(FileKind::DltPlan, None, &dlt);
    assert_eq!(find(&r, "E_CSV_MONTHS_MIXED").field, Some(4));
}

#[test]
fn name_shape_and_sender() {
    // v3 name with v4 content.
    let name = parse_name("UPPLAN_202504_1370000019_1370000027_20250325103000.CSV");
    let r = validate(
        FileKind::UpPlan,
        Some(&name),
        &plan_bytes(&[plan_record("202504", 1)]),
    );
    assert_eq!(codes(&r), vec!["W_CSV_NAME_SHAPE"]);
    // 更新業者コード is another office.
    let mut rec = plan_record("202504", 1);
    rec[23] = "1370000035".into();
    let r = validate(
        FileKind::UpPlan,
        Some(&parse_name(PLAN_NAME)),
        &plan_bytes(&[rec]),
    );
    assert_eq!(codes(&r), vec!["W_CSV_SENDER"]);
}

#[test]
fn v3_plan_file_reads_with_22_fields() {
    let mut rec = plan_record("202504", 1);
    rec[0] = "202208".into();
    rec.drain(15..18);
    assert_eq!(rec.len(), 22);
    let bytes = write_csv(FileKind::UpPlan, "202208", &[rec]).unwrap();
    let name = parse_name("UPPLAN_202504_1370000019_1370000027_20250325103000.CSV");
    let r = validate(FileKind::UpPlan, Some(&name), &bytes);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.layout.map(|l| l.version), Some(V3));
}

#[test]
fn hosoku_month_zero_matches_name() {
    let mut rec = vec![String::new(); 63];
    rec[0] = "202407".into();
    rec[1] = "131011".into();
    rec[2] = "0000012345".into();
    rec[3] = "20250301".into();
    rec[62] = "000000".into();
    let bytes = write_csv(FileKind::UpHosoku, "202407", &[rec.clone()]).unwrap();
    let ok = parse_name("UPHOSOKU_000000_1370000019_43_1370000027_11_20250325103000.CSV");
    assert!(
        validate(FileKind::UpHosoku, Some(&ok), &bytes)
            .findings
            .is_empty()
    );
    let bad = parse_name("UPHOSOKU_202504_1370000019_43_1370000027_11_20250325103000.CSV");
    let r = validate(FileKind::UpHosoku, Some(&bad), &bytes);
    assert_eq!(find(&r, "E_CSV_NAME_MONTH").field, Some(63));
}

#[test]
fn image_kind_is_not_csv() {
    let r = validate(FileKind::UpKihonImage, None, b"\xFF\xD8\xFF");
    assert!(has(&r, "E_CSV_NOT_CSV"));
}

#[test]
fn findings_are_capped_per_code() {
    let mut recs = Vec::new();
    for d in 1..=28 {
        for _ in 0..4 {
            let mut r = plan_record("202504", d);
            r[14] = String::new();
            recs.push(r);
        }
    }
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&recs));
    let required = r
        .findings
        .iter()
        .filter(|f| f.code == "E_CSV_REQUIRED")
        .count();
    assert_eq!(required, 51); // 50 listed + 1 summary
    assert!(
        r.findings
            .last()
            .is_some_and(|f| f.message.contains("ほかに62件"))
    );
}

// ---------------------------------------------------------------- encoding and writing

#[test]
fn write_quotes_free_text_and_specials() {
    let rec: Vec<String> = ["202407", "131011", "0000012345", "20250301"]
        .map(String::from)
        .to_vec();
    let out = write_csv(FileKind::Dlt1Kyo, "202407", &[rec]).unwrap();
    assert_eq!(out, b"202407,131011,0000012345,20250301\r\n");
    let mut rec = plan_record("202504", 1);
    rec[6] = "山田 \"太郎\"".into();
    rec[7] = String::new();
    let out = write_csv(FileKind::UpPlan, "202407", &[rec]).unwrap();
    let text = csv::decode_ms932(&out).unwrap();
    assert!(text.contains(",\"山田 \"\"太郎\"\"\",,"), "{text}");
    assert!(text.contains("\"さくら訪問介護, 本店\r\n(第2)\""));
    assert!(text.ends_with("\r\n"));
}

#[test]
fn write_refuses_unmappable_and_names_it() {
    let mut rec = plan_record("202504", 1);
    rec[20] = "𠮷野家ケア".into();
    let e = write_csv(FileKind::UpPlan, "202407", &[plan_record("202504", 1), rec]).unwrap_err();
    assert_eq!(e.character, '𠮷');
    assert_eq!((e.record, e.field, e.position), (Some(2), Some(21), 1));
    assert!(
        e.message
            .contains("「𠮷」(U+20BB7) は Shift-JIS(MS932) で表せません")
    );
    assert_eq!(e.to_finding().code, "E_CSV_UNMAPPABLE");
}

// ---------------------------------------------------------------- property tests

/// Characters that survive MS932 (decode of valid two-byte codes, half-width kana, ASCII),
/// with commas, quotes and line breaks made frequent.
fn ms932_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![',', '"', '\r', '\n', ' ', 'a', '1']),
        3 => (0x20u8..0x7F).prop_map(char::from),
        2 => (0xA1u8..=0xDF).prop_map(|b| decode1(&[b])),
        6 => ((0x88u8..=0x9F), (0x40u8..=0xFC)).prop_filter_map("trail", |(l, t)| {
            (t != 0x7F).then(|| decode1(&[l, t]))
        }),
        1 => ((0x81u8..=0x84), (0x40u8..=0xFC)).prop_filter_map("trail", |(l, t)| {
            (t != 0x7F).then(|| decode1(&[l, t]))
        }),
        1 => (0x40u8..=0xFC).prop_filter_map("ibm", |t| (t != 0x7F).then(|| decode1(&[0xFA, t]))),
    ]
    .prop_filter("mappable", |c| *c != '\u{FFFD}')
}

fn decode1(b: &[u8]) -> char {
    let (s, _, _) = encoding_rs::SHIFT_JIS.decode(b);
    s.chars().next().unwrap_or('\u{FFFD}')
}

fn field() -> impl Strategy<Value = String> {
    prop::collection::vec(ms932_char(), 0..12).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// records → write_csv (MS932 bytes) → validate gives the same records.
    #[test]
    fn records_round_trip(
        rows in prop::collection::vec(prop::collection::vec(field(), 1..30), 1..8),
        kind_pick in 0usize..3,
    ) {
        let kind = [FileKind::UpPlan, FileKind::Up2Kyo, FileKind::UpKihon][kind_pick];
        let records: Vec<Vec<String>> = rows
            .into_iter()
            .map(|mut r| { r[0] = "202407".to_owned(); r })
            .collect();
        let bytes = write_csv(kind, "202407", &records).expect("MS932 chars only");
        // Some MS932 byte strings are valid UTF-8 by chance; those are (rightly) flagged.
        prop_assume!(bytes.is_ascii() || std::str::from_utf8(&bytes).is_err());
        let report = validate(kind, None, &bytes);
        let got: Vec<Vec<String>> = report.records.iter().map(|r| r.to_vec()).collect();
        prop_assert_eq!(got, records.clone());
        let numbers: Vec<usize> = report.records.iter().map(|r| r.number).collect();
        prop_assert_eq!(numbers, (1..=records.len()).collect::<Vec<_>>());
        prop_assert!(!report.findings.iter().any(|f| f.code.starts_with("E_CSV_QUOTE")
            || f.code == "E_CSV_NOT_MS932" || f.code == "E_CSV_UTF8"));
        let version = read_csv_version(&bytes);
        prop_assert_eq!(version.as_deref(), Some("202407"));
    }

    /// encode → decode is the identity on MS932 text.
    #[test]
    fn encode_decode_identity(s in prop::collection::vec(ms932_char(), 0..64)) {
        let s: String = s.into_iter().collect();
        let bytes = encode_ms932(&s).expect("mappable");
        prop_assume!(bytes.is_ascii() || std::str::from_utf8(&bytes).is_err());
        if s.is_empty() {
            prop_assert!(bytes.is_empty());
        } else {
            prop_assert_eq!(csv::decode_ms932(&bytes).ok(), Some(s));
        }
    }

    /// The reader never panics and numbers records from 1 on any bytes.
    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), k in 0usize..18) {
        let kind = FileKind::ALL[k];
        let report = validate(kind, None, &bytes);
        for w in report.records.windows(2) {
            prop_assert!(w[0].number < w[1].number);
        }
        let _ = read_csv_version(&bytes);
        prop_assert!(report.findings.iter().all(|f| !f.message.is_empty()));
        let _ = report.findings.has_errors();
    }
}

#[test]
fn version_format_and_kind_version_findings() {
    let (_, f) = layout(FileKind::UpPlan, "2024-7");
    let f = f.expect("finding");
    assert_eq!(f.code, "E_CSV_VERSION_FORMAT");
    assert!(f.is_error());
    // A 第3表 file written with a v3-era version is read with its v4 layout, with a warning.
    let rec: Vec<String> = [
        "202208",
        "131011",
        "0000012345",
        "20250301",
        "20250301",
        "訪問介護",
        "1",
        "0900",
        "1000",
        "",
        "",
        "",
        "",
    ]
    .map(String::from)
    .to_vec();
    let bytes = write_csv(FileKind::Up3Kyo, "202208", &[rec]).unwrap();
    let r = validate(FileKind::Up3Kyo, None, &bytes);
    assert_eq!(codes(&r), vec!["W_CSV_KIND_VERSION"]);
    assert_eq!(r.layout.map(|l| l.fields.len()), Some(13));
}

#[test]
fn records_are_cheap_views() {
    let bytes = plan_bytes(&[plan_record("202504", 1), plan_record("202504", 2)]);
    let r = validate(FileKind::UpPlan, None, &bytes);
    let rec = &r.records[1];
    assert_eq!(rec.len(), 25);
    assert_eq!(rec.field(1), Some("202407"));
    assert_eq!(rec.get(9), Some("20250402"));
    assert_eq!(rec.field(21), Some("さくら訪問介護, 本店\r\n(第2)"));
    assert_eq!(rec.field(26), None);
    assert_eq!(rec.field(0), None);
    assert_eq!(rec.fields().len(), 25);
    assert_eq!(rec.clone(), *rec);
    assert_eq!(
        csv::Record::new(2, &rec.to_vec()),
        rec.clone(),
        "a record built from its fields equals the parsed one"
    );
}

#[test]
fn repeated_bad_values_are_reported_on_every_row() {
    let mut rec = plan_record("202504", 1);
    rec[3] = "20250230".into();
    let r = validate(FileKind::UpPlan, None, &plan_bytes(&[rec.clone(), rec]));
    let rows: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "E_CSV_FORMAT")
        .map(|f| (f.record, f.field))
        .collect();
    assert_eq!(rows, vec![(Some(1), Some(4)), (Some(2), Some(4))]);
}
