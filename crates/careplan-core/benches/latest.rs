//! Issue 15: marking an inbox of 100 000 files (which file is the latest), the mechanical
//! repair of a 10 MB 第6表 (clean, and as UTF-8 with LF line ends), and the comparison of two
//! 10 MB 第6表 files. Figures in docs/csv.md.

use std::hint::black_box;

use careplan_core::OfficeNumber;
use careplan_core::csv::{decode_ms932, validate};
use careplan_core::diff::diff;
use careplan_core::latest::{FileId, Incoming, mark_latest};
use careplan_core::{FileKind, demo};
use criterion::{Criterion, criterion_group, criterion_main};

/// 100 000 received files: 200 destinations' worth of monthly sets (6表, 7表, 補足) and
/// plans (1表, 2表), several versions of each, a delete now and then.
fn inbox(n: usize) -> Vec<Incoming> {
    let kinds = [
        ("UPPLAN", true),
        ("UPSIKYU", true),
        ("UPHOSOKU", true),
        ("UP1KYO", false),
        ("UP2KYO", false),
        ("DLTPLAN", true),
    ];
    let at = time::macros::datetime!(2025-04-01 09:00 UTC);
    (0..n)
        .map(|i| {
            let sender = OfficeNumber::with_check_digit(&format!("13{:07}", 7_000_000 + i % 200))
                .map(|o| o.to_string())
                .unwrap_or_default();
            let (p, has_month) = kinds[i % kinds.len()];
            let month = if has_month {
                format!("_2025{:02}", (i / 1200) % 12 + 1)
            } else {
                String::new()
            };
            let (d, h, mi) = ((i / 3600) % 28 + 1, (i / 60) % 24, i % 60);
            Incoming {
                id: FileId(format!("f{i}")),
                name: format!(
                    "{p}{month}_{sender}_43_1371234566_11_202504{d:02}{h:02}{mi:02}00.CSV"
                ),
                sender,
                received_at: at + time::Duration::seconds(i64::try_from(i).unwrap_or(0)),
                identity: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let files = inbox(100_000);
    let marked = mark_latest(&files);
    assert!(marked.iter().any(|m| m.superseded_by.is_some()));
    assert!(marked.iter().any(|m| m.deleted_by.is_some()));
    c.bench_function("mark_latest 100000 files", |b| {
        b.iter(|| black_box(mark_latest(&files)))
    });

    let big = demo::large_plan_file(42, 10 << 20);
    let name = "UPPLAN_202504_1371234566_43_1370000019_11_20250401093000.CSV";
    let clean = careplan_core::repair::repair(name, &big).expect("clean file");
    assert!(clean.is_unchanged());
    c.bench_function("repair 10 MB clean 6表", |b| {
        b.iter(|| black_box(careplan_core::repair::repair(name, &big)))
    });
    let utf8_lf = decode_ms932(&big)
        .expect("ms932")
        .replace("\r\n", "\n")
        .into_bytes();
    let lower = name.replace(".CSV", ".csv");
    let fixed = careplan_core::repair::repair(&lower, &utf8_lf).expect("repairable");
    assert_eq!(fixed.changes.len(), 3, "{:?}", fixed.changes);
    c.bench_function("repair 10 MB UTF-8 LF 6表", |b| {
        b.iter(|| black_box(careplan_core::repair::repair(&lower, &utf8_lf)))
    });

    let old = validate(FileKind::UpPlan, None, &big);
    let new = validate(FileKind::UpPlan, None, &fixed.bytes);
    c.bench_function("diff two 10 MB 6表", |b| {
        b.iter(|| black_box(diff(FileKind::UpPlan, &old, &new)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
