//! Figures of the hands-free exchange for docs/performance.md (issue 14), run by
//! `scripts/measure-watch.sh` (Linux: reads /proc):
//!
//! 1. latency: a complete set written into A's 送信フォルダ (written elsewhere, then renamed
//!    in, so that it is complete at one instant) until its `.完了` marker is in B's
//!    受信フォルダ, with two real `careplan watch` processes and the demo relay on loopback;
//!    `MEASURE_SETS` sets one after the other (default 100), settle/poll times from
//!    `MEASURE_SETTLE` / `MEASURE_POLL` (seconds, default 1 / 1);
//! 2. idle: the outbox watcher restarted with `MEASURE_ARCHIVE` files (default 10 000) in
//!    `送信済/YYYYMM/` and the inbox watcher with as many files in its 受信フォルダ, both
//!    with the production times (settle 3 s, rescan 5 s, poll 30 s); CPU time over
//!    `MEASURE_IDLE_SECS` (default 60) and resident memory from /proc.
//!
//! Usage: `measure_watch <path of the careplan binary>`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use careplan_core::demo::{self, DemoOffice};
use careplan_core::{OfficeNumber, ServiceType};

#[derive(Debug, Clone, serde::Deserialize)]
struct Office {
    office: String,
    name: String,
    personal_user: String,
    personal_password: String,
    office_user: String,
    office_password: String,
    profile: PathBuf,
}

