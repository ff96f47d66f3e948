//! Load benchmark on loopback: N concurrent clients × M sends of a 3-file set each, against
//! the embedded relay (real mutual TLS, SQLite WAL + synchronous=FULL), and in the same run
//! the machine's raw rate of writing + fsyncing the same bytes. Bounded in count and time.
//!
//! `cargo bench -p careplan-relay --bench load` (env: `CLIENTS`, `SENDS`). A send is what
//! the client library does for a set of small files: one `POST /api/v1/send/whole` with
//! the files' bytes; `UPLOAD=whole`: each file first in one `PUT /uploads/whole/{sha256}`,
//! then `POST /api/v1/send` naming them (the way for larger files, and before 2026-12-03);
//! `UPLOAD=session`: each file with an upload session (POST + PUT), then the send.

use std::io::Write;
use std::path::Path;

use std::time::Instant;

use careplan_relay::demo::{DemoOfficeInfo, b64};
use careplan_relay::embedded::start_demo;
use serde_json::{Value, json};

#[path = "../tests/support/mod.rs"]
mod support;

fn agent(profile: &Path, ca: &Path) -> ureq::Agent {
    support::agent(Some(profile), ca)
}

fn login(a: &ureq::Agent, url: &str, o: &DemoOfficeInfo) -> String {
    let mut r = a
        .post(&format!("{url}/api/v1/login/personal"))
        .send_json(json!({"user_id": o.personal_user, "password": o.personal_password}))
        .expect("login 1");
    let t: Value = r.body_mut().read_json().expect("json");
    let mut r = a
        .post(&format!("{url}/api/v1/login/office"))
        .header(
            "Authorization",
            &format!("Bearer {}", t["token"].as_str().unwrap_or("")),
        )
        .send_json(json!({"user_id": o.office_user, "password": o.office_password}))
        .expect("login 2");
    let s: Value = r.body_mut().read_json().expect("json");
    s["token"].as_str().unwrap_or("").to_owned()
}

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

