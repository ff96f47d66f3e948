//! The TLS server: rustls with a required, CA-verified client certificate (ring provider),
//! HTTP/1.1 via hyper, the axum router with the peer's office per connection.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::RelayError;
use crate::config::Config;
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
        let listener = TcpListener::bind(cfg.listen).await?;
        Ok(Self {
            listener,
            tls,
            state: AppState {
                db,
                cfg: Arc::new(cfg),
            },
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
        let purge_db = self.state.db.clone();
        let days = self.state.cfg.limits.retention_days;
        let purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let before = time::OffsetDateTime::now_utc().unix_timestamp() - days * 86_400;
                match purge_db.purge(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(transmissions = n, "retention purge"),
                    Err(e) => tracing::error!(error = %e, "retention purge failed"),
                }
            }
        });
        loop {
            let (tcp, addr) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
                _ = shutdown.changed() => break,
            };
            // Small answers go out at once (no Nagle wait on the client's delayed ACK).
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(
                    std::time::Duration::from_secs(20),
                    acceptor.accept(tcp),
                )
                .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(%addr, error = %e, "TLS handshake refused");
                        return;
                    }
                    Err(_) => return,
                };
                let office = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| crate::pki::office_of(c.as_ref()));
                let Some(office) = office else {
                    tracing::info!(%addr, "client certificate without an office number in its CN");
                    return;
                };
                let svc = TowerToHyperService::new(app.layer(Extension(Peer { office })));
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await
                {
                    tracing::debug!(error = %e, "connection ended");
                }
            });
        }
        purge.abort();
        Ok(())
    }
}
