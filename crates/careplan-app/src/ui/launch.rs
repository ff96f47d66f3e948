//! Starting the window: logging, the per-user data folder, the relay (configured, or the
//! embedded demo), the renderer (glow by default, wgpu as the fallback, the one that worked
//! remembered), the bundled font.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use careplan_client::Store;

use super::{AppConfig, CareplanApp, RelaySource, install_fonts, install_style};

/// The renderer to start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RendererChoice {
    /// OpenGL (glow): works on old office GPUs with OpenGL 2/3 drivers.
    Glow,
    /// wgpu (Direct3D 12 / Vulkan / Metal, or OpenGL ES).
    Wgpu,
}

impl RendererChoice {
    /// Both, in the order shown.
    pub const ALL: [RendererChoice; 2] = [RendererChoice::Glow, RendererChoice::Wgpu];

    /// Japanese label.
    pub fn label(self) -> &'static str {
        match self {
            RendererChoice::Glow => "OpenGL（glow、既定）",
            RendererChoice::Wgpu => "wgpu（Direct3D / Vulkan）",
        }
    }

    fn key(self) -> &'static str {
        match self {
            RendererChoice::Glow => "glow",
            RendererChoice::Wgpu => "wgpu",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "glow" | "gl" | "opengl" => Some(RendererChoice::Glow),
            "wgpu" => Some(RendererChoice::Wgpu),
            _ => None,
        }
    }

    fn other(self) -> Self {
        match self {
            RendererChoice::Glow => RendererChoice::Wgpu,
            RendererChoice::Wgpu => RendererChoice::Glow,
        }
    }

    fn eframe(self) -> eframe::Renderer {
        match self {
            RendererChoice::Glow => eframe::Renderer::Glow,
            RendererChoice::Wgpu => eframe::Renderer::Wgpu,
        }
    }
}

/// The remembered renderer (glow when nothing is remembered or the file is unreadable).
pub fn load_renderer(file: Option<&Path>) -> RendererChoice {
    file.and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|s| RendererChoice::parse(&s))
        .unwrap_or(RendererChoice::Glow)
}

/// Remember the renderer (best effort: a failure only means glow is tried first next time).
pub fn save_renderer(file: &Path, r: RendererChoice) {
    if let Err(e) = std::fs::write(file, r.key()) {
        tracing::warn!(error = %e, "could not remember the renderer");
    }
}

/// The terminal's data folder: `CAREPLAN_DATA_DIR`, or the OS per-user data folder.
pub fn data_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("CAREPLAN_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    Store::default_dir().map_err(|e| e.to_string())
}

/// Say why the app cannot start, and end. The Windows exe has no console, so there the
/// message also comes as a dialog.
fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    #[cfg(windows)]
    let _ = rfd::MessageDialog::new()
        .set_title("ケアプランデータ連携 クライアント")
        .set_description(message)
        .set_level(rfd::MessageLevel::Error)
        .show();
    ExitCode::from(1)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAREPLAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,careplan_app=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Start the desktop window (the default when no sub-command is given).
