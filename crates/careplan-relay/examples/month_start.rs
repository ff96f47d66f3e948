//! Month-start simulator (issue 13, "Load, measured side by side"): the 1st of the month,
//! when most offices send their 3-file sets within minutes, measured on three topologies
//! in one run, with the relays in their own processes (`careplan-relay serve`) and the
//! simulated offices in this one, each a real `careplan_client::Client` (mutual TLS, two-step
//! login, uploads, the send, listing, downloads with hash checks and acknowledgements):
//!
//! 1. one relay on SQLite;
//! 2. one relay on PostgreSQL;
//! 3. three relays on one PostgreSQL behind haproxy (TCP, PROXY v2), as in
//!    `tests/cluster.rs`;
//!
//! and then 50 clients sending back to back to one relay on SQLite (the issue's target
//! "send p99 ≤ 100 ms at 50 concurrent clients").
//!
//! Per topology: every office logs in, lists, and holds a long-poll (`/api/v1/wait`); the
//! relays' RSS (`/proc/<pid>/status`) is read before and after the long-polls are open.
//! Then each office sends `--sends` sets (6表 + 7表 + 補足 from `careplan_core::demo`) to
//! random other offices, `--burst-share` of them within the first `--burst` seconds and
//! the rest over the next `--tail` seconds; each recipient is woken, lists and receives.
//! Then `--hold` long-polls in all are held at once (threads of the same clients) and the
//! RSS read again. Printed: sends/s, send latency (the client's `send`: uploads, the send
//! request, the ledger entry), list latency, wake-up latency (sender's `send` returned →
//! recipient's `wait_for_arrivals` returned; a wake seen before `send` returned counts as
//! 0), errors by code, long-polls held and RSS per connection.
//!
//! Not a test: `scripts/month-start.sh` builds it in release and runs it. Options:
//! `--offices N` (300), `--sends N` (2), `--hold N` (2000), `--burst S` (5), `--tail S`
//! (15), `--burst-share F` (0.8), `--clients N` (50), `--client-sends N` (10),
//! `--only sqlite,pg,cluster,clients`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use careplan_client::{
    Client, ClientError, ClientOptions, Identity, OutgoingFile, SendMode, Store,
};
use careplan_core::demo::{DemoOffice, demo_users, fake_office_numbers, plan_set};
use careplan_core::{OfficeNumber, ServiceType};
use careplan_relay::config::{Security, sqlite_url};
use careplan_relay::db::Db;
use careplan_relay::{auth, pki};
use rand::{Rng, SeedableRng};

#[path = "../tests/support/mod.rs"]
mod support;
use support::pg::PgServer;
use support::procs::{Proc, RelaySpec, free_port, haproxy_cfg, start_haproxy, start_relay};

const PASSWORD: &str = "Month-start-2026!";

#[derive(Clone)]
struct Args {
    offices: usize,
    sends: usize,
    hold: usize,
    burst: f64,
    tail: f64,
    burst_share: f64,
    clients: usize,
    client_sends: usize,
    only: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        offices: 300,
        sends: 2,
        hold: 2000,
        burst: 5.0,
        tail: 15.0,
        burst_share: 0.8,
        clients: 50,
        client_sends: 10,
        only: vec![],
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        let n = || {
            v.parse::<f64>()
                .unwrap_or_else(|_| panic!("{k} {v}: a number"))
        };
        match k.as_str() {
            "--offices" => a.offices = n() as usize,
            "--sends" => a.sends = n() as usize,
            "--hold" => a.hold = n() as usize,
            "--burst" => a.burst = n(),
            "--tail" => a.tail = n(),
            "--burst-share" => a.burst_share = n(),
            "--clients" => a.clients = n() as usize,
            "--client-sends" => a.client_sends = n() as usize,
            "--only" => a.only = v.split(',').map(str::to_owned).collect(),
            _ => panic!("unknown option {k}"),
        }
    }
    assert!(a.offices >= 2, "--offices ≥ 2");
    a
}

/// One simulated office: its relay account and client certificate.
#[derive(Clone)]
struct Office {
    number: OfficeNumber,
    name: String,
    profile: PathBuf,
}

