//! Benchmark: receiving 1 000 files (list + download + fsync + rename + ack + ledger) from a
//! real relay on loopback over mutual TLS, into a temp folder, with a real sled store.
//!
//! `cargo bench -p careplan-client --bench receive` (harness = false; prints the figures).

use std::time::Instant;

use careplan_client::OutgoingFile;
use careplan_client::send::SendMode;

#[path = "../tests/relay_support.rs"]
#[allow(dead_code)] // the benches use a part of the tests' support
mod relay_support;

fn main() {
    let n: usize = std::env::var("CAREPLAN_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let relay = relay_support::Relay::start();
    let (ta, tb) = (
        tempfile::tempdir().expect("t"),
        tempfile::tempdir().expect("t"),
    );
    let a = relay.login(0, ta.path(), "A-1");
    let to = careplan_core::OfficeNumber::parse(&relay.offices[1].office).expect("office");

    // The demo relay holds demo data for B: take it first so that only the n files count.
    {
        let tb0 = tempfile::tempdir().expect("t");
        let b0 = relay.login(1, tb0.path(), "B-0");
        let drain = tempfile::tempdir().expect("t");
        b0.receive_all(drain.path(), &mut |_| {}).expect("drain");
    }
    // Prepare: n attachments of 8 KiB in sends of 100 files.
    let t0 = Instant::now();
    for batch in 0..n.div_ceil(100) {
        let files: Vec<OutgoingFile> = (batch * 100..((batch + 1) * 100).min(n))
            .map(|i| OutgoingFile {
                name: format!("添付{i:05}.pdf"),
                bytes: (0..8192u32).map(|k| (k as usize ^ i) as u8).collect(),
            })
            .collect();
        let plan = a
            .prepare_send(files, "bench", &SendMode::Single { to: Some(to) })
            .expect("plan");
        a.send(&plan, true).expect("send");
    }
    eprintln!("sent {n} files in {:.2?}", t0.elapsed());

    let b = relay.login(1, tb.path(), "B-1");
    let out = tempfile::tempdir().expect("out");
    let t1 = Instant::now();
    let report = b.receive_all(out.path(), &mut |_| {}).expect("receive");
    let el = t1.elapsed();
    assert_eq!(report.saved.len(), n, "{:?}", report.failed.first());
    println!(
        "receive {n} files (list + download + fsync + rename + ack + ledger): {:.2?} total, {:.2} ms/file, {:.0} files/s",
        el,
        el.as_secs_f64() * 1000.0 / n as f64,
        n as f64 / el.as_secs_f64()
    );
}
