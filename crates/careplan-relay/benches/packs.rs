//! The local blob store with and without packs, side by side: durable small-blob writes
//! per second at 1, 8 and 50 concurrent writers (a file each, fsynced with its folder, as
//! `object_store`'s local store does, against appends to a pack with shared flushes), and
//! the cost of opening packs that hold many blobs (index rebuild time and memory).
//!
//! `cargo bench -p careplan-relay --bench packs` (env: `BLOBS` blobs written per case,
//! default 2 000; `SIZE` bytes each, default 20 000; `OPEN` blobs for the open case, default
//! 200 000 of 1 KiB).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use careplan_relay::blob::{BlobConfig, Blobs};
use careplan_relay::pack::Packs;
use sha2::{Digest, Sha256};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn blob(i: usize, size: usize) -> (String, Bytes) {
    let mut b = format!("blob {i} ").into_bytes();
    b.resize(size.max(b.len()), b'x');
    (hex::encode(Sha256::digest(&b)), Bytes::from(b))
}

/// Resident memory of this process in KiB (Linux), 0 elsewhere.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn writes(blobs: Arc<Blobs>, n: usize, size: usize, writers: usize, base: usize) -> f64 {
    let t = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let blobs = blobs.clone();
            tokio::spawn(async move {
                for i in (w..n).step_by(writers) {
                    let (sha, b) = blob(base + i, size);
                    blobs.put_bytes(&sha, b).await.expect("put");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// Open the packs in `dir` and print the time it took and the memory the index holds.
fn open_and_report(dir: &std::path::Path) {
    let before = rss_kib();
    let t = Instant::now();
    let p = Packs::open(dir).expect("reopen");
    let took = t.elapsed();
    let after = rss_kib();
    let st = p.stats();
    println!(
        "  open: {} blobs in {} packs ({:.0} MiB): {:.0} ms, index ≈ {} bytes per blob (RSS {} → {} KiB)",
        st.blobs,
        st.packs,
        st.bytes as f64 / 1_048_576.0,
        took.as_secs_f64() * 1000.0,
        after.saturating_sub(before) * 1024 / st.blobs.max(1) as u64,
        before,
        after
    );
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    if let Some(dir) = std::env::var_os("PACKS_OPEN_DIR") {
        open_and_report(std::path::Path::new(&dir));
        return;
    }
    let n = env_usize("BLOBS", 2_000);
    let size = env_usize("SIZE", 20_000);
    let open_n = env_usize("OPEN", 200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("packs: durable writes of {n} blobs of {size} bytes, blobs/s");
    for writers in [1, 8, 50] {
        let mut line = format!("  {writers:>2} writers:");
        for packs in [false, true] {
            let dir = tempfile::tempdir().expect("tmp");
            let cfg = BlobConfig {
                packs: Some(packs),
                ..BlobConfig::default()
            };
            let blobs = Arc::new(Blobs::open(&cfg, dir.path()).expect("open"));
            let rate = rt.block_on(writes(blobs.clone(), n, size, writers, writers * 1_000_000));
            let way = if packs { "packs" } else { "a file each" };
            line.push_str(&format!(" {way} {rate:.0}"));
            if let Some(p) = blobs.packs() {
                let st = p.stats();
                line.push_str(&format!(" ({} flushes)", st.flushes));
            }
        }
        println!("{line}");
    }
    // Opening packs of many blobs: the index rebuilt from the headers.
    let dir = tempfile::tempdir().expect("tmp");
    {
        let p = Packs::open(dir.path()).expect("open");
        rt.block_on(async {
            let batch: Vec<(String, Bytes)> = (0..open_n).map(|i| blob(i, 1024)).collect();
            for chunk in batch.chunks(1000) {
                p.put_all(chunk.to_vec()).await.expect("put");
            }
        });
    }
    // Opened in a fresh process, so that its resident memory is the index's alone.
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("PACKS_OPEN_DIR", dir.path())
        .output()
        .expect("open in a child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
}
