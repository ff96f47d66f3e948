//! The relay embedded in another process (the desktop app's demo mode, tests): its own
//! tokio runtime on a named thread, serving on loopback until shut down.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;

use tokio::sync::watch;

use crate::RelayError;
use crate::config::Config;
use crate::demo::{DemoInfo, demo_config, ensure_demo_on};
use crate::server::Server;

/// A relay running on its own thread.
pub struct RunningRelay {
    /// The bound address.
    pub addr: SocketAddr,
    /// The demo information (for [`start_demo`]).
    pub demo: Option<DemoInfo>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningRelay {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// Stop serving and wait for the thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningRelay {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Start a relay with `cfg` on a thread named `careplan-relay`.
pub fn start(cfg: Config) -> Result<RunningRelay, RelayError> {
    start_inner(cfg, None)
}

/// Create (once) and start the demo relay in `data_dir` on `listen` (use port 0 for any
/// free port; the demo information carries the real URL).
pub fn start_demo(data_dir: &Path, listen: SocketAddr) -> Result<RunningRelay, RelayError> {
    start_demo_on(data_dir, listen, None)
}

/// [`start_demo`] with the store at `database_url` (`postgres://…`; `None`: SQLite in
/// `data_dir`).
pub fn start_demo_on(
    data_dir: &Path,
    listen: SocketAddr,
    database_url: Option<String>,
) -> Result<RunningRelay, RelayError> {
    // Bind first so that the URL in demo.json has the real port.
    let std_listener = std::net::TcpListener::bind(listen)?;
    let addr = std_listener.local_addr()?;
    drop(std_listener);
    let dir = data_dir.to_path_buf();
    let rt = runtime()?;
    let info = rt.block_on(ensure_demo_on(&dir, addr, database_url.as_deref()))?;
    drop(rt);
    let mut cfg = demo_config(&dir, addr);
    cfg.database_url = database_url;
    start_inner(cfg, Some(info))
}

fn runtime() -> Result<tokio::runtime::Runtime, RelayError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("careplan-relay-worker")
        .enable_all()
        .build()?)
}

fn start_inner(cfg: Config, demo: Option<DemoInfo>) -> Result<RunningRelay, RelayError> {
    let (stop, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<SocketAddr, RelayError>>();
    let thread = std::thread::Builder::new()
        .name("careplan-relay".into())
        .spawn(move || {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                let server = match Server::bind(cfg).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(server.local_addr());
                if let Err(e) = server.run(stop_rx).await {
                    tracing::error!(error = %e, "relay stopped");
                }
            });
        })?;
    let addr = ready_rx
        .recv()
        .map_err(|_| RelayError::Config("中継サーバのスレッドが起動しませんでした。".into()))??;
    Ok(RunningRelay {
        addr,
        demo,
        stop,
        thread: Some(thread),
    })
}
