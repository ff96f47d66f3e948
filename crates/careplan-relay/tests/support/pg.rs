//! A real PostgreSQL for the tests and benches, started by the test binary itself on
//! loopback: Debian's `postgresql` package (installed with apt-get when `initdb`/`pg_ctl`
//! are missing), `initdb` + `pg_ctl start` in a temp folder, a random free port, the unix
//! socket in the temp folder, password (SCRAM) authentication. PostgreSQL refuses to run
//! as root: as root (here and in CI) the server runs as the system user `careplan-pg`
//! (created with `useradd --system` when missing) through `runuser`.
//!
//! One server per test binary, shared ([`server`]); each test gets its own database
//! ([`PgServer::create_database`], dropped again by its guard). The server is stopped at
//! the end: by [`Drop`] for an owned server, by an `atexit` hook for the shared one, and by a
//! watchdog process that stops it when the test process dies in any way (panic, abort,
//! SIGKILL): the watchdog waits for the end of a pipe only this process holds.
//!
//! Never skipped: when PostgreSQL cannot be installed or started, [`server`] panics with
//! what went wrong and the server's log.

#![allow(dead_code)] // each test binary uses a part of the support

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The system user the server runs as when the tests run as root.
const PG_USER: &str = "careplan-pg";
/// The superuser inside the cluster.
const SUPERUSER: &str = "careplan";

/// A running PostgreSQL cluster in a temp folder.
pub struct PgServer {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    /// fsync on (the benches) or off (the tests).
    durable: bool,
    password: String,
    /// `Some(user)` when the server runs as another user (tests run as root).
    run_as: Option<String>,
    stopped: AtomicBool,
    /// Held open for the watchdog: closed (by the kernel) when this process ends.
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

/// One database of the server, dropped (with its connections) when the guard is.
pub struct TestDb {
    /// Database name.
    pub name: String,
    /// `postgres://…` URL of the database.
    pub url: String,
    server: &'static PgServer,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.server.stopped.load(Ordering::SeqCst) {
            let _ = self.server.psql(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();

/// The shared server of this test binary, started on first use.
///
/// # Panics
/// When PostgreSQL cannot be installed or started (the test fails, it is never skipped).
#[allow(unsafe_code)] // atexit: the only way to run code when the test harness exits
pub fn server() -> &'static PgServer {
    let s = SERVER.get_or_init(|| {
        let s = PgServer::start(false);
        if s.is_ok() {
            // SAFETY: registering a plain `extern "C" fn` with the C runtime.
            unsafe {
                libc::atexit(stop_shared_at_exit);
            }
        }
        s
    });
    match s {
        Ok(s) => s,
        Err(e) => panic!("PostgreSQL for the tests could not be started: {e}"),
    }
}

extern "C" fn stop_shared_at_exit() {
    if let Some(Ok(s)) = SERVER.get() {
        s.stop();
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd:?} failed ({}): {text}", out.status))
    }
}

/// The folder with `initdb`, `pg_ctl`, `psql`: `CAREPLAN_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`, else `PATH`.
fn find_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CAREPLAN_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).find(|p| {
            p.join("initdb").is_file() && p.join("pg_ctl").is_file() && p.join("psql").is_file()
        })
    })
}

