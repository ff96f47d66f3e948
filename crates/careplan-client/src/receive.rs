//! データ受信: durable, never-overwriting, verified saving, then 済.
//!
//! For each requested file:
//! 1. check the name from the network with `check_transfer_name` (characters, device
//!    names, refused and not-allowed attachment types) before anything touches the disk;
//! 2. when the journal says it was already saved here and the saved file still has the
//!    announced SHA-256, do not write it again (only acknowledge if that was missed);
//! 3. stream the download into `<dir>/.careplan-<hash of id>.part` while hashing, flush,
//!    fsync; a wrong size or SHA-256 deletes the temporary file and reports the file;
//! 4. when a file of the same name (or `name (n).ext`) with the same SHA-256 is already in
//!    the folder (a crash between rename and journal), keep that one; otherwise link the
//!    temporary file into place under the first free name `name.ext`, `name (1).ext` …
//!    (never over an existing file), fsync the folder and, on Windows, give it the Mark of
//!    the Web (`Zone.Identifier`);
//! 5. write the journal record (flushed), acknowledge 済 to the relay, mark the record
//!    acknowledged and append the ledger entry (flushed).
//!
//! A process killed at any point leaves at most a `.part` file (removed by the next
//! receive of that file), never a partial file under the final name, and a retry neither
//! duplicates the file nor the 済.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::Digest;

use crate::client::Client;
use crate::error::ClientError;
use crate::fsutil::{self, TEMP_PREFIX, TEMP_SUFFIX};
use crate::model::{ReceivedFile, ReceivedTransmission};
use crate::store::{Direction, LedgerEntry, LedgerFile, ReceiveRecord};

/// One file saved (or found already saved) by a receive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedFile {
    /// The relay's file ID.
    pub id: String,
    /// The name announced by the relay.
    pub name: String,
    /// Where it is on disk (may carry a ` (n)` suffix).
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (verified).
    pub sha256: String,
    /// True when it was already saved by an earlier (interrupted) receive.
    pub already_saved: bool,
}

/// One file that could not be received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiveFailure {
    /// The relay's file ID.
    pub id: String,
    /// The file name when known.
    pub name: Option<String>,
    /// Stable code ([`ClientError::code`]).
    pub code: String,
    /// Japanese message.
    pub message: String,
}

/// The outcome of a receive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ReceiveReport {
    /// Saved and acknowledged files.
    pub saved: Vec<SavedFile>,
    /// Files not received (the others went on).
    pub failed: Vec<ReceiveFailure>,
}

/// Progress of a receive, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveProgress {
    /// Files finished (saved or failed) so far.
    pub done: usize,
    /// Files requested.
    pub total: usize,
    /// The file just finished.
    pub name: String,
}

/// Hidden test hook: pause this long after each written chunk (env
/// `CAREPLAN_TEST_SLOW_WRITE_MS`), so that tests can kill a receive mid-write.
fn slow_write() -> Option<std::time::Duration> {
    std::env::var("CAREPLAN_TEST_SLOW_WRITE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
}

fn temp_name(file_id: &str) -> String {
    format!(
        "{TEMP_PREFIX}{}{TEMP_SUFFIX}",
        &crate::sha256_hex(file_id.as_bytes())[..24]
    )
}

fn file_sha256(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(_) => return None,
        }
    }
    Some(hex::encode(h.finalize()))
}

/// A file with the same name (or a `(n)` variant) and the same content already in `dir`.
/// The acknowledgement proof of a saved file, read back from disk.
fn file_proof(path: &Path, nonce: &str) -> Result<String, ClientError> {
    let mut f = std::fs::File::open(path).map_err(|e| ClientError::io(path, e))?;
    let mut p = careplan_core::wire::AckProof::new(nonce);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let k = f.read(&mut buf).map_err(|e| ClientError::io(path, e))?;
        if k == 0 {
            return Ok(p.finish());
        }
        p.update(&buf[..k]);
    }
}