fn main() {
    // `cargo test --benches` runs benches with --test-ish args: stay quick then.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let clients = env_usize("CLIENTS", 50);
    let sends = env_usize("SENDS", 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_demo(dir.path(), "127.0.0.1:0".parse().expect("addr")).expect("relay");
    let info = relay.demo.clone().expect("demo");
    let a = info.offices[0].clone();
    let b = info.offices[1].office.clone();
    // A realistic 3-file set: 6表 + 7表 + 補足, about 20 KB each.
    let set: Vec<(String, Vec<u8>)> = ["UPPLAN", "UPSIKYU", "UPHOSOKU"]
        .iter()
        .map(|p| {
            let bytes =
                "202407,131011,0000012345,20250425,202505,1310000001,ケアマネ 太郎,000123\r\n"
                    .repeat(250)
                    .into_bytes();
            (p.to_string(), bytes)
        })
        .collect();
    let set_bytes: usize = set.iter().map(|(_, b)| b.len()).sum();

    let url = relay.url();
    let token = {
        let ag = agent(&a.profile, &info.ca);
        login(&ag, &url, &a)
    };
    let mode = std::env::var("UPLOAD").unwrap_or_default();
    let uploader: Option<support::Uploader> = match mode.as_str() {
        "session" => Some(support::upload),
        "whole" => Some(support::upload_whole),
        _ => None,
    };
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (a, ca, url, token, b, set) = (a.clone(), info.ca.clone(), url.clone(), token.clone(), b.clone(), set.clone());
            std::thread::spawn(move || {
                let ag = agent(&a.profile, &ca);
                let mut lat = Vec::new();
                for s in 0..sends {
                    // Every file has bytes of its own, as real care plans do (the same bytes
                    // everywhere would write one blob over and over).
                    let files: Vec<(String, Vec<u8>)> = set
                        .iter()
                        .map(|(p, bytes)| {
                            let mut bytes = bytes.clone();
                            let own = format!("{p},{c:06},{s:06}\r\n");
                            bytes[..own.len()].copy_from_slice(own.as_bytes());
                            (format!("{p}_202505_{}_43_{b}_11_2025042509{:02}{:02}.CSV", a.office, c % 60, s % 60), bytes)
                        })
                        .collect();
                    let key = format!("load-{c}-{s}");
                    let t = Instant::now();
                    let Some(uploader) = uploader else {
                        // The whole send in one request, built from the raw bytes as the
                        // client library does (the SHA-256 of each file, then the form).
                        let shas: Vec<String> = files.iter().map(|(_, f)| careplan_relay::auth::sha256_hex(f)).collect();
                        let refs: Vec<Value> = files.iter().zip(&shas).map(|((name, f), sha)| json!({"name": name, "upload": "", "sha256": sha, "size": f.len()})).collect();
                        let request = json!({"message": "", "destinations": [{"office": b, "files": refs}]});
                        let parts: Vec<(&str, &[u8])> = shas.iter().zip(&files).map(|(sha, (_, f))| (sha.as_str(), f.as_slice())).collect();
                        let (status, v) = support::send_whole_parts(&ag, &url, &token, &key, &request, &parts);
                        assert_eq!(status, 200, "{v}");
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        continue;
                    };
                    let files: Vec<Value> = files.iter().map(|(name, f)| json!({"name": name, "data": b64(f)})).collect();
                    let mut body = json!({"message": "", "destinations": [{"office": b, "files": files}]});
                    // Its uploads (one PUT per file, or a POST + PUT per file) and the send.
                    support::stage_files_by(&ag, &url, &token, &mut body, uploader);
                    let mut r = ag
                        .post(&format!("{url}/api/v1/send"))
                        .header("Authorization", &format!("Bearer {token}"))
                        .header("Idempotency-Key", &key)
                        .send_json(&body)
                        .expect("send");
                    assert_eq!(r.status().as_u16(), 200);
                    // Read to the end, so that the connection goes back to the agent's
                    // pool: an unread answer leaves it behind and the next send opens
                    // another one, until the relay's per-peer connection limit (64)
                    // closes new connections mid-upload.
                    let _ = r.body_mut().read_to_vec().expect("send answer");
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat
            })
        })
        .collect();
    let per_client: Vec<Vec<f64>> = handles
        .into_iter()
        .map(|h| h.join().expect("client"))
        .collect();
    let wall = start.elapsed().as_secs_f64();
    // Each client's first send also opens its connection (TCP + TLS handshake with a client
    // certificate), all 50 at the same instant: shown apart as well.
    let mut first: Vec<f64> = per_client
        .iter()
        .filter_map(|l| l.first().copied())
        .collect();
    let mut later: Vec<f64> = per_client
        .iter()
        .flat_map(|l| l.iter().skip(1).copied())
        .collect();
    first.sort_by(f64::total_cmp);
    later.sort_by(f64::total_cmp);
    let mut lat: Vec<f64> = per_client.into_iter().flatten().collect();
    lat.sort_by(f64::total_cmp);
    let n = lat.len();
    let sends_per_s = n as f64 / wall;
    let mb_s = (n * set_bytes) as f64 / wall / 1e6;

    // Raw rate: write + fsync the same bytes (one file per send, as one durable commit).
    let raw_dir = tempfile::tempdir_in(dir.path()).expect("tempdir");
    let raw_n = n.min(200);
    let t = Instant::now();
    for i in 0..raw_n {
        let mut f = std::fs::File::create(raw_dir.path().join(format!("{i}"))).expect("create");
        for (_, bytes) in &set {
            f.write_all(bytes).expect("write");
        }
        f.sync_all().expect("fsync");
    }
    let raw_per_s = raw_n as f64 / t.elapsed().as_secs_f64();
    let way = match mode.as_str() {
        "session" => "upload sessions + send",
        "whole" => "whole uploads + send",
        _ => "one request each",
    };
    println!("load: {clients} clients × {sends} sends of a 3-file set ({set_bytes} bytes), {way}");
    println!(
        "  sends/s {sends_per_s:.1}, MB/s {mb_s:.2}, p50 {:.1} ms, p99 {:.1} ms, wall {wall:.2} s",
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
    println!(
        "  first send of each client (with its TLS handshake): p50 {:.1} ms, p99 {:.1} ms; later sends: p50 {:.1} ms, p99 {:.1} ms",
        pct(&first, 0.5),
        pct(&first, 0.99),
        pct(&later, 0.5),
        pct(&later, 0.99)
    );
    println!(
        "  raw write+fsync of the same bytes: {raw_per_s:.1} sets/s; ratio {:.2}",
        sends_per_s / raw_per_s
    );
    relay.shutdown();
}
