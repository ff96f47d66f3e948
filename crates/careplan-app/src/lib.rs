//! `careplan-app`: the desktop app and the headless sub-commands of the `careplan` binary.
//!
//! May depend on `careplan-core` and `careplan-client` (and embeds `careplan-relay` for the
//! demo mode). UI code lives here so that `egui_kittest` can drive it; `main.rs` is glue.

pub mod cli;

/// Start the desktop app (the default when no sub-command is given).
pub fn gui_main() -> std::process::ExitCode {
    eprintln!(
        "デスクトップアプリはまだ組み込まれていません。`careplan --help` でコマンドを確認してください。"
    );
    std::process::ExitCode::from(1)
}
