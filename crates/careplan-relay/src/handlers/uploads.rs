//! Uploads: a file's raw bytes, streamed into the blob store, resumable (see
//! `docs/protocol.md`, "Files as streams"). Sends and drafts then name complete uploads.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use careplan_core::wire::{UPLOAD_OFFSET_HEADER, UploadRequest, UploadState};
use futures::StreamExt;

use super::{ApiError, ApiResult, AppState, Peer, now, refused};
use crate::blob::{self, Opened, Upload};

fn view(u: &Upload) -> UploadState {
    UploadState {
        id: u.id.clone(),
        offset: u.received,
        size: u.size,
        complete: u.complete,
    }
}

fn not_found() -> ApiError {
    ApiError::not_found(
        "アップロードが見つかりません（期限切れの可能性があります）。もう一度送信してください。",
    )
}

/// `POST /api/v1/uploads {size, sha256}`.
pub(super) async fn open(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Json(req): Json<UploadRequest>,
) -> ApiResult<Response> {
    let sha = declared(&st, req.size, &req.sha256)?;
    let u = open_upload(&st, &peer, req.size, sha, None).await?;
    Ok((StatusCode::CREATED, Json(view(&u))).into_response())
}

/// Open the upload session of a file checked by [`declared`] (quota of open sessions per
/// office); `complete`: a whole file already checked, with its CSVバージョン (see
/// [`crate::db::Db::open_upload`]).
async fn open_upload(
    st: &AppState,
    peer: &Peer,
    size: u64,
    sha: String,
    complete: Option<Option<String>>,
) -> ApiResult<Upload> {
    let b = &st.blobs.cfg;
    let opened = st
        .db
        .open_upload(crate::group::OpenUpload {
            office: peer.office.to_string(),
            size,
            sha256: sha,
            now: now().unix_timestamp(),
            ttl: b.upload_ttl_secs,
            max_open: b.max_open_uploads,
            complete,
        })
        .await?;
    match opened {
        Opened::Upload(u) => Ok(u),
        Opened::Quota => Err(ApiError::rate_limited(
            b.upload_ttl_secs.min(3600),
            "ファイルのアップロード",
        )),
    }
}

/// A declared file's SHA-256 (lower case) if it and the size are acceptable.
fn declared(st: &AppState, size: u64, sha256: &str) -> ApiResult<String> {
    let lim = &st.cfg.limits;
    let sha = sha256.trim().to_ascii_lowercase();
    if !blob::is_sha256(&sha) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "E_BAD_SHA256",
            "ファイルのSHA-256（16進64文字）が正しくありません。クライアントを最新の版に更新してください。",
        ));
    }
    if size == 0 {
        return Err(refused(
            "E_EMPTY_FILE",
            "ファイルが空です（0バイト）。介護ソフトから出力し直してください。".into(),
            vec![],
            vec![],
        ));
    }
    if size > lim.max_file_bytes {
        return Err(refused(
            "E_FILE_TOO_LARGE",
            format!(
                "ファイルが大きすぎます（{}バイト）。1ファイル{}MiBまでです。",
                size,
                lim.max_file_bytes / (1024 * 1024)
            ),
            vec![],
            vec![],
        ));
    }
    Ok(sha)
}

/// `PUT /api/v1/uploads/whole/{sha256}` with `Content-Length` (1 … 1 MiB): a small file
/// whole in one request — the upload is opened, the body read into memory, checked against
/// the SHA-256 and stored as its blob at once, and the upload, complete, is answered
/// (`201`). One request instead of `POST /uploads` + `PUT /uploads/{id}`. The body is read
/// and checked before the upload is opened: a broken body or wrong bytes leave nothing
/// (no session counted against the office's open uploads); the client sends it again.
pub(super) async fn put_whole(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let len = content_length(&headers)?;
    if len > WHOLE_IN_MEMORY && len <= st.cfg.limits.max_file_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "E_TOO_LARGE",
            "1MiBを超えるファイルは分割して送る形式で送信してください。クライアントを最新の版に更新してください。",
        ));
    }
    let sha = declared(&st, len, &sha256)?;
    let Ok(bytes) = read_whole(&mut body.into_data_stream(), len).await else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "E_BODY_BROKEN",
            "データの途中で接続が切れました。もう一度送信してください。",
        ));
    };
    if crate::auth::sha256_hex(&bytes) != sha {
        tracing::info!(office = %peer.office, "upload refused: bytes do not match the declared SHA-256");
        return Err(hash_refused());
    }
    // One commit: the session is opened complete, then the blob is stored (durable: file
    // and folder fsynced), and only then is the session's id answered — before that no
    // request can name it (`Db::open_upload`).
    let csv_version = blob::csv_version_of(&bytes);
    let u = open_upload(&st, &peer, len, sha, Some(csv_version)).await?;
    st.blobs.put_bytes(&u.sha256, bytes).await?;
    Ok((StatusCode::CREATED, Json(view(&u))).into_response())
}

