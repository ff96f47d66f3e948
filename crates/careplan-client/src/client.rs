//! The [`Client`] facade: what the UI and the headless commands call.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use careplan_core::OfficeNumber;
use serde::Serialize;
use time::OffsetDateTime;

use crate::api::Api;
use crate::cert::{CertInfo, Identity};
use crate::error::{ClientError, Refusal};
use crate::model::{
    Listing, LoginInfo, Notice, ReceivedTransmission, SentTransmission, WaitAnswer,
};
use crate::relay::{Http, Transport};
use crate::send::{Limits, OutgoingFile, SendMode, SendPlan, prepare_send};
use crate::store::{Direction, LedgerEntry, LedgerFile, Store};

/// Tunables of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// 端末名 (defaults to the store's setting, itself the host name).
    pub terminal_name: Option<String>,
    /// Connect timeout (default 10 s).
    pub timeout_connect: Duration,
    /// Whole-call timeout (default 120 s; a 10 MiB upload on a slow line fits).
    pub timeout_call: Duration,
    /// Retries after a network error or a 502/503/504 (default 2; sends reuse their key).
    pub retries: u32,
    /// Pause before the first retry, doubled for each next one (default 500 ms).
    pub retry_backoff: Duration,
    /// Send limits checked locally (the relay checks its own).
    pub limits: Limits,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            terminal_name: None,
            timeout_connect: Duration::from_secs(10),
            timeout_call: Duration::from_secs(120),
            retries: 2,
            retry_backoff: Duration::from_millis(500),
            limits: Limits::default(),
        }
    }
}

/// What the relay answered to an accepted send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendReceipt {
    /// Transmission IDs created by the relay (one per destination).
    pub ids: Vec<String>,
    /// The destination offices, in order.
    pub offices: Vec<String>,
    /// When the relay accepted it.
    #[serde(with = "time::serde::rfc3339")]
    pub accepted_at: OffsetDateTime,
    /// The idempotency key used.
    pub key: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) token: String,
    pub(crate) info: LoginInfo,
}

pub(crate) struct Inner {
    pub(crate) api: Api,
    pub(crate) store: Store,
    pub(crate) cert: CertInfo,
    pub(crate) terminal: String,
    pub(crate) limits: Limits,
    pub(crate) pending_personal: Mutex<Option<String>>,
    pub(crate) session: Mutex<Option<Session>>,
}

