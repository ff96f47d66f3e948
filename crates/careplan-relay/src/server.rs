//! The TLS server: rustls with a required, CA-verified client certificate (ring provider),
//! HTTP/1.1 via hyper, the axum router with the peer's office per connection. Limits and
//! timeouts of connections are in [`crate::conn`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::RelayError;
use crate::config::Config;
use crate::conn::{
    self, Activity, ActivityIo, Backoff, ConnLimits, ConnService, Expiry, PeerSlot, RateLimitedLog,
    Slot, Tracker,
};
use crate::db::Db;
use crate::handlers::{AppState, Peer, router};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls server configuration from PEM files: server chain + key, and the CA that
/// client certificates must chain to.
pub fn tls_config(cfg: &Config) -> Result<Arc<ServerConfig>, RelayError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| RelayError::Tls(format!("{} を読めません: {e}", p.display())))
    };
    let ca = read(&cfg.ca_cert)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        let c = c.map_err(|e| RelayError::Tls(format!("CA証明書: {e}")))?;
        roots
            .add(c)
            .map_err(|e| RelayError::Tls(format!("CA証明書: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| RelayError::Tls(e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read(&cfg.server_cert)?)
            .collect::<Result<_, _>>()
            .map_err(|e| RelayError::Tls(format!("サーバ証明書: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&read(&cfg.server_key)?)
        .map_err(|e| RelayError::Tls(format!("サーバ鍵: {e}")))?;
    let mut sc = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| RelayError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| RelayError::Tls(e.to_string()))?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(sc))
}

/// A relay ready to serve: bound socket, TLS, store.
pub struct Server {
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    state: AppState,
}

impl Server {
    /// Bind and open the store.
    pub async fn bind(cfg: Config) -> Result<Self, RelayError> {
        crate::secret_file::create_private_dir(&cfg.data_dir)?;
        let tls = tls_config(&cfg)?;
        let db = Db::open(&cfg.database_url()).await?;
        let blobs = crate::blob::Blobs::open(&cfg.blob_config(), &cfg.data_dir)?;
        crate::blob::move_legacy_bytes(&db, &blobs).await?;
        let listener = TcpListener::bind(cfg.listen).await?;
        Ok(Self {
            listener,
            tls,
            state: AppState::new(db, Arc::new(cfg), blobs),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, RelayError> {
        Ok(self.listener.local_addr()?)
    }

    /// The store (for operator commands and tests).
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// Serve until `shutdown` turns true. Also runs the retention purge every hour.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), RelayError> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls);
        let app = router(self.state.clone());
        let purge = tokio::spawn(crate::housekeeping::run(
            self.state.clone(),
            std::time::Duration::from_secs(3600),
        ));
        // Arrivals committed by other relay processes on the same PostgreSQL (`notify`).
        let url = self.state.cfg.database_url();
        let listen = (url.starts_with("postgres:") || url.starts_with("postgresql:")).then(|| {
            tokio::spawn(crate::notify::listen_pg(
                url,
                self.state.db.arrivals.clone(),
                shutdown.clone(),
            ))
        });
        let limits = Arc::new(self.state.cfg.connections.clone());
        let tracker = Tracker::new(&limits);
        let http = limits.http1();
        let mut backoff = Backoff::default();
        let accept_log = RateLimitedLog::new(Duration::from_secs(1));
        loop {
            let (tcp, addr) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(x) => {
                        backoff.reset();
                        x
                    }
                    // Aborted before we took it: only that connection is gone.
                    Err(e) if conn::is_connection_error(&e) => continue,
                    // Out of descriptors, buffers or memory: the listener stays readable,
                    // so wait before the next try instead of spinning.
                    Err(e) => {
                        let delay = backoff.next_delay();
                        if let Some(n) = accept_log.hit() {
                            tracing::error!(
                                error = %e,
                                failures = n,
                                retry_ms = delay.as_millis() as u64,
                                open = tracker.open(),
                                "accept failed; backing off"
                            );
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => continue,
                            _ = shutdown.changed() => break,
                        }
                    }
                },
                _ = shutdown.changed() => break,
            };
            // Over a limit: closed at once, before any TLS work (logged, rate-limited).
            let Some(slot) = tracker.admit() else {
                continue;
            };
            let tcp_peer = addr.ip().to_canonical();
            let proxied = limits.is_trusted_proxy(tcp_peer);
            if !proxied && limits.proxy_protocol_required {
                tracing::debug!(peer = %tcp_peer, "not a trusted load balancer: refused");
                continue;
            }
            let peer_slot = if proxied {
                None
            } else {
                match tracker.admit_peer(tcp_peer) {
                    Some(s) => Some(s),
                    None => continue,
                }
            };
            // Small answers go out at once (no Nagle wait on the client's delayed ACK).
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
            let conn = Connection {
                acceptor: acceptor.clone(),
                app: app.clone(),
                limits: limits.clone(),
                tracker: tracker.clone(),
                http: http.clone(),
            };
            tokio::spawn(conn.serve(tcp, addr, proxied, slot, peer_slot));
        }
        purge.abort();
        // Waiting long-polls answer now (the same cursor), instead of being cut.
        let hub = &self.state.db.arrivals;
        hub.close();
        hub.drained(Duration::from_secs(2)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(l) = listen {
            l.abort();
        }
        Ok(())
    }
}

/// What one connection task needs.
struct Connection {
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
    limits: Arc<ConnLimits>,
    tracker: Arc<Tracker>,
    http: hyper::server::conn::http1::Builder,
}

impl Connection {
    /// The PROXY header (from a trusted load balancer), the TLS handshake, then HTTP/1 under
    /// the watchdog. The slots are held until the connection ends.
    async fn serve(
        self,
        mut tcp: TcpStream,
        addr: SocketAddr,
        proxied: bool,
        _slot: Slot,
        peer_slot: Option<PeerSlot>,
    ) {
        let limits = &self.limits;
        let handshake = async {
            let (peer, peer_slot) = if proxied {
                let announced = match conn::read_proxy_header(&mut tcp).await {
                    Ok(a) => a,
                    // A balancer's TCP health check connects and closes: not worth a line.
                    Err(conn::ProxyError::Io(e))
                        if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        tracing::debug!(lb = %addr, "closed before a PROXY header");
                        return None;
                    }
                    Err(e) => {
                        tracing::info!(lb = %addr, error = %e, "PROXY header refused");
                        return None;
                    }
                };
                // LOCAL / UNKNOWN (the balancer's own checks): the balancer is the peer.
                let peer = announced.map_or(addr.ip(), |a| a.ip()).to_canonical();
                (peer, Some(self.tracker.admit_peer(peer)?))
            } else {
                (addr.ip().to_canonical(), peer_slot)
            };
            match self.acceptor.accept(tcp).await {
                Ok(s) => Some((s, peer, peer_slot)),
                Err(e) => {
                    tracing::info!(%peer, error = %e, "TLS handshake refused");
                    None
                }
            }
        };
        let Ok(Some((tls, peer, _peer_slot))) =
            tokio::time::timeout(limits.handshake_timeout(), handshake).await
        else {
            return;
        };
        let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
        let office = leaf.and_then(|c| crate::pki::office_of(c.as_ref()));
        let (Some(office), Some(leaf)) = (office, leaf) else {
            tracing::info!(%peer, "client certificate without an office number in its CN");
            return;
        };
        let cert_fp = crate::auth::cert_fingerprint(leaf.as_ref()).into();
        let activity = Activity::new();
        let svc = ConnService::new(
            self.app.layer(Extension(Peer {
                office,
                cert_fp,
                addr: peer,
            })),
            activity.clone(),
            limits,
        );
        let io = TokioIo::new(ActivityIo::new(tls, activity.clone()));
        let conn = self.http.serve_connection(io, svc);
        let mut conn = std::pin::pin!(conn);
        // After a graceful close starts, the connection gets one head timeout to finish.
        let mut closing: Option<Instant> = None;
        loop {
            let next = activity.deadline(limits);
            let wake = closing
                .or(next.map(|(t, _)| t))
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                    return;
                }
                _ = activity.changed(), if closing.is_none() => {}
                _ = tokio::time::sleep_until(wake) => {
                    if closing.is_some() {
                        return;
                    }
                    match activity.deadline(limits) {
                        Some((t, Expiry::Idle)) if t <= Instant::now() => {
                            tracing::debug!(%peer, "idle keep-alive connection closed");
                            conn.as_mut().graceful_shutdown();
                            closing = Some(Instant::now() + limits.header_timeout());
                        }
                        Some((t, Expiry::Head)) if t <= Instant::now() => {
                            tracing::info!(%peer, "request head not received in time: connection closed");
                            return;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
