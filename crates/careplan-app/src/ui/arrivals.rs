//! The waiting worker: while an office is logged in, one thread holds a long-poll on the
//! relay (`Client::wait_for_arrivals`) and tells the UI when something arrived, so that
//! 受信一覧 refreshes by itself instead of waiting for 「更新」.
//!
//! It is not a [`super::jobs::Jobs`] job: it runs for the whole session, so it must not
//! count as work in progress (the kiosk lock waits for jobs to finish; nothing would ever
//! lock). It sends [`Msg::Arrived`] only when something arrived: an idle session paints
//! nothing. Errors are not shown: offline or a busy relay, it waits (2 s doubling to 60 s;
//! at least 30 s after 429/503) and tries again with the same cursor, so nothing that
//! arrived meanwhile is missed; an ended session or another protocol version stops it (the
//! next thing the user does shows why).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use careplan_client::{Client, ClientError};

use super::jobs::Msg;

/// How long one wait lasts (under the 60 s of common proxies and load balancers).
pub(crate) const WAIT: Duration = Duration::from_secs(25);

/// The running waiter of a session; dropping it stops the thread (at the latest when its
/// current wait returns).
pub(crate) struct ArrivalWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::Thread,
}

impl Drop for ArrivalWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// The pause after the `n`-th failure in a row (1-based) and the error.
pub(crate) fn backoff(n: u32, e: &ClientError) -> Duration {
    let base = Duration::from_secs(2)
        .saturating_mul(1u32 << n.saturating_sub(1).min(5))
        .min(Duration::from_secs(60));
    match e {
        ClientError::Relay { status, .. } if *status == 429 || *status == 503 => {
            base.max(Duration::from_secs(30))
        }
        _ => base,
    }
}

/// Whether the waiter gives up on this error (the session or the protocol is gone).
fn fatal(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::SessionExpired
            | ClientError::Incompatible { .. }
            | ClientError::CertificateRejected { .. }
            | ClientError::ServerNotTrusted { .. }
    )
}

/// Start waiting for `client`'s office; `send` hands [`Msg::Arrived`] to the UI.
pub(crate) fn start(client: Client, send: impl Fn(Msg) + Send + 'static) -> Option<ArrivalWatch> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("careplan-arrivals".into())
        .spawn(move || run(&client, &stopped, &send));
    match spawned {
        Ok(h) => Some(ArrivalWatch {
            stop,
            thread: h.thread().clone(),
        }),
        Err(e) => {
            tracing::error!(error = %e, "could not start the arrivals waiter");
            None
        }
    }
}

fn run(client: &Client, stop: &AtomicBool, send: &dyn Fn(Msg)) {
    let mut cursor: Option<String> = None;
    let mut failures = 0u32;
    while !stop.load(Ordering::Acquire) {
        match client.wait_for_arrivals(cursor.as_deref(), WAIT) {
            Ok(a) => {
                failures = 0;
                cursor = Some(a.cursor);
                if a.arrived && !stop.load(Ordering::Acquire) {
                    send(Msg::Arrived);
                }
            }
            Err(e) if fatal(&e) => {
                tracing::info!(code = %e.code(), "arrivals waiter stopped");
                return;
            }
            Err(e) => {
                if e.code() == "E_BAD_CURSOR" {
                    cursor = None;
                }
                failures = failures.saturating_add(1);
                let pause = backoff(failures, &e);
                tracing::debug!(code = %e.code(), pause_s = pause.as_secs(), "arrivals wait failed");
                let until = Instant::now() + pause;
                while !stop.load(Ordering::Acquire) {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    std::thread::park_timeout(left);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_minute_and_waits_longer_when_the_relay_is_full() {
        let off = ClientError::Unreachable {
            url: "https://relay".into(),
            detail: "refused".into(),
        };
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n, &off).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 60, 60, 60]);
        let busy = ClientError::Relay {
            status: 503,
            code: "E_BUSY".into(),
            message: String::new(),
        };
        assert_eq!(backoff(1, &busy).as_secs(), 30);
        assert!(fatal(&ClientError::SessionExpired));
        assert!(!fatal(&off));
    }
}