async fn find(st: &AppState, peer: &Peer, id: &str) -> ApiResult<Upload> {
    let not_before = now().unix_timestamp() - st.blobs.cfg.upload_ttl_secs;
    st.db
        .upload(id, peer.office.as_str(), not_before)
        .await?
        .ok_or_else(not_found)
}

/// `GET /api/v1/uploads/{id}`: the offset to continue from.
pub(super) async fn state(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadState>> {
    Ok(Json(view(&find(&st, &peer, &id).await?)))
}

fn offset_conflict(u: &Upload) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::CONFLICT,
        "E_UPLOAD_OFFSET",
        format!(
            "中継サーバが受け取っている位置（{}バイト目）と違う位置から送られました。クライアントを最新の版に更新してください。",
            u.received
        ),
    );
    e.upload_offset = Some(u.received);
    e
}

/// The request's `Content-Length`; `411 E_LENGTH_REQUIRED` without one (or an unreadable
/// one): bodies the relay reads whole or into a part are announced first.
pub(super) fn content_length(headers: &HeaderMap) -> ApiResult<u64> {
    let Some(Some(len)) = header_u64(headers, header::CONTENT_LENGTH) else {
        return Err(ApiError::new(
            StatusCode::LENGTH_REQUIRED,
            "E_LENGTH_REQUIRED",
            "送信するデータの長さ（Content-Length）がありません。クライアントを最新の版に更新してください。",
        ));
    };
    Ok(len)
}

fn header_u64(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<Option<u64>> {
    headers
        .get(name)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()))
}

/// `PUT /api/v1/uploads/{id}` with `Upload-Offset` and `Content-Length`: stream the body
/// into a staged part; with the last byte, verify and store the blob.
pub(super) async fn put(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let u = find(&st, &peer, &id).await?;
    if u.complete {
        return Ok(Json(view(&u)).into_response());
    }
    let Some(Some(offset)) = header_u64(&headers, UPLOAD_OFFSET_HEADER) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "E_UPLOAD_OFFSET",
            "Upload-Offset ヘッダがありません。クライアントを最新の版に更新してください。",
        ));
    };
    if offset != u.received {
        return Err(offset_conflict(&u));
    }
    let len = content_length(&headers)?;
    if len > u.size - offset {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "E_TOO_LARGE",
            "宣言したファイルの長さを超えるデータが送られました。もう一度送信してください。",
        ));
    }
    // The part is written and recorded by its own task: a client that disconnects midway
    // drops this handler, not the bytes that already arrived.
    let task = tokio::spawn(receive(st.clone(), u, offset, len, body));
    match task.await {
        Ok(r) => r,
        Err(e) => Err(ApiError::internal(e)),
    }
}

async fn receive(
    st: AppState,
    u: Upload,
    offset: u64,
    len: u64,
    body: Body,
) -> ApiResult<Response> {
    let mut u = u;
    let mut body = body.into_data_stream().boxed();
    if offset == 0 && len == u.size && u.parts.is_empty() && len <= WHOLE_IN_MEMORY {
        // The whole (small) file in one request, the usual case: it is read into memory,
        // checked, and stored as its blob at once (one file fsync and one of its folder),
        // then marked complete in the group commit. Nothing is staged.
        let arrived = match read_whole(&mut body, len).await {
            Ok(bytes) => return finish_whole(&st, &mut u, bytes).await,
            Err(arrived) => arrived,
        };
        // What arrived is staged as a part, as for any broken body: the client continues
        // from there.
        body = futures::stream::iter([Ok::<_, axum::Error>(bytes::Bytes::from(arrived))]).boxed();
        return receive_part(st, u, offset, len, body, true).await;
    }
    receive_part(st, u, offset, len, body, false).await
}

/// Read a body of `len` bytes (at most [`WHOLE_IN_MEMORY`]) into memory; `Err` with what
/// arrived when it breaks or ends early.
async fn read_whole<S>(body: &mut S, len: u64) -> Result<Vec<u8>, Vec<u8>>
where
    S: futures::Stream<Item = Result<bytes::Bytes, axum::Error>> + Unpin,
{
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    while (bytes.len() as u64) < len {
        match body.next().await {
            Some(Ok(b)) => {
                let room = usize::try_from(len).unwrap_or(usize::MAX) - bytes.len();
                bytes.extend_from_slice(&b[..b.len().min(room)]);
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, bytes = bytes.len(), "upload body broke");
                return Err(bytes);
            }
            None => return Err(bytes),
        }
    }
    Ok(bytes)
}

/// Files up to this size sent whole in one request are stored from memory (1 MiB: a care
/// plan CSV is tens of KiB; larger files stream through staged parts).
const WHOLE_IN_MEMORY: u64 = careplan_core::wire::WHOLE_UPLOAD_MAX;

