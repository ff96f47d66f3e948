//! `careplan-relay demo`: a complete demo relay in one directory — CA, server certificate,
//! demo offices with users and client-certificate profiles, notices, licences and a few
//! weeks of realistic transmissions from `careplan_core::demo`.
//!
//! Layout of the directory:
//! - `pki/ca.crt`, `pki/ca.key`, `pki/server.crt`, `pki/server.key`
//! - `profiles/<事業所番号>/client.crt`, `client.key`, `ca.crt` (a client profile)
//! - `relay.sqlite3` (the store), `relay.toml` (the configuration used)
//! - `demo.json` (offices, users, passwords, profiles; see [`DemoInfo`])
//!
//! The directory and every folder in it are owner-only (0700), and the private keys and
//! `demo.json` are written owner-only from the start (0600; owner-only ACL on Windows), see
//! [`crate::secret_file`]. The demo is the only place where the relay makes an office's key
//! (a real office sends a CSR: `careplan-relay cert sign`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::RelayError;
use crate::auth;
use crate::config::{Config, Limits, Security};
use crate::db::Db;
use crate::mailbox::{NewFile, NewSend};
use crate::pki;
use crate::secret_file;

/// One demo office as written to `demo.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoOfficeInfo {
    /// 事業所番号.
    pub office: String,
    /// 事業所名.
    pub name: String,
    /// 個人ユーザID.
    pub personal_user: String,
    /// Its password.
    pub personal_password: String,
    /// 事業所ユーザID.
    pub office_user: String,
    /// Its password.
    pub office_password: String,
    /// Directory with `client.crt`, `client.key`, `ca.crt`.
    pub profile: PathBuf,
}

/// `demo.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoInfo {
    /// `https://127.0.0.1:PORT`.
    pub relay_url: String,
    /// The CA certificate (PEM path).
    pub ca: PathBuf,
    /// Offices; the first is the 居宅介護支援事業所.
    pub offices: Vec<DemoOfficeInfo>,
}

/// The configuration of a demo directory (cheap argon2 costs: it is a demo on loopback).
pub fn demo_config(dir: &Path, listen: SocketAddr) -> Config {
    Config {
        listen,
        data_dir: dir.to_path_buf(),
        database_url: None,
        ca_cert: dir.join("pki/ca.crt"),
        server_cert: dir.join("pki/server.crt"),
        server_key: dir.join("pki/server.key"),
        limits: Limits::default(),
        security: Security {
            argon2_memory_kib: 4096,
            argon2_iterations: 1,
            ..Security::default()
        },
        connections: Default::default(),
        push: Default::default(),
        blobs: Default::default(),
    }
}

/// Write a demo file; folders are created owner-only, `secret` files owner-only too.
fn write(path: &Path, text: &str, secret: bool) -> Result<(), RelayError> {
    if let Some(p) = path.parent() {
        secret_file::create_private_dir(p)?;
    }
    if secret {
        secret_file::write_private(path, text.as_bytes())?;
    } else {
        std::fs::write(path, text)?;
    }
    Ok(())
}

const NOTICES: [(&str, &str); 5] = [
    (
        "【重要】事業所ユーザIDのパスワード期限切れにご注意ください",
        "事業所ユーザIDのパスワードには有効期限（90日）が設定されています。\n期限が近づくとトップページに表示されます。早めに変更してください。",
    ),
    (
        "【デモ】この中継サーバはデモ用です",
        "このデモの事業所・利用者・ファイルはすべて架空のものです。\n実際の個人情報は入力しないでください。",
    ),
    (
        "ケアプランデータ連携システムの機能変更について",
        "受信したCSVファイルの中身を一覧で確認できるようになりました。\n送信前のチェックも強化しています。",
    ),
    (
        "メンテナンスのお知らせ",
        "毎月第3日曜日 2:00〜5:00 はメンテナンスのため利用できません。",
    ),
    (
        "【よくあるご質問の更新】",
        "データ送信の際に「有効期限切れ」と表示される場合の対処を追加しました。",
    ),
];

/// Create the demo directory once (PKI, store, users, data); later calls reuse it and only
/// update the URL. Returns the demo information.
pub async fn ensure_demo(dir: &Path, listen: SocketAddr) -> Result<DemoInfo, RelayError> {
    ensure_demo_on(dir, listen, None).await
}

