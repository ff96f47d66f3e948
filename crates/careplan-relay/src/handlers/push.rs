//! `GET /api/v1/wait?since=<cursor>&timeout=<seconds>`: the long-poll for arrivals
//! (`crate::notify` explains the cursor, the hub and the bounds).
//!
//! Answers at once when the office's arrival cursor differs from `since` (or `since` is
//! missing), else when a send to the office commits (in this relay or, on PostgreSQL, in
//! any relay), when `timeout` passes (`arrived: false`, the same cursor) or when the relay
//! shuts down (the same). No body; no session touch (a waiting app is not a user at work,
//! so the session's idle time still ends it).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use careplan_core::wire::WaitAnswer;
use serde::Deserialize;

use super::{ApiError, ApiResult, AppState, Peer};
use crate::notify::Full;

/// The wait a client gets when it does not say (seconds).
pub const DEFAULT_WAIT_SECS: u64 = 25;

/// `?since=&timeout=`.
#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    since: Option<String>,
    timeout: Option<u64>,
}

fn bad_cursor() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "E_BAD_CURSOR",
        "到着の確認に使う値（since）が正しくありません。アプリを再起動してください。",
    )
}

fn full(f: Full) -> ApiError {
    let (status, code, what) = match f {
        Full::Relay => (
            StatusCode::SERVICE_UNAVAILABLE,
            "E_BUSY",
            "中継サーバで到着を待っている接続が多すぎます。",
        ),
        Full::Office => (
            StatusCode::TOO_MANY_REQUESTS,
            "E_TOO_MANY_WAITS",
            "この事業所から到着を待っている接続が多すぎます（同じ事業所で開いているアプリが多すぎます）。",
        ),
    };
    ApiError::new(
        status,
        code,
        format!("{what}しばらくしてから自動でもう一度試します。一覧は「更新」で取得できます。"),
    )
    .retrying(30)
}

pub(super) async fn wait(
    State(st): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Json<WaitAnswer>> {
    let office = peer.office.as_str();
    let since = match q.since.as_deref() {
        None | Some("") => None,
        Some(s) if s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.parse::<i64>().map_err(|_| bad_cursor())?)
        }
        Some(_) => return Err(bad_cursor()),
    };
    let hub = st.db.arrivals.clone();
    let Some(since) = since else {
        let cursor = st.db.arrival_cursor(office).await?;
        return Ok(Json(WaitAnswer {
            cursor: cursor.to_string(),
            arrived: true,
        }));
    };
    let secs = q
        .timeout
        .unwrap_or(DEFAULT_WAIT_SECS)
        .min(st.cfg.push.max_wait_secs);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    // Registered before the first read: a commit from here on wakes us.
    let mut waiter = hub.register(office).map_err(full)?;
    loop {
        if hub.is_closed() {
            break;
        }
        let cursor = st.db.arrival_cursor(office).await?;
        if cursor != since {
            return Ok(Json(WaitAnswer {
                cursor: cursor.to_string(),
                arrived: true,
            }));
        }
        tokio::select! {
            () = waiter.woken() => {}
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    Ok(Json(WaitAnswer {
        cursor: since.to_string(),
        arrived: false,
    }))
}
