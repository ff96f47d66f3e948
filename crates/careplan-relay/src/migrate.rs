//! Versioned schema migrations, the same on SQLite and PostgreSQL.
//!
//! Version 1 is the schema the first relay created (with `CREATE … IF NOT EXISTS`, so a
//! database made by that code is at version 1 with its data intact). Every later version is
//! a list of statements applied once, in order; the whole upgrade, with the version number
//! written, is one transaction under the migration lock (see [`Db::migrate`]). A database newer than this code is
//! refused with a clear message instead of being used half-understood.

use sqlx::Row;

use crate::RelayError;
use crate::db::Db;

/// The schema of version 1 (`{BYTES}` is `BLOB` on SQLite, `BYTEA` on PostgreSQL).
const V1: &str = r"
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

/// Version 2 (security review, issue #12): login attempts counted per (scope, ID) for
/// known and unknown IDs alike, shared rate-limit windows, revoked certificates, disabled
/// offices and users, sessions bound to the certificate that opened them, the content hash
/// behind each idempotency key, download nonces for acknowledgements, and indexes for the
/// purges.
const V2: &str = r"
CREATE TABLE login_guard (
  scope TEXT NOT NULL,
  user_id TEXT NOT NULL,
  failures BIGINT NOT NULL DEFAULT 0,
  locked_until BIGINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (scope, user_id)
);
CREATE TABLE rate_limits (
  key TEXT PRIMARY KEY,
  window_start BIGINT NOT NULL,
  count BIGINT NOT NULL
);
CREATE TABLE revoked_certs (
  fingerprint TEXT PRIMARY KEY,
  revoked_at BIGINT NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE download_nonces (
  nonce TEXT PRIMARY KEY,
  file_id TEXT NOT NULL,
  office TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
ALTER TABLE offices ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE personal_users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE office_users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN cert_fp TEXT NOT NULL DEFAULT '';
ALTER TABLE sends ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_office ON sessions (office);
CREATE INDEX sessions_office_user ON sessions (office_user);
CREATE INDEX sessions_personal_user ON sessions (personal_user);
CREATE INDEX sends_sent_at ON sends (sent_at);
CREATE INDEX sends_from ON sends (from_office, sent_at);
CREATE INDEX drafts_saved ON drafts (saved_at);
CREATE INDEX login_guard_updated ON login_guard (updated_at);
CREATE INDEX download_nonces_created ON download_nonces (created_at)
";

/// Version 3 (issue #13, lists and retention at national scale): each transmission carries
/// its send's time, so that the received list of an office is one range of one index
/// (`to_office, sent_at, id`) and a page costs the same with 10 or 10 million rows; the sent
/// list is one range of (`from_office, sent_at, id`). The purges of the small tables get
/// their time indexes. `UPDATE … FROM` needs SQLite 3.33 (sqlx bundles a newer one).
const V3: &str = r"
ALTER TABLE transmissions ADD COLUMN sent_at BIGINT NOT NULL DEFAULT 0;
UPDATE transmissions SET sent_at = s.sent_at FROM sends s WHERE s.id = transmissions.send_id;
CREATE INDEX transmissions_to_page ON transmissions (to_office, sent_at, id);
DROP INDEX transmissions_to;
CREATE INDEX sends_from_page ON sends (from_office, sent_at, id);
DROP INDEX sends_from;
CREATE INDEX sessions_created ON sessions (created_at);
CREATE INDEX rate_limits_window ON rate_limits (window_start)
";

/// Version 4 (issue #13, pushed arrivals): each office's arrival cursor, counted up in the
/// transaction of every send to it (`notify`). Offices without a row have cursor 0.
const V4: &str = r"
CREATE TABLE office_arrivals (
  office TEXT PRIMARY KEY,
  seq BIGINT NOT NULL
)
";

/// Version 5 (issue #13, blobs): file bytes move to the blob store (`crate::blob`). The
/// `blobs` rows (written before their objects), upload sessions, and per-row `in_store`
/// marks; the bytes of older rows are moved by `blob::move_legacy_bytes` at start.
const V5: &str = r"
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  touched_at BIGINT NOT NULL
);
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  office TEXT NOT NULL,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  received BIGINT NOT NULL DEFAULT 0,
  parts TEXT NOT NULL DEFAULT '',
  complete BIGINT NOT NULL DEFAULT 0,
  csv_version TEXT,
  created_at BIGINT NOT NULL
);
ALTER TABLE files ADD COLUMN in_store BIGINT NOT NULL DEFAULT 0;
ALTER TABLE draft_files ADD COLUMN in_store BIGINT NOT NULL DEFAULT 0;
ALTER TABLE draft_files ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE draft_files SET size = LENGTH(data);
CREATE INDEX blobs_touched ON blobs (touched_at);
CREATE INDEX uploads_office ON uploads (office, created_at);
CREATE INDEX uploads_created ON uploads (created_at);
CREATE INDEX uploads_sha ON uploads (sha256);
CREATE INDEX files_sha ON files (sha256);
CREATE INDEX draft_files_sha ON draft_files (sha256);
CREATE INDEX files_legacy ON files (id) WHERE in_store = 0;
CREATE INDEX draft_files_legacy ON draft_files (office, draft_id, seq) WHERE in_store = 0
";

