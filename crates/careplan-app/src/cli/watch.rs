//! `careplan watch`: the hands-free engine (`careplan_client::watch`) without a window, for
//! a PC nobody watches. Sends what the care software writes into the 送信フォルダ and, with
//! `--inbox`, receives new arrivals into the 受信フォルダ in import order, logging every
//! action to stderr (no 被保険者番号, 氏名 or password: file names, office numbers and codes
//! only). Stops cleanly on Ctrl-C or a service/session stop (SIGINT/SIGTERM/SIGHUP on Unix
//! with signal-hook; Ctrl-C / Ctrl-Break / close on Windows with ctrlc), after the step in
//! progress.
//!
//! `careplan watch --status` prints what a running engine wrote into
//! `<data dir>/watch-status.json` (queue with reasons, blocked relay, counters).
//!
//! Exit codes: 0 stopped normally, 1 failed (login refused, folder unusable), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use careplan_client::watch::{self, Engine, WarningPolicy, WatchConfig, WatchStatus};
use careplan_client::{Client, ClientError};
use clap::{Args, ValueEnum};
use serde_json::json;

use super::net::{self, Common, Failure};

/// What to do with a set whose check found only warnings.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Warnings {
    /// 確認待ちフォルダに移して人の確認を待つ（既定）
    Hold,
    /// そのまま送信する
    Send,
}

/// `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// 送信フォルダ（介護ソフトの出力先）。省略時は端末の設定
    #[arg(long)]
    pub outbox: Option<PathBuf>,
    /// 受信フォルダ（届いたデータを自動で保存する）。省略時は端末の設定
    #[arg(long)]
    pub inbox: Option<PathBuf>,
    /// 警告のある送信セット: hold（確認待ち）または send（送信する）。省略時は端末の設定
    #[arg(long, value_enum)]
    pub warnings: Option<Warnings>,
    /// 自動送信のメッセージ（200文字まで）。省略時は端末の設定（既定は空）
    #[arg(long)]
    pub message: Option<String>,
    /// 指定したフォルダと設定をこの端末に記憶する
    #[arg(long)]
    pub remember: bool,
    /// 動作中の監視の状態（送信待ちの一覧と理由）を表示して終わる
    #[arg(long)]
    pub status: bool,
    /// ファイルが書き終わったとみなすまでの秒数（大きさと更新日時が変わらない時間）
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub settle_secs: f64,
    /// 送信セットのそろわないファイルを待つ秒数
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub set_wait_secs: f64,
    /// 受信の確認間隔（秒）
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub poll_secs: f64,
    /// 送信フォルダを読み直す間隔（秒。変更の通知が届かないネットワークフォルダ用）
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub rescan_secs: f64,
    /// 中継サーバに接続できないときの再試行の最初の間隔（秒。失敗のたびに倍）
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub retry_secs: f64,
    /// 再試行の最長の間隔（秒）
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub retry_max_secs: f64,
    /// The connection options every relay command takes.
    #[command(flatten)]
    pub common: Common,
}

fn secs(name: &str, v: f64) -> Result<Duration, Failure> {
    if v.is_finite() && (0.0..=86_400.0).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(net::usage(format!(
            "--{name} は 0 から 86400 までの秒数で指定してください。"
        )))
    }
}

