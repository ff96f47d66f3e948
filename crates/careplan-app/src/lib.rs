//! `careplan-app`: the desktop app and the headless sub-commands of the `careplan` binary.
//!
//! May depend on `careplan-core` and `careplan-client` (and embeds `careplan-relay` for the
//! demo mode). UI code lives here so that `egui_kittest` can drive it; `main.rs` is glue.

pub mod cli;
mod demo;
pub mod viewer;

/// Start the app (the default when no sub-command is given). Until the desktop window
/// lands, this starts the embedded demo relay when nothing is configured.
pub fn gui_main() -> std::process::ExitCode {
    demo::run()
}
