//! HTTP handlers of `/api/v1` (see `docs/protocol.md`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use careplan_core::wire::{
    AckRequest, AckResponse, ChangePasswordRequest, DraftFileInfo, DraftInfo, DraftUpload,
    ErrorBody, ErrorDetails, ErrorEnvelope, FileProblem, LoginRequest, Notice, OfficeProblem,
    ReceivedFile, ReceivedTransmission, SendRequest, SendResponse, SentDestination, SentFile,
    SentTransmission, SessionResponse, Status, TokenResponse,
};
use careplan_core::{Category, OfficeNumber, OfficeUserId, PersonalUserId, parse_name};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth;
use crate::config::Config;
use crate::db::{Db, Session, UserTable};
use crate::mailbox::{DraftRow, NewFile, NewSend};

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub db: Db,
    /// The configuration.
    pub cfg: Arc<Config>,
}

/// The verified peer of a TLS connection: the office in its client certificate.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// 事業所番号 from the certificate's CN.
    pub office: OfficeNumber,
    /// The client's IP address (behind a trusted load balancer: the one in its PROXY header).
    pub addr: std::net::IpAddr,
}

/// An error answer: status + `{"error": {code, message, details}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                details: ErrorDetails::default(),
            },
        }
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "E_INTERNAL",
            "中継サーバで問題が起きました。しばらくしてからもう一度お試しください。",
        )
    }
    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "E_SESSION",
            "ログインの有効期限が切れました。もう一度ログインしてください。",
        )
    }
}

impl From<crate::RelayError> for ApiError {
    fn from(e: crate::RelayError) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorEnvelope { error: self.body })).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ts(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The router of the API (the per-connection [`Peer`] is added by the server).
pub fn router(state: AppState) -> Router {
    let limit = state.cfg.limits.max_request_bytes;
    Router::new()
        .route("/api/v1/login/personal", post(login_personal))
        .route("/api/v1/login/office", post(login_office))
        .route("/api/v1/password", post(change_password))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/status", get(status))
        .route("/api/v1/notices", get(notices))
        .route("/api/v1/received", get(received))
        .route("/api/v1/sent", get(sent))
        .route("/api/v1/send", post(send))
        .route("/api/v1/files/{id}", get(download))
        .route("/api/v1/files/{id}/ack", post(ack))
        .route("/api/v1/drafts", get(drafts))
        .route(
            "/api/v1/drafts/{id}",
            axum::routing::put(put_draft).delete(delete_draft),
        )
        .route("/api/v1/drafts/{id}/files/{name}", get(draft_file))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The session behind the bearer token: of `kind`, bound to the peer's office, not expired.
async fn token_session(
    st: &AppState,
    headers: &HeaderMap,
    peer: &Peer,
    kinds: &[&str],
) -> ApiResult<Session> {
    let token = bearer(headers).ok_or_else(ApiError::unauthorized)?;
    let th = auth::token_hash(token);
    let s = st
        .db
        .session(&th)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let t = now().unix_timestamp();
    let sec = &st.cfg.security;
    let expired = if s.kind == "pending" {
        t - s.created_at > sec.pending_minutes * 60
    } else {
        t - s.last_seen > sec.session_idle_minutes * 60
            || t - s.created_at > sec.session_absolute_hours * 3600
    };
    if expired {
        st.db.delete_session(&th).await?;
        return Err(ApiError::unauthorized());
    }
    if !kinds.contains(&s.kind.as_str()) || s.office != peer.office.as_str() {
        return Err(ApiError::unauthorized());
    }
    // Idle time is tracked to the minute: one write per session and minute, not per request.
    if t - s.last_seen >= 60 {
        st.db.touch_session(&th, t).await?;
    }
    Ok(s)
}

async fn session(st: &AppState, headers: &HeaderMap, peer: &Peer) -> ApiResult<Session> {
    token_session(st, headers, peer, &["session"]).await
}

fn login_failed() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "E_LOGIN_FAILED",
        "IDまたはパスワードが違います。入力し直してください。",
    )
}

