//! The hands-free engine (`careplan_client::watch`) end to end: the real relay on loopback
//! with mutual TLS, real sled stores and real folders in temp dirs, engines on their own
//! threads as the app runs them. The crash of the real `careplan watch` process (SIGKILL)
//! is tested in `crates/careplan-app/tests/cli_watch.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use careplan_client::Client;
use careplan_client::send::SendMode;
use careplan_client::store::Direction;
use careplan_client::watch::queue::{self, OutRecord, OutState};
use careplan_client::watch::{Engine, StopHandle, WarningPolicy, WatchConfig, WatchStatus};
use careplan_core::demo::DemoFile;

use crate::relay_support::{Relay, outgoing};

/// An engine running on its own thread; stopped (and joined) on drop.
struct Running {
    stop: StopHandle,
    status: Arc<Mutex<WatchStatus>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn status(&self) -> WatchStatus {
        self.status.lock().unwrap().clone()
    }

    fn stop(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Short times so that the tests run in seconds (production: 3 s / 30 s / 5 s / 30 s).
fn fast(outbox: Option<&Path>, inbox: Option<&Path>) -> WatchConfig {
    WatchConfig {
        outbox: outbox.map(Path::to_path_buf),
        inbox: inbox.map(Path::to_path_buf),
        settle: Duration::from_millis(400),
        set_wait: Duration::from_millis(800),
        rescan: Duration::from_millis(200),
        poll: Duration::from_millis(300),
        retry_first: Duration::from_millis(200),
        retry_max: Duration::from_millis(800),
        login_retry: Duration::from_secs(1),
        ..WatchConfig::default()
    }
}

fn start(relay: &Relay, office: usize, client: Client, cfg: WatchConfig) -> Running {
    let o = relay.offices[office].clone();
    let login = Box::new(move |c: &Client| {
        c.login(
            &o.personal_user,
            &o.personal_password,
            &o.office_user,
            &o.office_password,
        )
        .map(|_| ())
    });
    let engine = Engine::new(client, cfg, login).unwrap();
    let stop = engine.stop_handle();
    let status = engine.status_handle();
    let thread = std::thread::spawn(move || engine.run().unwrap());
    Running {
        stop,
        status,
        thread: Some(thread),
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Write a file the way a care software does: create, write, close.
fn write_all(dir: &Path, files: &[DemoFile]) {
    for f in files {
        std::fs::write(dir.join(&f.name), &f.bytes).unwrap();
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Files (not folders) at the top level of `dir`.
fn files_in(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| dir.join(n).is_file())
        .collect()
}

/// The transmissions B has from A with `serial` in their file names.
fn arrivals(b: &Client, serial: &str) -> usize {
    b.received()
        .unwrap()
        .items
        .iter()
        .filter(|t| t.files.iter().any(|f| f.name.contains(serial)))
        .count()
}

fn sent_dir(outbox: &Path) -> PathBuf {
    let months = names_in(&outbox.join("送信済"));
    assert_eq!(months.len(), 1, "one month folder: {months:?}");
    outbox.join("送信済").join(&months[0])
}

#[test]
fn a_complete_set_in_a_outbox_appears_in_b_inbox_with_no_click() {
    let relay = Relay::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let folders = tempfile::tempdir().unwrap();
    let outbox = folders.path().join("送信フォルダ");
    let inbox = folders.path().join("受信フォルダ");
    let a = relay.client(0, da.path(), "A-watch");
    let b = relay.client(1, db.path(), "B-watch");
    let mut ea = start(&relay, 0, a.clone(), fast(Some(&outbox), None));
    let mut eb = start(&relay, 1, b.clone(), fast(None, Some(&inbox)));

    let serial = "20261102090000";
    let files = relay.plan_set(0, 1, serial);
    write_all(&outbox, &files);
    let marker = inbox.join(format!("{serial}_{}.完了", relay.offices[0].office));
    wait_until(
        "the set's marker in B's inbox",
        Duration::from_secs(60),
        || marker.exists(),
    );

    // Every file arrived byte for byte; the marker lists them in import order
    // (補足, 第6表, 第7表).
    for f in &files {
        assert_eq!(std::fs::read(inbox.join(&f.name)).unwrap(), f.bytes);
    }
    let listed = String::from_utf8(std::fs::read(&marker).unwrap()).unwrap();
    let order: Vec<&str> = listed.split("\r\n").filter(|l| !l.is_empty()).collect();
    let prefixes: Vec<&str> = order.iter().map(|n| n.split('_').next().unwrap()).collect();
    assert_eq!(prefixes, ["UPHOSOKU", "UPPLAN", "UPSIKYU"]);
    assert!(names_in(&inbox).iter().all(|n| !n.ends_with(".part")));

    // A: the set moved to 送信済/YYYYMM, nothing left in the outbox or in 送信中.
    wait_until("A's files archived", Duration::from_secs(10), || {
        files_in(&outbox).is_empty()
            && names_in(&outbox.join("送信中")).is_empty()
            && outbox.join("送信済").exists()
    });
    let mut archived = files_in(&sent_dir(&outbox));
    archived.sort();
    let mut expected: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    expected.sort();
    assert_eq!(archived, expected);

    // One transmission at the relay, 済 for B; both ledgers hold the event.
    ea.stop();
    eb.stop();
    log_in(&relay, 1, &b);
    assert_eq!(arrivals(&b, serial), 1);
    let la = a.ledger().unwrap();
    assert_eq!(
        la.iter().filter(|e| e.direction == Direction::Send).count(),
        1
    );
    let lb = b.ledger().unwrap();
    assert_eq!(
        lb.iter()
            .filter(|e| e.direction == Direction::Receive && e.files[0].name.contains(serial))
            .count(),
        3
    );
    assert_eq!(ea.status().counters.sent_sets, 1);
    assert!(eb.status().counters.received_sets >= 1);
    assert!(!ea.status().running);
}

/// Log `c` (office `i`) in unless it is.
fn log_in(relay: &Relay, i: usize, c: &Client) {
    if !c.is_logged_in() {
        let o = &relay.offices[i];
        c.login(
            &o.personal_user,
            &o.personal_password,
            &o.office_user,
            &o.office_password,
        )
        .unwrap();
    }
}

#[test]
fn a_file_still_being_written_is_not_taken() {
    let relay = Relay::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let folders = tempfile::tempdir().unwrap();
    let outbox = folders.path().join("out");
    let a = relay.client(0, da.path(), "A-watch");
    let mut cfg = fast(Some(&outbox), None);
    cfg.settle = Duration::from_millis(1000);
    let mut ea = start(&relay, 0, a, cfg);

    let serial = "20261103090000";
    let files = relay.plan_set(0, 1, serial);
    // Two members complete, the third written slowly: 12 chunks, one every 250 ms (3 s,
    // three times the settle time).
    write_all(&outbox, &files[..2]);
    let slow = &files[2];
    let path = outbox.join(&slow.name);
    let chunk = slow.bytes.len().div_ceil(12);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        for part in slow.bytes.chunks(chunk) {
            f.write_all(part).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(250));
            // Nothing may be taken while one member is still changing.
            assert_eq!(files_in(&outbox).len(), 3, "the set stays in the outbox");
            assert!(names_in(&outbox.join("送信中")).is_empty());
        }
    }
    let b = relay.login(1, db.path(), "B-check");
    assert_eq!(arrivals(&b, serial), 0, "nothing sent while writing");
    // Once it stops changing, the whole set goes, complete.
    wait_until("the set sent", Duration::from_secs(30), || {
        files_in(&outbox).is_empty() && outbox.join("送信済").exists()
    });
    ea.stop();
    assert_eq!(arrivals(&b, serial), 1);
    let l = b.received().unwrap();
    let t = l
        .items
        .iter()
        .find(|t| t.files.iter().any(|f| f.name.contains(serial)))
        .unwrap();
    assert_eq!(t.files.len(), 3);
    let got = t.files.iter().find(|f| f.name == slow.name).unwrap();
    assert_eq!(
        got.size,
        slow.bytes.len() as u64,
        "the complete file was sent"
    );
}

#[test]
fn a_set_with_an_error_lands_in_error_with_its_reason_and_nothing_is_sent() {
    let relay = Relay::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let folders = tempfile::tempdir().unwrap();
    let outbox = folders.path().join("out");
    let a = relay.client(0, da.path(), "A-watch");
    let mut ea = start(&relay, 0, a.clone(), fast(Some(&outbox), None));

    let serial = "20261104090000";
    let mut files = relay.plan_set(0, 1, serial);
    // One member of the set is broken (not a CSV of its layout).
    files[1].bytes = b"\x82\xa0broken,,\r\n".to_vec();
    write_all(&outbox, &files);
    let err_dir = outbox.join("エラー");
    wait_until("the set in エラー", Duration::from_secs(30), || {
        files_in(&err_dir).len() == 6
    });
    // Every member moved (the set goes together), each with its reason file.
    for f in &files {
        assert!(err_dir.join(&f.name).is_file(), "{}", f.name);
        let note = std::fs::read(err_dir.join(format!("{}.エラー.txt", f.name))).unwrap();
        assert!(note.starts_with("\u{feff}".as_bytes()), "BOM for Notepad");
        let text = String::from_utf8(note).unwrap();
        assert!(text.contains("送信していません"), "{text}");
        assert!(text.contains("何が問題か"), "{text}");
        assert!(text.contains("どうすればよいか"), "{text}");
        assert!(
            text.contains(&files[1].name),
            "names the broken file: {text}"
        );
        assert!(text.contains("\r\n"));
    }
    assert!(files_in(&outbox).is_empty());
    assert!(names_in(&outbox.join("送信中")).is_empty());
    ea.stop();
    // Nothing left the PC; the ledger records the outcome.
    let b = relay.login(1, db.path(), "B-check");
    assert_eq!(arrivals(&b, serial), 0);
    let l = a.ledger().unwrap();
    assert!(l.iter().all(|e| e.direction != Direction::Send));
    let e = l
        .iter()
        .find(|e| e.direction == Direction::NotSent)
        .expect("a 送信エラー entry");
    assert_eq!(e.files.len(), 3);
    assert_eq!(e.counterpart, relay.offices[1].office);
    assert!(e.receipt.contains("送信していません"));
    assert_eq!(a.verify_ledger().unwrap().unwrap(), l.len());
    assert_eq!(ea.status().counters.error_sets, 1);
}

#[test]
fn a_set_with_warnings_is_held_then_sent_once_a_person_confirms_it() {
    let relay = Relay::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let folders = tempfile::tempdir().unwrap();
    let outbox = folders.path().join("out");
    let a = relay.client(0, da.path(), "A-watch");
    let cfg = fast(Some(&outbox), None);
    assert_eq!(cfg.warnings, WarningPolicy::Hold);
    let mut ea = start(&relay, 0, a.clone(), cfg);

    // An incomplete set (第7表 missing): it waits for the member, then is held.
    let serial = "20261105090000";
    let files = relay.plan_set(0, 1, serial);
    let partial: Vec<DemoFile> = files
        .iter()
        .filter(|f| !f.name.starts_with("UPSIKYU"))
        .cloned()
        .collect();
    write_all(&outbox, &partial);
    let held = outbox.join("確認待ち");
    wait_until("the set held", Duration::from_secs(30), || {
        files_in(&held).len() == 4
    });
    let note = String::from_utf8(
        std::fs::read(held.join(format!("{}.確認待ち.txt", partial[0].name))).unwrap(),
    )
    .unwrap();
    assert!(note.contains("第7表"), "{note}");
    assert!(note.contains("確認済"), "{note}");
    let b = relay.login(1, db.path(), "B-check");
    assert_eq!(arrivals(&b, serial), 0, "held, not sent");

    // A person confirms: the files go into 確認済 → sent, with the warning accepted.
    for f in &partial {
        std::fs::rename(held.join(&f.name), outbox.join("確認済").join(&f.name)).unwrap();
    }
    wait_until("the confirmed set sent", Duration::from_secs(30), || {
        files_in(&outbox.join("確認済")).is_empty() && outbox.join("送信済").exists()
    });
    ea.stop();
    assert_eq!(arrivals(&b, serial), 1);
    let l = a.ledger().unwrap();
    assert!(l.iter().any(|e| e.direction == Direction::Held));
    assert_eq!(
        l.iter().filter(|e| e.direction == Direction::Send).count(),
        1
    );
}

#[test]
fn relay_down_queues_the_set_with_its_reason_then_sends_it_when_the_relay_returns() {
    let mut relay = Relay::start();
    let addr: std::net::SocketAddr = relay
        .url
        .trim_start_matches("https://localhost:")
        .parse::<u16>()
        .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)))
        .unwrap();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let folders = tempfile::tempdir().unwrap();
    let outbox = folders.path().join("out");
    let a = relay.client(0, da.path(), "A-watch");
    let mut ea = start(&relay, 0, a, fast(Some(&outbox), None));
    // Logged in and idle, then the relay goes away.
    wait_until("logged in", Duration::from_secs(10), || {
        ea.status().updated_at.is_some()
    });
    relay.stop();