impl Office {
    fn demo(&self, sender: bool) -> DemoOffice {
        DemoOffice {
            number: self.number,
            name: self.name.clone(),
            service: ServiceType::parse(if sender { "43" } else { "11" }).expect("service"),
            care_manager: sender,
        }
    }
}

/// The demo PKI and store (made by `ensure_demo_on`), plus `n` offices registered in it.
struct World {
    demo: PathBuf,
    offices: Vec<Office>,
}

fn make_world(demo: &Path, database_url: Option<&str>, n: usize) -> World {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        careplan_relay::demo::ensure_demo_on(
            demo,
            "127.0.0.1:0".parse().expect("addr"),
            database_url,
        )
        .await
        .expect("demo store");
        let url = database_url
            .map(str::to_owned)
            .unwrap_or_else(|| sqlite_url(&demo.join("relay.sqlite3")));
        let db = Db::open(&url).await.expect("open store");
        let ca = pki::Pem {
            cert: std::fs::read_to_string(demo.join("pki/ca.crt")).expect("ca.crt"),
            key: std::fs::read_to_string(demo.join("pki/ca.key")).expect("ca.key"),
        };
        let sec = Security {
            argon2_memory_kib: 4096,
            argon2_iterations: 1,
            ..Security::default()
        };
        let hash = auth::hash_password(&sec, PASSWORD);
        let now = time::OffsetDateTime::now_utc();
        let mut offices = Vec::with_capacity(n);
        for (i, number) in fake_office_numbers(20_261_101, n).into_iter().enumerate() {
            let name = format!("月初事業所{i:04}");
            db.upsert_office(
                number.as_str(),
                &name,
                Some((now + time::Duration::days(365)).unix_timestamp()),
            )
            .await
            .expect("office");
            db.put_personal_user(&format!("c{number}"), &hash)
                .await
                .expect("user");
            db.put_office_user(
                &format!("KJ{number}"),
                number.as_str(),
                &hash,
                now.unix_timestamp(),
                false,
            )
            .await
            .expect("office user");
            let pem = pki::issue_client(
                &ca,
                &number,
                &name,
                now - time::Duration::days(1),
                now + time::Duration::days(365),
            )
            .expect("client cert");
            let profile = demo.join("sim").join(number.as_str());
            std::fs::create_dir_all(&profile).expect("profile");
            std::fs::write(profile.join("client.crt"), pem.cert).expect("crt");
            std::fs::write(profile.join("client.key"), pem.key).expect("key");
            std::fs::write(profile.join("ca.crt"), &ca.cert).expect("ca");
            offices.push(Office {
                number,
                name,
                profile,
            });
        }
        db.pool.close().await;
        World {
            demo: demo.to_owned(),
            offices,
        }
    })
}

/// Relay settings for many offices and waiters from one address (loopback).
fn tuning(a: &Args) -> (String, String) {
    let waiters = a.hold.max(a.offices) + 200;
    let connections = format!(
        "max_connections = {}\nmax_connections_per_peer = {}\n",
        waiters * 2 + 500,
        waiters * 2 + 500
    );
    let extra = format!(
        "\n[push]\nmax_waiters = {waiters}\nmax_waiters_per_office = {}\nmax_wait_secs = 60\n\n[limits]\nmax_sends_per_hour = 100000\n",
        a.hold / a.offices + 32
    );
    (connections, extra)
}

/// The relays of one topology (and what they need to stay up).
struct Topology {
    name: String,
    url: String,
    relays: Vec<Proc>,
    _haproxy: Option<Proc>,
}

impl Topology {
    fn rss_kib(&self) -> u64 {
        self.relays.iter().map(Proc::rss_kib).sum()
    }
}

fn relay_exe() -> PathBuf {
    // examples/month_start → the `careplan-relay` binary of the same profile.
    let me = std::env::current_exe().expect("current exe");
    let dir = me.parent().and_then(Path::parent).expect("target folder");
    let exe = dir.join("careplan-relay");
    assert!(
        exe.is_file(),
        "{} missing: build it first (cargo build --release -p careplan-relay --bins --examples)",
        exe.display()
    );
    exe
}

