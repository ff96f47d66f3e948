//! Shared by the relay's tests and its load bench: an HTTPS agent (ureq, rustls/ring) that
//! trusts only the relay CA, presents a profile's client certificate and says which
//! protocol version it speaks (`x-careplan-protocol`, unless the request sets its own); a
//! real PostgreSQL started by the test binary itself ([`pg`]), so that every suite runs on
//! both stores; and [`stage_files`], which uploads the files of a send or draft body
//! through the real upload endpoints.

#![allow(dead_code)] // each test binary uses a part of the support

pub mod pg;
pub mod procs;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use careplan_core::wire::UPLOAD_OFFSET_HEADER;
use serde_json::{Value, json};
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
/// `client.crt` and `client.key`) when given; HTTP errors are answers, not `Err`. Every
/// request carries `x-careplan-protocol: 2`.
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
    // As the client library does: the host name resolved once a minute, not on a new
    // thread per request (`careplan_client::dns`).
    careplan_client::dns::agent(cfg.build())
}

/// Upload `bytes` (one `POST /api/v1/uploads` and one `PUT`); the file reference for a
/// send or draft body, or the refusal (status, body).
pub fn upload(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    name: &str,
    bytes: &[u8],
) -> Result<Value, (u16, Value)> {
    let sha = careplan_relay::auth::sha256_hex(bytes);
    let mut resp = agent
        .post(&format!("{url}/api/v1/uploads"))
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(json!({"size": bytes.len(), "sha256": sha}))
        .map_err(|e| (0, json!({"transport": e.to_string()})))?;
    let status = resp.status().as_u16();
    let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
    if status != 201 {
        return Err((status, v));
    }
    let id = v["id"].as_str().expect("upload id").to_owned();
    let mut resp = agent
        .put(&format!("{url}/api/v1/uploads/{id}"))
        .header("Authorization", &format!("Bearer {token}"))
        .header(UPLOAD_OFFSET_HEADER, "0")
        .header("Content-Type", "application/octet-stream")
        .send(bytes)
        .map_err(|e| (0, json!({"transport": e.to_string()})))?;
    let status = resp.status().as_u16();
    let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
    if status != 200 || v["complete"] != true {
        return Err((status, v));
    }
    Ok(json!({"name": name, "upload": id, "sha256": sha, "size": bytes.len()}))
}

/// Upload `bytes` whole in one request (`PUT /api/v1/uploads/whole/{sha256}`, files up to
/// 1 MiB, what the client library does for them); as [`upload`].
pub fn upload_whole(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    name: &str,
    bytes: &[u8],
) -> Result<Value, (u16, Value)> {
    let sha = careplan_relay::auth::sha256_hex(bytes);
    let mut resp = agent
        .put(&format!("{url}/api/v1/uploads/whole/{sha}"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/octet-stream")
        .send(bytes)
        .map_err(|e| (0, json!({"transport": e.to_string()})))?;
    let status = resp.status().as_u16();
    let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
    if status != 201 || v["complete"] != true {
        return Err((status, v));
    }
    let id = v["id"].as_str().expect("upload id");
    Ok(json!({"name": name, "upload": id, "sha256": sha, "size": bytes.len()}))
}

/// Replace every `{"name", "data": <base64>}` file of a send body (`destinations[].files`)
/// or a draft body (`files`) by an uploaded file reference. A `data` that is not base64, or
/// an upload the relay refuses, is left as it is (the relay then refuses the body).
pub fn stage_files(agent: &ureq::Agent, url: &str, token: &str, body: &mut Value) {
    stage_files_by(agent, url, token, body, upload);
}

/// A way of uploading a file ([`upload`] or [`upload_whole`]): agent, relay URL, token,
/// name, bytes → the file reference, or the refusal.
pub type Uploader = fn(&ureq::Agent, &str, &str, &str, &[u8]) -> Result<Value, (u16, Value)>;

/// [`stage_files`] with another way of uploading.
pub fn stage_files_by(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    body: &mut Value,
    upload: Uploader,
) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let stage = |files: &mut Value| {
        for f in files.as_array_mut().into_iter().flatten() {
            let (Some(name), Some(data)) = (f["name"].as_str(), f["data"].as_str()) else {
                continue;
            };
            let Ok(bytes) = b64.decode(data) else {
                continue;
            };
            match upload(agent, url, token, name, &bytes) {
                Ok(r) => *f = r,
                Err((s, v)) => eprintln!("upload of {name} refused: {s} {v}"),
            }
        }
    };
    if let Some(ds) = body["destinations"].as_array_mut() {
        for d in ds {
            stage(&mut d["files"]);
        }
    }
    if body["files"].is_array() {
        stage(&mut body["files"]);
    }
}

/// The `multipart/form-data` body of `POST /api/v1/send/whole`: the send request (JSON),
/// then `parts` (file name, bytes) as `file` fields; returns the content type and the body.
pub fn whole_send_form(request: &Value, parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "careplan-test-boundary-5f1c0b7e";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"send\"\r\nContent-Type: application/json\r\n\r\n{request}"
    )
    .into_bytes();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `POST /api/v1/send/whole` of a send body whose files are `{"name", "data": <base64>}`
/// (as [`stage_files`] takes them): each file's bytes in the request, named by SHA-256.
/// Returns the status and the answer (status 0 when the connection failed).
pub fn send_whole(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> (u16, Value) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut request = body.clone();
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    for d in request["destinations"].as_array_mut().into_iter().flatten() {
        for f in d["files"].as_array_mut().into_iter().flatten() {
            let bytes = b64
                .decode(f["data"].as_str().unwrap_or(""))
                .unwrap_or_default();
            let sha = careplan_relay::auth::sha256_hex(&bytes);
            *f = json!({"name": f["name"], "upload": "", "sha256": sha, "size": bytes.len()});
            if !parts.iter().any(|(s, _)| *s == sha) {
                parts.push((sha, bytes));
            }
        }
    }
    let parts: Vec<(&str, &[u8])> = parts
        .iter()
        .map(|(s, b)| (s.as_str(), b.as_slice()))
        .collect();
    send_whole_parts(agent, url, token, key, &request, &parts)
}

/// `POST /api/v1/send/whole` of a send `request` (its files named by SHA-256 with an empty
/// `upload`) and the bytes of each content, `(sha256, bytes)`. Returns the status and the
/// answer (status 0 when the connection failed).
pub fn send_whole_parts(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    key: &str,
    request: &Value,
    parts: &[(&str, &[u8])],
) -> (u16, Value) {
    let (content_type, form) = whole_send_form(request, parts);
    let mut resp = match agent
        .post(&format!("{url}/api/v1/send/whole"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Idempotency-Key", key)
        .header("Content-Type", &content_type)
        .send(&form[..])
    {
        Ok(r) => r,
        Err(e) => return (0, json!({"transport": e.to_string()})),
    };
    let status = resp.status().as_u16();
    let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
    (status, v)
}

/// One runtime for the whole test binary. A `Db` keeps its pooled connections on the
/// runtime that opened them: opening it in one short-lived runtime and using it in another
/// fails on PostgreSQL once the first is gone ("a Tokio 1.x context was found, but it is
/// being shutdown"), so every test future runs here.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Run `f` to completion on [`runtime`].
pub fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    runtime().block_on(f)
}
