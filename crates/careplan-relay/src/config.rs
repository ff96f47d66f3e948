//! Relay configuration (TOML), with documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on, e.g. `127.0.0.1:8443`.
    pub listen: SocketAddr,
    /// Data directory (holds `relay.sqlite3` unless `database_url` is set).
    pub data_dir: PathBuf,
    /// Database URL; default `sqlite://<data_dir>/relay.sqlite3`. `postgres://…` is the
    /// path for several relay instances sharing one database.
    #[serde(default)]
    pub database_url: Option<String>,
    /// PEM of the CA that issues client certificates.
    pub ca_cert: PathBuf,
    /// PEM of the server certificate (chain).
    pub server_cert: PathBuf,
    /// PEM of the server key.
    pub server_key: PathBuf,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Login and session security.
    #[serde(default)]
    pub security: Security,
    /// Connection limits and timeouts.
    #[serde(default)]
    pub connections: crate::conn::ConnLimits,
    /// Limits of the long-poll for arrivals (`GET /api/v1/wait`).
    #[serde(default)]
    pub push: crate::notify::PushLimits,
    /// Where file bytes live (a local folder or an S3 bucket).
    #[serde(default)]
    pub blobs: crate::blob::BlobConfig,
}

/// Limits of a send (defaults from product.md §4).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Bytes per file (10 MiB).
    pub max_file_bytes: u64,
    /// Files per destination per send (100).
    pub max_files_per_destination: usize,
    /// Destinations per send (50).
    pub max_destinations: usize,
    /// Characters of the message (200).
    pub max_message_chars: usize,
    /// Days a transmission is kept (365).
    pub retention_days: i64,
    /// Bytes of one send request body at most (256 MiB). Sends and drafts name uploads
    /// (no file bytes), so their limit is derived from the file and destination counts and
    /// capped by this; an upload part is capped by `max_file_bytes`; every other route has
    /// its own small fixed limit (login, password, acknowledgement: 4 KiB).
    pub max_request_bytes: usize,
    /// Sends an office may make in one hour (2 000; the busiest real office sends a few
    /// hundred a day at the start of a month).
    pub max_sends_per_hour: i64,
    /// Drafts an office may keep on the relay (200).
    pub max_drafts_per_office: i64,
    /// Bytes of draft files an office may keep on the relay (200 MiB).
    pub max_draft_bytes_per_office: i64,
    /// Days a draft is kept after its last save (90); patient data in drafts does not
    /// outlive this.
    pub draft_retention_days: i64,
    /// Extensions of the attachments (files that are not standard data files) that may be
    /// sent, without the dot; default: PDF, images, Office documents and text
    /// (`careplan_core::safe_name::DEFAULT_ATTACHMENT_EXTENSIONS`). Programs, shortcuts and
    /// other dangerous types are refused whatever this says.
    pub attachment_extensions: Vec<String>,
    /// Rows of one list page (`GET /api/v1/received`, `/sent`) at most (1 000, also the
    /// protocol's ceiling `careplan_core::wire::LIST_PAGE_MAX`).
    pub list_page_max: u32,
    /// Bytes of `POST /api/v1/send/whole` bodies (a send with its small files in one
    /// request) the process holds in memory at once (256 MiB: 64 sends of the largest
    /// size, thousands of a usual 3-file set). A request beyond it is answered `503 E_BUSY`
    /// before its body is read, and the client sends the files as uploads, which stream.
    pub whole_sends_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 10 * 1024 * 1024,
            max_files_per_destination: 100,
            max_destinations: careplan_core::route::MAX_OFFICES,
            max_message_chars: 200,
            retention_days: 365,
            max_request_bytes: 256 * 1024 * 1024,
            max_sends_per_hour: 2000,
            max_drafts_per_office: 200,
            max_draft_bytes_per_office: 200 * 1024 * 1024,
            draft_retention_days: 90,
            attachment_extensions: careplan_core::safe_name::DEFAULT_ATTACHMENT_EXTENSIONS
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            list_page_max: careplan_core::wire::LIST_PAGE_MAX,
            whole_sends_memory_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Password hashing, lockout and session settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Security {
    /// argon2id memory in KiB (19 456 = OWASP minimum).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (2).
    pub argon2_iterations: u32,
    /// Failed logins before the account locks (5).
    pub lockout_failures: i64,
    /// Minutes an account stays locked (15).
    pub lockout_minutes: i64,
    /// Minutes of inactivity that end a session (30).
    pub session_idle_minutes: i64,
    /// Hours after which a session ends anyway (12).
    pub session_absolute_hours: i64,
    /// Minutes the step-1 token of the two-step login lives (5).
    pub pending_minutes: i64,
    /// Days an office-user password is valid (90).
    pub password_max_age_days: i64,
    /// Hours a temporary password (set by the operator) can be used for the first login
    /// (72).
    pub temporary_password_hours: i64,
    /// Password hashes computed at the same time (0 = one per CPU core). Each takes
    /// `argon2_memory_kib` of memory, so this bounds the memory and threads of a login
    /// flood.
    pub max_concurrent_hashes: usize,
    /// Logins waiting for a hashing slot before the relay answers 503 (64).
    pub max_hash_queue: usize,
    /// Login requests (both steps and password changes) per client certificate per
    /// minute (30).
    pub logins_per_minute: i64,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            lockout_failures: 5,
            lockout_minutes: 15,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            pending_minutes: 5,
            password_max_age_days: 90,
            temporary_password_hours: 72,
            max_concurrent_hashes: 0,
            max_hash_queue: 64,
            logins_per_minute: 30,
        }
    }
}

