//! Sub-commands that talk to the relay: `login`, `notices`, `received`, `sent`, `send`,
//! `bulk-send`, `receive`, `drafts`, `ledger` (issue 4). All are thin glue over
//! `careplan_client::Client`.
//!
//! Credentials: `--user c…` / `--office-user KJ…` (or the IDs remembered on this terminal);
//! passwords from `CAREPLAN_PASSWORD` / `CAREPLAN_OFFICE_PASSWORD` or a prompt, never from
//! flags. `--profile DIR` holds `client.crt`, `client.key`, `ca.crt`; `--relay URL` the relay;
//! both are remembered in the terminal's settings. `--data-dir DIR` (or `CAREPLAN_DATA_DIR`)
//! selects the local store (default: the OS per-user data folder).
//!
//! Exit codes: 0 ok, 1 refused or failed, 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use careplan_client::send::SendMode;
use careplan_client::{
    Client, ClientError, ClientOptions, DraftInput, Identity, Listing, OutgoingFile, ProfilePaths,
    Store,
};
use careplan_core::OfficeNumber;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;

/// Options shared by every relay command.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// 個人ユーザID（c で始まる）。省略時は端末に記憶したID
    #[arg(long = "user", global = true)]
    pub user: Option<String>,
    /// 事業所ユーザID（KJ で始まる）。省略時は端末に記憶したID
    #[arg(long = "office-user", global = true)]
    pub office_user: Option<String>,
    /// 証明書フォルダ（client.crt, client.key, ca.crt）
    #[arg(long, global = true)]
    pub profile: Option<PathBuf>,
    /// 中継サーバのURL（https://…）
    #[arg(long, global = true)]
    pub relay: Option<String>,
    /// 端末のデータフォルダ（既定: OSのユーザーデータフォルダ。環境変数 CAREPLAN_DATA_DIR）
    #[arg(long = "data-dir", global = true)]
    pub data_dir: Option<PathBuf>,
    /// 端末名（既定: 設定またはホスト名）
    #[arg(long, global = true)]
    pub terminal: Option<String>,
    /// JSON で出力する
    #[arg(long, global = true)]
    pub json: bool,
}

/// `send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// 送信先事業所番号（10桁）
    #[arg(long)]
    pub to: String,
    /// メッセージ（200文字まで）
    #[arg(long, default_value = "")]
    pub message: String,
    /// 警告を確認済みとして送信する
    #[arg(long)]
    pub yes: bool,
    /// 送信するファイル
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// `bulk-send`.
#[derive(Debug, Args)]
pub struct BulkSendArgs {
    /// メッセージ（200文字まで）
    #[arg(long, default_value = "")]
    pub message: String,
    /// 警告（送信しない添付ファイルなど）を確認済みとして送信する
    #[arg(long)]
    pub yes: bool,
    /// 送信するファイル（ファイル名の送信先事業所番号ごとに振り分ける）
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// `receive`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["all", "ids"]))]
pub struct ReceiveArgs {
    /// 未取得のファイルをすべて受信する
    #[arg(long)]
    pub all: bool,
    /// 受信するファイルID
    pub ids: Vec<String>,
    /// 保存先フォルダ
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    common: Common,
}

/// `drafts` actions.
#[derive(Debug, Subcommand)]
pub enum DraftAction {
    /// 下書き一覧（オンラインなら同期してから表示）
    List,
    /// 下書きを保存する（一時保存）
    Save {
        /// 送信先事業所番号
        #[arg(long)]
        to: Option<String>,
        /// メッセージ
        #[arg(long, default_value = "")]
        message: String,
        /// 編集する下書きのID（省略時は新規）
        #[arg(long)]
        id: Option<String>,
        /// ファイル
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// 下書きを削除する
    Delete {
        /// 下書きID
        id: String,
    },
    /// 下書きを送信する（送信後に下書きを削除）
    Send {
        /// 下書きID
        id: String,
        /// 警告を確認済みとして送信する
        #[arg(long)]
        yes: bool,
    },
}

/// `drafts`.
#[derive(Debug, Args)]
pub struct DraftsArgs {
    #[command(subcommand)]
    action: DraftAction,
    #[command(flatten)]
    common: Common,
}

/// `ledger`.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// CSV（UTF-8 BOM付き、CRLF）に書き出す
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// `--verify`, `--report YYYYMM --out FILE.csv` (cli/ledger.rs).
    #[command(flatten)]
    pub audit: super::ledger::AuditArgs,
    #[command(flatten)]
    common: Common,
}

/// `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// IDをこの端末に記憶する（パスワードは記憶しない）
    #[arg(long)]
    pub remember: bool,
    #[command(flatten)]
    common: Common,
}

