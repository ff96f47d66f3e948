//! The store's own guarantees, on SQLite and on PostgreSQL (a real server started by this
//! test binary): group commit, keyset pages, the batched retention purge, migrations of an
//! empty database by several relays starting at once, draft quotas under concurrency.

use std::collections::{BTreeSet, HashMap};

use careplan_relay::blob::Blobs;
use careplan_relay::db::Db;
use careplan_relay::mailbox::{Cursor, DraftPut, DraftRow, NewFile, NewSend};
use sqlx::Row;

mod support;
use support::pg::{Backend, Store};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn id() -> String {
    careplan_relay::auth::new_id()
}

/// A send of one small file (its bytes are the key; its blob stored first by [`blob_of`])
/// from `from` to each of `to`, at `sent_at`.
fn send(key: &str, from: &str, to: &[&str], sent_at: i64) -> NewSend {
    NewSend {
        id: id(),
        key: key.to_owned(),
        from: from.to_owned(),
        message: key.to_owned(),
        sent_at,
        request_hash: String::new(),
        destinations: to
            .iter()
            .map(|o| {
                (
                    id(),
                    (*o).to_owned(),
                    vec![NewFile {
                        id: id(),
                        name: format!("{key}.pdf"),
                        kind: None,
                        category: "PDF等".into(),
                        csv_version: None,
                        sha256: careplan_relay::auth::sha256_hex(key.as_bytes()),
                        size: key.len() as u64,
                    }],
                )
            })
            .collect(),
    }
}

/// The blob store of `store` (a local folder in its data directory).
fn blobs(store: &Store) -> Blobs {
    Blobs::open(&Default::default(), store.path()).expect("blob store")
}

/// Store `bytes` as a blob the way a relay stores a finished upload (the blob row, then
/// the object): a send or draft may name it only then.
async fn blob_of(db: &Db, blobs: &Blobs, bytes: &[u8]) {
    careplan_relay::blob::store_bytes(
        db,
        blobs,
        &careplan_relay::auth::sha256_hex(bytes),
        bytes.to_vec(),
        1_700_000_000,
    )
    .await
    .expect("blob stored");
}

async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&db.pool)
        .await
        .expect("count")
        .try_get(0)
        .expect("n")
}

const A: &str = "1310000001";
const B: &str = "1310000002";
const C: &str = "1310000003";

/// Concurrent sends are group-committed; a key sent twice at once is stored once and both
/// callers get the same receipt.
fn group_commit_stores_each_key_once(backend: Backend) {
    let store = Store::new(backend);
    rt().block_on(async {
        let db = Db::open(&store.url()).await.expect("open");
        let blobs = blobs(&store);
        for i in 0..20 {
            blob_of(&db, &blobs, format!("k{i}").as_bytes()).await;
        }
        let mut tasks = Vec::new();
        for i in 0..40 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("k{}", i % 20);
                let r = db.insert_send(send(&key, A, &[B], 1_700_000_000 + i)).await;
                (key, r)
            }));
        }
        let mut by_key = HashMap::new();
        for t in tasks {
            let (key, r) = t.await.expect("join");
            let r = r.expect("stored");
            let first = by_key.entry(key).or_insert_with(|| r.send_id.clone());
            assert_eq!(*first, r.send_id, "same key, same receipt");
        }
        assert_eq!(count(&db, "sends").await, 20);
        assert_eq!(count(&db, "transmissions").await, 20);
        assert_eq!(
            count(&db, "files").await,
            20,
            "no orphan rows from rolled-back savepoints"
        );
        db.pool.close().await;
    });
}

