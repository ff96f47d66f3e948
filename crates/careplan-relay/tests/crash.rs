//! Crash test (the Postfix rule): the real `careplan-relay` binary is killed with SIGKILL
//! while clients send; after a restart every acknowledged send is present exactly once and
//! every listed send is whole. On SQLite and on PostgreSQL (`--database-url`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

mod support;
use std::time::{Duration, Instant};

use support::pg::{Backend, Store};

use careplan_relay::demo::{DemoInfo, b64};
use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn_relay(dir: &Path, port: u16, database_url: Option<&str>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careplan-relay"));
    cmd.args(["demo", "--data"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn relay")
}

fn agent(profile: &Path, ca: &Path) -> ureq::Agent {
    support::agent(Some(profile), ca)
}

fn wait_ready(dir: &Path, deadline: Duration) -> DemoInfo {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("demo.json"))
            && let Ok(info) = serde_json::from_str::<DemoInfo>(&text)
        {
            let a = agent(&info.offices[0].profile, &info.ca);
            if a.get(&format!("{}/api/v1/status", info.relay_url))
                .call()
                .is_ok()
            {
                return info;
            }
        }
        assert!(start.elapsed() < deadline, "relay did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn login(a: &ureq::Agent, url: &str, o: &careplan_relay::demo::DemoOfficeInfo) -> Option<String> {
    let mut r = a
        .post(&format!("{url}/api/v1/login/personal"))
        .send_json(json!({"user_id": o.personal_user, "password": o.personal_password}))
        .ok()?;
    let t: Value = r.body_mut().read_json().ok()?;
    let mut r = a
        .post(&format!("{url}/api/v1/login/office"))
        .header("Authorization", &format!("Bearer {}", t["token"].as_str()?))
        .send_json(json!({"user_id": o.office_user, "password": o.office_password}))
        .ok()?;
    let s: Value = r.body_mut().read_json().ok()?;
    s["token"].as_str().map(str::to_owned)
}

/// One round: start the relay, let 4 clients send 3-file sets (two as uploads + send, two
/// in one request each), SIGKILL it after `after`.
/// Returns the acknowledged (key, send id) pairs.
/// The body of the send with `key` (`crash-TAG-W-I`): the same key always gives the same
/// content, so a retry after the crash is a true retry.
fn send_body(key: &str, from: &str, to: &str) -> Value {
    let mut parts = key.rsplit('-');
    let i: usize = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let w: usize = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let files: Vec<Value> = ["UPPLAN", "UPSIKYU", "UPHOSOKU"]
        .iter()
        .map(|p| {
            let name = format!(
                "{p}_202505_{from}_43_{to}_11_2025042509{w:02}{:02}.CSV",
                i % 60
            );
            json!({"name": name, "data": b64(format!("202407,131011,{key},{p}\r\n").repeat(200).as_bytes())})
        })
        .collect();
    json!({"message": key, "destinations": [{"office": to, "files": files}]})
}

fn round(
    dir: &Path,
    port: u16,
    tag: &str,
    after: Duration,
    database_url: Option<&str>,
) -> Vec<(String, String)> {
    let mut child = spawn_relay(dir, port, database_url);
    let info = wait_ready(dir, Duration::from_secs(60));
    let b = info.offices[1].office.clone();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (acked, stop, info, b, tag) = (
            acked.clone(),
            stop.clone(),
            info.clone(),
            b.clone(),
            tag.to_owned(),
        );
        workers.push(std::thread::spawn(move || {
            let a = &info.offices[0];
            let agent = agent(&a.profile, &info.ca);
            let Some(token) = login(&agent, &info.relay_url, a) else {
                return;
            };
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let key = format!("crash-{tag}-{w}-{i}");
                let mut body = send_body(&key, &a.office, &b);
                if w % 2 == 1 {
                    // Half the workers send in one request (files in the request).
                    let (s, v) = support::send_whole(&agent, &info.relay_url, &token, &key, &body);
                    match v["send_id"].as_str() {
                        Some(id) if s == 200 => {
                            acked.lock().expect("lock").push((key, id.to_owned()));
                            continue;
                        }
                        _ => return,
                    }
                }
                support::stage_files(&agent, &info.relay_url, &token, &mut body);
                let resp = agent
                    .post(&format!("{}/api/v1/send", info.relay_url))
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("Idempotency-Key", &key)
                    .send_json(&body);
                match resp {
                    Ok(mut r) if r.status().as_u16() == 200 => {
                        let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
                        if let Some(id) = v["send_id"].as_str() {
                            acked.lock().expect("lock").push((key, id.to_owned()));
                        }
                    }
                    _ => return,
                }
            }
        }));
    }
    std::thread::sleep(after);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    acked.lock().expect("lock").clone()
}

