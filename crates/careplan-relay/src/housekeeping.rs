//! The relay's periodic work: the retention purge of transmissions and drafts, the sweep
//! of expired sessions, old login counters, rate windows and download nonces, and then the
//! blob sweep (expired upload sessions, and blobs no row names: rows first, blobs after).

use crate::handlers::AppState;

/// One round of housekeeping at Unix time `now`.
pub async fn once(st: &AppState, now: i64) {
    let lim = &st.cfg.limits;
    match st.db.purge(now - lim.retention_days * 86_400).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(transmissions = n, "retention purge"),
        Err(e) => tracing::error!(error = %e, "retention purge failed"),
    }
    match st
        .db
        .purge_drafts(now - lim.draft_retention_days * 86_400)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(drafts = n, "draft retention purge"),
        Err(e) => tracing::error!(error = %e, "draft retention purge failed"),
    }
    let sec = &st.cfg.security;
    match st
        .db
        .sweep(now, sec.session_absolute_hours * 3600, 86_400)
        .await
    {
        Ok(n) => tracing::debug!(rows = n, "sweep"),
        Err(e) => tracing::error!(error = %e, "sweep failed"),
    }
    match crate::blob::sweep(&st.db, &st.blobs, now).await {
        Ok((0, 0)) => {}
        Ok((uploads, blobs)) => tracing::info!(uploads, blobs, "blob sweep"),
        Err(e) => tracing::error!(error = %e, "blob sweep failed"),
    }
    // Swept blobs in packs leave dead bytes; packs more than half dead are rewritten.
    match st.blobs.compact().await {
        Ok(c) if c.packs == 0 => {}
        Ok(c) => tracing::info!(
            packs = c.packs,
            moved = c.moved,
            freed = c.freed,
            "packs compacted"
        ),
        Err(e) => tracing::error!(error = %e, "pack compaction failed"),
    }
}

/// Run [`once`] now and then every `every`, forever (abort the task to stop).
pub async fn run(st: AppState, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        once(&st, time::OffsetDateTime::now_utc().unix_timestamp()).await;
    }
}
