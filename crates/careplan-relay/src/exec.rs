//! Where the statements of a group commit run (`group`): one definition of the writes,
//! two executors.
//!
//! - [`sqlx::AnyConnection`]: PostgreSQL, and SQLite without a file of its own (in memory).
//! - [`SqliteWriter`]: on SQLite, a connection of its own (rusqlite, the same SQLite library
//!   as sqlx's) that the whole batch runs on in one blocking task. Through sqlx every
//!   statement is a round trip to the connection's worker thread (two thread wake-ups);
//!   under load each waited ≈ 150 µs for a CPU, and a batch of 2–3 writes (≈ 8 statements)
//!   held the writer ≈ 1.2 ms before its commit. Here a batch is one hand-over to the
//!   blocking pool and back (docs/performance.md, issue 13).
//!
//! Statements use `$1, $2, …` on both; the rusqlite executor binds them by name.

use std::path::Path;
use std::sync::{Arc, Mutex};

use sqlx::Row;

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
    Bytes(&'a [u8]),
}

/// A column's value, as read by [`Exec::row`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Text(String),
}

fn wrong(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("expected {what}").into())
}

impl Val {
    pub(crate) fn int(&self) -> Result<i64, sqlx::Error> {
        match self {
            Val::Int(v) => Ok(*v),
            _ => Err(wrong("an integer")),
        }
    }
    pub(crate) fn opt_int(&self) -> Result<Option<i64>, sqlx::Error> {
        match self {
            Val::Null => Ok(None),
            v => v.int().map(Some),
        }
    }
    pub(crate) fn text(&self) -> Result<String, sqlx::Error> {
        match self {
            Val::Text(v) => Ok(v.clone()),
            _ => Err(wrong("a text")),
        }
    }
    pub(crate) fn opt_text(&self) -> Result<Option<String>, sqlx::Error> {
        match self {
            Val::Null => Ok(None),
            v => v.text().map(Some),
        }
    }
}

/// The `N` columns of a row read with [`Exec::row`] from a statement of `N` columns; any
/// other count is a bug, refused as an error rather than unwrapped.
pub(crate) fn columns<const N: usize>(row: &[Val]) -> Result<&[Val; N], sqlx::Error> {
    row.try_into()
        .map_err(|_| sqlx::Error::ColumnIndexOutOfBounds {
            index: N.saturating_sub(1),
            len: row.len(),
        })
}

