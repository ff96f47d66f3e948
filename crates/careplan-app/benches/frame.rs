//! CPU time of one frame of 受信一覧 with 100 000 rows (issue 5's target: ≤ 1 ms), headless:
//! egui layout of the whole window plus tessellation, with the bundled Japanese font. The
//! rows are synthetic (no relay); the table lays out only the visible rows.
//!
//! `cargo bench -p careplan-app --bench frame`

use std::hint::black_box;

use careplan_app::ui::{AppConfig, CareplanApp, RelaySource, install_fonts, install_style};
use careplan_client::Store;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut app = CareplanApp::new(AppConfig {
        store,
        relay: RelaySource::Configured {
            url: "https://127.0.0.1:9".into(),
            profile: careplan_client::ProfilePaths::in_dir(dir.path()),
        },
        renderer_note: String::new(),
        renderer_file: None,
    });
    app.set_received_for_bench(careplan_app::ui::launch::synthetic_received(100_000));
    let ctx = egui::Context::default();
    install_fonts(&ctx);
    install_style(&ctx);
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        ..Default::default()
    };
    // Warm up: fonts, galley caches, the first (sizing) pass of the table.
    for _ in 0..5 {
        let out = ctx.run_ui(input(), |ui| app.show(ui));
        let _ = ctx.tessellate(out.shapes, out.pixels_per_point);
    }
    assert!(app.received_rows() >= 100_000);
    c.bench_function("受信一覧 100k rows: layout + tessellate", |b| {
        b.iter(|| {
            let out = ctx.run_ui(input(), |ui| app.show(ui));
            black_box(ctx.tessellate(out.shapes, out.pixels_per_point));
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
