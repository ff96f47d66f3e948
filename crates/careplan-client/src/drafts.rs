//! 下書き: local first, synced to the relay when reachable, visible from every terminal of
//! the office.
//!
//! Sync rules ([`Client::sync_drafts`]):
//! - a local draft not yet on the relay (`Pending`) is uploaded, unless the relay holds a
//!   version of it saved LATER (by another terminal): then the relay's version wins under
//!   the draft's ID and the local version is kept as a new draft marked with a conflict note
//!   (nothing is lost);
//! - a local deletion (`PendingDelete`) is sent, unless the relay's version was saved after
//!   the local one (edited elsewhere meanwhile): then the relay's version comes back with a
//!   conflict note;
//! - relay drafts unknown here, or newer than the local synced copy, are downloaded;
//! - local synced drafts no longer on the relay were deleted elsewhere and are removed.

use serde::Serialize;

use crate::client::Client;
use crate::error::ClientError;
use crate::send::{OutgoingFile, SendMode, SendPlan};
use crate::store::{Draft, DraftFile, DraftSync};

/// What the user typed in 新規作成 when pressing 一時保存.
#[derive(Debug, Clone, Default)]
pub struct DraftInput {
    /// The draft being edited, or `None` for a new draft.
    pub id: Option<String>,
    /// メッセージ.
    pub message: String,
    /// 送信先事業所番号, when chosen or derived.
    pub to_office: Option<String>,
    /// The files.
    pub files: Vec<OutgoingFile>,
}

/// The outcome of a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DraftSyncReport {
    /// Drafts uploaded.
    pub uploaded: usize,
    /// Drafts downloaded or updated from the relay.
    pub downloaded: usize,
    /// Drafts deleted (here or on the relay).
    pub deleted: usize,
    /// Conflicts met, in Japanese (also set on the drafts concerned).
    pub conflicts: Vec<String>,
}

/// A draft's files as the relay lists them, as the local store keeps them.
fn local_files(files: &[careplan_core::wire::DraftFileInfo]) -> Vec<DraftFile> {
    files
        .iter()
        .map(|f| DraftFile {
            name: f.name.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
        })
        .collect()
}

impl Client {
    /// Save a draft locally (flushed before returning: it survives a crash right after),
    /// then try to sync it when logged in. Works offline: the draft stays `Pending`.
    pub fn save_draft(&self, input: DraftInput) -> Result<Draft, ClientError> {
        let store = &self.inner.store;
        let mut files = Vec::with_capacity(input.files.len());
        for f in &input.files {
            careplan_core::safe_name::check_transfer_name(
                &f.name,
                &careplan_core::safe_name::AttachmentPolicy::default(),
            )
            .map_err(ClientError::UnsafeFileName)?;
            let sha = store.put_draft_file(&f.bytes)?;
            files.push(DraftFile {
                name: f.name.clone(),
                size: f.bytes.len() as u64,
                sha256: sha,
            });
        }
        let d = Draft {
            id: input.id.unwrap_or_else(crate::new_key),
            office: self.office().as_str().to_owned(),
            saved_at: crate::now(),
            terminal: self.terminal_name().to_owned(),
            message: input.message,
            to_office: input.to_office,
            files,
            sync: DraftSync::Pending,
            conflict: None,
        };
        store.put_draft(&d)?;
        if self.is_logged_in() {
            match self.push_draft(&d) {
                Ok(Some(d2)) => return Ok(d2),
                // The relay holds a newer save: the next sync resolves it (nothing lost).
                Ok(None) => {}
                Err(e) if e.is_offline() => {}
                Err(e) => tracing::warn!(code = %e.code(), "draft saved locally, sync failed"),
            }
        }
        Ok(d)
    }

    /// Upload a draft; `None` when the relay holds a newer save of it.
    fn push_draft(&self, d: &Draft) -> Result<Option<Draft>, ClientError> {
        let store = &self.inner.store;
        let mut blobs = Vec::new();
        for f in &d.files {
            let bytes = store
                .draft_file(&f.sha256)?
                .ok_or_else(|| ClientError::NotFound {
                    what: format!("下書きのファイル「{}」", f.name),
                })?;
            blobs.push((f.clone(), bytes));
        }
        let api = &self.inner.api;
        if !self.with_session(|t| api.put_draft(t, d, &blobs))? {
            return Ok(None);
        }
        let mut d2 = d.clone();
        d2.sync = DraftSync::Synced;
        store.put_draft(&d2)?;
        Ok(Some(d2))
    }

    /// The drafts of our office known on this terminal (newest first), without pending
    /// deletions. No network: call [`Client::sync_drafts`] to refresh from the relay.
    pub fn drafts(&self) -> Result<Vec<Draft>, ClientError> {
        Ok(self
            .inner
            .store
            .drafts(self.office().as_str())?
            .into_iter()
            .filter(|d| d.sync != DraftSync::PendingDelete)
            .collect())
    }

    /// One draft.
    pub fn draft(&self, id: &str) -> Result<Draft, ClientError> {
        match self.inner.store.draft(id)? {
            Some(d) if d.office == self.office().as_str() && d.sync != DraftSync::PendingDelete => {
                Ok(d)
            }
            _ => Err(ClientError::NotFound {
                what: format!("下書き（ID: {id}）"),
            }),
        }
    }