impl Config {
    /// Read a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self, crate::RelayError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            crate::RelayError::Config(format!("設定ファイル {} を読めません: {e}", path.display()))
        })?;
        let cfg: Self = toml::from_str(&text).map_err(|e| {
            crate::RelayError::Config(format!(
                "設定ファイル {} の形式が違います: {e}",
                path.display()
            ))
        })?;
        cfg.attachment_policy().map_err(|e| {
            crate::RelayError::Config(format!(
                "設定ファイル {} の limits.attachment_extensions: {}",
                path.display(),
                e.message
            ))
        })?;
        Ok(cfg)
    }

    /// The attachment policy of `limits.attachment_extensions`.
    pub fn attachment_policy(
        &self,
    ) -> Result<careplan_core::safe_name::AttachmentPolicy, careplan_core::Finding> {
        careplan_core::safe_name::AttachmentPolicy::new(&self.limits.attachment_extensions)
    }

    /// The `[blobs]` section with its defaults decided: packs when the relay runs on
    /// SQLite (one process owns the folder), not on PostgreSQL (several may share it).
    pub fn blob_config(&self) -> crate::blob::BlobConfig {
        let mut b = self.blobs.clone();
        b.packs.get_or_insert(self.database_url.is_none());
        b
    }

    /// The database URL to use.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| sqlite_url(&self.data_dir.join("relay.sqlite3")))
    }
}

/// The `sqlite:` URL (mode `rwc`) of a database file, written so that it survives sqlx's URL
/// parsing on every OS. `sqlite://C:\…` does not: the URL parser takes `C` for a host and
/// drops the colon, so on Windows the database went to a relative `C\…` path and could not
/// be opened. Here the path is opaque (`sqlite:C:/…`), Windows separators become `/`, and
/// `%`, `?`, `#` and spaces are percent-encoded (sqlx decodes them).
pub fn sqlite_url(path: &std::path::Path) -> String {
    sqlite_url_of(&path.to_string_lossy(), cfg!(windows))
}

fn sqlite_url_of(path: &str, windows: bool) -> String {
    let mut out = String::from("sqlite:");
    for c in path.chars() {
        match c {
            '\\' if windows => out.push('/'),
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            ' ' => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out.push_str("?mode=rwc");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// The file name sqlx opens for `url`, through the same `Any` parsing as `Db::open`.
    fn filename_after_sqlx(url: &str) -> String {
        let any = sqlx::any::AnyConnectOptions::from_str(url).unwrap();
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(any.database_url.as_str()).unwrap();
        opts.get_filename().to_string_lossy().into_owned()
    }

    #[test]
    fn sqlite_url_keeps_drive_letters_spaces_japanese_and_odd_characters() {
        let win =
            r"C:\Users\ケア 太郎\AppData\Roaming\careplan\careplan\data\demo-relay\relay.sqlite3";
        assert_eq!(
            filename_after_sqlx(&sqlite_url_of(win, true)),
            win.replace('\\', "/")
        );
        let unix = "/home/ケア 太郎/100% #1?/relay.sqlite3";
        assert_eq!(filename_after_sqlx(&sqlite_url_of(unix, false)), unix);
        // The former `sqlite://{path}` form lost the drive letter's colon.
        assert_ne!(
            filename_after_sqlx(&format!("sqlite://{win}?mode=rwc")).replace('\\', "/"),
            win.replace('\\', "/")
        );
    }
}
