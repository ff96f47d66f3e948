//! Headless sub-commands (in progress).

/// Entry point of the `careplan` binary.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
