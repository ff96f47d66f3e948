//! Wire types of the relay's HTTP/JSON API (`docs/protocol.md`), shared by the relay and
//! the client: the one definition of the wire (the client shows these types as they are,
//! `careplan_client::model` re-exports them). Pure data: no IO. Times are RFC 3339 strings.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::kind::Category;

/// The version of this protocol. Every request carries it in [`PROTOCOL_HEADER`] and every
/// answer of the relay does too; a relay refuses a request of another version with
/// `426 E_PROTOCOL`, and a client refuses an answer without it or of another version
/// (`docs/protocol.md` § Versions). Version 2: files as raw byte streams (uploads, ranges),
/// paged lists, long-poll; version 1 (no header) sent files as base64 inside JSON.
pub const PROTOCOL_VERSION: u32 = 2;

/// The header carrying [`PROTOCOL_VERSION`] on requests and answers.
pub const PROTOCOL_HEADER: &str = "x-careplan-protocol";

/// The error code of a request of another protocol version (HTTP 426).
pub const PROTOCOL_ERROR: &str = "E_PROTOCOL";

/// Every error answer: `{"error": {...}}` with an HTTP status ≥ 400.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// One error: a stable code, a Japanese message, and details (offending files or offices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code such as `E_UNKNOWN_DESTINATION`.
    pub code: String,
    /// What is wrong and what to do, in Japanese.
    pub message: String,
    /// Per-file and per-office problems, when the error is about a send.
    #[serde(default)]
    pub details: ErrorDetails,
}

/// Offending files and offices of a refused send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetails {
    /// Files with their problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileProblem>,
    /// Offices with their problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offices: Vec<OfficeProblem>,
}

/// A refused file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProblem {
    /// File name.
    pub file: String,
    /// Code of the problem.
    pub code: String,
    /// Japanese message.
    pub message: String,
}

/// A refused destination office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeProblem {
    /// 事業所番号.
    pub office: String,
    /// Code of the problem.
    pub code: String,
    /// Japanese message.
    pub message: String,
}

/// `POST /api/v1/login/personal` and `/api/v1/login/office` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// 個人ユーザID (`c…`) or 事業所ユーザID (`KJ…`).
    pub user_id: String,
    /// The password (never logged).
    pub password: String,
}

/// `POST /api/v1/login/personal` answer: a short-lived token for step 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// Bearer token.
    pub token: String,
}

/// `POST /api/v1/login/office` answer: the session token and what the top page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// Session bearer token.
    pub token: String,
    /// The office of the certificate and the office user.
    pub office: String,
    /// Its name.
    pub office_name: String,
    /// ライセンス期限.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub licence_expires_at: Option<OffsetDateTime>,
    /// When the office user's password expires.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub password_expires_at: Option<OffsetDateTime>,
}

/// `POST /api/v1/password` request (with the step-1 token or a session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePasswordRequest {
    /// 事業所ユーザID whose password changes.
    pub user_id: String,
    /// Current (or temporary) password.
    pub old_password: String,
    /// New password (8–16, letters and digits).
    pub new_password: String,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// System status line.
    pub message: String,
    /// Our office.
    pub office: String,
    /// Its name.
    pub office_name: String,
    /// ライセンス期限.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub licence_expires_at: Option<OffsetDateTime>,
}

/// One お知らせ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Id.
    pub id: String,
    /// 掲載日時.
    #[serde(with = "time::serde::rfc3339")]
    pub posted_at: OffsetDateTime,
    /// 件名.
    pub title: String,
    /// 詳細.
    pub body: String,
}

impl Notice {
    /// 詳細(抜粋): the first line of the body, at most `chars` characters.
    pub fn excerpt(&self, chars: usize) -> String {
        let line = self.body.lines().next().unwrap_or("");
        let mut s: String = line.chars().take(chars).collect();
        if line.chars().count() > chars || self.body.lines().nth(1).is_some() {
            s.push('…');
        }
        s
    }
}

/// Page size of the lists (`GET /api/v1/received`, `GET /api/v1/sent`) when the request
/// names none (an old client reads the newest page only).
pub const LIST_PAGE_DEFAULT: u32 = 200;
/// The largest page the relay returns (`?limit=` above is clamped).
pub const LIST_PAGE_MAX: u32 = 1000;
/// Response header of a list page that is not the last: the opaque cursor to pass as
/// `?after=` for the next page (absent on the last page). The body stays a JSON array, so
/// that clients that do not page still parse it.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

