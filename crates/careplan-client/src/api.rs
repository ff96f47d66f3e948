//! The relay's HTTP/JSON endpoints (see `docs/protocol.md`), mapped onto the client's
//! model types. PROVISIONAL until the relay's protocol lands.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::drafts::RemoteDraft;
use crate::error::{ClientError, FileProblem, OfficeProblem, Refusal};
use crate::model::{LoginInfo, Notice, ReceivedTransmission, SentTransmission};
use crate::relay::{Answer, Http, RelayErrorBody};
use crate::send::SendPlan;
use crate::store::{Draft, DraftFile};

pub(crate) struct Api {
    pub(crate) http: Http,
}

pub(crate) struct Accepted {
    pub(crate) ids: Vec<String>,
    pub(crate) accepted_at: time::OffsetDateTime,
}

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

impl Api {
    fn map_err(&self, status: u16, e: RelayErrorBody) -> ClientError {
        let message = if e.message.is_empty() {
            format!("HTTP {status}")
        } else {
            e.message.clone()
        };
        match (status, e.code.as_str()) {
            (401, _) => ClientError::SessionExpired,
            (404, _) => ClientError::NotFound { what: message },
            _ => ClientError::Relay {
                status,
                code: e.code,
                message,
            },
        }
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, token: &str, path: &str) -> Result<T, ClientError> {
        match self.http.request("GET", path, &[bearer(token)], None, "")? {
            Answer::Ok(r) => self.http.json(r),
            Answer::Err(s, e) => Err(self.map_err(s, e)),
        }
    }

    fn post<B: Serialize, T: for<'de> Deserialize<'de>>(
        &self,
        token: Option<&str>,
        path: &str,
        body: &B,
        extra: &[(&str, String)],
    ) -> Result<Result<T, (u16, RelayErrorBody)>, ClientError> {
        let mut headers: Vec<(&str, String)> = extra.to_vec();
        if let Some(t) = token {
            headers.push(bearer(t));
        }
        let body = Http::to_json(body)?;
        match self
            .http
            .request("POST", path, &headers, Some(&body), "application/json")?
        {
            Answer::Ok(r) => Ok(Ok(self.http.json(r)?)),
            Answer::Err(s, e) => Ok(Err((s, e))),
        }
    }