/// A list command (`notices`, `received`, `sent`).
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    common: Common,
}

/// Relay commands.
#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// 中継サーバにログインできるか確認する（2段階ログイン）
    Login(LoginArgs),
    /// お知らせ一覧
    Notices(ListArgs),
    /// 受信一覧
    Received(ListArgs),
    /// 送信一覧
    Sent(ListArgs),
    /// 取引先一覧（やり取りした事業所ごとの最終送受信・未受信・今月の送信の受信状況）
    Partners(ListArgs),
    /// 1つの事業所へ送信する（新規作成）
    Send(SendArgs),
    /// ファイル名の送信先ごとに複数の事業所へ送信する（一括送信、50事業所まで）
    BulkSend(BulkSendArgs),
    /// ファイルを受信してフォルダに保存する（データ受信）
    Receive(ReceiveArgs),
    /// 下書き（一覧・保存・削除・送信）
    Drafts(DraftsArgs),
    /// 送受信記録（台帳）の表示・CSV書き出し・改ざんチェック・月次の送受信記録
    Ledger(LedgerArgs),
}

/// A failure that ends a command: code + Japanese message; exit code 1 (or 2 for usage).
pub(crate) struct Failure {
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) exit: u8,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure {
            code: e.code(),
            message: e.message_ja(),
            exit: 1,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure {
            code: "E_FAILED".into(),
            message: format!("{e:#}"),
            exit: 1,
        }
    }
}

pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: "E_USAGE".into(),
        message: message.into(),
        exit: 2,
    }
}

/// Run one relay command.
pub fn run(cmd: NetCommand) -> ExitCode {
    let json = match &cmd {
        NetCommand::Login(a) => a.common.json,
        NetCommand::Notices(a)
        | NetCommand::Received(a)
        | NetCommand::Sent(a)
        | NetCommand::Partners(a) => a.common.json,
        NetCommand::Send(a) => a.common.json,
        NetCommand::BulkSend(a) => a.common.json,
        NetCommand::Receive(a) => a.common.json,
        NetCommand::Drafts(a) => a.common.json,
        NetCommand::Ledger(a) => a.common.json,
    };
    let res = match cmd {
        NetCommand::Login(a) => cmd_login(&a),
        NetCommand::Notices(a) => cmd_notices(&a.common),
        NetCommand::Received(a) => cmd_received(&a.common),
        NetCommand::Sent(a) => cmd_sent(&a.common),
        NetCommand::Partners(a) => cmd_partners(&a.common),
        NetCommand::Send(a) => cmd_send(&a),
        NetCommand::BulkSend(a) => cmd_bulk_send(&a),
        NetCommand::Receive(a) => cmd_receive(&a),
        NetCommand::Drafts(a) => cmd_drafts(&a),
        NetCommand::Ledger(a) => cmd_ledger(&a),
    };
    finish(json, res)
}

/// The end of a command: its exit code, or its failure printed (JSON with `--json`, else
/// 「エラー: …」 on stderr) with the failure's exit code.
pub(crate) fn finish(json: bool, res: Result<ExitCode, Failure>) -> ExitCode {
    match res {
        Ok(code) => code,
        Err(f) => {
            if json {
                println!(
                    "{}",
                    json!({"error": {"code": f.code, "message": f.message}})
                );
            } else {
                eprintln!("エラー: {}", f.message);
            }
            ExitCode::from(f.exit)
        }
    }
}