fn locked(until: i64) -> ApiError {
    let mins = ((until - now().unix_timestamp()) / 60).max(1);
    ApiError::new(
        StatusCode::LOCKED,
        "E_LOCKED",
        format!(
            "ログインに続けて失敗したため、アカウントをロックしています。約{mins}分後にもう一度お試しください。"
        ),
    )
}

/// A real argon2id hash to verify against when the user does not exist, so that an unknown
/// user costs the same time as a wrong password (no user enumeration by timing).
fn dummy_hash(st: &AppState) -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| auth::hash_password(&st.cfg.security, "no-such-user-0"))
        .clone()
}

async fn verify(hash: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
        .await
        .unwrap_or(false)
}

/// Check a password against a user row with lockout; Ok(()) when it matches.
async fn check_with_lockout(
    st: &AppState,
    table: UserTable,
    user: &str,
    hash: String,
    locked_until: i64,
    password: &str,
) -> ApiResult<()> {
    let t = now().unix_timestamp();
    if locked_until > t {
        return Err(locked(locked_until));
    }
    if verify(hash, password.to_owned()).await {
        st.db.login_ok(table, user).await?;
        return Ok(());
    }
    let sec = &st.cfg.security;
    let now_locked = st
        .db
        .login_failed(
            table,
            user,
            t,
            sec.lockout_failures,
            sec.lockout_minutes * 60,
        )
        .await?;
    tracing::info!(user, "login failed");
    if now_locked {
        Err(locked(t + sec.lockout_minutes * 60))
    } else {
        Err(login_failed())
    }
}

async fn login_personal(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let user = PersonalUserId::parse(&req.user_id)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message))?;
    let Some((hash, _, locked_until)) = st.db.personal_user(user.as_str()).await? else {
        // Same work and answer as a wrong password: no user enumeration.
        let _ = verify(dummy_hash(&st), req.password).await;
        return Err(login_failed());
    };
    check_with_lockout(
        &st,
        UserTable::Personal,
        user.as_str(),
        hash,
        locked_until,
        &req.password,
    )
    .await?;
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
        })
        .await?;
    Ok(Json(TokenResponse { token }))
}

fn password_expires(st: &AppState, set_at: i64) -> i64 {
    set_at + st.cfg.security.password_max_age_days * 86_400
}

async fn login_office(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<SessionResponse>> {
    let pending = token_session(&st, &headers, &peer, &["pending"]).await?;
    let user = OfficeUserId::parse(&req.user_id)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message))?;
    let Some(u) = st.db.office_user(user.as_str()).await? else {
        let _ = verify(dummy_hash(&st), req.password).await;
        return Err(login_failed());
    };
    check_with_lockout(
        &st,
        UserTable::Office,
        user.as_str(),
        u.hash.clone(),
        u.locked_until,
        &req.password,
    )
    .await?;
    if u.office != peer.office.as_str() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "E_OFFICE_MISMATCH",
            format!(
                "この事業所ユーザIDは、この端末の証明書の事業所（{}）のものではありません。証明書と事業所ユーザIDの組み合わせを確認してください。",
                peer.office
            ),
        ));
    }
    let t = now().unix_timestamp();
    if u.temporary {
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
        })
        .await?;
    let (name, licence) = st
        .db
        .office(peer.office.as_str())
        .await?
        .unwrap_or_default();
    tracing::info!(office = %peer.office, "login");
    Ok(Json(SessionResponse {
        token,
        office: peer.office.to_string(),
        office_name: name,
        licence_expires_at: licence.map(ts),
        password_expires_at: Some(ts(password_expires(&st, u.password_set_at))),
    }))
}

async fn change_password(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Json(req): Json<ChangePasswordRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    token_session(&st, &headers, &peer, &["pending", "session"]).await?;
    let user = OfficeUserId::parse(&req.user_id)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message))?;
    let Some(u) = st.db.office_user(user.as_str()).await? else {
        return Err(login_failed());
    };
    if u.office != peer.office.as_str() {
        return Err(login_failed());
    }
    check_with_lockout(
        &st,
        UserTable::Office,
        user.as_str(),
        u.hash,
        u.locked_until,
        &req.old_password,
    )
    .await?;
    careplan_core::check_password(&req.new_password)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "E_PASSWORD_POLICY", e.message))?;
    if req.new_password == req.old_password {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "E_PASSWORD_POLICY",
            "新しいパスワードが今のパスワードと同じです。別のパスワードを入力してください。",
        ));
    }
    let sec = st.cfg.security.clone();
    let new = req.new_password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&sec, &new))
        .await
        .map_err(ApiError::internal)?;
    st.db
        .set_office_password(user.as_str(), &hash, now().unix_timestamp(), false)
        .await?;
    tracing::info!(office = %peer.office, "password changed");
    Ok(Json(serde_json::json!({})))
}

