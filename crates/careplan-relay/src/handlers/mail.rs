//! Sending, downloading and acknowledging files.

use std::collections::HashMap;
use std::ops::Range;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use careplan_core::wire::{
    ACK_NONCE_HEADER, AckProof, AckRequest, AckResponse, FileProblem, OfficeProblem, SendRequest,
    SendResponse,
};
use careplan_core::{Category, OfficeNumber, parse_name};
use futures::StreamExt;

use super::{ApiError, ApiResult, AppState, Peer, now, refused, ts};
use crate::auth;
use crate::blob::Upload;
use crate::mailbox::{NewFile, NewSend};

/// The byte range asked for by a `Range` header: `bytes=a-b`, `bytes=a-` or `bytes=-n`.
/// One range only (several, or anything unreadable, is answered with the whole file, as
/// RFC 9110 allows); `Err` for a range that starts past the end (`416`).
fn parse_range(h: Option<&HeaderValue>, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(spec) = h
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 {
            return Err(());
        }
        size.saturating_sub(n)..size
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            size
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.saturating_add(1).min(size),
                _ => return Ok(None),
            }
        };
        start..end
    };
    if range.start >= size {
        return Err(());
    }
    Ok(Some(range))
}

/// Answer a blob as raw bytes, streamed from the store, with `Range` support (`200` or
/// `206`; `416` for a range past the end). `HEAD` answers the headers only.
pub(super) async fn serve_blob(
    st: &AppState,
    sha: &str,
    size: u64,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let range = match parse_range(headers.get(header::RANGE), size) {
        Ok(r) => r,
        Err(()) => {
            let mut e = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "E_RANGE",
                "指定された範囲がファイルの大きさを超えています。最初から受信し直してください。",
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                e.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(e);
        }
    };
    let (status, len) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, size),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from_stream(st.blobs.read(sha, range.clone()).await?)
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Some(r) = &range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{size}", r.start, r.end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha}\"")) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(sha) {
        h.insert("x-content-sha256", v);
    }
    Ok(resp)
}

pub(super) async fn download(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some((name, sha, size)) = st.db.file_for(peer.office.as_str(), &id).await? else {
        return Err(ApiError::not_found(
            "ファイルが見つかりません。受信一覧を更新してください。",
        ));
    };
    // A fresh nonce per download: the acknowledgement must prove the bytes with it.
    let nonce = auth::new_token();
    st.db
        .put_nonce(&nonce, &id, peer.office.as_str(), now().unix_timestamp())
        .await?;
    let mut resp = serve_blob(&st, &sha, size, &method, &headers).await?;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&nonce) {
        h.insert(ACK_NONCE_HEADER, v);
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

pub(super) async fn ack(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
    Json(req): Json<AckRequest>,
) -> ApiResult<Json<AckResponse>> {
    let office = peer.office.as_str();
    if req.nonce.is_empty() || req.proof.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "E_ACK_PROOF",
            "この版のクライアントでは受信の完了を記録できません。クライアントを最新の版に更新してください。",
        ));
    }
    let Some((_, sha, _)) = st.db.file_for(office, &id).await? else {
        return Err(ApiError::not_found(
            "ファイルが見つかりません。受信一覧を更新してください。",
        ));
    };
    let mismatch = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "E_HASH_MISMATCH",
            "保存したファイルの内容が中継サーバのファイルと一致しません。もう一度受信してください。",
        )
    };
    if !sha.eq_ignore_ascii_case(req.sha256.trim()) {
        return Err(mismatch());
    }
    if !st.db.nonce_matches(&req.nonce, &id, office).await? {
        return Err(mismatch());
    }
    // The proof covers the whole blob, streamed from the store.
    let mut proof = AckProof::new(&req.nonce);
    let mut bytes = st.blobs.read(&sha, None).await?;
    while let Some(b) = bytes.next().await {
        proof.update(&b.map_err(ApiError::internal)?);
    }
    if !proof.verify(&req.proof) {
        return Err(mismatch());
    }
    let Some((_, at)) = st.db.ack(office, &id, now().unix_timestamp()).await? else {
        return Err(ApiError::not_found("ファイルが見つかりません。"));
    };
    st.db.drop_nonces(&id).await?;
    tracing::info!(office, file = %id, "acquired");
    Ok(Json(AckResponse {
        id,
        acquired_at: ts(at),
    }))
}