// ----- setup -----

/// The terminal's data folder: `--data-dir`, else `CAREPLAN_DATA_DIR`, else the OS default.
pub(crate) fn data_dir(c: &Common) -> Result<PathBuf, Failure> {
    Ok(match (&c.data_dir, std::env::var_os("CAREPLAN_DATA_DIR")) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) if !d.is_empty() => PathBuf::from(d),
        _ => Store::default_dir().map_err(ClientError::from)?,
    })
}

fn open_store(c: &Common) -> Result<Store, Failure> {
    Ok(Store::open(&data_dir(c)?).map_err(ClientError::from)?)
}

/// Open the store and build the client from flags and remembered settings.
pub(crate) fn client(c: &Common) -> Result<Client, Failure> {
    let store = open_store(c)?;
    let mut settings = store.settings().map_err(ClientError::from)?;
    let mut changed = false;
    if let Some(p) = &c.profile {
        let paths = ProfilePaths::in_dir(p);
        if settings.profile.as_ref() != Some(&paths) {
            settings.profile = Some(paths);
            changed = true;
        }
    }
    if let Some(r) = &c.relay
        && settings.relay_url.as_deref() != Some(r.as_str())
    {
        settings.relay_url = Some(r.clone());
        changed = true;
    }
    if let Some(t) = &c.terminal
        && settings.terminal_name != *t
    {
        settings.terminal_name = t.clone();
        changed = true;
    }
    if changed {
        store.save_settings(&settings).map_err(ClientError::from)?;
    }
    let paths = settings.profile.clone().ok_or_else(|| {
        usage("証明書フォルダが設定されていません。--profile DIR を指定してください。")
    })?;
    let relay = settings.relay_url.clone().ok_or_else(|| {
        usage("中継サーバのURLが設定されていません。--relay URL を指定してください。")
    })?;
    let identity = Identity::from_paths(&paths)?;
    let options = ClientOptions {
        terminal_name: Some(settings.terminal_name.clone()),
        ..ClientOptions::default()
    };
    Ok(Client::new(store, &identity, &relay, options)?)
}

pub(crate) fn password(var: &str, prompt: &str) -> Result<String, Failure> {
    if let Ok(p) = std::env::var(var) {
        return Ok(p);
    }
    rpassword::prompt_password(prompt).map_err(|_| {
        usage(format!(
            "パスワードを入力できません。環境変数 {var} を設定するか、端末から実行してください。"
        ))
    })
}

/// The IDs from the flags, else the remembered ones.
pub(crate) fn ids(client: &Client, c: &Common) -> Result<(String, String), Failure> {
    let s = client.store().settings().map_err(ClientError::from)?;
    let user = c
        .user
        .clone()
        .or(s.personal_user)
        .ok_or_else(|| usage("個人ユーザIDを --user で指定してください。"))?;
    let office_user = c
        .office_user
        .clone()
        .or(s.office_user)
        .ok_or_else(|| usage("事業所ユーザIDを --office-user で指定してください。"))?;
    Ok((user, office_user))
}

/// Two-step login.
fn login(client: &Client, c: &Common) -> Result<careplan_client::LoginInfo, Failure> {
    let (user, office_user) = ids(client, c)?;
    let pw = password("CAREPLAN_PASSWORD", "個人ユーザのパスワード: ")?;
    client.login_personal(&user, &pw).map_err(Failure::from)?;
    drop(pw);
    let opw = password("CAREPLAN_OFFICE_PASSWORD", "事業所ユーザのパスワード: ")?;
    Ok(client.login_office(&office_user, &opw)?)
}

/// Log in, or go on offline when the relay is unreachable (lists, drafts).
fn login_or_offline(client: &Client, c: &Common) -> Result<bool, Failure> {
    match login(client, c) {
        Ok(_) => Ok(true),
        Err(f) if f.code == "E_UNREACHABLE" => {
            eprintln!("{}", f.message);
            Ok(false)
        }
        Err(f) => Err(f),
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).context("JSON")?;
    println!("{s}");
    Ok(())
}

