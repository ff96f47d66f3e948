//! HTTP handlers of `/api/v1` (see `docs/protocol.md`), split by concern: `login` (both
//! steps, password change, logout), `uploads` (file bytes as streams, resumable; a small
//! file whole in one request), `mail`
//! (send, download, acknowledge), `lists` (status, notices, received, sent), `push` (the
//! long-poll for arrivals), `drafts`.
//!
//! Every request is checked in this order, before its body is read: the client
//! certificate (TLS, in `server`), the protocol version (header `x-careplan-protocol`,
//! middleware), the deny-list and the office (middleware), the session and everything it
//! depends on (middleware), and only then the handler reads a body under its route's own
//! size limit.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use careplan_core::OfficeNumber;
use careplan_core::safe_name::AttachmentPolicy;
use careplan_core::wire::{
    ErrorBody, ErrorDetails, ErrorEnvelope, FileProblem, OfficeProblem, PROTOCOL_ERROR,
    PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use time::OffsetDateTime;

use crate::auth::{self, HashGate};
use crate::blob::Blobs;
use crate::config::Config;
use crate::db::{Db, Session};

mod drafts;
mod lists;
mod login;
mod mail;
mod push;
mod uploads;

/// Bytes of a small JSON body (login steps, password change, acknowledgement).
pub const SMALL_BODY: usize = 4 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub db: Db,
    /// The configuration.
    pub cfg: Arc<Config>,
    /// The bound on concurrent password hashing.
    pub hashes: Arc<HashGate>,
    /// Which attachments may be sent (`limits.attachment_extensions`).
    pub attachments: Arc<AttachmentPolicy>,
    /// Where file bytes live.
    pub blobs: Arc<Blobs>,
    /// Room (KiB) for the bodies of `POST /api/v1/send/whole` held in memory at once
    /// (`limits.whole_sends_memory_bytes`).
    pub whole_sends: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// State over a store, a configuration (its attachment list is checked by
    /// [`Config::load`]) and the blob store.
    pub fn new(db: Db, cfg: Arc<Config>, blobs: Blobs) -> Self {
        db.arrivals.configure(&cfg.push);
        let hashes = Arc::new(HashGate::new(&cfg.security));
        let attachments = Arc::new(cfg.attachment_policy().unwrap_or_else(|e| {
            tracing::error!(error = %e.message, "attachment_extensions: using the default list");
            AttachmentPolicy::default()
        }));
        let whole_sends = Arc::new(tokio::sync::Semaphore::new(
            (cfg.limits.whole_sends_memory_bytes / 1024).min(tokio::sync::Semaphore::MAX_PERMITS),
        ));
        Self {
            db,
            cfg,
            hashes,
            attachments,
            blobs: Arc::new(blobs),
            whole_sends,
        }
    }
}

/// The verified peer of a TLS connection: the office in its client certificate.
#[derive(Debug, Clone)]
pub struct Peer {
    /// 事業所番号 from the certificate's CN.
    pub office: OfficeNumber,
    /// SHA-256 (hex) of the certificate: what the deny-list and sessions are keyed by.
    pub cert_fp: Arc<str>,
    /// The client's IP address (behind a trusted load balancer: the one in its PROXY header).
    pub addr: std::net::IpAddr,
}

/// An error answer: status + `{"error": {code, message, details}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    /// Boxed: handlers return `Result<_, ApiError>` on every path, and the body with its
    /// details is most of an error's size.
    body: Box<ErrorBody>,
    retry_after: Option<i64>,
    /// The relay's offset of an upload (`Upload-Offset` header of a `409`).
    upload_offset: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                details: ErrorDetails::default(),
            }),
            retry_after: None,
            upload_offset: None,
        }
    }
    /// The same answer with `Retry-After: secs`.
    pub(super) fn retrying(mut self, secs: i64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "E_INTERNAL",
            "中継サーバで問題が起きました。しばらくしてからもう一度お試しください。",
        )
    }
    /// The database is away for a moment: `503 E_UNAVAILABLE` with `Retry-After`. Clients
    /// retry (a send with the same idempotency key is stored once).
    fn unavailable(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "database unavailable: answered 503");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "E_UNAVAILABLE",
            "中継サーバのデータベースに一時的に接続できません。しばらくしてからもう一度お試しください（同じ送信をやり直しても二重には届きません）。",
        )
        .retrying(5)
    }
    /// The relay could not get a database connection in time while the database answered
    /// other requests (every connection busy, or the relay's threads short of CPU):
    /// `503 E_OVERLOADED` with `Retry-After`; clients retry like `E_UNAVAILABLE`.
    fn overloaded() -> Self {
        tracing::warn!("relay busy: no database connection free in time; answered 503");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "E_OVERLOADED",
            "中継サーバが混み合っていて、いまは処理できませんでした。しばらくしてからもう一度お試しください（同じ送信をやり直しても二重には届きません）。",
        )
        .retrying(5)
    }
    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "E_SESSION",
            "ログインの有効期限が切れました。もう一度ログインしてください。",
        )
    }
    fn not_found(message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "E_NOT_FOUND", message)
    }
    fn busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "E_BUSY",
            "中継サーバが混み合っています。1分ほど待ってからもう一度お試しください。",
        )
        .retrying(30)
    }
    fn rate_limited(wait: i64, what: &str) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "E_RATE_LIMITED",
            format!(
                "{what}が短い時間に多すぎます。約{}分後にもう一度お試しください。",
                (wait + 59) / 60
            ),
        )
        .retrying(wait)
    }
}

