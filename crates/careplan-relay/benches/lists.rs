//! List pages with a large store, on SQLite and on PostgreSQL side by side: the store is
//! filled with `ROWS` transmissions (default 1 000 000; one send, one transmission and one
//! file each, inserted in bulk by SQL directly, half of them between the two demo offices
//! measured; then vacuumed, analysed and checkpointed), then pages of the received and sent
//! lists are read over real mutual TLS from the real relay, first pages and pages at random
//! depths, and also straight from the store (`Db::received` / `Db::sent`) to separate the
//! database's share. Prints p50/p99 per case; then times acknowledgements of random files
//! (`Db::ack`) and the batched retention purge of 1 % of the rows.
//!
//! `cargo bench -p careplan-relay --bench lists` (env: `ROWS`, `SAMPLES`, `WARMUP` (10 pages
//! per case not counted), `BACKENDS=sqlite,pg`;
//! to run some cases only, e.g. under `valgrind --tool=callgrind` to count the instructions
//! of a page: `PARTS=store,https,ack,purge`, `LISTS=received,sent`, `LIMITS=200,1000`).
//! PostgreSQL runs with fsync on (the tests' server runs with it off).

use std::path::Path;
use std::time::Instant;

use careplan_relay::db::Db;
use careplan_relay::demo::DemoOfficeInfo;
use careplan_relay::embedded::start_demo_on;
use careplan_relay::mailbox::Cursor;
use rand::Rng;
use serde_json::{Value, json};
use sqlx::Row;

#[path = "../tests/support/mod.rs"]
mod support;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// The comma-separated words of env `k` (`default` when unset) include `word`.
fn wanted(k: &str, default: &str, word: &str) -> bool {
    std::env::var(k)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .any(|w| w.trim() == word)
}