async fn logout(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let s = token_session(&st, &headers, &peer, &["pending", "session"]).await?;
    st.db.delete_session(&s.token_hash).await?;
    Ok(Json(serde_json::json!({})))
}

async fn status(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> ApiResult<Json<Status>> {
    session(&st, &headers, &peer).await?;
    let (name, licence) = st
        .db
        .office(peer.office.as_str())
        .await?
        .unwrap_or_default();
    Ok(Json(Status {
        message: "ただいまシステムは正常稼働中です。".into(),
        office: peer.office.to_string(),
        office_name: name,
        licence_expires_at: licence.map(ts),
    }))
}

async fn notices(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<Notice>>> {
    session(&st, &headers, &peer).await?;
    let list = st
        .db
        .notices()
        .await?
        .into_iter()
        .map(|(id, posted, title, body)| Notice {
            id,
            posted_at: ts(posted),
            title,
            body,
        })
        .collect();
    Ok(Json(list))
}

/// `?limit=&offset=` of the lists.
#[derive(Debug, Deserialize)]
pub struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

impl Page {
    fn get(&self) -> (i64, i64) {
        (
            self.limit.unwrap_or(10_000).clamp(1, 10_000),
            self.offset.unwrap_or(0).max(0),
        )
    }
}

fn category(label: &str) -> Category {
    Category::from_label(label).unwrap_or(Category::Attachment)
}

async fn received(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<ReceivedTransmission>>> {
    session(&st, &headers, &peer).await?;
    let (limit, offset) = page.get();
    let rows = st.db.received(peer.office.as_str(), limit, offset).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(t, files)| ReceivedTransmission {
                id: t.id,
                received_at: ts(t.sent_at),
                sender_office: t.from_office,
                sender_name: t.from_name,
                message: t.message,
                files: files
                    .into_iter()
                    .map(|f| ReceivedFile {
                        id: f.id,
                        name: f.name,
                        kind: f.kind,
                        category: category(&f.category),
                        csv_version: f.csv_version,
                        size: u64::try_from(f.size).unwrap_or(0),
                        sha256: f.sha256,
                        acquired: f.acquired_at.is_some(),
                    })
                    .collect(),
            })
            .collect(),
    ))
}

async fn sent(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<SentTransmission>>> {
    session(&st, &headers, &peer).await?;
    let (limit, offset) = page.get();
    let rows = st.db.sent(peer.office.as_str(), limit, offset).await?;
    let mut out: Vec<SentTransmission> = Vec::new();
    for (t, files) in rows {
        let dest = SentDestination {
            office: t.to_office,
            name: t.to_name,
            files: files
                .into_iter()
                .map(|f| SentFile {
                    id: f.id,
                    name: f.name,
                    category: category(&f.category),
                    acquired: f.acquired_at.is_some(),
                })
                .collect(),
        };
        match out.last_mut() {
            Some(last) if last.id == t.send_id => last.destinations.push(dest),
            _ => out.push(SentTransmission {
                id: t.send_id,
                sent_at: ts(t.sent_at),
                message: t.message,
                destinations: vec![dest],
            }),
        }
    }
    Ok(Json(out))
}

async fn download(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    session(&st, &headers, &peer).await?;
    let Some((name, sha, data)) = st.db.file_for(peer.office.as_str(), &id).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "E_NOT_FOUND",
            "ファイルが見つかりません。受信一覧を更新してください。",
        ));
    };
    let mut resp = data.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&sha) {
        h.insert("x-content-sha256", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{}", pct(&name))) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn ack(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(req): Json<AckRequest>,
) -> ApiResult<Json<AckResponse>> {
    session(&st, &headers, &peer).await?;
    let office = peer.office.as_str();
    let Some(sha) = st.db.file_sha(office, &id).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "E_NOT_FOUND",
            "ファイルが見つかりません。受信一覧を更新してください。",
        ));
    };
    if !sha.eq_ignore_ascii_case(req.sha256.trim()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "E_HASH_MISMATCH",
            "保存したファイルの内容が中継サーバのファイルと一致しません。もう一度受信してください。",
        ));
    }
    let Some((_, at)) = st.db.ack(office, &id, now().unix_timestamp()).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "E_NOT_FOUND",
            "ファイルが見つかりません。",
        ));
    };
    tracing::info!(office, file = %id, "acquired");
    Ok(Json(AckResponse {
        id,
        acquired_at: ts(at),
    }))
}

