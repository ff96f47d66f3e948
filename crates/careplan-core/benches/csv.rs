//! Read+validate of a ~10 MB MS932 第6表 (UPPLAN) file, compared in the same run with a
//! plain `csv` crate parse (ByteRecord, no headers) of the same bytes.
//!
//! Run: `cargo bench -p careplan-core --bench csv`.

use std::hint::black_box;
use std::time::Duration;

use careplan_core::FileKind;
use careplan_core::csv::validate;
use careplan_core::demo;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench_csv(c: &mut Criterion) {
    let bytes = demo::large_plan_file(42, 10 * 1024 * 1024);
    let report = validate(FileKind::UpPlan, None, &bytes);
    assert!(!report.has_errors(), "{:?}", report.findings.first());
    eprintln!(
        "input: {} bytes, {} records",
        bytes.len(),
        report.records.len()
    );

    let mut group = c.benchmark_group("csv_10mb");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(12));
    group.bench_function("careplan_read_validate", |b| {
        b.iter(|| {
            let r = validate(FileKind::UpPlan, None, black_box(&bytes));
            black_box(r.records.len())
        })
    });
    group.bench_function("csv_crate_byterecord", |b| {
        b.iter(|| {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(black_box(bytes.as_slice()));
            let mut rec = csv::ByteRecord::new();
            let mut n = 0usize;
            while rdr.read_byte_record(&mut rec).unwrap_or(false) {
                n += rec.len();
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_csv);
criterion_main!(benches);
