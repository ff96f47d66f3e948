//! Name parse + route of 10 000 files (target ≤ 2 ms, issue 2).

use std::hint::black_box;

use careplan_core::route::{MAX_OFFICES, route};
use careplan_core::{OfficeNumber, parse_name};
use criterion::{Criterion, criterion_group, criterion_main};

fn names(n: usize) -> Vec<String> {
    let prefixes = [
        ("UPPLAN", true),
        ("UPSIKYU", true),
        ("UPHOSOKU", true),
        ("UP1KYO", false),
        ("UP2KYO", false),
        ("DLTPLAN", true),
    ];
    (0..n)
        .map(|i| {
            let to = OfficeNumber::with_check_digit(&format!("13{:07}", 7_000_000 + i % 40))
                .map(|o| o.to_string())
                .unwrap_or_default();
            let (p, month) = prefixes[i % prefixes.len()];
            let m = if month { "_202504" } else { "" };
            if i % 97 == 0 {
                format!("添付資料{i}.pdf")
            } else {
                let (h, mi, se) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
                format!("{p}{m}_1371234566_43_{to}_11_20250401{h:02}{mi:02}{se:02}.CSV")
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let files = names(10_000);
    let ours = OfficeNumber::parse("1371234566").expect("valid");
    // The data must be clean: a bench of error paths would measure message formatting.
    let with_findings = files
        .iter()
        .filter(|f| !parse_name(f).findings.is_empty())
        .count();
    assert_eq!(with_findings, 0, "bench names must parse without findings");
    c.bench_function("parse+route 10000 names", |b| {
        b.iter(|| {
            let parsed: Vec<_> = files.iter().map(|f| parse_name(f)).collect();
            black_box(route(&ours, &parsed, MAX_OFFICES))
        })
    });
    c.bench_function("parse 10000 names", |b| {
        b.iter(|| {
            for f in &files {
                black_box(parse_name(f));
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
