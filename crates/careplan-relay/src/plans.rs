//! SQLite's plans of statements on hot paths. SQLite keeps no statistics unless `ANALYZE`
//! runs, and without them it can prefer a wide index range over a primary key: these tests
//! read `EXPLAIN QUERY PLAN` on a migrated database, so that a rewrite that brings a range
//! scan back fails here rather than in a month-start burst.

use crate::db::Db;

/// The plan's detail lines, joined with "; ".
fn plan(file: &std::path::Path, sql: &str) -> String {
    let c = rusqlite::Connection::open(file).expect("open");
    let mut st = c
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("prepare");
    let unbound = vec![rusqlite::types::Null; st.parameter_count()];
    let rows = st
        .query_map(rusqlite::params_from_iter(unbound), |r| {
            r.get::<_, String>(3)
        })
        .expect("plan")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    rows.join("; ")
}

async fn migrated() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("relay.sqlite3");
    let db = Db::open(&crate::config::sqlite_url(&file))
        .await
        .expect("db");
    drop(db);
    (dir, file)
}

#[tokio::test]
async fn a_send_reads_its_uploads_by_key() {
    let (_dir, file) = migrated().await;
    let p = plan(&file, &crate::blob::uploads_of_sql(3));
    assert!(p.contains("sqlite_autoindex_uploads_1 (id=?)"), "{p}");
    assert!(!p.contains("uploads_office"), "{p}");
}

#[tokio::test]
async fn an_acknowledgement_looks_its_transmission_up_by_key() {
    let (_dir, file) = migrated().await;
    let p = plan(&file, crate::mailbox::ACK_SQL);
    assert!(
        p.contains("SEARCH files USING INDEX sqlite_autoindex_files_1 (id=?)"),
        "{p}"
    );
    assert!(p.contains("sqlite_autoindex_transmissions_1 (id=?)"), "{p}");
    assert!(!p.contains("to_office"), "{p}");
    assert!(!p.contains("LIST SUBQUERY"), "{p}");
}

#[tokio::test]
async fn an_acknowledgement_forgets_nonces_by_index() {
    let (_dir, file) = migrated().await;
    let p = plan(&file, crate::mailbox::DROP_NONCES_SQL);
    assert!(p.contains("download_nonces_file (file_id=?)"), "{p}");
}
