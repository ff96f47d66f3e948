//! End to end against the real relay on loopback, over real mutual TLS, with real sled
//! stores in temp dirs.

use careplan_client::send::SendMode;
use careplan_client::{ClientError, DraftInput, DraftSync};

use crate::relay_support::{Relay, outgoing};

fn no_progress() -> impl FnMut(careplan_client::ReceiveProgress) {
    |_| {}
}

#[test]
fn send_list_receive_ack_and_see_it_acquired() {
    let relay = Relay::start();
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = relay.login(0, ta.path(), "A-1");
    let b = relay.login(1, tb.path(), "B-1");
    assert_eq!(a.certificate().office.as_str(), relay.offices[0].office);

    let files = relay.plan_set(0, 1, "20261101090000");
    let plan = a
        .prepare_send(
            outgoing(&files),
            "11月分の利用票です",
            &SendMode::Single { to: None },
        )
        .unwrap();
    let receipt = a.send(&plan, false).unwrap();
    assert_eq!(receipt.offices, vec![relay.offices[1].office.clone()]);
    // Same plan again (a retry with the same key) is one send.
    let again = a.send(&plan, false).unwrap();
    assert_eq!(again.ids, receipt.ids);

    // B sees it 未.
    let l = b.received().unwrap();
    assert!(!l.offline);
    let t = l
        .items
        .iter()
        .find(|t| t.sender_office == relay.offices[0].office && t.message == "11月分の利用票です")
        .expect("the transmission is listed");
    assert_eq!(t.files.len(), 3);
    assert!(t.files.iter().all(|f| !f.acquired));
    assert!(
        t.files
            .iter()
            .any(|f| f.csv_version.as_deref() == Some("202407"))
    );

    // B receives into a folder: identical bytes.
    let out = tempfile::tempdir().unwrap();
    let ids: Vec<String> = t.files.iter().map(|f| f.id.clone()).collect();
    let report = b.receive(&ids, out.path(), &mut no_progress()).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.saved.len(), 3);
    for f in &files {
        let got = std::fs::read(out.path().join(&f.name)).unwrap();
        assert_eq!(got, f.bytes, "{} is byte-identical", f.name);
    }
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty());

    // B lists 済, A's sent list shows 済.
    let l = b.received().unwrap();
    let t2 = l.items.iter().find(|x| x.id == t.id).unwrap();
    assert!(t2.files.iter().all(|f| f.acquired));
    let s = a.sent().unwrap();
    let st = s
        .items
        .iter()
        .find(|x| x.message == "11月分の利用票です")
        .unwrap();
    assert!(st.destinations.iter().all(|d| d.all_acquired()));

    // Both ledgers hold the event; the export is CSV with a BOM.
    assert_eq!(a.ledger().unwrap().len(), 1);
    assert_eq!(b.ledger().unwrap().len(), 3);
    let csv = tb.path().join("ledger.csv");
    assert_eq!(b.export_ledger(&csv).unwrap(), 3);
    assert!(
        std::fs::read(&csv)
            .unwrap()
            .starts_with("\u{feff}".as_bytes())
    );

    // Receiving again into the same folder neither duplicates the file nor the 済.
    let r2 = b.receive(&ids, out.path(), &mut no_progress()).unwrap();
    assert!(r2.saved.iter().all(|s| s.already_saved));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 3);
    assert_eq!(b.ledger().unwrap().len(), 3);
}

#[test]
fn bulk_send_reaches_each_office_and_a_name_collision_gets_a_suffix() {
    let relay = Relay::start();
    assert!(relay.offices.len() >= 3, "the demo has at least 3 offices");
    let ta = tempfile::tempdir().unwrap();
    let a = relay.login(0, ta.path(), "A-1");
    let mut files = relay.plan_set(0, 1, "20261101100000");
    files.extend(relay.plan_set(0, 2, "20261101100001"));
    let plan = a
        .prepare_send(outgoing(&files), "一括送信", &SendMode::Bulk)
        .unwrap();
    let r = a.send(&plan, false).unwrap();
    assert_eq!(r.offices.len(), 2);

    for (i, dir_name) in [(1usize, "b"), (2, "c")] {
        let t = tempfile::tempdir().unwrap();
        let c = relay.login(i, t.path(), dir_name);
        let out = t.path().join("受信");
        std::fs::create_dir_all(&out).unwrap();
        // A different file already has the first name: it must be kept.
        let first = files
            .iter()
            .find(|f| f.name.contains(&relay.offices[i].office))
            .unwrap();
        std::fs::write(out.join(&first.name), b"keep me").unwrap();
        // The demo relay holds demo data too: receive only this transmission.
        let l = c.received().unwrap();
        let t = l.items.iter().find(|t| t.message == "一括送信").unwrap();
        let ids: Vec<String> = t.files.iter().map(|f| f.id.clone()).collect();
        let report = c.receive(&ids, &out, &mut no_progress()).unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert_eq!(report.saved.len(), 3);
        assert_eq!(std::fs::read(out.join(&first.name)).unwrap(), b"keep me");
        let renamed = careplan_client::fsutil::suffixed(&first.name, 1);
        assert_eq!(std::fs::read(out.join(&renamed)).unwrap(), first.bytes);
    }
}