/// A send naming a blob whose row is gone (swept meanwhile) is refused and leaves no row,
/// while the sends committed with it (the same batch, two destinations each) are stored
/// whole; a retry of its key after the blob is back is stored.
fn a_send_whose_blob_is_gone_fails_alone(backend: Backend) {
    let store = Store::new(backend);
    rt().block_on(async {
        let db = Db::open(&store.url()).await.expect("open");
        let blobs = blobs(&store);
        for i in 0..10 {
            blob_of(&db, &blobs, format!("g{i}").as_bytes()).await;
        }
        let tasks: Vec<_> = (0..11)
            .map(|i| {
                let db = db.clone();
                // g10 has no blob row.
                tokio::spawn(async move {
                    db.insert_send(send(&format!("g{i}"), A, &[B, C], 1_700_000_000 + i))
                        .await
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.expect("join");
            assert_eq!(r.is_ok(), i < 10, "send g{i}: {:?}", r.err());
        }
        assert_eq!(count(&db, "sends").await, 10);
        assert_eq!(count(&db, "transmissions").await, 20);
        assert_eq!(count(&db, "files").await, 20);
        assert!(db.receipt_for_key(A, "g10").await.expect("q").is_none());
        blob_of(&db, &blobs, b"g10").await;
        db.insert_send(send("g10", A, &[B, C], 1_700_000_100))
            .await
            .expect("stored once its blob is there");
        assert_eq!(count(&db, "files").await, 22);
        db.pool.close().await;
    });
}

/// Walking the received and sent lists page by page gives every row once, newest first,
/// for every page size, with many rows in the same second.
fn pages_walk_every_row_once(backend: Backend) {
    let store = Store::new(backend);
    rt().block_on(async {
        let db = Db::open(&store.url()).await.expect("open");
        // 60 sends in 4 seconds; each to B, every third also to C.
        let blobs = blobs(&store);
        for i in 0..60i64 {
            let to: &[&str] = if i % 3 == 0 { &[B, C] } else { &[B] };
            blob_of(&db, &blobs, format!("s{i}").as_bytes()).await;
            db.insert_send(send(&format!("s{i}"), A, to, 1_700_000_000 + i / 15))
                .await
                .expect("stored");
        }
        // Expected order: newest second first, ids descending within a second.
        let mut expected: Vec<(i64, String)> =
            sqlx::query("SELECT t.sent_at, t.id FROM transmissions t WHERE t.to_office = $1")
                .bind(B)
                .fetch_all(&db.pool)
                .await
                .expect("all")
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        expected.sort_by(|x, y| y.cmp(x));
        assert_eq!(expected.len(), 60);
        for limit in [1, 7, 15, 59, 60, 61, 1000] {
            let mut walked = Vec::new();
            let mut after: Option<Cursor> = None;
            let mut pages = 0;
            loop {
                let page = db.received(B, limit, after.as_ref()).await.expect("page");
                pages += 1;
                assert!(page.rows.len() <= usize::try_from(limit).expect("limit"));
                for (t, files) in &page.rows {
                    assert_eq!(files.len(), 1, "each transmission with its file");
                    assert_eq!(files[0].transmission_id, t.id);
                    walked.push((t.sent_at, t.id.clone()));
                }
                match page.next {
                    Some(c) => {
                        // The cursor survives its opaque form.
                        after = Some(Cursor::decode(&c.encode()).expect("round trip"));
                    }
                    None => break,
                }
            }
            assert_eq!(walked, expected, "received by {limit}");
            assert_eq!(
                pages,
                60_usize.div_ceil(usize::try_from(limit).expect("l")).max(1)
            );
        }
        // The sent list pages by sends, each with all its destinations.
        for limit in [1, 4, 60] {
            let mut sends = Vec::new();
            let mut after: Option<Cursor> = None;
            loop {
                let page = db.sent(A, limit, after.as_ref()).await.expect("page");
                let mut by_send: Vec<(String, usize)> = Vec::new();
                for (t, files) in &page.rows {
                    assert_eq!(files.len(), 1);
                    match by_send.last_mut() {
                        Some((s, n)) if *s == t.send_id => *n += 1,
                        _ => by_send.push((t.send_id.clone(), 1)),
                    }
                }
                assert!(by_send.len() <= usize::try_from(limit).expect("limit"));
                sends.extend(by_send);
                match page.next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            assert_eq!(sends.len(), 60, "sent by {limit}");
            let unique: BTreeSet<&String> = sends.iter().map(|s| &s.0).collect();
            assert_eq!(unique.len(), 60, "every send once");
            assert_eq!(sends.iter().filter(|s| s.1 == 2).count(), 20);
        }
        // Other offices see nothing of it.
        assert!(db.received(A, 10, None).await.expect("p").rows.is_empty());
        assert!(db.sent(B, 10, None).await.expect("p").rows.is_empty());
        db.pool.close().await;
    });
}

/// A page gives back every field as stored: several files per transmission in their order
/// (and a transmission without files), optional fields present and absent, a file's
/// acknowledgement, office names where the office is known, sizes beyond 32 bits, and text
/// that JSON must escape (quotes, backslashes, control characters) or carries as it is
/// (Japanese, emoji).
fn pages_give_back_every_field(backend: Backend) {
    let store = Store::new(backend);
    rt().block_on(async {
        let db = Db::open(&store.url()).await.expect("open");
        let blobs = blobs(&store);
        sqlx::query("INSERT INTO offices (number, name, licence_expires) VALUES ($1, $2, NULL)")
            .bind(B)
            .bind("居宅\"介護\\支援\u{1}")
            .execute(&db.pool)
            .await
            .expect("office");
        let names = [
            "b\"c\\d\n\te\u{7f}\u{1}.csv",
            "計画書😀.PDF",
            "z.csv",
            "a.csv",
        ];
        for n in &names {
            blob_of(&db, &blobs, n.as_bytes()).await;
        }
        let file = |k: usize, csv: bool| NewFile {
            id: id(),
            name: names[k].to_owned(),
            kind: csv.then(|| "UPPLAN".to_owned()),
            category: if csv { "登録" } else { "PDF等" }.to_owned(),
            csv_version: csv.then(|| "202407".to_owned()),
            sha256: careplan_relay::auth::sha256_hex(names[k].as_bytes()),
            size: (5u64 << 40) + k as u64,
        };
        let message = "メッセージ \"引用\" \\ \u{2}\r\n😀".to_owned();
        // To B: four files, in an order that is not the order of their ids or names; to
        // C: one file; to an office that does not exist: none.
        let to_b = vec![file(0, true), file(1, false), file(2, true), file(3, true)];
        let to_c = vec![file(1, false)];
        let s = NewSend {
            id: id(),
            key: "fields".into(),
            from: A.into(),
            message: message.clone(),
            sent_at: 1_700_000_000,
            request_hash: String::new(),
            destinations: vec![
                (id(), B.into(), to_b.clone()),
                (id(), C.into(), to_c.clone()),
                (id(), "1399999999".into(), Vec::new()),
            ],
        };
        db.insert_send(s.clone()).await.expect("stored");
        db.ack(B, &to_b[1].id, 1_700_000_100).await.expect("ack");
        let check = |t: &careplan_relay::mailbox::TransmissionRow,
                     files: &[careplan_relay::mailbox::FileRow],
                     k: usize,
                     want: &[NewFile]| {
            let (tid, to, _) = &s.destinations[k];
            assert_eq!(t.id, *tid);
            assert_eq!(t.send_id, s.id);
            assert_eq!(t.sent_at, s.sent_at);
            assert_eq!(t.from_office, A);
            assert_eq!(t.from_name, "", "A is not registered");
            assert_eq!(t.to_office, *to);
            assert_eq!(
                t.to_name.as_deref(),
                (to == B).then_some("居宅\"介護\\支援\u{1}")
            );
            assert_eq!(t.message, message);
            assert_eq!(files.len(), want.len(), "{to}");
            for (f, w) in files.iter().zip(want) {
                assert_eq!(f.transmission_id, *tid);
                assert_eq!(f.id, w.id, "files in their order");
                assert_eq!(f.name, w.name);
                assert_eq!(f.kind, w.kind);
                assert_eq!(f.category, w.category);
                assert_eq!(f.csv_version, w.csv_version);
                assert_eq!(f.size, i64::try_from(w.size).expect("size"));
                assert_eq!(f.sha256, w.sha256);
                let acked = to == B && f.id == to_b[1].id;
                assert_eq!(f.acquired_at, acked.then_some(1_700_000_100));
            }
        };
        let page = db.received(B, 10, None).await.expect("received");
        assert!(page.next.is_none());
        assert_eq!(page.rows.len(), 1);
        check(&page.rows[0].0, &page.rows[0].1, 0, &to_b);
        let page = db.received(C, 10, None).await.expect("received");
        check(&page.rows[0].0, &page.rows[0].1, 1, &to_c);
        let page = db.sent(A, 10, None).await.expect("sent");
        assert!(page.next.is_none());
        assert_eq!(page.rows.len(), 3, "one row per destination, in order");
        for (k, want) in [&to_b[..], &to_c[..], &[]].into_iter().enumerate() {
            check(&page.rows[k].0, &page.rows[k].1, k, want);
        }
        // A page of one send ends there when no other send follows.
        let page = db.sent(A, 1, None).await.expect("sent");
        assert_eq!(page.rows.len(), 3);
        assert!(page.next.is_none());
        db.pool.close().await;
    });
}

/// The files of a transmission come in their order (`seq`), also when their rows were
/// written in another order, in both lists.
fn files_come_in_their_order(backend: Backend) {
    let store = Store::new(backend);
    rt().block_on(async {
        let db = Db::open(&store.url()).await.expect("open");
        let mut s = send("order", A, &[B], 1_700_000_000);
        s.destinations[0].2.clear();
        let tid = s.destinations[0].0.clone();
        db.insert_send(s).await.expect("stored");
        for seq in [2i64, 0, 3, 1] {
            sqlx::query("INSERT INTO files (id, transmission_id, seq, name, kind, category, csv_version, size, sha256, data, in_store) VALUES ($1, $2, $3, $4, NULL, 'PDF等', NULL, 1, $5, $6, 1)")
                .bind(format!("f{seq}-{}", id()))
                .bind(&tid)
                .bind(seq)
                .bind(format!("{seq}.pdf"))
                .bind(careplan_relay::auth::sha256_hex(b"x"))
                .bind(Vec::<u8>::new())
                .execute(&db.pool)
                .await
                .expect("file row");
        }
        let want = ["0.pdf", "1.pdf", "2.pdf", "3.pdf"];
        let page = db.received(B, 10, None).await.expect("received");
        let names: Vec<&str> = page.rows[0].1.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, want, "received");
        let page = db.sent(A, 10, None).await.expect("sent");
        let names: Vec<&str> = page.rows[0].1.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, want, "sent");
        db.pool.close().await;
    });
}

/// The retention purge removes old sends with their transmissions and files in batches,
/// and nothing newer.
fn purge_in_batches_removes_only_old_sends(backend: Backend) {
    let store = Store::new(backend);
    rt().block_on(async {
        let db = Db::open(&store.url()).await.expect("open");
        let blobs = blobs(&store);
        for i in 0..25i64 {
            blob_of(&db, &blobs, format!("p{i}").as_bytes()).await;
            db.insert_send(send(&format!("p{i}"), A, &[B, C], 1_700_000_000 + i * 100))
                .await
                .expect("stored");
        }
        // sent_at = …000, …100, …, …2400: the 13 before …1250 go, in batches of 4.
        let n = db.purge_batched(1_700_001_250, 4).await.expect("purge");
        assert_eq!(n, 26, "13 sends × 2 destinations");
        assert_eq!(count(&db, "sends").await, 12);
        assert_eq!(count(&db, "transmissions").await, 24);
        assert_eq!(count(&db, "files").await, 24);
        assert!(db.receipt_for_key(A, "p13").await.expect("q").is_some());
        assert!(db.receipt_for_key(A, "p12").await.expect("q").is_none());
        let orphans: i64 = sqlx::query(
            "SELECT COUNT(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM transmissions t WHERE t.id = f.transmission_id)",
        )
        .fetch_one(&db.pool)
        .await
        .expect("orphans")
        .get(0);
        assert_eq!(orphans, 0);
        // Nothing left to purge: a no-op.
        assert_eq!(db.purge(1_700_001_250).await.expect("purge"), 0);
        // The blobs nothing names any more go (rows first, then the bytes: here out of the
        // packs of the local store), the others stay, also when the store is opened again.
        assert!(blobs.packs().is_some(), "small blobs are kept in packs");
        let (_, swept) = careplan_relay::blob::sweep(&db, &blobs, 1_700_000_000 + 10 * 86_400)
            .await
            .expect("sweep");
        assert_eq!(swept, 13);
        let kept = |blobs: Blobs| async move {
            for i in 0..25 {
                let sha = careplan_relay::auth::sha256_hex(format!("p{i}").as_bytes());
                let size = blobs.size(&sha).await.expect("size");
                assert_eq!(size.is_some(), i >= 13, "blob p{i}");
            }
        };
        kept(blobs).await;
        kept(crate::blobs(&store)).await;
        db.pool.close().await;
    });
}

/// A sweep and a send of the same bytes at the same moment: the blob row deleted by the
/// sweep is written again by the send, and the send stores (or finds) the bytes — the
/// sweep must then not delete them under it. After every round, a blob whose row exists
/// has its bytes.
fn a_sweep_never_takes_the_bytes_of_a_send_of_the_same_content(backend: Backend) {
    let store = Store::new(backend);
    rt().block_on(async {
        let db = Db::open(&store.url()).await.expect("open");
        let blobs = blobs(&store);
        let old = 1_700_000_000;
        let now = old + 10 * 86_400;
        for round in 0..400 {
            let bytes = format!("same content {round}").into_bytes();
            let sha = careplan_relay::auth::sha256_hex(&bytes);
            // An orphan: stored long ago, named by nothing.
            careplan_relay::blob::store_bytes(&db, &blobs, &sha, bytes.clone(), old)
                .await
                .expect("orphan");
            let sweep = {
                let (db, blobs) = (db.clone(), blobs.clone());
                tokio::spawn(async move { careplan_relay::blob::sweep(&db, &blobs, now).await })
            };
            // The same bytes again, as an upload stores them: the row, then the object.
            careplan_relay::blob::store_bytes(&db, &blobs, &sha, bytes.clone(), now)
                .await
                .expect("stored again");
            sweep.await.expect("join").expect("sweep");
            let row: i64 = sqlx::query("SELECT COUNT(*) FROM blobs WHERE sha256 = $1")
                .bind(&sha)
                .fetch_one(&db.pool)
                .await
                .expect("row")
                .get(0);
            let size = blobs.size(&sha).await.expect("size");
            assert!(
                row == 0 || size == Some(bytes.len() as u64),
                "round {round}: the blob row is there but its bytes are gone"
            );
        }
        db.pool.close().await;
    });
}

/// Several relays opening one empty database at once: the schema is created and migrated
/// once, and every relay starts.
fn relays_starting_together_migrate_once(backend: Backend) {
    let store = Store::new(backend);
    let url = store.url();
    let rt = rt();
    let opened: Vec<Db> = rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Db::open(&url).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("join").expect("every relay opens the store"));
        }
        out
    });
    rt.block_on(async {
        for db in &opened {
            assert_eq!(
                db.schema_version().await.expect("version"),
                careplan_relay::migrate::CURRENT
            );
        }
        let versions: i64 = sqlx::query("SELECT COUNT(*) FROM schema_version")
            .fetch_one(&opened[0].pool)
            .await
            .expect("count")
            .get(0);
        assert_eq!(versions, 1);
        for db in opened {
            db.pool.close().await;
        }
        // Opening again changes nothing: no index that a later version dropped comes back.
        let db = Db::open(&url).await.expect("reopen");
        let sql = match backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('transmissions_to', 'sends_from', 'transmissions_to_page')"
            }
            Backend::Pg => {
                "SELECT COUNT(*) FROM pg_indexes WHERE indexname IN ('transmissions_to', 'sends_from', 'transmissions_to_page')"
            }
        };
        let n: i64 = sqlx::query(sql)
            .fetch_one(&db.pool)
            .await
            .expect("indexes")
            .get(0);
        assert_eq!(n, 1, "only the page index of version 3");
        db.pool.close().await;
    });
}

