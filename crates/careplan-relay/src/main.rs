//! `careplan-relay`: serve, run the demo, and operator commands. Glue only.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use careplan_relay::config::Config;
use careplan_relay::db::{Db, UserTable};
use careplan_relay::{auth, demo, pki, server::Server};
use clap::{Parser, Subcommand};
use time::OffsetDateTime;

/// ケアプランデータ連携 中継サーバ
#[derive(Debug, Parser)]
#[command(
    name = "careplan-relay",
    version,
    about = "ケアプランデータ連携 中継サーバ"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// 設定ファイルで中継サーバを起動する
    Serve {
        /// 設定ファイル (TOML)
        #[arg(long)]
        config: PathBuf,
    },
    /// デモ用の中継サーバを作成して起動する（ループバック）
    Demo {
        /// デモのデータフォルダ
        #[arg(long)]
        data: PathBuf,
        /// 待ち受けアドレス
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// データベース（省略時はデータフォルダの SQLite。例: postgres://user:pass@host/db）
        #[arg(long)]
        database_url: Option<String>,
    },
    /// 事業所を登録・一覧する
    Office {
        #[command(subcommand)]
        cmd: OfficeCmd,
    },
    /// ユーザを登録する（仮パスワードを表示）
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// 事業所の証明書署名要求（CSR）に署名して証明書を発行する
    Cert {
        #[command(subcommand)]
        cmd: CertCmd,
    },
    /// お知らせを掲載する
    Notice {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 件名
        #[arg(long)]
        title: String,
        /// 本文
        #[arg(long)]
        body: String,
    },
    /// 保存期間を過ぎた送受信データと、参照されないファイル本体を削除する（serve 中も1時間ごとに自動で実行）
    Purge {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 保存日数（省略時は設定ファイルの limits.retention_days、既定365日）
        #[arg(long)]
        days: Option<i64>,
    },
    /// 証明書を失効させる（失効リストに載せ、その証明書のセッションを終了）
    Revoke {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 失効させる証明書 (PEM)
        #[arg(long, conflicts_with = "fingerprint")]
        cert: Option<PathBuf>,
        /// 失効させる証明書の SHA-256 指紋（16進）
        #[arg(long)]
        fingerprint: Option<String>,
        /// 理由（記録用）
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// 失効させた証明書の一覧
    Revoked {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
    },
    /// セッションを終了させる（事業所またはユーザのすべてのログイン）
    EndSessions {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 事業所番号
        #[arg(long, conflicts_with = "user")]
        office: Option<String>,
        /// ユーザID（c… または KJ…）
        #[arg(long)]
        user: Option<String>,
    },
    /// ライセンス期限を設定する
    Licence {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 事業所番号
        #[arg(long)]
        office: String,
        /// 期限 (YYYY-MM-DD)
        #[arg(long)]
        until: String,
    },
}

