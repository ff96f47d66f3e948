//! The hands-free exchange (issue 14): a watched 送信フォルダ (outbox) and an optional
//! automatic 受信フォルダ (inbox), run by one [`Engine`] on one thread. The desktop app and
//! the headless `careplan watch` command run the same engine. Design, folder layout and the
//! decisions where the issue is silent: `docs/watch.md`.
//!
//! - [`outbox`]: files that stopped changing are grouped into send-sets (same ファイル連番,
//!   sender and destination), checked with the same pre-send check as the screens
//!   ([`crate::Client::prepare_send`]) and sent once, or moved to `エラー` / `確認待ち`
//!   with a Japanese reason file; sent sets move to `送信済/YYYYMM/`.
//! - [`queue`]: the journal of the sets in flight (sled, flushed before any byte leaves):
//!   each set's idempotency key survives a crash, so a restart resends with the same key
//!   and the relay records the set once.
//! - [`inbox`]: new arrivals received set by set in import order with the client's durable
//!   receive path, with a `.完了` marker per complete set.
//!
//! The engine sleeps on a channel: file-system events (the `notify` crate), a periodic scan
//! of the folder's top level (network shares where events do not arrive), the inbox poll,
//! the retry back-off and [`StopHandle::stop`] wake it. Nothing else runs while idle.

pub mod inbox;
pub mod outbox;
pub mod queue;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::Client;
use crate::error::ClientError;

/// What to do with a set whose pre-send check found only warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningPolicy {
    /// Hold it for a person: the set moves to `確認待ち` with the warnings next to it;
    /// moving the files into `確認済` sends them (the default).
    #[default]
    Hold,
    /// Send it anyway (the warnings are written to the ledger's receipt and the log).
    Send,
}

impl WarningPolicy {
    /// `hold` / `send`.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningPolicy::Hold => "hold",
            WarningPolicy::Send => "send",
        }
    }
}

/// The watched folders as remembered in the terminal's settings ([`crate::Settings::watch`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchSettings {
    /// 送信フォルダ (`None`: no outbox).
    pub outbox: Option<PathBuf>,
    /// 受信フォルダ (`None`: arrivals are not received automatically).
    pub inbox: Option<PathBuf>,
    /// Sets with warnings: hold or send.
    pub warnings: WarningPolicy,
    /// メッセージ of the automatic sends (empty by default).
    pub message: String,
}

/// Tunables of an [`Engine`]. [`WatchConfig::default`] holds the production values.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// 送信フォルダ.
    pub outbox: Option<PathBuf>,
    /// 受信フォルダ.
    pub inbox: Option<PathBuf>,
    /// Sets with warnings: hold or send.
    pub warnings: WarningPolicy,
    /// メッセージ of the automatic sends.
    pub message: String,
    /// A file is complete once its size and modification time have not changed for this
    /// long (default 3 s).
    pub settle: Duration,
    /// An incomplete set waits this long after its newest member settled for the missing
    /// members, then goes with its warning (default 30 s).
    pub set_wait: Duration,
    /// Scan of the outbox's top level even without file-system events (network shares):
    /// default 5 s.
    pub rescan: Duration,
    /// Interval of the arrival check of the inbox (default 30 s).
    pub poll: Duration,
    /// First pause after the relay could not be reached; doubled on each failure
    /// (default 5 s).
    pub retry_first: Duration,
    /// Longest pause between two tries (default 5 min).
    pub retry_max: Duration,
    /// Pause after a login refused for the ID, password or certificate (default 15 min:
    /// trying a wrong password again and again would lock the account).
    pub login_retry: Duration,
    /// Where the engine writes its status for other processes (`careplan watch --status`);
    /// `None`: no status file.
    pub status_file: Option<PathBuf>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            outbox: None,
            inbox: None,
            warnings: WarningPolicy::Hold,
            message: String::new(),
            settle: Duration::from_secs(3),
            set_wait: Duration::from_secs(30),
            rescan: Duration::from_secs(5),
            poll: Duration::from_secs(30),
            retry_first: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            login_retry: Duration::from_secs(900),
            status_file: None,
        }
    }
}

impl WatchConfig {
    /// The production tunables with the folders and choices of `s`.
    pub fn from_settings(s: &WatchSettings) -> Self {
        Self {
            outbox: s.outbox.clone(),
            inbox: s.inbox.clone(),
            warnings: s.warnings,
            message: s.message.clone(),
            ..Self::default()
        }
    }
}

/// Logs the client in again when its session is gone (the headless command keeps the IDs
/// and passwords it was started with in memory; the app asks its login screen).
pub type LoginFn = Box<dyn Fn(&Client) -> Result<(), ClientError> + Send>;