/// Every page of `/api/v1/sent`.
fn sent_all(agent: &ureq::Agent, url: &str, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let mut r = agent
            .get(&format!("{url}/api/v1/sent?limit=1000&after={after}"))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .expect("sent");
        let next = r
            .headers()
            .get(careplan_core::wire::NEXT_CURSOR_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let page: Value = r
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_json()
            .expect("json");
        out.extend(page.as_array().expect("array").iter().cloned());
        match next {
            Some(c) => after = c,
            None => return out,
        }
    }
}

fn acknowledged_sends_survive_sigkill(backend: Backend) {
    use rand::Rng;
    let store = Store::new(backend);
    let dir = &store.dir;
    let url = store.database_url();
    let url = url.as_deref();
    let port = free_port();
    // Three kills at random points while 4 clients send (the same data directory each time).
    let mut acked = Vec::new();
    let mut per_round = Vec::new();
    for r in 0..3 {
        let after = Duration::from_millis(rand::rng().random_range(400..1600));
        let got = round(dir.path(), port, &r.to_string(), after, url);
        per_round.push((after.as_millis(), got.len()));
        acked.extend(got);
    }
    assert!(
        !acked.is_empty(),
        "some sends were acknowledged before the kills"
    );
    // Both ways among them (`crash-TAG-W-I`: odd workers send in one request).
    let worker = |k: &str| k.split('-').nth(2).and_then(|w| w.parse::<u32>().ok());
    assert!(
        acked
            .iter()
            .any(|(k, _)| worker(k).is_some_and(|w| w % 2 == 1))
    );
    assert!(
        acked
            .iter()
            .any(|(k, _)| worker(k).is_some_and(|w| w % 2 == 0))
    );

    // restart on the same data and check
    let mut child = spawn_relay(dir.path(), port, url);
    let info = wait_ready(dir.path(), Duration::from_secs(60));
    let a = &info.offices[0];
    let b = info.offices[1].office.clone();
    let agent = agent(&a.profile, &info.ca);
    let token = login(&agent, &info.relay_url, a).expect("login after restart");
    let sent = sent_all(&agent, &info.relay_url, &token);
    for (key, id) in &acked {
        let n = sent.iter().filter(|t| t["message"] == key.as_str()).count();
        assert_eq!(n, 1, "acknowledged send {key} present exactly once");
        assert!(sent.iter().any(|t| t["id"] == id.as_str()));
    }
    let mut listed = 0;
    for t in sent.iter().filter(|t| {
        t["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("crash-"))
    }) {
        listed += 1;
        let files = t["destinations"][0]["files"].as_array().map_or(0, Vec::len);
        assert_eq!(files, 3, "a listed send is whole: {t}");
    }
    // a retry of an acknowledged key after the crash is a replay, not a new send
    let (key, id) = &acked[0];
    let retry = |mut body: Value| {
        support::stage_files(&agent, &info.relay_url, &token, &mut body);
        let mut r = agent
            .post(&format!("{}/api/v1/send", info.relay_url))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Idempotency-Key", key)
            .send_json(body)
            .expect("retry");
        let status = r.status().as_u16();
        (status, r.body_mut().read_json::<Value>().expect("json"))
    };
    let (_, v) = retry(send_body(key, &a.office, &b));
    assert_eq!(v["send_id"], id.as_str());
    assert_eq!(v["replayed"], true);
    // … also when retried the other way (files in the request).
    let (s, v) = support::send_whole(
        &agent,
        &info.relay_url,
        &token,
        key,
        &send_body(key, &a.office, &b),
    );
    assert_eq!((s, &v["send_id"]), (200, &json!(id)), "{v}");
    assert_eq!(v["replayed"], true);
    // … and the key stays bound to that content
    let (status, v) = retry(
        json!({"message": key, "destinations": [{"office": b, "files": [{"name": "x.pdf", "data": b64(b"x")}]}]}),
    );
    assert_eq!(status, 409, "{v}");
    let _ = child.kill();
    let _ = child.wait();
    eprintln!(
        "crash test: kills after (ms, acknowledged) {per_round:?}; {} acknowledged in all, all present once after restart; {listed} listed, all whole",
        acked.len()
    );
}

on_both_backends!(acknowledged_sends_survive_sigkill);

/// Send SIGTERM to the process `pid` (our own child).
#[cfg(unix)]
#[allow(unsafe_code)]
fn sigterm(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory preconditions; `pid` is a child this test started and
    // has not yet waited for, so the number is not reused.
    unsafe { libc::kill(pid, libc::SIGTERM) == 0 }
}

/// `serve` stops gracefully on SIGTERM (what systemd, Docker and Kubernetes send first), as
/// on SIGINT: a waiting long-poll is answered (not cut), and the process ends by itself
/// with success.
#[cfg(unix)]
#[test]
fn sigterm_answers_waiters_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = spawn_relay(dir.path(), port, None);
    let info = wait_ready(dir.path(), Duration::from_secs(60));
    let b = &info.offices[1];
    let agent = agent(&b.profile, &info.ca);
    let token = login(&agent, &info.relay_url, b).expect("login");
    let wait = |since: Option<&str>| {
        let q = since
            .map(|s| format!("?since={s}&timeout=60"))
            .unwrap_or_default();
        let t = Instant::now();
        let mut r = agent
            .get(&format!("{}/api/v1/wait{q}", info.relay_url))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .expect("wait");
        let status = r.status().as_u16();
        (
            status,
            r.body_mut().read_json::<Value>().expect("json"),
            t.elapsed(),
        )
    };
    let (_, v, _) = wait(None);
    let cursor = v["cursor"].as_str().expect("cursor").to_owned();
    std::thread::scope(|sc| {
        let waiter = sc.spawn(|| wait(Some(&cursor)));
        std::thread::sleep(Duration::from_millis(700));
        assert!(!waiter.is_finished(), "the long-poll waits");
        assert!(sigterm(child.id()), "SIGTERM sent");
        let (status, v, took) = waiter.join().expect("waiter");
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["arrived"], false);
        assert_eq!(v["cursor"], cursor.as_str());
        assert!(
            took < Duration::from_secs(30),
            "answered, not cut at the timeout: {took:?}"
        );
    });
    let start = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the relay did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
}

