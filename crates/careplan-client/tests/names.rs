//! Names from strangers on the receiving side: a relay whose store holds dangerous names
//! (stored before the relay refused them, or by a relay that does not check). The real
//! relay serves them over real mutual TLS; the client must refuse each one before it
//! writes a byte, leave it 未 on the relay, and still receive the good files of the same
//! transmission.

use careplan_relay::mailbox::{NewFile, NewSend};

use crate::relay_support::Relay;

/// Store a send of `files` from office `from` to office `to` straight in the relay's
/// database, past the relay's own checks.
fn store_send_past_the_checks(
    relay: &Relay,
    from: usize,
    to: usize,
    message: &str,
    files: &[(&str, &[u8])],
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let url = careplan_relay::config::sqlite_url(&relay.data_dir().join("relay.sqlite3"));
        let db = careplan_relay::db::Db::open(&url).await.expect("relay db");
        // The bytes go to the relay's blob store first (as an upload would put them): as
        // files of their own, since the running relay's process owns its packs.
        let cfg = careplan_relay::blob::BlobConfig {
            packs: Some(false),
            ..Default::default()
        };
        let blobs = careplan_relay::blob::Blobs::open(&cfg, relay.data_dir()).expect("blob store");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (_, data) in files {
            careplan_relay::blob::store_bytes(
                &db,
                &blobs,
                &careplan_relay::auth::sha256_hex(data),
                data.to_vec(),
                now,
            )
            .await
            .expect("blob");
        }
        let files = files
            .iter()
            .map(|(name, data)| {
                let n = careplan_core::parse_name(name);
                NewFile {
                    id: careplan_relay::auth::new_id(),
                    name: (*name).to_owned(),
                    kind: n.kind.map(|k| k.prefix().to_owned()),
                    category: n.category.label().to_owned(),
                    csv_version: None,
                    sha256: careplan_relay::auth::sha256_hex(data),
                    size: data.len() as u64,
                }
            })
            .collect();
        db.insert_send(NewSend {
            id: careplan_relay::auth::new_id(),
            key: careplan_relay::auth::new_id(),
            from: relay.offices[from].office.clone(),
            message: message.to_owned(),
            sent_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            request_hash: String::new(),
            destinations: vec![(
                careplan_relay::auth::new_id(),
                relay.offices[to].office.clone(),
                files,
            )],
        })
        .await
        .expect("stored");
    });
}

#[test]
fn dangerous_names_from_the_relay_are_refused_before_the_disk() {
    let relay = Relay::start();
    let dangerous = [
        "desktop.ini",
        "run.lnk",
        "x.library-ms",
        "invoice\u{202E}fdp.exe",
        "CON.txt.pdf",
        ".hidden.pdf",
        "COM¹.pdf",
        "Thumbs.db",
        "a.zip",
    ];
    let mut files: Vec<(&str, &[u8])> = dangerous.iter().map(|n| (*n, &b"payload"[..])).collect();
    files.push(("計画書.pdf", b"%PDF-1.4 ok"));
    store_send_past_the_checks(&relay, 1, 0, "危険な名前のテスト", &files);

    let data = tempfile::tempdir().unwrap();
    let c = relay.login(0, data.path(), "pc-1");
    let l = c.received().unwrap();
    let t = l
        .items
        .iter()
        .find(|t| t.message == "危険な名前のテスト")
        .expect("listed");
    assert_eq!(t.files.len(), dangerous.len() + 1);
    let ids: Vec<String> = t.files.iter().map(|f| f.id.clone()).collect();

    let out = tempfile::tempdir().unwrap();
    let report = c.receive(&ids, out.path(), &mut |_| {}).unwrap();

    // The good file is saved; every dangerous one is refused with a Japanese message.
    assert_eq!(report.saved.len(), 1, "{:?}", report.saved);
    assert_eq!(report.saved[0].name, "計画書.pdf");
    assert_eq!(report.failed.len(), dangerous.len());
    for name in dangerous {
        let f = report
            .failed
            .iter()
            .find(|f| f.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name:?} refused"));
        assert!(
            f.code == "E_NAME_UNSAFE" || f.code == "E_ATTACHMENT_TYPE",
            "{name:?}: {}",
            f.code
        );
        assert!(
            f.message.contains("使えません") || f.message.contains("送受信できません"),
            "{name:?}: {}",
            f.message
        );
        assert!(!f.message.contains('\u{202E}'));
    }

    // Nothing but the good file reached the folder: no refused file, no temporary file.
    let on_disk: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(on_disk, vec!["計画書.pdf".to_owned()]);
    assert_eq!(
        std::fs::read(out.path().join("計画書.pdf")).unwrap(),
        b"%PDF-1.4 ok"
    );

    // Refused files stay 未 on the relay (the sender can be asked to send them again
    // under a good name); the good one is 済.
    let l = c.received().unwrap();
    let t = l
        .items
        .iter()
        .find(|t| t.message == "危険な名前のテスト")
        .expect("listed");
    for f in &t.files {
        assert_eq!(f.acquired, f.name == "計画書.pdf", "{:?}", f.name);
    }

    // The ledger records only the saved file.
    let ledger = c.ledger().unwrap();
    assert!(
        ledger
            .iter()
            .flat_map(|e| e.files.iter())
            .all(|f| f.name == "計画書.pdf")
    );
}