/// One set of the outbox that is staged and not finished (what the queue view shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The set's idempotency key (also the name of its folder under `送信中`).
    pub key: String,
    /// ファイル連番 of the set, when its names have one.
    pub serial: Option<String>,
    /// Destination 事業所番号, when the names tell it.
    pub to_office: Option<String>,
    /// The file names.
    pub files: Vec<String>,
    /// `確認中` (being checked), `送信待ち` (waiting to be sent), `整理中` (being moved).
    pub state: String,
    /// Send attempts so far.
    pub attempts: u32,
    /// Why it is still waiting (Japanese), if it is.
    pub reason: Option<String>,
    /// When it was taken from the outbox.
    #[serde(with = "time::serde::rfc3339")]
    pub staged_at: OffsetDateTime,
}

/// Why the engine is not talking to the relay right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    /// Stable code ([`ClientError::code`]).
    pub code: String,
    /// Japanese message (what is wrong, what to do).
    pub message: String,
    /// When the next try is due.
    #[serde(with = "time::serde::rfc3339")]
    pub next_try: OffsetDateTime,
}

/// Counters since the engine started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Sets sent.
    pub sent_sets: u64,
    /// Sets moved to `エラー`.
    pub error_sets: u64,
    /// Sets moved to `確認待ち`.
    pub held_sets: u64,
    /// Sets received completely (marker written).
    pub received_sets: u64,
    /// Files received.
    pub received_files: u64,
    /// Rounds the engine ran (each wake-up: a file-system event, the rescan, a poll, a
    /// retry). Idle, this grows by about one per rescan interval.
    #[serde(default)]
    pub rounds: u64,
}

/// What the engine is doing: for the app's queue view and `careplan watch --status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchStatus {
    /// Our 事業所番号.
    pub office: String,
    /// Process ID of the engine.
    pub pid: u32,
    /// False once the engine stopped.
    pub running: bool,
    /// When this status was taken.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// 送信フォルダ.
    pub outbox: Option<PathBuf>,
    /// 受信フォルダ.
    pub inbox: Option<PathBuf>,
    /// Whether the outbox gets file-system events (else only the periodic scan).
    pub fs_events: bool,
    /// Files in the outbox not taken yet (still changing, or waiting for their set).
    pub waiting_files: usize,
    /// Sets taken and not finished, oldest ファイル連番 first.
    pub queue: Vec<QueueEntry>,
    /// Set while the relay cannot be used (offline, relay down, login refused).
    pub blocked: Option<Blocked>,
    /// The last problem of the inbox (Japanese), until a round succeeds.
    pub inbox_problem: Option<String>,
    /// When arrivals were last checked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_check: Option<OffsetDateTime>,
    /// Counters since start.
    pub counters: Counters,
}

impl WatchStatus {
    /// Read a status file written by a running engine (`None` when there is none).
    pub fn read(path: &Path) -> Result<Option<WatchStatus>, ClientError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| ClientError::Protocol(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::io(path, e)),
        }
    }
}

/// The status file beside the store: `<data dir>/watch-status.json`.
pub fn status_file_for(store_path: &Path) -> PathBuf {
    crate::fsutil::parent(store_path).join("watch-status.json")
}

enum Wake {
    /// Something changed in a watched folder.
    Fs,
    /// [`StopHandle::stop`].
    Stop,
}

/// Stops a running [`Engine`] (from a Ctrl-C handler, a service stop or the app).
#[derive(Clone)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    tx: Sender<Wake>,
}

impl StopHandle {
    /// Ask the engine to stop after the step it is doing (a send or a file being received
    /// finishes; nothing is left half-done).
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.tx.send(Wake::Stop);
    }

    /// True once [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// The relay side of the engine: login and back-off, shared by outbox and inbox.
#[derive(Debug, Default)]
struct Net {
    failures: u32,
    until: Option<Instant>,
    blocked: Option<Blocked>,
}

