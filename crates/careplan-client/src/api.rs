//! The relay's HTTP/JSON endpoints (`docs/protocol.md`, types in `careplan_core::wire`,
//! which the lists return as they are), with typed errors.

use std::collections::BTreeMap;
use std::io::Read;

use careplan_core::wire;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ClientError, FileProblem, OfficeProblem, Refusal};
use crate::model::{LoginInfo, Notice, ReceivedTransmission, SentTransmission, WaitAnswer};
use crate::relay::{Answer, Http, RelayErrorBody};
use crate::send::SendPlan;
use crate::store::{Draft, DraftFile};

pub(crate) struct Api {
    pub(crate) http: Http,
}

/// The relay's receipt of a send.
pub(crate) struct Accepted {
    pub(crate) send_id: String,
    pub(crate) ids: Vec<String>,
    pub(crate) accepted_at: time::OffsetDateTime,
}

/// Uploads of one send or draft in flight at once ([`Api::upload_all`]): a few connections
/// per office, well inside the relay's per-peer limit.
pub(crate) const PARALLEL_UPLOADS: usize = 4;

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

/// Error codes of a refused send (HTTP 422 with details).
fn refusal(e: RelayErrorBody) -> Refusal {
    let d: wire::ErrorDetails = serde_json::from_value(e.details).unwrap_or_default();
    Refusal {
        code: e.code,
        message: e.message,
        files: d
            .files
            .into_iter()
            .map(|f| FileProblem {
                file: f.file,
                findings: vec![careplan_core::Finding::error(&f.code, f.message)],
            })
            .collect(),
        offices: d
            .offices
            .into_iter()
            .map(|o| OfficeProblem {
                office: o.office,
                code: o.code,
                message: o.message,
            })
            .collect(),
    }
}

