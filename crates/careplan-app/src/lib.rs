//! `careplan-app`: the desktop app and the headless sub-commands of the `careplan` binary.

pub mod cli;