/// The hands-free engine: see the module documentation.
pub struct Engine {
    client: Client,
    cfg: WatchConfig,
    login: LoginFn,
    stop: Arc<AtomicBool>,
    tx: Sender<Wake>,
    rx: Receiver<Wake>,
    net: Net,
    outbox: Option<outbox::Outbox>,
    inbox: Option<inbox::Inbox>,
    status: Arc<Mutex<WatchStatus>>,
    status_written: Option<WatchStatus>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("office", self.client.office())
            .field("outbox", &self.cfg.outbox)
            .field("inbox", &self.cfg.inbox)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A Japanese message for a folder that cannot be used.
fn folder_error(what: &str, dir: &Path, e: std::io::Error) -> ClientError {
    ClientError::io(
        dir,
        std::io::Error::new(
            e.kind(),
            format!("{what}（{}）を使えません: {e}", dir.display()),
        ),
    )
}

impl Engine {
    /// An engine for `client` (logged in or not: it logs in with `login` when it needs the
    /// relay). Creates the folders it needs and finishes what a previous run left (sets in
    /// flight are sent again with their own idempotency key). No network here.
    pub fn new(client: Client, cfg: WatchConfig, login: LoginFn) -> Result<Engine, ClientError> {
        if cfg.outbox.is_none() && cfg.inbox.is_none() {
            return Err(ClientError::io(
                PathBuf::from("."),
                std::io::Error::other(
                    "送信フォルダも受信フォルダも指定されていません。少なくとも一方を指定してください。",
                ),
            ));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let outbox = match &cfg.outbox {
            Some(d) => {
                Some(outbox::Outbox::open(d).map_err(|e| folder_error("送信フォルダ", d, e))?)
            }
            None => None,
        };
        let inbox = match &cfg.inbox {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| folder_error("受信フォルダ", d, e))?;
                let d = std::fs::canonicalize(d).map_err(|e| folder_error("受信フォルダ", d, e))?;
                Some(inbox::Inbox::new(d))
            }
            None => None,
        };
        let watcher = match &outbox {
            Some(o) => watch_folders(&o.watched_dirs(), tx.clone()),
            None => None,
        };
        let status = WatchStatus {
            office: client.office().as_str().to_owned(),
            pid: std::process::id(),
            running: true,
            outbox: outbox.as_ref().map(|o| o.dir().to_path_buf()),
            inbox: inbox.as_ref().map(|i| i.dir().to_path_buf()),
            fs_events: watcher.is_some(),
            ..WatchStatus::default()
        };
        let mut engine = Engine {
            client,
            cfg,
            login,
            stop: Arc::new(AtomicBool::new(false)),
            tx,
            rx,
            net: Net::default(),
            outbox,
            inbox,
            status: Arc::new(Mutex::new(status)),
            status_written: None,
            _watcher: watcher,
        };
        engine.recover()?;
        Ok(engine)
    }