/// Run `careplan watch`.
pub fn run(a: WatchArgs) -> ExitCode {
    let json = a.common.json;
    net::finish(json, run_inner(a))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAREPLAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Plain text when the log goes to a file or a service manager.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn run_inner(a: WatchArgs) -> Result<ExitCode, Failure> {
    if a.status {
        return print_status(&a.common);
    }
    let cfg_durations = (
        secs("settle-secs", a.settle_secs)?,
        secs("set-wait-secs", a.set_wait_secs)?,
        secs("poll-secs", a.poll_secs.max(0.2))?,
        secs("rescan-secs", a.rescan_secs.max(0.2))?,
        secs("retry-secs", a.retry_secs.max(0.1))?,
        secs("retry-max-secs", a.retry_max_secs.max(0.1))?,
    );
    // Catch Ctrl-C and service stops from here on: a stop while the store opens or the
    // login runs (before the engine exists) ends the command cleanly too, instead of the
    // signal's default kill.
    let stop = StopSlot::default();
    stop_on_signals(stop.clone());
    let client = net::client(&a.common)?;
    let store = client.store().clone();
    let mut settings = store.settings().map_err(ClientError::from)?;
    let mut ws = settings.watch.clone();
    if let Some(o) = &a.outbox {
        ws.outbox = Some(o.clone());
    }
    if let Some(i) = &a.inbox {
        ws.inbox = Some(i.clone());
    }
    if let Some(w) = a.warnings {
        ws.warnings = match w {
            Warnings::Hold => WarningPolicy::Hold,
            Warnings::Send => WarningPolicy::Send,
        };
    }
    if let Some(m) = &a.message {
        ws.message = m.clone();
    }
    if ws.outbox.is_none() && ws.inbox.is_none() {
        return Err(net::usage(
            "送信フォルダも受信フォルダも設定されていません。--outbox DIR または --inbox DIR を指定してください。",
        ));
    }
    if a.remember && settings.watch != ws {
        settings.watch = ws.clone();
        store.save_settings(&settings).map_err(ClientError::from)?;
    }
    let (settle, set_wait, poll, rescan, retry_first, retry_max) = cfg_durations;
    let cfg = WatchConfig {
        settle,
        set_wait,
        poll,
        rescan,
        retry_first,
        retry_max: retry_max.max(retry_first),
        status_file: Some(watch::status_file_for(store.path())),
        ..WatchConfig::from_settings(&ws)
    };

    init_logging();
    // The IDs and passwords stay in this process's memory for the logins after a session
    // expires (never written anywhere).
    let (user, office_user) = net::ids(&client, &a.common)?;
    let pw = net::password("CAREPLAN_PASSWORD", "個人ユーザのパスワード: ")?;
    let opw = net::password("CAREPLAN_OFFICE_PASSWORD", "事業所ユーザのパスワード: ")?;
    let login = move |c: &Client| c.login(&user, &pw, &office_user, &opw).map(|_| ());
    match login(&client) {
        Ok(()) => tracing::info!(office = %client.office(), "watch: logged in"),
        // Offline at start: the engine takes and checks sets and sends them once the relay
        // answers.
        Err(e) if e.is_offline() => {
            tracing::warn!(code = %e.code(), "watch: relay unreachable at start; sets will queue")
        }
        Err(e) => return Err(e.into()),
    }
    let engine = Engine::new(client.clone(), cfg, Box::new(login))?;
    if stop.attach(engine.stop_handle()) {
        client.logout();
        eprintln!("監視を停止しました。");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "監視を開始しました（事業所 {}）。Ctrl+C で停止します。",
        client.office()
    );
    engine.run()?;
    client.logout();
    eprintln!("監視を停止しました。");
    Ok(ExitCode::SUCCESS)
}

/// Where a stop goes: the engine's handle once the engine exists; before that, a flag the
/// start-up reads.
#[derive(Clone, Default)]
struct StopSlot(std::sync::Arc<std::sync::Mutex<(bool, Option<watch::StopHandle>)>>);

impl StopSlot {
    fn stop(&self) {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.0 = true;
        if let Some(h) = &g.1 {
            h.stop();
        }
    }

    /// Hand the engine's handle over; true when a stop came before it.
    fn attach(&self, h: watch::StopHandle) -> bool {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.0 {
            h.stop();
        }
        g.1 = Some(h);
        g.0
    }
}

/// Stop the engine on Ctrl-C, SIGTERM (service manager, shutdown) and SIGHUP (the session
/// ends).
#[cfg(unix)]
fn stop_on_signals(stop: StopSlot) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(mut signals) => {
            let spawned = std::thread::Builder::new()
                .name("careplan-watch-signals".into())
                .spawn(move || {
                    if let Some(sig) = signals.forever().next() {
                        tracing::info!(signal = sig, "watch: stopping");
                        stop.stop();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "watch: cannot catch Ctrl-C");
            }
        }
        Err(e) => tracing::warn!(error = %e, "watch: cannot catch Ctrl-C"),
    }
}

/// Stop the engine on the console's Ctrl-C, Ctrl-Break and close events (and the logoff /
/// shutdown events a console process receives).
#[cfg(windows)]
fn stop_on_signals(stop: StopSlot) {
    if let Err(e) = ctrlc::set_handler(move || stop.stop()) {
        tracing::warn!(error = %e, "watch: cannot catch Ctrl-C");
    }
}

#[cfg(not(any(unix, windows)))]
fn stop_on_signals(_stop: StopSlot) {}

fn print_status(c: &Common) -> Result<ExitCode, Failure> {
    let dir = net::data_dir(c)?;
    let path = dir.join("watch-status.json");
    let Some(s) = WatchStatus::read(&path)? else {
        if c.json {
            println!("{}", json!({"running": false}));
        } else {
            println!(
                "監視の状態はありません（この端末で careplan watch が動いたことがありません）。"
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    if c.json {
        let v = serde_json::to_string_pretty(&s).map_err(anyhow::Error::from)?;
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    let when = s
        .updated_at
        .map(careplan_client::ledger::jst)
        .unwrap_or_default();
    println!(
        "事業所 {}  {}（{} 時点、プロセス {}）",
        s.office,
        if s.running { "監視中" } else { "停止" },
        when,
        s.pid
    );
    if let Some(o) = &s.outbox {
        println!("送信フォルダ: {}", o.display());
    }
    if let Some(i) = &s.inbox {
        println!("受信フォルダ: {}", i.display());
    }
    if let Some(b) = &s.blocked {
        println!(
            "中継サーバを使えません（次の試行 {}）: {}",
            careplan_client::ledger::jst(b.next_try),
            b.message
        );
    }
    if let Some(p) = &s.inbox_problem {
        println!("受信の問題: {p}");
    }
    println!(
        "送信 {}件、エラー {}件、確認待ち {}件、受信 {}セット（{}ファイル）、書き込み中・セット待ち {}ファイル",
        s.counters.sent_sets,
        s.counters.error_sets,
        s.counters.held_sets,
        s.counters.received_sets,
        s.counters.received_files,
        s.waiting_files
    );
    if s.queue.is_empty() {
        println!("送信待ちはありません。");
    } else {
        println!("送信待ち（{}件）:", s.queue.len());
        for q in &s.queue {
            println!(
                "  [{}] 連番 {} 送信先 {}  {}ファイル  試行 {}回{}",
                q.state,
                q.serial.as_deref().unwrap_or("-"),
                q.to_office.as_deref().unwrap_or("-"),
                q.files.len(),
                q.attempts,
                q.reason
                    .as_deref()
                    .map(|r| format!("  理由: {r}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