/// What an idempotency key is bound to: the message, the destinations and each file's
/// name, size and SHA-256, in order.
fn request_hash(req: &SendRequest) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(req.message.as_bytes());
    for d in &req.destinations {
        field(d.office.as_bytes());
        for f in &d.files {
            field(f.name.as_bytes());
            field(&f.size.to_le_bytes());
            field(f.sha256.trim().to_ascii_lowercase().as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// The send's `Idempotency-Key` header (1–128 visible ASCII characters).
fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "E_IDEMPOTENCY_KEY",
                "送信には Idempotency-Key ヘッダ（128文字以内の英数字など）が必要です。",
            )
        })
}

/// The receipt of an earlier send with this key (a retry), or `None`.
async fn replayed(
    st: &AppState,
    from: &str,
    key: &str,
    hash: &str,
) -> ApiResult<Option<Json<SendResponse>>> {
    let Some(r) = st.db.receipt_for_key(from, key).await? else {
        return Ok(None);
    };
    if !r.request_hash.is_empty() && r.request_hash != hash {
        return Err(idempotency_conflict());
    }
    Ok(Some(Json(SendResponse {
        send_id: r.send_id,
        ids: r.ids,
        offices: r.offices,
        accepted_at: ts(r.sent_at),
        replayed: true,
    })))
}

/// Commit a checked send whose files are all stored, and answer its receipt.
async fn commit(
    st: &AppState,
    plan: Plan,
    key: String,
    from: String,
    hash: String,
) -> ApiResult<Json<SendResponse>> {
    let id = plan.id.clone();
    let receipt = st
        .db
        .insert_send(plan.into_send(key, from.clone(), hash.clone()))
        .await?;
    let replayed = receipt.send_id != id;
    // A concurrent send with the same key won the race: it must carry the same content.
    if replayed && !receipt.request_hash.is_empty() && receipt.request_hash != hash {
        return Err(idempotency_conflict());
    }
    tracing::info!(office = %from, destinations = receipt.offices.len(), "send accepted");
    Ok(Json(SendResponse {
        send_id: receipt.send_id,
        ids: receipt.ids,
        offices: receipt.offices,
        accepted_at: ts(receipt.sent_at),
        replayed,
    }))
}

fn send_quota(wait: i64) -> ApiError {
    ApiError::rate_limited(wait, "送信")
}

pub(super) async fn send(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Json(req): Json<SendRequest>,
) -> ApiResult<Json<SendResponse>> {
    let from = peer.office.to_string();
    let key = idempotency_key(&headers)?;
    let hash = request_hash(&req);
    if let Some(r) = replayed(&st, &from, &key, &hash).await? {
        return Ok(r);
    }
    let t = now().unix_timestamp();
    if let Some(wait) = st
        .db
        .rate_hit(
            &format!("send:{from}"),
            t,
            3600,
            st.cfg.limits.max_sends_per_hour,
        )
        .await?
    {
        tracing::info!(office = %from, "send quota reached");
        return Err(send_quota(wait));
    }
    let plan = validate_send(&st, &peer, req, &HashMap::new()).await?;
    commit(&st, plan, key, from, hash).await
}

/// A form of `POST /api/v1/send/whole` the relay cannot read.
fn bad_form(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "E_BAD_REQUEST",
        format!(
            "送信の内容を読み取れません（{detail}）。もう一度送信してください。続く場合はクライアントを最新の版に更新してください。"
        ),
    )
}

fn form_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "E_TOO_LARGE",
                "送信するデータが大きすぎます。ファイルを分けて送信してください。",
            )
        }
        multer::Error::StreamReadFailed(_) | multer::Error::IncompleteStream => ApiError::new(
            StatusCode::BAD_REQUEST,
            "E_BODY_BROKEN",
            "データの途中で接続が切れました。もう一度送信してください。",
        ),
        e => {
            tracing::debug!(error = %e, "send form unreadable");
            bad_form("multipart/form-data の形式が正しくありません")
        }
    }
}

