//! Pushed arrivals across relay processes: two relays (each with its own pool, hub and
//! LISTEN connection) on one real PostgreSQL, started by the test itself (Debian's
//! `postgresql` package: initdb + pg_ctl in a temp dir on a free loopback port, run as the
//! unprivileged `postgres` user because the server refuses root). A waiter on relay A is
//! woken by a send through relay B; after PostgreSQL restarts, the LISTEN connection comes
//! back by itself and wakes again. Never skipped: a machine without PostgreSQL fails here
//! with what to install.

use std::time::{Duration, Instant};

use careplan_relay::embedded::start;

mod push_support;
mod support;
use push_support::pg::{Postgres, seed};
use push_support::{Office, config, demo_in, free_addr};

fn serial(n: u32) -> String {
    format!("2025050110{n:04}")
}

/// Wait on `b` (via relay A) while `a` sends through relay B; the answer.
fn woken_across(a_via_b: &Office, b_via_a: &Office, cursor: &str, n: u32) -> serde_json::Value {
    std::thread::scope(|sc| {
        let w = sc.spawn(|| b_via_a.wait(Some(cursor), 20));
        std::thread::sleep(Duration::from_millis(500));
        let (s, v) = a_via_b.send_to(&b_via_a.info, &serial(n));
        assert_eq!(s, 200, "{v}");
        let (s, v, took) = w.join().expect("waiter");
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["arrived"], true, "{v}");
        assert!(
            took < Duration::from_secs(15),
            "woken, not timed out: {took:?}"
        );
        v
    })
}

#[test]
fn a_send_through_one_relay_wakes_a_waiter_on_another() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let demo = demo_in(dir.path(), addr_a);
    seed(&pg.url(), &demo, dir.path());
    let url = pg.url();
    let relay_a = start(config(dir.path(), addr_a, |c| {
        c.database_url = Some(url.clone());
    }))
    .expect("relay A");
    let relay_b = start(config(dir.path(), addr_b, |c| {
        c.database_url = Some(url.clone());
    }))
    .expect("relay B");

    let mut a = Office::new(&demo, 0, addr_b);
    a.login();
    let mut b = Office::new(&demo, 1, addr_a);
    b.login();
    let c0 = b.cursor();
    let v = woken_across(&a, &b, &c0, 1);
    let c1 = v["cursor"].as_str().expect("cursor").to_owned();
    assert_ne!(c1, c0);
    // The session lives in PostgreSQL: B can wait on relay B too (no relay holds it).
    let (s, v, _) = b.via(addr_b).wait(Some(&c1), 0);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["arrived"], false);

    // PostgreSQL goes away abruptly and comes back: the LISTEN connections reconnect by
    // themselves and wake again.
    pg.stop_immediate();
    std::thread::sleep(Duration::from_millis(300));
    pg.restart();
    // The relays' pools and listeners find the server again (a few tries at most).
    let until = Instant::now() + Duration::from_secs(30);
    let c2 = loop {
        let (s, v, _) = b.wait(None, 0);
        if s == 200 {
            break v["cursor"].as_str().expect("cursor").to_owned();
        }
        assert!(Instant::now() < until, "relay A did not recover: {s} {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        c2, c1,
        "the cursor is in the database, it survives a restart"
    );
    // Give the listeners their reconnect pause (0.1 s doubling) before relying on them.
    std::thread::sleep(Duration::from_secs(2));
    let v = woken_across(&a, &b, &c2, 2);
    assert_ne!(v["cursor"].as_str(), Some(c2.as_str()));
    relay_a.shutdown();
    relay_b.shutdown();
}
