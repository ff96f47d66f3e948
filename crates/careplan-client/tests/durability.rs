//! A kill right after "saved" loses nothing: a child process saves a draft and a ledger
//! entry through the store, prints `SAVED`, then waits; the parent SIGKILLs it at once and
//! reopens the store.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use careplan_client::store::{Direction, DraftFile, DraftSync, LedgerEntry, LedgerFile};
use careplan_client::{Draft, Store};

const CHILD_ENV: &str = "CAREPLAN_DURABILITY_CHILD_DIR";

fn draft(i: usize, sha: &str) -> Draft {
    Draft {
        id: format!("draft-{i}"),
        office: "1310000001".into(),
        saved_at: time::OffsetDateTime::now_utc(),
        terminal: "child".into(),
        message: format!("下書き{i}"),
        to_office: Some("1310000002".into()),
        files: vec![DraftFile {
            name: format!("F{i}.CSV"),
            size: 5,
            sha256: sha.into(),
        }],
        sync: DraftSync::Pending,
        conflict: None,
    }
}

fn entry(i: usize) -> LedgerEntry {
    LedgerEntry {
        seq: 0,
        at: time::OffsetDateTime::now_utc(),
        direction: Direction::Send,
        office: "1310000001".into(),
        counterpart: "1310000002".into(),
        counterpart_name: None,
        transmission_id: format!("t{i}"),
        message: String::new(),
        files: vec![LedgerFile {
            name: format!("F{i}.CSV"),
            size: 5,
            sha256: "00".into(),
            saved_as: None,
        }],
        receipt: format!("r{i}"),
        terminal: "child".into(),
    }
}

/// The child half (does nothing unless started by the parent test).
#[test]
fn durability_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&dir)).unwrap();
    let sha = store.put_draft_file(b"hello").unwrap();
    for i in 0..20 {
        store.put_draft(&draft(i, &sha)).unwrap();
        store.append_ledger(&format!("k{i}"), entry(i)).unwrap();
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "SAVED").unwrap();
    out.flush().unwrap();
    drop(out);
    // Keep writing unrelated data so sled is busy when the kill lands.
    for i in 0..1_000_000u64 {
        let _ = store.put_cache("x", "noise", &i, time::OffsetDateTime::now_utc());
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn kill_right_after_saved_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "durability::durability_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("child ended before SAVED").unwrap();
        if line.trim_end().ends_with("SAVED") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    let store = Store::open(dir.path()).unwrap();
    let drafts = store.drafts("1310000001").unwrap();
    assert_eq!(drafts.len(), 20, "every saved draft survives the kill");
    for d in &drafts {
        assert_eq!(
            store.draft_file(&d.files[0].sha256).unwrap().as_deref(),
            Some(&b"hello"[..])
        );
    }
    let ledger = store.ledger().unwrap();
    assert_eq!(ledger.len(), 20, "every ledger entry survives the kill");
}