#[derive(Debug, Subcommand)]
enum CertCmd {
    /// 事業所から届いた CSR（careplan cert request で作成）に署名する。鍵は事業所の端末で作られ、中継サーバには届きません。CN の事業所番号が登録済みであることを確認し、要求された拡張は無視します（クライアント認証のみ、CA ではない）。
    Sign {
        /// 設定ファイル（ca_cert と事業所の登録を使います）
        #[arg(long)]
        config: PathBuf,
        /// CA の秘密鍵 (PEM)
        #[arg(long)]
        ca_key: PathBuf,
        /// 事業所から届いた証明書署名要求 (.csr, PEM)
        #[arg(long)]
        csr: PathBuf,
        /// 有効日数（1〜825）
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// 書き出す証明書ファイル (.crt, PEM)。事業所に送り返します
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum OfficeCmd {
    /// 登録（名称の変更）
    Add {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 事業所番号
        #[arg(long)]
        office: String,
        /// 名称
        #[arg(long)]
        name: String,
    },
    /// 一覧
    List {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
    },
    /// 利用停止（すべてのセッションも終了）
    Disable {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 事業所番号
        #[arg(long)]
        office: String,
    },
    /// 利用停止の解除
    Enable {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 事業所番号
        #[arg(long)]
        office: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// 個人ユーザ (c…) を登録、またはパスワードをリセット
    Personal {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 個人ユーザID
        #[arg(long)]
        user: String,
    },
    /// 事業所ユーザ (KJ…) を登録、またはパスワードをリセット（仮パスワード）
    Office {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// 事業所ユーザID
        #[arg(long)]
        user: String,
        /// 事業所番号
        #[arg(long)]
        office: String,
    },
    /// ユーザ（c… または KJ…）の利用停止（すべてのセッションも終了）
    Disable {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// ユーザID
        #[arg(long)]
        user: String,
    },
    /// ユーザの利用停止の解除
    Enable {
        /// 設定ファイル
        #[arg(long)]
        config: PathBuf,
        /// ユーザID
        #[arg(long)]
        user: String,
    },
}

/// The user table of an ID by its shape (`c…` personal, `KJ…` office).
fn user_table(user: &str) -> Result<UserTable> {
    if careplan_core::OfficeUserId::parse(user).is_ok() {
        Ok(UserTable::Office)
    } else if careplan_core::PersonalUserId::parse(user).is_ok() {
        Ok(UserTable::Personal)
    } else {
        bail!("ユーザID「{user}」の形式が違います（個人ユーザは c…、事業所ユーザは KJ…）。")
    }
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("careplan-relay-worker")
        .build()?;
    rt.block_on(run(cli.cmd))
}

async fn open(config: &std::path::Path) -> Result<(Config, Db)> {
    let cfg = Config::load(config)?;
    careplan_relay::secret_file::create_private_dir(&cfg.data_dir)?;
    let db = Db::open(&cfg.database_url()).await?;
    Ok((cfg, db))
}

async fn serve(cfg: Config) -> Result<()> {
    let server = Server::bind(cfg).await.context("起動できません")?;
    tracing::info!(addr = %server.local_addr()?, "relay listening");
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let signal = stop_signal().await;
        tracing::info!(signal, "stopping: waiting long-polls are answered");
        let _ = tx.send(true);
    });
    server.run(rx).await?;
    Ok(())
}

/// The signal that stops `serve` gracefully: Ctrl-C (SIGINT) everywhere, and on Unix SIGTERM
/// too — what systemd, Docker and Kubernetes send first. Either one answers the waiting
/// long-polls and lets requests in flight finish.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                tracing::warn!(error = %e, "SIGTERM cannot be caught; only SIGINT stops gracefully");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

async fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Serve { config } => serve(Config::load(&config)?).await,
        Cmd::Demo {
            data,
            listen,
            database_url,
        } => {
            let info = demo::ensure_demo_on(&data, listen, database_url.as_deref()).await?;
            println!("デモ用中継サーバ: {}", info.relay_url);
            println!("事業所とログイン情報: {}", data.join("demo.json").display());
            let mut cfg = demo::demo_config(&data, listen);
            cfg.database_url = database_url;
            serve(cfg).await
        }
        Cmd::Office {
            cmd:
                OfficeCmd::Add {
                    config,
                    office,
                    name,
                },
        } => {
            let (_, db) = open(&config).await?;
            let o = careplan_core::OfficeNumber::parse(&office)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            db.upsert_office(
                o.as_str(),
                &name,
                db.office(o.as_str()).await?.and_then(|x| x.1),
            )
            .await?;
            println!("登録しました: {o} {name}");
            Ok(())
        }
        Cmd::Office {
            cmd: OfficeCmd::List { config },
        } => {
            let (_, db) = open(&config).await?;
            for (n, name, lic) in db.offices().await? {
                let lic = lic
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                    .map(|t| t.date().to_string())
                    .unwrap_or_else(|| "-".into());
                println!("{n}\t{name}\tライセンス期限 {lic}");
            }
            Ok(())
        }
        Cmd::User {
            cmd: UserCmd::Personal { config, user },
        } => {
            let (cfg, db) = open(&config).await?;
            let u = careplan_core::PersonalUserId::parse(&user)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let pw = auth::random_password();
            db.put_personal_user(u.as_str(), &auth::hash_password(&cfg.security, &pw))
                .await?;
            let ended = db
                .end_sessions_of_user(UserTable::Personal, u.as_str(), None)
                .await?;
            db.unlock_user(u.as_str()).await?;
            println!("個人ユーザ {u} のパスワード: {pw}");
            if ended > 0 {
                println!("このユーザのログイン中のセッション {ended} 件を終了しました。");
            }
            Ok(())
        }
        Cmd::User {
            cmd:
                UserCmd::Office {
                    config,
                    user,
                    office,
                },
        } => {
            let (cfg, db) = open(&config).await?;
            let u = careplan_core::OfficeUserId::parse(&user)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let o = careplan_core::OfficeNumber::parse(&office)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            if db.office(o.as_str()).await?.is_none() {
                bail!("事業所 {o} が登録されていません。先に office add で登録してください。");
            }
            let pw = auth::random_password();
            let now = OffsetDateTime::now_utc().unix_timestamp();
            db.put_office_user(
                u.as_str(),
                o.as_str(),
                &auth::hash_password(&cfg.security, &pw),
                now,
                true,
            )
            .await?;
            let ended = db
                .end_sessions_of_user(UserTable::Office, u.as_str(), None)
                .await?;
            db.unlock_user(u.as_str()).await?;
            println!(
                "事業所ユーザ {u}（{o}）の仮パスワード: {pw}（{}時間以内の初回ログイン時に変更が必要です）",
                cfg.security.temporary_password_hours
            );
            if ended > 0 {
                println!("このユーザのログイン中のセッション {ended} 件を終了しました。");
            }
            Ok(())
        }
        Cmd::Cert {
            cmd:
                CertCmd::Sign {
                    config,
                    ca_key,
                    csr,
                    days,
                    out,
                },
        } => {
            let (cfg, db) = open(&config).await?;
            let ca = pki::Pem {
                cert: std::fs::read_to_string(&cfg.ca_cert)
                    .with_context(|| format!("CA証明書 {} を読めません", cfg.ca_cert.display()))?,
                key: std::fs::read_to_string(&ca_key)
                    .with_context(|| format!("CAの秘密鍵 {} を読めません", ca_key.display()))?,
            };
            let req = std::fs::read(&csr)
                .with_context(|| format!("CSR {} を読めません", csr.display()))?;
            let signed =
                pki::sign_office_csr(&db, &ca, &req, OffsetDateTime::now_utc(), days).await?;
            std::fs::write(&out, &signed.cert)
                .with_context(|| format!("{} に書き込めません", out.display()))?;
            println!(
                "事業所 {}（{}）の証明書を {} に書き出しました（有効期限 {}）。",
                signed.office,
                signed.name,
                out.display(),
                signed.not_after.date()
            );
            println!(
                "このファイルを事業所に送り、「証明書をインストール」で取り込んでもらってください。新しい事業所には CA証明書 {} も送ってください。",
                cfg.ca_cert.display()
            );
            Ok(())
        }
        Cmd::Notice {
            config,
            title,
            body,
        } => {
            let (_, db) = open(&config).await?;
            db.add_notice(
                &auth::new_id(),
                OffsetDateTime::now_utc().unix_timestamp(),
                &title,
                &body,
            )
            .await?;
            println!("掲載しました。");
            Ok(())
        }
        Cmd::Purge { config, days } => {
            let (cfg, db) = open(&config).await?;
            let days = days.unwrap_or(cfg.limits.retention_days);
            if days < 1 {
                bail!("保存日数は1日以上で指定してください。");
            }
            let before = OffsetDateTime::now_utc().unix_timestamp() - days * 86_400;
            let n = db.purge(before).await?;
            println!("{days}日より前の送信 {n} 件を削除しました。");
            // Rows first, then the blobs nothing names any more (and expired uploads).
            let blobs = match careplan_relay::blob::Blobs::open(&cfg.blob_config(), &cfg.data_dir) {
                Ok(b) => b,
                Err(e) if careplan_relay::pack::is_held_elsewhere(&e) => {
                    println!(
                        "中継サーバーが動作中です。どこからも参照されなくなったファイルは、動作中の中継サーバーが定期処理で削除します。"
                    );
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            careplan_relay::blob::move_legacy_bytes(&db, &blobs).await?;
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let (uploads, swept) = careplan_relay::blob::sweep(&db, &blobs, now).await?;
            println!(
                "期限切れのアップロード {uploads} 件と、どこからも参照されないファイル {swept} 件を削除しました。"
            );
            // Space of the swept blobs given back (packs more than half dead rewritten).
            let c = blobs.compact().await?;
            if c.packs > 0 {
                println!(
                    "ファイル置き場を整理しました（パック {} 個を書き直し、{:.1} MB を解放）。",
                    c.packs,
                    c.freed as f64 / 1_000_000.0
                );
            }
            Ok(())
        }
        Cmd::Office {
            cmd: OfficeCmd::Disable { config, office },
        } => {
            let (_, db) = open(&config).await?;
            if !db.set_office_disabled(&office, true).await? {
                bail!("事業所 {office} が登録されていません。");
            }
            println!("事業所 {office} の利用を停止し、すべてのセッションを終了しました。");
            Ok(())
        }
        Cmd::Office {
            cmd: OfficeCmd::Enable { config, office },
        } => {
            let (_, db) = open(&config).await?;
            if !db.set_office_disabled(&office, false).await? {
                bail!("事業所 {office} が登録されていません。");
            }
            println!("事業所 {office} の利用停止を解除しました。");
            Ok(())
        }
        Cmd::User {
            cmd: UserCmd::Disable { config, user },
        } => {
            let (_, db) = open(&config).await?;
            if !db
                .set_user_disabled(user_table(&user)?, &user, true)
                .await?
            {
                bail!("ユーザ {user} が登録されていません。");
            }
            println!("ユーザ {user} の利用を停止し、すべてのセッションを終了しました。");
            Ok(())
        }
        Cmd::User {
            cmd: UserCmd::Enable { config, user },
        } => {
            let (_, db) = open(&config).await?;
            if !db
                .set_user_disabled(user_table(&user)?, &user, false)
                .await?
            {
                bail!("ユーザ {user} が登録されていません。");
            }
            println!("ユーザ {user} の利用停止を解除しました。");
            Ok(())
        }
        Cmd::Revoke {
            config,
            cert,
            fingerprint,
            reason,
        } => {
            let (_, db) = open(&config).await?;
            let fp = match (cert, fingerprint) {
                (Some(path), _) => {
                    let pem = std::fs::read(&path)
                        .with_context(|| format!("{} を読めません", path.display()))?;
                    use rustls_pki_types::pem::PemObject;
                    let der = rustls_pki_types::CertificateDer::from_pem_slice(&pem)
                        .map_err(|e| anyhow::anyhow!("証明書 (PEM) を読めません: {e}"))?;
                    auth::cert_fingerprint(der.as_ref())
                }
                (None, Some(fp)) => {
                    let fp = fp.replace(':', "").to_ascii_lowercase();
                    if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                        bail!("指紋は SHA-256 の16進64文字で指定してください。");
                    }
                    fp
                }
                (None, None) => bail!("--cert か --fingerprint を指定してください。"),
            };
            let n = db
                .revoke_cert(&fp, OffsetDateTime::now_utc().unix_timestamp(), &reason)
                .await?;
            println!("証明書 {fp} を失効させました（終了したセッション {n} 件）。");
            Ok(())
        }
        Cmd::Revoked { config } => {
            let (_, db) = open(&config).await?;
            for (fp, at, reason) in db.revoked().await? {
                let at = OffsetDateTime::from_unix_timestamp(at)
                    .map(|t| t.date().to_string())
                    .unwrap_or_default();
                println!("{fp}\t{at}\t{reason}");
            }
            Ok(())
        }
        Cmd::EndSessions {
            config,
            office,
            user,
        } => {
            let (_, db) = open(&config).await?;
            let n = match (office, user) {
                (Some(o), _) => db.end_sessions_of_office(&o).await?,
                (None, Some(u)) => db.end_sessions_of_user(user_table(&u)?, &u, None).await?,
                (None, None) => bail!("--office か --user を指定してください。"),
            };
            println!("セッション {n} 件を終了しました。");
            Ok(())
        }
        Cmd::Licence {
            config,
            office,
            until,
        } => {
            let (_, db) = open(&config).await?;
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            let d =
                time::Date::parse(&until, &fmt).context("期限は YYYY-MM-DD で指定してください")?;
            let Some((name, _)) = db.office(&office).await? else {
                bail!("事業所 {office} が登録されていません。");
            };
            let t = d.midnight().assume_utc().unix_timestamp();
            db.upsert_office(&office, &name, Some(t)).await?;
            println!("{office} のライセンス期限を {d} にしました。");
            Ok(())
        }
    }
}