/// Runs the statements of a write.
pub(crate) trait Exec {
    /// PostgreSQL (its `pg_notify` is sent with the arrivals).
    fn postgres(&self) -> bool;
    /// Run `sql`; the number of rows it changed.
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error>;
    /// The first row of `sql` (`None`: no row); integer and text columns.
    async fn row(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Vec<Val>>, sqlx::Error>;
    /// The first row of `sql` whose columns are all integers (`None`: no row).
    async fn ints(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Vec<i64>>, sqlx::Error> {
        self.row(sql, args)
            .await?
            .map(|r| r.iter().map(Val::int).collect())
            .transpose()
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &[Arg<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match *a {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::OptText(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v.to_vec()),
        };
    }
    q
}

impl Exec for sqlx::AnyConnection {
    fn postgres(&self) -> bool {
        self.backend_name() == "PostgreSQL"
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        Ok(bind_all(sqlx::query(sql), args)
            .execute(&mut *self)
            .await?
            .rows_affected())
    }

    async fn row(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Vec<Val>>, sqlx::Error> {
        let Some(row) = bind_all(sqlx::query(sql), args)
            .fetch_optional(&mut *self)
            .await?
        else {
            return Ok(None);
        };
        (0..row.len())
            .map(|i| match row.try_get::<Option<i64>, _>(i) {
                Ok(v) => Ok(v.map_or(Val::Null, Val::Int)),
                Err(_) => Ok(row
                    .try_get::<Option<String>, _>(i)?
                    .map_or(Val::Null, Val::Text)),
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map(Some)
    }
}

/// SQLite's own writer connection for the group commit (see the module's text).
#[derive(Clone)]
pub(crate) struct SqliteWriter(Arc<Mutex<rusqlite::Connection>>);

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteWriter")
    }
}

fn err(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!("SQLite: {e}"))
}

/// A connection of our own to the database file (created and migrated through sqlx
/// already), with the relay's settings ([`crate::db::SQLITE_PRAGMAS`]), then `more`, and
/// room for `cached` prepared statements.
fn connect(file: &Path, more: &[&str], cached: usize) -> Result<rusqlite::Connection, sqlx::Error> {
    let c = rusqlite::Connection::open_with_flags(
        file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    for p in crate::db::SQLITE_PRAGMAS.iter().chain(more) {
        c.execute_batch(&format!("PRAGMA {p};")).map_err(err)?;
    }
    c.set_prepared_statement_cache_capacity(cached);
    Ok(c)
}

impl SqliteWriter {
    /// Open the database file (already created and migrated through sqlx) with the pool's
    /// settings (`synchronous=FULL`: a commit is on disk).
    pub(crate) fn open(file: &Path) -> Result<Self, sqlx::Error> {
        let c = connect(file, &[], 64)?;
        Ok(Self(Arc::new(Mutex::new(c))))
    }

    /// Run `f` in one transaction (`BEGIN IMMEDIATE`) on a blocking thread: committed when
    /// it returns `Ok`, rolled back otherwise. `f` runs the generic (async) write code,
    /// whose statements here complete at once.
    pub(crate) async fn transaction<T, F>(&self, f: F) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn<'_>) -> Result<T, sqlx::Error> + Send + 'static,
    {
        let me = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let guard = me
                .lock()
                .map_err(|_| sqlx::Error::Protocol("SQLite writer poisoned".into()))?;
            guard.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
            let mut conn = Conn(&guard);
            match f(&mut conn) {
                Ok(v) => match guard.execute_batch("COMMIT") {
                    Ok(()) => Ok(v),
                    Err(e) => {
                        let _ = guard.execute_batch("ROLLBACK");
                        Err(err(e))
                    }
                },
                Err(e) => {
                    let _ = guard.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        })
        .await
        .map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

/// The writer connection inside [`SqliteWriter::transaction`].
pub(crate) struct Conn<'a>(&'a rusqlite::Connection);

impl Conn<'_> {
    fn prepare(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<rusqlite::CachedStatement<'_>, sqlx::Error> {
        let mut st = self.0.prepare_cached(sql).map_err(err)?;
        for (i, a) in args.iter().enumerate() {
            // `$n` is a named parameter to SQLite, numbered by first appearance: bound by
            // its name, whatever the order it appears in.
            let Some(idx) = st.parameter_index(&format!("${}", i + 1)).map_err(err)? else {
                continue;
            };
            match *a {
                Arg::Int(v) => st.raw_bind_parameter(idx, v),
                Arg::Text(v) => st.raw_bind_parameter(idx, v),
                Arg::OptText(v) => st.raw_bind_parameter(idx, v),
                Arg::Bytes(v) => st.raw_bind_parameter(idx, v),
            }
            .map_err(err)?;
        }
        Ok(st)
    }
}

impl Exec for Conn<'_> {
    fn postgres(&self) -> bool {
        false
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        let mut st = self.prepare(sql, args)?;
        let n = st.raw_execute().map_err(err)?;
        Ok(n as u64)
    }

    async fn row(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Vec<Val>>, sqlx::Error> {
        use rusqlite::types::ValueRef;
        let mut st = self.prepare(sql, args)?;
        let cols = st.column_count();
        let mut rows = st.raw_query();
        let Some(row) = rows.next().map_err(err)? else {
            return Ok(None);
        };
        (0..cols)
            .map(|i| match row.get_ref(i).map_err(err)? {
                ValueRef::Null => Ok(Val::Null),
                ValueRef::Integer(v) => Ok(Val::Int(v)),
                ValueRef::Text(t) => String::from_utf8(t.to_vec())
                    .map(Val::Text)
                    .map_err(|_| wrong("UTF-8 text")),
                _ => Err(wrong("an integer or a text")),
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map(Some)
    }
}

/// SQLite: connections for the per-request reads by key that run on the request's own
/// thread (a session, an office, an idempotency key: [`crate::db::Db::read_row`]), so that they cost no thread hand-over: a read by key in WAL mode
/// takes microseconds and never waits for the writer. Kept for reuse, at most
/// [`READERS_KEPT`].
pub(crate) struct SqliteReaders {
    file: std::path::PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

/// Reader connections kept between reads (more are opened while more reads run at once).
const READERS_KEPT: usize = 8;

impl std::fmt::Debug for SqliteReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteReaders")
    }
}

impl SqliteReaders {
    pub(crate) fn new(file: &Path) -> Self {
        Self {
            file: file.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<rusqlite::Connection, sqlx::Error> {
        connect(&self.file, &["query_only=1", crate::db::SQLITE_MMAP], 16)
    }

    /// Run `f` (reads only) on a reader connection, on this thread.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Conn<'_>) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let taken = self.idle.lock().ok().and_then(|mut v| v.pop());
        let c = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&mut Conn(&c));
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < READERS_KEPT
        {
            idle.push(c);
        }
        out
    }
}

impl crate::db::Db {
    /// The first row of a read that every request or send asks (a session, an office, an
    /// idempotency key): on SQLite read on the caller's thread ([`SqliteReaders`]), else
    /// through the pool. An answer is noted ([`crate::db::database_answered`]): a request
    /// that then waits in vain for a connection is told the relay is busy, not the database
    /// away.
    pub(crate) async fn read_row(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<Vec<Val>>, sqlx::Error> {
        let row = match &self.sqlite_readers {
            Some(r) => r.read(|c| run_ready(c.row(sql, args))),
            None => {
                let mut conn = self.pool.acquire().await?;
                (*conn).row(sql, args).await
            }
        }?;
        crate::db::database_answered();
        Ok(row)
    }
}

/// Run a future whose awaits all complete at once (the write code on [`Conn`]).
pub(crate) fn run_ready<T>(f: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_executors_bind_dollar_numbers_by_number_whatever_their_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::db::Db::in_dir(dir.path()).await;
        let w = db
            .sqlite_writer
            .clone()
            .expect("a database file has its own writer");
        let sql = "SELECT $2 - $1, $3, $2";
        let args = [Arg::Int(1), Arg::Int(10), Arg::Int(7)];
        let ours = w
            .transaction(move |c| run_ready(c.ints(sql, &args)))
            .await
            .expect("rusqlite");
        let mut conn = db.pool.acquire().await.expect("conn");
        let theirs = (*conn).ints(sql, &args).await.expect("sqlx");
        assert_eq!(ours, Some(vec![9, 7, 10]));
        assert_eq!(ours, theirs);
        // Rows of integers, texts and NULLs, the same from both, and from a reader.
        let sql = "SELECT 'テキスト', NULL, 5, $1";
        let args = [Arg::Text("x")];
        let want = Some(vec![
            Val::Text("テキスト".into()),
            Val::Null,
            Val::Int(5),
            Val::Text("x".into()),
        ]);
        let ours = w
            .transaction(move |c| run_ready(c.row(sql, &args)))
            .await
            .expect("rusqlite");
        assert_eq!(ours, want);
        assert_eq!((*conn).row(sql, &args).await.expect("sqlx"), want);
        let row = want.clone().expect("a row");
        assert_eq!(columns::<4>(&row).expect("four")[2], Val::Int(5));
        assert!(
            columns::<3>(&row).is_err(),
            "a count that is not the statement's"
        );
        let readers = db.sqlite_readers.clone().expect("readers");
        assert_eq!(
            readers
                .read(|c| run_ready(c.row(sql, &args)))
                .expect("reader"),
            want
        );
        // A reader does not write.
        assert!(
            readers
                .read(|c| run_ready(c.execute("DELETE FROM rate_limits", &[])))
                .is_err()
        );
        // No row.
        let none = w
            .transaction(|c| run_ready(c.ints("SELECT 1 WHERE 0", &[])))
            .await
            .expect("rusqlite");
        assert_eq!(none, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_commits_on_ok_and_rolls_back_on_error_visibly_to_the_pool() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::db::Db::in_dir(dir.path()).await;
        let w = db.sqlite_writer.clone().expect("writer");
        let put = |key: &'static str| {
            move |c: &mut Conn<'_>| {
                run_ready(c.execute(
                    "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)",
                    &[Arg::Text(key), Arg::Int(5)],
                ))
            }
        };
        assert_eq!(w.transaction(put("kept")).await.expect("commit"), 1);
        let failed = w
            .transaction(move |c| {
                put("dropped")(c)?;
                Err::<(), _>(sqlx::Error::RowNotFound)
            })
            .await;
        assert!(failed.is_err());
        let keys: Vec<String> = sqlx::query("SELECT key FROM rate_limits ORDER BY key")
            .fetch_all(&db.pool)
            .await
            .expect("read")
            .iter()
            .map(|r| r.try_get(0).expect("key"))
            .collect();
        assert_eq!(keys, ["kept"]);
        // A broken statement is an error, not a panic, and the writer goes on.
        assert!(
            w.transaction(|c| run_ready(c.execute("INSERT INTO nowhere VALUES (1)", &[])))
                .await
                .is_err()
        );
        assert_eq!(w.transaction(put("after")).await.expect("commit"), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_in_memory_database_keeps_its_batches_on_the_pool() {
        let db = crate::db::Db::open("sqlite::memory:").await.expect("open");
        assert!(db.sqlite_writer.is_none());
    }
}
