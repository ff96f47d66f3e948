//! Fuzz the JSON request types of `careplan_core::wire` as the relay reads them: the bytes
//! go to `serde_json::from_slice` for every request type, and what parses goes through the
//! checks the relay runs on it (file names, office numbers, base64, names of the standard,
//! the CSV version, the acknowledgement proof). Nothing may panic; findings carry messages.
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
    if let Err(e) = check_safe_file_name(&f.name) {
        assert!(!e.message.is_empty());
        return;
    }
    let name = careplan_core::parse_name(&f.name);
    assert!(name.findings.iter().all(|x| !x.message.is_empty()));
    let _ = name.destination();
    let _ = f.upload.len() <= 64;
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<LoginRequest>(data) {
        let _ = careplan_relay::auth::token_hash(&r.user_id);
        let _ = r.password.chars().count();
    }
    if let Ok(r) = serde_json::from_slice::<ChangePasswordRequest>(data) {
        let _ = r.new_password.chars().count();
        let _ = r.user_id.strip_prefix("KJ").map(OfficeNumber::parse);
    }
    if let Ok(r) = serde_json::from_slice::<SendRequest>(data) {
        let _ = r.message.chars().count();
        for d in &r.destinations {
            if let Err(e) = OfficeNumber::parse(&d.office) {
                assert!(!e.message.is_empty());
            }
            d.files.iter().for_each(check_file);
        }
    }
    // What the relay reads from the head of any uploaded bytes.
    let _ = careplan_relay::blob::csv_version_of(data);
    if let Ok(r) = serde_json::from_slice::<UploadRequest>(data) {
        let _ = careplan_relay::blob::is_sha256(&r.sha256);
        let _ = r.size.checked_add(1);
    }
    if let Ok(r) = serde_json::from_slice::<AckRequest>(data) {
        let mut proof = AckProof::new(&r.nonce);
        proof.update(r.sha256.as_bytes());
        let _ = proof.verify(&r.proof);
    }
    if let Ok(r) = serde_json::from_slice::<DraftUpload>(data) {
        let _ = r.saved_at.unix_timestamp();
        let _: String = r.terminal.chars().take(64).collect();
        if let Some(o) = &r.to_office {
            let _ = OfficeNumber::parse(o);
        }
        r.files.iter().for_each(check_file);
    }
});