fn existing_copy(dir: &Path, name: &str, size: u64, sha: &str) -> Option<PathBuf> {
    for cand in fsutil::candidates(name, 1000) {
        let p = dir.join(&cand);
        match std::fs::metadata(&p) {
            Ok(m) => {
                if m.len() == size && file_sha256(&p).as_deref() == Some(sha) {
                    return Some(p);
                }
            }
            Err(_) => return None,
        }
    }
    None
}

impl Client {
    /// Receive every file not yet 済 into `dir`.
    pub fn receive_all(
        &self,
        dir: &Path,
        progress: &mut dyn FnMut(ReceiveProgress),
    ) -> Result<ReceiveReport, ClientError> {
        let list = self.fresh_received()?;
        let ids: Vec<String> = list
            .iter()
            .flat_map(|t| t.files.iter())
            .filter(|f| !f.acquired)
            .map(|f| f.id.clone())
            .collect();
        self.receive_from(&list, &ids, dir, progress)
    }

    /// Receive the files `file_ids` (from [`crate::ReceivedFile::id`]) into `dir`
    /// (created if missing). Files already 済 are received again when asked for (a new
    /// copy with a suffix if the folder has a different file of that name).
    /// The overall `Err` is for problems before any file (offline, not logged in, folder not
    /// writable); per-file problems are in [`ReceiveReport::failed`].
    pub fn receive(
        &self,
        file_ids: &[String],
        dir: &Path,
        progress: &mut dyn FnMut(ReceiveProgress),
    ) -> Result<ReceiveReport, ClientError> {
        let list = self.fresh_received()?;
        self.receive_from(&list, file_ids, dir, progress)
    }

    fn fresh_received(&self) -> Result<Vec<ReceivedTransmission>, ClientError> {
        let l = self.received()?;
        if l.offline {
            return Err(ClientError::Unreachable {
                url: self.relay_url().to_owned(),
                detail: "受信にはオンラインでのログインが必要です".into(),
            });
        }
        Ok(l.items)
    }

    fn receive_from(
        &self,
        list: &[ReceivedTransmission],
        file_ids: &[String],
        dir: &Path,
        progress: &mut dyn FnMut(ReceiveProgress),
    ) -> Result<ReceiveReport, ClientError> {
        std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
        let dir = &std::fs::canonicalize(dir).map_err(|e| ClientError::io(dir, e))?;
        let mut report = ReceiveReport::default();
        let total = file_ids.len();
        for (i, id) in file_ids.iter().enumerate() {
            let found = list
                .iter()
                .find_map(|t| t.files.iter().find(|f| &f.id == id).map(|f| (t, f)));
            let res = match found {
                None => Err(ClientError::NotFound {
                    what: format!("ファイル（ID: {id}）"),
                }),
                Some((t, f)) => self.receive_one(t, f, dir),
            };
            let name = found.map(|(_, f)| f.name.clone());
            match res {
                Ok(s) => report.saved.push(s),
                Err(e) => {
                    // Lost work is an error: say which file.
                    tracing::error!(file_id = %id, code = %e.code(), "receive failed");
                    report.failed.push(ReceiveFailure {
                        id: id.clone(),
                        name: name.clone(),
                        code: e.code(),
                        message: e.message_ja(),
                    });
                    if e.is_offline() || matches!(e, ClientError::SessionExpired) {
                        // The rest would fail the same way.
                        for rest in &file_ids[i + 1..] {
                            report.failed.push(ReceiveFailure {
                                id: rest.clone(),
                                name: None,
                                code: e.code(),
                                message: e.message_ja(),
                            });
                        }
                        progress(ReceiveProgress {
                            done: total,
                            total,
                            name: name.unwrap_or_default(),
                        });
                        return Ok(report);
                    }
                }
            }
            progress(ReceiveProgress {
                done: i + 1,
                total,
                name: name.unwrap_or_default(),
            });
        }
        Ok(report)
    }