async fn finish_whole(st: &AppState, u: &mut Upload, bytes: Vec<u8>) -> ApiResult<Response> {
    if crate::auth::sha256_hex(&bytes) != u.sha256 {
        tracing::info!(office = %u.office, "upload refused: bytes do not match the declared SHA-256");
        return Err(hash_refused());
    }
    store_whole(st, u, bytes).await
}

/// Store the checked bytes of a whole upload as its blob and mark the upload complete.
async fn store_whole(st: &AppState, u: &mut Upload, bytes: Vec<u8>) -> ApiResult<Response> {
    let csv_version = blob::csv_version_of(&bytes);
    let size = bytes.len() as u64;
    // Durable (file and folder fsynced) before the row that lets a send name it commits.
    st.blobs.put_bytes(&u.sha256, bytes).await?;
    if !st
        .db
        .complete_whole_upload(&u.id, size, csv_version.clone())
        .await?
    {
        // Another request for the same upload moved it first.
        let fresh = find_any(st, u).await?;
        if fresh.complete {
            return Ok(Json(view(&fresh)).into_response());
        }
        return Err(offset_conflict(&fresh));
    }
    u.received = size;
    u.complete = true;
    u.csv_version = csv_version;
    Ok(Json(view(u)).into_response())
}

pub(super) fn hash_refused() -> ApiError {
    refused(
        "E_UPLOAD_HASH",
        "送られたファイルの内容が宣言されたSHA-256と一致しません。もう一度送信してください。"
            .into(),
        vec![],
        vec![],
    )
}

async fn receive_part(
    st: AppState,
    mut u: Upload,
    offset: u64,
    len: u64,
    body: futures::stream::BoxStream<'static, Result<bytes::Bytes, axum::Error>>,
    cut: bool,
) -> ApiResult<Response> {
    if len > 0 {
        let key = st.blobs.part_key(&u.id, offset);
        let mut part = st.blobs.write_part(&key, body, len).await?;
        part.broken |= cut;
        if part.bytes > 0 {
            let to = offset + part.bytes;
            if !st
                .db
                .advance_upload(&u.id, offset, to, key.as_ref())
                .await?
            {
                // Another request stored these bytes first.
                let _ = st.blobs.delete_key(&key).await;
                let fresh = find_any(&st, &u).await?;
                return Err(offset_conflict(&fresh));
            }
            u.received = to;
            u.parts.push(key.to_string());
            if u.parts.len() == 1 && offset == 0 && to == u.size {
                // One part, hashed while it streamed: publish it as it is.
                return finish(&st, &mut u, Some(part)).await;
            }
        }
        if part.broken {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "E_BODY_BROKEN",
                format!(
                    "データの途中で接続が切れました。{}バイト目から続けて送信してください。",
                    u.received
                ),
            ));
        }
    }
    if u.received == u.size {
        return finish(&st, &mut u, None).await;
    }
    Ok(Json(view(&u)).into_response())
}

async fn find_any(st: &AppState, u: &Upload) -> ApiResult<Upload> {
    st.db
        .upload(&u.id, &u.office, i64::MIN)
        .await?
        .ok_or_else(not_found)
}

/// Store the blob of a fully received upload: publish its one hashed part, or compose the
/// parts through SHA-256. Bytes that do not match the declared hash are dropped and the
/// upload starts again at 0.
async fn finish(
    st: &AppState,
    u: &mut Upload,
    one: Option<blob::PartWritten>,
) -> ApiResult<Response> {
    let head = match one {
        Some(p) => {
            if p.sha256 == u.sha256 {
                st.blobs.publish_part(&u.parts[0], &u.sha256).await?;
                Some(p.head)
            } else {
                None
            }
        }
        None => {
            let parts: Vec<String> = u.parts.clone();
            if parts.iter().all(|p| st.blobs.is_part_of(&u.id, p)) {
                st.blobs.compose(&parts, &u.sha256, u.size).await?
            } else {
                None
            }
        }
    };
    let Some(head) = head else {
        st.db.reset_upload(&u.id).await?;
        st.blobs.delete_staging(&u.id).await?;
        tracing::info!(office = %u.office, "upload refused: bytes do not match the declared SHA-256");
        return Err(hash_refused());
    };
    let csv_version = blob::csv_version_of(&head);
    st.db.complete_upload(&u.id, csv_version.as_deref()).await?;
    if let Err(e) = st.blobs.delete_staging(&u.id).await {
        tracing::warn!(error = %e, "staged parts left (swept when the upload expires)");
    }
    u.complete = true;
    u.csv_version = csv_version;
    Ok(Json(view(u)).into_response())
}

/// The `Upload-Offset` header of an answer.
pub(super) fn offset_header(v: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&v.to_string()).ok()
}
