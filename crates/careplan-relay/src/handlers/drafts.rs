//! Drafts shared by the terminals of one office.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use careplan_core::wire::{DraftFileInfo, DraftInfo, DraftUpload};

use super::{ApiError, ApiResult, AppState, Peer, now, refused, ts};
use crate::mailbox::{DraftPut, DraftRow};

pub(super) async fn list(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> ApiResult<Json<Vec<DraftInfo>>> {
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

pub(super) async fn put(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
    Json(req): Json<DraftUpload>,
) -> ApiResult<Json<serde_json::Value>> {
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
    let not_before = now().unix_timestamp() - st.blobs.cfg.upload_ttl_secs;
    let mut meta = Vec::new();
    for f in req.files {
        careplan_core::safe_name::check_transfer_name(&f.name, &st.attachments)
            .map_err(|e| refused(&e.code, e.message, vec![], vec![]))?;
        let upload = st
            .db
            .upload(&f.upload, peer.office.as_str(), not_before)
            .await?
            .filter(|u| u.complete)
            .ok_or_else(|| {
                refused(
                    "E_UPLOAD_MISSING",
                    format!(
                        "{}: ファイルのアップロードが見つからないか終わっていません。もう一度保存してください。",
                        f.name
                    ),
                    vec![],
                    vec![],
                )
            })?;
        if upload.size != f.size || !upload.sha256.eq_ignore_ascii_case(f.sha256.trim()) {
            return Err(refused(
                "E_UPLOAD_MISMATCH",
                format!(
                    "{}: ファイルの大きさまたはSHA-256がアップロードした内容と一致しません。",
                    f.name
                ),
                vec![],
                vec![],
            ));
        }
        if upload.size > lim.max_file_bytes {
            return Err(refused(
                "E_FILE_TOO_LARGE",
                format!("{}: ファイルが大きすぎます。", f.name),
                vec![],
                vec![],
            ));
        }
        meta.push((
            f.name,
            i64::try_from(upload.size).unwrap_or(i64::MAX),
            upload.sha256,
        ));
    }
    // The relay's clock decides: a save stamped in the future would pin the draft (and
    // the patient data in it) forever.
    let row = DraftRow {
        id,
        saved_at: req.saved_at.unix_timestamp().min(now().unix_timestamp()),
        terminal: req.terminal.chars().take(64).collect(),
        message: req.message,
        to_office: req.to_office,
        files: meta,
    };
    match st
        .db
        .put_draft(
            peer.office.as_str(),
            &row,
            lim.max_drafts_per_office,
            lim.max_draft_bytes_per_office,
        )
        .await?
    {
        DraftPut::Stored => Ok(Json(serde_json::json!({}))),
        DraftPut::Conflict => Err(ApiError::new(
            StatusCode::CONFLICT,
            "E_DRAFT_CONFLICT",
            "別の端末でこの下書きがより新しく保存されています。下書き一覧を更新してください。",
        )),
        DraftPut::Quota => Err(refused(
            "E_DRAFT_QUOTA",
            format!(
                "下書きは1事業所あたり{}件・合計{}MiBまで保存できます。不要な下書きを削除してから保存してください。",
                lim.max_drafts_per_office,
                lim.max_draft_bytes_per_office / (1024 * 1024)
            ),
            vec![],
            vec![],
        )),
        DraftPut::BlobGone => Err(refused(
            "E_UPLOAD_MISSING",
            "ファイルのアップロードが期限切れです。もう一度保存してください。".into(),
            vec![],
            vec![],
        )),
    }
}

pub(super) async fn delete(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    check_draft_id(&id)?;
    st.db.delete_draft(peer.office.as_str(), &id).await?;
    Ok(Json(serde_json::json!({})))
}

pub(super) async fn file(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path((id, name)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_draft_id(&id)?;
    match st.db.draft_file(peer.office.as_str(), &id, &name).await? {
        Some((sha, size)) => super::mail::serve_blob(&st, &sha, size, &method, &headers).await,
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "E_NOT_FOUND",
            "下書きのファイルが見つかりません。",
        )),
    }
}
