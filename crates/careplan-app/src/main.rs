//! The `careplan` binary: glue only. Everything lives in the `careplan_app` library.
// Release builds for Windows are GUI programs (no console window); sub-commands attach to
// the console of the shell that started them (see `careplan_app::win_console`).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    if std::env::args_os().len() > 1 {
        careplan_app::win_console::attach_parent_console();
    }
    careplan_app::cli::main()
}