/// The page sizes measured (`LIMITS`).
fn limits() -> Vec<i64> {
    [200, 1000]
        .into_iter()
        .filter(|l| wanted("LIMITS", "200,1000", &l.to_string()))
        .collect()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn login(a: &ureq::Agent, url: &str, o: &DemoOfficeInfo) -> String {
    let mut r = a
        .post(&format!("{url}/api/v1/login/personal"))
        .send_json(json!({"user_id": o.personal_user, "password": o.personal_password}))
        .expect("login 1");
    let t: Value = r.body_mut().read_json().expect("json");
    let mut r = a
        .post(&format!("{url}/api/v1/login/office"))
        .header(
            "Authorization",
            &format!("Bearer {}", t["token"].as_str().unwrap_or("")),
        )
        .send_json(json!({"user_id": o.office_user, "password": o.office_password}))
        .expect("login 2");
    let s: Value = r.body_mut().read_json().expect("json");
    s["token"].as_str().unwrap_or("").to_owned()
}

/// Fill the store with `rows` sends (one transmission, one 200-byte file each) over the
/// last ~300 days: even rows from `a` to `b`, odd rows between 5 000 other offices.
async fn fill(db: &Db, postgres: bool, rows: usize, a: &str, b: &str, now: i64) {
    let step = (300 * 86_400 / rows.max(1)).max(1) as i64;
    let base = now - step * rows as i64;
    let chunk = 100_000usize;
    let mut from = 0usize;
    while from < rows {
        let to = (from + chunk).min(rows);
        let (lo, hi) = (from as i64, to as i64 - 1);
        // The same rows on both: ids are hex of a scrambled counter (spread like random
        // ids), times step through the period, destinations alternate.
        let stmts: Vec<String> = if postgres {
            let series = format!("generate_series({lo}, {hi}) AS g(i)");
            let hexid = |p: &str| {
                format!(
                    "'{p}' || lpad(to_hex((i * 2654435761) % 4294967296), 8, '0') || lpad(to_hex(i), 23, '0')"
                )
            };
            vec![
                format!(
                    "INSERT INTO sends (id, idem_key, from_office, message, sent_at, request_hash) SELECT {}, 'k' || i, CASE WHEN i % 2 = 0 THEN '{a}' ELSE '13' || lpad(((i * 7) % 5000)::text, 8, '0') END, 'bench', {base} + i * {step}, '' FROM {series}",
                    hexid("s")
                ),
                format!(
                    "INSERT INTO transmissions (id, send_id, seq, to_office, sent_at, from_office, message) SELECT {}, {}, 0, CASE WHEN i % 2 = 0 THEN '{b}' ELSE '14' || lpad(((i * 13) % 5000)::text, 8, '0') END, {base} + i * {step}, CASE WHEN i % 2 = 0 THEN '{a}' ELSE '13' || lpad(((i * 7) % 5000)::text, 8, '0') END, 'bench' FROM {series}",
                    hexid("t"),
                    hexid("s")
                ),
                format!(
                    "INSERT INTO files (id, transmission_id, seq, name, kind, category, csv_version, size, sha256, data) SELECT {}, {}, 0, 'UPPLAN_' || i || '.CSV', 'UPPLAN', '登録', '202407', 200, repeat('0', 64), decode(repeat('00', 200), 'hex') FROM {series}",
                    hexid("f"),
                    hexid("t")
                ),
            ]
        } else {
            let series = format!(
                "WITH RECURSIVE g(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM g WHERE i < {hi})"
            );
            let hexid =
                |p: &str| format!("'{p}' || printf('%08x%023x', (i * 2654435761) % 4294967296, i)");
            vec![
                format!(
                    "{series} INSERT INTO sends (id, idem_key, from_office, message, sent_at, request_hash) SELECT {}, 'k' || i, CASE WHEN i % 2 = 0 THEN '{a}' ELSE '13' || printf('%08d', (i * 7) % 5000) END, 'bench', {base} + i * {step}, '' FROM g",
                    hexid("s")
                ),
                format!(
                    "{series} INSERT INTO transmissions (id, send_id, seq, to_office, sent_at, from_office, message) SELECT {}, {}, 0, CASE WHEN i % 2 = 0 THEN '{b}' ELSE '14' || printf('%08d', (i * 13) % 5000) END, {base} + i * {step}, CASE WHEN i % 2 = 0 THEN '{a}' ELSE '13' || printf('%08d', (i * 7) % 5000) END, 'bench' FROM g",
                    hexid("t"),
                    hexid("s")
                ),
                format!(
                    "{series} INSERT INTO files (id, transmission_id, seq, name, kind, category, csv_version, size, sha256, data) SELECT {}, {}, 0, 'UPPLAN_' || i || '.CSV', 'UPPLAN', '登録', '202407', 200, printf('%064d', 0), zeroblob(200) FROM g",
                    hexid("f"),
                    hexid("t")
                ),
            ]
        };
        let mut tx = db.pool.begin().await.expect("begin");
        for s in &stmts {
            sqlx::query(s).execute(&mut *tx).await.expect(s);
        }
        tx.commit().await.expect("commit");
        from = to;
    }
    // A settled store, as a relay's is after its first hours: statistics gathered, the
    // bulk insert's visibility work and dirty pages done before the clock starts (otherwise
    // PostgreSQL's autovacuum and checkpointer work through the million new rows during
    // the measured pages).
    let settle: &[&str] = if postgres {
        &["VACUUM (ANALYZE)", "CHECKPOINT"]
    } else {
        &["ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)"]
    };
    for s in settle {
        sqlx::query(s).execute(&db.pool).await.expect(s);
    }
}

/// `n` random rows of a list as cursors (pages starting at random depths), never its oldest
/// row: the page after each cursor holds at least one row, also with a small store.
async fn random_cursors(db: &Db, sql: &str, office: &str, n: usize) -> Vec<Cursor> {
    let mut all: Vec<(i64, String)> = sqlx::query(sql)
        .bind(office)
        .fetch_all(&db.pool)
        .await
        .expect("keys")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    all.sort_unstable();
    let oldest_after = all.len().min(1);
    let all = &all[oldest_after..];
    assert!(!all.is_empty(), "ROWS too small: a list needs two rows");
    let mut rng = rand::rng();
    (0..n)
        .map(|_| {
            let (sent_at, id) = all[rng.random_range(0..all.len())].clone();
            Cursor { sent_at, id }
        })
        .collect()
}

/// Milliseconds since `t`.
fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// One case: for each cursor, the time of the first page (`page(None)`) and of the page
/// after the cursor (`page(Some(c))`), in ms. `warm` pages of each kind come first and are
/// not counted (the cursors are reused from the start for them).
fn first_and_deep(
    keys: &[Cursor],
    warm: usize,
    mut page: impl FnMut(Option<&Cursor>) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let (mut first, mut deep) = (Vec::new(), Vec::new());
    for (i, c) in keys.iter().cycle().take(keys.len() + warm).enumerate() {
        let (a, b) = (page(None), page(Some(c)));
        if i >= warm {
            first.push(a);
            deep.push(b);
        }
    }
    (first, deep)
}

/// `/api/v1/{list}?limit=…` of a page, after the cursor `after` when given.
fn page_path(list: &str, limit: i64, after: Option<&Cursor>) -> String {
    match after {
        Some(c) => format!("/api/v1/{list}?limit={limit}&after={}", c.encode()),
        None => format!("/api/v1/{list}?limit={limit}"),
    }
}

fn report(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "  {label:<44} p50 {:>7.2} ms  p99 {:>7.2} ms  (n={})",
        pct(&ms, 0.5),
        pct(&ms, 0.99),
        ms.len()
    );
}

