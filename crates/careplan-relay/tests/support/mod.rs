//! Shared by the relay's tests and its load bench: an HTTPS agent (ureq, rustls/ring) that
//! trusts only the relay CA, presents a profile's client certificate and says which
//! protocol version it speaks (`x-careplan-protocol`, unless the request sets its own); and a
//! real PostgreSQL started by the test binary itself ([`pg`]), so that every suite runs on
//! both stores.

#![allow(dead_code)] // each test binary uses a part of the support

pub mod pg;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

fn pem_cert(path: &Path) -> Certificate<'static> {
    let pem = std::fs::read(path).expect("read certificate");
    Certificate::from_pem(&pem)
        .expect("certificate pem")
        .to_owned()
}

/// Adds the protocol version header to requests that do not carry one.
fn protocol_header(
    mut req: ureq::http::Request<ureq::SendBody>,
    next: ureq::middleware::MiddlewareNext,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    use careplan_core::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};
    if !req.headers().contains_key(PROTOCOL_HEADER) {
        req.headers_mut().insert(
            PROTOCOL_HEADER,
            ureq::http::HeaderValue::from(PROTOCOL_VERSION),
        );
    }
    next.handle(req)
}

/// An agent trusting `ca`, with the client identity of `profile` (a folder with
/// `client.crt` and `client.key`) when given; HTTP errors are answers, not `Err`.
pub fn agent(profile: Option<&Path>, ca: &Path) -> ureq::Agent {
    agent_speaking(profile, ca, true)
}

/// [`agent`], without the protocol header when `protocol` is false (a client made before
/// protocol versions).
pub fn agent_speaking(profile: Option<&Path>, ca: &Path, protocol: bool) -> ureq::Agent {
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::Specific(Arc::new(vec![pem_cert(ca)])));
    if let Some(p) = profile {
        let key = PrivateKey::from_pem(&std::fs::read(p.join("client.key")).expect("key"))
            .expect("key pem")
            .to_owned();
        tls = tls.client_cert(Some(ClientCert::new_with_certs(
            &[pem_cert(&p.join("client.crt"))],
            key,
        )));
    }
    let mut cfg = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)));
    if protocol {
        cfg = cfg.middleware(protocol_header);
    }
    ureq::Agent::new_with_config(cfg.build())
}
