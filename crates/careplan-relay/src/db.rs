//! The store: SQL kept portable between SQLite (default, embedded) and PostgreSQL (several
//! relays sharing one database), through sqlx's `Any` driver. Times are Unix seconds
//! (`BIGINT`), flags are `BIGINT` 0/1, upserts are `INSERT … ON CONFLICT`, placeholders are
//! `$n` on both; the only backend-specific DDL is the byte type (`BLOB` / `BYTEA`), and the
//! only backend-specific statements are PostgreSQL's advisory locks (migrations, draft
//! quotas) and SQLite's list pages, each one statement writing the page as JSON (`mailbox`;
//! PostgreSQL reads the same pages with portable statements). The same test suites run on
//! both (`tests/support/pg.rs`).
//!
//! SQLite runs in WAL mode with `synchronous=FULL`: a committed transaction is on disk.
//! PostgreSQL commits are durable with its defaults (`fsync`, `synchronous_commit` on).

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};
use std::str::FromStr;
use std::time::Duration;

use crate::RelayError;

/// The database handle.
#[derive(Clone)]
pub struct Db {
    /// The pool (SQLite or PostgreSQL).
    pub pool: AnyPool,
    /// Serializes the big write transactions in this process: SQLite has one writer, and
    /// waiting here is fair and sleep-free, unlike SQLite's busy handler.
    pub writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Writes waiting for the next group commit (`group`).
    pub(crate) queue: std::sync::Arc<std::sync::Mutex<Vec<crate::group::Job>>>,
    /// PostgreSQL (else SQLite).
    pub(crate) postgres: bool,
    /// The waiting long-polls of this process, woken by committed sends (`notify`).
    pub arrivals: std::sync::Arc<crate::notify::Hub>,
    /// SQLite with a file: the group commit's own connection (`exec`).
    pub(crate) sqlite_writer: Option<crate::exec::SqliteWriter>,
    /// SQLite with a file: connections for the reads by key on the request's thread.
    pub(crate) sqlite_readers: Option<std::sync::Arc<crate::exec::SqliteReaders>>,
}

/// The settings of every SQLite connection of the relay (sqlx's pool, the group commit's
/// writer and the per-request readers of `exec`): WAL, commits on disk before they are
/// answered, the same busy timeout, and sorts and temporary tables in memory (no
/// `etilqs_` files in /var/tmp: a create and an unlink each, and office data outside the
/// data folder).
pub(crate) const SQLITE_PRAGMAS: [&str; 4] = [
    "journal_mode=WAL",
    "synchronous=FULL",
    "busy_timeout=10000",
    "temp_store=MEMORY",
];

/// For the connections that read (the pool and the readers): the file's pages read in
/// memory, not a `pread` (a system call and a copy) per 4 KiB page that SQLite's own cache
/// (2 MiB) does not hold — list pages deep in a large store read a few hundred pages
/// (docs/performance.md). Address space only; the kernel's page cache holds the pages
/// either way.
pub(crate) const SQLITE_MMAP: &str = "mmap_size=1073741824";

