//! Relay processes, haproxy and their configuration, shared by `tests/cluster.rs` and the
//! month-start simulator (`examples/month_start.rs`): a child process killed when dropped
//! ([`Proc`]), waiting for a port, Debian's haproxy (installed when missing), a relay's
//! TOML configuration and haproxy's.

#![allow(dead_code)] // each binary uses a part of the support

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Wait until something accepts TCP connections on `port`, while `alive` holds.
pub fn wait_listening(port: u16, what: &str, mut alive: impl FnMut() -> Result<(), String>) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Err(e) = alive() {
            panic!("{what} did not start: {e}");
        }
        assert!(Instant::now() < until, "{what} did not listen within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process, killed (SIGKILL) and reaped when dropped, also on a panic.
pub struct Proc {
    name: String,
    child: Mutex<Option<Child>>,
    log: PathBuf,
}

impl Proc {
    /// Start `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        Self {
            name: name.to_owned(),
            child: Mutex::new(Some(child)),
            log: log.to_owned(),
        }
    }

    fn child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(Child::id)
    }

    /// `VmRSS` of the process in KiB (`/proc/<pid>/status`), 0 when unknown.
    pub fn rss_kib(&self) -> u64 {
        self.pid().map_or(0, |pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        })
    }

    /// `Err` (with its log) when the process has ended.
    pub fn alive(&self) -> Result<(), String> {
        match self.child().as_mut().map(Child::try_wait) {
            Some(Ok(None)) => Ok(()),
            other => Err(format!(
                "{} ended ({other:?})\n--- log ---\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&self) {
        if let Some(mut c) = self.child().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Install Debian's `haproxy` when it is missing (as `support/pg.rs` does PostgreSQL).
pub fn haproxy_bin() -> PathBuf {
    let found = || {
        ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    };
    if let Some(p) = found() {
        return p;
    }
    eprintln!("haproxy not found: apt-get install haproxy");
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "--no-install-recommends", "haproxy"][..],
    ] {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("apt-get: {e} (install the haproxy package)"));
        assert!(
            out.status.success(),
            "apt-get {args:?} failed (install the haproxy package as root): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    found().expect("haproxy installed, but /usr/sbin/haproxy is missing")
}

/// One relay process's configuration ([`RelaySpec::toml`]).
pub struct RelaySpec<'a> {
    /// The demo folder (its `pki/` is used).
    pub demo: &'a Path,
    /// The relay's data folder.
    pub data: &'a Path,
    /// The shared blob folder.
    pub blobs: &'a Path,
    /// Loopback port.
    pub port: u16,
    /// `postgres://…`, or `None` for SQLite in the data folder.
    pub database_url: Option<&'a str>,
    /// Behind haproxy: require its PROXY v2 header from 127.0.0.1.
    pub proxied: bool,
    /// Lines added to `[connections]`.
    pub connections: &'a str,
    /// Whole sections added at the end (`[push]`, `[limits]`, …).
    pub extra: &'a str,
}

impl RelaySpec<'_> {
    /// The TOML text (written as a file; `docs/deploy.md` shows the cluster's).
    pub fn toml(&self) -> String {
        let database = self
            .database_url
            .map(|u| format!("database_url = \"{u}\"\n"))
            .unwrap_or_default();
        let proxy = if self.proxied {
            "# haproxy's address: its connections start with a PROXY v2 header naming the client\nproxy_protocol_from = [\"127.0.0.1\"]\nproxy_protocol_required = true\n"
        } else {
            ""
        };
        format!(
            r#"listen = "127.0.0.1:{port}"
data_dir = "{data}"
{database}ca_cert = "{demo}/pki/ca.crt"
server_cert = "{demo}/pki/server.crt"
server_key = "{demo}/pki/server.key"

[security]
# test only: cheap password hashes (production keeps the defaults)
argon2_memory_kib = 4096
argon2_iterations = 1

[connections]
{proxy}{connections}
[blobs]
store = "local"
path = "{blobs}"
{extra}"#,
            port = self.port,
            data = self.data.display(),
            demo = self.demo.display(),
            blobs = self.blobs.display(),
            connections = self.connections,
            extra = self.extra,
        )
    }
}

/// haproxy in TCP mode: the balanced frontend the offices use, and one frontend per relay
/// (test only) to pin a client to one relay.
pub fn haproxy_cfg(front: u16, pinned: &[u16], relays: &[u16], maxconn: usize) -> String {
    let servers: String = relays
        .iter()
        .enumerate()
        .map(|(i, p)| format!("    server relay{i} 127.0.0.1:{p}\n"))
        .collect();
    let mut cfg = format!(
        r#"global
    maxconn {maxconn}

defaults
    mode tcp
    timeout connect 2s
    # longer than the relay's longest long-poll (push.max_wait_secs = 60)
    timeout client 75s
    timeout server 75s
    timeout check 1s
    # a connection refused by a dead relay is tried on another one
    retries 3
    option redispatch 1

frontend relay
    bind 127.0.0.1:{front}
    default_backend relays

backend relays
    balance leastconn
    default-server send-proxy-v2 check inter 500ms fall 2 rise 2
{servers}"#
    );
    for (i, (pin, p)) in pinned.iter().zip(relays).enumerate() {
        cfg.push_str(&format!(
            "\n# test only: straight to relay{i}\nfrontend pin{i}\n    bind 127.0.0.1:{pin}\n    default_backend only{i}\n\nbackend only{i}\n    server relay{i} 127.0.0.1:{p} send-proxy-v2\n"
        ));
    }
    cfg
}

/// Start haproxy with `cfg` (checked first with `haproxy -c`), logging to `log`; waits
/// until every port in `ports` listens.
pub fn start_haproxy(cfg_path: &Path, cfg: &str, log: &Path, ports: &[u16]) -> Proc {
    let haproxy = haproxy_bin();
    std::fs::write(cfg_path, cfg).expect("haproxy.cfg");
    let check = Command::new(&haproxy)
        .args(["-c", "-q", "-f"])
        .arg(cfg_path)
        .output()
        .expect("haproxy -c");
    assert!(
        check.status.success(),
        "haproxy.cfg refused: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let proc = Proc::spawn(
        "haproxy",
        Command::new(&haproxy).args(["-db", "-f"]).arg(cfg_path),
        log,
    );
    for &p in ports {
        wait_listening(p, "haproxy", || proc.alive());
    }
    proc
}

/// Start `careplan-relay serve --config <config>` (the binary `exe`, logging at
/// `rust_log`) and wait until it listens on `port`.
pub fn start_relay(
    exe: &Path,
    config: &Path,
    port: u16,
    log: &Path,
    name: &str,
    rust_log: &str,
) -> Proc {
    let proc = Proc::spawn(
        name,
        Command::new(exe)
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", rust_log),
        log,
    );
    wait_listening(port, name, || proc.alive());
    proc
}
