//! Fuzz the rules of issue 15: `validate` with a parsed file name (name-dependent rules:
//! months, sender, 実績 provider, creation date), the name parser's copy-suffix and
//! doubled-extension paths, and send-set checks (第3表, foreign members, deletes).
//! Input: first byte = kind, then a file name up to the first `\n`, then the content.
//! Nothing may panic; findings carry messages; places are 1-based.
#![no_main]

use careplan_core::FileKind;
use careplan_core::csv::validate;
use careplan_core::name::parse_name;
use careplan_core::route::send_sets;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let kind = FileKind::ALL[usize::from(pick) % FileKind::ALL.len()];
    let (name_bytes, content) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let name = parse_name(&String::from_utf8_lossy(name_bytes));
    assert!(name.findings.iter().all(|f| !f.message.is_empty()));
    let report = validate(kind, Some(&name), content);
    for f in &report.findings {
        assert!(!f.message.is_empty());
        assert!(f.record.is_none_or(|r| r >= 1));
        assert!(f.field.is_none_or(|c| c >= 1));
    }
    for w in report.records.windows(2) {
        assert!(w[0].number < w[1].number);
    }
    // The name with every kind's prefix swapped in, as one batch of sets.
    let tail = name.file.split_once('_').map_or("", |(_, t)| t).to_owned();
    let batch: Vec<_> = FileKind::ALL
        .iter()
        .map(|k| parse_name(&format!("{}_{tail}", k.prefix())))
        .chain(std::iter::once(name))
        .collect();
    for set in send_sets(&batch) {
        assert!(set.findings.iter().all(|f| !f.message.is_empty()));
    }
});
