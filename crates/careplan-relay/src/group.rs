//! Group commit: the small write transactions of the send path (upload opens and
//! completions, rate counters, sends) of concurrent requests are committed together, one
//! transaction and so one `fsync` of SQLite's WAL for the whole batch. Every request is
//! answered only after the transaction holding its write has committed: durability is that
//! of one commit per request (`synchronous=FULL`), the fsyncs are shared.
//!
//! How: a request queues its [`Write`], then waits for the process's writer lock; whoever
//! gets the lock takes the whole queue (its own write and everything that queued while the
//! previous batch was committing) and commits it in its own task (a client that disconnects
//! cannot cancel the commit for the others). A request whose write an earlier holder took
//! just waits for that batch's answer.
//!
//! Inside a batch, a send runs in its own savepoint (a concurrent retry of the same
//! idempotency key fails only that send); the other writes are one statement, or a read
//! and a statement (an upload's quota), and an error fails only that write. The batch
//! starts with `BEGIN IMMEDIATE` on SQLite (the quota reads before it writes).
//!
//! On PostgreSQL, where several relays share the database and the server already shares
//! WAL flushes between concurrent commits, only sends are batched (as before); the other
//! writes run in their own transaction as they come (an upload's open takes the office's
//! advisory lock: locks of several offices in one batch could deadlock against another
//! relay's batch).

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::RelayError;
use crate::blob::{Opened, Upload};
use crate::db::Db;
use crate::exec::{Arg, Exec};
use crate::mailbox::NewSend;

/// A write waiting for the next group commit.
#[derive(Debug)]
pub(crate) enum Write {
    /// A send and all its rows.
    Send(Arc<NewSend>),
    /// Open an upload session (quota, blob row, upload row).
    OpenUpload(OpenUpload),
    /// A whole upload arrived in one part and its blob is stored: mark it complete if it
    /// still stands at offset 0.
    CompleteWhole {
        /// Upload id.
        id: String,
        /// Its size.
        size: u64,
        /// CSVバージョン.
        csv_version: Option<String>,
    },
    /// Count one hit of a rate limit.
    RateHit {
        /// Counter.
        key: String,
        /// Unix seconds.
        now: i64,
        /// Window (seconds).
        window: i64,
        /// Hits allowed per window.
        max: i64,
        /// Blob rows to write (before their objects) when the hit is within the limit: the
        /// files of a send whole in one request (`POST /api/v1/send/whole`).
        blobs: Vec<(String, u64)>,
    },
}

/// The parameters of an upload's open.
#[derive(Debug)]
pub(crate) struct OpenUpload {
    pub office: String,
    pub size: u64,
    pub sha256: String,
    pub now: i64,
    pub ttl: i64,
    pub max_open: i64,
    /// Opened complete (a whole upload whose bytes arrived and were checked, its
    /// CSVバージョン): the session's id is given to the client only once its blob is
    /// stored, so nothing can name it before (`handlers/uploads::put_whole`).
    pub complete: Option<Option<String>>,
}

/// What a committed write did.
#[derive(Debug)]
pub(crate) enum Done {
    /// The send was stored (false: its savepoint was rolled back, e.g. its key was taken).
    Send(bool),
    /// The upload's open.
    Opened(Opened),
    /// Whether the row changed.
    Updated(bool),
    /// `Some(seconds to wait)` when the limit was exceeded.
    Rate(Option<i64>),
}

/// Why a write was not committed: its own statement failed (the others of the batch went
/// on), or the batch failed (its message, and whether the database was away).
#[derive(Debug)]
pub(crate) enum Failed {
    Own(sqlx::Error),
    Batch(String, bool),
}

impl From<Failed> for RelayError {
    fn from(f: Failed) -> Self {
        match f {
            Failed::Own(e) => RelayError::Db(e),
            Failed::Batch(m, true) => RelayError::Unavailable(m),
            Failed::Batch(m, false) => RelayError::Io(std::io::Error::other(m)),
        }
    }
}

/// A queued write and where its outcome goes.
pub(crate) type Job = (Write, oneshot::Sender<Result<Done, Failed>>);

/// Armed while a request's write is queued and not yet taken: dropped armed (the request
/// was cancelled), it has a task take the lock and commit the queue.
struct Orphaned(Option<Db>);