/// Drafts saved at once by several terminals never exceed the office's quota.
fn draft_quota_holds_under_concurrency(backend: Backend) {
    let store = Store::new(backend);
    rt().block_on(async {
        let db = Db::open(&store.url()).await.expect("open");
        blob_of(&db, &blobs(&store), b"abc").await;
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    let d = DraftRow {
                        id: format!("d{i}"),
                        saved_at: 1_700_000_000,
                        terminal: format!("端末{i}"),
                        message: String::new(),
                        to_office: None,
                        files: vec![("a.pdf".into(), 3, careplan_relay::auth::sha256_hex(b"abc"))],
                    };
                    // Every save is answered (no "database is locked"), within the quota.
                    db.put_draft(A, &d, 3, 1 << 20)
                        .await
                        .unwrap_or_else(|e| panic!("draft d{i}: {e}"))
                })
            })
            .collect();
        let mut stored = 0;
        for t in tasks {
            match t.await.expect("join") {
                DraftPut::Stored => stored += 1,
                DraftPut::Quota => {}
                DraftPut::Conflict => panic!("no conflict expected"),
                DraftPut::BlobGone => panic!("the blob was stored before"),
            }
        }
        assert_eq!(stored, 3, "exactly the quota");
        assert_eq!(db.drafts(A).await.expect("drafts").len(), 3);
        let files = db.drafts(A).await.expect("drafts")[0].files.clone();
        assert_eq!(files[0].1, 3, "file sizes read back as integers");
        db.pool.close().await;
    });
}

on_both_backends!(
    group_commit_stores_each_key_once,
    a_send_whose_blob_is_gone_fails_alone,
    pages_walk_every_row_once,
    pages_give_back_every_field,
    files_come_in_their_order,
    purge_in_batches_removes_only_old_sends,
    relays_starting_together_migrate_once,
    draft_quota_holds_under_concurrency,
    a_sweep_never_takes_the_bytes_of_a_send_of_the_same_content,
);
