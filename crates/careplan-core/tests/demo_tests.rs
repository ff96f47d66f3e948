//! The demo-data generator: deterministic, spec-conformant names, files that validate.

use careplan_core::csv::{read_csv_version, validate};
use careplan_core::demo::{self, DemoWorld};
use careplan_core::{FileKind, InsurerNumber, parse_name};
use time::macros::datetime;

fn world() -> DemoWorld {
    demo::generate(7, datetime!(2025-06-15 12:00 +09:00), 6, 10)
}

#[test]
fn offices_are_realistic() {
    let w = world();
    assert_eq!(w.offices.len(), 6);
    assert!(w.offices[0].care_manager);
    assert_eq!(w.offices[0].service.as_str(), "43");
    assert!(w.offices[0].name.ends_with("居宅介護支援事業所"));
    assert!(w.offices[1..].iter().all(|o| !o.care_manager));
    assert_eq!(w.offices[1].service.as_str(), "11");
    for o in &w.offices {
        assert!(o.number.check_digit_ok(), "{}", o.number);
    }
    let mut numbers: Vec<_> = w.offices.iter().map(|o| o.number).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 6);
}

#[test]
fn every_generated_file_is_valid() {
    let w = world();
    let now = datetime!(2025-06-15 12:00 +09:00);
    assert!(!w.transmissions.is_empty());
    let mut kinds = std::collections::BTreeSet::new();
    let mut versions = std::collections::BTreeSet::new();
    let mut pdfs = 0;
    for t in &w.transmissions {
        assert!(t.sent_at < now);
        assert!(!t.message.is_empty());
        assert!(!t.files.is_empty());
        for f in &t.files {
            let name = parse_name(&f.name);
            let Some(kind) = name.kind else {
                assert!(f.name.ends_with(".pdf"), "{}", f.name);
                assert!(f.bytes.starts_with(b"%PDF-1.4") && f.bytes.ends_with(b"%%EOF\n"));
                pdfs += 1;
                continue;
            };
            assert!(!name.has_errors(), "{}: {:?}", f.name, name.findings);
            assert_eq!(name.from_office, Some(t.from), "{}", f.name);
            assert_eq!(name.to_office, Some(t.to), "{}", f.name);
            let report = validate(kind, Some(&name), &f.bytes);
            assert!(
                report.findings.is_empty(),
                "{}: {:?}",
                f.name,
                report.findings
            );
            assert!(!report.records.is_empty());
            kinds.insert(kind);
            versions.insert(read_csv_version(&f.bytes).unwrap_or_default());
        }
    }
    for k in [
        FileKind::UpPlan,
        FileKind::UpSikyu,
        FileKind::UpHosoku,
        FileKind::UpJsk,
        FileKind::Up1Kyo,
        FileKind::Up2Kyo,
        FileKind::Up3Kyo,
    ] {
        assert!(kinds.contains(&k), "{k} missing");
    }
    assert!(versions.contains("202407"));
    assert!(
        versions.contains("202208"),
        "a v3-era provider is part of the world"
    );
    assert!(pdfs > 0, "some PDF attachments");
    assert!(
        w.transmissions
            .windows(2)
            .all(|p| p[0].sent_at <= p[1].sent_at)
    );
}

#[test]
fn deterministic_from_seed() {
    assert_eq!(world(), world());
    let other = demo::generate(8, datetime!(2025-06-15 12:00 +09:00), 6, 10);
    assert_ne!(world().offices, other.offices);
}

#[test]
fn sets_share_their_serial() {
    let offices = demo::demo_offices(1, 3);
    let users = demo::demo_users(1, 3);
    let set = demo::plan_set(&offices[0], &offices[1], "202505", "20250425093000", &users);
    let names: Vec<_> = set.iter().map(|f| parse_name(&f.name)).collect();
    let kinds: Vec<_> = names.iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        vec![
            Some(FileKind::UpPlan),
            Some(FileKind::UpSikyu),
            Some(FileKind::UpHosoku)
        ]
    );
    assert!(
        names
            .iter()
            .all(|n| n.serial.as_deref() == Some("20250425093000")
                && n.month.as_deref() == Some("202505"))
    );
    let set = demo::careplan_set(
        &offices[0],
        &offices[2],
        "20250420",
        "20250425093000",
        &users,
    );
    assert_eq!(set.len(), 4);
    assert_eq!(parse_name(&set[3].name).month.as_deref(), Some("000000"));
    for f in &set {
        let n = parse_name(&f.name);
        let r = validate(n.kind.unwrap_or(FileKind::UpHosoku), Some(&n), &f.bytes);
        assert!(r.findings.is_empty(), "{}: {:?}", f.name, r.findings);
    }
    let j = demo::jisseki(&offices[1], &offices[0], "202504", "20250502100000", &users);
    let n = parse_name(&j.name);
    assert_eq!(n.kind, Some(FileKind::UpJsk));
    assert_eq!(n.from_office, Some(offices[1].number));
    assert!(
        validate(FileKind::UpJsk, Some(&n), &j.bytes)
            .findings
            .is_empty()
    );
}

#[test]
fn users_are_fake_but_well_formed() {
    for u in demo::demo_users(3, 40) {
        let insurer = InsurerNumber::parse(&u.insurer).unwrap();
        assert!(insurer.check_digit_ok(), "{}", u.insurer);
        assert_eq!(u.insured.len(), 10);
        assert!(u.insured.bytes().all(|b| b.is_ascii_digit()));
        assert!(u.name.contains(' ') && u.kana.contains(' '));
        assert!(matches!(u.sex, 1 | 2));
    }
}

#[test]
fn many_fake_office_numbers() {
    let n = demo::fake_office_numbers(5, 60);
    assert_eq!(n.len(), 60);
    assert!(n.iter().all(|o| o.check_digit_ok()));
    let mut d = n.clone();
    d.sort();
    d.dedup();
    assert_eq!(d.len(), 60);
    assert_eq!(n, demo::fake_office_numbers(5, 60));
}

#[test]
fn large_plan_file_is_valid() {
    let bytes = demo::large_plan_file(1, 300_000);
    assert!(bytes.len() >= 250_000, "{}", bytes.len());
    let r = validate(FileKind::UpPlan, None, &bytes);
    assert!(r.findings.is_empty(), "{:?}", r.findings.first());
    assert!(r.records.iter().any(|r| {
        r.field(18)
            .is_some_and(|f| f.contains(',') && f.contains("\r\n"))
    }));
}