impl From<crate::RelayError> for ApiError {
    fn from(e: crate::RelayError) -> Self {
        if e.is_overloaded() {
            Self::overloaded()
        } else if e.is_unavailable() {
            Self::unavailable(e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<auth::Busy> for ApiError {
    fn from(_: auth::Busy) -> Self {
        Self::busy()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(ErrorEnvelope { error: *self.body })).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Some(v) = self.upload_offset.and_then(uploads::offset_header) {
            r.headers_mut()
                .insert(careplan_core::wire::UPLOAD_OFFSET_HEADER, v);
        }
        r
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
    let lim = &state.cfg.limits;
    // Sends and drafts are JSON naming uploads (no file bytes): a name and an upload id
    // per file, bounded by the file and destination counts.
    let per_file = 1024;
    let draft_limit = lim
        .max_files_per_destination
        .saturating_mul(per_file)
        .saturating_add(64 * 1024)
        .min(lim.max_request_bytes);
    let send_limit = lim
        .max_files_per_destination
        .saturating_mul(lim.max_destinations)
        .saturating_mul(per_file)
        .saturating_add(64 * 1024)
        .min(lim.max_request_bytes);
    let limits = BodyLimits {
        send: send_limit,
        draft: draft_limit,
        upload: usize::try_from(lim.max_file_bytes).unwrap_or(usize::MAX),
    };
    let with_session = Router::new()
        .route("/api/v1/status", get(lists::status))
        .route("/api/v1/notices", get(lists::notices))
        .route("/api/v1/received", get(lists::received))
        .route("/api/v1/sent", get(lists::sent))
        .route(
            "/api/v1/send",
            post(mail::send).layer(DefaultBodyLimit::max(send_limit)),
        )
        .route("/api/v1/send/whole", post(mail::send_whole))
        .route("/api/v1/uploads", post(uploads::open))
        .route("/api/v1/uploads/whole/{sha256}", put(uploads::put_whole))
        .route(
            "/api/v1/uploads/{id}",
            get(uploads::state).put(uploads::put),
        )
        .route("/api/v1/files/{id}", get(mail::download))
        .route("/api/v1/files/{id}/ack", post(mail::ack))
        .route("/api/v1/drafts", get(drafts::list))
        .route(
            "/api/v1/drafts/{id}",
            put(drafts::put)
                .delete(drafts::delete)
                .layer(DefaultBodyLimit::max(draft_limit)),
        )
        .route("/api/v1/drafts/{id}/files/{name}", get(drafts::file))
        .route_layer(from_fn_with_state(state.clone(), require_session));
    // The long-poll does not count as use of the session (see `push`).
    let waiting = Router::new()
        .route("/api/v1/wait", get(push::wait))
        .route_layer(from_fn_with_state(state.clone(), require_session_quietly));
    let with_login_token = Router::new()
        .route("/api/v1/login/office", post(login::office))
        .route("/api/v1/password", post(login::change_password))
        .route("/api/v1/logout", post(login::logout))
        .route_layer(from_fn_with_state(state.clone(), require_login_token));
    // The routes with a token check the deny-list in the session's own query
    // (`check_token`); the first login step has no token and asks the deny-list itself.
    let open = Router::new()
        .route("/api/v1/login/personal", post(login::personal))
        .route_layer(from_fn_with_state(state.clone(), require_certificate));
    Router::new()
        .merge(with_session)
        .merge(waiting)
        .merge(with_login_token)
        .merge(open)
        .layer(DefaultBodyLimit::max(SMALL_BODY))
        .layer(from_fn_with_state(limits, announced_length))
        .layer(axum::middleware::from_fn(envelope_rejections))
        .layer(axum::middleware::from_fn(protocol_version))
        .with_state(state)
}

/// The protocol version of the request (header `x-careplan-protocol`): another version, or
/// none (a client made before versions existed), is refused with `426 E_PROTOCOL` before
/// anything else is looked at. Every answer carries the relay's version.
async fn protocol_version(req: Request, next: Next) -> Response {
    let theirs = req
        .headers()
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    let mut resp = match theirs {
        Some(v) if v == PROTOCOL_VERSION => next.run(req).await,
        other => {
            tracing::info!(client = ?other, ours = PROTOCOL_VERSION, "request of another protocol version refused");
            protocol_refusal(other).into_response()
        }
    };
    resp.headers_mut()
        .insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    resp
}

/// The `426` answer to a client of protocol `theirs` (`None`: it did not say, so it is
/// older than versions).
fn protocol_refusal(theirs: Option<u32>) -> ApiError {
    let message = match theirs {
        Some(v) if v > PROTOCOL_VERSION => format!(
            "中継サーバの版がこのアプリより古いため接続できません（アプリの通信方式: 第{v}版、中継サーバ: 第{PROTOCOL_VERSION}版）。中継サーバの運営者に更新を依頼してください。"
        ),
        Some(v) => format!(
            "このアプリの版が古いため、中継サーバに接続できません（アプリの通信方式: 第{v}版、中継サーバ: 第{PROTOCOL_VERSION}版）。アプリを最新の版に更新してください。"
        ),
        None => format!(
            "このアプリの版が古いため、中継サーバに接続できません（中継サーバの通信方式: 第{PROTOCOL_VERSION}版）。アプリを最新の版に更新してください。"
        ),
    };
    ApiError::new(StatusCode::UPGRADE_REQUIRED, PROTOCOL_ERROR, message)
}

/// What axum answers by itself — an unknown URL (404), a method the route lacks (405), a
/// body that is not the route's JSON (400, 415, 422), a path segment that is not UTF-8
/// (400), a body cut at its limit while reading (413) — is plain text or empty, which the
/// client would show as it is. Such answers become the API's error envelope with a
/// Japanese message (an invariant of the `request` fuzz target). The original text is not
/// logged: serde's messages can quote values from the body.
async fn envelope_rejections(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    tracing::debug!(%status, "request refused before its handler");
    let update = "クライアントを最新の版に更新してください。";
    let e = match status {
        StatusCode::NOT_FOUND => {
            ApiError::not_found(&format!("このURLは中継サーバにありません。{update}"))
        }
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "E_METHOD",
            format!("このURLにはこの方法（HTTPメソッド）で要求できません。{update}"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "E_TOO_LARGE",
            "送信するデータが大きすぎます。ファイルを分けて送信してください。",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "E_BAD_REQUEST",
            format!("要求の形式（Content-Type: application/json）が正しくありません。{update}"),
        ),
        s if s.is_server_error() => ApiError::internal(s),
        _ => ApiError::new(
            status,
            "E_BAD_REQUEST",
            format!("要求の内容を読み取れません（形式が正しくありません）。{update}"),
        ),
    };
    let allow = resp.headers().get(header::ALLOW).cloned();
    let mut out = e.into_response();
    if let Some(v) = allow {
        out.headers_mut().insert(header::ALLOW, v);
    }
    out
}

/// The body limits of the routes: the send, a draft save, an upload part, everything else.
#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    send: usize,
    draft: usize,
    upload: usize,
}

impl BodyLimits {
    fn of(&self, req: &Request) -> usize {
        let path = req.uri().path();
        if path == "/api/v1/send" {
            self.send
        } else if path == "/api/v1/send/whole" {
            usize::try_from(careplan_core::wire::SEND_WHOLE_MAX).unwrap_or(usize::MAX)
        } else if path.starts_with("/api/v1/drafts/") && req.method() == axum::http::Method::PUT {
            self.draft
        } else if path.starts_with("/api/v1/uploads/") && req.method() == axum::http::Method::PUT {
            self.upload
        } else {
            SMALL_BODY
        }
    }
}

/// A request that announces a body over its route's limit is answered 413 at once,
/// before any of it is read (`DefaultBodyLimit` only notices while reading; it still cuts
/// bodies sent without a length).
async fn announced_length(
    State(limits): State<BodyLimits>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let max = limits.of(&req);
    if let Some(n) = announced
        && n > max as u64
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "E_TOO_LARGE",
            format!(
                "送信するデータが大きすぎます（{}MiBまで）。ファイルを分けて送信してください。",
                (max / (1024 * 1024)).max(1)
            ),
        ));
    }
    Ok(next.run(req).await)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn peer_of(req: &Request) -> ApiResult<Peer> {
    req.extensions()
        .get::<Peer>()
        .cloned()
        .ok_or_else(ApiError::unauthorized)
}

fn revoked() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "E_CERT_REVOKED",
        "この端末の証明書は失効しています。中継サーバの運営者に新しい証明書の発行を申請してください（トップページの「証明書の更新を申請」）。",
    )
}

