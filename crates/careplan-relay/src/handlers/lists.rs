//! Status, notices and the two lists.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::{Extension, Json};
use careplan_core::Category;
use careplan_core::wire::{
    LIST_PAGE_DEFAULT, LIST_PAGE_MAX, NEXT_CURSOR_HEADER, Notice, ReceivedFile,
    ReceivedTransmission, SentDestination, SentFile, SentTransmission, Status,
};
use serde::Deserialize;

use super::{ApiError, ApiResult, AppState, Peer, ts};
use crate::mailbox::Cursor;

pub(super) async fn status(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> ApiResult<Json<Status>> {
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

pub(super) async fn notices(State(st): State<AppState>) -> ApiResult<Json<Vec<Notice>>> {
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

/// `?limit=&after=` of the lists: at most `limit` rows (default [`LIST_PAGE_DEFAULT`],
/// clamped to 1..=[`LIST_PAGE_MAX`]) after the opaque cursor `after` (from the
/// [`NEXT_CURSOR_HEADER`] of the previous page).
#[derive(Debug, Deserialize)]
pub struct Page {
    limit: Option<i64>,
    after: Option<String>,
}

impl Page {
    /// (rows, cursor); `max` is the relay's `limits.list_page_max`.
    fn get(&self, max: u32) -> Result<(i64, Option<Cursor>), ApiError> {
        let max = i64::from(max.clamp(1, LIST_PAGE_MAX));
        let limit = self
            .limit
            .unwrap_or(i64::from(LIST_PAGE_DEFAULT))
            .clamp(1, max);
        let after = match self.after.as_deref() {
            None | Some("") => None,
            Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "E_CURSOR",
                    "一覧の続きの位置が正しくありません。一覧を最初から読み直してください。",
                )
            })?),
        };
        Ok((limit, after))
    }
}

/// The headers of a page: the cursor of the next one, when there is one.
fn next_header(next: Option<&Cursor>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(c) = next
        && let Ok(v) = HeaderValue::from_str(&c.encode())
    {
        h.insert(NEXT_CURSOR_HEADER, v);
    }
    h
}

fn category(label: &str) -> Category {
    Category::from_label(label).unwrap_or(Category::Attachment)
}

pub(super) async fn received(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(page): Query<Page>,
) -> ApiResult<(HeaderMap, Json<Vec<ReceivedTransmission>>)> {
    let (limit, after) = page.get(st.cfg.limits.list_page_max)?;
    let page = st
        .db
        .received(peer.office.as_str(), limit, after.as_ref())
        .await?;
    Ok((
        next_header(page.next.as_ref()),
        Json(
            page.rows
                .into_iter()
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
        ),
    ))
}

pub(super) async fn sent(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(page): Query<Page>,
) -> ApiResult<(HeaderMap, Json<Vec<SentTransmission>>)> {
    let (limit, after) = page.get(st.cfg.limits.list_page_max)?;
    let page = st
        .db
        .sent(peer.office.as_str(), limit, after.as_ref())
        .await?;
    let mut out: Vec<SentTransmission> = Vec::new();
    for (t, files) in page.rows {
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
    Ok((next_header(page.next.as_ref()), Json(out)))
}