impl Orphaned {
    /// The write was taken (or is being taken now, with the lock): nothing to do on drop.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Orphaned {
    fn drop(&mut self) {
        if let (Some(db), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let guard = db.writer.clone().lock_owned().await;
                db.commit_queued(guard);
            });
        }
    }
}

/// A queued write's answer; its batch's task gone without one is a failed write.
fn answer(r: Result<Result<Done, Failed>, oneshot::error::RecvError>) -> Result<Done, Failed> {
    r.unwrap_or_else(|_| Err(Failed::Batch("保存できませんでした。".into(), false)))
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Db {
    /// Commit `w` (with whatever else is queued) and answer once it is durable.
    pub(crate) async fn write(&self, w: Write) -> Result<Done, Failed> {
        if self.postgres && !matches!(w, Write::Send(_)) {
            return self.write_alone(w).await;
        }
        let (done_tx, done_rx) = oneshot::channel();
        self.queue
            .lock()
            .map_err(|_| Failed::Batch("書き込みキューが壊れています。".into(), false))?
            .push((w, done_tx));
        // Whichever comes first: the answer (an earlier holder of the lock took this write
        // and committed it) or the lock. Waiting for the lock alone made every request pass
        // through it in turn even when its write was long committed: with 50 clients the
        // lock went from waiter to waiter, each an empty batch and a wake-up, and a write
        // waited ~25 ms for batches that took ~1 ms (docs/performance.md, "The writer
        // lock's convoy"). A request dropped while it waits here (its client went away)
        // has a task commit the queue (`Orphaned`): its write never waits for a later one.
        let orphaned = Orphaned(Some(self.clone()));
        let mut done_rx = done_rx;
        let first = tokio::select! {
            biased;
            r = &mut done_rx => Err(r),
            g = self.writer.clone().lock_owned() => Ok(g),
        };
        orphaned.disarm();
        match first {
            Err(r) => return answer(r),
            Ok(guard) => self.commit_queued(guard),
        }
        answer(done_rx.await)
    }

    /// With the writer lock: commit whatever is queued (in a task of its own, so that no
    /// request's cancellation can stop it; the lock is released after the commit). Nothing
    /// queued: an earlier holder took it all, the lock is released at once.
    fn commit_queued(&self, guard: tokio::sync::OwnedMutexGuard<()>) {
        let batch: Vec<Job> = match self.queue.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => Vec::new(),
        };
        if batch.is_empty() {
            return;
        }
        let db = self.clone();
        tokio::spawn(async move {
            db.commit_batch(batch).await;
            drop(guard);
        });
    }

    /// One write in its own transaction (PostgreSQL).
    async fn write_alone(&self, w: Write) -> Result<Done, Failed> {
        let res = async {
            match &w {
                // The quota is read, then written: opens of one office run one at a time.
                Write::OpenUpload(o) => {
                    let (_writer, mut tx) = self
                        .begin_office_write(727276, &o.office)
                        .await
                        .map_err(|e| match e {
                            RelayError::Db(e) => e,
                            e => sqlx::Error::Protocol(e.to_string()),
                        })?;
                    let done = run(&mut *tx, &w).await?;
                    if matches!(done, Done::Opened(Opened::Quota)) {
                        tx.rollback().await?;
                    } else {
                        tx.commit().await?;
                    }
                    Ok(done)
                }
                // The rate's counter and the blob rows of a send in one request: one
                // transaction, one WAL flush (not one per statement).
                Write::RateHit { blobs, .. } if !blobs.is_empty() => {
                    let mut tx = self.pool.begin().await?;
                    let done = run(&mut *tx, &w).await?;
                    tx.commit().await?;
                    Ok(done)
                }
                // One statement: no transaction needed.
                _ => {
                    let mut conn = self.pool.acquire().await?;
                    run(&mut *conn, &w).await
                }
            }
        }
        .await;
        res.map_err(Failed::Own)
    }

    /// One transaction for a batch; answers every job.
    async fn commit_batch(&self, batch: Vec<Job>) {
        let n = batch.len();
        let (writes, dones): (Vec<Write>, Vec<_>) = batch.into_iter().unzip();
        let res = match &self.sqlite_writer {
            // SQLite with its file: the whole batch in one blocking task (`exec`).
            Some(w) => {
                w.transaction(move |c| crate::exec::run_ready(batch_body(c, &writes)))
                    .await
            }
            None => {
                async {
                    let mut tx = self.begin_write().await?;
                    let r = batch_body(&mut *tx, &writes).await?;
                    tx.commit().await?;
                    Ok(r)
                }
                .await
            }
        };
        match res {
            Ok((out, arrived)) => {
                self.arrivals.arrived(arrived.iter().map(String::as_str));
                if n > 1 {
                    tracing::debug!(writes = n, "group commit");
                }
                for (done, r) in dones.into_iter().zip(out) {
                    let _ = done.send(r.map_err(Failed::Own));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = n, "group commit failed");
                let msg = e.to_string();
                let away = crate::db::is_unavailable(&e);
                for done in dones {
                    let _ = done.send(Err(Failed::Batch(msg.clone(), away)));
                }
            }
        }
    }
}