#[test]
fn lists_come_from_the_cache_when_the_relay_is_down() {
    let mut relay = Relay::start();
    let tb = tempfile::tempdir().unwrap();
    let b = relay.login(1, tb.path(), "B-1");
    let live = b.received().unwrap();
    assert!(!live.offline);
    relay.stop();
    let cached = b.received().unwrap();
    assert!(cached.offline);
    assert_eq!(cached.items, live.items);
    let e = b.receive_all(tb.path(), &mut no_progress()).unwrap_err();
    assert!(e.is_offline(), "{e:?}");
    assert!(e.message_ja().contains("接続できません"));

    // A fresh terminal start while offline: login fails as unreachable, the cache shows.
    let b2 = relay.client(1, tb.path().join("other").as_path(), "B-2");
    let o = &relay.offices[1];
    let e = b2
        .login(
            &o.personal_user,
            &o.personal_password,
            &o.office_user,
            &o.office_password,
        )
        .unwrap_err();
    assert!(matches!(e, ClientError::Unreachable { .. }), "{e:?}");
}

#[test]
fn a_draft_made_offline_syncs_and_shows_on_another_terminal() {
    let relay = Relay::start();
    let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let files = relay.plan_set(0, 1, "20261101110000");
    // Terminal 1, not logged in (offline): saved locally, pending.
    let c1 = relay.client(0, t1.path(), "受付PC");
    let d = c1
        .save_draft(DraftInput {
            id: None,
            message: "下書きです".into(),
            to_office: Some(relay.offices[1].office.clone()),
            files: outgoing(&files),
        })
        .unwrap();
    assert_eq!(d.sync, DraftSync::Pending);
    drop(c1);
    // Online later: sync uploads it.
    let c1 = relay.login(0, t1.path(), "受付PC");
    let r = c1.sync_drafts().unwrap();
    assert_eq!(r.uploaded, 1);
    assert_eq!(c1.draft(&d.id).unwrap().sync, DraftSync::Synced);
    // Terminal 2 of the same office sees it, with the files and the terminal name.
    let c2 = relay.login(0, t2.path(), "相談室PC");
    c2.sync_drafts().unwrap();
    let ds = c2.drafts().unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].terminal, "受付PC");
    assert_eq!(ds[0].message, "下書きです");
    let got = c2.draft_files(&ds[0]).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].bytes, files[0].bytes);
    // Terminal 2 sends it and deletes it; terminal 1 sees it gone after a sync.
    let plan = c2.prepare_draft_send(&d.id).unwrap();
    c2.send(&plan, false).unwrap();
    c2.delete_draft(&d.id).unwrap();
    c1.sync_drafts().unwrap();
    assert!(c1.drafts().unwrap().is_empty());
}