async fn send(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Json(req): Json<SendRequest>,
) -> ApiResult<Json<SendResponse>> {
    session(&st, &headers, &peer).await?;
    let from = peer.office.to_string();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "E_IDEMPOTENCY_KEY",
                "送信には Idempotency-Key ヘッダ（128文字以内の英数字など）が必要です。",
            )
        })?
        .to_owned();
    if let Some(r) = st.db.receipt_for_key(&from, &key).await? {
        return Ok(Json(SendResponse {
            send_id: r.send_id,
            ids: r.ids,
            offices: r.offices,
            accepted_at: ts(r.sent_at),
            replayed: true,
        }));
    }
    let plan = validate_send(&st, &peer, req).await?;
    let receipt = st.db.insert_send(plan.with_key(&key, &from)).await?;
    let replayed = receipt.send_id != plan.id;
    tracing::info!(office = %from, destinations = receipt.offices.len(), "send accepted");
    Ok(Json(SendResponse {
        send_id: receipt.send_id,
        ids: receipt.ids,
        offices: receipt.offices,
        accepted_at: ts(receipt.sent_at),
        replayed,
    }))
}

struct Plan {
    id: String,
    message: String,
    destinations: Vec<(String, String, Vec<NewFile>)>,
}

impl Plan {
    fn with_key(&self, key: &str, from: &str) -> NewSend {
        NewSend {
            id: self.id.clone(),
            key: key.to_owned(),
            from: from.to_owned(),
            message: self.message.clone(),
            sent_at: now().unix_timestamp(),
            destinations: self.destinations.clone(),
        }
    }
}

fn refused(
    code: &str,
    message: String,
    files: Vec<FileProblem>,
    offices: Vec<OfficeProblem>,
) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    e.body.details = ErrorDetails { files, offices };
    e
}