/// Outcomes of a batch's writes, and the offices a committed send arrived at.
type BatchOut = (Vec<Result<Done, sqlx::Error>>, Vec<String>);

/// The statements of a batch inside its transaction: each write in turn (a send in its own
/// savepoint: a concurrent retry of the same idempotency key fails only that send), then
/// the destinations' arrival cursors (`notify`).
async fn batch_body<E: Exec>(e: &mut E, writes: &[Write]) -> Result<BatchOut, sqlx::Error> {
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        let r = match w {
            Write::Send(s) => {
                e.execute("SAVEPOINT send", &[]).await?;
                match crate::mailbox::insert_rows(e, s).await {
                    Ok(()) => {
                        e.execute("RELEASE SAVEPOINT send", &[]).await?;
                        Ok(Done::Send(true))
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "send not stored (savepoint rolled back)");
                        e.execute("ROLLBACK TO SAVEPOINT send", &[]).await?;
                        e.execute("RELEASE SAVEPOINT send", &[]).await?;
                        Ok(Done::Send(false))
                    }
                }
            }
            other => run(e, other).await,
        };
        out.push(r);
    }
    let arrived: Vec<String> = writes
        .iter()
        .zip(&out)
        .filter_map(|(w, r)| match (w, r) {
            (Write::Send(s), Ok(Done::Send(true))) => Some(s),
            _ => None,
        })
        .flat_map(|s| s.destinations.iter().map(|d| d.1.clone()))
        .collect();
    if !arrived.is_empty() {
        let offices: Vec<&str> = arrived.iter().map(String::as_str).collect();
        crate::notify::record_arrivals(e, &offices).await?;
    }
    Ok((out, arrived))
}

/// The statements of one write (not a send) inside the batch's transaction.
async fn run<E: Exec>(e: &mut E, w: &Write) -> Result<Done, sqlx::Error> {
    match w {
        // A send runs only in `batch_body`, in its own savepoint.
        Write::Send(_) => Err(sqlx::Error::Protocol(
            "a send is written in its batch's savepoint".into(),
        )),
        Write::OpenUpload(o) => {
            let n = e
                .ints(
                    "SELECT COUNT(*) FROM uploads WHERE office = $1 AND created_at >= $2",
                    &[Arg::Text(&o.office), Arg::Int(o.now - o.ttl)],
                )
                .await?
                .and_then(|r| r.first().copied())
                .unwrap_or(0);
            if n >= o.max_open {
                return Ok(Done::Opened(Opened::Quota));
            }
            crate::blob::touch_blob(e, &o.sha256, o.size, o.now).await?;
            let id = crate::auth::new_id();
            let received = if o.complete.is_some() { o.size } else { 0 };
            let csv_version = o.complete.clone().flatten();
            e.execute(
                "INSERT INTO uploads (id, office, size, sha256, received, parts, complete, csv_version, created_at) VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8)",
                &[
                    Arg::Text(&id),
                    Arg::Text(&o.office),
                    Arg::Int(i(o.size)),
                    Arg::Text(&o.sha256),
                    Arg::Int(i(received)),
                    Arg::Int(i64::from(o.complete.is_some())),
                    Arg::OptText(csv_version.as_deref()),
                    Arg::Int(o.now),
                ],
            )
            .await?;
            Ok(Done::Opened(Opened::Upload(Upload {
                id,
                office: o.office.clone(),
                size: o.size,
                sha256: o.sha256.clone(),
                received,
                parts: Vec::new(),
                complete: o.complete.is_some(),
                csv_version,
                created_at: o.now,
            })))
        }
        Write::CompleteWhole {
            id,
            size,
            csv_version,
        } => {
            let n = e
                .execute(
                    "UPDATE uploads SET received = $1, parts = '', complete = 1, csv_version = $2 WHERE id = $3 AND received = 0 AND complete = 0",
                    &[
                        Arg::Int(i(*size)),
                        Arg::OptText(csv_version.as_deref()),
                        Arg::Text(id),
                    ],
                )
                .await?;
            Ok(Done::Updated(n == 1))
        }
        Write::RateHit {
            key,
            now,
            window,
            max,
            blobs,
        } => {
            let row = e
                .ints(
                    "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
                     ON CONFLICT (key) DO UPDATE SET \
                       count = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.count + 1 END, \
                       window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 ELSE rate_limits.window_start END \
                     RETURNING count, window_start",
                    &[Arg::Text(key), Arg::Int(*now), Arg::Int(now - window)],
                )
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            let (count, start) = match row[..] {
                [c, s] => (c, s),
                _ => return Err(sqlx::Error::RowNotFound),
            };
            if count > *max {
                return Ok(Done::Rate(Some((start + window - now).max(1))));
            }
            for (sha256, size) in blobs {
                crate::blob::touch_blob(e, sha256, *size, *now).await?;
            }
            Ok(Done::Rate(None))
        }
    }
}