fn office_disabled() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "E_OFFICE_DISABLED",
        "この事業所は利用を停止されています。中継サーバの運営者に連絡してください。",
    )
}

fn user_disabled() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "E_USER_DISABLED",
        "このユーザIDは利用を停止されています。中継サーバの運営者に連絡してください。",
    )
}

fn licence_expired(until: i64) -> ApiError {
    let d = ts(until).date();
    ApiError::new(
        StatusCode::FORBIDDEN,
        "E_LICENCE_EXPIRED",
        format!(
            "この事業所のライセンスの有効期限（{}年{}月{}日）が切れています。中継サーバの運営者にライセンスの更新を依頼してください。",
            d.year(),
            u8::from(d.month()),
            d.day()
        ),
    )
}

/// The route without a token (login step 1): the certificate is not on the deny-list. The
/// other routes learn it from [`check_token`]'s one query, with the same answers.
async fn require_certificate(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let peer = peer_of(&req)?;
    if st.db.is_revoked(&peer.cert_fp).await? {
        tracing::info!(office = %peer.office, "revoked certificate refused");
        return Err(revoked());
    }
    Ok(next.run(req).await)
}

/// Check the bearer token of `req` (before any body is read) and attach its [`Session`].
/// `touch`: the request counts as use of the session (its idle time starts again).
async fn check_token(
    st: &AppState,
    req: &mut Request,
    kinds: &[&str],
    touch: bool,
) -> ApiResult<()> {
    let peer = peer_of(req)?;
    // A revoked certificate is answered `E_CERT_REVOKED` before anything else about the
    // request, as `require_certificate` does: from the session's query when there is a
    // session, else by asking the deny-list.
    let unknown = || async {
        if st.db.is_revoked(&peer.cert_fp).await? {
            tracing::info!(office = %peer.office, "revoked certificate refused");
            return Err::<(), ApiError>(revoked());
        }
        Err(ApiError::unauthorized())
    };
    let Some(token) = bearer(req.headers()) else {
        return unknown().await;
    };
    let th = auth::token_hash(token);
    let Some(state) = st.db.session_state(&th, &peer.cert_fp).await? else {
        return unknown().await;
    };
    if state.cert_revoked {
        tracing::info!(office = %peer.office, "revoked certificate refused");
        return Err(revoked());
    }
    let s = state.session;
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
    // A token is usable only over the certificate (and so the office) that opened it.
    if !kinds.contains(&s.kind.as_str())
        || s.office != peer.office.as_str()
        || s.cert_fp != *peer.cert_fp
    {
        return Err(ApiError::unauthorized());
    }
    if state.office_disabled {
        return Err(office_disabled());
    }
    if state.user_disabled {
        st.db.delete_session(&th).await?;
        return Err(user_disabled());
    }
    if let Some(until) = state.licence_expires
        && until < t
    {
        return Err(licence_expired(until));
    }
    // Idle time is tracked to the minute: one write per session and minute, not per request.
    if touch && t - s.last_seen >= 60 {
        st.db.touch_session(&th, t).await?;
    }
    req.extensions_mut().insert(s);
    Ok(())
}

/// Routes of a logged-in office (both steps done).
async fn require_session(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_token(&st, &mut req, &["session"], true).await?;
    Ok(next.run(req).await)
}

/// [`require_session`] without counting the request as use of the session (the long-poll).
async fn require_session_quietly(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_token(&st, &mut req, &["session"], false).await?;
    Ok(next.run(req).await)
}

/// Routes that take the step-1 token too (step 2, password change, logout).
async fn require_login_token(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_token(&st, &mut req, &["pending", "session"], true).await?;
    Ok(next.run(req).await)
}

/// A refused request (422) with the offending files and offices.
pub(super) fn refused(
    code: &str,
    message: String,
    files: Vec<FileProblem>,
    offices: Vec<OfficeProblem>,
) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    e.body.details = ErrorDetails { files, offices };
    e
}

/// The session attached by the middleware.
type Authed = Extension<Session>;
