//! `careplan-app`: the desktop app and the headless sub-commands of the `careplan` binary.
//!
//! May depend on `careplan-core` and `careplan-client` (and embeds `careplan-relay` for the
//! demo mode). UI code lives here ([`ui`]) so that `egui_kittest` can drive it; `main.rs`
//! is glue.

pub mod autostart;
pub mod cli;
mod demo;
pub mod notify;
pub mod report_pdf;
pub mod single_instance;
pub mod tray;
pub mod ui;
pub mod viewer;
pub mod win_console;

/// Start the desktop window (the default when no sub-command is given). With nothing
/// configured it starts the embedded demo relay; without any display it falls back to
/// the console demo relay.
pub fn gui_main() -> std::process::ExitCode {
    ui::launch::run()
}