    fn receive_one(
        &self,
        t: &ReceivedTransmission,
        f: &ReceivedFile,
        dir: &Path,
    ) -> Result<SavedFile, ClientError> {
        let policy = careplan_core::safe_name::AttachmentPolicy::default();
        careplan_core::safe_name::check_transfer_name(&f.name, &policy)
            .map_err(ClientError::UnsafeFileName)?;
        let store = &self.inner.store;
        let office = self.office().as_str().to_owned();
        let sha_expected = f.sha256.to_ascii_lowercase();

        // 2. Already saved here by an earlier run?
        if let Some(rec) = store.receive_record(&office, &f.id)?
            && rec.sha256 == sha_expected
            && rec.path.parent() == Some(dir)
            && file_sha256(&rec.path).as_deref() == Some(rec.sha256.as_str())
        {
            if !rec.acked || !f.acquired {
                self.ack_and_record(t, f, rec.clone(), None)?;
            }
            return Ok(SavedFile {
                id: f.id.clone(),
                name: f.name.clone(),
                path: rec.path,
                size: rec.size,
                sha256: rec.sha256,
                already_saved: true,
            });
        }

        // 3. Download into the temporary file, hashing while writing; a broken download
        //    continues with `Range` from the bytes already written.
        let tmp = dir.join(temp_name(&f.id));
        let _ = std::fs::remove_file(&tmp);
        let mut out = fsutil::create_new(&tmp, false)?;
        let written = self.download_into(f, &tmp, &mut out);
        let (size, sha, proof) = match written {
            Ok(x) => x,
            Err(e) => {
                drop(out);
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let synced = out
            .flush()
            .and_then(|()| out.sync_all())
            .map_err(|e| ClientError::io(&tmp, e));
        drop(out);
        if let Err(e) = synced {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if sha != sha_expected || (f.size != 0 && size != f.size) {
            let _ = std::fs::remove_file(&tmp);
            return Err(ClientError::Integrity {
                file: f.name.clone(),
            });
        }

        // 4. Into place, never over another file.
        let (path, already) = match existing_copy(dir, &f.name, size, &sha) {
            Some(p) => {
                let _ = std::fs::remove_file(&tmp);
                (p, true)
            }
            None => (fsutil::rename_no_clobber(&tmp, dir, &f.name)?, false),
        };
        fsutil::mark_from_internet(&path, self.relay_url());

        // 5. Journal, 済, ledger.
        let rec = ReceiveRecord {
            file_id: f.id.clone(),
            path: path.clone(),
            sha256: sha.clone(),
            size,
            acked: false,
        };
        store.put_receive_record_lazy(&office, &rec)?;
        self.ack_and_record(t, f, rec, Some(proof))?;
        Ok(SavedFile {
            id: f.id.clone(),
            name: f.name.clone(),
            path,
            size,
            sha256: sha,
            already_saved: already,
        })
    }

    /// Stream the file `f` into `out` (the temporary file `tmp`), hashing while writing.
    /// When the connection breaks after some bytes, the download continues from there with
    /// `Range: bytes=n-` (bounded retries; a relay that answers the whole file restarts
    /// it). The acknowledgement's proof is keyed with the last request's nonce, so on a
    /// resume the bytes already written are read back into it. Returns (size, SHA-256,
    /// (nonce, proof)).
    fn download_into(
        &self,
        f: &ReceivedFile,
        tmp: &Path,
        out: &mut std::fs::File,
    ) -> Result<(u64, String, (String, String)), ClientError> {
        let api = &self.inner.api;
        let slow = slow_write();
        let mut h = sha2::Sha256::new();
        let mut n: u64 = 0;
        let mut failures = 0u32;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let started = n;
            let res = self.with_session(|token| {
                let (nonce, partial, mut body) = api.download(token, &f.id, n)?;
                let mut proof = careplan_core::wire::AckProof::new(&nonce);
                if n > 0 && !partial {
                    // The relay sent the whole file: start again.
                    out.set_len(0).map_err(|e| ClientError::io(tmp, e))?;
                    out.seek(std::io::SeekFrom::Start(0))
                        .map_err(|e| ClientError::io(tmp, e))?;
                    h = sha2::Sha256::new();
                    n = 0;
                } else if n > 0 {
                    // Resumed: the proof covers the whole file with this request's nonce.
                    out.flush().map_err(|e| ClientError::io(tmp, e))?;
                    let mut r = std::fs::File::open(tmp).map_err(|e| ClientError::io(tmp, e))?;
                    let mut left = n;
                    while left > 0 {
                        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                        let k = r
                            .read(&mut buf[..want])
                            .map_err(|e| ClientError::io(tmp, e))?;
                        if k == 0 {
                            return Err(ClientError::io(
                                tmp,
                                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                            ));
                        }
                        proof.update(&buf[..k]);
                        left -= k as u64;
                    }
                }
                loop {
                    let k = body.read(&mut buf).map_err(|e| ClientError::Unreachable {
                        url: self.relay_url().to_owned(),
                        detail: e.to_string(),
                    })?;
                    if k == 0 {
                        break;
                    }
                    if f.size != 0 && n + k as u64 > f.size {
                        return Err(ClientError::Integrity {
                            file: f.name.clone(),
                        });
                    }
                    h.update(&buf[..k]);
                    proof.update(&buf[..k]);
                    out.write_all(&buf[..k])
                        .map_err(|e| ClientError::io(tmp, e))?;
                    n += k as u64;
                    if let Some(d) = slow {
                        out.flush().map_err(|e| ClientError::io(tmp, e))?;
                        std::thread::sleep(d);
                    }
                }
                Ok((nonce, proof.finish()))
            });
            match res {
                Ok(proof) => {
                    let sha = hex::encode(std::mem::take(&mut h).finalize());
                    return Ok((n, sha, proof));
                }
                Err(e) if e.is_offline() && (f.size == 0 || n < f.size) => {
                    if n > started {
                        failures = failures.min(1);
                    }
                    failures += 1;
                    if failures > 5 {
                        return Err(e);
                    }
                    tracing::debug!(file_id = %f.id, bytes = n, "download interrupted; resuming");
                    std::thread::sleep(std::time::Duration::from_millis(200 * u64::from(failures)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Acknowledge 済 with the proof of the download (`(nonce, proof)`); without one (the
    /// file was saved by an earlier run), ask for a nonce and prove the saved copy.
    fn ack_and_record(
        &self,
        t: &ReceivedTransmission,
        f: &ReceivedFile,
        mut rec: ReceiveRecord,
        proof: Option<(String, String)>,
    ) -> Result<(), ClientError> {
        let api = &self.inner.api;
        let receipt = self.with_session(|token| {
            let (nonce, proof) = match &proof {
                Some(p) => p.clone(),
                None => {
                    let nonce = api.ack_nonce(token, &f.id)?;
                    let proof = file_proof(&rec.path, &nonce)?;
                    (nonce, proof)
                }
            };
            api.ack(token, &f.id, &rec.sha256, &nonce, &proof)
        })?;
        rec.acked = true;
        let office = self.office().as_str().to_owned();
        let entry = LedgerEntry {
            seq: 0,
            at: crate::now(),
            direction: Direction::Receive,
            office: office.clone(),
            counterpart: t.sender_office.clone(),
            counterpart_name: Some(t.sender_name.clone()),
            transmission_id: t.id.clone(),
            message: t.message.clone(),
            files: vec![LedgerFile {
                name: f.name.clone(),
                size: rec.size,
                sha256: rec.sha256.clone(),
                saved_as: Some(rec.path.clone()),
            }],
            receipt,
            terminal: self.terminal_name().to_owned(),
        };
        let key = format!("recv:{}:{}", f.id, rec.path.display());
        self.inner
            .store
            .record_receive(&office, &rec, &key, entry)?;
        Ok(())
    }
}