fn start_topology(
    name: &str,
    root: &Path,
    world: &World,
    database_url: Option<&str>,
    relays: usize,
    a: &Args,
) -> Topology {
    let (connections, extra) = tuning(a);
    let exe = relay_exe();
    let mut procs = Vec::new();
    let mut ports = Vec::new();
    for i in 0..relays {
        let port = free_port();
        let data = if relays == 1 {
            world.demo.clone()
        } else {
            root.join(format!("{}-relay{i}", name.replace(' ', "_")))
        };
        let toml = RelaySpec {
            demo: &world.demo,
            data: &data,
            blobs: &world.demo.join("blobs"),
            port,
            database_url,
            proxied: relays > 1,
            connections: &connections,
            extra: &extra,
        }
        .toml();
        let tag = name.replace([' ', ','], "_");
        let cfg = root.join(format!("{tag}-relay{i}.toml"));
        std::fs::write(&cfg, toml).expect("relay config");
        let log = root.join(format!("{tag}-relay{i}.log"));
        procs.push(start_relay(
            &exe,
            &cfg,
            port,
            &log,
            &format!("{name} relay{i}"),
            "warn",
        ));
        ports.push(port);
    }
    if relays == 1 {
        return Topology {
            name: name.to_owned(),
            url: format!("https://127.0.0.1:{}", ports[0]),
            relays: procs,
            _haproxy: None,
        };
    }
    let front = free_port();
    let haproxy = start_haproxy(
        &root.join("haproxy.cfg"),
        &haproxy_cfg(front, &[], &ports, (a.hold.max(a.offices) + 500) * 2),
        &root.join("haproxy.log"),
        &[front],
    );
    Topology {
        name: name.to_owned(),
        url: format!("https://127.0.0.1:{front}"),
        relays: procs,
        _haproxy: Some(haproxy),
    }
}

fn client(o: &Office, url: &str, store: &Path) -> Result<Client, ClientError> {
    let store = Store::open(store)?;
    let id = Identity::from_profile_dir(&o.profile)?;
    let c = Client::new(
        store,
        &id,
        url,
        ClientOptions {
            terminal_name: Some("PC1".into()),
            timeout_connect: Duration::from_secs(10),
            timeout_call: Duration::from_secs(30),
            retries: 0,
            retry_backoff: Duration::from_millis(100),
            ..ClientOptions::default()
        },
    )?;
    let n = o.number.as_str();
    c.login(&format!("c{n}"), PASSWORD, &format!("KJ{n}"), PASSWORD)?;
    Ok(c)
}

fn code(e: &ClientError) -> String {
    match e {
        ClientError::Relay { status, code, .. } => format!("{status} {code}"),
        other => other.code(),
    }
}

/// Everything measured in one topology.
#[derive(Default)]
struct Stats {
    send_ms: Vec<f64>,
    list_ms: Vec<f64>,
    /// Transmission id → (send started, send returned).
    acked: HashMap<String, (Instant, Instant)>,
    /// (transmission id, waiter armed, waiter answered).
    wakes: Vec<(String, Instant, Instant)>,
    errors: BTreeMap<String, usize>,
    received: usize,
}

type Shared = Arc<Mutex<Stats>>;

fn error(s: &Shared, op: &str, e: &ClientError) {
    *s.lock()
        .expect("stats")
        .errors
        .entry(format!("{op}: {}", code(e)))
        .or_default() += 1;
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[(((v.len() - 1) as f64) * p).round() as usize]
}

/// Log every office in (8 threads).
fn login_all(world: &World, url: &str, stores: &Path, stats: &Shared) -> Vec<Option<Arc<Client>>> {
    let n = world.offices.len();
    let out: Mutex<Vec<Option<Arc<Client>>>> = Mutex::new(vec![None; n]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..8 {
            sc.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let o = &world.offices[i];
                    let mut tries = 0;
                    let c = loop {
                        match client(o, url, &stores.join(o.number.as_str())) {
                            Ok(c) => break Some(c),
                            Err(e) => {
                                error(stats, "login", &e);
                                tries += 1;
                                if tries > 5 {
                                    break None;
                                }
                                std::thread::sleep(Duration::from_millis(500));
                            }
                        }
                    };
                    out.lock().expect("clients")[i] = c.map(Arc::new);
                }
            });
        }
    });
    out.into_inner().expect("clients")
}

