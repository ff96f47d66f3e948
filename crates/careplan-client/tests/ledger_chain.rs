//! The tamper-evident ledger: a real sled store in a temp dir, altered directly through sled
//! (as someone with access to the data folder would), then verified.

use std::path::Path;
use std::time::Duration;

use careplan_client::ledger::{BreakKind, GENESIS, LedgerBreak};
use careplan_client::store::{Direction, LedgerEntry, LedgerFile, Store};
use serde_json::Value;
use time::OffsetDateTime;

fn entry(i: u64) -> LedgerEntry {
    LedgerEntry {
        seq: 0,
        at: OffsetDateTime::from_unix_timestamp(1_790_000_000 + i as i64 * 3600).expect("time"),
        direction: if i.is_multiple_of(2) {
            Direction::Send
        } else {
            Direction::Receive
        },
        office: "1310000001".into(),
        counterpart: format!("13100000{:02}", 10 + i),
        counterpart_name: Some(format!("相手事業所{i}")),
        transmission_id: format!("t{i}"),
        message: format!("{i}月分です"),
        files: vec![LedgerFile {
            name: format!("UPPLAN_2026{i:02}.CSV"),
            size: 1000 + i,
            sha256: format!("{:064x}", i + 1),
            saved_as: None,
        }],
        receipt: format!("受付番号 {i}"),
        terminal: "PC-1".into(),
    }
}

/// A store with `n` entries appended by the current code; returns their sequence numbers.
fn store_with(dir: &Path, n: u64) -> Vec<u64> {
    let s = Store::open(dir).expect("open");
    (0..n)
        .map(|i| {
            s.append_ledger(&format!("k{i}"), entry(i))
                .expect("append")
                .seq
        })
        .collect()
}

/// Open the sled database of a closed store directly (waiting for the lock to be released).
fn raw(dir: &Path) -> sled::Db {
    // As `Store::open`: sled's background threads may hold the lock of a store just closed
    // for a moment, longer with both cores busy (up to 10 s).
    for _ in 0..200 {
        match sled::open(dir.join("store")) {
            Ok(db) => return db,
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    panic!("sled lock not released");
}

/// Edit the stored JSON of entry `seq` in place (no rehash).
fn tamper(dir: &Path, seq: u64, edit: impl FnOnce(&mut Value)) {
    let db = raw(dir);
    let t = db.open_tree("ledger").expect("tree");
    let v = t.get(seq.to_be_bytes()).expect("get").expect("present");
    let mut j: Value = serde_json::from_slice(&v).expect("json");
    edit(&mut j);
    t.insert(seq.to_be_bytes(), serde_json::to_vec(&j).expect("enc"))
        .expect("insert");
    db.flush().expect("flush");
}

fn verify(dir: &Path) -> Result<usize, LedgerBreak> {
    Store::open(dir)
        .expect("open")
        .verify_ledger()
        .expect("read")
}

#[test]
fn an_intact_ledger_verifies_and_survives_reopen() {
    let d = tempfile::tempdir().expect("tmp");
    let seqs = store_with(d.path(), 5);
    assert_eq!(verify(d.path()), Ok(5));
    // Appends after a reopen continue the chain from the head.
    let s = Store::open(d.path()).expect("open");
    s.append_ledger("k9", entry(9)).expect("append");
    // The same key again is the same entry, not a second link.
    s.append_ledger("k9", entry(9)).expect("append");
    assert_eq!(s.verify_ledger().expect("read"), Ok(6));
    let head = s.ledger_head().expect("head").expect("some");
    assert_eq!(head.count, 6);
    assert!(head.seq > seqs[4]);
    assert!(s.ledger_upgrades().expect("upgrades").is_empty());
    // The first entry links to the genesis hash.
    let first = &s.ledger_raw().expect("raw")[0];
    let c = first.value.as_ref().expect("decoded");
    assert_eq!(c.link.prev_hash.as_deref(), Some(GENESIS));
    assert_eq!(c.link.prev_seq, None);
}

#[test]
fn an_altered_message_size_or_sha_names_exactly_that_entry() {
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit); 4] = [
        ("message", |j| j["message"] = "書き換え".into()),
        ("size", |j| j["files"][0]["size"] = 999_999.into()),
        ("sha256", |j| {
            j["files"][0]["sha256"] = format!("{:064x}", 77).into()
        }),
        ("at", |j| j["at"] = "2030-01-01T00:00:00Z".into()),
    ];
    for (what, edit) in edits {
        for victim in [0usize, 2, 4] {
            let d = tempfile::tempdir().expect("tmp");
            let seqs = store_with(d.path(), 5);
            tamper(d.path(), seqs[victim], edit);
            let b = verify(d.path()).expect_err(what);
            assert_eq!(b.seq, seqs[victim], "{what} of entry {victim}");
            assert_eq!(b.kind, BreakKind::ContentChanged, "{what}");
            let m = b.message_ja();
            assert!(m.contains(&format!("記録番号 {}", seqs[victim])), "{m}");
            assert!(m.contains("変わっています"), "{m}");
        }
    }
}

