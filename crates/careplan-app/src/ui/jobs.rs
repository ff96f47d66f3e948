//! Worker threads: every network or disk call of the UI runs here and comes back as a
//! [`Msg`]. A finished job wakes the UI with one repaint; nothing polls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};

use careplan_relay::demo::DemoInfo;
use careplan_relay::embedded::RunningRelay;

use super::{bulk, compose, lists, login, top};

/// What a worker hands back to the UI thread.
pub enum Msg {
    /// Nothing to apply (a job that only had side effects).
    Nothing,
    /// A background step failed: title and message for the user.
    Failed(String, String),
    /// The demo relay started (or could not).
    DemoStarted(Result<(Box<RunningRelay>, DemoInfo), String>),
    /// Login steps.
    Login(login::LoginMsg),
    /// トップページ data.
    Top(top::TopMsg),
    /// 受信一覧 and データ受信.
    Received(lists::ReceivedMsg),
    /// 送信一覧.
    Sent(lists::SentMsg),
    /// 取引先一覧.
    Partners(super::partners::PartnersMsg),
    /// 自動送受信.
    Watch(super::watch_tab::WatchMsg),
    /// 新規作成 and 下書き一覧.
    Compose(compose::ComposeMsg),
    /// 一括送信.
    Bulk(bulk::BulkMsg),
    /// Something arrived for our office (the waiting worker, `arrivals`).
    Arrived,
}

/// The job runner of the UI.
pub struct Jobs {
    tx: Sender<(u64, Msg)>,
    rx: Receiver<(u64, Msg)>,
    running: Vec<(u64, String)>,
    next: u64,
}

impl Jobs {
    pub(crate) fn new() -> Self {
        let (tx, rx) = channel();
        Self {
            tx,
            rx,
            running: Vec::new(),
            next: 0,
        }
    }

    /// Run `f` on a named worker thread; its message is applied at the next frame.
    pub(crate) fn spawn(
        &mut self,
        ctx: &egui::Context,
        label: &str,
        f: impl FnOnce() -> Msg + Send + 'static,
    ) {
        self.next += 1;
        let id = self.next;
        self.running.push((id, label.to_owned()));
        let tx = self.tx.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("careplan-{label}"))
            .spawn(move || {
                let msg = f();
                let _ = tx.send((id, msg));
                ctx.request_repaint();
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start a worker thread");
            self.running.retain(|(i, _)| *i != id);
        }
    }

    /// [`Jobs::spawn`] unless a job with this label is still running (list refreshes: a
    /// second click while one is in flight does nothing).
    pub(crate) fn spawn_once(
        &mut self,
        ctx: &egui::Context,
        label: &str,
        f: impl FnOnce() -> Msg + Send + 'static,
    ) {
        if !self.is_running(label) {
            self.spawn(ctx, label, f);
        }
    }

    /// A sender for progress messages of a long job (applied as they come).
    pub(crate) fn progress_sender(&self, ctx: &egui::Context) -> impl Fn(Msg) + Send + 'static {
        let tx = self.tx.clone();
        let ctx = ctx.clone();
        move |m| {
            let _ = tx.send((0, m));
            ctx.request_repaint();
        }
    }

    pub(crate) fn try_recv(&mut self) -> Option<Msg> {
        let (id, msg) = self.rx.try_recv().ok()?;
        if id != 0 {
            self.running.retain(|(i, _)| *i != id);
        }
        Some(msg)
    }

    pub(crate) fn running(&self) -> usize {
        self.running.len()
    }

    pub(crate) fn is_running(&self, label: &str) -> bool {
        self.running.iter().any(|(_, l)| l == label)
    }

    pub(crate) fn current_label(&self) -> Option<String> {
        self.running.last().map(|(_, l)| job_label(l))
    }
}

fn job_label(l: &str) -> String {
    match l {
        "login" => "ログインしています…",
        "notices" => "お知らせを取得しています…",
        "received" => "受信一覧を取得しています…",
        "sent" => "送信一覧を取得しています…",
        "drafts" => "下書きを同期しています…",
        "send" => "送信しています…",
        "receive" => "データを受信しています…",
        "files" => "ファイルを読み込んでいます…",
        "demo" => "デモ用の中継サーバを起動しています…",
        _ => "処理しています…",
    }
    .to_owned()
}

/// Start the demo relay on a worker (first run with nothing configured).
pub(crate) fn start_demo(ctx: &egui::Context, jobs: &mut Jobs, dir: PathBuf) {
    jobs.spawn(ctx, "demo", move || {
        let preferred = SocketAddr::from(([127, 0, 0, 1], 8443));
        let relay = careplan_relay::embedded::start_demo(&dir, preferred).or_else(|_| {
            careplan_relay::embedded::start_demo(&dir, SocketAddr::from(([127, 0, 0, 1], 0)))
        });
        Msg::DemoStarted(match relay {
            Ok(r) => match r.demo.clone() {
                Some(info) => {
                    tracing::info!(url = %r.url(), "demo relay started");
                    Ok((Box::new(r), info))
                }
                None => Err("デモ用の中継サーバの情報を読めません。".to_owned()),
            },
            Err(e) => Err(format!(
                "デモ用の中継サーバを起動できません: {e}。アプリを終了して、もう一度起動してください。"
            )),
        })
    });
}
