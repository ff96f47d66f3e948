//! The store: SQL kept portable between SQLite (default, embedded) and PostgreSQL (several
//! relays sharing one database), through sqlx's `Any` driver. Times are Unix seconds
//! (`BIGINT`); the only backend-specific DDL is the byte type (`BLOB` / `BYTEA`).
//!
//! SQLite runs in WAL mode with `synchronous=FULL`: a committed transaction is on disk.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};
use std::str::FromStr;

use crate::RelayError;

/// The database handle.
#[derive(Clone)]
pub struct Db {
    /// The pool (SQLite or PostgreSQL).
    pub pool: AnyPool,
    /// Serializes the big write transactions in this process: SQLite has one writer, and
    /// waiting here is fair and sleep-free, unlike SQLite's busy handler.
    pub writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Sends waiting for the next group commit (see [`Db::insert_send`]).
    pub(crate) queue: std::sync::Arc<std::sync::Mutex<Vec<crate::mailbox::Job>>>,
}

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS offices (
  number TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  licence_expires BIGINT
);
CREATE TABLE IF NOT EXISTS personal_users (
  user_id TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  failures BIGINT NOT NULL DEFAULT 0,
  locked_until BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS office_users (
  user_id TEXT PRIMARY KEY,
  office TEXT NOT NULL,
  hash TEXT NOT NULL,
  failures BIGINT NOT NULL DEFAULT 0,
  locked_until BIGINT NOT NULL DEFAULT 0,
  password_set_at BIGINT NOT NULL,
  temporary BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  personal_user TEXT NOT NULL,
  office_user TEXT,
  office TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_seen BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS notices (
  id TEXT PRIMARY KEY,
  posted_at BIGINT NOT NULL,
  title TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sends (
  id TEXT PRIMARY KEY,
  idem_key TEXT NOT NULL,
  from_office TEXT NOT NULL,
  message TEXT NOT NULL,
  sent_at BIGINT NOT NULL,
  UNIQUE (from_office, idem_key)
);
CREATE TABLE IF NOT EXISTS transmissions (
  id TEXT PRIMARY KEY,
  send_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  to_office TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transmissions_to ON transmissions (to_office);
CREATE INDEX IF NOT EXISTS transmissions_send ON transmissions (send_id);
CREATE TABLE IF NOT EXISTS files (
  id TEXT PRIMARY KEY,
  transmission_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  name TEXT NOT NULL,
  kind TEXT,
  category TEXT NOT NULL,
  csv_version TEXT,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  data {BYTES} NOT NULL,
  acquired_at BIGINT
);
CREATE INDEX IF NOT EXISTS files_transmission ON files (transmission_id);
CREATE TABLE IF NOT EXISTS drafts (
  id TEXT NOT NULL,
  office TEXT NOT NULL,
  saved_at BIGINT NOT NULL,
  terminal TEXT NOT NULL,
  message TEXT NOT NULL,
  to_office TEXT,
  PRIMARY KEY (office, id)
);
CREATE TABLE IF NOT EXISTS draft_files (
  office TEXT NOT NULL,
  draft_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  name TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  data {BYTES} NOT NULL,
  PRIMARY KEY (office, draft_id, seq)
)
";

impl Db {
    /// Open (creating if needed) and migrate.
    pub async fn open(url: &str) -> Result<Self, RelayError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let opts = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        for p in [
                            "PRAGMA journal_mode=WAL",
                            "PRAGMA synchronous=FULL",
                            "PRAGMA busy_timeout=10000",
                        ] {
                            sqlx::query(p).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        let db = Self {
            pool,
            writer: std::sync::Arc::default(),
            queue: std::sync::Arc::default(),
        };
        let bytes = if sqlite { "BLOB" } else { "BYTEA" };
        for stmt in SCHEMA.replace("{BYTES}", bytes).split(';') {
            if !stmt.trim().is_empty() {
                sqlx::query(stmt).execute(&db.pool).await?;
            }
        }
        Ok(db)
    }

    /// Add or rename an office.
    pub async fn upsert_office(
        &self,
        number: &str,
        name: &str,
        licence_expires: Option<i64>,
    ) -> Result<(), RelayError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT number FROM offices WHERE number = $1")
            .bind(number)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if exists {
            sqlx::query("UPDATE offices SET name = $1, licence_expires = $2 WHERE number = $3")
                .bind(name)
                .bind(licence_expires)
                .bind(number)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("INSERT INTO offices (number, name, licence_expires) VALUES ($1, $2, $3)")
                .bind(number)
                .bind(name)
                .bind(licence_expires)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Name and licence expiry of a registered office.
    pub async fn office(&self, number: &str) -> Result<Option<(String, Option<i64>)>, RelayError> {
        let row = sqlx::query("SELECT name, licence_expires FROM offices WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// Every office (number, name, licence expiry).
    pub async fn offices(&self) -> Result<Vec<(String, String, Option<i64>)>, RelayError> {
        let rows = sqlx::query("SELECT number, name, licence_expires FROM offices ORDER BY number")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Add or replace a personal user.
    pub async fn put_personal_user(&self, user: &str, hash: &str) -> Result<(), RelayError> {
        sqlx::query("DELETE FROM personal_users WHERE user_id = $1")
            .bind(user)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO personal_users (user_id, hash) VALUES ($1, $2)")
            .bind(user)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Add or replace an office user.
    pub async fn put_office_user(
        &self,
        user: &str,
        office: &str,
        hash: &str,
        set_at: i64,
        temporary: bool,
    ) -> Result<(), RelayError> {
        sqlx::query("DELETE FROM office_users WHERE user_id = $1")
            .bind(user)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO office_users (user_id, office, hash, password_set_at, temporary) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user)
        .bind(office)
        .bind(hash)
        .bind(set_at)
        .bind(i64::from(temporary))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// (hash, failures, locked_until) of a personal user.
    pub async fn personal_user(
        &self,
        user: &str,
    ) -> Result<Option<(String, i64, i64)>, RelayError> {
        let row = sqlx::query(
            "SELECT hash, failures, locked_until FROM personal_users WHERE user_id = $1",
        )
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
            None => None,
        })
    }

    /// An office user.
    pub async fn office_user(&self, user: &str) -> Result<Option<OfficeUser>, RelayError> {
        let row = sqlx::query(
            "SELECT office, hash, failures, locked_until, password_set_at, temporary FROM office_users WHERE user_id = $1",
        )
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(OfficeUser {
                office: r.try_get(0)?,
                hash: r.try_get(1)?,
                failures: r.try_get(2)?,
                locked_until: r.try_get(3)?,
                password_set_at: r.try_get(4)?,
                temporary: r.try_get::<i64, _>(5)? != 0,
            }),
            None => None,
        })
    }

    /// Record a failed login; lock when the count reaches `max`.
    pub async fn login_failed(
        &self,
        table: UserTable,
        user: &str,
        now: i64,
        max: i64,
        lock_secs: i64,
    ) -> Result<bool, RelayError> {
        let t = table.name();
        sqlx::query(&format!(
            "UPDATE {t} SET failures = failures + 1 WHERE user_id = $1"
        ))
        .bind(user)
        .execute(&self.pool)
        .await?;
        let locked = sqlx::query(&format!(
            "UPDATE {t} SET locked_until = $1, failures = 0 WHERE user_id = $2 AND failures >= $3"
        ))
        .bind(now + lock_secs)
        .bind(user)
        .bind(max)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0;
        Ok(locked)
    }

    /// Reset the failure count after a good login.
    pub async fn login_ok(&self, table: UserTable, user: &str) -> Result<(), RelayError> {
        sqlx::query(&format!(
            "UPDATE {} SET failures = 0, locked_until = 0 WHERE user_id = $1",
            table.name()
        ))
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// New password for an office user (not temporary).
    pub async fn set_office_password(
        &self,
        user: &str,
        hash: &str,
        now: i64,
        temporary: bool,
    ) -> Result<bool, RelayError> {
        Ok(sqlx::query(
            "UPDATE office_users SET hash = $1, password_set_at = $2, temporary = $3, failures = 0, locked_until = 0 WHERE user_id = $4",
        )
        .bind(hash)
        .bind(now)
        .bind(i64::from(temporary))
        .bind(user)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// New password for a personal user.
    pub async fn set_personal_password(&self, user: &str, hash: &str) -> Result<bool, RelayError> {
        Ok(sqlx::query(
            "UPDATE personal_users SET hash = $1, failures = 0, locked_until = 0 WHERE user_id = $2",
        )
        .bind(hash)
        .bind(user)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Store a session or pending token (by its hash).
    pub async fn insert_session(&self, s: &Session) -> Result<(), RelayError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, kind, personal_user, office_user, office, created_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.token_hash)
        .bind(&s.kind)
        .bind(&s.personal_user)
        .bind(&s.office_user)
        .bind(&s.office)
        .bind(s.created_at)
        .bind(s.last_seen)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session by token hash.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>, RelayError> {
        let row = sqlx::query(
            "SELECT token_hash, kind, personal_user, office_user, office, created_at, last_seen FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(Session {
                token_hash: r.try_get(0)?,
                kind: r.try_get(1)?,
                personal_user: r.try_get(2)?,
                office_user: r.try_get(3)?,
                office: r.try_get(4)?,
                created_at: r.try_get(5)?,
                last_seen: r.try_get(6)?,
            }),
            None => None,
        })
    }

    /// Mark a session used now.
    pub async fn touch_session(&self, token_hash: &str, now: i64) -> Result<(), RelayError> {
        sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// End a session.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), RelayError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Post a notice.
    pub async fn add_notice(
        &self,
        id: &str,
        posted_at: i64,
        title: &str,
        body: &str,
    ) -> Result<(), RelayError> {
        sqlx::query("INSERT INTO notices (id, posted_at, title, body) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(posted_at)
            .bind(title)
            .bind(body)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Notices, newest first: (id, posted_at, title, body).
    pub async fn notices(&self) -> Result<Vec<(String, i64, String, String)>, RelayError> {
        let rows = sqlx::query(
            "SELECT id, posted_at, title, body FROM notices ORDER BY posted_at DESC, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Delete transmissions older than `before` (and sends left without transmissions).
    pub async fn purge(&self, before: i64) -> Result<u64, RelayError> {
        let mut tx = self.pool.begin().await?;
        let old = "SELECT t.id FROM transmissions t JOIN sends s ON s.id = t.send_id WHERE s.sent_at < $1";
        sqlx::query(&format!(
            "DELETE FROM files WHERE transmission_id IN ({old})"
        ))
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query(&format!("DELETE FROM transmissions WHERE id IN ({old})"))
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM sends WHERE sent_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// Which user table a login step uses.
#[derive(Debug, Clone, Copy)]
pub enum UserTable {
    /// 個人ユーザ.
    Personal,
    /// 事業所ユーザ.
    Office,
}

impl UserTable {
    fn name(self) -> &'static str {
        match self {
            UserTable::Personal => "personal_users",
            UserTable::Office => "office_users",
        }
    }
}

/// An office user row.
#[derive(Debug, Clone)]
pub struct OfficeUser {
    /// Its office.
    pub office: String,
    /// argon2id PHC.
    pub hash: String,
    /// Consecutive failures.
    pub failures: i64,
    /// Locked until (Unix seconds).
    pub locked_until: i64,
    /// When the password was set.
    pub password_set_at: i64,
    /// A temporary password that must be changed.
    pub temporary: bool,
}

/// A session row: `kind` is `pending` (after step 1) or `session` (after step 2).
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// `pending` or `session`.
    pub kind: String,
    /// 個人ユーザID.
    pub personal_user: String,
    /// 事業所ユーザID (sessions only).
    pub office_user: Option<String>,
    /// The certificate's office.
    pub office: String,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last used.
    pub last_seen: i64,
}