    pub(crate) fn login_personal(&self, user: &str, password: &str) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct R {
            token: String,
        }
        let r: Result<R, _> = self.post(
            None,
            "/api/v1/login/personal",
            &serde_json::json!({"user_id": user, "password": password}),
            &[],
        )?;
        r.map(|r| r.token)
            .map_err(|(s, e)| self.login_err("personal", s, e))
    }

    fn login_err(&self, step: &'static str, status: u16, e: RelayErrorBody) -> ClientError {
        match e.code.as_str() {
            "E_LOCKED" | "ACCOUNT_LOCKED" => ClientError::AccountLocked { message: e.message },
            "E_PASSWORD_EXPIRED" | "E_PASSWORD_CHANGE_REQUIRED" | "PASSWORD_CHANGE_REQUIRED" => {
                ClientError::PasswordChangeRequired
            }
            _ if status == 401 || status == 403 => ClientError::LoginFailed {
                step,
                message: if e.message.is_empty() {
                    "IDまたはパスワードが違います。".into()
                } else {
                    e.message
                },
            },
            _ => self.map_err(status, e),
        }
    }

    pub(crate) fn login_office(
        &self,
        personal: &str,
        user: &str,
        password: &str,
    ) -> Result<(String, LoginInfo), ClientError> {
        #[derive(Deserialize)]
        struct R {
            token: String,
            #[serde(flatten)]
            info: LoginInfo,
        }
        let r: Result<R, _> = self.post(
            Some(personal),
            "/api/v1/login/office",
            &serde_json::json!({"user_id": user, "password": password}),
            &[],
        )?;
        r.map(|r| (r.token, r.info))
            .map_err(|(s, e)| self.login_err("office", s, e))
    }

    pub(crate) fn change_password(
        &self,
        personal: Option<&str>,
        session: Option<&str>,
        user: &str,
        old: &str,
        new: &str,
    ) -> Result<(), ClientError> {
        let r: Result<serde_json::Value, _> = self.post(
            session.or(personal),
            "/api/v1/password",
            &serde_json::json!({"user_id": user, "old_password": old, "new_password": new}),
            &[],
        )?;
        r.map(|_| ())
            .map_err(|(s, e)| self.login_err("office", s, e))
    }

    pub(crate) fn logout(&self, token: &str) -> Result<(), ClientError> {
        let _: Result<serde_json::Value, _> =
            self.post(Some(token), "/api/v1/logout", &serde_json::json!({}), &[])?;
        Ok(())
    }

    pub(crate) fn notices(&self, token: &str) -> Result<Vec<Notice>, ClientError> {
        self.get(token, "/api/v1/notices")
    }

    pub(crate) fn received(&self, token: &str) -> Result<Vec<ReceivedTransmission>, ClientError> {
        self.get(token, "/api/v1/received")
    }

    pub(crate) fn sent(&self, token: &str) -> Result<Vec<SentTransmission>, ClientError> {
        self.get(token, "/api/v1/sent")
    }

    pub(crate) fn download(&self, token: &str, file_id: &str) -> Result<impl Read, ClientError> {
        let path = format!("/api/v1/files/{}", urlenc(file_id));
        match self
            .http
            .request("GET", &path, &[bearer(token)], None, "")?
        {
            Answer::Ok(r) => Ok(Http::reader(r)),
            Answer::Err(s, e) => Err(self.map_err(s, e)),
        }
    }

    pub(crate) fn ack(
        &self,
        token: &str,
        file_id: &str,
        sha256: &str,
    ) -> Result<String, ClientError> {
        let path = format!("/api/v1/files/{}/ack", urlenc(file_id));
        let r: Result<serde_json::Value, _> = self.post(
            Some(token),
            &path,
            &serde_json::json!({"sha256": sha256}),
            &[],
        )?;
        r.map(|v| v.to_string())
            .map_err(|(s, e)| self.map_err(s, e))
    }

    pub(crate) fn send(&self, token: &str, plan: &SendPlan) -> Result<Accepted, ClientError> {
        let _ = (token, plan);
        Err(ClientError::Protocol("送信は準備中です".into()))
    }

    pub(crate) fn drafts(&self, token: &str) -> Result<Vec<RemoteDraft>, ClientError> {
        let _ = token;
        Ok(vec![])
    }

    pub(crate) fn put_draft(
        &self,
        token: &str,
        d: &Draft,
        files: &[(DraftFile, Vec<u8>)],
    ) -> Result<(), ClientError> {
        let _ = (token, d, files);
        Err(ClientError::Protocol("下書きの同期は準備中です".into()))
    }

    pub(crate) fn delete_draft(&self, token: &str, id: &str) -> Result<(), ClientError> {
        let _ = (token, id);
        Err(ClientError::Protocol("下書きの同期は準備中です".into()))
    }

    pub(crate) fn draft_file(
        &self,
        token: &str,
        id: &str,
        f: &DraftFile,
    ) -> Result<Vec<u8>, ClientError> {
        let _ = (token, id, f);
        Err(ClientError::Protocol("下書きの同期は準備中です".into()))
    }
}

#[allow(dead_code)]
fn refusal(e: RelayErrorBody) -> Refusal {
    let _ = (
        FileProblem {
            file: String::new(),
            findings: vec![],
        },
        OfficeProblem {
            office: String::new(),
            code: String::new(),
            message: String::new(),
        },
    );
    Refusal {
        code: e.code,
        message: e.message,
        files: vec![],
        offices: vec![],
    }
}

fn urlenc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
