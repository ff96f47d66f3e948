//! One read+validate pass and one `csv` crate `ByteRecord` pass over the bench's file, for
//! instruction counts:
//!
//! ```text
//! CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
//!     cargo build --release -p careplan-core --example csv_profile
//! valgrind --tool=callgrind --toggle-collect='*csv_profile*ours*' \
//!     target/release/examples/csv_profile
//! valgrind --tool=callgrind --toggle-collect='*csv_profile*theirs*' \
//!     target/release/examples/csv_profile
//! ```
//!
//! One run per function: with both `--toggle-collect` options in one run, callgrind 3.19
//! counted only `ours` here ("Collected" then is ours alone).
//!
//! (see `docs/performance.md`, careplan-core).

use std::hint::black_box;

use careplan_core::FileKind;
use careplan_core::csv::validate;
use careplan_core::demo;

#[inline(never)]
fn ours(bytes: &[u8]) -> usize {
    let r = validate(FileKind::UpPlan, None, black_box(bytes));
    assert!(!r.has_errors(), "{:?}", r.findings.first());
    r.records.len()
}

#[inline(never)]
fn theirs(bytes: &[u8]) -> usize {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(black_box(bytes));
    let mut rec = csv::ByteRecord::new();
    let mut n = 0usize;
    while rdr.read_byte_record(&mut rec).unwrap_or(false) {
        n += rec.len();
    }
    n
}

fn main() {
    let bytes = demo::large_plan_file(42, 10 * 1024 * 1024);
    let records = ours(&bytes);
    let fields = theirs(&bytes);
    println!("{} bytes, {records} records, {fields} fields", bytes.len());
}
