//! Fuzz the CSV reader: `validate` for a kind chosen by the first byte, and
//! `read_csv_version`. They must never panic, and records stay numbered in order.
#![no_main]

use careplan_core::FileKind;
use careplan_core::csv::{read_csv_version, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let kind = FileKind::ALL[usize::from(pick) % FileKind::ALL.len()];
    let report = validate(kind, None, bytes);
    for w in report.records.windows(2) {
        assert!(w[0].number < w[1].number);
    }
    for r in &report.records {
        assert_eq!(r.fields().count(), r.len());
    }
    assert!(report.findings.iter().all(|f| !f.message.is_empty()));
    let _ = read_csv_version(bytes);
});
