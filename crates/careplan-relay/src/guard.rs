//! What bounds a stranger or a stolen credential, kept in the shared store so that several
//! relay processes agree: login attempts (counted before the password is checked, for known
//! and unknown IDs alike), rate-limit windows, revoked certificates, disabled offices and
//! users, and ending sessions.

use sqlx::Row;

use crate::RelayError;
use crate::db::{Db, UserTable};

/// The outcome of counting a login attempt before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The password may be checked; this is the `n`th attempt since the last success.
    Allowed(i64),
    /// Locked until this Unix time: do not check the password.
    Locked(i64),
}

/// The state a request's session is checked against (one query per request).
#[derive(Debug, Clone)]
pub struct SessionState {
    /// The session.
    pub session: crate::db::Session,
    /// The office is disabled (or no longer registered).
    pub office_disabled: bool,
    /// Licence expiry of the office.
    pub licence_expires: Option<i64>,
    /// The 事業所ユーザ or 個人ユーザ is disabled (or gone).
    pub user_disabled: bool,
    /// The certificate presented now is on the deny-list.
    pub cert_revoked: bool,
}

impl Db {
    /// Count a login attempt for `(scope, user)` before its password is checked. The count
    /// and the lock are changed in one statement, so concurrent attempts are each counted:
    /// of 40 sent at once, only `max` are ever checked.
    pub async fn login_attempt(
        &self,
        scope: &str,
        user: &str,
        now: i64,
        max: i64,
        lock_secs: i64,
    ) -> Result<Attempt, RelayError> {
        let row = sqlx::query(
            "INSERT INTO login_guard (scope, user_id, failures, locked_until, updated_at) VALUES ($1, $2, 1, 0, $3) \
             ON CONFLICT (scope, user_id) DO UPDATE SET \
               failures = CASE WHEN login_guard.locked_until > $3 THEN login_guard.failures \
                               WHEN login_guard.locked_until > 0 THEN 1 \
                               ELSE login_guard.failures + 1 END, \
               locked_until = CASE WHEN login_guard.locked_until > $3 THEN login_guard.locked_until ELSE 0 END, \
               updated_at = $3 \
             RETURNING failures, locked_until",
        )
        .bind(scope)
        .bind(user)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let failures: i64 = row.try_get(0)?;
        let locked_until: i64 = row.try_get(1)?;
        if locked_until > now {
            return Ok(Attempt::Locked(locked_until));
        }
        if failures > max {
            let until = now + lock_secs;
            self.lock(scope, user, until).await?;
            return Ok(Attempt::Locked(until));
        }
        Ok(Attempt::Allowed(failures))
    }

