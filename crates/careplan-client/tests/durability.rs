//! A kill right after "saved" loses nothing: a child process saves a draft and a ledger
//! entry through the store, prints `SAVED`, then waits; the parent SIGKILLs it at once and
//! reopens the store.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use careplan_client::store::{Direction, DraftFile, DraftSync, LedgerEntry, LedgerFile};
use careplan_client::{Draft, Store};

const CHILD_ENV: &str = "CAREPLAN_DURABILITY_CHILD_DIR";
const WHAT_ENV: &str = "CAREPLAN_DURABILITY_WHAT";

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
    let what = std::env::var(WHAT_ENV).unwrap_or_default();
    let store = Store::open(std::path::Path::new(&dir)).unwrap();
    for i in 0..20 {
        // Only one kind of write per child, so that no other flush hides a missing one.
        if what == "drafts" {
            let sha = store.put_draft_file(b"hello").unwrap();
            store.put_draft(&draft(i, &sha)).unwrap();
        } else {
            store.append_ledger(&format!("k{i}"), entry(i)).unwrap();
        }
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

/// Run the child saving `what`, SIGKILL it as soon as it says SAVED, reopen the store.
fn kill_after_saved(what: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "durability::durability_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .env(WHAT_ENV, what)
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
    (dir, store)
}

#[test]
fn kill_right_after_a_saved_draft_loses_nothing() {
    let (_dir, store) = kill_after_saved("drafts");
    let drafts = store.drafts("1310000001").unwrap();
    assert_eq!(drafts.len(), 20, "every saved draft survives the kill");
    for d in &drafts {
        assert_eq!(
            store.draft_file(&d.files[0].sha256).unwrap().as_deref(),
            Some(&b"hello"[..])
        );
    }
}

#[test]
fn kill_right_after_a_ledger_entry_loses_nothing() {
    let (_dir, store) = kill_after_saved("ledger");
    assert_eq!(
        store.ledger().unwrap().len(),
        20,
        "every ledger entry survives the kill"
    );
}
