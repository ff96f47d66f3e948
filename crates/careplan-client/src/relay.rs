//! HTTPS transport to the relay: ureq 3 + rustls (ring), the office's client certificate,
//! the relay CA as the only trust root, timeouts, bounded retries, error classification,
//! and the protocol version header on every request and answer (`docs/protocol.md`).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use careplan_core::wire::{PROTOCOL_ERROR, PROTOCOL_HEADER, PROTOCOL_VERSION};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use crate::cert::Identity;
use crate::error::ClientError;

/// The largest JSON answer accepted (lists of 100 000 rows fit).
const MAX_JSON: u64 = 256 * 1024 * 1024;

/// Transport settings.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) timeout_connect: Duration,
    pub(crate) timeout_call: Duration,
    pub(crate) retries: u32,
    pub(crate) retry_backoff: Duration,
}

/// A connection pool to one relay with our identity.
#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
    /// The same TLS settings as the agent's, for [`Http::diagnose_tls`].
    probe: Arc<rustls::ClientConfig>,
    base: String,
    t: Transport,
}

/// An error answer of the relay: `{"error": {"code", "message", …}}`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct RelayErrorBody {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) details: serde_json::Value,
}

#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    error: RelayErrorBody,
}

/// A rustls client configuration equal to the agent's (ring, relay CA, client certificate).
fn probe_config(id: &Identity) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let err = |e: rustls::Error| ClientError::Certificate {
        message: format!("証明書を設定できません（{e}）。"),
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in &id.roots {
        roots.add(c.clone()).map_err(err)?;
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(err)?
    .with_root_certificates(roots)
    .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
    .map_err(err)?;
    Ok(Arc::new(cfg))
}

/// The outcome of one request that reached the relay.
pub(crate) enum Answer {
    /// 2xx with the body.
    Ok(ureq::http::Response<ureq::Body>),
    /// Non-2xx with the decoded error (best effort).
    Err(u16, RelayErrorBody),
}

fn to_rustls_err<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(r) = x.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = x.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(r);
        }
        cur = x.source();
    }
    None
}