/// How long a request waits for a PostgreSQL connection (also while the server is away)
/// before it answers `503 E_UNAVAILABLE` (or `503 E_OVERLOADED` when the database answered
/// others meanwhile: [`busy_not_away`]).
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// When a statement last came back from the database, in milliseconds since this process
/// first asked ([`clock_ms`]); 0: never. Written by the reads every request makes (its
/// session check, `Db::read_row`), read when a request could not get a connection in time.
/// One per process: a relay process has one database.
static LAST_ANSWER_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn clock_ms() -> u64 {
    static START: std::sync::LazyLock<std::time::Instant> =
        std::sync::LazyLock::new(std::time::Instant::now);
    u64::try_from(START.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// A statement came back from the database just now.
pub(crate) fn database_answered() {
    LAST_ANSWER_MS.fetch_max(clock_ms(), std::sync::atomic::Ordering::Relaxed);
}

/// True when `e` is a wait for a pooled connection that timed out while the database kept
/// answering other requests' statements: the relay is busy (every connection in use, or its
/// threads starved of CPU), not the database away. Answered `503 E_OVERLOADED`, not
/// `E_UNAVAILABLE` (docs/performance.md, the month-start simulator's long-poll ramp).
pub(crate) fn busy_not_away(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::PoolTimedOut)
        && answered_during_wait(
            LAST_ANSWER_MS.load(std::sync::atomic::Ordering::Relaxed),
            clock_ms(),
        )
}

/// A wait that timed out `now` began [`PG_ACQUIRE_TIMEOUT`] ago: did a statement come back
/// (`last`, 0 = never) in its second half? During an outage none does, so every wait that
/// ends after the database went away is "away" — also one that began just before (its
/// second half is after), which a fault test checks (`tests/cluster.rs`).
fn answered_during_wait(last: u64, now: u64) -> bool {
    let half = u64::try_from(PG_ACQUIRE_TIMEOUT.as_millis()).unwrap_or(u64::MAX) / 2;
    last != 0 && last > now.saturating_sub(half)
}

/// True for database errors that mean "the database is away for a moment" (a retry of the
/// same request will do): no connection in time, the connection broke, the server is
/// shutting down or starting up (SQLSTATE class 57P), a connection exception (class 08)
/// or too many connections (class 53). A failed send is then answered 503 and its retry
/// with the same idempotency key gets the first one's receipt if it did commit.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("57P") || c.starts_with("08") || c.starts_with("53")),
        _ => false,
    }
}

/// Sends removed per transaction by the retention purge: each batch holds the writer for
/// milliseconds, whatever the number of rows to remove.
pub const PURGE_BATCH: i64 = 1_000;