#[allow(unsafe_code)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Install Debian's `postgresql` when it is missing (needs root and apt-get).
fn install() -> Result<(), String> {
    if !is_root() {
        return Err("initdb/pg_ctl not found and not root: install the `postgresql` package (apt-get install postgresql) or set CAREPLAN_PG_BIN".into());
    }
    eprintln!("PostgreSQL not found: apt-get install postgresql");
    run(Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "postgresql",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

/// uid and gid of the server's system user, created when missing.
fn system_user() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Option<u32> {
        run(Command::new("id").args([flag, PG_USER]))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    if id("-u").is_none() {
        // Another test binary may create it at the same moment: look again on failure.
        let made = run(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            PG_USER,
        ]));
        if let Err(e) = made
            && id("-u").is_none()
        {
            return Err(format!("cannot create the system user {PG_USER}: {e}"));
        }
    }
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => Ok((u, g)),
        _ => Err(format!("no uid/gid for {PG_USER}")),
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl PgServer {
    /// Install (when needed), initialise and start a new cluster. `durable`: fsync on (the
    /// benches); the tests run with fsync off, which loses nothing unless the machine
    /// itself crashes (a killed or immediately stopped server recovers from its WAL, which
    /// `synchronous_commit = on` writes before a commit is answered).
    pub fn start(durable: bool) -> Result<Self, String> {
        let bin = match find_bin() {
            Some(b) => b,
            None => {
                install()?;
                find_bin().ok_or("postgresql installed, but initdb/pg_ctl still not found")?
            }
        };
        let run_as = if is_root() {
            Some(PG_USER.to_owned())
        } else {
            None
        };
        // As root the server's user must reach the folder: /tmp, not a private TMPDIR.
        let base = if run_as.is_some() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let root = tempfile::Builder::new()
            .prefix("careplan-pg-")
            .tempdir_in(&base)
            .map_err(|e| format!("temp dir in {}: {e}", base.display()))?
            .keep();
        let password = random_hex(16);
        std::fs::write(root.join("pw"), format!("{password}\n"))
            .map_err(|e| format!("password file: {e}"))?;
        if run_as.is_some() {
            let (uid, gid) = system_user()?;
            for p in [root.clone(), root.join("pw")] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                    .map_err(|e| format!("chown {}: {e}", p.display()))?;
            }
        }
        let server = Self {
            root,
            bin,
            port: 0,
            durable,
            password,
            run_as,
            stopped: AtomicBool::new(false),
            watchdog: Mutex::new(None),
        };
        let data = server.root.join("data");
        server
            .pg_cmd(
                "initdb",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-U",
                    SUPERUSER,
                    &format!("--pwfile={}", server.root.join("pw").display()),
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
            )
            .inspect_err(|_| server.cleanup())?;
        let mut server = server;
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            match server.pg_ctl_start(port) {
                Ok(()) => {
                    server.port = port;
                    server.spawn_watchdog();
                    return Ok(server);
                }
                // Most likely the port was taken in between: try another one.
                Err(e) => last = e,
            }
        }
        server.cleanup();
        Err(last)
    }

    /// `pg_ctl start` of the cluster on `port` (waits until it accepts connections); the
    /// error carries the server's log.
    fn pg_ctl_start(&self, port: u16) -> Result<(), String> {
        // `synchronous_commit` stays on in both: with it off a commit is answered before
        // its WAL is written, and `pg_ctl stop -m immediate` loses it (tests/cluster.rs
        // saw acknowledged sends vanish). With only fsync off the WAL is written to the
        // OS before the answer, so a killed server recovers every answered commit.
        let on = if self.durable { "on" } else { "off" };
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=64MB -c fsync={on} -c synchronous_commit=on -c full_page_writes={on}",
            self.root.display(),
        );
        let log = self.root.join("server.log");
        self.pg_cmd(
            "pg_ctl",
            &[
                "-D",
                &self.root.join("data").to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "-o",
                &opts,
                "start",
            ],
        )
        .map(|_| ())
        .map_err(|e| {
            format!(
                "{e}\n--- server log ---\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
    }

    /// Run a PostgreSQL program as the server's user; output goes to a file (a daemon
    /// started by `pg_ctl` must not inherit a pipe we wait on).
    fn pg_cmd(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let out_path = self.root.join(format!("{program}.out"));
        let out = std::fs::File::create(&out_path).map_err(|e| format!("{program}.out: {e}"))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let status = cmd.status().map_err(|e| format!("{program}: {e}"))?;
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        if status.success() {
            Ok(text)
        } else {
            Err(format!("{program} {args:?} failed ({status}): {text}"))
        }
    }

    /// A process that stops the server when this process ends, however it ends.
    fn spawn_watchdog(&self) {
        let data = self.root.join("data");
        let stop = match &self.run_as {
            Some(u) => format!("runuser -u {u} -- \"$1\" -D \"$2\" -m immediate -w stop"),
            None => "\"$1\" -D \"$2\" -m immediate -w stop".to_owned(),
        };
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cat >/dev/null; {stop} >/dev/null 2>&1; rm -rf \"$3\""
            ))
            .arg("careplan-pg-watchdog")
            .arg(self.bin.join("pg_ctl"))
            .arg(&data)
            .arg(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = child
            && let Some(stdin) = child.stdin.take()
            && let Ok(mut w) = self.watchdog.lock()
        {
            *w = Some((child, stdin));
        }
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (TCP on loopback, password authentication).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// Run one SQL statement in the `postgres` database with `psql`.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        run(Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url("postgres"))
            .args(["-c", sql]))
    }

    /// A fresh, empty database, dropped when the guard is.
    ///
    /// # Panics
    /// When the database cannot be created.
    pub fn create_database(&'static self) -> TestDb {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            random_hex(3)
        );
        if let Err(e) = self.psql(&format!("CREATE DATABASE \"{name}\"")) {
            panic!(
                "CREATE DATABASE failed: {e}\n--- server log ---\n{}",
                self.log()
            );
        }
        TestDb {
            url: self.url(&name),
            name,
            server: self,
        }
    }

    /// The server's log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// Stop abruptly (`pg_ctl stop -m immediate`), as a crash would; [`Self::restart`]
    /// brings it back on the same port with the same data (recovering from its WAL).
    pub fn stop_immediate(&self) -> Result<(), String> {
        self.pg_cmd(
            "pg_ctl",
            &[
                "-D",
                &self.root.join("data").to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .map(|_| ())
    }

    /// Start the cluster again after [`Self::stop_immediate`]: the same port, data and
    /// password (crash recovery from the WAL first).
    pub fn restart(&self) -> Result<(), String> {
        self.pg_ctl_start(self.port)
    }

    /// Stop (fast) and remove the folder; later calls do nothing.
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.pg_cmd(
            "pg_ctl",
            &[
                "-D",
                &self.root.join("data").to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
                "stop",
            ],
        );
        self.cleanup();
        // The watchdog finds the server stopped and the folder gone: let it end.
        if let Ok(mut w) = self.watchdog.lock()
            && let Some((mut child, stdin)) = w.take()
        {
            drop(stdin);
            let _ = child.wait();
        }
    }

    fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: `relay.sqlite3` in the data directory.
    Sqlite,
    /// A fresh database of this binary's PostgreSQL.
    Pg,
}

/// The store of one test: its data directory and, on PostgreSQL, its database.
pub struct Store {
    /// The relay's data directory (PKI, demo.json, and on SQLite the database).
    pub dir: tempfile::TempDir,
    /// The database, on PostgreSQL.
    pub pg: Option<TestDb>,
}

impl Store {
    /// A fresh store on `backend`.
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Pg => Some(server().create_database()),
        };
        Self { dir, pg }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `database_url` of the relay's configuration (`None`: SQLite in the data directory).
    pub fn database_url(&self) -> Option<String> {
        self.pg.as_ref().map(|d| d.url.clone())
    }

    /// The URL the relay opens.
    pub fn url(&self) -> String {
        self.database_url().unwrap_or_else(|| {
            careplan_relay::config::sqlite_url(&self.dir.path().join("relay.sqlite3"))
        })
    }
}

/// Generate, for each named test body `fn name(backend: Backend)`, a module `name` with the
/// tests `name::sqlite` and `name::pg`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name($crate::support::pg::Backend::Sqlite)
                }
                #[test]
                fn pg() {
                    super::$name($crate::support::pg::Backend::Pg)
                }
            }
        )+
    };
}