    let serials = ["20261106090000", "20261106090100"];
    for s in serials {
        write_all(&outbox, &relay.plan_set(0, 1, s));
    }
    wait_until(
        "both sets queued with the reason",
        Duration::from_secs(30),
        || {
            let s = ea.status();
            s.queue.len() == 2
                && s.queue.iter().all(|q| q.state == "送信待ち")
                && s.blocked
                    .as_ref()
                    .is_some_and(|b| b.code == "E_UNREACHABLE")
        },
    );
    let s = ea.status();
    assert!(
        s.queue[0].serial.as_deref() == Some(serials[0]),
        "oldest first"
    );
    assert!(
        s.queue.iter().all(|q| q
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("接続できません"))),
        "{:?}",
        s.queue
    );
    assert!(s.blocked.unwrap().message.contains("接続できません"));
    assert!(files_in(&outbox).is_empty(), "taken and kept under 送信中");

    // The relay returns on the same address with the same data.
    let running = careplan_relay::embedded::start_demo(relay.data_dir(), addr).unwrap();
    wait_until("both sets sent", Duration::from_secs(30), || {
        ea.status().queue.is_empty() && ea.status().counters.sent_sets == 2
    });
    assert!(ea.status().blocked.is_none());
    ea.stop();
    let b = relay.login(1, db.path(), "B-check");
    for s in serials {
        assert_eq!(arrivals(&b, s), 1, "{s} once");
    }
    drop(b);
    running.shutdown();
}

