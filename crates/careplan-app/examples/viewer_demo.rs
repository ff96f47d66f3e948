//! Try the contents viewer and the pre-send check in a real window.
//!
//! `cargo run -p careplan-app --example viewer_demo -- [FILE …]`: with files, they are shown
//! (and checked as one batch); without, a demo batch from the generator. Files dropped on the
//! window are added. Reads files on the UI thread: a demo, not the app.

use careplan_app::viewer::{FileViewer, PrecheckAction, PrecheckPanel, SetView};
use careplan_core::demo;

struct Demo {
    files: Vec<(String, Vec<u8>)>,
    selected: usize,
    viewer: Option<FileViewer>,
    precheck: PrecheckPanel,
    sets: SetView,
    tab: Tab,
    message: String,
}

#[derive(PartialEq)]
enum Tab {
    Viewer,
    Sets,
    Precheck,
}

impl Demo {
    fn new(files: Vec<(String, Vec<u8>)>) -> Self {
        let our = files
            .iter()
            .find_map(|(n, _)| careplan_core::parse_name(n).from_office);
        let viewer = files.first().map(|(n, b)| FileViewer::open(n, b));
        Self {
            precheck: PrecheckPanel::new(our.as_ref(), files.clone()),
            sets: SetView::new(files.clone()),
            files,
            selected: 0,
            viewer,
            tab: Tab::Viewer,
            message: String::new(),
        }
    }

    fn add(&mut self, name: String, bytes: Vec<u8>) {
        let mut files = std::mem::take(&mut self.files);
        files.push((name, bytes));
        let selected = files.len() - 1;
        *self = Self::new(files);
        self.selected = selected;
        self.viewer = self
            .files
            .get(selected)
            .map(|(n, b)| FileViewer::open(n, b));
    }
}

impl eframe::App for Demo {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        for f in dropped {
            let name = f.path().file_name().map_or_else(
                || "dropped".to_owned(),
                |n| n.to_string_lossy().into_owned(),
            );
            let bytes = match f.bytes() {
                Ok(b) => b,
                Err(e) => {
                    self.message = format!("「{name}」を読み込めませんでした：{e}");
                    continue;
                }
            };
            self.add(name, bytes);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::left("files")
            .default_size(300.0)
            .show(ui, |ui| {
                ui.heading("ファイル");
                ui.weak("ファイルをウィンドウにドロップすると追加します。");
                let mut open = None;
                for (i, (name, _)) in self.files.iter().enumerate() {
                    if ui.selectable_label(self.selected == i, name).clicked() {
                        open = Some(i);
                    }
                }
                if let Some(i) = open {
                    self.selected = i;
                    self.tab = Tab::Viewer;
                    self.viewer = self.files.get(i).map(|(n, b)| FileViewer::open(n, b));
                }
                if !self.message.is_empty() {
                    ui.colored_label(ui.visuals().error_fg_color, &self.message);
                }
            });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.selectable_value(&mut self.tab, Tab::Viewer, "内容表示");
                ui.selectable_value(&mut self.tab, Tab::Sets, "送信セット");
                ui.selectable_value(&mut self.tab, Tab::Precheck, "送信前チェック");
            });
            ui.separator();
            match self.tab {
                Tab::Viewer => match &mut self.viewer {
                    Some(v) => v.ui(ui),
                    None => {
                        ui.label("ファイルがありません。");
                    }
                },
                Tab::Sets => {
                    egui::ScrollArea::vertical().show(ui, |ui| self.sets.ui(ui));
                }
                Tab::Precheck => {
                    if self.precheck.ui(ui) == PrecheckAction::Send {
                        self.message = "（デモ）送信が押されました。".to_owned();
                    }
                }
            }
        });
    }
}

fn demo_files() -> Vec<(String, Vec<u8>)> {
    let offices = demo::demo_offices(42, 6);
    let users = demo::demo_users(42, 3);
    let mut files = demo::plan_set(&offices[0], &offices[1], "202504", "20250325093000", &users);
    files.extend(demo::careplan_set(
        &offices[0],
        &offices[1],
        "20250401",
        "20250401093000",
        &users,
    ));
    files.into_iter().map(|f| (f.name, f.bytes)).collect()
}

fn main() -> eframe::Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let files = if args.is_empty() {
        demo_files()
    } else {
        args.iter()
            .filter_map(|p| {
                let path = std::path::Path::new(p);
                let name = path.file_name()?.to_string_lossy().into_owned();
                match std::fs::read(path) {
                    Ok(b) => Some((name, b)),
                    Err(e) => {
                        eprintln!("{p}: {e}");
                        None
                    }
                }
            })
            .collect()
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([1280.0, 800.0]),
        ..Default::default()
    };
    eframe::run_native(
        "careplan viewer demo",
        options,
        Box::new(|cc| {
            careplan_app::ui::install_fonts(&cc.egui_ctx);
            Ok(Box::new(Demo::new(files)))
        }),
    )
}
