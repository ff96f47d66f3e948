//! Status, notices and the two lists.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use careplan_core::Category;
use careplan_core::wire::{
    Notice, ReceivedFile, ReceivedTransmission, SentDestination, SentFile, SentTransmission, Status,
};
use serde::Deserialize;

use super::{ApiResult, AppState, Peer, ts};

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

pub(super) async fn received(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<ReceivedTransmission>>> {
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

pub(super) async fn sent(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<SentTransmission>>> {
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
