//! Pushed arrivals: the per-office arrival cursor in the database, the in-process hub that
//! wakes long-polls (`GET /api/v1/wait`, `handlers/push.rs`), and the PostgreSQL
//! LISTEN/NOTIFY bridge that wakes them across relay processes.
//!
//! **The database is the truth, the notification only wakes.** A send's commit increments
//! `office_arrivals.seq` of each destination office in the same transaction (in office
//! order, so that two relays committing at once never deadlock). A waiter registers with the
//! hub *before* it reads the cursor, then sleeps until the hub wakes it, its timeout passes
//! or the relay shuts down, and reads the cursor again. A lost wake-up (a PostgreSQL
//! connection that dropped, a NOTIFY while the listener reconnected) costs at most the rest
//! of that wait: the client's next wait compares its cursor with the database at once, and
//! the listener wakes every waiter after it reconnects.
//!
//! Bounds (`[push]` in the configuration, [`PushLimits`]): waiters in all and per office
//! (over either, the wait is refused with `503`/`429` and `Retry-After`), and the longest
//! wait. A waiter is a parked future, not a thread; the hub keeps an entry per office only
//! while somebody waits for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio::sync::watch;

use crate::RelayError;
use crate::db::Db;

/// The PostgreSQL channel of arrivals; the payload is the destination 事業所番号 only.
pub const CHANNEL: &str = "careplan_arrivals";

/// Limits of the long-poll (`[push]` in the configuration file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushLimits {
    /// Waiting long-polls in this relay process (2 048). Each holds one connection, so keep
    /// it under `connections.max_connections` (4 096) to leave room for other requests.
    pub max_waiters: usize,
    /// Waiting long-polls of one office in this process (16: a few PCs per office, each
    /// with one waiting worker).
    pub max_waiters_per_office: usize,
    /// The longest wait a client may ask for, in seconds (60); longer `timeout`s are cut
    /// to it. Load balancers in front of the relay must allow a server answer to take this
    /// long (haproxy `timeout server`).
    pub max_wait_secs: u64,
}

impl Default for PushLimits {
    fn default() -> Self {
        Self {
            max_waiters: 2048,
            max_waiters_per_office: 16,
            max_wait_secs: 60,
        }
    }
}

/// Why a waiter was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `max_waiters` reached.
    Relay,
    /// `max_waiters_per_office` reached for this office.
    Office,
}

/// One office's waiters: the count and the channel that wakes them.
struct Entry {
    wake: watch::Sender<u64>,
    waiters: usize,
}

/// The in-process hub of waiting long-polls, keyed by office.
pub struct Hub {
    offices: Mutex<HashMap<String, Entry>>,
    total: AtomicUsize,
    max_total: AtomicUsize,
    max_per_office: AtomicUsize,
    closed: AtomicBool,
    /// Wake-ups delivered (offices found waiting), for tests and the log.
    wakes: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("waiters", &self.waiters())
            .field("closed", &self.is_closed())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(&PushLimits::default())
    }
}

impl Hub {
    /// A hub with `limits`.
    pub fn new(limits: &PushLimits) -> Self {
        Self {
            offices: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            max_total: AtomicUsize::new(limits.max_waiters.max(1)),
            max_per_office: AtomicUsize::new(limits.max_waiters_per_office.max(1)),
            closed: AtomicBool::new(false),
            wakes: AtomicU64::new(0),
        }
    }

    /// Apply the configured limits (the hub is made with the store, before the
    /// configuration is known).
    pub fn configure(&self, limits: &PushLimits) {
        self.max_total
            .store(limits.max_waiters.max(1), Ordering::Release);
        self.max_per_office
            .store(limits.max_waiters_per_office.max(1), Ordering::Release);
    }