#[test]
fn an_altered_and_rehashed_entry_breaks_the_link_of_the_next() {
    let d = tempfile::tempdir().expect("tmp");
    let seqs = store_with(d.path(), 4);
    // Someone who knows the canonical bytes rehashes entry 1 after changing it.
    tamper(d.path(), seqs[1], |j| {
        j["message"] = "書き換え".into();
        let mut c: careplan_client::store::ChainedEntry =
            serde_json::from_value(j.clone()).expect("chained");
        let prev_hash = c.link.prev_hash.clone().expect("prev");
        c.link.hash = Some(careplan_client::ledger::entry_hash(
            &c.entry,
            c.link.prev_seq,
            &prev_hash,
        ));
        *j = serde_json::to_value(&c).expect("value");
    });
    let b = verify(d.path()).expect_err("broken");
    assert_eq!(b.seq, seqs[2]);
    assert_eq!(
        b.kind,
        BreakKind::Unlinked {
            prev: Some(seqs[1])
        }
    );
}

#[test]
fn a_deleted_entry_in_the_middle_first_or_last_is_named() {
    for victim in [0usize, 2, 4] {
        let d = tempfile::tempdir().expect("tmp");
        let seqs = store_with(d.path(), 5);
        {
            let db = raw(d.path());
            db.open_tree("ledger")
                .expect("tree")
                .remove(seqs[victim].to_be_bytes())
                .expect("remove");
            db.flush().expect("flush");
        }
        let b = verify(d.path()).expect_err("deleted");
        assert_eq!(b.seq, seqs[victim], "victim {victim}");
        if victim == 4 {
            assert_eq!(
                b.kind,
                BreakKind::TailDeleted {
                    last_present: Some(seqs[3])
                }
            );
        } else {
            assert_eq!(
                b.kind,
                BreakKind::Deleted {
                    next: seqs[victim + 1]
                }
            );
        }
        assert!(b.message_ja().contains("削除"), "{}", b.message_ja());
    }
}

#[test]
fn a_stripped_hash_is_reported_not_silently_rechained() {
    let d = tempfile::tempdir().expect("tmp");
    let seqs = store_with(d.path(), 3);
    // Remove the chain fields of the last entry and change it: the upgrade at the next open
    // must not accept it as an old entry.
    tamper(d.path(), seqs[2], |j| {
        let o = j.as_object_mut().expect("object");
        o.remove("hash");
        o.remove("prev_hash");
        o.remove("prev_seq");
        o.insert("message".into(), "書き換え".into());
    });
    let b = verify(d.path()).expect_err("stripped");
    assert_eq!(b.seq, seqs[2]);
    assert_eq!(b.kind, BreakKind::NoHash);
}