/// `POST /api/v1/send/whole` (header `Idempotency-Key`, `Content-Length` at most
/// `wire::SEND_WHOLE_MAX`, `multipart/form-data`): a send and its files' bytes in one
/// request — the field `send` (the [`SendRequest`], JSON), then one field `file` per
/// distinct content of the files whose `upload` is empty, its file name the content's
/// SHA-256. The session was checked before any byte of the body is read. Every file is
/// checked against its SHA-256 and size, the send is checked as `POST /api/v1/send` checks
/// it, then in one commit the send's rate is counted and its blob rows are written, the
/// blobs are stored (each durable), and the send commits: a send whose files are small
/// is one request and three shared commits instead of four requests and five.
pub(super) async fn send_whole(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<SendResponse>> {
    use careplan_core::wire::{SEND_WHOLE_FILE_FIELD, SEND_WHOLE_REQUEST_FIELD, WHOLE_UPLOAD_MAX};
    let from = peer.office.to_string();
    let key = idempotency_key(&headers)?;
    let len = super::uploads::content_length(&headers)?;
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| bad_form("Content-Type が multipart/form-data ではありません"))?;
    // The files are held in memory until they are stored: the process holds at most
    // `limits.whole_sends_memory_bytes` of such bodies at once. Without room the request is answered
    // `503 E_BUSY` at once, before its body is read, and the client sends the files as
    // uploads, which stream (so bodies trickled in by one office cannot hold up the others).
    let kib = u32::try_from(len.div_ceil(1024)).unwrap_or(u32::MAX);
    let Ok(_room) = st.whole_sends.clone().try_acquire_many_owned(kib) else {
        tracing::info!(office = %from, "send in one request: no room; answered busy");
        return Err(ApiError::busy());
    };
    let limits = multer::SizeLimit::new()
        .whole_stream(len)
        .for_field(SEND_WHOLE_FILE_FIELD, WHOLE_UPLOAD_MAX);
    let mut form = multer::Multipart::with_constraints(
        body.into_data_stream(),
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let req: SendRequest = match form.next_field().await.map_err(form_error)? {
        Some(f) if f.name() == Some(SEND_WHOLE_REQUEST_FIELD) => {
            let json = f.bytes().await.map_err(form_error)?;
            serde_json::from_slice(&json)
                .map_err(|_| bad_form("送信内容（JSON）の形式が正しくありません"))?
        }
        _ => return Err(bad_form("最初の部分が送信内容（send）ではありません")),
    };
    let hash = request_hash(&req);
    if let Some(r) = replayed(&st, &from, &key, &hash).await? {
        return Ok(r);
    }
    // The contents this request carries: every file without an upload, by SHA-256.
    let wanted: HashMap<String, u64> = req
        .destinations
        .iter()
        .flat_map(|d| &d.files)
        .filter(|f| f.upload.is_empty())
        .map(|f| (f.sha256.trim().to_ascii_lowercase(), f.size))
        .collect();
    // Each content read and checked, as a complete upload of the office (what the send's
    // check asks of a file), its bytes kept to be stored.
    let mut inline: HashMap<String, Upload> = HashMap::new();
    let mut files: Vec<(String, bytes::Bytes)> = Vec::new();
    while let Some(f) = form.next_field().await.map_err(form_error)? {
        if f.name() != Some(SEND_WHOLE_FILE_FIELD) {
            return Err(bad_form("ファイルでない部分があります"));
        }
        let sha = f
            .file_name()
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| wanted.contains_key(n) && !inline.contains_key(n))
            .ok_or_else(|| bad_form("送信内容にない、または重複したファイルがあります"))?;
        let bytes = f.bytes().await.map_err(form_error)?;
        let size = bytes.len() as u64;
        if Some(&size) != wanted.get(&sha) || auth::sha256_hex(&bytes) != sha {
            tracing::info!(office = %from, "send refused: bytes do not match the declared SHA-256");
            return Err(super::uploads::hash_refused());
        }
        let u = Upload {
            id: String::new(),
            office: from.clone(),
            size,
            sha256: sha.clone(),
            received: size,
            parts: Vec::new(),
            complete: true,
            csv_version: crate::blob::csv_version_of(&bytes),
            created_at: 0,
        };
        inline.insert(sha.clone(), u);
        files.push((sha, bytes));
    }
    let plan = validate_send(&st, &peer, req, &inline).await?;
    // One commit: the send counted against the office's rate, and the blob rows written
    // before their objects (`blob`'s rules), only when the send is within its rate.
    let blobs: Vec<(String, u64)> = files
        .iter()
        .map(|(sha, bytes)| (sha.clone(), bytes.len() as u64))
        .collect();
    if let Some(wait) = st
        .db
        .rate_hit_keeping(
            &format!("send:{from}"),
            now().unix_timestamp(),
            3600,
            st.cfg.limits.max_sends_per_hour,
            blobs,
        )
        .await?
    {
        tracing::info!(office = %from, "send quota reached");
        return Err(send_quota(wait));
    }
    // Every blob durable before the send that names it commits: in packs, all of them
    // with one flush shared with the other sends meanwhile; as files (packs off, S3) one
    // after another — with 50 clients, writing a send's three files at once (150 writes
    // and their fsyncs in flight) gave a worse p99 (docs/performance.md).
    st.blobs.put_all(files).await?;
    commit(&st, plan, key, from, hash).await
}