/// [`ensure_demo`] with the store at `database_url` (`postgres://…`; `None`: SQLite in
/// `dir`). The URL is written into the demo's `relay.toml`.
pub async fn ensure_demo_on(
    dir: &Path,
    listen: SocketAddr,
    database_url: Option<&str>,
) -> Result<DemoInfo, RelayError> {
    let info_path = dir.join("demo.json");
    let url = format!("https://127.0.0.1:{}", listen.port());
    if let Ok(text) = std::fs::read_to_string(&info_path)
        && let Ok(mut info) = serde_json::from_str::<DemoInfo>(&text)
    {
        info.relay_url = url;
        // A demo made by an older version may be world-readable: close its folder.
        secret_file::create_private_dir(dir)?;
        write(
            &info_path,
            &serde_json::to_string_pretty(&info).unwrap_or_default(),
            true,
        )?;
        return Ok(info);
    }
    secret_file::create_private_dir(dir)?;
    let now = OffsetDateTime::now_utc();
    let mut cfg = demo_config(dir, listen);
    cfg.database_url = database_url.map(str::to_owned);
    let ca = pki::create_ca("careplan demo CA", now, 10)?;
    let server = pki::issue_server(&ca, &["localhost", "127.0.0.1", "::1"], now, 825)?;
    write(&cfg.ca_cert, &ca.cert, false)?;
    write(&dir.join("pki/ca.key"), &ca.key, true)?;
    write(&cfg.server_cert, &server.cert, false)?;
    write(&cfg.server_key, &server.key, true)?;
    write(
        &dir.join("relay.toml"),
        &toml::to_string_pretty(&cfg).unwrap_or_default(),
        false,
    )?;

    let db = Db::open(&cfg.database_url()).await?;
    let world = careplan_core::demo::generate(20_250_401, now, 6, 4);
    let mut offices = Vec::new();
    for (i, o) in world.offices.iter().enumerate() {
        // The first office's licence ends soon, to show the top page's warning.
        let licence_days = if i == 0 {
            20
        } else {
            200 + 30 * i64::try_from(i).unwrap_or(0)
        };
        db.upsert_office(
            o.number.as_str(),
            &o.name,
            Some((now + Duration::days(licence_days)).unix_timestamp()),
        )
        .await?;
        let personal_user = format!("c{}", o.number);
        let office_user = format!("KJ{}", o.number);
        let personal_password = auth::random_password();
        let office_password = auth::random_password();
        db.put_personal_user(
            &personal_user,
            &auth::hash_password(&cfg.security, &personal_password),
        )
        .await?;
        db.put_office_user(
            &office_user,
            o.number.as_str(),
            &auth::hash_password(&cfg.security, &office_password),
            now.unix_timestamp(),
            false,
        )
        .await?;
        let profile = dir.join("profiles").join(o.number.as_str());
        let client = pki::issue_client(
            &ca,
            &o.number,
            &o.name,
            now - Duration::days(1),
            now + Duration::days(365),
        )?;
        write(&profile.join("client.crt"), &client.cert, false)?;
        write(&profile.join("client.key"), &client.key, true)?;
        write(&profile.join("ca.crt"), &ca.cert, false)?;
        offices.push(DemoOfficeInfo {
            office: o.number.to_string(),
            name: o.name.clone(),
            personal_user,
            personal_password,
            office_user,
            office_password,
            profile,
        });
    }
    for (i, (title, body)) in NOTICES.iter().enumerate() {
        let posted = now - Duration::days(3 * i64::try_from(i).unwrap_or(0) + 1);
        db.add_notice(&format!("demo-{i}"), posted.unix_timestamp(), title, body)
            .await?;
    }
    let blobs = crate::blob::Blobs::open(&cfg.blob_config(), &cfg.data_dir)?;
    for (i, t) in world.transmissions.iter().enumerate() {
        for f in &t.files {
            crate::blob::store_bytes(
                &db,
                &blobs,
                &auth::sha256_hex(&f.bytes),
                f.bytes.clone(),
                now.unix_timestamp(),
            )
            .await?;
        }
        let files = t
            .files
            .iter()
            .map(|f| {
                let n = careplan_core::parse_name(&f.name);
                NewFile {
                    id: auth::new_id(),
                    name: f.name.clone(),
                    kind: n.kind.map(|k| k.prefix().to_owned()),
                    category: n.category.label().to_owned(),
                    csv_version: n
                        .kind
                        .filter(|k| k.is_csv())
                        .and_then(|_| careplan_core::csv::read_csv_version(&f.bytes)),
                    sha256: auth::sha256_hex(&f.bytes),
                    size: f.bytes.len() as u64,
                }
            })
            .collect();
        db.insert_send(NewSend {
            id: auth::new_id(),
            key: format!("demo-{i}"),
            from: t.from.to_string(),
            message: t.message.clone(),
            sent_at: t.sent_at.unix_timestamp(),
            request_hash: String::new(),
            destinations: vec![(auth::new_id(), t.to.to_string(), files)],
        })
        .await?;
    }
    db.pool.close().await;
    let info = DemoInfo {
        relay_url: url,
        ca: cfg.ca_cert.clone(),
        offices,
    };
    write(
        &info_path,
        &serde_json::to_string_pretty(&info).unwrap_or_default(),
        true,
    )?;
    Ok(info)
}

/// Base64 of bytes (for callers building send requests).
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    /// Every secret the demo writes is owner-only, every folder 0700.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_secrets_are_owner_only() {
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path().join("demo");
        let info = ensure_demo(&dir, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("demo");
        let mut secrets = vec![
            dir.join("demo.json"),
            dir.join("pki/ca.key"),
            dir.join("pki/server.key"),
        ];
        let mut folders = vec![dir.clone(), dir.join("pki"), dir.join("profiles")];
        for o in &info.offices {
            secrets.push(o.profile.join("client.key"));
            folders.push(o.profile.clone());
        }
        for f in &secrets {
            assert_eq!(mode(f) & 0o077, 0, "{} is {:o}", f.display(), mode(f));
        }
        for f in &folders {
            assert_eq!(mode(f), 0o700, "{} is {:o}", f.display(), mode(f));
        }
        // A second start (demo.json rewritten with the new URL) keeps them closed, and
        // closes a folder someone opened.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        ensure_demo(&dir, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("again");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("demo.json")) & 0o077, 0);
    }
}