/// A received file in `GET /api/v1/received`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedFile {
    /// File id for download and ack.
    pub id: String,
    /// File name.
    pub name: String,
    /// The standard's prefix (`UPPLAN` …), or null for attachments.
    pub kind: Option<String>,
    /// 登録 / 削除 / PDF等.
    pub category: Category,
    /// CSVバージョン read from the content.
    pub csv_version: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (lower-case hex).
    pub sha256: String,
    /// 済 when the receiver acknowledged it.
    pub acquired: bool,
}

/// One transmission to us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedTransmission {
    /// Transmission id.
    pub id: String,
    /// 受信日時.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Sender 事業所番号.
    pub sender_office: String,
    /// 送信元事業所名称.
    pub sender_name: String,
    /// メッセージ.
    pub message: String,
    /// Files.
    pub files: Vec<ReceivedFile>,
}

impl ReceivedTransmission {
    /// True when every file is 済.
    pub fn all_acquired(&self) -> bool {
        self.files.iter().all(|f| f.acquired)
    }
}

/// A sent file and whether the destination acquired it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentFile {
    /// File id.
    pub id: String,
    /// Name.
    pub name: String,
    /// 登録 / 削除 / PDF等.
    pub category: Category,
    /// 済.
    pub acquired: bool,
}

/// One destination of a send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentDestination {
    /// 送信先事業所番号.
    pub office: String,
    /// Its name when registered.
    pub name: Option<String>,
    /// Files.
    pub files: Vec<SentFile>,
}

impl SentDestination {
    /// 済 once the destination saved every file.
    pub fn all_acquired(&self) -> bool {
        self.files.iter().all(|f| f.acquired)
    }
}

/// One send of ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentTransmission {
    /// Send id.
    pub id: String,
    /// 送信日時.
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    /// メッセージ.
    pub message: String,
    /// Destinations.
    pub destinations: Vec<SentDestination>,
}

/// The header of an upload `PUT` (and of a `409 E_UPLOAD_OFFSET` answer): the offset of
/// the body's first byte in the file.
pub const UPLOAD_OFFSET_HEADER: &str = "upload-offset";

/// The largest file sent whole in one request (`PUT /api/v1/uploads/whole/{sha256}`); larger
/// files use the resumable upload session.
pub const WHOLE_UPLOAD_MAX: u64 = 1024 * 1024;

/// The largest body of `POST /api/v1/send/whole`: a send and the bytes of its files in one
/// `multipart/form-data` request (each file at most [`WHOLE_UPLOAD_MAX`]). A larger send
/// uploads its files first and names them in `POST /api/v1/send`.
pub const SEND_WHOLE_MAX: u64 = 4 * 1024 * 1024;

/// The field of `POST /api/v1/send/whole` holding the [`SendRequest`] (JSON), first; its
/// files whose [`FileRef::upload`] is empty have their bytes in this request.
pub const SEND_WHOLE_REQUEST_FIELD: &str = "send";

/// The fields of `POST /api/v1/send/whole` holding a file's bytes, after the request: one
/// per distinct content, its `filename` the content's SHA-256 (hex).
pub const SEND_WHOLE_FILE_FIELD: &str = "file";

/// `POST /api/v1/uploads`: open an upload session for one file, declared up front.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRequest {
    /// Length in bytes.
    pub size: u64,
    /// SHA-256 (hex) of the whole file; the relay stores the file only if it matches.
    pub sha256: String,
}

/// An upload session (`POST`, `GET` and `PUT /api/v1/uploads/{id}` answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    /// Id, to name in a send or draft.
    pub id: String,
    /// Bytes the relay holds: the next `PUT` starts here.
    pub offset: u64,
    /// The declared length.
    pub size: u64,
    /// True when the file is stored and verified.
    pub complete: bool,
}

/// A file in a send or draft: its name, its content's SHA-256 and size (what an
/// idempotency key is bound to), and the complete upload holding its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// File name.
    pub name: String,
    /// Id of a complete upload of the sending office ([`UploadState::id`]); empty in
    /// `POST /api/v1/send/whole` for a file whose bytes are in the same request.
    pub upload: String,
    /// SHA-256 (hex) of the content; must be the upload's.
    pub sha256: String,
    /// Size in bytes; must be the upload's.
    pub size: u64,
}

/// One destination of a send request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendDestination {
    /// 送信先事業所番号.
    pub office: String,
    /// Files for it.
    pub files: Vec<FileRef>,
}