    /// Register a waiter for `office`. Register *before* reading the cursor: a commit after
    /// this call wakes the waiter even if it happens before the waiter sleeps.
    pub fn register(self: &Arc<Self>, office: &str) -> Result<Waiter, Full> {
        let mut m = lock(&self.offices);
        if self.total.load(Ordering::Acquire) >= self.max_total.load(Ordering::Acquire) {
            return Err(Full::Relay);
        }
        let max_office = self.max_per_office.load(Ordering::Acquire);
        let e = m.entry(office.to_owned()).or_insert_with(|| Entry {
            wake: watch::channel(0).0,
            waiters: 0,
        });
        if e.waiters >= max_office {
            return Err(Full::Office);
        }
        e.waiters += 1;
        let rx = e.wake.subscribe();
        self.total.fetch_add(1, Ordering::AcqRel);
        Ok(Waiter {
            hub: self.clone(),
            office: office.to_owned(),
            rx,
        })
    }

    /// Something arrived for these offices (after the commit): wake their waiters.
    pub fn arrived<'a>(&self, offices: impl IntoIterator<Item = &'a str>) {
        let m = lock(&self.offices);
        for o in offices {
            if let Some(e) = m.get(o) {
                e.wake.send_modify(|n| *n = n.wrapping_add(1));
                self.wakes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Wake every waiter so that each reads its cursor again (after notifications may
    /// have been lost).
    pub fn wake_all(&self) {
        for e in lock(&self.offices).values() {
            e.wake.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// The relay is shutting down: every waiter answers now, new waits answer at once.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake_all();
    }

    /// True after [`Hub::close`].
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Waiters now.
    pub fn waiters(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Offices with an entry now (an entry lives only while somebody waits).
    pub fn offices_waited(&self) -> usize {
        lock(&self.offices).len()
    }

    /// Wake-ups delivered to waiting offices so far.
    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }

    /// After [`Hub::close`]: wait until every waiter has answered, at most `grace`.
    pub async fn drained(&self, grace: Duration) {
        let until = tokio::time::Instant::now() + grace;
        while self.waiters() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A registered waiter; leaving (drop) frees its place and the office's entry when it was
/// the last.
pub struct Waiter {
    hub: Arc<Hub>,
    office: String,
    rx: watch::Receiver<u64>,
}

impl Waiter {
    /// Resolves at the next wake-up after registration (or the previous call).
    pub async fn woken(&mut self) {
        if self.rx.changed().await.is_err() {
            // The entry cannot go while we hold a place in it; never resolve spuriously.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut m = lock(&self.hub.offices);
        if let Some(e) = m.get_mut(&self.office) {
            e.waiters = e.waiters.saturating_sub(1);
            if e.waiters == 0 {
                m.remove(&self.office);
            }
        }
        self.hub.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Inside a send's transaction, after its rows: count one arrival for each office (sorted
/// and without repeats, so that concurrent transactions lock the rows in the same order),
/// and on PostgreSQL queue a NOTIFY per office, delivered when the transaction commits.
pub(crate) async fn record_arrivals<E: crate::exec::Exec>(
    e: &mut E,
    offices: &[&str],
) -> Result<(), sqlx::Error> {
    use crate::exec::Arg;
    let mut offices: Vec<&str> = offices.to_vec();
    offices.sort_unstable();
    offices.dedup();
    let pg = e.postgres();
    for o in offices {
        e.execute(
            "INSERT INTO office_arrivals (office, seq) VALUES ($1, 1) \
             ON CONFLICT (office) DO UPDATE SET seq = office_arrivals.seq + 1",
            &[Arg::Text(o)],
        )
        .await?;
        if pg {
            e.execute(
                "SELECT pg_notify($1, $2)",
                &[Arg::Text(CHANNEL), Arg::Text(o)],
            )
            .await?;
        }
    }
    Ok(())
}

impl Db {
    /// The office's arrival cursor: how many sends to it have committed (0 before the
    /// first). Only its changes mean anything.
    pub async fn arrival_cursor(&self, office: &str) -> Result<i64, RelayError> {
        let row = sqlx::query("SELECT seq FROM office_arrivals WHERE office = $1")
            .bind(office)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        })
    }
}

/// Listen for arrivals committed by any relay process on the PostgreSQL at `url` and wake
/// this process's waiters, until `shutdown` turns true. One dedicated connection; when it
/// fails (PostgreSQL restarted, network cut, or a health check that gets no answer within
/// 5 s) it is dropped and made again with a growing pause (0.1 s doubling to 5 s), and
/// every waiter is woken to read its cursor again (notifications may have been lost).
pub async fn listen_pg(url: String, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    use sqlx::postgres::PgListener;
    let mut pause = Duration::from_millis(100);
    let max_pause = Duration::from_secs(5);
    let health_every = Duration::from_secs(30);
    let mut failures: u64 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let connect = async {
            let mut l = PgListener::connect(&url).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let listener = tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(10), connect) => r,
            _ = shutdown.changed() => return,
        };
        let mut listener = match listener {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(60) {
                    tracing::warn!(error = %e, failures, "LISTEN connection failed; retrying");
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
                pause = (pause * 2).min(max_pause);
                continue;
            }
            Err(_) => {
                failures += 1;
                tracing::warn!(failures, "LISTEN connection timed out; retrying");
                continue;
            }
        };
        if failures > 0 {
            tracing::info!(failures, "LISTEN connection back");
        }
        failures = 0;
        pause = Duration::from_millis(100);
        // Whatever was committed while we were away: let every waiter look again.
        hub.wake_all();
        loop {
            let next = tokio::select! {
                r = listener.try_recv() => Some(r),
                _ = tokio::time::sleep(health_every) => None,
                _ = shutdown.changed() => return,
            };
            match next {
                Some(Ok(Some(n))) => hub.arrived([n.payload()]),
                // The connection was lost (and made again by sqlx): notifications may be gone.
                Some(Ok(None)) => hub.wake_all(),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; reconnecting");
                    break;
                }
                None => {
                    // Quiet for a while: make sure the connection is still alive.
                    let ping = sqlx::query("SELECT 1").execute(&mut listener);
                    match tokio::time::timeout(Duration::from_secs(5), ping).await {
                        Ok(Ok(_)) => {}
                        _ => {
                            tracing::warn!("LISTEN connection does not answer; reconnecting");
                            break;
                        }
                    }
                }
            }
        }
        drop(listener);
        hub.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_is_woken_by_its_office_only_and_its_entry_goes_with_it() {
        let hub = Arc::new(Hub::default());
        let mut a = hub.register("1310000001").expect("a");
        let mut b = hub.register("1310000002").expect("b");
        assert_eq!(hub.offices_waited(), 2);
        hub.arrived(["1310000001", "9999999999"]);
        tokio::time::timeout(Duration::from_secs(1), a.woken())
            .await
            .expect("a woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), b.woken())
                .await
                .is_err(),
            "b is not woken by a's arrival"
        );
        drop(a);
        assert_eq!(hub.offices_waited(), 1);
        drop(b);
        assert_eq!(hub.offices_waited(), 0);
        assert_eq!(hub.waiters(), 0);
    }

    #[tokio::test]
    async fn a_wake_before_the_sleep_is_not_lost() {
        let hub = Arc::new(Hub::default());
        let mut w = hub.register("1310000001").expect("w");
        // Arrives between registration and the sleep (while the waiter reads the cursor).
        hub.arrived(["1310000001"]);
        tokio::time::timeout(Duration::from_millis(100), w.woken())
            .await
            .expect("not lost");
    }

    #[test]
    fn limits_in_all_and_per_office() {
        let hub = Arc::new(Hub::new(&PushLimits {
            max_waiters: 3,
            max_waiters_per_office: 2,
            max_wait_secs: 1,
        }));
        let a1 = hub.register("a").expect("a1");
        let _a2 = hub.register("a").expect("a2");
        assert_eq!(hub.register("a").err(), Some(Full::Office));
        let _b1 = hub.register("b").expect("b1");
        assert_eq!(hub.register("c").err(), Some(Full::Relay));
        drop(a1);
        let _c1 = hub.register("c").expect("room again");
    }

    #[tokio::test]
    async fn close_wakes_everyone() {
        let hub = Arc::new(Hub::default());
        let mut w = hub.register("x").expect("w");
        hub.close();
        assert!(hub.is_closed());
        tokio::time::timeout(Duration::from_millis(100), w.woken())
            .await
            .expect("woken by close");
    }
}