#[test]
fn a_set_sent_just_before_a_crash_is_resent_with_its_key_and_recorded_once() {
    let relay = Relay::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let folders = tempfile::tempdir().unwrap();
    let outbox = folders.path().join("out");
    let serial = "20261107090000";
    let files = relay.plan_set(0, 1, serial);
    let key = careplan_client::new_key();
    {
        // What a run killed right after the relay accepted the set leaves behind: the
        // record (ready, with its key), the files under 送信中/<key>/, the send at the relay.
        let a = relay.login(0, da.path(), "A-watch");
        let staging = outbox.join("送信中").join(&key);
        std::fs::create_dir_all(&staging).unwrap();
        write_all(&staging, &files);
        let rec = OutRecord {
            key: key.clone(),
            office: relay.offices[0].office.clone(),
            outbox: std::fs::canonicalize(&outbox).unwrap(),
            names: files.iter().map(|f| f.name.clone()).collect(),
            serial: Some(serial.into()),
            to_office: Some(relay.offices[1].office.clone()),
            confirmed: false,
            state: OutState::Ready,
            staged_at: time::OffsetDateTime::now_utc(),
            attempts: 0,
            last_error: None,
        };
        queue::put(a.store(), &rec).unwrap();
        let mut plan = a
            .prepare_send(outgoing(&files), "", &SendMode::Bulk)
            .unwrap();
        plan.key = key.clone();
        // The relay accepted it (and the client wrote its ledger entry); the run was killed
        // before it recorded the outcome and moved the files.
        let accepted = a.send(&plan, true).unwrap();
        assert_eq!(accepted.key, key);
    }
    // A restart must add neither a second ledger entry nor a second transmission.
    let a = relay.client(0, da.path(), "A-watch");
    let before = a
        .ledger()
        .unwrap()
        .iter()
        .filter(|e| e.direction == Direction::Send)
        .count();
    let mut ea = start(&relay, 0, a.clone(), fast(Some(&outbox), None));
    wait_until("the set finished", Duration::from_secs(30), || {
        ea.status().queue.is_empty() && outbox.join("送信済").exists()
    });
    ea.stop();
    let b = relay.login(1, db.path(), "B-check");
    assert_eq!(
        arrivals(&b, serial),
        1,
        "the relay kept one send for the key"
    );
    let after = a
        .ledger()
        .unwrap()
        .iter()
        .filter(|e| e.direction == Direction::Send)
        .count();
    assert_eq!(before, after, "one ledger entry per key");
    assert_eq!(files_in(&sent_dir(&outbox)).len(), 3);
    assert!(names_in(&outbox.join("送信中")).is_empty());
}