/// Version 6: an acknowledgement forgets its file's download nonces by `file_id`; without
/// an index that was a scan of every outstanding nonce per acknowledgement.
const V6: &str = r"
CREATE INDEX download_nonces_file ON download_nonces (file_id)
";

/// Version 7 (issue #13, list pages): each transmission carries its send's sender and
/// message (as it carries its time since version 3), so that a page of 受信一覧 reads one
/// range of `transmissions_to_page` and its files, and no `sends` row per transmission (on
/// PostgreSQL that look-up was half of a page's execution time; docs/performance.md).
/// Existing rows are filled from their sends in the same upgrade (PostgreSQL: ≈ 1 minute
/// per million transmissions measured on the 2-vCPU VM; docs/deploy.md, upgrades).
const V7: &str = r"
ALTER TABLE transmissions ADD COLUMN from_office TEXT NOT NULL DEFAULT '';
ALTER TABLE transmissions ADD COLUMN message TEXT NOT NULL DEFAULT '';
UPDATE transmissions SET from_office = s.from_office, message = s.message FROM sends s WHERE s.id = transmissions.send_id
";

/// The migrations after version 1, in order: (version, statements).
const MIGRATIONS: &[(i64, &str)] = &[(2, V2), (3, V3), (4, V4), (5, V5), (6, V6), (7, V7)];

/// The schema version this code writes and understands.
pub const CURRENT: i64 = 7;

fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(';').map(str::trim).filter(|s| !s.is_empty())
}

impl Db {
    /// Bring the schema to [`CURRENT`]: create version 1 where nothing exists, then apply
    /// each later version once.
    ///
    /// The whole upgrade is one transaction holding the database's migration lock — on
    /// SQLite the write lock, taken at once (`BEGIN IMMEDIATE`), on PostgreSQL the
    /// transaction-scoped advisory lock 727274 — so relays (or an operator's command)
    /// starting together migrate once: the others wait, then find the schema current. DDL
    /// is transactional on both: a failed upgrade leaves the previous version intact.
    pub(crate) async fn migrate(&self, sqlite: bool) -> Result<(), RelayError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = if sqlite {
            sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?
        } else {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query("SELECT pg_advisory_xact_lock(727274)")
                .execute(&mut *tx)
                .await?;
            tx
        };
        // `schema_version` is created right after version 1: where it exists, version 1 is
        // complete, and its `IF NOT EXISTS` statements must not run again (they would
        // bring back what later versions dropped, e.g. `transmissions_to`).
        let exists = if sqlite {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        } else {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_version'"
        };
        let versioned: i64 = sqlx::query(exists).fetch_one(&mut *tx).await?.try_get(0)?;
        if versioned == 0 {
            let bytes = if sqlite { "BLOB" } else { "BYTEA" };
            for stmt in statements(&V1.replace("{BYTES}", bytes)) {
                sqlx::query(stmt).execute(&mut *tx).await?;
            }
            sqlx::query("CREATE TABLE schema_version (version BIGINT NOT NULL)")
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query("SELECT MAX(version) FROM schema_version")
            .fetch_one(&mut *tx)
            .await?;
        let version: i64 = row.try_get::<Option<i64>, _>(0)?.unwrap_or(1);
        if version > CURRENT {
            return Err(RelayError::Config(format!(
                "データベースの版（{version}）がこの中継サーバ（{CURRENT}）より新しいため使えません。新しい版の中継サーバで起動してください。"
            )));
        }
        for (v, sql) in MIGRATIONS {
            if *v <= version {
                continue;
            }
            for stmt in statements(sql) {
                sqlx::query(stmt).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM schema_version")
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(*v)
                .execute(&mut *tx)
                .await?;
            tracing::info!(version = *v, "database schema migrated");
        }
        tx.commit().await?;
        Ok(())
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> Result<i64, RelayError> {
        let row = sqlx::query("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(1))
    }
}
