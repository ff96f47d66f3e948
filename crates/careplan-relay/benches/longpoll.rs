//! Long-poll benchmark (`GET /api/v1/wait`), with the relay in its own process (the
//! `careplan-relay serve` binary) and the clients in this one:
//!
//! 1. **Memory**: the relay's RSS (`/proc/<pid>/status` VmRSS) before and after `WAITERS`
//!    (2 000) long-polls are held open at once, each on its own mutual-TLS connection
//!    (tokio + tokio-rustls here, so holding them costs this process no thread each);
//!    reported as the delta per connection. Then one send per office wakes them all:
//!    the time until every waiter has its answer (fan-out).
//! 2. **Wake-up latency**, `WAKES` (200) times: one office waits, another sends to it; the
//!    time from the start of the send to the waiter's answer (p50/p99), on one relay
//!    (SQLite), and across two relay processes on one PostgreSQL (waiter on relay A,
//!    sender on relay B: the wake goes through LISTEN/NOTIFY). `PG=0` skips the second.
//!
//! `cargo bench -p careplan-relay --bench longpoll` (env: `WAITERS`, `WAKES`, `PG`).
//! Figures: `docs/performance.md`.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use careplan_relay::Config;
use careplan_relay::demo::{DemoInfo, DemoOfficeInfo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../tests/push_support/mod.rs"]
mod push_support;
use push_support::{Office, config, demo_in, free_addr};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A relay process serving `cfg`; killed when dropped.
struct RelayProcess(Child);

impl RelayProcess {
    fn start(cfg: &Config, name: &str) -> Self {
        let path = cfg.data_dir.join(format!("{name}.toml"));
        std::fs::write(&path, toml::to_string_pretty(cfg).expect("toml")).expect("config");
        let child = Command::new(env!("CARGO_BIN_EXE_careplan-relay"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("start careplan-relay");
        let until = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(cfg.listen).is_err() {
            assert!(Instant::now() < until, "relay did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child)
    }

    fn rss_kib(&self) -> u64 {
        let s =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Limits that let one bench machine hold many waiters of a few demo offices.
fn roomy(c: &mut Config, waiters: usize) {
    c.push.max_waiters = waiters + 100;
    c.push.max_waiters_per_office = waiters + 100;
    c.push.max_wait_secs = 120;
    c.connections.max_connections = waiters * 2 + 100;
    c.connections.max_connections_per_peer = waiters * 2 + 100;
    c.connections.idle_timeout_secs = 300;
}

/// rustls (ring) with the office's certificate, trusting the demo CA.
fn tls_config(demo: &DemoInfo, o: &DemoOfficeInfo) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&demo.ca).expect("ca") {
        roots.add(c.expect("ca pem")).expect("ca cert");
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(o.profile.join("client.crt"))
            .expect("client cert")
            .collect::<Result<_, _>>()
            .expect("client cert pem");
    let key = PrivateKeyDer::from_pem_file(o.profile.join("client.key")).expect("client key");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client auth"),
    )
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Open one long-poll on its own connection: connect, TLS, send the request.
async fn open(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    request: &str,
) -> Result<Tls, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let mut s = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    s.flush().await.map_err(|e| e.to_string())?;
    Ok(s)
}

/// Read the whole answer of a long-poll; the instant it was complete.
async fn answer(mut s: Tls) -> Result<Instant, String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the answer".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                if !head.starts_with("http/1.1 200") {
                    return Err(head.lines().next().unwrap_or("").to_owned());
                }
                return Ok(Instant::now());
            }
        }
    }
}

fn wait_request(o: &Office, cursor: &str, timeout: u64) -> String {
    format!(
        "GET /api/v1/wait?since={cursor}&timeout={timeout} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {}\r\nx-careplan-protocol: 2\r\n\r\n",
        o.token.as_deref().unwrap_or("")
    )
}