impl Db {
    /// A transaction that reads before it writes (a quota, then the row). On SQLite it
    /// takes the write lock at once (`BEGIN IMMEDIATE`, waiting under the busy timeout):
    /// a deferred transaction that has read cannot upgrade to a write once another
    /// connection wrote meanwhile — even a one-statement write outside the process's
    /// writer lock, such as a session's `last_seen` — and fails with "database is locked".
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        if self.postgres {
            self.pool.begin().await
        } else {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        }
    }

    /// A write transaction that reads before it writes (a quota, then the row), one at a
    /// time per office: on SQLite the process's writer lock first (waiting there is fair),
    /// then a transaction holding the write lock from its start ([`Db::begin_write`]: a
    /// deferred one that reads first could not upgrade to a write while another
    /// connection writes: "database is locked"); on PostgreSQL, where relays share the
    /// database, the advisory lock (`class`, office) that ends with the transaction. Keep
    /// the guard until the transaction is committed.
    pub(crate) async fn begin_office_write(
        &self,
        class: i32,
        office: &str,
    ) -> Result<
        (
            Option<tokio::sync::MutexGuard<'_, ()>>,
            sqlx::Transaction<'static, sqlx::Any>,
        ),
        RelayError,
    > {
        let writer = if self.postgres {
            None
        } else {
            Some(self.writer.lock().await)
        };
        let mut tx = self.begin_write().await?;
        if self.postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind(class)
                .bind(office)
                .execute(&mut *tx)
                .await?;
        }
        Ok((writer, tx))
    }

    /// Open (creating if needed) and migrate.
    pub async fn open(url: &str) -> Result<Self, RelayError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let opts = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            // PostgreSQL away (restart, failover): sqlx keeps trying to connect until this
            // deadline, then the request answers 503 E_UNAVAILABLE instead of hanging for
            // sqlx's default 30 s. A blip shorter than this is only a delay.
            .acquire_timeout(if sqlite {
                Duration::from_secs(30)
            } else {
                PG_ACQUIRE_TIMEOUT
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        for p in SQLITE_PRAGMAS.iter().chain([&SQLITE_MMAP]) {
                            sqlx::query(&format!("PRAGMA {p}"))
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        let mut db = Self {
            pool,
            writer: std::sync::Arc::default(),
            queue: std::sync::Arc::default(),
            postgres: !sqlite,
            arrivals: std::sync::Arc::default(),
            sqlite_writer: None,
            sqlite_readers: None,
        };
        db.migrate(sqlite).await?;
        if sqlite {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
            let file = opts.get_filename();
            // An in-memory database (sqlx names it `file:sqlx-in-memory-…`) is only
            // reachable through the pool: its batches stay on sqlx.
            if !file.to_string_lossy().starts_with("file:") && file.is_file() {
                db.sqlite_writer = Some(crate::exec::SqliteWriter::open(file)?);
                db.sqlite_readers =
                    Some(std::sync::Arc::new(crate::exec::SqliteReaders::new(file)));
            }
        }
        Ok(db)
    }

    /// Add or rename an office.
    pub async fn upsert_office(
        &self,
        number: &str,
        name: &str,
        licence_expires: Option<i64>,
    ) -> Result<(), RelayError> {
        sqlx::query(
            "INSERT INTO offices (number, name, licence_expires) VALUES ($1, $2, $3) \
             ON CONFLICT (number) DO UPDATE SET name = excluded.name, licence_expires = excluded.licence_expires",
        )
        .bind(number)
        .bind(name)
        .bind(licence_expires)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Name and licence expiry of a registered office.
    pub async fn office(&self, number: &str) -> Result<Option<(String, Option<i64>)>, RelayError> {
        // Asked for each destination of every send: read on the caller's thread on SQLite.
        let row = self
            .read_row(
                "SELECT name, licence_expires FROM offices WHERE number = $1",
                &[crate::exec::Arg::Text(number)],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let [name, licence] = crate::exec::columns(&row)?;
        Ok(Some((name.text()?, licence.opt_int()?)))
    }

    /// Every office (number, name, licence expiry).
    pub async fn offices(&self) -> Result<Vec<(String, String, Option<i64>)>, RelayError> {
        let rows = sqlx::query("SELECT number, name, licence_expires FROM offices ORDER BY number")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Add or replace a personal user.
    pub async fn put_personal_user(&self, user: &str, hash: &str) -> Result<(), RelayError> {
        // A replaced user starts afresh: no failures, no lock, enabled.
        sqlx::query(
            "INSERT INTO personal_users (user_id, hash) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, failures = 0, locked_until = 0, disabled = 0",
        )
        .bind(user)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Add or replace an office user.
    pub async fn put_office_user(
        &self,
        user: &str,
        office: &str,
        hash: &str,
        set_at: i64,
        temporary: bool,
    ) -> Result<(), RelayError> {
        sqlx::query(
            "INSERT INTO office_users (user_id, office, hash, password_set_at, temporary) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id) DO UPDATE SET office = excluded.office, hash = excluded.hash, \
               password_set_at = excluded.password_set_at, temporary = excluded.temporary, \
               failures = 0, locked_until = 0, disabled = 0",
        )
        .bind(user)
        .bind(office)
        .bind(hash)
        .bind(set_at)
        .bind(i64::from(temporary))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// (hash, disabled) of a personal user.
    pub async fn personal_user(&self, user: &str) -> Result<Option<(String, bool)>, RelayError> {
        let row = sqlx::query("SELECT hash, disabled FROM personal_users WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get::<i64, _>(1)? != 0)),
            None => None,
        })
    }

    /// Whether an office is disabled (false when it is not registered).
    pub async fn office_disabled(&self, number: &str) -> Result<bool, RelayError> {
        let row = sqlx::query("SELECT disabled FROM offices WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>(0)? != 0,
            None => false,
        })
    }

    /// An office user.
    pub async fn office_user(&self, user: &str) -> Result<Option<OfficeUser>, RelayError> {
        let row = sqlx::query(
            "SELECT office, hash, password_set_at, temporary, disabled FROM office_users WHERE user_id = $1",
        )
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(OfficeUser {
                office: r.try_get(0)?,
                hash: r.try_get(1)?,
                password_set_at: r.try_get(2)?,
                temporary: r.try_get::<i64, _>(3)? != 0,
                disabled: r.try_get::<i64, _>(4)? != 0,
            }),
            None => None,
        })
    }

    /// New password for an office user (not temporary).
    pub async fn set_office_password(
        &self,
        user: &str,
        hash: &str,
        now: i64,
        temporary: bool,
    ) -> Result<bool, RelayError> {
        Ok(sqlx::query(
            "UPDATE office_users SET hash = $1, password_set_at = $2, temporary = $3, failures = 0, locked_until = 0 WHERE user_id = $4",
        )
        .bind(hash)
        .bind(now)
        .bind(i64::from(temporary))
        .bind(user)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// New password for a personal user.
    pub async fn set_personal_password(&self, user: &str, hash: &str) -> Result<bool, RelayError> {
        Ok(sqlx::query(
            "UPDATE personal_users SET hash = $1, failures = 0, locked_until = 0 WHERE user_id = $2",
        )
        .bind(hash)
        .bind(user)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Store a session or pending token (by its hash).
    pub async fn insert_session(&self, s: &Session) -> Result<(), RelayError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, kind, personal_user, office_user, office, created_at, last_seen, cert_fp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.token_hash)
        .bind(&s.kind)
        .bind(&s.personal_user)
        .bind(&s.office_user)
        .bind(&s.office)
        .bind(s.created_at)
        .bind(s.last_seen)
        .bind(&s.cert_fp)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session by token hash.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>, RelayError> {
        let row = sqlx::query(
            "SELECT token_hash, kind, personal_user, office_user, office, created_at, last_seen, cert_fp FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(Session {
                token_hash: r.try_get(0)?,
                kind: r.try_get(1)?,
                personal_user: r.try_get(2)?,
                office_user: r.try_get(3)?,
                office: r.try_get(4)?,
                created_at: r.try_get(5)?,
                last_seen: r.try_get(6)?,
                cert_fp: r.try_get(7)?,
            }),
            None => None,
        })
    }

    /// Mark a session used now.
    pub async fn touch_session(&self, token_hash: &str, now: i64) -> Result<(), RelayError> {
        sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// End a session.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), RelayError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Post a notice.
    pub async fn add_notice(
        &self,
        id: &str,
        posted_at: i64,
        title: &str,
        body: &str,
    ) -> Result<(), RelayError> {
        sqlx::query("INSERT INTO notices (id, posted_at, title, body) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(posted_at)
            .bind(title)
            .bind(body)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Notices, newest first: (id, posted_at, title, body).
    pub async fn notices(&self) -> Result<Vec<(String, i64, String, String)>, RelayError> {
        let rows = sqlx::query(
            "SELECT id, posted_at, title, body FROM notices ORDER BY posted_at DESC, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Delete sends older than `before` with their transmissions and files, in batches of
    /// [`PURGE_BATCH`] sends; returns the transmissions removed.
    pub async fn purge(&self, before: i64) -> Result<u64, RelayError> {
        self.purge_batched(before, PURGE_BATCH).await
    }

    /// [`Db::purge`] with `batch` sends per transaction. Each batch finds its sends through
    /// the index on `sends.sent_at` and their rows through the indexes on
    /// `transmissions.send_id` and `files.transmission_id`: its cost depends on the batch,
    /// not on the size of the store, and writers wait at most one batch.
    pub async fn purge_batched(&self, before: i64, batch: i64) -> Result<u64, RelayError> {
        let batch = batch.max(1);
        let mut total = 0;
        loop {
            // Found outside the write transaction (old sends never change), so that the
            // transaction starts with its first write (no SQLite lock upgrade).
            let ids: Vec<String> =
                sqlx::query("SELECT id FROM sends WHERE sent_at < $1 ORDER BY sent_at LIMIT $2")
                    .bind(before)
                    .bind(batch)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()?;
            if ids.is_empty() {
                break;
            }
            let list = placeholders(1, ids.len());
            let _writer = self.writer.lock().await;
            let mut tx = self.pool.begin().await?;
            let sql = format!(
                "DELETE FROM files WHERE transmission_id IN (SELECT id FROM transmissions WHERE send_id IN ({list}))"
            );
            let mut del = sqlx::query(&sql);
            for id in &ids {
                del = del.bind(id);
            }
            del.execute(&mut *tx).await?;
            let sql = format!("DELETE FROM transmissions WHERE send_id IN ({list})");
            let mut del = sqlx::query(&sql);
            for id in &ids {
                del = del.bind(id);
            }
            total += del.execute(&mut *tx).await?.rows_affected();
            let sql = format!("DELETE FROM sends WHERE id IN ({list})");
            let mut del = sqlx::query(&sql);
            for id in &ids {
                del = del.bind(id);
            }
            del.execute(&mut *tx).await?;
            tx.commit().await?;
            if i64::try_from(ids.len()).unwrap_or(i64::MAX) < batch {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(total)
    }
}

/// `$first, $first+1, …` (`n` placeholders).
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which user table a login step uses.
#[derive(Debug, Clone, Copy)]
pub enum UserTable {
    /// 個人ユーザ.
    Personal,
    /// 事業所ユーザ.
    Office,
}

impl UserTable {
    pub(crate) fn name(self) -> &'static str {
        match self {
            UserTable::Personal => "personal_users",
            UserTable::Office => "office_users",
        }
    }
}

/// An office user row.
#[derive(Debug, Clone)]
pub struct OfficeUser {
    /// Its office.
    pub office: String,
    /// argon2id PHC.
    pub hash: String,
    /// When the password was set.
    pub password_set_at: i64,
    /// A temporary password that must be changed.
    pub temporary: bool,
    /// Disabled by the operator.
    pub disabled: bool,
}

/// A session row: `kind` is `pending` (after step 1) or `session` (after step 2).
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// `pending` or `session`.
    pub kind: String,
    /// 個人ユーザID.
    pub personal_user: String,
    /// 事業所ユーザID (sessions only).
    pub office_user: Option<String>,
    /// The certificate's office.
    pub office: String,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last used.
    pub last_seen: i64,
    /// SHA-256 (hex) of the client certificate that opened the session: the session is
    /// usable only over that certificate.
    pub cert_fp: String,
}

#[cfg(test)]
impl Db {
    /// A database file `t.sqlite3` in `dir`, migrated (unit tests).
    pub(crate) async fn in_dir(dir: &std::path::Path) -> Self {
        Self::open(&crate::config::sqlite_url(&dir.join("t.sqlite3")))
            .await
            .expect("open")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_is_away_is_unavailable_and_a_wrong_query_is_not() {
        let io = |k| sqlx::Error::Io(std::io::Error::from(k));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(is_unavailable(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("x".into())));
        assert!(RelayError::Unavailable("x".into()).is_unavailable());
        assert!(RelayError::Db(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!RelayError::Refused("x".into()).is_unavailable());
    }

    #[test]
    fn a_timed_out_wait_is_busy_only_when_the_database_answered_meanwhile() {
        let waited = u64::try_from(PG_ACQUIRE_TIMEOUT.as_millis()).expect("ms");
        let now = 100_000;
        // Another request's statement came back in the wait's second half: busy.
        assert!(answered_during_wait(now - 10, now));
        assert!(answered_during_wait(now - waited / 2 + 1, now));
        // Nothing came back since (an outage: the database went away at most half a wait
        // after this one began), or never: away.
        assert!(!answered_during_wait(now - waited / 2, now));
        assert!(!answered_during_wait(now - waited + 1, now));
        assert!(!answered_during_wait(now - waited, now));
        assert!(!answered_during_wait(now - 60_000, now));
        assert!(!answered_during_wait(0, now));
        assert!(!answered_during_wait(0, 1));
        // Only a timed-out wait can be "busy"; a broken connection is the database away.
        database_answered();
        assert!(busy_not_away(&sqlx::Error::PoolTimedOut));
        assert!(!busy_not_away(&sqlx::Error::PoolClosed));
        assert!(!busy_not_away(&sqlx::Error::RowNotFound));
        assert!(RelayError::Db(sqlx::Error::PoolTimedOut).is_overloaded());
        assert!(!RelayError::Unavailable("x".into()).is_overloaded());
    }
}