async fn validate_send(st: &AppState, peer: &Peer, req: SendRequest) -> ApiResult<Plan> {
    let lim = &st.cfg.limits;
    let chars = req.message.chars().count();
    if chars > lim.max_message_chars {
        return Err(refused(
            "E_MESSAGE_TOO_LONG",
            format!(
                "メッセージが{chars}文字あります。{}文字以内にしてください。",
                lim.max_message_chars
            ),
            vec![],
            vec![],
        ));
    }
    if req.destinations.is_empty() {
        return Err(refused(
            "E_NO_DESTINATION",
            "送信先がありません。".into(),
            vec![],
            vec![],
        ));
    }
    if req.destinations.len() > lim.max_destinations {
        return Err(refused(
            "E_TOO_MANY_DESTINATIONS",
            format!(
                "送信先が{}事業所あります。一度に送信できるのは{}事業所までです。分けて送信してください。",
                req.destinations.len(),
                lim.max_destinations
            ),
            vec![],
            vec![],
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut files_bad = Vec::new();
    let mut offices_bad = Vec::new();
    let mut seen_offices = std::collections::HashSet::new();
    let mut out = Vec::new();
    for d in req.destinations {
        let office = match OfficeNumber::parse(&d.office) {
            Ok(o) => o,
            Err(e) => {
                offices_bad.push(OfficeProblem {
                    office: d.office.clone(),
                    code: "E_BAD_OFFICE".into(),
                    message: e.message,
                });
                continue;
            }
        };
        if !seen_offices.insert(office) {
            offices_bad.push(OfficeProblem {
                office: office.to_string(),
                code: "E_DUPLICATE_DESTINATION".into(),
                message: format!("送信先「{office}」が重複しています。"),
            });
            continue;
        }
        if office == peer.office {
            offices_bad.push(OfficeProblem {
                office: office.to_string(),
                code: "E_SEND_TO_SELF".into(),
                message: "自事業所には送信できません。".into(),
            });
            continue;
        }
        if st.db.office(office.as_str()).await?.is_none() {
            offices_bad.push(OfficeProblem {
                office: office.to_string(),
                code: "E_UNKNOWN_DESTINATION".into(),
                message: format!("事業所番号「{office}」はこの中継サーバに登録されていません。送信先の事業所番号を確認してください。"),
            });
            continue;
        }
        if d.files.is_empty() || d.files.len() > lim.max_files_per_destination {
            offices_bad.push(OfficeProblem {
                office: office.to_string(),
                code: "E_FILE_COUNT".into(),
                message: format!(
                    "1つの送信先に送れるファイルは1〜{}個です（{}個あります）。",
                    lim.max_files_per_destination,
                    d.files.len()
                ),
            });
            continue;
        }
        let mut names = std::collections::HashSet::new();
        let mut files = Vec::new();
        for f in d.files {
            let mut bad = |code: &str, message: String| {
                files_bad.push(FileProblem {
                    file: f.name.clone(),
                    code: code.into(),
                    message,
                })
            };
            if let Err(e) = careplan_core::name::check_safe_file_name(&f.name) {
                bad("E_NAME_UNSAFE", e.message);
                continue;
            }
            if !names.insert(f.name.clone()) {
                bad(
                    "E_DUPLICATE_FILE",
                    "同じ名前のファイルが2回含まれています。".into(),
                );
                continue;
            }
            let Ok(data) = b64.decode(f.data.as_bytes()) else {
                bad(
                    "E_BAD_CONTENT",
                    "ファイルの内容を読み取れません（base64）。".into(),
                );
                continue;
            };
            if data.is_empty() {
                bad(
                    "E_EMPTY_FILE",
                    "ファイルが空です（0バイト）。介護ソフトから出力し直してください。".into(),
                );
                continue;
            }
            if data.len() as u64 > lim.max_file_bytes {
                bad(
                    "E_FILE_TOO_LARGE",
                    format!(
                        "ファイルが大きすぎます（{}バイト）。1ファイル{}MiBまでです。",
                        data.len(),
                        lim.max_file_bytes / (1024 * 1024)
                    ),
                );
                continue;
            }
            let name = parse_name(&f.name);
            if let Some(kind) = name.kind {
                if let Some(e) = name.findings.iter().find(|x| x.is_error()) {
                    bad("E_NAME_ERROR", e.message.clone());
                    continue;
                }
                if name.from_office != Some(peer.office) {
                    bad(
                        "E_NOT_OUR_OFFICE",
                        format!(
                            "ファイル名の送信元事業所番号がログイン中の事業所「{}」と異なります。",
                            peer.office
                        ),
                    );
                    continue;
                }
                if name.to_office != Some(office) {
                    bad(
                        "E_WRONG_DESTINATION",
                        format!("ファイル名の送信先事業所番号が送信先「{office}」と異なります。"),
                    );
                    continue;
                }
                let csv_version = kind
                    .is_csv()
                    .then(|| careplan_core::csv::read_csv_version(&data))
                    .flatten();
                files.push(NewFile {
                    id: auth::new_id(),
                    name: f.name,
                    kind: Some(kind.prefix().to_owned()),
                    category: name.category.label().to_owned(),
                    csv_version,
                    sha256: auth::sha256_hex(&data),
                    data,
                });
            } else {
                files.push(NewFile {
                    id: auth::new_id(),
                    name: f.name,
                    kind: None,
                    category: Category::Attachment.label().to_owned(),
                    csv_version: None,
                    sha256: auth::sha256_hex(&data),
                    data,
                });
            }
        }
        out.push((auth::new_id(), office.to_string(), files));
    }
    if !files_bad.is_empty() || !offices_bad.is_empty() {
        let code = if files_bad.is_empty()
            && offices_bad
                .iter()
                .all(|o| o.code == "E_UNKNOWN_DESTINATION")
        {
            "E_UNKNOWN_DESTINATION"
        } else {
            "E_SEND_REFUSED"
        };
        let mut parts = Vec::new();
        for o in &offices_bad {
            parts.push(format!("{}: {}", o.office, o.message));
        }
        for f in &files_bad {
            parts.push(format!("{}: {}", f.file, f.message));
        }
        return Err(refused(
            code,
            format!(
                "送信できません（{}件の問題）。{}",
                parts.len(),
                parts.join(" / ")
            ),
            files_bad,
            offices_bad,
        ));
    }
    Ok(Plan {
        id: auth::new_id(),
        message: req.message,
        destinations: out,
    })
}

async fn drafts(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<DraftInfo>>> {
    session(&st, &headers, &peer).await?;
    let rows = st.db.drafts(peer.office.as_str()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|d| DraftInfo {
                id: d.id,
                saved_at: ts(d.saved_at),
                terminal: d.terminal,
                message: d.message,
                to_office: d.to_office,
                files: d
                    .files
                    .into_iter()
                    .map(|(name, size, sha256)| DraftFileInfo {
                        name,
                        size: u64::try_from(size).unwrap_or(0),
                        sha256,
                    })
                    .collect(),
            })
            .collect(),
    ))
}

fn check_draft_id(id: &str) -> ApiResult<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "E_BAD_ID",
            "下書きのIDが正しくありません。",
        ));
    }
    Ok(())
}