    /// The files of a draft (to open it back into 新規作成).
    pub fn draft_files(&self, d: &Draft) -> Result<Vec<OutgoingFile>, ClientError> {
        d.files
            .iter()
            .map(|f| {
                let bytes = self.inner.store.draft_file(&f.sha256)?.ok_or_else(|| {
                    ClientError::NotFound {
                        what: format!("下書きのファイル「{}」", f.name),
                    }
                })?;
                Ok(OutgoingFile {
                    name: f.name.clone(),
                    bytes,
                })
            })
            .collect()
    }

    /// Delete a draft (削除): marked locally at once (flushed), removed from the relay when
    /// reachable.
    pub fn delete_draft(&self, id: &str) -> Result<(), ClientError> {
        let mut d = self.draft(id)?;
        d.sync = DraftSync::PendingDelete;
        self.inner.store.put_draft(&d)?;
        if self.is_logged_in() {
            let api = &self.inner.api;
            match self.with_session(|t| api.delete_draft(t, id)) {
                Ok(()) => self.inner.store.remove_draft(id)?,
                Err(e) if e.is_offline() => {}
                Err(ClientError::NotFound { .. }) => self.inner.store.remove_draft(id)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Validate a draft for sending to its office (新規作成 rules); send with
    /// [`Client::send`], then delete the draft with [`Client::delete_draft`].
    pub fn prepare_draft_send(&self, id: &str) -> Result<SendPlan, ClientError> {
        let d = self.draft(id)?;
        let files = self.draft_files(&d)?;
        let to = match &d.to_office {
            Some(o) => Some(careplan_core::OfficeNumber::parse(o).map_err(|e| {
                ClientError::Refused(crate::Refusal {
                    code: "E_OFFICE".into(),
                    message: e.to_finding().message,
                    files: vec![],
                    offices: vec![],
                })
            })?),
            None => None,
        };
        self.prepare_send(files, &d.message, &SendMode::Single { to })
    }

    /// Sync drafts with the relay (see the module rules). Needs a login.
    pub fn sync_drafts(&self) -> Result<DraftSyncReport, ClientError> {
        let store = &self.inner.store;
        let api = &self.inner.api;
        let office = self.office().as_str().to_owned();
        let remote = self.with_session(|t| api.drafts(t))?;
        let mut report = DraftSyncReport::default();
        let locals = store.drafts(&office)?;

        for l in &locals {
            let r = remote.iter().find(|r| r.id == l.id);
            match (l.sync, r) {
                (DraftSync::Pending, Some(r)) if r.saved_at > l.saved_at => {
                    // Both changed: the later one wins, the earlier is kept as a copy.
                    let mut copy = l.clone();
                    copy.id = crate::new_key();
                    let note = format!(
                        "競合: 端末「{}」でより新しく保存された下書きがあるため、この端末の変更を別の下書きとして残しました。",
                        r.terminal
                    );
                    copy.conflict = Some(note.clone());
                    store.put_draft(&copy)?;
                    if let Ok(Some(_)) = self.push_draft(&copy) {
                        report.uploaded += 1;
                    }
                    self.pull_draft(r, Some(note.clone()))?;
                    report.downloaded += 1;
                    report.conflicts.push(note);
                }
                (DraftSync::Pending, _) => {
                    if self.push_draft(l)?.is_some() {
                        report.uploaded += 1;
                    } else {
                        // Saved later elsewhere meanwhile: resolved at the next sync.
                        report
                            .conflicts
                            .push("別の端末でより新しく保存された下書きがあります。もう一度同期してください。".into());
                    }
                }
                (DraftSync::PendingDelete, Some(r)) if r.saved_at > l.saved_at => {
                    let note = format!(
                        "競合: 削除した下書きが端末「{}」で後から保存されていたため、削除を取り消しました。",
                        r.terminal
                    );
                    self.pull_draft(r, Some(note.clone()))?;
                    report.downloaded += 1;
                    report.conflicts.push(note);
                }
                (DraftSync::PendingDelete, r) => {
                    if r.is_some() {
                        match self.with_session(|t| api.delete_draft(t, &l.id)) {
                            Ok(()) | Err(ClientError::NotFound { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    store.remove_draft(&l.id)?;
                    report.deleted += 1;
                }
                (DraftSync::Synced, None) => {
                    store.remove_draft(&l.id)?;
                    report.deleted += 1;
                }
                (DraftSync::Synced, Some(r)) => {
                    if r.saved_at != l.saved_at
                        || local_files(&r.files) != l.files
                        || r.message != l.message
                    {
                        self.pull_draft(r, None)?;
                        report.downloaded += 1;
                    }
                }
            }
        }
        for r in &remote {
            if !locals.iter().any(|l| l.id == r.id) {
                self.pull_draft(r, None)?;
                report.downloaded += 1;
            }
        }
        Ok(report)
    }

    fn pull_draft(
        &self,
        r: &careplan_core::wire::DraftInfo,
        conflict: Option<String>,
    ) -> Result<(), ClientError> {
        let store = &self.inner.store;
        let api = &self.inner.api;
        for f in &r.files {
            if store.draft_file(&f.sha256)?.is_none() {
                let bytes = self.with_session(|t| api.draft_file(t, &r.id, &f.name))?;
                if crate::sha256_hex(&bytes) != f.sha256 {
                    return Err(ClientError::Integrity {
                        file: f.name.clone(),
                    });
                }
                store.put_draft_file(&bytes)?;
            }
        }
        store.put_draft(&Draft {
            id: r.id.clone(),
            office: self.office().as_str().to_owned(),
            saved_at: r.saved_at,
            terminal: r.terminal.clone(),
            message: r.message.clone(),
            to_office: r.to_office.clone(),
            files: local_files(&r.files),
            sync: DraftSync::Synced,
            conflict,
        })?;
        Ok(())
    }
}