#[test]
fn the_inbox_imports_by_serial_one_set_at_a_time_even_when_the_later_set_arrived_first() {
    let relay = Relay::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let folders = tempfile::tempdir().unwrap();
    let inbox = folders.path().join("in");
    let a = relay.login(0, da.path(), "A-1");
    // The newer set (later serial, replaces the older one) is sent first.
    let (old, new) = ("20261108090000", "20261108100000");
    for s in [new, old] {
        let plan = a
            .prepare_send(outgoing(&relay.plan_set(0, 1, s)), "", &SendMode::Bulk)
            .unwrap();
        a.send(&plan, false).unwrap();
    }
    let b = relay.client(1, db.path(), "B-watch");
    let mut eb = start(&relay, 1, b.clone(), fast(None, Some(&inbox)));
    let from = &relay.offices[0].office;
    let (m_old, m_new) = (
        inbox.join(format!("{old}_{from}.完了")),
        inbox.join(format!("{new}_{from}.完了")),
    );
    wait_until("both markers", Duration::from_secs(60), || {
        m_old.exists() && m_new.exists()
    });
    eb.stop();
    // B's ledger: the old set's files, then the new set's (the newest is imported last),
    // each set complete before the next.
    let serials: Vec<&str> = b
        .ledger()
        .unwrap()
        .iter()
        .filter(|e| e.direction == Direction::Receive)
        .filter_map(|e| {
            let n = &e.files[0].name;
            [old, new].into_iter().find(|s| n.contains(s))
        })
        .collect();
    assert_eq!(serials, [old, old, old, new, new, new]);
    // The marker of the old set was written before the first file of the new one.
    let t = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let first_new = std::fs::read_dir(&inbox)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.contains(new) && n.ends_with(".CSV")
        })
        .map(|e| t(&e.path()))
        .min()
        .unwrap();
    assert!(t(&m_old) <= first_new);
}