/// A write's outcome of the wrong kind (a bug): refused rather than unwrapped.
pub(crate) fn unexpected() -> RelayError {
    RelayError::Io(std::io::Error::other("unexpected write outcome"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(key: &str) -> Write {
        Write::RateHit {
            key: key.into(),
            now: 1_000,
            window: 3_600,
            max: 10,
            blobs: Vec::new(),
        }
    }

    /// A request cancelled while its write waits in the queue: the write is still
    /// committed once the lock is free, without another write coming to take it.
    #[tokio::test]
    async fn a_write_whose_request_is_dropped_is_still_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::in_dir(dir.path()).await;
        let held = db.writer.clone().lock_owned().await;
        let w = {
            let db = db.clone();
            tokio::spawn(async move { db.write(hit("rate:gone")).await })
        };
        while db.queue.lock().expect("queue").is_empty() {
            tokio::task::yield_now().await;
        }
        w.abort();
        assert!(w.await.expect_err("cancelled").is_cancelled());
        drop(held);
        let count = || async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM rate_limits WHERE key = 'rate:gone'")
                .fetch_one(&db.pool)
                .await
                .expect("count")
        };
        let t = std::time::Instant::now();
        while count().await == 0 {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(30),
                "the dropped request's write was never committed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(db.queue.lock().expect("queue").is_empty());
    }

    /// A write that another request's batch took and committed is answered at once, without
    /// its own turn at the writer lock: here the lock is never free again after that batch.
    #[tokio::test]
    async fn a_write_committed_by_another_batch_does_not_wait_for_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::in_dir(dir.path()).await;
        let held = db.writer.clone().lock_owned().await;
        let writes: Vec<_> = ["rate:a", "rate:b"]
            .into_iter()
            .map(|k| {
                let db = db.clone();
                tokio::spawn(async move { db.write(hit(k)).await })
            })
            .collect();
        // Both queued (and waiting for the lock the test holds).
        while db.queue.lock().expect("queue").len() < 2 {
            tokio::task::yield_now().await;
        }
        // The holder of the lock commits the queue, as a request that got the lock does,
        // and keeps the lock.
        let batch = std::mem::take(&mut *db.queue.lock().expect("queue"));
        db.commit_batch(batch).await;
        for w in writes {
            let done = tokio::time::timeout(std::time::Duration::from_secs(30), w)
                .await
                .expect("answered while the lock is still held")
                .expect("task");
            assert!(matches!(done, Ok(Done::Rate(None))), "{done:?}");
        }
        drop(held);
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rate_limits WHERE key LIKE 'rate:%'")
            .fetch_one(&db.pool)
            .await
            .expect("count");
        assert_eq!(n, 2);
    }
}
