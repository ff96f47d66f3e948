//! `careplan cert request | install | status`: the office's certificate over its life,
//! glue over `careplan_client::csr`. The key is made on this PC and never leaves it: the
//! operator only ever sees the request (`.csr`) and sends back the certificate (`.crt`).
//!
//! Exit codes: 0 ok, 1 refused or failed (status: no usable certificate), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;

use careplan_client::csr;
use careplan_client::ledger::jst;
use careplan_core::OfficeNumber;
use clap::{Args, Subcommand};
use serde_json::json;
use time::OffsetDateTime;

/// The steps, shown by `careplan cert --help` (and the same words as the トップページ).
pub const HELP_JA: &str = "\
証明書の更新の手順（有効期限の30日前から、トップページにも表示されます）:
  1. この端末で申請ファイルを作ります。新しい鍵はこの端末の中だけに作られ、外に出ません。
       careplan cert request --profile 証明書フォルダ --out 申請ファイル.csr
  2. 申請ファイル（.csr）を運用者（中継サーバの管理者）に送ります。
     秘密の情報は入っていないので、メールに添付して構いません。
  3. 運用者から証明書ファイル（.crt）が届いたら、申請を作った同じ端末でインストールします。
       careplan cert install --profile 証明書フォルダ 届いた証明書.crt
     前の証明書と鍵は client.crt.old / client.key.old として1組だけ残ります。
  4. 状態を確かめます:  careplan cert status --profile 証明書フォルダ

初めての証明書（新しい事業所）: request に --office 事業所番号 を、install に運用者から届いた
--ca ca.crt を付けます。
申請をやり直すと、前の申請の証明書はインストールできなくなります（鍵が変わるため）。
インストールが途中で止まったときは、同じ証明書ファイルでもう一度 install してください。";

/// `careplan cert`.
#[derive(Debug, Args)]
#[command(after_help = HELP_JA)]
pub struct CertArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: CertAction,
}

/// `cert` actions.
#[derive(Debug, Subcommand)]
pub enum CertAction {
    /// 新しい鍵（この端末の中だけ）と証明書の申請ファイル（.csr）を作る
    #[command(after_help = HELP_JA)]
    Request {
        /// 証明書フォルダ（client.crt, client.key, ca.crt があるフォルダ）
        #[arg(long)]
        profile: Option<PathBuf>,
        /// 事業所番号（初めての証明書のときだけ。更新では今の証明書から読みます）
        #[arg(long)]
        office: Option<String>,
        /// 申請ファイルの保存先（.csr）。運用者に送るファイルです
        #[arg(long)]
        out: PathBuf,
        /// JSON で出力する
        #[arg(long)]
        json: bool,
    },
    /// 運用者から届いた証明書（.crt）を確かめてインストールする
    #[command(after_help = HELP_JA)]
    Install {
        /// 証明書フォルダ
        #[arg(long)]
        profile: Option<PathBuf>,
        /// 中継サーバのCA証明書（初めての証明書で、フォルダに ca.crt がないときだけ）
        #[arg(long)]
        ca: Option<PathBuf>,
        /// 届いた証明書ファイル（.crt）
        file: PathBuf,
        /// JSON で出力する
        #[arg(long)]
        json: bool,
    },
    /// 証明書の事業所番号・有効期限・申請中かどうかを表示する
    Status {
        /// 証明書フォルダ
        #[arg(long)]
        profile: Option<PathBuf>,
        /// JSON で出力する
        #[arg(long)]
        json: bool,
    },
}

struct Failure {
    code: String,
    message: String,
    exit: u8,
}

impl From<careplan_client::ClientError> for Failure {
    fn from(e: careplan_client::ClientError) -> Self {
        Failure {
            code: e.code(),
            message: e.message_ja(),
            exit: 1,
        }
    }
}