fn run(backend: &str, database_url: Option<String>, data: &Path, rows: usize, samples: usize) {
    let relay = start_demo_on(
        data,
        "127.0.0.1:0".parse().expect("addr"),
        database_url.clone(),
    )
    .expect("relay");
    let info = relay.demo.clone().expect("demo");
    let (oa, ob) = (info.offices[0].clone(), info.offices[1].clone());
    let url = database_url
        .unwrap_or_else(|| careplan_relay::config::sqlite_url(&data.join("relay.sqlite3")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let db = rt.block_on(Db::open(&url)).expect("open");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let t = Instant::now();
    rt.block_on(fill(
        &db,
        backend == "pg",
        rows,
        &oa.office,
        &ob.office,
        now,
    ));
    let fill_s = t.elapsed().as_secs_f64();
    let total: i64 = rt
        .block_on(sqlx::query("SELECT COUNT(*) FROM transmissions").fetch_one(&db.pool))
        .expect("count")
        .get(0);
    println!(
        "{backend}: {total} transmissions in the store ({} to the measured office), filled in {fill_s:.0} s",
        rows.div_ceil(2)
    );

    let received_keys = rt.block_on(random_cursors(
        &db,
        "SELECT sent_at, id FROM transmissions WHERE to_office = $1",
        &ob.office,
        samples,
    ));
    let sent_keys = rt.block_on(random_cursors(
        &db,
        "SELECT sent_at, id FROM sends WHERE from_office = $1",
        &oa.office,
        samples,
    ));

    // Each case starts with `WARMUP` pages that are not counted ([`first_and_deep`]): the
    // first statements of a database connection pay PostgreSQL's catalog caches and its
    // first plans (up to 19 ms once per connection and statement; a relay's pooled
    // connections pay it once, not per page).
    let warm = env_usize("WARMUP", 10);
    let received = wanted("LISTS", "received,sent", "received");
    let sent = wanted("LISTS", "received,sent", "sent");
    let part = |p: &str| wanted("PARTS", "store,https,ack,purge", p);

    // Straight from the store.
    for limit in limits().into_iter().filter(|_| part("store")) {
        if received {
            let (first, deep) = first_and_deep(&received_keys, warm, |after| {
                let t = Instant::now();
                let p = rt
                    .block_on(db.received(&ob.office, limit, after))
                    .expect("page");
                let took = ms(t);
                if after.is_none() {
                    assert_eq!(p.rows.len(), (limit as usize).min(rows.div_ceil(2)));
                }
                took
            });
            report(&format!("store received, first page of {limit}"), first);
            report(
                &format!("store received, random-depth page of {limit}"),
                deep,
            );
        }
        if sent {
            let (first, deep) = first_and_deep(&sent_keys, warm, |after| {
                let t = Instant::now();
                rt.block_on(db.sent(&oa.office, limit, after))
                    .expect("page");
                ms(t)
            });
            report(&format!("store sent, first page of {limit}"), first);
            report(&format!("store sent, random-depth page of {limit}"), deep);
        }
    }

    // Over mutual TLS from the relay (one keep-alive connection per office).
    if part("https") {
        let ag_b = support::agent(Some(&ob.profile), &info.ca);
        let ag_a = support::agent(Some(&oa.profile), &info.ca);
        let tb = login(&ag_b, &relay.url(), &ob);
        let ta = login(&ag_a, &relay.url(), &oa);
        let get = |ag: &ureq::Agent, token: &str, path: &str| {
            let t = Instant::now();
            let mut r = ag
                .get(&format!("{}{path}", relay.url()))
                .header("Authorization", &format!("Bearer {token}"))
                .call()
                .expect("get");
            assert_eq!(r.status().as_u16(), 200, "{path}");
            let body = r
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .expect("body");
            // A page of at least one row (`[]` would mean the cursor ran off the end).
            assert!(body.len() > 2, "{path}: an empty page");
            ms(t)
        };
        for limit in limits() {
            if received {
                let (first, deep) = first_and_deep(&received_keys, warm, |after| {
                    get(&ag_b, &tb, &page_path("received", limit, after))
                });
                report(&format!("HTTPS received, first page of {limit}"), first);
                report(
                    &format!("HTTPS received, random-depth page of {limit}"),
                    deep,
                );
            }
            if sent {
                let (first, deep) = first_and_deep(&sent_keys, warm, |after| {
                    get(&ag_a, &ta, &page_path("sent", limit, after))
                });
                report(&format!("HTTPS sent, first page of {limit}"), first);
                report(&format!("HTTPS sent, random-depth page of {limit}"), deep);
            }
        }
    }

    // Acknowledgements of random files to the measured office (each its own commit), as
    // `POST /files/{id}/ack` does after its checks: the statement must find the file's
    // transmission by key, not go through every transmission to the office.
    if part("ack") {
        let ids: Vec<String> = rt
            .block_on(
                sqlx::query(
                    "SELECT f.id FROM files f JOIN transmissions t ON t.id = f.transmission_id WHERE t.to_office = $1 ORDER BY random() LIMIT $2",
                )
                .bind(&ob.office)
                .bind(samples as i64)
                .fetch_all(&db.pool),
            )
            .expect("file ids")
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        let mut took = Vec::with_capacity(ids.len());
        for id in &ids {
            let t = Instant::now();
            let acked = rt.block_on(db.ack(&ob.office, id, now)).expect("ack");
            took.push(ms(t));
            assert!(acked.is_some(), "{id} acknowledged");
        }
        report("store acknowledgement of a file (one commit each)", took);
    }

    // Retention: the oldest 1 % of the rows, in batches.
    if part("purge") {
        let step = (300 * 86_400 / rows.max(1)).max(1) as i64;
        let before = now - step * rows as i64 + step * (rows as i64 / 100);
        let t = Instant::now();
        let n = rt.block_on(db.purge(before)).expect("purge");
        let s = t.elapsed().as_secs_f64();
        println!(
            "  retention purge: {n} transmissions in {s:.2} s ({:.0} rows/s, batches of {})",
            n as f64 / s.max(1e-9),
            careplan_relay::db::PURGE_BATCH
        );
    }
    rt.block_on(db.pool.close());
    relay.shutdown();
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let rows = env_usize("ROWS", 1_000_000);
    let samples = env_usize("SAMPLES", 200);
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "sqlite,pg".into());
    println!("lists: {rows} transmissions, {samples} samples per case");
    for backend in backends.split(',') {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            "sqlite" => run("sqlite", None, dir.path(), rows, samples),
            "pg" => {
                let server: &'static support::pg::PgServer =
                    Box::leak(Box::new(support::pg::PgServer::start(true).unwrap_or_else(
                        |e| panic!("PostgreSQL for the bench could not be started: {e}"),
                    )));
                let db = server.create_database();
                run("pg", Some(db.url.clone()), dir.path(), rows, samples);
                drop(db);
                server.stop();
            }
            other => panic!("unknown backend {other} (sqlite, pg)"),
        }
    }
}
