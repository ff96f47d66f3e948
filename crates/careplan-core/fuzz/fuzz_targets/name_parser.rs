//! Fuzz the file-name parser: it must never panic, whatever the name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data);
    let parsed = careplan_core::parse_name(&name);
    // Findings always carry a message.
    assert!(parsed.findings.iter().all(|f| !f.message.is_empty()));
    let _ = parsed.destination();
});