pub fn run() -> ExitCode {
    init_logging();
    let dir = match data_dir() {
        Ok(d) => d,
        Err(e) => {
            return fail(&format!(
                "データフォルダを決められません（{e}）。環境変数 CAREPLAN_DATA_DIR に書き込めるフォルダを指定してください。"
            ));
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return fail(&format!(
            "データフォルダ {} を作れません（{e}）。書き込めるフォルダを環境変数 CAREPLAN_DATA_DIR で指定してください。",
            dir.display()
        ));
    }
    // One window per OS user: a second start brings the first one forward and ends.
    let guard = match crate::single_instance::acquire("careplan") {
        Ok(g) => std::sync::Arc::new(g),
        Err(running) => {
            running.request_focus();
            eprintln!("{running}");
            return ExitCode::SUCCESS;
        }
    };
    let store = match Store::open(&dir) {
        Ok(s) => s,
        Err(e) => {
            return fail(&format!(
                "端末のデータ（{}）を開けません（{e}）。ディスクの空きと、フォルダを読み書きできるかを確認してください。",
                dir.display()
            ));
        }
    };
    let settings = store.settings().unwrap_or_default();
    let relay = match (settings.relay_url.clone(), settings.profile.clone()) {
        // The memory measurement shows synthetic rows and must not start a relay.
        _ if measure_rows().is_some() => RelaySource::Configured {
            url: "https://127.0.0.1:9".into(),
            profile: careplan_client::ProfilePaths::in_dir(&dir),
        },
        (Some(url), Some(profile)) => RelaySource::Configured { url, profile },
        _ => RelaySource::StartDemo(dir.join("demo-relay")),
    };
    let renderer_file = dir.join("renderer.txt");
    let first = std::env::var("CAREPLAN_RENDERER")
        .ok()
        .and_then(|s| RendererChoice::parse(&s))
        .unwrap_or_else(|| load_renderer(Some(&renderer_file)));
    let mut config = Some(AppConfig {
        store,
        relay,
        renderer_note: String::new(),
        renderer_file: Some(renderer_file.clone()),
    });
    for choice in [first, first.other()] {
        let Some(cfg) = config.take() else { break };
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(cfg)));
        let slot2 = slot.clone();
        let file = renderer_file.clone();
        let guard = guard.clone();
        let root = dir.clone();
        let options = eframe::NativeOptions {
            renderer: choice.eframe(),
            viewport: egui::ViewportBuilder::default()
                .with_title("ケアプランデータ連携 クライアント")
                .with_inner_size([1280.0, 760.0])
                .with_min_inner_size([900.0, 560.0])
                .with_app_id("careplan"),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let r = eframe::run_native(
            "careplan",
            options,
            Box::new(move |cc| {
                install_fonts(&cc.egui_ctx);
                install_style(&cc.egui_ctx);
                let note = adapter_note(cc, choice);
                tracing::info!(renderer = choice.key(), adapter = %note, ms = started.elapsed().as_millis() as u64, "window ready");
                save_renderer(&file, choice);
                let mut cfg = slot2
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                    .ok_or("app started twice")?;
                cfg.renderer_note = note;
                if let Some(n) = measure_rows() {
                    // The memory measurement: one profile, synthetic rows, no relay.
                    let mut app = CareplanApp::new(cfg);
                    app.set_received_for_bench(synthetic_received(n));
                    if std::env::var_os("CAREPLAN_MEASURE").is_some() {
                        spawn_measure(app.frame_counter());
                    }
                    watch_focus_requests(&cc.egui_ctx, guard, |ctx| {
                        ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
                        ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
                    });
                    return Ok(Box::new(app));
                }
                let mut offices = super::offices::Offices::open(&root, cfg);
                offices.set_notifier(crate::notify::show);
                // Created here, on the window's thread: on Windows the icon's messages
                // come through this thread's message loop.
                if let Some(tray) = crate::tray::Tray::start(&cc.egui_ctx) {
                    offices.set_tray(tray);
                }
                let request = offices.show_request();
                watch_focus_requests(&cc.egui_ctx, guard, move |_| {
                    request.store(true, std::sync::atomic::Ordering::Relaxed);
                });
                if std::env::var_os("CAREPLAN_MEASURE").is_some() {
                    spawn_measure(offices.app().frame_counter());
                }
                Ok(Box::new(offices))
            }),
        );
        match r {
            Ok(()) => return ExitCode::SUCCESS,
            Err(e) => {
                tracing::warn!(renderer = choice.key(), error = %e, "the renderer did not start");
                eprintln!(
                    "描画方式 {} で画面を開けませんでした（{e}）。{} で再試行します。",
                    choice.key(),
                    choice.other().key()
                );
                // The config is still in the slot when the app was never created.
                config = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                if config.is_none() {
                    return ExitCode::from(1);
                }
            }
        }
    }
    eprintln!(
        "画面を開けませんでした。グラフィックドライバを更新するか、リモートデスクトップの場合は管理者に相談してください。"
    );
    if config.is_some() {
        // No window at all (e.g. no display): still offer the relay and the commands.
        drop(config);
        return crate::demo::run();
    }
    ExitCode::from(1)
}

