//! The two login steps, password change and logout.
//!
//! Every password check goes the same way, whether the ID exists, belongs to another
//! office or does not exist at all: the certificate's rate window is counted, the attempt
//! is counted for `(scope, ID)` before the password is checked (so concurrent guesses are
//! each counted and at most `lockout_failures` are ever checked), one argon2 verification
//! runs (against a dummy hash when there is no such user here) within the process-wide
//! hashing bound, and the answer is the same code and message. Lock scopes are per
//! certificate office, so one office cannot lock out another office's users.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use careplan_core::wire::{ChangePasswordRequest, LoginRequest, SessionResponse, TokenResponse};
use careplan_core::{OfficeUserId, PersonalUserId};

use super::{
    ApiError, ApiResult, AppState, Authed, Peer, licence_expired, now, office_disabled, ts,
    user_disabled,
};
use crate::auth;
use crate::db::{Session, UserTable};
use crate::guard::Attempt;

fn login_failed() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "E_LOGIN_FAILED",
        "IDまたはパスワードが違います。入力し直してください。パスワードを忘れた場合は、中継サーバの運営者に仮パスワードの発行を依頼してください。",
    )
}

fn locked(until: i64) -> ApiError {
    let mins = ((until - now().unix_timestamp()) / 60).max(1);
    ApiError::new(
        StatusCode::LOCKED,
        "E_LOCKED",
        format!(
            "ログインに続けて失敗したため、アカウントをロックしています。約{mins}分後にもう一度お試しください。パスワードを忘れた場合は、中継サーバの運営者に仮パスワードの発行を依頼してください（発行するとロックも解除されます）。"
        ),
    )
}

/// A malformed ID is answered like a wrong password too: the shape rules are public, but
/// an answer that differs by ID would still be a signal.
fn bad_id() -> ApiError {
    login_failed()
}

/// A real argon2id hash to verify against when the user does not exist (or belongs to
/// another office), so that every attempt costs the same time.
fn dummy_hash(st: &AppState) -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| auth::hash_password(&st.cfg.security, "no-such-user-0"))
        .clone()
}

/// Count a login request of this certificate in its one-minute window.
async fn rate(st: &AppState, peer: &Peer) -> ApiResult<()> {
    let t = now().unix_timestamp();
    if let Some(wait) = st
        .db
        .rate_hit(
            &format!("login:{}", peer.cert_fp),
            t,
            60,
            st.cfg.security.logins_per_minute,
        )
        .await?
    {
        tracing::info!(office = %peer.office, "login rate limit");
        return Err(ApiError::rate_limited(wait, "ログインの操作"));
    }
    Ok(())
}

/// Check `password` for `user` in `scope`: `hash` is the user's, or `None` when there is no
/// such user for this certificate. Ok(()) only when the user exists and the password is
/// right.
async fn check_password(
    st: &AppState,
    scope: &str,
    user: &str,
    hash: Option<String>,
    password: String,
) -> ApiResult<()> {
    let sec = &st.cfg.security;
    let t = now().unix_timestamp();
    let lock_secs = sec.lockout_minutes * 60;
    let n = match st
        .db
        .login_attempt(scope, user, t, sec.lockout_failures, lock_secs)
        .await?
    {
        Attempt::Locked(until) => return Err(locked(until)),
        Attempt::Allowed(n) => n,
    };
    let exists = hash.is_some();
    let phc = hash.unwrap_or_else(|| dummy_hash(st));
    let ok = st.hashes.verify(phc, password).await? && exists;
    if ok {
        st.db.login_right(scope, user).await?;
        return Ok(());
    }
    tracing::info!(scope, "login failed");
    if st
        .db
        .login_wrong(scope, user, n, t, sec.lockout_failures, lock_secs)
        .await?
    {
        Err(locked(t + lock_secs))
    } else {
        Err(login_failed())
    }
}

fn personal_scope(peer: &Peer) -> String {
    format!("p:{}", peer.office)
}

fn office_scope(peer: &Peer) -> String {
    format!("o:{}", peer.office)
}

/// Step 1: 個人ユーザID + password → a short-lived token for step 2.
pub(super) async fn personal(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    rate(&st, &peer).await?;
    let (name, _) = st
        .db
        .office(peer.office.as_str())
        .await?
        .unwrap_or_default();
    if name.is_empty() || st.db.office_disabled(peer.office.as_str()).await? {
        return Err(office_disabled());
    }
    let user = PersonalUserId::parse(&req.user_id).map_err(|_| bad_id())?;
    let row = st.db.personal_user(user.as_str()).await?;
    let (hash, disabled) = match row {
        Some((hash, disabled)) => (Some(hash), disabled),
        None => (None, false),
    };
    check_password(
        &st,
        &personal_scope(&peer),
        user.as_str(),
        hash,
        req.password,
    )
    .await?;
    if disabled {
        return Err(user_disabled());
    }
    let token = auth::new_token();
    let t = now().unix_timestamp();
    st.db
        .insert_session(&Session {
            token_hash: auth::token_hash(&token),
            kind: "pending".into(),
            personal_user: user.to_string(),
            office_user: None,
            office: peer.office.to_string(),
            created_at: t,
            last_seen: t,
            cert_fp: peer.cert_fp.to_string(),
        })
        .await?;
    Ok(Json(TokenResponse { token }))
}