fn offline_note<T>(l: &Listing<T>) {
    if l.offline {
        eprintln!(
            "オフライン: {} に取得した一覧です（中継サーバに接続できません）。",
            careplan_client::ledger::jst(l.fetched_at)
        );
    }
}

// ----- commands -----

fn cmd_login(a: &LoginArgs) -> Result<ExitCode, Failure> {
    let client = client(&a.common)?;
    let info = login(&client, &a.common)?;
    if a.remember {
        let (user, office_user) = ids(&client, &a.common)?;
        let mut s = client.store().settings().map_err(ClientError::from)?;
        s.remember_ids = true;
        s.personal_user = Some(user);
        s.office_user = Some(office_user);
        client
            .store()
            .save_settings(&s)
            .map_err(ClientError::from)?;
    }
    let cert = client.certificate();
    if a.common.json {
        print_json(&json!({
            "office": info.office,
            "office_name": info.office_name,
            "licence_expires_at": info.licence_expires_at.map(rfc3339),
            "password_expires_at": info.password_expires_at.map(rfc3339),
            "certificate": {
                "office": cert.office.as_str(),
                "not_after": rfc3339(cert.not_after),
            },
        }))?;
    } else {
        println!("ログインしました: {} {}", info.office, info.office_name);
        println!(
            "証明書: 事業所番号 {} 有効期限 {}",
            cert.office,
            careplan_client::ledger::jst(cert.not_after)
        );
    }
    client.logout();
    Ok(ExitCode::SUCCESS)
}

