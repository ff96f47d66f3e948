//! The baseline of the memory measurement: a minimal eframe window with the same bundled font,
//! the same renderer (glow unless `CAREPLAN_RENDERER=wgpu`) and the same measurement thread as
//! the app (`CAREPLAN_MEASURE=1`). `scripts/measure-desktop.sh` runs both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

struct Minimal {
    frames: Arc<AtomicU64>,
}

impl eframe::App for Minimal {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        egui::CentralPanel::default().show(ui, |ui| {
            ui.label("ケアプランデータ連携（最小のウィンドウ）");
        });
    }
}

fn main() -> eframe::Result {
    let renderer = match std::env::var("CAREPLAN_RENDERER").as_deref() {
        Ok("wgpu") => eframe::Renderer::Wgpu,
        _ => eframe::Renderer::Glow,
    };
    let options = eframe::NativeOptions {
        renderer,
        viewport: egui::ViewportBuilder::default().with_inner_size([1280.0, 760.0]),
        ..Default::default()
    };
    eframe::run_native(
        "minimal",
        options,
        Box::new(|cc| {
            careplan_app::ui::install_fonts(&cc.egui_ctx);
            careplan_app::ui::install_style(&cc.egui_ctx);
            let frames = Arc::new(AtomicU64::new(0));
            careplan_app::ui::launch::spawn_measure(frames.clone());
            Ok(Box::new(Minimal { frames }))
        }),
    )
}