fn password_expires(st: &AppState, set_at: i64) -> i64 {
    set_at + st.cfg.security.password_max_age_days * 86_400
}

fn temporary_expired() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "E_TEMPORARY_EXPIRED",
        "仮パスワードの有効期限が切れています。中継サーバの運営者に仮パスワードの再発行を依頼してください。",
    )
}

/// The office user `user` if it belongs to the certificate's office: a user of another
/// office is treated exactly like one that does not exist.
async fn own_office_user(
    st: &AppState,
    peer: &Peer,
    user: &OfficeUserId,
) -> ApiResult<Option<crate::db::OfficeUser>> {
    Ok(st
        .db
        .office_user(user.as_str())
        .await?
        .filter(|u| u.office == peer.office.as_str()))
}

/// Step 2: 事業所ユーザID + password (with the step-1 token) → a session.
pub(super) async fn office(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Extension(pending): Authed,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<SessionResponse>> {
    if pending.kind != "pending" {
        return Err(ApiError::unauthorized());
    }
    rate(&st, &peer).await?;
    let user = OfficeUserId::parse(&req.user_id).map_err(|_| bad_id())?;
    let u = own_office_user(&st, &peer, &user).await?;
    check_password(
        &st,
        &office_scope(&peer),
        user.as_str(),
        u.as_ref().map(|u| u.hash.clone()),
        req.password,
    )
    .await?;
    let Some(u) = u else {
        return Err(login_failed());
    };
    if u.disabled {
        return Err(user_disabled());
    }
    let t = now().unix_timestamp();
    if u.temporary {
        if t - u.password_set_at > st.cfg.security.temporary_password_hours * 3600 {
            return Err(temporary_expired());
        }
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "E_PASSWORD_CHANGE_REQUIRED",
            "仮パスワードでログインしました。新しいパスワードに変更してください。",
        ));
    }
    if t > password_expires(&st, u.password_set_at) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "E_PASSWORD_EXPIRED",
            "事業所ユーザIDのパスワードの有効期限が切れています。新しいパスワードに変更してください。",
        ));
    }
    let (name, licence) = st
        .db
        .office(peer.office.as_str())
        .await?
        .unwrap_or_default();
    if let Some(until) = licence
        && until < t
    {
        return Err(licence_expired(until));
    }
    st.db.delete_session(&pending.token_hash).await?;
    let token = auth::new_token();
    st.db
        .insert_session(&Session {
            token_hash: auth::token_hash(&token),
            kind: "session".into(),
            personal_user: pending.personal_user,
            office_user: Some(user.to_string()),
            office: peer.office.to_string(),
            created_at: t,
            last_seen: t,
            cert_fp: peer.cert_fp.to_string(),
        })
        .await?;
    tracing::info!(office = %peer.office, "login");
    Ok(Json(SessionResponse {
        token,
        office: peer.office.to_string(),
        office_name: name,
        licence_expires_at: licence.map(ts),
        password_expires_at: Some(ts(password_expires(&st, u.password_set_at))),
    }))
}

/// Change an office user's password (with the old one). Every other session of that user
/// ends: whoever knew the old password is logged out.
pub(super) async fn change_password(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Extension(current): Authed,
    Json(req): Json<ChangePasswordRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    rate(&st, &peer).await?;
    let user = OfficeUserId::parse(&req.user_id).map_err(|_| bad_id())?;
    let u = own_office_user(&st, &peer, &user).await?;
    check_password(
        &st,
        &office_scope(&peer),
        user.as_str(),
        u.as_ref().map(|u| u.hash.clone()),
        req.old_password.clone(),
    )
    .await?;
    let Some(u) = u else {
        return Err(login_failed());
    };
    if u.disabled {
        return Err(user_disabled());
    }
    let t = now().unix_timestamp();
    if u.temporary && t - u.password_set_at > st.cfg.security.temporary_password_hours * 3600 {
        return Err(temporary_expired());
    }
    careplan_core::check_password(&req.new_password)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "E_PASSWORD_POLICY", e.message))?;
    if req.new_password == req.old_password {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "E_PASSWORD_POLICY",
            "新しいパスワードが今のパスワードと同じです。別のパスワードを入力してください。",
        ));
    }
    let hash = st
        .hashes
        .hash(st.cfg.security.clone(), req.new_password)
        .await?;
    st.db
        .set_office_password(user.as_str(), &hash, t, false)
        .await?;
    let ended = st
        .db
        .end_sessions_of_user(UserTable::Office, user.as_str(), Some(&current.token_hash))
        .await?;
    tracing::info!(office = %peer.office, sessions_ended = ended, "password changed");
    Ok(Json(serde_json::json!({})))
}

/// End this session (or pending login).
pub(super) async fn logout(
    State(st): State<AppState>,
    Extension(s): Authed,
) -> ApiResult<Json<serde_json::Value>> {
    st.db.delete_session(&s.token_hash).await?;
    Ok(Json(serde_json::json!({})))
}