struct Plan {
    id: String,
    message: String,
    destinations: Vec<(String, String, Vec<NewFile>)>,
}

impl Plan {
    /// The send to store (its files are blobs already).
    fn into_send(self, key: String, from: String, request_hash: String) -> NewSend {
        NewSend {
            id: self.id,
            key,
            from,
            message: self.message,
            sent_at: now().unix_timestamp(),
            request_hash,
            destinations: self.destinations,
        }
    }
}

fn idempotency_conflict() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "E_IDEMPOTENCY_CONFLICT",
        "同じ送信番号（Idempotency-Key）で、前回と違う内容が送られました。新しい送信としてやり直してください。",
    )
}

/// Check a send; its files name complete uploads of the office, or (empty `upload`) one of
/// `inline`'s contents (by SHA-256: `POST /api/v1/send/whole`).
async fn validate_send(
    st: &AppState,
    peer: &Peer,
    req: SendRequest,
    inline: &HashMap<String, Upload>,
) -> ApiResult<Plan> {
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
    let not_before = now().unix_timestamp() - st.blobs.cfg.upload_ttl_secs;
    // Every upload the send names, in one query.
    let mut ids: Vec<&str> = req
        .destinations
        .iter()
        .flat_map(|d| d.files.iter().map(|f| f.upload.as_str()))
        .filter(|id| !id.is_empty())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let uploads = st
        .db
        .uploads_of(&ids, peer.office.as_str(), not_before)
        .await?;
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
            if let Err(e) = careplan_core::safe_name::check_transfer_name(&f.name, &st.attachments)
            {
                bad(&e.code, e.message);
                continue;
            }
            // One file on the receiver's (case-insensitive, normalising) file system.
            if !names.insert(careplan_core::safe_name::clash_key(&f.name)) {
                bad(
                    "E_DUPLICATE_FILE",
                    "同じ名前（大文字・小文字や全角・半角の違いだけのものを含む）のファイルが2回含まれています。名前を変えるか、どちらかを外してください。".into(),
                );
                continue;
            }
            let in_request = f.upload.is_empty();
            let upload = if in_request {
                inline.get(&f.sha256.trim().to_ascii_lowercase())
            } else {
                uploads.get(&f.upload)
            };
            let Some(upload) = upload else {
                let message = if in_request {
                    "ファイルの内容がこの送信に含まれていません。もう一度送信してください。"
                } else {
                    "ファイルのアップロードが見つかりません（期限切れの可能性があります）。もう一度送信してください。"
                };
                bad("E_UPLOAD_MISSING", message.into());
                continue;
            };
            if !upload.complete {
                bad(
                    "E_UPLOAD_INCOMPLETE",
                    "ファイルのアップロードが終わっていません。もう一度送信してください。".into(),
                );
                continue;
            }
            if upload.size != f.size || !upload.sha256.eq_ignore_ascii_case(f.sha256.trim()) {
                bad(
                    "E_UPLOAD_MISMATCH",
                    "ファイルの大きさまたはSHA-256がアップロードした内容と一致しません。もう一度送信してください。".into(),
                );
                continue;
            }
            if upload.size > lim.max_file_bytes {
                bad(
                    "E_FILE_TOO_LARGE",
                    format!(
                        "ファイルが大きすぎます（{}バイト）。1ファイル{}MiBまでです。",
                        upload.size,
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
                let csv_version = kind.is_csv().then(|| upload.csv_version.clone()).flatten();
                files.push(NewFile {
                    id: auth::new_id(),
                    name: f.name,
                    kind: Some(kind.prefix().to_owned()),
                    category: name.category.label().to_owned(),
                    csv_version,
                    sha256: upload.sha256.clone(),
                    size: upload.size,
                });
            } else {
                files.push(NewFile {
                    id: auth::new_id(),
                    name: f.name,
                    kind: None,
                    category: Category::Attachment.label().to_owned(),
                    csv_version: None,
                    sha256: upload.sha256.clone(),
                    size: upload.size,
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
