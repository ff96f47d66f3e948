//! Fuzz the JSON request types of `careplan_core::wire` as the relay reads them: the bytes
//! go to `serde_json::from_slice` for every request type, and what parses goes through the
//! checks the relay runs on it (file names, office numbers, hashes, names of the standard,
//! the CSV version, the acknowledgement proof). Nothing may panic, and every check is held
//! to a property that can fail: a name accepted as safe has no separator or path part, an
//! office number accepted is ten digits and prints back the same, a hash accepted is 64
//! lower-case hex digits, a CSVバージョン read is six digits found in the bytes, and a
//! proof verifies exactly when it is the proof of the same nonce and bytes.
#![no_main]

use careplan_core::OfficeNumber;
use careplan_core::name::check_safe_file_name;
use careplan_core::wire::{
    AckProof, AckRequest, ChangePasswordRequest, DraftUpload, FileRef, LoginRequest, SendRequest,
    UploadRequest,
};
use libfuzzer_sys::fuzz_target;

/// What the relay does with one file of a send or draft, short of storing it.
fn check_file(f: &FileRef) {
    match check_safe_file_name(&f.name) {
        Err(e) => assert!(!e.message.is_empty()),
        Ok(()) => {
            assert!(!f.name.is_empty());
            assert!(!f.name.contains(['/', '\\', '\0', ':']), "{:?}", f.name);
            assert!(f.name != "." && f.name != ".." && !f.name.starts_with('.'));
            let name = careplan_core::parse_name(&f.name);
            assert!(name.findings.iter().all(|x| !x.message.is_empty()));
            let _ = name.destination();
        }
    }
    check_hash(&f.sha256);
}

/// `is_sha256` accepts exactly 64 lower-case hex digits.
fn check_hash(s: &str) {
    let by_hand = s.len() == 64 && s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'));
    assert_eq!(careplan_relay::blob::is_sha256(s), by_hand, "{s:?}");
}

/// An office number accepted is ten ASCII characters, digits but for the third (a digit or
/// one of the letters 介護保険 numbers use there), and prints back as it was given.
fn check_office(s: &str) {
    match OfficeNumber::parse(s) {
        Ok(n) => {
            assert_eq!(s.len(), 10, "{s:?}");
            assert!(
                s.bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_digit() || (i == 2 && b.is_ascii_uppercase())),
                "{s:?}"
            );
            assert_eq!(n.as_str(), s);
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<LoginRequest>(data) {
        let _ = careplan_relay::auth::token_hash(&r.user_id);
        let _ = r.password.chars().count();
    }
    if let Ok(r) = serde_json::from_slice::<ChangePasswordRequest>(data) {
        let _ = r.new_password.chars().count();
        if let Some(o) = r.user_id.strip_prefix("KJ") {
            check_office(o);
        }
    }
    if let Ok(r) = serde_json::from_slice::<SendRequest>(data) {
        let _ = r.message.chars().count();
        for d in &r.destinations {
            check_office(&d.office);
            d.files.iter().for_each(check_file);
        }
    }
    // What the relay reads from the head of any uploaded bytes.
    if let Some(v) = careplan_relay::blob::csv_version_of(data) {
        assert_eq!(v.len(), 6, "{v:?}");
        assert!(v.bytes().all(|b| b.is_ascii_digit()), "{v:?}");
        assert!(data.windows(6).any(|w| w == v.as_bytes()), "{v:?} is in the bytes");
    }
    if let Ok(r) = serde_json::from_slice::<UploadRequest>(data) {
        check_hash(&r.sha256);
    }
    if let Ok(r) = serde_json::from_slice::<AckRequest>(data) {
        // The fuzzed hash stands for the file's bytes.
        let proof_of = |nonce: &str| {
            let mut p = AckProof::new(nonce);
            p.update(r.sha256.as_bytes());
            p
        };
        let good = proof_of(&r.nonce).finish();
        assert!(proof_of(&r.nonce).verify(&good));
        assert!(proof_of(&r.nonce).verify(&good.to_ascii_uppercase()));
        // The fuzzed proof verifies only when it is that proof (hex, any case).
        let same = r.proof.trim().eq_ignore_ascii_case(&good);
        assert_eq!(proof_of(&r.nonce).verify(&r.proof), same, "{:?}", r.proof);
        // Another nonce gives another proof.
        let other = format!("{}x", r.nonce);
        assert!(!proof_of(&other).verify(&good));
    }
    if let Ok(r) = serde_json::from_slice::<DraftUpload>(data) {
        let _ = r.saved_at.unix_timestamp();
        let _: String = r.terminal.chars().take(64).collect();
        if let Some(o) = &r.to_office {
            check_office(o);
        }
        r.files.iter().for_each(check_file);
    }
});