#[test]
fn a_certificate_of_another_ca_is_rejected_and_a_wrong_ca_is_not_trusted() {
    let relay = Relay::start();
    let other = Relay::start();
    let t = tempfile::tempdir().unwrap();
    // Our key and certificate from the other relay's CA: the relay refuses the handshake.
    let mixed_dir = tempfile::tempdir().unwrap();
    let mixed = mixed_dir.path();
    for f in ["client.crt", "client.key"] {
        std::fs::copy(other.offices[0].profile.join(f), mixed.join(f)).unwrap();
    }
    std::fs::copy(
        relay.offices[0].profile.join("ca.crt"),
        mixed.join("ca.crt"),
    )
    .unwrap();
    let id = careplan_client::Identity::from_profile_dir(mixed).unwrap();
    let store = careplan_client::Store::open(t.path()).unwrap();
    let c = careplan_client::Client::new(store, &id, &relay.url, Default::default()).unwrap();
    let o = &other.offices[0];
    let e = c
        .login_personal(&o.personal_user, &o.personal_password)
        .unwrap_err();
    assert!(
        matches!(e, ClientError::CertificateRejected { .. }),
        "{e:?}"
    );

    // The right client certificate but the other relay's CA: the server is not trusted.
    std::fs::copy(
        relay.offices[0].profile.join("client.crt"),
        mixed.join("client.crt"),
    )
    .unwrap();
    std::fs::copy(
        relay.offices[0].profile.join("client.key"),
        mixed.join("client.key"),
    )
    .unwrap();
    std::fs::copy(
        other.offices[0].profile.join("ca.crt"),
        mixed.join("ca.crt"),
    )
    .unwrap();
    let id = careplan_client::Identity::from_profile_dir(mixed).unwrap();
    let t2 = tempfile::tempdir().unwrap();
    let store = careplan_client::Store::open(t2.path()).unwrap();
    let c = careplan_client::Client::new(store, &id, &relay.url, Default::default()).unwrap();
    let o = &relay.offices[0];
    let e = c
        .login_personal(&o.personal_user, &o.personal_password)
        .unwrap_err();
    assert!(matches!(e, ClientError::ServerNotTrusted { .. }), "{e:?}");
}