    async fn lock(&self, scope: &str, user: &str, until: i64) -> Result<(), RelayError> {
        sqlx::query(
            "UPDATE login_guard SET locked_until = $1 WHERE scope = $2 AND user_id = $3 AND locked_until < $1",
        )
        .bind(until)
        .bind(scope)
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The password of attempt `n` was wrong: lock when it was the last one allowed.
    /// Returns whether the account is now locked.
    pub async fn login_wrong(
        &self,
        scope: &str,
        user: &str,
        n: i64,
        now: i64,
        max: i64,
        lock_secs: i64,
    ) -> Result<bool, RelayError> {
        if n >= max {
            self.lock(scope, user, now + lock_secs).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The password was right: forget the attempts.
    pub async fn login_right(&self, scope: &str, user: &str) -> Result<(), RelayError> {
        sqlx::query("DELETE FROM login_guard WHERE scope = $1 AND user_id = $2")
            .bind(scope)
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Clear every lock of a user (operator reset).
    pub async fn unlock_user(&self, user: &str) -> Result<(), RelayError> {
        sqlx::query("DELETE FROM login_guard WHERE user_id = $1")
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Count one hit of `key` in a fixed window of `window` seconds; `Some(seconds to wait)`
    /// when this hit is over `max`.
    pub async fn rate_hit(
        &self,
        key: &str,
        now: i64,
        window: i64,
        max: i64,
    ) -> Result<Option<i64>, RelayError> {
        self.rate_hit_keeping(key, now, window, max, Vec::new())
            .await
    }

    /// [`Db::rate_hit`], and in the same commit, when the hit is within `max`, the rows of
    /// `blobs` (SHA-256, size) written before their objects are stored.
    pub async fn rate_hit_keeping(
        &self,
        key: &str,
        now: i64,
        window: i64,
        max: i64,
        blobs: Vec<(String, u64)>,
    ) -> Result<Option<i64>, RelayError> {
        // In the group commit (`group`): on SQLite one fsync for concurrent requests.
        let w = crate::group::Write::RateHit {
            key: key.to_owned(),
            now,
            window,
            max,
            blobs,
        };
        match self.write(w).await? {
            crate::group::Done::Rate(r) => Ok(r),
            _ => Err(crate::group::unexpected()),
        }
    }

    /// Put a certificate (SHA-256 of its DER, hex) on the deny-list and end every session
    /// opened with it. Returns the number of sessions ended.
    pub async fn revoke_cert(
        &self,
        fingerprint: &str,
        now: i64,
        reason: &str,
    ) -> Result<u64, RelayError> {
        let fp = fingerprint.to_ascii_lowercase();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO revoked_certs (fingerprint, revoked_at, reason) VALUES ($1, $2, $3) \
             ON CONFLICT (fingerprint) DO UPDATE SET revoked_at = excluded.revoked_at, reason = excluded.reason",
        )
        .bind(&fp)
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM sessions WHERE cert_fp = $1")
            .bind(&fp)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Whether a certificate is on the deny-list.
    pub async fn is_revoked(&self, fingerprint: &str) -> Result<bool, RelayError> {
        Ok(
            sqlx::query("SELECT 1 FROM revoked_certs WHERE fingerprint = $1")
                .bind(fingerprint)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// The deny-list: (fingerprint, revoked_at, reason).
    pub async fn revoked(&self) -> Result<Vec<(String, i64, String)>, RelayError> {
        let rows = sqlx::query(
            "SELECT fingerprint, revoked_at, reason FROM revoked_certs ORDER BY revoked_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Disable (or enable again) an office; disabling ends its sessions. False when the
    /// office is not registered.
    pub async fn set_office_disabled(
        &self,
        number: &str,
        disabled: bool,
    ) -> Result<bool, RelayError> {
        let found = sqlx::query("UPDATE offices SET disabled = $1 WHERE number = $2")
            .bind(i64::from(disabled))
            .bind(number)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0;
        if found && disabled {
            self.end_sessions_of_office(number).await?;
        }
        Ok(found)
    }

    /// Disable (or enable again) a user; disabling ends its sessions. False when there is
    /// no such user.
    pub async fn set_user_disabled(
        &self,
        table: UserTable,
        user: &str,
        disabled: bool,
    ) -> Result<bool, RelayError> {
        let found = sqlx::query(&format!(
            "UPDATE {} SET disabled = $1 WHERE user_id = $2",
            table.name()
        ))
        .bind(i64::from(disabled))
        .bind(user)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0;
        if found && disabled {
            self.end_sessions_of_user(table, user, None).await?;
        }
        Ok(found)
    }

    /// End every session (and pending login) of an office.
    pub async fn end_sessions_of_office(&self, office: &str) -> Result<u64, RelayError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE office = $1")
            .bind(office)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// End every session of a user except the one whose token hash is `keep`.
    pub async fn end_sessions_of_user(
        &self,
        table: UserTable,
        user: &str,
        keep: Option<&str>,
    ) -> Result<u64, RelayError> {
        let col = match table {
            UserTable::Personal => "personal_user",
            UserTable::Office => "office_user",
        };
        Ok(sqlx::query(&format!(
            "DELETE FROM sessions WHERE {col} = $1 AND token_hash <> $2"
        ))
        .bind(user)
        .bind(keep.unwrap_or(""))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// A session with everything a request is checked against, in one query.
    pub async fn session_state(
        &self,
        token_hash: &str,
        cert_fp: &str,
    ) -> Result<Option<SessionState>, RelayError> {
        use crate::exec::Arg;
        const SQL: &str = "SELECT s.token_hash, s.kind, s.personal_user, s.office_user, s.office, s.created_at, s.last_seen, s.cert_fp, \
               COALESCE(o.disabled, 1), o.licence_expires, \
               CASE WHEN s.office_user IS NULL THEN 0 ELSE COALESCE(ou.disabled, 1) END, \
               COALESCE(pu.disabled, 1), \
               (SELECT COUNT(*) FROM revoked_certs r WHERE r.fingerprint = $2) \
             FROM sessions s \
             LEFT JOIN offices o ON o.number = s.office \
             LEFT JOIN office_users ou ON ou.user_id = s.office_user \
             LEFT JOIN personal_users pu ON pu.user_id = s.personal_user \
             WHERE s.token_hash = $1";
        // Every request asks this: on SQLite it is read on the request's own thread.
        let row = self
            .read_row(SQL, &[Arg::Text(token_hash), Arg::Text(cert_fp)])
            .await?;
        let Some(r) = row else { return Ok(None) };
        let [
            token_hash,
            kind,
            personal_user,
            office_user,
            office,
            created_at,
            last_seen,
            fp,
            office_disabled,
            licence,
            ou_disabled,
            pu_disabled,
            revoked,
        ] = crate::exec::columns(&r)?;
        Ok(Some(SessionState {
            session: crate::db::Session {
                token_hash: token_hash.text()?,
                kind: kind.text()?,
                personal_user: personal_user.text()?,
                office_user: office_user.opt_text()?,
                office: office.text()?,
                created_at: created_at.int()?,
                last_seen: last_seen.int()?,
                cert_fp: fp.text()?,
            },
            office_disabled: office_disabled.int()? != 0,
            licence_expires: licence.opt_int()?,
            user_disabled: ou_disabled.int()? != 0 || pu_disabled.int()? != 0,
            cert_revoked: revoked.int()? != 0,
        }))
    }

    /// Housekeeping that keeps the small tables small: expired sessions, old login
    /// counters, rate windows and download nonces. Returns the rows removed.
    pub async fn sweep(
        &self,
        now: i64,
        session_absolute_secs: i64,
        keep_secs: i64,
    ) -> Result<u64, RelayError> {
        let mut n = 0;
        n += sqlx::query("DELETE FROM sessions WHERE created_at < $1")
            .bind(now - session_absolute_secs)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM login_guard WHERE updated_at < $1 AND locked_until < $2")
            .bind(now - keep_secs)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(now - keep_secs)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM download_nonces WHERE created_at < $1")
            .bind(now - keep_secs)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n)
    }
}