#[test]
fn an_unreadable_entry_and_a_changed_seq_are_named() {
    let d = tempfile::tempdir().expect("tmp");
    let seqs = store_with(d.path(), 3);
    tamper(d.path(), seqs[1], |j| j["seq"] = 12345.into());
    let b = verify(d.path()).expect_err("seq");
    assert_eq!(b.seq, seqs[1]);
    assert_eq!(b.kind, BreakKind::SeqChanged { stored: 12345 });

    let d = tempfile::tempdir().expect("tmp");
    let seqs = store_with(d.path(), 3);
    {
        let db = raw(d.path());
        db.open_tree("ledger")
            .expect("tree")
            .insert(seqs[1].to_be_bytes(), &b"{not json"[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    let b = verify(d.path()).expect_err("garbage");
    assert_eq!(b.seq, seqs[1]);
    assert!(matches!(b.kind, BreakKind::Unreadable { .. }));
}

/// Write entries the way the version before the chain did: the `LedgerEntry` JSON alone.
fn write_old_ledger(dir: &Path, range: std::ops::Range<u64>) -> Vec<u64> {
    let db = raw(dir);
    let ledger = db.open_tree("ledger").expect("tree");
    let keys = db.open_tree("ledger_keys").expect("tree");
    let mut seqs = Vec::new();
    for i in range {
        let seq = db.generate_id().expect("id");
        let mut e = entry(i);
        e.seq = seq;
        ledger
            .insert(seq.to_be_bytes(), serde_json::to_vec(&e).expect("enc"))
            .expect("insert");
        keys.insert(format!("old{i}").as_bytes(), &seq.to_be_bytes())
            .expect("insert");
        seqs.push(seq);
    }
    db.flush().expect("flush");
    seqs
}

#[test]
fn a_ledger_from_before_the_chain_is_chained_once_at_open_and_verifies() {
    let d = tempfile::tempdir().expect("tmp");
    let seqs = write_old_ledger(d.path(), 0..4);
    {
        let s = Store::open(d.path()).expect("open");
        assert_eq!(s.verify_ledger().expect("read"), Ok(4));
        let ups = s.ledger_upgrades().expect("upgrades");
        assert_eq!(ups.len(), 1);
        assert_eq!(
            (ups[0].first_seq, ups[0].last_seq, ups[0].count),
            (seqs[0], seqs[3], 4)
        );
        // The old entries read the same as before.
        let es = s.ledger().expect("ledger");
        assert_eq!(es.len(), 4);
        assert_eq!(es[2].message, entry(2).message);
        s.append_ledger("new", entry(8)).expect("append");
    }
    // Flushed: the raw store holds the chain; a second open upgrades nothing more.
    {
        let db = raw(d.path());
        let v = db
            .open_tree("ledger")
            .expect("tree")
            .get(seqs[0].to_be_bytes())
            .expect("get")
            .expect("present");
        let j: Value = serde_json::from_slice(&v).expect("json");
        assert_eq!(j["prev_hash"], GENESIS);
        assert_eq!(j["hash"].as_str().map(str::len), Some(64));
    }
    let s = Store::open(d.path()).expect("open");
    assert_eq!(s.ledger_upgrades().expect("upgrades").len(), 1);
    assert_eq!(s.verify_ledger().expect("read"), Ok(5));
    drop(s);
    // An older version run again appends unchained entries: chained at the next open.
    let later = write_old_ledger(d.path(), 10..12);
    let s = Store::open(d.path()).expect("open");
    assert_eq!(s.verify_ledger().expect("read"), Ok(7));
    let ups = s.ledger_upgrades().expect("upgrades");
    assert_eq!(ups.len(), 2);
    assert_eq!((ups[1].first_seq, ups[1].last_seq), (later[0], later[1]));
    drop(s);
    // Altering an upgraded entry is caught like any other.
    tamper(d.path(), seqs[1], |j| j["files"][0]["size"] = 1.into());
    let b = verify(d.path()).expect_err("altered");
    assert_eq!((b.seq, b.kind), (seqs[1], BreakKind::ContentChanged));
}

#[test]
fn concurrent_appends_keep_one_chain() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Store::open(d.path()).expect("open");
    std::thread::scope(|sc| {
        for t in 0..4u64 {
            let s = s.clone();
            sc.spawn(move || {
                for i in 0..10 {
                    s.append_ledger(&format!("t{t}-{i}"), entry(t * 10 + i))
                        .expect("append");
                }
            });
        }
    });
    assert_eq!(s.verify_ledger().expect("read"), Ok(40));
}