/// The packs of a relay on SQLite belong to its process: a second relay on the same data
/// directory is refused with a clear message, and `purge` run meanwhile leaves the blobs to
/// the running relay's housekeeping (rows only) instead of failing; once the relay has
/// stopped, `purge` sweeps them itself.
#[test]
fn the_packs_belong_to_one_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = spawn_relay(dir.path(), port, None);
    let _info = wait_ready(dir.path(), Duration::from_secs(60));
    let second = Command::new(env!("CARGO_BIN_EXE_careplan-relay"))
        .args(["demo", "--data"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .expect("second relay");
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second relay is refused");
    assert!(
        err.contains("別の中継サーバーのプロセスが使っています"),
        "{err}"
    );
    // `purge`, which succeeds either way; its output.
    let purge = || {
        let out = Command::new(env!("CARGO_BIN_EXE_careplan-relay"))
            .args(["purge", "--config"])
            .arg(dir.path().join("relay.toml"))
            .output()
            .expect("purge");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = purge();
    assert!(text.contains("中継サーバーが動作中です"), "{text}");
    let _ = child.kill();
    let _ = child.wait();
    let text = purge();
    assert!(text.contains("参照されないファイル"), "{text}");
}

/// An embedded relay whose port is taken fails to start without keeping its packs locked:
/// the desktop app then starts it again on a free port in the same process, on the same
/// data directory (`careplan-app`'s `demo.rs`).
#[test]
fn a_relay_that_could_not_bind_leaves_its_packs_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let first = careplan_relay::embedded::start_demo(dir.path(), addr);
    assert!(first.is_err(), "the port is taken");
    let relay =
        careplan_relay::embedded::start_demo(dir.path(), "127.0.0.1:0".parse().expect("addr"))
            .expect("started again on a free port");
    let info = relay.demo.clone().expect("demo");
    let a = agent(&info.offices[0].profile, &info.ca);
    assert!(
        a.get(&format!("{}/api/v1/status", relay.url()))
            .call()
            .is_ok()
    );
    relay.shutdown();
    // …and after a shutdown, once more (the packs were given back).
    let relay =
        careplan_relay::embedded::start_demo(dir.path(), "127.0.0.1:0".parse().expect("addr"))
            .expect("started after a shutdown");
    relay.shutdown();
}
