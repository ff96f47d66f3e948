//! Sub-commands of the `careplan` binary. Without a sub-command the desktop app starts.
//!
//! Exit codes: 0 ok, 1 refused or failed (or findings with errors), 2 usage.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod cert;
mod inspect;
pub(crate) mod ledger;
pub mod net;
pub mod repair;
pub mod watch;

/// ケアプランデータ連携クライアント
#[derive(Debug, Parser)]
#[command(
    name = "careplan",
    version,
    about = "ケアプランデータ連携クライアント（デスクトップアプリとコマンド）"
)]
pub struct Cli {
    /// The sub-command; none starts the desktop app.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The connection options, accepted before the sub-command too.
    #[command(flatten)]
    pub common: GlobalOptions,
}

/// The options of `net::Common`, accepted before the sub-command too
/// (`careplan --profile DIR received` as well as `careplan received --profile DIR`).
///
/// They are `global` with the same ids as `net::Common`: clap hands a value given before
/// the sub-command to the sub-command's own copy, which keeps its help text. Hidden here so
/// that the help of the local commands (`inspect`, `route`, `repair`) does not list them.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOptions {
    /// 個人ユーザID
    #[arg(long = "user", global = true, hide = true)]
    pub user: Option<String>,
    /// 事業所ユーザID
    #[arg(long = "office-user", global = true, hide = true)]
    pub office_user: Option<String>,
    /// 証明書フォルダ
    #[arg(long, global = true, hide = true)]
    pub profile: Option<std::path::PathBuf>,
    /// 中継サーバのURL
    #[arg(long, global = true, hide = true)]
    pub relay: Option<String>,
    /// 端末のデータフォルダ
    #[arg(long = "data-dir", global = true, hide = true)]
    pub data_dir: Option<std::path::PathBuf>,
    /// 端末名
    #[arg(long, global = true, hide = true)]
    pub terminal: Option<String>,
    /// JSON で出力する
    #[arg(long, global = true, hide = true)]
    pub json: bool,
}

/// All sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// ファイル名と中身を検査する（送信前チェック）
    Inspect(inspect::InspectArgs),
    /// ファイル名から送信先事業所ごとに振り分ける（一括送信の下見）
    Route(inspect::RouteArgs),
    /// 文字コード・BOM・改行・拡張子・JPの接頭辞だけを直した写しを作る（値は変えない）
    Repair(repair::RepairArgs),
    /// 証明書の更新: 申請ファイル（.csr）の作成・届いた証明書のインストール・状態
    Cert(cert::CertArgs),
    /// 送信フォルダを監視して自動で送信し、届いたデータを受信フォルダに自動で保存する
    Watch(watch::WatchArgs),
    /// Commands that talk to the relay.
    #[command(flatten)]
    Net(net::NetCommand),
}

/// Entry point of the `careplan` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version to stdout with exit 0, usage errors with exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Some(Command::Inspect(a)) => inspect::run_inspect(&a),
        Some(Command::Route(a)) => inspect::run_route(&a),
        Some(Command::Repair(a)) => repair::run_repair(&a, &cli.common),
        Some(Command::Cert(a)) => cert::run(a),
        Some(Command::Watch(a)) => watch::run(a),
        Some(Command::Net(c)) => net::run(c),
        None => crate::gui_main(),
    }
}