/// The client: relay connection, identity and local store. Blocking, `Clone + Send + Sync`:
/// call it from worker threads, never from the UI thread.
///
/// Offline behaviour: list functions return the cached copy with `offline: true` when the
/// relay cannot be reached; drafts are saved locally first and synced later; the ledger is
/// local. Functions that need the relay return [`ClientError::Unreachable`].
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("relay", &self.inner.api.http.base())
            .field("office", &self.inner.cert.office)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Client {
    /// A client for the relay at `relay_url` (`https://…`) with `identity`, using `store`.
    /// No network traffic happens here.
    pub fn new(
        store: Store,
        identity: &Identity,
        relay_url: &str,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let http = Http::new(
            relay_url,
            identity,
            Transport {
                timeout_connect: options.timeout_connect,
                timeout_call: options.timeout_call,
                retries: options.retries,
                retry_backoff: options.retry_backoff,
            },
        )?;
        let terminal = match options.terminal_name {
            Some(t) if !t.trim().is_empty() => t,
            _ => store.settings()?.terminal_name,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                api: Api { http },
                store,
                cert: identity.info().clone(),
                terminal,
                limits: options.limits,
                pending_personal: Mutex::new(None),
                session: Mutex::new(None),
            }),
        })
    }

    /// The local store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Our 事業所番号 (from the certificate).
    pub fn office(&self) -> &OfficeNumber {
        &self.inner.cert.office
    }

    /// The certificate information (事業所番号, expiry).
    pub fn certificate(&self) -> &CertInfo {
        &self.inner.cert
    }

    /// 端末名 of this terminal.
    pub fn terminal_name(&self) -> &str {
        &self.inner.terminal
    }

    /// The relay URL.
    pub fn relay_url(&self) -> &str {
        self.inner.api.http.base()
    }

    // ----- login -----

    /// Login step 1: 個人ユーザID (`c…`) and its password.
    pub fn login_personal(&self, user: &str, password: &str) -> Result<(), ClientError> {
        let token = self.inner.api.login_personal(user, password)?;
        *lock(&self.inner.pending_personal) = Some(token);
        Ok(())
    }

    /// Login step 2: 事業所ユーザID (`KJ…`) and its password, after [`Client::login_personal`].
    /// The office user's office must be the certificate's office.
    ///
    /// Errors: [`ClientError::LoginFailed`], [`ClientError::AccountLocked`],
    /// [`ClientError::PasswordChangeRequired`] (then call [`Client::change_password`]),
    /// [`ClientError::OfficeMismatch`].
    pub fn login_office(&self, user: &str, password: &str) -> Result<LoginInfo, ClientError> {
        let personal = lock(&self.inner.pending_personal)
            .clone()
            .ok_or(ClientError::SessionExpired)?;
        let (token, info) = self
            .inner
            .api
            .login_office(&personal, user, password)
            .map_err(|e| match e {
                ClientError::OfficeMismatch { user_office, .. } => ClientError::OfficeMismatch {
                    cert_office: self.office().as_str().to_owned(),
                    user_office,
                },
                other => other,
            })?;
        if info.office != self.office().as_str() {
            return Err(ClientError::OfficeMismatch {
                cert_office: self.office().as_str().to_owned(),
                user_office: info.office,
            });
        }
        *lock(&self.inner.session) = Some(Session {
            token,
            info: info.clone(),
        });
        *lock(&self.inner.pending_personal) = None;
        Ok(info)
    }

    /// Both login steps in order.
    pub fn login(
        &self,
        personal_user: &str,
        personal_password: &str,
        office_user: &str,
        office_password: &str,
    ) -> Result<LoginInfo, ClientError> {
        self.login_personal(personal_user, personal_password)?;
        self.login_office(office_user, office_password)
    }

    /// Change the office user's password (expired or temporary password, or by choice).
    /// Works after step 1 of the login (the personal step). The new password is checked
    /// locally with `careplan_core::check_password` first.
    pub fn change_password(
        &self,
        office_user: &str,
        old_password: &str,
        new_password: &str,
    ) -> Result<(), ClientError> {
        if let Err(e) = careplan_core::check_password(new_password) {
            return Err(ClientError::Refused(Refusal {
                code: "E_PASSWORD_POLICY".into(),
                message: e.to_finding().message,
                files: vec![],
                offices: vec![],
            }));
        }
        let session = lock(&self.inner.session).as_ref().map(|s| s.token.clone());
        let token = session
            .or_else(|| lock(&self.inner.pending_personal).clone())
            .ok_or(ClientError::SessionExpired)?;
        self.inner
            .api
            .change_password(&token, office_user, old_password, new_password)
    }

    /// Forget the session (and tell the relay when reachable).
    pub fn logout(&self) {
        let s = lock(&self.inner.session).take();
        *lock(&self.inner.pending_personal) = None;
        if let Some(s) = s {
            let _ = self.inner.api.logout(&s.token);
        }
    }

    /// The login information when logged in.
    pub fn login_info(&self) -> Option<LoginInfo> {
        lock(&self.inner.session).as_ref().map(|s| s.info.clone())
    }

    pub(crate) fn token(&self) -> Result<String, ClientError> {
        lock(&self.inner.session)
            .as_ref()
            .map(|s| s.token.clone())
            .ok_or(ClientError::SessionExpired)
    }

    /// Run `f` with the session token; a 401 forgets the session.
    pub(crate) fn with_session<T>(
        &self,
        f: impl FnOnce(&str) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let token = self.token()?;
        let r = f(&token);
        if matches!(r, Err(ClientError::SessionExpired)) {
            *lock(&self.inner.session) = None;
        }
        r
    }

    // ----- lists -----

    fn listing<T: Serialize + serde::de::DeserializeOwned + Clone>(
        &self,
        list: &str,
        fetch: impl FnOnce(&str) -> Result<Vec<T>, ClientError>,
    ) -> Result<Listing<T>, ClientError> {
        let office = self.office().as_str().to_owned();
        let from_cache = |e: ClientError| -> Result<Listing<T>, ClientError> {
            match self.inner.store.cache::<Vec<T>>(&office, list)? {
                Some(c) => Ok(Listing {
                    items: c.items,
                    fetched_at: c.fetched_at,
                    offline: true,
                }),
                None => Err(e),
            }
        };
        if !self.is_logged_in() {
            // Not logged in (e.g. the login failed because the relay is unreachable):
            // only the cached copy can be shown.
            return from_cache(ClientError::SessionExpired);
        }
        match self.with_session(fetch) {
            Ok(items) => {
                let now = crate::now();
                if let Err(e) = self.inner.store.put_cache(&office, list, &items, now) {
                    tracing::warn!(error = %e, "could not cache the {list} list");
                }
                Ok(Listing {
                    items,
                    fetched_at: now,
                    offline: false,
                })
            }
            Err(e) if e.is_offline() => from_cache(e),
            Err(e) => Err(e),
        }
    }

    /// True after a successful two-step login (until logout or session expiry).
    pub fn is_logged_in(&self) -> bool {
        lock(&self.inner.session).is_some()
    }

    /// The cached list without any network (e.g. to paint the screen at start).
    pub fn cached_received(&self) -> Result<Option<Listing<ReceivedTransmission>>, ClientError> {
        self.cached("received")
    }

    /// The cached 送信一覧 without any network.
    pub fn cached_sent(&self) -> Result<Option<Listing<SentTransmission>>, ClientError> {
        self.cached("sent")
    }

    /// The cached お知らせ without any network.
    pub fn cached_notices(&self) -> Result<Option<Listing<Notice>>, ClientError> {
        self.cached("notices")
    }

    fn cached<T: serde::de::DeserializeOwned>(
        &self,
        list: &str,
    ) -> Result<Option<Listing<T>>, ClientError> {
        Ok(self
            .inner
            .store
            .cache::<Vec<T>>(self.office().as_str(), list)?
            .map(|c| Listing {
                items: c.items,
                fetched_at: c.fetched_at,
                offline: true,
            }))
    }

    /// お知らせ一覧 (newest first). Offline or not logged in: the cached copy, `offline: true`
    /// (an error only when there is no cache).
    pub fn notices(&self) -> Result<Listing<Notice>, ClientError> {
        let api = &self.inner.api;
        self.listing("notices", |t| api.notices(t))
    }

    /// 受信一覧 (newest first). Offline: the cached copy, `offline: true`.
    pub fn received(&self) -> Result<Listing<ReceivedTransmission>, ClientError> {
        let api = &self.inner.api;
        self.listing("received", |t| api.received(t))
    }

    /// 送信一覧 (newest first). Offline: the cached copy, `offline: true`.
    pub fn sent(&self) -> Result<Listing<SentTransmission>, ClientError> {
        let api = &self.inner.api;
        self.listing("sent", |t| api.sent(t))
    }

    /// Wait until something arrives for our office, at most `timeout` (the relay cuts it
    /// to its own limit, 60 s by default; 25 s suits load balancers and office proxies).
    ///
    /// `cursor` is the [`WaitAnswer::cursor`] of the previous call; `None` answers at once
    /// with `arrived: true` and the cursor to wait with. Use it as: wait (no cursor) →
    /// list → wait(cursor) → when `arrived`, list again → …: the cursor is taken before the
    /// list, so nothing that commits in between is missed. `arrived: false` means the
    /// timeout passed (or the relay is shutting down): wait again with the same cursor.
    ///
    /// One request, no retries: on an error the caller waits before the next try
    /// ([`ClientError::Relay`] with status 429/503 says how long in its message; offline is
    /// [`ClientError::Unreachable`]). The wait does not count as use of the session, so the
    /// relay's idle timeout still ends it ([`ClientError::SessionExpired`]).
    pub fn wait_for_arrivals(
        &self,
        cursor: Option<&str>,
        timeout: Duration,
    ) -> Result<WaitAnswer, ClientError> {
        let api = &self.inner.api;
        let most = api
            .http
            .call_timeout()
            .saturating_sub(Duration::from_secs(5));
        let secs = timeout.min(most).as_secs();
        self.with_session(|t| api.wait(t, cursor, secs))
    }

    // ----- send -----

    /// Validate files for a send (no network): see [`crate::send::prepare_send`].
    /// `Err(Refused)` lists every error; the returned plan carries the warnings.
    pub fn prepare_send(
        &self,
        files: Vec<OutgoingFile>,
        message: &str,
        mode: &SendMode,
    ) -> Result<SendPlan, ClientError> {
        prepare_send(self.office(), files, message, mode, &self.inner.limits)
    }

    /// Send a prepared plan. Refused with [`ClientError::WarningsNotAccepted`] when it has
    /// warnings and `accept_warnings` is false. Retries reuse the plan's idempotency key, so
    /// sending the same plan twice is one send. Each destination gets a ledger entry
    /// (flushed) before this returns.
    pub fn send(&self, plan: &SendPlan, accept_warnings: bool) -> Result<SendReceipt, ClientError> {
        if plan.has_warnings() && !accept_warnings {
            return Err(ClientError::WarningsNotAccepted(plan.warnings_refusal()));
        }
        if plan.from_office != self.office().as_str() {
            return Err(ClientError::Refused(Refusal {
                code: "E_NOT_OUR_OFFICE".into(),
                message: format!(
                    "この送信は事業所「{}」のものです。ログイン中の事業所「{}」からは送信できません。",
                    plan.from_office,
                    self.office()
                ),
                files: vec![],
                offices: vec![],
            }));
        }
        let api = &self.inner.api;
        let accepted = self.with_session(|t| api.send(t, plan))?;
        for (i, g) in plan.groups.iter().enumerate() {
            let tid = accepted.ids.get(i).cloned().unwrap_or_default();
            let entry = LedgerEntry {
                seq: 0,
                at: accepted.accepted_at,
                direction: Direction::Send,
                office: plan.from_office.clone(),
                counterpart: g.to_office.clone(),
                counterpart_name: None,
                transmission_id: tid.clone(),
                message: plan.message.clone(),
                files: g
                    .files
                    .iter()
                    .filter_map(|&i| plan.files.get(i))
                    .map(|f| LedgerFile {
                        name: f.name.clone(),
                        size: f.bytes.len() as u64,
                        sha256: crate::sha256_hex(&f.bytes),
                        saved_as: None,
                    })
                    .collect(),
                receipt: format!(
                    "受付番号 {} 受付 {} 送信ID {tid}",
                    accepted.send_id,
                    crate::ledger::jst(accepted.accepted_at)
                ),
                terminal: self.inner.terminal.clone(),
            };
            // The relay owns the data now; a ledger failure is reported, not hidden.
            self.inner
                .store
                .append_ledger(&format!("send:{}:{}", plan.key, g.to_office), entry)?;
        }
        Ok(SendReceipt {
            ids: accepted.ids,
            offices: plan.offices(),
            accepted_at: accepted.accepted_at,
            key: plan.key.clone(),
        })
    }

    // ----- ledger -----

    /// Every ledger entry (送受信記録), oldest first. Works offline.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>, ClientError> {
        Ok(self.inner.store.ledger()?)
    }

    /// Export the ledger as CSV (UTF-8 with BOM, CRLF) to `path`. Returns the row count.
    pub fn export_ledger(&self, path: &Path) -> Result<usize, ClientError> {
        crate::ledger::export(&self.ledger()?, path)
    }

    /// Check the ledger's hash chain (works offline): `Ok(Ok(count))` when intact,
    /// `Ok(Err(first broken entry))` (its [`crate::ledger::LedgerBreak::message_ja`] says
    /// what is wrong), `Err` when the store cannot be read.
    pub fn verify_ledger(&self) -> Result<Result<usize, crate::ledger::LedgerBreak>, ClientError> {
        Ok(self.inner.store.verify_ledger()?)
    }
}
