//! Sub-commands that talk to the relay (login, lists, send, receive, drafts, ledger).
//! (in progress: issue 4)

use std::process::ExitCode;

use clap::Subcommand;

/// Relay commands.
#[derive(Debug, Subcommand)]
pub enum NetCommand {}

/// Run one relay command.
pub fn run(cmd: NetCommand) -> ExitCode {
    match cmd {}
}