async fn put_draft(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(req): Json<DraftUpload>,
) -> ApiResult<Json<serde_json::Value>> {
    session(&st, &headers, &peer).await?;
    check_draft_id(&id)?;
    let lim = &st.cfg.limits;
    if req.message.chars().count() > lim.max_message_chars
        || req.files.len() > lim.max_files_per_destination
    {
        return Err(refused(
            "E_DRAFT_TOO_LARGE",
            "下書きのメッセージまたはファイル数が上限を超えています。".into(),
            vec![],
            vec![],
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut meta = Vec::new();
    let mut data = Vec::new();
    for f in req.files {
        careplan_core::name::check_safe_file_name(&f.name)
            .map_err(|e| refused("E_NAME_UNSAFE", e.message, vec![], vec![]))?;
        let bytes = b64.decode(f.data.as_bytes()).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "E_BAD_CONTENT",
                "ファイルの内容を読み取れません（base64）。",
            )
        })?;
        if bytes.len() as u64 > lim.max_file_bytes {
            return Err(refused(
                "E_FILE_TOO_LARGE",
                format!("{}: ファイルが大きすぎます。", f.name),
                vec![],
                vec![],
            ));
        }
        meta.push((
            f.name,
            i64::try_from(bytes.len()).unwrap_or(0),
            auth::sha256_hex(&bytes),
        ));
        data.push(bytes);
    }
    let row = DraftRow {
        id,
        saved_at: req.saved_at.unix_timestamp(),
        terminal: req.terminal.chars().take(64).collect(),
        message: req.message,
        to_office: req.to_office,
        files: meta,
    };
    if !st.db.put_draft(peer.office.as_str(), &row, &data).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "E_DRAFT_CONFLICT",
            "別の端末でこの下書きがより新しく保存されています。下書き一覧を更新してください。",
        ));
    }
    Ok(Json(serde_json::json!({})))
}

async fn delete_draft(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    session(&st, &headers, &peer).await?;
    check_draft_id(&id)?;
    st.db.delete_draft(peer.office.as_str(), &id).await?;
    Ok(Json(serde_json::json!({})))
}

async fn draft_file(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    session(&st, &headers, &peer).await?;
    check_draft_id(&id)?;
    match st.db.draft_file(peer.office.as_str(), &id, &name).await? {
        Some(data) => Ok(data.into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "E_NOT_FOUND",
            "下書きのファイルが見つかりません。",
        )),
    }
}