/// `POST /api/v1/send` (header `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    /// メッセージ (≤ 200 characters by default).
    pub message: String,
    /// One (新規作成) or up to 50 (一括送信) destinations.
    pub destinations: Vec<SendDestination>,
}

/// `POST /api/v1/send` answer: the relay's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    /// The send id (the receipt number).
    pub send_id: String,
    /// One transmission id per destination, in request order.
    pub ids: Vec<String>,
    /// The destination offices, in request order.
    pub offices: Vec<String>,
    /// When the relay accepted it (everything durable).
    #[serde(with = "time::serde::rfc3339")]
    pub accepted_at: OffsetDateTime,
    /// True when this answer repeats an earlier send with the same key.
    pub replayed: bool,
}

/// `POST /api/v1/files/{id}/ack` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRequest {
    /// SHA-256 of what was saved; must equal the stored file's.
    pub sha256: String,
    /// The nonce the relay gave with the download (header `X-Ack-Nonce`).
    #[serde(default)]
    pub nonce: String,
    /// Proof that the whole file was received: HMAC-SHA256 of the file's bytes keyed with
    /// the nonce's bytes (lower-case hex). Repeating the listed hash proves nothing; this
    /// can only be computed from the content.
    #[serde(default)]
    pub proof: String,
}

/// The response header of a download that carries the nonce for [`AckRequest::proof`].
pub const ACK_NONCE_HEADER: &str = "x-ack-nonce";

/// `POST /api/v1/files/{id}/ack` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckResponse {
    /// The file id.
    pub id: String,
    /// When it was first acknowledged.
    #[serde(with = "time::serde::rfc3339")]
    pub acquired_at: OffsetDateTime,
}

/// `GET /api/v1/wait?since=<cursor>&timeout=<seconds>` answer (the long-poll for
/// arrivals): the office's arrival cursor now, and whether it differs from `since`.
///
/// The cursor is opaque: compare it only for equality. It changes when a send to the office
/// commits. Without `since` the answer comes at once with `arrived: true` (nothing is known
/// yet: list now). A timeout, or a relay shutting down, answers `arrived: false` with the
/// same cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitAnswer {
    /// The office's arrival cursor now (pass it as `since` next time).
    pub cursor: String,
    /// True when something arrived since `since` (or `since` was not given): list again.
    pub arrived: bool,
}

/// A file of a draft (metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftFileInfo {
    /// Name.
    pub name: String,
    /// Size.
    pub size: u64,
    /// SHA-256.
    pub sha256: String,
}

/// A draft as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftInfo {
    /// Client-chosen id.
    pub id: String,
    /// 保存日時.
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
    /// 端末名.
    pub terminal: String,
    /// メッセージ.
    pub message: String,
    /// 送信先事業所番号.
    pub to_office: Option<String>,
    /// Files.
    pub files: Vec<DraftFileInfo>,
}

/// `PUT /api/v1/drafts/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftUpload {
    /// 保存日時 (the client's; the newer save wins).
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
    /// 端末名.
    pub terminal: String,
    /// メッセージ.
    pub message: String,
    /// 送信先事業所番号.
    pub to_office: Option<String>,
    /// Files (uploaded first).
    pub files: Vec<FileRef>,
}

/// The running proof of a download ([`AckRequest::proof`]): feed the file's bytes in order,
/// then [`AckProof::finish`].
#[derive(Clone)]
pub struct AckProof(hmac::Hmac<sha2::Sha256>);

impl AckProof {
    /// Start a proof keyed with the download's nonce.
    pub fn new(nonce: &str) -> Self {
        use hmac::Mac;
        #[allow(clippy::expect_used)]
        Self(
            hmac::Hmac::<sha2::Sha256>::new_from_slice(nonce.as_bytes())
                .expect("HMAC takes keys of any length"),
        )
    }

    /// Add the next bytes of the file.
    pub fn update(&mut self, bytes: &[u8]) {
        use hmac::Mac;
        self.0.update(bytes);
    }

    /// The proof, lower-case hex.
    pub fn finish(self) -> String {
        use hmac::Mac;
        hex_lower(&self.0.finalize().into_bytes())
    }

    /// Whether `proof` (hex, any case) is this proof, compared in constant time.
    pub fn verify(self, proof: &str) -> bool {
        use hmac::Mac;
        let Some(bytes) = hex_decode(proof.trim()) else {
            return false;
        };
        self.0.verify_slice(&bytes).is_ok()
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