#[derive(serde::Deserialize)]
struct DemoJson {
    offices: Vec<Office>,
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Term {
    bin: PathBuf,
    url: String,
    office: Office,
    data: PathBuf,
}

impl Term {
    fn watch(&self, args: &[&str], log: &Path) -> Child {
        let f = std::fs::File::create(log).expect("log");
        Command::new(&self.bin)
            .arg("watch")
            .args(args)
            .arg("--user")
            .arg(&self.office.personal_user)
            .arg("--office-user")
            .arg(&self.office.office_user)
            .arg("--profile")
            .arg(&self.office.profile)
            .arg("--relay")
            .arg(&self.url)
            .arg("--data-dir")
            .arg(&self.data)
            .env("CAREPLAN_PASSWORD", &self.office.personal_password)
            .env("CAREPLAN_OFFICE_PASSWORD", &self.office.office_password)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .expect("spawn careplan watch")
    }
}

fn stop(mut c: Child) {
    let _ = Command::new("kill")
        .args(["-INT", &c.id().to_string()])
        .status();
    let _ = c.wait();
}

/// utime + stime in clock ticks, and VmRSS / VmHWM in KiB.
fn proc_stats(pid: u32) -> (u64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks, kib("VmRSS:"), kib("VmHWM:"))
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn wait_for(p: &Path, timeout: Duration) -> bool {
    let t0 = Instant::now();
    while !p.exists() {
        if t0.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let bin = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: measure_watch <careplan>"),
    );
    let sets = env_num("MEASURE_SETS", 100.0) as usize;
    let settle = env_num("MEASURE_SETTLE", 1.0);
    let poll = env_num("MEASURE_POLL", 1.0);
    let archive = env_num("MEASURE_ARCHIVE", 10_000.0) as usize;
    let idle_secs = env_num("MEASURE_IDLE_SECS", 60.0);

    let work = tempfile::tempdir().expect("tempdir");
    let relay_dir = work.path().join("relay");
    let relay =
        careplan_relay::embedded::start_demo(&relay_dir, "127.0.0.1:0".parse().expect("addr"))
            .expect("relay");
    let url = format!("https://localhost:{}", relay.addr.port());
    let demo: DemoJson =
        serde_json::from_slice(&std::fs::read(relay_dir.join("demo.json")).expect("demo.json"))
            .expect("demo.json");
    let offices: Vec<Office> = demo
        .offices
        .into_iter()
        .map(|mut o| {
            if o.profile.is_relative() {
                o.profile = relay_dir.join(&o.profile);
            }
            o
        })
        .collect();
    let office = |i: usize| DemoOffice {
        number: OfficeNumber::parse(&offices[i].office).expect("office"),
        name: offices[i].name.clone(),
        service: ServiceType::parse(if i == 0 { "43" } else { "11" }).expect("svc"),
        care_manager: i == 0,
    };
    let (from, to) = (office(0), office(1));
    let users = demo::demo_users(7, 3);
    let a = Term {
        bin: bin.clone(),
        url: url.clone(),
        office: offices[0].clone(),
        data: work.path().join("a-data"),
    };
    let b = Term {
        bin,
        url,
        office: offices[1].clone(),
        data: work.path().join("b-data"),
    };
    let outbox = work.path().join("outbox");
    let inbox = work.path().join("inbox");
    let staging = work.path().join("export");
    std::fs::create_dir_all(&staging).expect("staging");

    println!(
        "machine: {} cores; binary: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        a.bin.display()
    );

    // ----- latency -----
    let s = format!("{settle}");
    let p = format!("{poll}");
    let pa = a.watch(
        &[
            "--outbox",
            outbox.to_str().expect("utf8"),
            "--settle-secs",
            &s,
        ],
        &work.path().join("a.log"),
    );
    let pb = b.watch(
        &["--inbox", inbox.to_str().expect("utf8"), "--poll-secs", &p],
        &work.path().join("b.log"),
    );
    // B first receives the demo relay's backlog for its office.
    std::thread::sleep(Duration::from_secs(3));
    let mut lat = Vec::with_capacity(sets);
    for i in 0..sets {
        let serial = format!(
            "20261201{:02}{:02}{:02}",
            9 + i / 3600 % 12,
            i / 60 % 60,
            i % 60
        );
        let files = demo::plan_set(&from, &to, "202612", &serial, &users);
        for f in &files {
            std::fs::write(staging.join(&f.name), &f.bytes).expect("write");
        }
        let t0 = Instant::now();
        for f in &files {
            std::fs::rename(staging.join(&f.name), outbox.join(&f.name)).expect("rename");
        }
        let marker = inbox.join(format!("{serial}_{}.完了", from.number));
        if !wait_for(&marker, Duration::from_secs(120)) {
            eprintln!("set {i} did not arrive within 120 s");
            break;
        }
        lat.push(t0.elapsed().as_secs_f64());
    }
    stop(pa);
    stop(pb);
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    if !sorted.is_empty() {
        println!(
            "latency over {} sets (settle {settle} s, poll {poll} s): median {:.3} s, p90 {:.3} s, p99 {:.3} s, min {:.3} s, max {:.3} s, mean {:.3} s",
            sorted.len(),
            pct(&sorted, 0.5),
            pct(&sorted, 0.9),
            pct(&sorted, 0.99),
            sorted[0],
            sorted[sorted.len() - 1],
            sorted.iter().sum::<f64>() / sorted.len() as f64
        );
    }

    // ----- idle with a full archive -----
    let months = 10;
    for i in 0..archive {
        let dir = outbox
            .join("送信済")
            .join(format!("2025{:02}", 1 + (i % months)));
        std::fs::create_dir_all(&dir).expect("archive");
        std::fs::write(
            dir.join(format!(
                "UPPLAN_202501_0000000000_43_0000000000_11_{i:014}.CSV"
            )),
            b"x",
        )
        .expect("archive file");
        std::fs::write(inbox.join(format!("archived-{i:05}.CSV")), b"x").expect("inbox file");
    }
    let pa = a.watch(
        &["--outbox", outbox.to_str().expect("utf8")],
        &work.path().join("a2.log"),
    );
    let pb = b.watch(
        &["--inbox", inbox.to_str().expect("utf8")],
        &work.path().join("b2.log"),
    );
    std::thread::sleep(Duration::from_secs(5));
    let tck = clk_tck();
    let (a0, _, _) = proc_stats(pa.id());
    let (b0, _, _) = proc_stats(pb.id());
    std::thread::sleep(Duration::from_secs_f64(idle_secs));
    let (a1, arss, ahwm) = proc_stats(pa.id());
    let (b1, brss, bhwm) = proc_stats(pb.id());
    let cpu = |t0: u64, t1: u64| (t1 - t0) as f64 / tck / idle_secs * 100.0;
    println!(
        "idle over {idle_secs} s with {archive} archived files (production times: settle 3 s, rescan 5 s, poll 30 s):"
    );
    println!(
        "  outbox watcher: CPU {:.3} % ({} ticks of 1/{tck} s), RSS {} KiB (peak {} KiB)",
        cpu(a0, a1),
        a1 - a0,
        arss,
        ahwm
    );
    println!(
        "  inbox watcher:  CPU {:.3} % ({} ticks), RSS {} KiB (peak {} KiB)",
        cpu(b0, b1),
        b1 - b0,
        brss,
        bhwm
    );
    stop(pa);
    stop(pb);
    relay.shutdown();
}