fn cmd_notices(c: &Common) -> Result<ExitCode, Failure> {
    let client = client(c)?;
    login_or_offline(&client, c)?;
    let l = client.notices()?;
    offline_note(&l);
    if c.json {
        let v: Vec<_> = l
            .items
            .iter()
            .map(|n| {
                json!({"id": n.id, "posted_at": rfc3339(n.posted_at), "title": n.title, "body": n.body})
            })
            .collect();
        print_json(&v)?;
    } else if l.items.is_empty() {
        println!("お知らせはありません。");
    } else {
        for n in &l.items {
            println!(
                "{}  {}  {}",
                careplan_client::ledger::jst(n.posted_at),
                n.title,
                n.excerpt(40)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_received(c: &Common) -> Result<ExitCode, Failure> {
    let client = client(c)?;
    login_or_offline(&client, c)?;
    let l = client.received()?;
    offline_note(&l);
    let marks = received_marks(&l.items);
    let mark_of = |id: &str| marks.get(id);
    if c.json {
        let v: Vec<_> = l
            .items
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "received_at": rfc3339(t.received_at),
                    "sender_office": t.sender_office,
                    "sender_name": t.sender_name,
                    "message": t.message,
                    "files": t.files.iter().map(|f| json!({
                        "id": f.id,
                        "name": f.name,
                        "category": f.category.label(),
                        "csv_version": f.csv_version,
                        "acquired": f.acquired,
                        "superseded_by": mark_of(&f.id).and_then(|m| m.superseded_by.as_ref()).map(|i| i.as_str()),
                        "deleted_by": mark_of(&f.id).and_then(|m| m.deleted_by.as_ref()).map(|i| i.as_str()),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        print_json(&v)?;
    } else if l.items.is_empty() {
        println!("受信したデータはありません。");
    } else {
        for t in &l.items {
            println!(
                "{}  {} {}  {}",
                careplan_client::ledger::jst(t.received_at),
                t.sender_office,
                t.sender_name,
                t.message
            );
            for f in &t.files {
                let mark = match mark_of(&f.id) {
                    Some(m) if !m.is_current() => {
                        let by = m
                            .deleted_by
                            .as_ref()
                            .or(m.superseded_by.as_ref())
                            .map(|i| i.as_str())
                            .unwrap_or_default();
                        format!("  [{} → ID {by}]", m.label())
                    }
                    _ => String::new(),
                };
                println!(
                    "    [{}] {}  {}  {}  ID {}{mark}",
                    if f.acquired { "済" } else { "未" },
                    f.name,
                    f.category.label(),
                    f.csv_version.as_deref().unwrap_or("-"),
                    f.id
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The relay's 受信一覧 as [`careplan_core::latest::Incoming`] (by name only), files in list
/// order: what 受信一覧 and `careplan received` mark 差し替え済 / 削除済 with. (The client's
/// list rows are the wire types, so core's own conversion applies.)
pub fn received_incoming(
    items: &[careplan_client::ReceivedTransmission],
) -> Vec<careplan_core::latest::Incoming> {
    careplan_core::latest::Incoming::from_received(items)
}

/// 差し替え済 / 削除済 of every received file (issue 15, [`careplan_core::latest`]), by
/// file ID.
fn received_marks(
    items: &[careplan_client::ReceivedTransmission],
) -> std::collections::HashMap<String, careplan_core::latest::Mark> {
    careplan_core::latest::mark_latest(&received_incoming(items))
        .into_iter()
        .map(|m| (m.id.0.clone(), m))
        .collect()
}

fn cmd_sent(c: &Common) -> Result<ExitCode, Failure> {
    let client = client(c)?;
    login_or_offline(&client, c)?;
    let l = client.sent()?;
    offline_note(&l);
    if c.json {
        let v: Vec<_> = l
            .items
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "sent_at": rfc3339(t.sent_at),
                    "message": t.message,
                    "destinations": t.destinations.iter().map(|d| json!({
                        "office": d.office,
                        "files": d.files.iter().map(|f| json!({
                            "name": f.name,
                            "acquired": f.acquired,
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        print_json(&v)?;
    } else if l.items.is_empty() {
        println!("送信したデータはありません。");
    } else {
        for t in &l.items {
            println!("{}  {}", careplan_client::ledger::jst(t.sent_at), t.message);
            for d in &t.destinations {
                println!(
                    "    → {} {} [{}]",
                    d.office,
                    d.name.as_deref().unwrap_or(""),
                    if d.all_acquired() { "済" } else { "未" }
                );
                for f in &d.files {
                    println!(
                        "        [{}] {}",
                        if f.acquired { "済" } else { "未" },
                        f.name
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_partners(c: &Common) -> Result<ExitCode, Failure> {
    let client = client(c)?;
    login_or_offline(&client, c)?;
    let received = client.received()?;
    offline_note(&received);
    let sent = client.sent()?;
    let rows = careplan_core::partners::partners(
        client.office().as_str(),
        &received.items,
        &sent.items,
        time::OffsetDateTime::now_utc(),
    );
    let when = |t: Option<time::OffsetDateTime>| t.map(careplan_client::ledger::jst);
    if c.json {
        let v: Vec<_> = rows
            .iter()
            .map(|p| {
                json!({
                    "office": p.office,
                    "name": p.name,
                    "last_sent": p.last_sent.map(rfc3339),
                    "last_received": p.last_received.map(rfc3339),
                    "unread": p.unread,
                    "undownloaded": p.undownloaded,
                    "sends": p.sends,
                    "receipts": p.receipts,
                    "this_month": p.this_month,
                })
            })
            .collect();
        print_json(&v)?;
    } else if rows.is_empty() {
        println!("やり取りした事業所はまだありません。");
    } else {
        for p in &rows {
            println!(
                "{} {}  最終送信 {}  最終受信 {}  未読 {}件（未受信 {}ファイル）  今月の送信 {}",
                p.office,
                if p.name.is_empty() {
                    "（名称不明）"
                } else {
                    &p.name
                },
                when(p.last_sent).unwrap_or_else(|| "-".into()),
                when(p.last_received).unwrap_or_else(|| "-".into()),
                p.unread,
                p.undownloaded,
                p.this_month.label(),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_files(paths: &[PathBuf]) -> Result<Vec<OutgoingFile>, Failure> {
    paths
        .iter()
        .map(|p| OutgoingFile::read(p).map_err(Failure::from))
        .collect()
}

fn print_warnings(plan: &careplan_client::SendPlan) {
    for p in plan.warnings.iter().chain(plan.not_sent.iter()) {
        for f in &p.findings {
            if p.file.is_empty() {
                eprintln!("警告: {f}");
            } else {
                eprintln!("警告: {}: {f}", p.file);
            }
        }
    }
}

fn do_send(
    client: &Client,
    c: &Common,
    files: Vec<OutgoingFile>,
    message: &str,
    mode: &SendMode,
    yes: bool,
) -> Result<careplan_client::SendReceipt, Failure> {
    // Validate before logging in: nothing leaves the PC when there are errors.
    let plan = client.prepare_send(files, message, mode)?;
    if plan.has_warnings() && !yes {
        print_warnings(&plan);
        return Err(ClientError::WarningsNotAccepted(plan.warnings_refusal()).into());
    }
    if !c.json {
        print_warnings(&plan);
    }
    login(client, c)?;
    let r = client.send(&plan, true)?;
    client.logout();
    Ok(r)
}

fn print_receipt(c: &Common, r: &careplan_client::SendReceipt) -> Result<(), Failure> {
    if c.json {
        print_json(&json!({"ids": r.ids, "offices": r.offices}))
    } else {
        println!(
            "送信しました（{}事業所）。受付日時 {}",
            r.offices.len(),
            careplan_client::ledger::jst(r.accepted_at)
        );
        for (o, id) in r.offices.iter().zip(&r.ids) {
            println!("    {o}  ID {id}");
        }
        Ok(())
    }
}

fn cmd_send(a: &SendArgs) -> Result<ExitCode, Failure> {
    let to = OfficeNumber::parse(&a.to).map_err(|e| usage(e.to_finding().message))?;
    let client = client(&a.common)?;
    let files = read_files(&a.files)?;
    let r = do_send(
        &client,
        &a.common,
        files,
        &a.message,
        &SendMode::Single { to: Some(to) },
        a.yes,
    )?;
    print_receipt(&a.common, &r)?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_bulk_send(a: &BulkSendArgs) -> Result<ExitCode, Failure> {
    let client = client(&a.common)?;
    let files = read_files(&a.files)?;
    let r = do_send(
        &client,
        &a.common,
        files,
        &a.message,
        &SendMode::Bulk,
        a.yes,
    )?;
    print_receipt(&a.common, &r)?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_receive(a: &ReceiveArgs) -> Result<ExitCode, Failure> {
    if a.all && !a.ids.is_empty() {
        return Err(usage("--all とファイルIDは同時に指定できません。"));
    }
    let client = client(&a.common)?;
    login(&client, &a.common)?;
    let json = a.common.json;
    let mut progress = |p: careplan_client::ReceiveProgress| {
        if !json {
            eprintln!("[{}/{}] {}", p.done, p.total, p.name);
        }
    };
    let report = if a.all {
        client.receive_all(&a.out, &mut progress)?
    } else {
        client.receive(&a.ids, &a.out, &mut progress)?
    };
    client.logout();
    if let Ok(mut s) = client.store().settings() {
        s.receive_dir = Some(a.out.clone());
        let _ = client.store().save_settings(&s);
    }
    if json {
        print_json(&report)?;
    } else {
        for s in &report.saved {
            println!(
                "保存しました: {}{}",
                s.path.display(),
                if s.already_saved {
                    "（保存済み）"
                } else {
                    ""
                }
            );
        }
        for f in &report.failed {
            eprintln!(
                "受信できません: {}: {}",
                f.name.as_deref().unwrap_or(&f.id),
                f.message
            );
        }
        if report.saved.is_empty() && report.failed.is_empty() {
            println!("未取得のファイルはありません。");
        }
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn draft_json(d: &careplan_client::Draft) -> serde_json::Value {
    json!({
        "id": d.id,
        "saved_at": rfc3339(d.saved_at),
        "terminal": d.terminal,
        "message": d.message,
        "to_office": d.to_office,
        "files": d.files.iter().map(|f| json!({"name": f.name, "size": f.size, "sha256": f.sha256})).collect::<Vec<_>>(),
        "sync": d.sync,
        "conflict": d.conflict,
    })
}

fn cmd_drafts(a: &DraftsArgs) -> Result<ExitCode, Failure> {
    let c = &a.common;
    let client = client(c)?;
    match &a.action {
        DraftAction::List => {
            let online = login_or_offline(&client, c)?;
            if online {
                let r = client.sync_drafts()?;
                for note in &r.conflicts {
                    eprintln!("{note}");
                }
            }
            let ds = client.drafts()?;
            if c.json {
                print_json(&ds.iter().map(draft_json).collect::<Vec<_>>())?;
            } else if ds.is_empty() {
                println!("下書きはありません。");
            } else {
                for d in &ds {
                    println!(
                        "{}  {}  {}  {}  {}ファイル  ID {}{}",
                        careplan_client::ledger::jst(d.saved_at),
                        d.terminal,
                        d.to_office.as_deref().unwrap_or("-"),
                        d.message,
                        d.files.len(),
                        d.id,
                        if d.sync == careplan_client::DraftSync::Synced {
                            ""
                        } else {
                            "（未同期）"
                        }
                    );
                }
            }
        }
        DraftAction::Save {
            to,
            message,
            id,
            files,
        } => {
            if let Some(t) = to {
                OfficeNumber::parse(t).map_err(|e| usage(e.to_finding().message))?;
            }
            let files = read_files(files)?;
            let online = login_or_offline(&client, c)?;
            let mut d = client.save_draft(DraftInput {
                id: id.clone(),
                message: message.clone(),
                to_office: to.clone(),
                files,
            })?;
            if online {
                client.sync_drafts()?;
                d = client.draft(&d.id)?;
            }
            if c.json {
                print_json(&draft_json(&d))?;
            } else {
                println!(
                    "下書きを保存しました{}。ID {}",
                    if d.sync == careplan_client::DraftSync::Synced {
                        ""
                    } else {
                        "（この端末のみ。接続時に同期します）"
                    },
                    d.id
                );
            }
        }
        DraftAction::Delete { id } => {
            let online = login_or_offline(&client, c)?;
            if online {
                client.sync_drafts()?;
            }
            client.delete_draft(id)?;
            if c.json {
                print_json(&json!({"deleted": id}))?;
            } else {
                println!("下書きを削除しました。");
            }
        }
        DraftAction::Send { id, yes } => {
            login(&client, c)?;
            client.sync_drafts()?;
            let plan = client.prepare_draft_send(id)?;
            if plan.has_warnings() && !yes {
                print_warnings(&plan);
                return Err(ClientError::WarningsNotAccepted(plan.warnings_refusal()).into());
            }
            let r = client.send(&plan, true)?;
            client.delete_draft(id)?;
            print_receipt(c, &r)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_ledger(a: &LedgerArgs) -> Result<ExitCode, Failure> {
    let store = open_store(&a.common)?;
    if a.audit.requested() {
        return Ok(super::ledger::run(&store, &a.audit, a.common.json));
    }
    let entries = store.ledger().map_err(ClientError::from)?;
    if let Some(path) = &a.export {
        let rows = careplan_client::ledger::export(&entries, path)?;
        if a.common.json {
            print_json(&json!({"path": path, "rows": rows}))?;
        } else {
            println!("{}件を書き出しました: {}", rows, display(path));
        }
    } else if a.common.json {
        print_json(&entries)?;
    } else if entries.is_empty() {
        println!("送受信記録はありません。");
    } else {
        for e in &entries {
            println!(
                "{}  {}  {}  {}ファイル  {}",
                careplan_client::ledger::jst(e.at),
                e.direction.label(),
                e.counterpart,
                e.files.len(),
                e.receipt
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