/// The office's waiting worker: list, then wait → list → receive, until `stop`.
fn waiter(
    c: Arc<Client>,
    folder: PathBuf,
    stats: Shared,
    held: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut cursor = loop {
        match c.wait_for_arrivals(None, Duration::ZERO) {
            Ok(a) => break a.cursor,
            Err(e) if !stop.load(Ordering::SeqCst) => {
                error(&stats, "wait", &e);
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(_) => return,
        }
    };
    let mut armed = Instant::now();
    let mut woke = None;
    while !stop.load(Ordering::SeqCst) {
        // List (at the start, and after every wake).
        let t = Instant::now();
        match c.received() {
            Ok(l) => {
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                let new: Vec<_> = l.items.iter().filter(|t| !seen.contains(&t.id)).collect();
                let mut s = stats.lock().expect("stats");
                s.list_ms.push(ms);
                let ids: Vec<String> = new
                    .iter()
                    .flat_map(|t| t.files.iter().map(|f| f.id.clone()))
                    .collect();
                for t in &new {
                    if let Some(w) = woke {
                        s.wakes.push((t.id.clone(), armed, w));
                    }
                }
                drop(s);
                let first = woke.is_none();
                for t in &new {
                    seen.insert(t.id.clone());
                }
                if !first && !ids.is_empty() {
                    match c.receive(&ids, &folder, &mut |_| {}) {
                        Ok(r) => {
                            let mut s = stats.lock().expect("stats");
                            s.received += new.len();
                            for f in &r.failed {
                                *s.errors.entry(format!("receive: {}", f.code)).or_default() += 1;
                            }
                        }
                        Err(e) => error(&stats, "receive", &e),
                    }
                }
            }
            Err(e) => error(&stats, "list", &e),
        }
        // Wait for the next arrival.
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            armed = Instant::now();
            held.fetch_add(1, Ordering::SeqCst);
            let r = c.wait_for_arrivals(Some(&cursor), Duration::from_secs(25));
            held.fetch_sub(1, Ordering::SeqCst);
            match r {
                Ok(a) => {
                    cursor = a.cursor;
                    if a.arrived {
                        woke = Some(Instant::now());
                        break;
                    }
                }
                Err(e) => {
                    if !stop.load(Ordering::SeqCst) {
                        error(&stats, "wait", &e);
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
            }
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while !ok() {
        if Instant::now() > until {
            eprintln!("  ({what}: not reached within {limit:?})");
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn simulate(t: &Topology, world: &World, stores: &Path, a: &Args) {
    let t0 = Instant::now();
    let stats: Shared = Arc::default();
    let n = world.offices.len();
    let clients = login_all(world, &t.url, stores, &stats);
    let ok: Vec<usize> = (0..n).filter(|&i| clients[i].is_some()).collect();
    println!(
        "[{}] {} of {n} offices logged in ({:.1} s)",
        t.name,
        ok.len(),
        t0.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(500));
    let rss0 = t.rss_kib();

    // Every office holds a long-poll.
    let held = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    for &i in &ok {
        let c = clients[i].clone().expect("client");
        let folder = stores.join(format!("in-{i}"));
        let (s, h, st) = (stats.clone(), held.clone(), stop.clone());
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || waiter(c, folder, s, h, st))
            .expect("waiter thread");
    }
    wait_until("every office waiting", Duration::from_secs(60), || {
        held.load(Ordering::SeqCst) >= ok.len()
    });
    std::thread::sleep(Duration::from_secs(2));
    let held1 = held.load(Ordering::SeqCst);
    let rss1 = t.rss_kib();

    // The burst: each office sends `sends` sets to random other offices.
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let mut plan: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
    for &i in &ok {
        for _ in 0..a.sends {
            let at = if rng.random_bool(a.burst_share) {
                rng.random_range(0.0..a.burst)
            } else {
                a.burst + rng.random_range(0.0..a.tail.max(0.001))
            };
            let mut to = ok[rng.random_range(0..ok.len())];
            while to == i {
                to = ok[rng.random_range(0..ok.len())];
            }
            plan[i].push((at, to));
        }
        plan[i].sort_by(|x, y| x.0.total_cmp(&y.0));
    }
    let start = Instant::now();
    let acked = AtomicUsize::new(0);
    let last_ack = Mutex::new(start);
    let burst_acked = AtomicUsize::new(0);
    let last_burst_ack = Mutex::new(start);
    std::thread::scope(|sc| {
        for &i in &ok {
            let c = clients[i].clone().expect("client");
            let (plan, stats, acked, last_ack) = (&plan[i], &stats, &acked, &last_ack);
            let (burst_acked, last_burst_ack) = (&burst_acked, &last_burst_ack);
            let from = world.offices[i].demo(true);
            let world = &world;
            std::thread::Builder::new()
                .stack_size(512 * 1024)
                .spawn_scoped(sc, move || {
                    for (k, &(at, to)) in plan.iter().enumerate() {
                        let due = start + Duration::from_secs_f64(at);
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        let users = demo_users(to as u64, 3);
                        let serial = format!("2026110109{:02}{:02}", k / 60, k % 60);
                        let files = plan_set(
                            &from,
                            &world.offices[to].demo(false),
                            "202611",
                            &serial,
                            &users,
                        )
                        .into_iter()
                        .map(|f| OutgoingFile {
                            name: f.name,
                            bytes: f.bytes,
                        })
                        .collect();
                        let p = match c.prepare_send(files, "", &SendMode::Single { to: None }) {
                            Ok(p) => p,
                            Err(e) => {
                                error(stats, "prepare", &e);
                                continue;
                            }
                        };
                        for _ in 0..5 {
                            let t = Instant::now();
                            match c.send(&p, true) {
                                Ok(r) => {
                                    let done = Instant::now();
                                    let mut s = stats.lock().expect("stats");
                                    s.send_ms.push((done - t).as_secs_f64() * 1000.0);
                                    for id in r.ids {
                                        s.acked.insert(id, (t, done));
                                    }
                                    drop(s);
                                    acked.fetch_add(1, Ordering::SeqCst);
                                    let mut l = last_ack.lock().expect("last");
                                    *l = (*l).max(done);
                                    drop(l);
                                    if at < a.burst {
                                        burst_acked.fetch_add(1, Ordering::SeqCst);
                                        let mut l = last_burst_ack.lock().expect("last");
                                        *l = (*l).max(done);
                                    }
                                    break;
                                }
                                Err(e) => {
                                    error(stats, "send", &e);
                                    std::thread::sleep(Duration::from_millis(300));
                                }
                            }
                        }
                    }
                })
                .expect("sender thread");
        }
    });
    let acked = acked.load(Ordering::SeqCst);
    let wall = (*last_ack.lock().expect("last") - start).as_secs_f64();
    let burst_acked = burst_acked.load(Ordering::SeqCst);
    let burst_wall = (*last_burst_ack.lock().expect("last") - start).as_secs_f64();
    wait_until("every send received", Duration::from_secs(60), || {
        stats.lock().expect("stats").received >= acked
    });

    // Hold `--hold` long-polls in all: more waiting threads on the same clients.
    let extra = a.hold.saturating_sub(held.load(Ordering::SeqCst));
    let hold_stop = Arc::new(AtomicBool::new(false));
    let t_hold = Instant::now();
    for k in 0..extra {
        let c = clients[ok[k % ok.len()]].clone().expect("client");
        let (s, h, st) = (stats.clone(), held.clone(), hold_stop.clone());
        let spawned = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut cursor = None;
                while !st.load(Ordering::SeqCst) {
                    if cursor.is_some() {
                        h.fetch_add(1, Ordering::SeqCst);
                    }
                    let r = c.wait_for_arrivals(cursor.as_deref(), Duration::from_secs(25));
                    if cursor.is_some() {
                        h.fetch_sub(1, Ordering::SeqCst);
                    }
                    match r {
                        Ok(a) => cursor = Some(a.cursor),
                        Err(e) => {
                            if !st.load(Ordering::SeqCst) {
                                error(&s, "hold", &e);
                            }
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
            });
        if spawned.is_err() {
            eprintln!("  (thread {k} of the hold phase could not be started)");
            break;
        }
    }
    let target = a.hold.max(held1);
    wait_until("every long-poll held", Duration::from_secs(60), || {
        held.load(Ordering::SeqCst) >= target
    });
    std::thread::sleep(Duration::from_secs(3));
    let held2 = held.load(Ordering::SeqCst);
    let rss2 = t.rss_kib();
    let hold_secs = t_hold.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    hold_stop.store(true, Ordering::SeqCst);

    let mut s = stats.lock().expect("stats");
    let mut wake_ms = Vec::new();
    let mut wake_from_start_ms = Vec::new();
    let mut before_return = 0;
    let mut caught_up = 0;
    let wakes = std::mem::take(&mut s.wakes);
    for (id, armed, woke) in wakes {
        let Some(&(started, done)) = s.acked.get(&id) else {
            continue;
        };
        if armed > done || woke < started {
            caught_up += 1; // not waiting when it landed / listed after the wake
            continue;
        }
        if woke < done {
            before_return += 1;
        }
        wake_ms.push(woke.saturating_duration_since(done).as_secs_f64() * 1000.0);
        wake_from_start_ms.push(woke.saturating_duration_since(started).as_secs_f64() * 1000.0);
    }
    let per = |held: usize, rss: u64| {
        if held == 0 {
            f64::NAN
        } else {
            rss.saturating_sub(rss0) as f64 / held as f64
        }
    };
    println!(
        "[{}] {} relay process(es); {acked} sends acknowledged of {} planned in {wall:.1} s: {:.1} sends/s; {} received",
        t.name,
        t.relays.len(),
        ok.len() * a.sends,
        acked as f64 / wall,
        s.received
    );
    println!(
        "[{}] the burst: {burst_acked} sends due in the first {} s, all acknowledged {burst_wall:.1} s after the start: {:.1} sends/s",
        t.name,
        a.burst,
        burst_acked as f64 / burst_wall
    );
    println!(
        "[{}] send p50 {:.0} ms, p99 {:.0} ms (n={}); list p50 {:.0} ms, p99 {:.0} ms (n={})",
        t.name,
        pct(&mut s.send_ms, 0.5),
        pct(&mut s.send_ms, 0.99),
        s.send_ms.len(),
        pct(&mut s.list_ms, 0.5),
        pct(&mut s.list_ms, 0.99),
        s.list_ms.len()
    );
    println!(
        "[{}] wake-up p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (n={}, of which {before_return} answered before the sender's send() returned; {caught_up} not counted: the recipient was busy listing/receiving)",
        t.name,
        pct(&mut wake_ms, 0.5),
        pct(&mut wake_ms, 0.99),
        pct(&mut wake_ms, 1.0),
        wake_ms.len()
    );
    println!(
        "[{}] wake-up counted from the start of the send (uploads and send included): p50 {:.0} ms, p99 {:.0} ms",
        t.name,
        pct(&mut wake_from_start_ms, 0.5),
        pct(&mut wake_from_start_ms, 0.99)
    );
    println!(
        "[{}] long-polls held: {held1} (one per office), relay RSS {rss0} -> {rss1} KiB = {:.1} KiB per long-poll; then {held2} held (target {target}, {hold_secs:.1} s), RSS {rss2} KiB = {:.1} KiB per long-poll",
        t.name,
        per(held1, rss1),
        per(held2, rss2)
    );
    println!("[{}] errors by code: {:?}", t.name, s.errors);
    println!(
        "[{}] topology total {:.1} s",
        t.name,
        t0.elapsed().as_secs_f64()
    );
}

/// `--clients` clients of different offices each send `--client-sends` sets back to back.
fn clients_run(t: &Topology, world: &World, stores: &Path, a: &Args) {
    let stats: Shared = Arc::default();
    let clients = login_all(world, &t.url, stores, &stats);
    let n = world.offices.len();
    let start = Instant::now();
    std::thread::scope(|sc| {
        for (i, c) in clients.iter().enumerate().take(a.clients) {
            let Some(c) = c.clone() else { continue };
            let stats = &stats;
            let from = world.offices[i].demo(true);
            let to = world.offices[(i + 1) % n].demo(false);
            sc.spawn(move || {
                for k in 0..a.client_sends {
                    let serial = format!("2026110110{:02}{:02}", k / 60, k % 60);
                    let users = demo_users(i as u64, 3);
                    let files = plan_set(&from, &to, "202611", &serial, &users)
                        .into_iter()
                        .map(|f| OutgoingFile {
                            name: f.name,
                            bytes: f.bytes,
                        })
                        .collect();
                    let p = c
                        .prepare_send(files, "", &SendMode::Single { to: None })
                        .expect("plan");
                    let t = Instant::now();
                    match c.send(&p, true) {
                        Ok(_) => stats
                            .lock()
                            .expect("stats")
                            .send_ms
                            .push(t.elapsed().as_secs_f64() * 1000.0),
                        Err(e) => error(stats, "send", &e),
                    }
                }
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let mut s = stats.lock().expect("stats");
    let k = s.send_ms.len();
    println!(
        "[{}] {} clients × {} sends back to back: {k} acknowledged in {wall:.1} s = {:.1} sends/s; send p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; errors {:?}",
        t.name,
        a.clients.min(n),
        a.client_sends,
        k as f64 / wall,
        pct(&mut s.send_ms, 0.5),
        pct(&mut s.send_ms, 0.99),
        pct(&mut s.send_ms, 1.0),
        s.errors
    );
}

fn main() {
    let a = args();
    let want = |k: &str| a.only.is_empty() || a.only.iter().any(|o| o == k);
    let started = Instant::now();
    let root = tempfile::tempdir().expect("tempdir");
    // The clients' stores (ledger, caches, received files) in memory: the disk is the
    // relays'.
    let shm = Path::new("/dev/shm");
    let stores_root = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("stores tempdir");
    println!(
        "month-start: {} offices × {} sends, burst {:.0} % in {} s then {} s; hold {} long-polls; {} cores",
        a.offices,
        a.sends,
        a.burst_share * 100.0,
        a.burst,
        a.tail,
        a.hold,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if want("sqlite") {
        let world = make_world(&root.path().join("sqlite"), None, a.offices);
        let t = start_topology("1 relay, SQLite", root.path(), &world, None, 1, &a);
        simulate(&t, &world, &stores_root.path().join("sqlite"), &a);
    }
    if want("pg") || want("cluster") {
        let pg = PgServer::start(true).unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
        if want("pg") {
            pg.psql("CREATE DATABASE one").expect("CREATE DATABASE");
            let url = pg.url("one");
            let world = make_world(&root.path().join("pg"), Some(&url), a.offices);
            let t = start_topology(
                "1 relay, PostgreSQL",
                root.path(),
                &world,
                Some(&url),
                1,
                &a,
            );
            simulate(&t, &world, &stores_root.path().join("pg"), &a);
        }
        if want("cluster") {
            pg.psql("CREATE DATABASE three").expect("CREATE DATABASE");
            let url = pg.url("three");
            let world = make_world(&root.path().join("cluster"), Some(&url), a.offices);
            let t = start_topology(
                "3 relays + haproxy, PostgreSQL",
                root.path(),
                &world,
                Some(&url),
                3,
                &a,
            );
            simulate(&t, &world, &stores_root.path().join("cluster"), &a);
        }
    }
    if want("clients") {
        let world = make_world(&root.path().join("clients"), None, a.clients + 1);
        let name = format!("{} clients, SQLite", a.clients);
        let t = start_topology(&name, root.path(), &world, None, 1, &a);
        clients_run(&t, &world, &stores_root.path().join("clients"), &a);
    }
    println!(
        "month-start: total {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