fn print_json(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// Run a `cert` action.
pub fn run(a: CertArgs) -> ExitCode {
    let json = match &a.action {
        CertAction::Request { json, .. }
        | CertAction::Install { json, .. }
        | CertAction::Status { json, .. } => *json,
    };
    // `--profile` may stand before or after the sub-command (a global option): checked
    // here instead of by clap, which checks required options before it hands a global
    // value down.
    let need = |p: Option<PathBuf>| {
        p.ok_or_else(|| Failure {
            code: "E_USAGE".into(),
            message: "--profile（証明書フォルダ）を指定してください。".into(),
            exit: 2,
        })
    };
    let res = match a.action {
        CertAction::Request {
            profile,
            office,
            out,
            json,
        } => need(profile).and_then(|p| request(p, office, out, json)),
        CertAction::Install {
            profile,
            ca,
            file,
            json,
        } => need(profile).and_then(|p| install(p, ca, file, json)),
        CertAction::Status { profile, json } => need(profile).and_then(|p| status(p, json)),
    };
    match res {
        Ok(code) => code,
        Err(f) => {
            if json {
                print_json(&json!({"error": {"code": f.code, "message": f.message}}));
            } else {
                eprintln!("エラー: {}", f.message);
            }
            ExitCode::from(f.exit)
        }
    }
}

fn request(
    profile: PathBuf,
    office: Option<String>,
    out: PathBuf,
    json: bool,
) -> Result<ExitCode, Failure> {
    let office = match office {
        Some(o) => Some(OfficeNumber::parse(o.trim()).map_err(|e| Failure {
            code: e.code.to_string(),
            message: e.message,
            exit: 2,
        })?),
        None => None,
    };
    let r = csr::request(&profile, office.as_ref(), &out)?;
    if json {
        print_json(&json!({
            "office": r.office.as_str(),
            "csr": r.csr,
            "pending_key": r.pending_key,
            "renewal": r.renewal,
        }));
    } else {
        println!(
            "事業所番号 {} の証明書の申請ファイルを作りました: {}",
            r.office,
            r.csr.display()
        );
        println!("次にすること:");
        println!("  1. この申請ファイルを運用者に送ってください（秘密の情報は入っていません）。");
        println!(
            "  2. 証明書ファイル（.crt）が届いたら、この端末で次を実行してください:\n     careplan cert install --profile {} 届いた証明書.crt",
            profile.display()
        );
        println!(
            "新しい鍵はこの端末の {} にあり、外には出ません。今の証明書はインストールまでそのまま使えます。",
            r.pending_key.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure {
        code: "E_IO".into(),
        message: format!(
            "{what}「{}」を読めません（{e}）。ファイルの場所を確認してください。",
            path.display()
        ),
        exit: 1,
    })
}

fn install(
    profile: PathBuf,
    ca: Option<PathBuf>,
    file: PathBuf,
    json: bool,
) -> Result<ExitCode, Failure> {
    let cert = read(&file, "証明書ファイル")?;
    let ca = match &ca {
        Some(p) => Some(read(p, "CA証明書")?),
        None => None,
    };
    let done = csr::install(&profile, &cert, ca.as_deref(), OffsetDateTime::now_utc())?;
    if json {
        print_json(&json!({
            "office": done.info.office.as_str(),
            "subject": done.info.subject,
            "not_before": done.info.not_before.unix_timestamp(),
            "not_after": done.info.not_after.unix_timestamp(),
            "new_key": done.new_key,
            "backup": done.backup,
        }));
    } else {
        println!(
            "証明書をインストールしました（事業所番号 {}、有効期限 {}）。",
            done.info.office,
            jst(done.info.not_after)
        );
        if done.backup {
            println!("前の証明書と鍵は client.crt.old / client.key.old として残しました。");
        }
        println!("次回のログインから新しい証明書を使います。");
    }
    Ok(ExitCode::SUCCESS)
}

fn status(profile: PathBuf, json: bool) -> Result<ExitCode, Failure> {
    let now = OffsetDateTime::now_utc();
    let s = csr::status(&profile, now);
    let usable = s.certificate.is_some() && s.key_matches != Some(false) && s.ca_present;
    if json {
        let v = serde_json::to_value(&s).map_err(|e| Failure {
            code: "E_FAILED".into(),
            message: format!("JSON: {e}"),
            exit: 1,
        })?;
        print_json(&v);
    } else {
        println!("証明書フォルダ: {}", profile.display());
        match (&s.certificate, &s.certificate_problem) {
            (Some(c), _) => {
                let d = c.days_left(now);
                println!("事業所番号: {}", c.office);
                println!("有効期限: {}（あと{d}日）", jst(c.not_after));
                if d < 0 {
                    println!("【期限切れ】証明書が切れています。更新の申請をしてください。");
                } else if d <= 30 {
                    println!("【注意】有効期限まで30日を切りました。更新の申請をしてください。");
                }
            }
            (None, Some(p)) => println!("証明書: {p}"),
            (None, None) => println!("証明書: ありません"),
        }
        match s.key_matches {
            Some(true) => println!("秘密鍵: 証明書と一致しています"),
            Some(false) => println!(
                "秘密鍵: 証明書と一致しません。インストールが途中で止まった場合は、同じ証明書ファイルでもう一度 install してください。"
            ),
            None => println!("秘密鍵: 確認できません"),
        }
        if !s.ca_present {
            println!("CA証明書（ca.crt）: ありません");
        }
        if let Some(t) = s.pending_since {
            println!(
                "申請中: {} に作った申請の証明書を待っています。届いたら careplan cert install でインストールしてください。",
                jst(t)
            );
        }
        if s.backup_present {
            println!("前の証明書: client.crt.old として残っています");
        }
        let renew_now = s.days_left.is_none_or(|d| d <= 30);
        if renew_now && s.pending_since.is_none() {
            println!("\n{HELP_JA}");
        }
    }
    Ok(if usable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