/// A second start leaves a request (see [`crate::single_instance`]); a background thread
/// looks for it twice a second (a `stat`, no repaint) and, when it comes, calls `raise`
/// (which brings the window forward, also from the notification area) and repaints.
fn watch_focus_requests(
    ctx: &egui::Context,
    guard: std::sync::Arc<crate::single_instance::Guard>,
    raise: impl Fn(&egui::Context) + Send + 'static,
) {
    let ctx = ctx.clone();
    let _ = std::thread::Builder::new()
        .name("careplan-focus".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(500));
                if guard.focus_requested() {
                    raise(&ctx);
                    ctx.request_repaint();
                }
            }
        });
}

fn adapter_note(cc: &eframe::CreationContext<'_>, choice: RendererChoice) -> String {
    if let Some(gl) = &cc.gl {
        return format!("描画: OpenGL {}", gl_renderer(gl));
    }
    if let Some(rs) = &cc.wgpu_render_state {
        let info = rs.adapter.get_info();
        return format!("描画: wgpu {:?} {}", info.backend, info.name);
    }
    format!("描画: {}", choice.key())
}

#[allow(unsafe_code)]
fn gl_renderer(gl: &eframe::glow::Context) -> String {
    use eframe::glow::HasContext as _;
    // SAFETY: RENDERER is a valid string parameter of every GL context; the context is
    // current on this thread while the app is being created.
    unsafe { gl.get_parameter_string(eframe::glow::RENDERER) }
}

fn measure_rows() -> Option<usize> {
    std::env::var("CAREPLAN_MEASURE_ROWS").ok()?.parse().ok()
}

/// Synthetic transmissions making exactly `rows` rows of 受信一覧 (one to three files each,
/// a third of them 未, relay-like 32-hex IDs and SHA-256): benchmarks and the memory
/// measurement, without a relay.
pub fn synthetic_received(rows: usize) -> Vec<careplan_client::ReceivedTransmission> {
    use careplan_client::{ReceivedFile, ReceivedTransmission};
    let t0 = time::OffsetDateTime::from_unix_timestamp(1_790_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut out = Vec::new();
    let mut made = 0;
    let mut i = 0usize;
    while made < rows {
        let n = (1 + i % 3).min(rows - made);
        out.push(ReceivedTransmission {
            id: format!("{i:032x}"),
            received_at: t0 + time::Duration::minutes(i as i64),
            sender_office: format!("13{:08}", i % 500),
            sender_name: format!("さくら居宅介護支援事業所 {}", i % 500),
            message: format!("{}月分の利用票です", i % 12 + 1),
            files: (0..n)
                .map(|f| ReceivedFile {
                    id: format!("{:032x}", i * 4 + f),
                    name: format!(
                        "UPPLAN_202611_1310000001_43_1310000002_11_2026112410{i:06}_{f}.CSV"
                    ),
                    kind: Some("UPPLAN".into()),
                    category: careplan_core::Category::Registration,
                    csv_version: Some("202404".into()),
                    size: 2048,
                    sha256: format!("{:064x}", i * 4 + f),
                    acquired: !i.is_multiple_of(3),
                })
                .collect(),
        });
        made += n;
        i += 1;
    }
    out
}

/// Resident memory of this process in KiB (Linux `/proc`; `None` elsewhere).
pub fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The measurement mode (`CAREPLAN_MEASURE=1`): print the wall-clock time of the first
/// frame, then, after 2 s to settle, the resident memory and the frames painted during
/// 10 s without input; then exit. Used by `scripts/measure-desktop.sh`.
pub fn spawn_measure(frames: std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::Ordering;
    let _ = std::thread::Builder::new()
        .name("careplan-measure".into())
        .spawn(move || {
            let epoch_ms = || {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0)
            };
            while frames.load(Ordering::Relaxed) == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            println!("first_frame_epoch_ms={}", epoch_ms());
            std::thread::sleep(std::time::Duration::from_secs(2));
            let f1 = frames.load(Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_secs(10));
            let f2 = frames.load(Ordering::Relaxed);
            println!("frames_before_idle={f1}");
            println!("idle_repaints_10s={}", f2 - f1);
            println!("rss_kib={}", rss_kib().unwrap_or(0));
            std::process::exit(0);
        });
}
