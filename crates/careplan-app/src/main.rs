//! The `careplan` binary: glue only. Everything lives in the `careplan_app` library.

fn main() -> std::process::ExitCode {
    careplan_app::cli::main()
}