/// Idle, the engine sleeps: with the folders watched and nothing to do it runs about one
/// round per rescan interval, not one per scan of its own (reading the folder is an event
/// on Linux; waking on it made a busy loop at half a core).
#[test]
fn an_idle_outbox_sleeps_between_rescans() {
    let relay = Relay::start();
    let da = tempfile::tempdir().unwrap();
    let folders = tempfile::tempdir().unwrap();
    let outbox = folders.path().join("送信フォルダ");
    let a = relay.client(0, da.path(), "A-idle");
    let cfg = WatchConfig {
        rescan: Duration::from_millis(500),
        ..fast(Some(&outbox), None)
    };
    let mut e = start(&relay, 0, a, cfg);
    // Archived files and a file that is no CSV of ours: nothing to take.
    std::fs::create_dir_all(outbox.join("送信済").join("202611")).unwrap();
    for i in 0..200 {
        std::fs::write(
            outbox
                .join("送信済")
                .join("202611")
                .join(format!("{i}.CSV")),
            b"x",
        )
        .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = e.status.lock().unwrap().counters.rounds;
    std::thread::sleep(Duration::from_secs(3));
    let rounds = e.status.lock().unwrap().counters.rounds - before;
    // 3 s at one rescan per 0.5 s: about 6 rounds; a loop would make hundreds.
    assert!(rounds <= 12, "{rounds} rounds in 3 s while idle");
    assert!(rounds >= 3, "the rescan still runs: {rounds}");
    e.stop.stop();
    if let Some(t) = e.thread.take() {
        t.join().unwrap();
    }
}
