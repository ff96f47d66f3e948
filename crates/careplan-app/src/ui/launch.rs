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
            eprintln!("データフォルダを決められません: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("データフォルダ {} を作れません: {e}", dir.display());
        return ExitCode::from(1);
    }
    let store = match Store::open(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "端末のデータを開けません（{e}）。同じユーザーでアプリがすでに起動していないか確認してください。"
            );
            return ExitCode::from(1);
        }
    };
    let settings = store.settings().unwrap_or_default();
    let relay = match (settings.relay_url.clone(), settings.profile.clone()) {
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
                Ok(Box::new(CareplanApp::new(cfg)))
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