    /// A handle that stops [`Engine::run`].
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            flag: self.stop.clone(),
            tx: self.tx.clone(),
        }
    }

    /// The live status (shared; the app reads it from its UI thread).
    pub fn status_handle(&self) -> Arc<Mutex<WatchStatus>> {
        self.status.clone()
    }

    /// A copy of the current status.
    pub fn status(&self) -> WatchStatus {
        lock(&self.status).clone()
    }

    /// The client the engine uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Run until [`StopHandle::stop`]. Returns after the step in progress is finished; the
    /// status file then says `running: false`.
    pub fn run(mut self) -> Result<(), ClientError> {
        tracing::info!(
            office = %self.client.office(),
            outbox = ?self.cfg.outbox,
            inbox = ?self.cfg.inbox,
            fs_events = self._watcher.is_some(),
            warnings = self.cfg.warnings.as_str(),
            "watch: started"
        );
        while !self.stopped() {
            let wait = self.tick();
            if self.stopped() {
                break;
            }
            // Woken by a file-system event, a stop, or the time of the next round.
            let _ = self.rx.recv_timeout(wait);
            // Coalesce a burst of events into one round.
            while self.rx.try_recv().is_ok() {}
        }
        {
            let mut s = lock(&self.status);
            s.running = false;
        }
        self.publish_status();
        tracing::info!("watch: stopped");
        Ok(())
    }

    /// One round: scan the outbox, take and send ready sets, retry the queue, check the
    /// inbox when due. Returns how long the engine may sleep.
    pub fn tick(&mut self) -> Duration {
        self.count(|c| c.rounds += 1);
        let now = Instant::now();
        let mut next = now + self.cfg.rescan;
        if self.outbox.is_some() {
            let t = self.outbox_round(now);
            next = next.min(t);
        }
        if !self.stopped() && self.inbox.is_some() {
            let t = self.inbox_round(Instant::now());
            next = next.min(t);
        }
        // A pause still running ends with a round (a pause that is over waits for the
        // round that needs the relay).
        if let Some(u) = self.net.until
            && u > Instant::now()
        {
            next = next.min(u);
        }
        self.publish_status();
        next.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(20))
    }

    /// Finish what an earlier run left: staged sets of the outbox and the set the inbox was
    /// receiving.
    fn recover(&mut self) -> Result<(), ClientError> {
        if self.outbox.is_some() {
            self.outbox_recover()?;
        }
        Ok(())
    }

    // ----- the relay: login and back-off -----

    /// True when the relay may be used now (logging in first when needed).
    fn relay_ready(&mut self) -> bool {
        if let Some(u) = self.net.until
            && Instant::now() < u
        {
            return false;
        }
        if self.client.is_logged_in() {
            return true;
        }
        match (self.login)(&self.client) {
            Ok(()) => {
                tracing::info!("watch: logged in");
                true
            }
            Err(e) => {
                self.net_failed(&e);
                false
            }
        }
    }

    /// The relay answered: clear the back-off.
    fn net_ok(&mut self) {
        if self.net.blocked.is_some() {
            tracing::info!("watch: relay reachable again");
        }
        self.net = Net::default();
    }

    /// A relay call failed with `e`: wait before the next try (doubling, bounded).
    fn net_failed(&mut self, e: &ClientError) {
        let credentials = matches!(
            e,
            ClientError::LoginFailed { .. }
                | ClientError::AccountLocked { .. }
                | ClientError::PasswordChangeRequired
                | ClientError::OfficeMismatch { .. }
                | ClientError::CertificateRejected { .. }
                | ClientError::ServerNotTrusted { .. }
                | ClientError::Certificate { .. }
        );
        let pause = if matches!(e, ClientError::SessionExpired) {
            // Log in again at once (the client forgot the session).
            Duration::ZERO
        } else if credentials {
            self.cfg.login_retry
        } else {
            let n = self.net.failures.min(16);
            self.cfg
                .retry_first
                .saturating_mul(1u32 << n)
                .min(self.cfg.retry_max)
        };
        self.net.failures = self.net.failures.saturating_add(1);
        self.net.until = Some(Instant::now() + pause);
        let next_try = crate::now() + pause;
        tracing::warn!(
            code = %e.code(),
            retry_in_ms = pause.as_millis() as u64,
            "watch: relay not usable"
        );
        self.net.blocked = Some(Blocked {
            code: e.code(),
            message: e.message_ja(),
            next_try,
        });
    }

    // ----- status -----

    fn publish_status(&mut self) {
        let mut s = lock(&self.status).clone();
        s.blocked = self.net.blocked.clone();
        if let Some(o) = &self.outbox {
            s.waiting_files = o.waiting();
        }
        s.queue = self.queue_entries();
        // Sets waiting only because the relay cannot be used show that reason.
        if let Some(b) = &s.blocked {
            for q in s.queue.iter_mut().filter(|q| q.reason.is_none()) {
                q.reason = Some(b.message.clone());
            }
        }
        // Only write when something other than the time changed.
        s.updated_at = None;
        if self.status_written.as_ref() == Some(&s) {
            return;
        }
        self.status_written = Some(s.clone());
        s.updated_at = Some(crate::now());
        *lock(&self.status) = s.clone();
        if let Some(p) = &self.cfg.status_file
            && let Ok(bytes) = serde_json::to_vec_pretty(&s)
            && let Err(e) = crate::fsutil::write_atomic(p, &bytes, true)
        {
            tracing::warn!(error = %e.code(), "watch: could not write the status file");
        }
    }

    fn queue_entries(&self) -> Vec<QueueEntry> {
        let office = self.client.office().as_str();
        match queue::list(self.client.store(), office) {
            Ok(recs) => recs.iter().map(queue::OutRecord::entry).collect(),
            Err(_) => lock(&self.status).queue.clone(),
        }
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut lock(&self.status).counters);
    }
}

/// Whether a file-system event may mean a new or changed file: everything but reads (a
/// file closed after writing counts).
fn wakes(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        notify::EventKind::Access(_) => false,
        _ => true,
    }
}

/// Watch `dirs` (non-recursively) and wake the engine on every change. `None` when the
/// platform's watcher cannot be used (then the periodic scan alone finds new files).
fn watch_folders(dirs: &[PathBuf], tx: Sender<Wake>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    // Only changes wake the engine: reading a folder is itself an event on some platforms
    // (inotify's IN_OPEN / IN_CLOSE_NOWRITE, `Access` in notify), and waking on those made
    // every scan wake the next one — a busy loop at half a core while idle.
    let handler = move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| wakes(&e.kind)) {
            let _ = tx.send(Wake::Fs);
        }
    };
    let mut w = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "watch: no file-system events; scanning periodically");
            return None;
        }
    };
    for d in dirs {
        if let Err(e) = w.watch(d, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(error = %e, "watch: no file-system events; scanning periodically");
            return None;
        }
    }
    Some(w)
}

/// Test hook: pause this long at the steps where a crash matters (env
/// `CAREPLAN_TEST_WATCH_SLOW_MS`), so that tests can kill the process there.
fn test_pause() {
    if let Some(ms) = std::env::var("CAREPLAN_TEST_WATCH_SLOW_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}
