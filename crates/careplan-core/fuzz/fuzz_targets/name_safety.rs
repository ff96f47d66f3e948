//! Fuzz the file-name safety checks (`careplan_core::safe_name`): they must never panic,
//! and whatever they accept must hold every rule (no forbidden or invisible character, no
//! device name, no leading dot, no trailing dot or space, no refused type), whatever the name.
#![no_main]

use careplan_core::safe_name::{
    AttachmentPolicy, MAX_NAME_CHARS, REFUSED_EXTENSIONS, REFUSED_NAMES, check_attachment,
    check_name_clashes, check_safe_file_name, clash_key, is_allowed_char,
    is_reserved_device_name,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let policy = AttachmentPolicy::default();

    // One name: the whole input.
    let name: &str = &text;
    match check_safe_file_name(name) {
        Ok(()) => {
            let n = name.chars().count();
            assert!((1..=MAX_NAME_CHARS).contains(&n));
            assert!(name.chars().all(is_allowed_char), "{name:?}");
            assert!(!name.chars().any(|c| c.is_control() || "/\\<>:\"|?*".contains(c)));
            assert!(!name.starts_with(['.', ' ', '\u{3000}']));
            assert!(!name.ends_with(['.', ' ', '\u{3000}']));
            assert!(!is_reserved_device_name(name));
        }
        Err(f) => {
            assert_eq!(f.code, "E_NAME_UNSAFE");
            assert!(!f.message.is_empty());
            // The message never carries an invisible or control character (the name's are
            // shown as `[U+XXXX]`); only the message's own `/ \ < > : " | ? *` may be there.
            assert!(
                f.message
                    .chars()
                    .all(|c| is_allowed_char(c) || "/\\<>:\"|?*".contains(c)),
                "{:?}",
                f.message
            );
        }
    }
    match check_attachment(name, &policy) {
        Ok(()) => {
            let lower = name.to_lowercase();
            assert!(!REFUSED_NAMES.contains(&lower.as_str()));
            let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            assert!(!ext.is_empty());
            assert!(!REFUSED_EXTENSIONS.contains(&ext));
        }
        Err(f) => assert!(!f.message.is_empty()),
    }

    // Many names: the input split at line breaks, as one send.
    let names: Vec<&str> = text.split('\n').collect();
    let found = check_name_clashes(&names);
    let keys: Vec<String> = names.iter().map(|n| clash_key(n)).collect();
    let groups = keys
        .iter()
        .enumerate()
        .filter(|(i, k)| !keys[..*i].contains(k) && keys.iter().filter(|x| x == k).count() > 1)
        .count();
    assert_eq!(found.len(), groups);

    // A settings line: never panics, and never allows a refused extension.
    if let Ok(p) = AttachmentPolicy::parse(&text) {
        for e in REFUSED_EXTENSIONS {
            assert!(!p.allows(e));
        }
    }
});