/// The nonce of a download answer ("" when the relay sent none: the acknowledgement will
/// then be refused with a clear message).
fn ack_nonce(r: &ureq::http::Response<ureq::Body>) -> String {
    r.headers()
        .get(wire::ACK_NONCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn urlenc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Api {
    fn map_err(&self, status: u16, e: RelayErrorBody) -> ClientError {
        match (status, e.code.as_str()) {
            (401, _) | (_, "E_SESSION") => ClientError::SessionExpired,
            (404, _) => ClientError::NotFound {
                what: if e.message.is_empty() {
                    "対象".into()
                } else {
                    e.message
                },
            },
            (422, _) => ClientError::Refused(refusal(e)),
            _ => ClientError::Relay {
                status,
                message: if e.message.is_empty() {
                    format!("HTTP {status}")
                } else {
                    e.message
                },
                code: e.code,
            },
        }
    }

    fn login_err(
        &self,
        step: &'static str,
        user: &str,
        status: u16,
        e: RelayErrorBody,
    ) -> ClientError {
        match e.code.as_str() {
            "E_LOCKED" => ClientError::AccountLocked { message: e.message },
            "E_PASSWORD_EXPIRED" | "E_PASSWORD_CHANGE_REQUIRED" => {
                ClientError::PasswordChangeRequired
            }
            "E_OFFICE_MISMATCH" => ClientError::OfficeMismatch {
                cert_office: String::new(),
                user_office: user.to_owned(),
            },
            "E_PASSWORD_POLICY" => ClientError::Refused(refusal(e)),
            _ if status == 401 && e.code != "E_SESSION" || status == 400 => {
                ClientError::LoginFailed {
                    step,
                    message: if e.message.is_empty() {
                        "IDまたはパスワードが違います。入力し直してください。".into()
                    } else {
                        e.message
                    },
                }
            }
            _ => self.map_err(status, e),
        }
    }

    fn call(
        &self,
        method: &str,
        token: Option<&str>,
        path: &str,
        body: Option<Vec<u8>>,
        extra: &[(&str, String)],
    ) -> Result<Result<ureq::http::Response<ureq::Body>, (u16, RelayErrorBody)>, ClientError> {
        let mut headers: Vec<(&str, String)> = extra.to_vec();
        if let Some(t) = token {
            headers.push(bearer(t));
        }
        match self
            .http
            .request(method, path, &headers, body.as_deref(), "application/json")?
        {
            Answer::Ok(r) => Ok(Ok(r)),
            Answer::Err(s, e) => Ok(Err((s, e))),
        }
    }

    fn get<T: DeserializeOwned>(&self, token: &str, path: &str) -> Result<T, ClientError> {
        match self.call("GET", Some(token), path, None, &[])? {
            Ok(r) => self.http.json(r),
            Err((s, e)) => Err(self.map_err(s, e)),
        }
    }

    /// Every page of a list (`?limit=&after=`, `docs/protocol.md`), following the relay's
    /// next-page cursor. A relay that does not page answers the whole list at once, without
    /// a cursor. A cursor seen twice (a broken relay) ends the walk instead of looping.
    fn get_all<T: DeserializeOwned>(&self, token: &str, path: &str) -> Result<Vec<T>, ClientError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut p = format!("{path}?limit={}", wire::LIST_PAGE_MAX);
            if let Some(a) = &after {
                p.push_str("&after=");
                p.push_str(&urlenc(a));
            }
            let resp = match self.call("GET", Some(token), &p, None, &[])? {
                Ok(r) => r,
                Err((s, e)) => return Err(self.map_err(s, e)),
            };
            let next = resp
                .headers()
                .get(wire::NEXT_CURSOR_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let page: Vec<T> = self.http.json(resp)?;
            let empty = page.is_empty();
            out.extend(page);
            match next {
                Some(c) if !empty && seen.insert(c.clone()) => after = Some(c),
                _ => return Ok(out),
            }
        }
    }

    fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        token: Option<&str>,
        path: &str,
        body: &B,
        extra: &[(&str, String)],
    ) -> Result<Result<T, (u16, RelayErrorBody)>, ClientError> {
        let body = Http::to_json(body)?;
        match self.call(method, token, path, Some(body), extra)? {
            Ok(r) => Ok(Ok(self.http.json(r)?)),
            Err(x) => Ok(Err(x)),
        }
    }

    pub(crate) fn login_personal(&self, user: &str, password: &str) -> Result<String, ClientError> {
        let req = wire::LoginRequest {
            user_id: user.to_owned(),
            password: password.to_owned(),
        };
        let r: Result<wire::TokenResponse, _> =
            self.send_json("POST", None, "/api/v1/login/personal", &req, &[])?;
        r.map(|r| r.token)
            .map_err(|(s, e)| self.login_err("personal", user, s, e))
    }

    pub(crate) fn login_office(
        &self,
        personal: &str,
        user: &str,
        password: &str,
    ) -> Result<(String, LoginInfo), ClientError> {
        let req = wire::LoginRequest {
            user_id: user.to_owned(),
            password: password.to_owned(),
        };
        let r: Result<wire::SessionResponse, _> =
            self.send_json("POST", Some(personal), "/api/v1/login/office", &req, &[])?;
        r.map(|r| {
            (
                r.token,
                LoginInfo {
                    office: r.office,
                    office_name: r.office_name,
                    licence_expires_at: r.licence_expires_at,
                    password_expires_at: r.password_expires_at,
                },
            )
        })
        .map_err(|(s, e)| self.login_err("office", user, s, e))
    }

    pub(crate) fn change_password(
        &self,
        token: &str,
        user: &str,
        old: &str,
        new: &str,
    ) -> Result<(), ClientError> {
        let req = wire::ChangePasswordRequest {
            user_id: user.to_owned(),
            old_password: old.to_owned(),
            new_password: new.to_owned(),
        };
        let r: Result<serde_json::Value, _> =
            self.send_json("POST", Some(token), "/api/v1/password", &req, &[])?;
        r.map(|_| ())
            .map_err(|(s, e)| self.login_err("office", user, s, e))
    }

    pub(crate) fn logout(&self, token: &str) -> Result<(), ClientError> {
        let _: Result<serde_json::Value, _> = self.send_json(
            "POST",
            Some(token),
            "/api/v1/logout",
            &serde_json::json!({}),
            &[],
        )?;
        Ok(())
    }

    pub(crate) fn notices(&self, token: &str) -> Result<Vec<Notice>, ClientError> {
        self.get(token, "/api/v1/notices")
    }

    pub(crate) fn received(&self, token: &str) -> Result<Vec<ReceivedTransmission>, ClientError> {
        self.get_all(token, "/api/v1/received")
    }

    pub(crate) fn sent(&self, token: &str) -> Result<Vec<SentTransmission>, ClientError> {
        self.get_all(token, "/api/v1/sent")
    }

    /// The long-poll for arrivals (one try: the caller backs off; no retry loop here).
    pub(crate) fn wait(
        &self,
        token: &str,
        since: Option<&str>,
        timeout_secs: u64,
    ) -> Result<WaitAnswer, ClientError> {
        let mut path = format!("/api/v1/wait?timeout={timeout_secs}");
        if let Some(c) = since {
            path.push_str("&since=");
            path.push_str(&urlenc(c));
        }
        let headers = [bearer(token)];
        match self.http.request_once("GET", &path, &headers)? {
            Answer::Ok(r) => self.http.json(r),
            Answer::Err(s, e) => Err(self.map_err(s, e)),
        }
    }

    /// Start a download at byte `from` (a `Range` request when `from > 0`): the nonce for
    /// the acknowledgement's proof, whether the answer starts at `from` (`206`; `false`
    /// means the relay sent the whole file), and the body as a stream.
    pub(crate) fn download(
        &self,
        token: &str,
        file_id: &str,
        from: u64,
    ) -> Result<(String, bool, impl Read), ClientError> {
        let path = format!("/api/v1/files/{}", urlenc(file_id));
        let range = [("Range", format!("bytes={from}-"))];
        let extra: &[(&str, String)] = if from > 0 { &range } else { &[] };
        match self.call("GET", Some(token), &path, None, extra)? {
            Ok(r) => {
                let partial = r.status().as_u16() == 206;
                Ok((ack_nonce(&r), partial, Http::reader(r)))
            }
            Err((s, e)) => Err(self.map_err(s, e)),
        }
    }

    /// A nonce for the acknowledgement of a file already saved (after a crash between
    /// saving and acknowledging), without downloading it again.
    pub(crate) fn ack_nonce(&self, token: &str, file_id: &str) -> Result<String, ClientError> {
        let path = format!("/api/v1/files/{}", urlenc(file_id));
        match self.call("HEAD", Some(token), &path, None, &[])? {
            Ok(r) => Ok(ack_nonce(&r)),
            Err((s, e)) => Err(self.map_err(s, e)),
        }
    }

    /// Acknowledge 済; returns the receipt text for the ledger.
    pub(crate) fn ack(
        &self,
        token: &str,
        file_id: &str,
        sha256: &str,
        nonce: &str,
        proof: &str,
    ) -> Result<String, ClientError> {
        let path = format!("/api/v1/files/{}/ack", urlenc(file_id));
        let req = wire::AckRequest {
            sha256: sha256.to_owned(),
            nonce: nonce.to_owned(),
            proof: proof.to_owned(),
        };
        let r: Result<wire::AckResponse, _> =
            self.send_json("POST", Some(token), &path, &req, &[])?;
        match r {
            Ok(a) => Ok(format!(
                "取得済 {} ファイルID {}",
                crate::ledger::jst(a.acquired_at),
                a.id
            )),
            Err((409, e)) if e.code == "E_HASH_MISMATCH" => Err(ClientError::Integrity {
                file: file_id.to_owned(),
            }),
            Err((s, e)) => Err(self.map_err(s, e)),
        }
    }

    /// Upload one file's bytes (`docs/protocol.md`, "Files as streams"). A small file (every
    /// care-plan CSV) goes whole in one request; otherwise, or when that one request
    /// cannot be made (an older relay, a broken line): open an upload session with the
    /// size and SHA-256, then stream the bytes with `PUT`; when the connection breaks, ask
    /// the relay for its offset and continue from there (bounded retries). Returns the
    /// reference to name in a send or draft.
    pub(crate) fn upload(
        &self,
        token: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<wire::FileRef, ClientError> {
        let sha256 = crate::sha256_hex(bytes);
        let file_ref = |st: wire::UploadState| wire::FileRef {
            name: name.to_owned(),
            upload: st.id,
            sha256: sha256.clone(),
            size: bytes.len() as u64,
        };
        if !bytes.is_empty() && bytes.len() as u64 <= wire::WHOLE_UPLOAD_MAX {
            let path = format!("/api/v1/uploads/whole/{sha256}");
            match self.http.once_path(
                "PUT",
                &path,
                &[bearer(token)],
                Some(bytes),
                "application/octet-stream",
            ) {
                Ok(Answer::Ok(r)) => {
                    let st: wire::UploadState = self.http.json(r)?;
                    if st.complete {
                        return Ok(file_ref(st));
                    }
                }
                // An older relay without it; a relay or line that failed this time: the
                // resumable upload below (with its retries).
                Ok(Answer::Err(404 | 405 | 502 | 503 | 504, _)) => {}
                Ok(Answer::Err(400, e)) if e.code == "E_BODY_BROKEN" => {}
                Ok(Answer::Err(s, e)) => return Err(self.upload_err(s, e)),
                Err(e) if Http::retryable(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let req = wire::UploadRequest {
            size: bytes.len() as u64,
            sha256: sha256.clone(),
        };
        let mut st: wire::UploadState = self
            .send_json("POST", Some(token), "/api/v1/uploads", &req, &[])?
            .map_err(|(s, e)| self.upload_err(s, e))?;
        let path = format!("/api/v1/uploads/{}", urlenc(&st.id));
        let mut failures = 0;
        while !st.complete {
            let off = usize::try_from(st.offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let headers = [bearer(token), (wire::UPLOAD_OFFSET_HEADER, off.to_string())];
            let res = self.http.once_path(
                "PUT",
                &path,
                &headers,
                Some(&bytes[off..]),
                "application/octet-stream",
            );
            let broke = match res {
                Ok(Answer::Ok(r)) => {
                    st = self.http.json(r)?;
                    continue;
                }
                // Another offset than ours, or a body the relay saw break: ask where to go on.
                Ok(Answer::Err(409 | 400, e))
                    if e.code == "E_UPLOAD_OFFSET" || e.code == "E_BODY_BROKEN" =>
                {
                    None
                }
                Ok(Answer::Err(s, e)) if s == 502 || s == 503 || s == 504 => {
                    Some(self.map_err(s, e))
                }
                Ok(Answer::Err(s, e)) => return Err(self.upload_err(s, e)),
                Err(e) if Http::retryable(&e) => Some(e),
                Err(e) => return Err(e),
            };
            if let Some(e) = broke {
                failures += 1;
                if failures > self.http.retries() {
                    return Err(e);
                }
                tracing::debug!(attempt = failures, "upload interrupted; resuming");
                std::thread::sleep(self.http.backoff(failures));
            }
            let before = st.offset;
            st = self.get(token, &path)?;
            if st.offset > before {
                // Progress: a flaky line gets its retries back.
                failures = failures.min(1);
            }
        }
        Ok(file_ref(st))
    }

    /// Upload `files` (name, bytes), up to [`PARALLEL_UPLOADS`] at a time, each as
    /// [`Api::upload`] does; their references in the same order. On an office line each
    /// upload waits a round trip or more for the relay's answer (its bytes are durable
    /// before it answers), so a 3-file send waits for one such answer instead of three.
    /// After a failure no further upload starts; the first failure (in file order) is
    /// returned.
    pub(crate) fn upload_all(
        &self,
        token: &str,
        files: &[(&str, &[u8])],
    ) -> Result<Vec<wire::FileRef>, ClientError> {
        if files.len() <= 1 {
            return files
                .iter()
                .map(|(name, bytes)| self.upload(token, name, bytes))
                .collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let done: Vec<std::sync::Mutex<Option<Result<wire::FileRef, ClientError>>>> =
            files.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|sc| {
            for _ in 0..files.len().min(PARALLEL_UPLOADS) {
                sc.spawn(|| {
                    use std::sync::atomic::Ordering::SeqCst;
                    while !failed.load(SeqCst) {
                        let i = next.fetch_add(1, SeqCst);
                        let Some((name, bytes)) = files.get(i) else {
                            break;
                        };
                        let r = self.upload(token, name, bytes);
                        if r.is_err() {
                            failed.store(true, SeqCst);
                        }
                        if let Ok(mut slot) = done[i].lock() {
                            *slot = Some(r);
                        }
                    }
                });
            }
        });
        let mut refs = Vec::with_capacity(files.len());
        for (slot, (name, bytes)) in done.into_iter().zip(files) {
            match slot.into_inner().ok().flatten() {
                Some(r) => refs.push(r?),
                // Never started: only after a failure, which comes first in file order.
                None => refs.push(self.upload(token, name, bytes)?),
            }
        }
        Ok(refs)
    }

    fn upload_err(&self, status: u16, e: RelayErrorBody) -> ClientError {
        if status == 400 || status == 413 || status == 422 {
            ClientError::Refused(refusal(e))
        } else {
            self.map_err(status, e)
        }
    }

    pub(crate) fn send(&self, token: &str, plan: &SendPlan) -> Result<Accepted, ClientError> {
        // Each file once, even when several destinations get it.
        let mut order: Vec<usize> = Vec::new();
        for g in &plan.groups {
            for &i in &g.files {
                if plan.files.get(i).is_some() && !order.contains(&i) {
                    order.push(i);
                }
            }
        }
        if let Some(r) = self.send_whole(token, plan, &order)? {
            return r;
        }
        let files: Vec<(&str, &[u8])> = order
            .iter()
            .map(|&i| (plan.files[i].name.as_str(), plan.files[i].bytes.as_slice()))
            .collect();
        let refs: BTreeMap<usize, wire::FileRef> = order
            .into_iter()
            .zip(self.upload_all(token, &files)?)
            .collect();
        let r: Result<wire::SendResponse, _> = self.send_json(
            "POST",
            Some(token),
            "/api/v1/send",
            &send_request(plan, &refs),
            &[("Idempotency-Key", plan.key.clone())],
        )?;
        self.accepted(r)
    }

    fn accepted(
        &self,
        r: Result<wire::SendResponse, (u16, RelayErrorBody)>,
    ) -> Result<Accepted, ClientError> {
        match r {
            Ok(r) => Ok(Accepted {
                send_id: r.send_id,
                ids: r.ids,
                accepted_at: r.accepted_at,
            }),
            Err((s, e)) if s == 400 || s == 413 || s == 422 => {
                Err(ClientError::Refused(refusal(e)))
            }
            Err((s, e)) => Err(self.map_err(s, e)),
        }
    }

    /// The send and its files' bytes in one request (`POST /api/v1/send/whole`,
    /// `docs/protocol.md`), when every file is small (at most `wire::WHOLE_UPLOAD_MAX`) and
    /// the whole body fits `wire::SEND_WHOLE_MAX`: one round trip for the whole send on an
    /// office line. `None` when the send does not fit, or when the relay cannot take it this
    /// way (an older relay: `404`/`405`; a body it saw break or could not read): the caller
    /// then uploads the files and sends (the same idempotency key: a send the relay stored
    /// but whose answer was lost is answered from its receipt).
    fn send_whole(
        &self,
        token: &str,
        plan: &SendPlan,
        order: &[usize],
    ) -> Result<Option<Result<Accepted, ClientError>>, ClientError> {
        let small = |b: &[u8]| !b.is_empty() && b.len() as u64 <= wire::WHOLE_UPLOAD_MAX;
        if order.iter().any(|&i| !small(&plan.files[i].bytes)) {
            return Ok(None);
        }
        // Each file's reference with an empty upload (its bytes are in this request), and
        // each content once.
        let mut refs: BTreeMap<usize, wire::FileRef> = BTreeMap::new();
        let mut contents: BTreeMap<String, &[u8]> = BTreeMap::new();
        for &i in order {
            let f = &plan.files[i];
            let sha256 = crate::sha256_hex(&f.bytes);
            contents.insert(sha256.clone(), &f.bytes);
            refs.insert(
                i,
                wire::FileRef {
                    name: f.name.clone(),
                    upload: String::new(),
                    sha256,
                    size: f.bytes.len() as u64,
                },
            );
        }
        let json = Http::to_json(&send_request(plan, &refs))?;
        let Some((content_type, body)) = whole_send_body(&json, &contents) else {
            return Ok(None);
        };
        let headers = [bearer(token), ("Idempotency-Key", plan.key.clone())];
        // Retried as every send is (same body, same idempotency key).
        let answer = self.http.request(
            "POST",
            "/api/v1/send/whole",
            &headers,
            Some(&body),
            &content_type,
        )?;
        match answer {
            Answer::Ok(r) => Ok(Some(self.accepted(Ok(self.http.json(r)?)))),
            // An older relay; a body it saw break, could not read or would not take whole;
            // no room for it now (`503 E_BUSY`, answered at once, never retried); bytes it
            // read differently from ours: the files go as uploads instead, which stream.
            Answer::Err(400 | 404 | 405 | 411 | 413 | 415, _) => Ok(None),
            Answer::Err(503, e) if e.code == "E_BUSY" => Ok(None),
            Answer::Err(422, e) if e.code == "E_UPLOAD_HASH" => Ok(None),
            Answer::Err(s, e) => Ok(Some(self.accepted(Err((s, e))))),
        }
    }

    pub(crate) fn drafts(&self, token: &str) -> Result<Vec<wire::DraftInfo>, ClientError> {
        self.get(token, "/api/v1/drafts")
    }

    /// Upload a draft. `Ok(false)` when the relay holds a newer save (conflict).
    pub(crate) fn put_draft(
        &self,
        token: &str,
        d: &Draft,
        files: &[(DraftFile, Vec<u8>)],
    ) -> Result<bool, ClientError> {
        let named: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(f, bytes)| (f.name.as_str(), bytes.as_slice()))
            .collect();
        let refs = self.upload_all(token, &named)?;
        let req = wire::DraftUpload {
            saved_at: d.saved_at,
            terminal: d.terminal.clone(),
            message: d.message.clone(),
            to_office: d.to_office.clone(),
            files: refs,
        };
        let path = format!("/api/v1/drafts/{}", urlenc(&d.id));
        let r: Result<serde_json::Value, _> =
            self.send_json("PUT", Some(token), &path, &req, &[])?;
        match r {
            Ok(_) => Ok(true),
            Err((409, e)) if e.code == "E_DRAFT_CONFLICT" => Ok(false),
            Err((s, e)) => Err(self.map_err(s, e)),
        }
    }

    pub(crate) fn delete_draft(&self, token: &str, id: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/drafts/{}", urlenc(id));
        match self.call("DELETE", Some(token), &path, None, &[])? {
            Ok(_) => Ok(()),
            Err((s, e)) => Err(self.map_err(s, e)),
        }
    }

    pub(crate) fn draft_file(
        &self,
        token: &str,
        id: &str,
        name: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let path = format!("/api/v1/drafts/{}/files/{}", urlenc(id), urlenc(name));
        match self.call("GET", Some(token), &path, None, &[])? {
            Ok(r) => {
                let mut buf = Vec::new();
                Http::reader(r)
                    .read_to_end(&mut buf)
                    .map_err(|e| ClientError::Unreachable {
                        url: self.http.base().to_owned(),
                        detail: e.to_string(),
                    })?;
                Ok(buf)
            }
            Err((s, e)) => Err(self.map_err(s, e)),
        }
    }
}

/// The send request of `plan`, each destination's files as `refs` name them (by index in
/// `plan.files`).
fn send_request(plan: &SendPlan, refs: &BTreeMap<usize, wire::FileRef>) -> wire::SendRequest {
    wire::SendRequest {
        message: plan.message.clone(),
        destinations: plan
            .groups
            .iter()
            .map(|g| wire::SendDestination {
                office: g.to_office.clone(),
                files: g
                    .files
                    .iter()
                    .filter_map(|i| refs.get(i).cloned())
                    .collect(),
            })
            .collect(),
    }
}

/// The `multipart/form-data` body of `POST /api/v1/send/whole`: the request (JSON), then
/// each content (by SHA-256) once, named by its SHA-256; `None` when it would exceed
/// `wire::SEND_WHOLE_MAX`. The boundary is random (128 bits): bytes that happen to hold it
/// would be read wrongly by the relay, fail its SHA-256 check, and the send goes as uploads.
fn whole_send_body(json: &[u8], contents: &BTreeMap<String, &[u8]>) -> Option<(String, Vec<u8>)> {
    let boundary = format!("careplan-{}", crate::new_key());
    let total = json.len() + contents.values().map(|b| b.len() + 256).sum::<usize>() + 512;
    if total as u64 > wire::SEND_WHOLE_MAX {
        return None;
    }
    let mut body = Vec::with_capacity(total);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\nContent-Type: application/json\r\n\r\n",
            wire::SEND_WHOLE_REQUEST_FIELD
        )
        .as_bytes(),
    );
    body.extend_from_slice(json);
    for (sha, bytes) in contents {
        body.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{sha}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                wire::SEND_WHOLE_FILE_FIELD
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Some((format!("multipart/form-data; boundary={boundary}"), body))
}