impl Http {
    pub(crate) fn new(base: &str, id: &Identity, t: Transport) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !base.starts_with("https://") {
            return Err(ClientError::Certificate {
                message: format!(
                    "中継サーバのURL「{base}」は https:// で始まる必要があります（暗号化されていない接続は使えません）。"
                ),
            });
        }
        let chain: Vec<Certificate<'static>> = id
            .chain
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        // ureq takes the key kind from the PEM label (its KeyKind is not public).
        let key_pem = crate::cert::key_pem(&id.key);
        let key =
            PrivateKey::from_pem(key_pem.as_bytes()).map_err(|e| ClientError::Certificate {
                message: format!("秘密鍵を読み込めません（{e}）。"),
            })?;
        let roots: Vec<Certificate<'static>> = id
            .roots
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .client_cert(Some(ClientCert::new_with_certs(&chain, key)))
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .https_only(true)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(t.timeout_connect))
            .timeout_per_call(Some(t.timeout_call))
            .user_agent(concat!("careplan-client/", env!("CARGO_PKG_VERSION")))
            // A send's parallel uploads keep their connections for the next send (ureq's
            // default keeps 3 per host).
            .max_idle_connections_per_host(crate::api::PARALLEL_UPLOADS)
            .build();
        let probe = probe_config(id)?;
        Ok(Self {
            agent: crate::dns::agent(config),
            probe,
            base,
            t,
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Map a transport error to a typed error.
    pub(crate) fn classify(&self, e: ureq::Error) -> ClientError {
        let detail = e.to_string();
        let rustls = match &e {
            ureq::Error::Rustls(r) => Some(r.clone()),
            ureq::Error::Io(io) => {
                let inner: Option<&rustls::Error> = io.get_ref().and_then(|x| to_rustls_err(x));
                inner.cloned()
            }
            _ => None,
        };
        if let Some(r) = rustls {
            use rustls::AlertDescription as A;
            return match r {
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                    ClientError::ServerNotTrusted { detail }
                }
                rustls::Error::AlertReceived(
                    A::BadCertificate
                    | A::CertificateRequired
                    | A::UnknownCA
                    | A::CertificateExpired
                    | A::CertificateRevoked
                    | A::CertificateUnknown
                    | A::AccessDenied
                    | A::DecryptError
                    | A::HandshakeFailure,
                ) => ClientError::CertificateRejected { detail },
                _ => ClientError::Unreachable {
                    url: self.base.clone(),
                    detail,
                },
            };
        }
        if let ureq::Error::Io(io) = &e
            && matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionAborted
            )
            && let Some(diag) = self.diagnose_tls()
        {
            return diag;
        }
        match e {
            ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) => {
                ClientError::Protocol(detail)
            }
            ureq::Error::Json(_) => ClientError::Protocol(detail),
            _ => ClientError::Unreachable {
                url: self.base.clone(),
                detail,
            },
        }
    }

    /// With TLS 1.3 the relay checks our certificate after our side of the handshake has
    /// finished, so a refusal can surface as a broken pipe while sending the request. Probe
    /// once with a bare handshake and read the relay's alert to tell a rejected certificate
    /// apart from a network problem.
    fn diagnose_tls(&self) -> Option<ClientError> {
        use std::io::{Read as _, Write as _};
        let rest = self.base.strip_prefix("https://")?;
        let authority = rest.split('/').next()?;
        let host = match authority.rsplit_once(':') {
            Some((h, _)) => h,
            None => authority,
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addr = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:443")
        };
        let name = rustls_pki_types::ServerName::try_from(host).ok()?;
        let mut sock = std::net::TcpStream::connect(&addr).ok()?;
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
        let mut conn = rustls::ClientConnection::new(self.probe.clone(), name).ok()?;
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let outcome = tls
            .write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
            .and_then(|()| {
                let mut buf = [0u8; 64];
                tls.read(&mut buf).map(|_| ())
            });
        let err = outcome.err()?;
        let r = err.get_ref().and_then(|x| to_rustls_err(x))?.clone();
        let detail = r.to_string();
        use rustls::AlertDescription as A;
        match r {
            rustls::Error::InvalidCertificate(_) => Some(ClientError::ServerNotTrusted { detail }),
            rustls::Error::AlertReceived(
                A::BadCertificate
                | A::CertificateRequired
                | A::UnknownCA
                | A::CertificateExpired
                | A::CertificateRevoked
                | A::CertificateUnknown
                | A::AccessDenied
                | A::DecryptError
                | A::HandshakeFailure,
            ) => Some(ClientError::CertificateRejected { detail }),
            _ => None,
        }
    }

    /// True for errors where a retry may help (nothing was, or may have been, processed,
    /// and the request carries an idempotency key or is a read).
    pub(crate) fn retryable(e: &ClientError) -> bool {
        matches!(e, ClientError::Unreachable { .. })
    }

    /// One request with bounded retries on network errors and 5xx (same body, same headers,
    /// so the same idempotency key). Not `503 E_BUSY`: the relay says "not now" (its
    /// password hashing or its memory for sends in one request is full, `Retry-After`
    /// tens of seconds), and a retry within the second only adds to its load.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        content_type: &str,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut attempt = 0;
        loop {
            let res = self.once(method, &url, headers, body, content_type);
            let retry = match &res {
                Err(e) => Self::retryable(e),
                Ok(Answer::Err(503, e)) if e.code == "E_BUSY" => false,
                Ok(Answer::Err(s, _)) => *s == 502 || *s == 503 || *s == 504,
                Ok(Answer::Ok(_)) => false,
            };
            if !retry || attempt >= self.t.retries {
                return res;
            }
            attempt += 1;
            tracing::debug!(attempt, method, path, "retrying relay request");
            std::thread::sleep(self.t.retry_backoff * attempt);
        }
    }

    /// The pause before retry number `attempt` (1, 2, …).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        self.t.retry_backoff * attempt
    }

    /// How many retries a request gets.
    pub(crate) fn retries(&self) -> u32 {
        self.t.retries
    }

    /// One request, no retry (`path` below the relay's URL).
    pub(crate) fn once_path(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        content_type: &str,
    ) -> Result<Answer, ClientError> {
        self.once(
            method,
            &format!("{}{}", self.base, path),
            headers,
            body,
            content_type,
        )
    }

    /// One request without retries (the long-poll: its caller backs off by itself).
    pub(crate) fn request_once(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{}", self.base, path);
        self.once(method, &url, headers, None, "application/json")
    }

    /// The longest call this transport allows (long-polls stay under it).
    pub(crate) fn call_timeout(&self) -> Duration {
        self.t.timeout_call
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        content_type: &str,
    ) -> Result<Answer, ClientError> {
        let version = PROTOCOL_VERSION.to_string();
        let res = match method {
            "GET" | "DELETE" | "HEAD" => {
                let mut r = match method {
                    "GET" => self.agent.get(url),
                    "HEAD" => self.agent.head(url),
                    _ => self.agent.delete(url),
                };
                for (k, v) in headers {
                    r = r.header(*k, v.as_str());
                }
                r.header(PROTOCOL_HEADER, version.as_str()).call()
            }
            _ => {
                let mut r = if method == "PUT" {
                    self.agent.put(url)
                } else {
                    self.agent.post(url)
                };
                for (k, v) in headers {
                    r = r.header(*k, v.as_str());
                }
                r = r.header("Content-Type", content_type);
                r = r.header(PROTOCOL_HEADER, version.as_str());
                r.send(body.unwrap_or(&[]))
            }
        };
        let mut resp = res.map_err(|e| self.classify(e))?;
        let status = resp.status().as_u16();
        let relay_version = resp
            .headers()
            .get(PROTOCOL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        if (200..300).contains(&status) {
            // A relay made before protocol versions answers without the header: it served a
            // request it may not understand the way we mean it, so nothing it says is used.
            if relay_version != Some(PROTOCOL_VERSION) {
                return Err(ClientError::incompatible(relay_version, None));
            }
            return Ok(Answer::Ok(resp));
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        let err = serde_json::from_slice::<ErrorEnvelope>(&bytes)
            .map(|e| e.error)
            .unwrap_or_else(|_| RelayErrorBody {
                code: format!("HTTP_{status}"),
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                details: serde_json::Value::Null,
            });
        if status == 426 || err.code == PROTOCOL_ERROR {
            return Err(ClientError::incompatible(relay_version, Some(err.message)));
        }
        Ok(Answer::Err(status, err))
    }

    /// Read a JSON body.
    pub(crate) fn json<T: DeserializeOwned>(
        &self,
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> Result<T, ClientError> {
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_JSON)
            .read_to_vec()
            .map_err(|e| self.classify(e))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// A reader over a (possibly large) body.
    pub(crate) fn reader(resp: ureq::http::Response<ureq::Body>) -> impl Read {
        resp.into_body().into_with_config().limit(u64::MAX).reader()
    }

    /// Serialize JSON.
    pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ClientError> {
        serde_json::to_vec(v).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}