#[test]
fn wrong_passwords_and_a_foreign_office_user_are_clear_errors() {
    let relay = Relay::start();
    let t = tempfile::tempdir().unwrap();
    let c = relay.client(0, t.path(), "A");
    let o = &relay.offices[0];
    let e = c
        .login_personal(&o.personal_user, "wrong-password")
        .unwrap_err();
    assert!(matches!(e, ClientError::LoginFailed { .. }), "{e:?}");
    assert!(!e.message_ja().contains("wrong-password"));
    // Office B's office user with office A's certificate.
    let b = &relay.offices[1];
    c.login_personal(&o.personal_user, &o.personal_password)
        .unwrap();
    let e = c
        .login_office(&b.office_user, &b.office_password)
        .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::OfficeMismatch { .. } | ClientError::LoginFailed { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn the_office_password_can_be_changed_and_notices_are_listed() {
    let relay = Relay::start();
    let t = tempfile::tempdir().unwrap();
    let c = relay.client(0, t.path(), "A");
    let o = &relay.offices[0];
    c.login_personal(&o.personal_user, &o.personal_password)
        .unwrap();
    // The new password is checked locally first.
    let e = c
        .change_password(&o.office_user, &o.office_password, "short")
        .unwrap_err();
    assert!(matches!(e, ClientError::Refused(_)), "{e:?}");
    c.change_password(&o.office_user, &o.office_password, "Newpass2026x")
        .unwrap();
    let info = c.login_office(&o.office_user, "Newpass2026x").unwrap();
    assert_eq!(info.office, o.office);
    assert!(info.password_expires_at.is_some());
    let n = c.notices().unwrap();
    assert!(!n.offline);
    for x in &n.items {
        assert!(!x.title.is_empty());
    }
    c.logout();
    assert!(!c.is_logged_in());
    // After logout the lists come from the cache only.
    assert!(c.notices().unwrap().offline);
}

/// Lists longer than one page (here: pages of 2 rows) are fetched whole, newest first,
/// each row once.
#[test]
fn lists_longer_than_a_page_are_fetched_whole() {
    let relay = Relay::start_with(|c| c.limits.list_page_max = 2);
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = relay.login(0, ta.path(), "A-1");
    let b = relay.login(1, tb.path(), "B-1");
    let before_received = b.received().unwrap().items.len();
    let before_sent = a.sent().unwrap().items.len();
    for i in 0..5 {
        let files = relay.plan_set(0, 1, &format!("2026110109000{i}"));
        let plan = a
            .prepare_send(
                outgoing(&files),
                &format!("頁送信{i}"),
                &SendMode::Single { to: None },
            )
            .unwrap();
        a.send(&plan, false).unwrap();
    }
    let received = b.received().unwrap().items;
    assert_eq!(received.len(), before_received + 5);
    let ids: std::collections::BTreeSet<&String> = received.iter().map(|t| &t.id).collect();
    assert_eq!(ids.len(), received.len(), "each row once");
    assert!(
        received
            .windows(2)
            .all(|w| w[0].received_at >= w[1].received_at),
        "newest first"
    );
    let mine: Vec<&str> = received
        .iter()
        .filter(|t| t.message.starts_with("頁送信"))
        .map(|t| t.message.as_str())
        .collect();
    assert_eq!(mine.len(), 5);
    let sent = a.sent().unwrap().items;
    assert_eq!(sent.len(), before_sent + 5);
    assert!(sent.iter().all(|t| !t.destinations.is_empty()));
}

/// A send with a file over 1 MiB uploads its files first, several at a time; when the
/// relay refuses one of them (here: the office's open-upload quota is two, the set has four
/// files), the send stops with that refusal, nothing is sent, and the error says what to
/// do. (Parallel uploads that succeed are checked byte for byte by `large_files_*`.)
#[test]
fn a_refused_upload_among_parallel_ones_stops_the_send() {
    let relay = Relay::start_with(|c| c.blobs.max_open_uploads = 2);
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = relay.login(0, ta.path(), "A-1");
    let b = relay.login(1, tb.path(), "B-1");
    let files = relay.plan_set(0, 1, "20261101100000");
    assert_eq!(files.len(), 3);
    let mut out = outgoing(&files);
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(1536 * 1024, b' ');
    out.push(careplan_client::OutgoingFile {
        name: "説明資料.pdf".into(),
        bytes: pdf,
    });
    let plan = a
        .prepare_send(out, "上限", &SendMode::Single { to: None })
        .unwrap();
    match a.send(&plan, false) {
        Err(ClientError::Relay {
            status, message, ..
        }) => {
            assert_eq!(status, 429, "{message}");
            assert!(message.contains("アップロード"), "{message}");
        }
        other => panic!("expected the quota's refusal, got {other:?}"),
    }
    let l = b.received().unwrap();
    assert!(
        l.items.iter().all(|t| t.message != "上限"),
        "nothing was sent"
    );
}

/// A set of small files goes whole in one request (`POST /api/v1/send/whole`): with the
/// office's open-upload quota at zero, no upload can be opened, and the set is still sent,
/// received and checked byte for byte. A retry of the same plan is answered from the
/// relay's receipt.
#[test]
fn a_small_set_goes_whole_in_one_request() {
    let relay = Relay::start_with(|c| c.blobs.max_open_uploads = 0);
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = relay.login(0, ta.path(), "A-1");
    let b = relay.login(1, tb.path(), "B-1");
    let files = relay.plan_set(0, 1, "20261101110000");
    let plan = a
        .prepare_send(outgoing(&files), "一度で", &SendMode::Single { to: None })
        .unwrap();
    let receipt = a.send(&plan, false).unwrap();
    let again = a.send(&plan, false).unwrap();
    assert_eq!(again.ids, receipt.ids, "answered from the receipt");
    let got = b.received().unwrap();
    let t = got
        .items
        .iter()
        .find(|t| t.message == "一度で")
        .expect("received");
    assert_eq!(t.files.len(), files.len());
    assert!(
        t.files
            .iter()
            .any(|f| f.csv_version.as_deref() == Some("202407")),
        "the CSVバージョン read from the bytes in the request"
    );
    received_byte_for_byte(&b, t, &files);
}

/// When the relay has no room for a send in one request (`503 E_BUSY`, here its memory for
/// them set to none), the client sends the same set as uploads and `POST /api/v1/send`: it
/// arrives, byte for byte, once.
#[test]
fn a_busy_relay_gets_the_set_as_uploads() {
    let relay = Relay::start_with(|c| c.limits.whole_sends_memory_bytes = 0);
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = relay.login(0, ta.path(), "A-1");
    let b = relay.login(1, tb.path(), "B-1");
    let files = relay.plan_set(0, 1, "20261101120000");
    let plan = a
        .prepare_send(outgoing(&files), "混雑時", &SendMode::Single { to: None })
        .unwrap();
    a.send(&plan, false).unwrap();
    let got = b.received().unwrap();
    let sent: Vec<_> = got.items.iter().filter(|t| t.message == "混雑時").collect();
    assert_eq!(sent.len(), 1);
    received_byte_for_byte(&b, sent[0], &files);
}

/// `b` receives every file of `t` into a new folder: none fails, and each holds the bytes
/// of the file of that name in `files`.
fn received_byte_for_byte(
    b: &careplan_client::Client,
    t: &careplan_client::ReceivedTransmission,
    files: &[careplan_core::demo::DemoFile],
) {
    let out = tempfile::tempdir().unwrap();
    let ids: Vec<String> = t.files.iter().map(|f| f.id.clone()).collect();
    let report = b.receive(&ids, out.path(), &mut no_progress()).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    for f in files {
        let got = std::fs::read(out.path().join(&f.name)).unwrap();
        assert_eq!(got, f.bytes, "{} byte for byte", f.name);
    }
}
