//! Benchmark: the time of one send (a 3-file set: 6表 + 7表 + 補足, through the client
//! library) over an office line with a round-trip time, emulated by
//! a proxy on loopback that holds every chunk for half the RTT in each direction (the
//! machine has no `netem`). The real relay (embedded demo, mutual TLS, SQLite) behind it.
//!
//! `cargo bench -p careplan-client --bench send_rtt` (harness = false; env `RTT_MS`
//! (default `0,20,50`), `SENDS` (default 20)). Prints p50 / p90 per RTT. (The client sends a
//! set of small files in one request, `POST /api/v1/send/whole`.)

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use careplan_client::send::SendMode;

#[path = "../tests/relay_support.rs"]
#[allow(dead_code)] // the benches use a part of the tests' support
mod relay_support;

/// Copy `from` → `to`, each chunk delivered `delay` after it was read (order kept; no
/// bandwidth limit).
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}

/// A proxy on loopback to `target` adding `rtt` (half each way); its address.
fn delaying_proxy(target: SocketAddr, rtt: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let Ok(up) = TcpStream::connect(target) else {
                continue;
            };
            let _ = (c.set_nodelay(true), up.set_nodelay(true));
            let (c2, up2) = (
                c.try_clone().expect("clone"),
                up.try_clone().expect("clone"),
            );
            std::thread::spawn(move || pump(c, up, rtt / 2));
            std::thread::spawn(move || pump(up2, c2, rtt / 2));
        }
    });
    addr
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let rtts: Vec<u64> = std::env::var("RTT_MS")
        .unwrap_or_else(|_| "0,20,50".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let sends: usize = std::env::var("SENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let relay = relay_support::Relay::start();
    println!("send_rtt: {sends} sends of a 3-file set per RTT, one office, the real relay");
    for rtt in rtts {
        let proxy = delaying_proxy(relay.addr(), Duration::from_millis(rtt));
        // The same relay and offices, reached through the proxy.
        let mut line = relay_support::Relay::start_detached(&relay);
        line.url = format!("https://localhost:{}", proxy.port());
        let store = tempfile::tempdir().expect("store");
        let c = line.login(0, store.path(), "A-1");
        let mut ms = Vec::with_capacity(sends);
        for s in 0..sends {
            let set = relay.plan_set(0, 1, &format!("2026110109{:02}{:02}", rtt % 60, s % 60));
            let plan = c
                .prepare_send(
                    relay_support::outgoing(&set),
                    "",
                    &SendMode::Single { to: None },
                )
                .expect("plan");
            let t = Instant::now();
            c.send(&plan, true).expect("send");
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "  RTT {rtt:>3} ms: send p50 {:.1} ms, p90 {:.1} ms ({:.1} RTTs at p50)",
            pct(&ms, 0.5),
            pct(&ms, 0.9),
            if rtt > 0 {
                pct(&ms, 0.5) / rtt as f64
            } else {
                0.0
            }
        );
    }
}