/// Part 1: memory per held long-poll, and the fan-out wake of all of them.
fn memory(waiters: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let demo = demo_in(dir.path(), addr);
    let cfg = config(dir.path(), addr, |c| roomy(c, waiters));
    let relay = RelayProcess::start(&cfg, "relay");
    let n_off = demo.offices.len();
    let mut offices: Vec<Office> = (0..n_off).map(|i| Office::new(&demo, i, addr)).collect();
    for o in &mut offices {
        o.login();
    }
    let cursors: Vec<String> = offices.iter().map(Office::cursor).collect();
    // Warm the relay (TLS, pools, allocator) with a round of short waits.
    for (o, c) in offices.iter().zip(&cursors) {
        let _ = o.wait(Some(c), 0);
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = relay.rss_kib();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let held = Arc::new(AtomicUsize::new(0));
    let requests: Vec<Arc<String>> = offices
        .iter()
        .zip(&cursors)
        .map(|(o, c)| Arc::new(wait_request(o, c, 110)))
        .collect();
    let configs: Vec<Arc<rustls::ClientConfig>> =
        demo.offices.iter().map(|o| tls_config(&demo, o)).collect();
    let t_open = Instant::now();
    let mut tasks = Vec::with_capacity(waiters);
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    for i in 0..waiters {
        let (req, tls, held, gate) = (
            requests[i % n_off].clone(),
            configs[i % n_off].clone(),
            held.clone(),
            gate.clone(),
        );
        tasks.push(rt.spawn(async move {
            // At most 64 handshakes at once (both sides share 2 cores).
            let permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let s = open(addr, tls, &req).await?;
            held.fetch_add(1, Ordering::AcqRel);
            drop(permit);
            answer(s).await
        }));
    }
    while held.load(Ordering::Acquire) < waiters {
        assert!(
            t_open.elapsed() < Duration::from_secs(300),
            "only {} of {waiters} long-polls held",
            held.load(Ordering::Acquire)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let opened = t_open.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let after = relay.rss_kib();
    let still = tasks.iter().filter(|t| !t.is_finished()).count();
    println!(
        "longpoll memory: {waiters} waiting long-polls held ({still} still waiting) opened in {:.1} s; relay RSS {before} KiB -> {after} KiB: {:.1} KiB per connection",
        opened.as_secs_f64(),
        (after.saturating_sub(before)) as f64 / waiters as f64
    );

    // One send to each office wakes every waiter.
    let t_wake = Instant::now();
    for (i, o) in offices.iter().enumerate() {
        let to = &demo.offices[(i + 1) % n_off];
        let (s, v) = o.send_to(to, &format!("2025060109{i:04}"));
        assert_eq!(s, 200, "{v}");
    }
    let sends_done = t_wake.elapsed();
    let mut lat: Vec<f64> = Vec::with_capacity(waiters);
    let mut errors = 0usize;
    for t in tasks {
        match rt.block_on(t) {
            Ok(Ok(at)) => lat.push(at.duration_since(t_wake).as_secs_f64() * 1e3),
            _ => errors += 1,
        }
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "longpoll fan-out: {} sends (one per office, {:.0} ms) woke {} waiters: p50 {:.0} ms, p99 {:.0} ms, last {:.0} ms after the first send; errors {errors}",
        n_off,
        sends_done.as_secs_f64() * 1e3,
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0),
    );
    drop(relay);
}

/// Part 2: `wakes` times, office 1 waits via `waiter_at` while office 0 sends via `sender_at`.
fn latency(
    label: &str,
    demo: &DemoInfo,
    waiter_at: SocketAddr,
    sender_at: SocketAddr,
    wakes: usize,
) {
    let mut sender = Office::new(demo, 0, sender_at);
    sender.login();
    let mut waiter = Office::new(demo, 1, waiter_at);
    waiter.login();
    let mut cursor = waiter.cursor();
    let mut lat = Vec::with_capacity(wakes);
    let mut send_ms = Vec::with_capacity(wakes);
    let mut errors = 0usize;
    for i in 0..wakes {
        let got = std::thread::scope(|sc| {
            let w = sc.spawn(|| {
                let (s, v, _) = waiter.wait(Some(&cursor), 20);
                (s, v, Instant::now())
            });
            // Let the waiter park (its request reach the relay) before the send.
            std::thread::sleep(Duration::from_millis(30));
            let t0 = Instant::now();
            // The file name's time must be a real one: 09:00:00, 09:00:01, … (a serial of
            // `i` as four digits made seconds of 60–99, refused names, and every such wake
            // waited out its 20 s).
            let serial = format!("20250701{:02}{:02}{:02}", 9 + i / 3600, i / 60 % 60, i % 60);
            let (s, v) = sender.send_to(&waiter.info, &serial);
            let sent = t0.elapsed();
            let (ws, wv, at) = w.join().expect("waiter");
            (
                s == 200 && ws == 200 && wv["arrived"] == true,
                v,
                wv,
                t0,
                sent,
                at,
            )
        });
        let (ok, v, wv, t0, sent, at) = got;
        if ok {
            lat.push(at.duration_since(t0).as_secs_f64() * 1e3);
            send_ms.push(sent.as_secs_f64() * 1e3);
        } else {
            errors += 1;
            if errors == 1 {
                eprintln!("longpoll wake {label}: wake {i} failed: send {v}, wait {wv}");
            }
        }
        if let Some(c) = wv["cursor"].as_str() {
            cursor = c.to_owned();
        }
    }
    lat.sort_by(f64::total_cmp);
    send_ms.sort_by(f64::total_cmp);
    println!(
        "longpoll wake {label}: {} wakes, from the start of the send to the waiter's answer p50 {:.1} ms, p99 {:.1} ms (the send itself p50 {:.1} ms); errors {errors}",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&send_ms, 0.5),
    );
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let waiters = env_usize("WAITERS", 2000);
    let wakes = env_usize("WAKES", 200);
    memory(waiters);

    // One relay on SQLite: waiter and sender on the same process.
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = free_addr();
        let demo = demo_in(dir.path(), addr);
        let _relay = RelayProcess::start(&config(dir.path(), addr, |_| {}), "relay");
        latency("1 relay (SQLite)", &demo, addr, addr, wakes);
    }

    if env_usize("PG", 1) == 0 {
        return;
    }
    let pg = push_support::pg::Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (free_addr(), free_addr());
    let demo = demo_in(dir.path(), a);
    push_support::pg::seed(&pg.url(), &demo, dir.path());
    let url = pg.url();
    let pg_cfg = |addr| {
        config(dir.path(), addr, |c| {
            c.database_url = Some(url.clone());
        })
    };
    let _ra = RelayProcess::start(&pg_cfg(a), "relay-a");
    let _rb = RelayProcess::start(&pg_cfg(b), "relay-b");
    latency(
        "2 relays on PostgreSQL, across processes",
        &demo,
        a,
        b,
        wakes,
    );
}
