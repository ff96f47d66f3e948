//! Fuzz the relay's request handling end to end, below TLS: the real axum router over a
//! real SQLite store holding the demo offices, users, files and notices. Each input picks
//! a method, one of the real routes with fuzzed path segments and query, the headers
//! (Authorization, Idempotency-Key, Upload-Offset, Content-Length, Content-Type, the
//! protocol version), the certificate's office and a body (raw bytes or JSON shaped like
//! the wire types, with fuzzed values). Each office has a real complete upload (made
//! through the router at start) that sends and drafts can name, and the blobs live in the
//! relay's real local blob store.
//!
//! Invariants: no panic; every answer is a status below 500, except 503 `E_BUSY`; every
//! error answer is an `ErrorEnvelope` with a Japanese message.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use base64::Engine;
use careplan_core::OfficeNumber;
use careplan_core::wire::ErrorEnvelope;
use careplan_relay::auth;
use careplan_relay::db::{Db, Session};
use careplan_relay::handlers::{AppState, Peer, router};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// Built once: the runtime, the router, the store and what the inputs pick from.
struct World {
    rt: tokio::runtime::Runtime,
    app: Router,
    db: Db,
    offices: Vec<Office>,
    _dir: tempfile::TempDir,
}

struct Office {
    number: OfficeNumber,
    personal_user: String,
    personal_password: String,
    office_user: String,
    office_password: String,
    cert_fp: String,
    /// The bearer token of a session of this office (re-created when an input ends it).
    token: String,
    /// Ids of files addressed to this office.
    files: Vec<String>,
    /// A complete upload of this office: (id, sha256, size).
    upload: (String, String, u64),
}

/// The token of an office's session.
fn token_of(i: usize) -> String {
    format!("fuzz-session-token-{i}")
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        // /dev/shm when there is one: the store commits with synchronous=FULL.
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::Builder::new()
                .prefix("relay-fuzz")
                .tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let (db, mut cfg, demo) = rt.block_on(async {
            let demo = careplan_relay::demo::ensure_demo(dir.path(), listen)
                .await
                .expect("demo relay");
            let cfg = careplan_relay::demo::demo_config(dir.path(), listen);
            let db = Db::open(&cfg.database_url()).await.expect("open store");
            (db, cfg, demo)
        });
        let mut offices = Vec::new();
        for (i, o) in demo.offices.iter().enumerate() {
            let files = rt
                .block_on(db.received(&o.office, 10_000, None))
                .expect("received")
                .rows
                .into_iter()
                .flat_map(|(_, f)| f.into_iter().map(|f| f.id))
                .collect();
            offices.push(Office {
                number: OfficeNumber::parse(&o.office).expect("demo office"),
                personal_user: o.personal_user.clone(),
                personal_password: o.personal_password.clone(),
                office_user: o.office_user.clone(),
                office_password: o.office_password.clone(),
                cert_fp: auth::sha256_hex(format!("certificate of {}", o.office).as_bytes()),
                token: token_of(i),
                files,
                upload: (String::new(), String::new(), 0),
            });
        }
        // The long-poll may not hold an input longer than a moment.
        cfg.push.max_wait_secs = 0;
        let blobs = careplan_relay::blob::Blobs::open(&cfg.blobs, dir.path()).expect("blob store");
        let app = router(AppState::new(db.clone(), Arc::new(cfg), blobs));
        for (i, o) in offices.iter_mut().enumerate() {
            o.upload = rt.block_on(make_upload(&app, &db, o, i));
        }
        World {
            rt,
            app,
            db,
            offices,
            _dir: dir,
        }
    })
}

/// One complete upload of office `o`, through the router as a client makes it.
async fn make_upload(app: &Router, db: &Db, o: &Office, i: usize) -> (String, String, u64) {
    ensure_session(db, o).await;
    let bytes = format!("%PDF-1.4 fuzz upload {i}\n").into_bytes();
    let sha = auth::sha256_hex(&bytes);
    let call = |method: &str, path: String, offset: Option<u64>, body: Vec<u8>| {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", o.token))
            .header("x-careplan-protocol", "2")
            .header("content-length", body.len().to_string());
        if let Some(off) = offset {
            req = req
                .header("upload-offset", off.to_string())
                .header("content-type", "application/octet-stream");
        } else {
            req = req.header("content-type", "application/json");
        }
        let mut req = req.body(Body::from(body)).expect("request");
        req.extensions_mut().insert(Peer {
            office: o.number,
            cert_fp: o.cert_fp.clone().into(),
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        });
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await.expect("infallible");
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON answer");
            assert!(status.is_success(), "{status} {v}");
            v
        }
    };
    let opened = call(
        "POST",
        "/api/v1/uploads".into(),
        None,
        serde_json::to_vec(&serde_json::json!({"size": bytes.len(), "sha256": sha})).expect("JSON"),
    )
    .await;
    let id = opened["id"].as_str().expect("upload id").to_owned();
    let done = call(
        "PUT",
        format!("/api/v1/uploads/{id}"),
        Some(0),
        bytes.clone(),
    )
    .await;
    assert_eq!(done["complete"], true, "{done}");
    (id, sha, bytes.len() as u64)
}

/// Make sure the office's session exists (an input may have logged it out or ended it by
/// changing the password).
async fn ensure_session(db: &Db, o: &Office) {
    let th = auth::token_hash(&o.token);
    if db.session(&th).await.expect("session").is_some() {
        return;
    }
    let now = time_now();
    db.insert_session(&Session {
        token_hash: th,
        kind: "session".into(),
        personal_user: o.personal_user.clone(),
        office_user: Some(o.office_user.clone()),
        office: o.number.to_string(),
        created_at: now,
        last_seen: now,
        cert_fp: o.cert_fp.clone(),
    })
    .await
    .expect("insert session");
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

#[derive(Arbitrary, Debug)]
enum Auth {
    None,
    Session,
    Garbage(String),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Segment {
    Fuzzed(String),
    RawBytes(Vec<u8>),
    /// A real file id of the certificate's office (or of another office).
    File(u8),
    /// The real upload id of the certificate's office (or of another office).
    Upload(u8),
    Fixed(u8),
}

#[derive(Arbitrary, Debug)]
enum FileIn {
    /// A file of protocol 2: a name and an upload (real or fuzzed), with its hash and size
    /// as declared (the upload's own, or fuzzed).
    Ref {
        /// A real-looking name (built from the offices) or a fuzzed one.
        name: Name,
        upload: UploadPick,
        sha256: Option<String>,
        size: Option<u64>,
    },
    /// The shape of protocol 1 (bytes as base64 in the JSON): refused clearly.
    Old { name: Name, data: Data },
}

#[derive(Arbitrary, Debug)]
enum UploadPick {
    /// The real upload of the office at this index (mostly the sender's own).
    Real(u8),
    Fuzzed(String),
}

#[derive(Arbitrary, Debug)]
enum Name {
    Fuzzed(String),
    /// A CSV name from the office to `to`, with a fuzzed tail.
    Built {
        kind: u8,
        to: u8,
        tail: String,
    },
}

#[derive(Arbitrary, Debug)]
enum Data {
    Base64(Vec<u8>),
    Fuzzed(String),
}

#[derive(Arbitrary, Debug)]
enum BodyIn {
    Empty,
    Raw(Vec<u8>),
    Login {
        user: u8,
        password: Option<String>,
        fuzzed_user: Option<String>,
    },
    Password {
        user: Option<String>,
        old: Option<String>,
        new: String,
    },
    Send {
        message: String,
        destinations: Vec<(u8, Option<String>, Vec<FileIn>)>,
    },
    Ack {
        sha256: String,
        nonce: Option<String>,
        proof: Option<String>,
    },
    /// `POST /api/v1/uploads`: a declared size and a hash (the real one of some bytes, or
    /// fuzzed text).
    Upload {
        size: u64,
        sha256: Option<String>,
        of: Vec<u8>,
    },
    Draft {
        saved_at: i64,
        terminal: String,
        message: String,
        to_office: Option<String>,
        files: Vec<FileIn>,
    },
    /// A JSON value of the wrong shape.
    Json(Vec<(String, i64)>),
    /// `POST /api/v1/send/whole`: a `multipart/form-data` body with the boundary of the
    /// content type `multipart/form-data; boundary=fuzzb` — the send (JSON) first, then the
    /// files' bytes — or parts in any order and of any name.
    SendWhole {
        message: String,
        destinations: Vec<(u8, Vec<WholeFile>)>,
        /// Parts put before the send, or in place of it.
        before: Vec<(String, Option<String>, Vec<u8>)>,
        /// Bytes appended after the closing boundary (or in place of it, when `cut`).
        tail: Vec<u8>,
        cut: bool,
    },
}

/// A file of a send in one request.
#[derive(Arbitrary, Debug)]
struct WholeFile {
    name: Name,
    bytes: Vec<u8>,
    /// The declared SHA-256 and size (the bytes' own when `None`).
    sha256: Option<String>,
    size: Option<u64>,
    /// Whether its bytes are in the request (once, twice, or not at all).
    parts: u8,
    /// A file named by an upload instead (mixed sends).
    upload: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    route: u8,
    method: Option<u8>,
    seg1: Segment,
    seg2: Segment,
    query: Option<String>,
    office: u8,
    auth: Auth,
    idempotency_key: Option<String>,
    upload_offset: Option<String>,
    content_length: Option<String>,
    content_type: u8,
    body: BodyIn,
    /// The `x-careplan-protocol` header: the current version, none, or any text.
    protocol: Protocol,
}

#[derive(Arbitrary, Debug)]
enum Protocol {
    Current,
    Missing,
    Other(String),
}

const ROUTES: [(&str, &str); 20] = [
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/notices"),
    ("GET", "/api/v1/received"),
    ("GET", "/api/v1/sent"),
    ("POST", "/api/v1/send"),
    ("POST", "/api/v1/send/whole"),
    ("POST", "/api/v1/uploads"),
    ("GET", "/api/v1/uploads/{1}"),
    ("PUT", "/api/v1/uploads/{1}"),
    ("GET", "/api/v1/files/{1}"),
    ("POST", "/api/v1/files/{1}/ack"),
    ("GET", "/api/v1/drafts"),
    ("PUT", "/api/v1/drafts/{1}"),
    ("DELETE", "/api/v1/drafts/{1}"),
    ("GET", "/api/v1/drafts/{1}/files/{2}"),
    ("POST", "/api/v1/login/personal"),
    ("POST", "/api/v1/login/office"),
    ("POST", "/api/v1/password"),
    ("POST", "/api/v1/logout"),
    ("GET", "/api/v1/wait"),
];

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
];

const FIXED: [&str; 6] = ["draft-1", "..", "%2e%2e", "a%00b", "%FF%FE", ""];

const CONTENT_TYPES: [&str; 8] = [
    "application/json",
    "multipart/form-data; boundary=fuzzb",
    "multipart/form-data",
    "application/octet-stream",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
];

/// Percent-encode what may not stand in a path segment.
fn pct(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn segment(w: &World, me: Option<&Office>, s: &Segment) -> String {
    match s {
        Segment::Fuzzed(t) => pct(t.as_bytes()),
        // Raw bytes as they come: the URI parser decides.
        Segment::RawBytes(b) => String::from_utf8_lossy(b).into_owned(),
        Segment::File(i) => {
            let pool: Vec<&String> = match me {
                Some(o) if i % 4 != 0 => o.files.iter().collect(),
                _ => w.offices.iter().flat_map(|o| o.files.iter()).collect(),
            };
            if pool.is_empty() {
                String::new()
            } else {
                pool[usize::from(*i) % pool.len()].clone()
            }
        }
        Segment::Upload(i) => upload_pick(w, me, *i).0.clone(),
        Segment::Fixed(i) => FIXED[usize::from(*i) % FIXED.len()].to_owned(),
    }
}

/// A real upload: mostly `me`'s own (3 of 4), else any office's.
fn upload_pick<'a>(w: &'a World, me: Option<&'a Office>, i: u8) -> &'a (String, String, u64) {
    match me {
        Some(o) if i % 4 != 0 => &o.upload,
        _ => &w.offices[usize::from(i) % w.offices.len()].upload,
    }
}

fn name(w: &World, me: &OfficeNumber, n: &Name) -> String {
    match n {
        Name::Fuzzed(s) => s.clone(),
        Name::Built { kind, to, tail } => {
            let kinds = careplan_core::FileKind::ALL;
            let kind = kinds[usize::from(*kind) % kinds.len()];
            let to = &w.offices[usize::from(*to) % w.offices.len()].number;
            format!("{}_{me}_{to}_{tail}.CSV", kind.prefix())
        }
    }
}

fn files(
    w: &World,
    me: &OfficeNumber,
    office: Option<&Office>,
    files: &[FileIn],
) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    files
        .iter()
        .map(|f| match f {
            FileIn::Ref {
                name: n,
                upload,
                sha256,
                size,
            } => {
                let (id, sha, len) = match upload {
                    UploadPick::Real(i) => upload_pick(w, office, *i).clone(),
                    UploadPick::Fuzzed(s) => (s.clone(), String::new(), 0),
                };
                serde_json::json!({
                    "name": name(w, me, n),
                    "upload": id,
                    "sha256": sha256.clone().unwrap_or(sha),
                    "size": size.unwrap_or(len),
                })
            }
            FileIn::Old { name: n, data } => serde_json::json!({
                "name": name(w, me, n),
                "data": match data {
                    Data::Base64(b) => b64.encode(b),
                    Data::Fuzzed(s) => s.clone(),
                },
            }),
        })
        .collect()
}

fn body(w: &World, me: &OfficeNumber, office: Option<&Office>, b: &BodyIn) -> Vec<u8> {
    let v = match b {
        BodyIn::Empty => return Vec::new(),
        BodyIn::Raw(b) => return b.clone(),
        BodyIn::Login {
            user,
            password,
            fuzzed_user,
        } => {
            let o = office.unwrap_or(&w.offices[usize::from(*user) % w.offices.len()]);
            let (u, p) = if user % 2 == 0 {
                (&o.personal_user, &o.personal_password)
            } else {
                (&o.office_user, &o.office_password)
            };
            serde_json::json!({
                "user_id": fuzzed_user.as_ref().unwrap_or(u),
                "password": password.as_ref().unwrap_or(p),
            })
        }
        BodyIn::Password { user, old, new } => {
            let o = office.unwrap_or(&w.offices[0]);
            serde_json::json!({
                "user_id": user.as_ref().unwrap_or(&o.office_user),
                "old_password": old.as_ref().unwrap_or(&o.office_password),
                "new_password": new,
            })
        }
        BodyIn::Send {
            message,
            destinations,
        } => serde_json::json!({
            "message": message,
            "destinations": destinations
                .iter()
                .map(|(to, fuzzed, fs)| serde_json::json!({
                    "office": fuzzed.clone().unwrap_or_else(|| {
                        w.offices[usize::from(*to) % w.offices.len()].number.to_string()
                    }),
                    "files": files(w, me, office, fs),
                }))
                .collect::<Vec<_>>(),
        }),
        BodyIn::Ack {
            sha256,
            nonce,
            proof,
        } => serde_json::json!({ "sha256": sha256, "nonce": nonce, "proof": proof }),
        BodyIn::Upload { size, sha256, of } => serde_json::json!({
            "size": size,
            "sha256": sha256.clone().unwrap_or_else(|| auth::sha256_hex(of)),
        }),
        BodyIn::Draft {
            saved_at,
            terminal,
            message,
            to_office,
            files: fs,
        } => {
            let saved_at = time_rfc3339(*saved_at);
            serde_json::json!({
                "saved_at": saved_at,
                "terminal": terminal,
                "message": message,
                "to_office": to_office,
                "files": files(w, me, office, fs),
            })
        }
        BodyIn::SendWhole {
            message,
            destinations,
            before,
            tail,
            cut,
        } => return whole_body(w, me, office, message, destinations, before, tail, *cut),
        BodyIn::Json(pairs) => serde_json::Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                .collect(),
        ),
    };
    serde_json::to_vec(&v).expect("JSON")
}

/// The body of `POST /api/v1/send/whole` (boundary `fuzzb`).
#[allow(clippy::too_many_arguments)]
fn whole_body(
    w: &World,
    me: &OfficeNumber,
    office: Option<&Office>,
    message: &str,
    destinations: &[(u8, Vec<WholeFile>)],
    before: &[(String, Option<String>, Vec<u8>)],
    tail: &[u8],
    cut: bool,
) -> Vec<u8> {
    let part = |out: &mut Vec<u8>, name: &str, file: Option<&str>, bytes: &[u8]| {
        out.extend_from_slice(b"--fuzzb\r\nContent-Disposition: form-data; name=\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\"");
        if let Some(f) = file {
            out.extend_from_slice(b"; filename=\"");
            out.extend_from_slice(f.as_bytes());
            out.extend_from_slice(b"\"");
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    };
    let mut out = Vec::new();
    for (n, f, b) in before {
        part(&mut out, n, f.as_deref(), b);
    }
    let mut parts: Vec<(String, &[u8])> = Vec::new();
    let request = serde_json::json!({
        "message": message,
        "destinations": destinations.iter().map(|(to, fs)| serde_json::json!({
            "office": w.offices[usize::from(*to) % w.offices.len()].number.to_string(),
            "files": fs.iter().map(|f| {
                if let Some(i) = f.upload {
                    let (id, sha, len) = upload_pick(w, office, i).clone();
                    return serde_json::json!({"name": name(w, me, &f.name), "upload": id, "sha256": sha, "size": len});
                }
                let sha = auth::sha256_hex(&f.bytes);
                for _ in 0..f.parts % 3 {
                    parts.push((sha.clone(), &f.bytes));
                }
                serde_json::json!({
                    "name": name(w, me, &f.name),
                    "upload": "",
                    "sha256": f.sha256.clone().unwrap_or(sha),
                    "size": f.size.unwrap_or(f.bytes.len() as u64),
                })
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    part(&mut out, "send", None, &serde_json::to_vec(&request).expect("JSON"));
    for (sha, bytes) in parts {
        part(&mut out, "file", Some(&sha), bytes);
    }
    if !cut {
        out.extend_from_slice(b"--fuzzb--\r\n");
    }
    out.extend_from_slice(tail);
    out
}

/// A timestamp as RFC 3339 (any second of years 1970..=9999, or a fuzzed-looking one).
fn time_rfc3339(t: i64) -> String {
    let secs = t.rem_euclid(253_402_300_799);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+09:00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn is_japanese(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}'))
}

fn run(w: &World, input: &Input) {
    // The certificate: one of the demo offices, or an office the relay does not know.
    let pick = usize::from(input.office) % (w.offices.len() + 1);
    let office = w.offices.get(pick);
    let (number, cert_fp) = match office {
        Some(o) => (o.number, o.cert_fp.clone()),
        None => (
            OfficeNumber::parse("1399999999").expect("office number"),
            auth::sha256_hex(b"unknown"),
        ),
    };
    let (default_method, template) = ROUTES[usize::from(input.route) % ROUTES.len()];
    let method = input
        .method
        .map_or(default_method, |m| METHODS[usize::from(m) % METHODS.len()]);
    let mut path = template
        .replace("{1}", &segment(w, office, &input.seg1))
        .replace("{2}", &segment(w, office, &input.seg2));
    if let Some(q) = &input.query {
        path.push('?');
        path.push_str(q);
    }
    let mut req = Request::builder().method(Method::from_bytes(method.as_bytes()).expect("method"));
    req = req.uri(path.as_str());
    match &input.auth {
        Auth::None => {}
        Auth::Session => {
            let token = office.map_or_else(|| token_of(0), |o| o.token.clone());
            req = req.header("authorization", format!("Bearer {token}"));
        }
        Auth::Garbage(s) => req = req.header("authorization", format!("Bearer {s}")),
        Auth::Raw(b) => req = req.header("authorization", b.as_slice()),
    }
    match &input.protocol {
        Protocol::Current => req = req.header("x-careplan-protocol", "2"),
        Protocol::Missing => {}
        Protocol::Other(v) => req = req.header("x-careplan-protocol", v.as_str()),
    }
    if let Some(k) = &input.idempotency_key {
        req = req.header("idempotency-key", k.as_str());
    }
    if let Some(o) = &input.upload_offset {
        req = req.header("upload-offset", o.as_str());
    }
    let bytes = body(w, &number, office, &input.body);
    match &input.content_length {
        Some(l) => req = req.header("content-length", l.as_str()),
        // A send in one request needs its length (as a real client gives it).
        None if matches!(input.body, BodyIn::SendWhole { .. }) => {
            req = req.header("content-length", bytes.len());
        }
        None => {}
    }
    let ct = CONTENT_TYPES[usize::from(input.content_type) % CONTENT_TYPES.len()];
    if !ct.is_empty() {
        req = req.header("content-type", ct);
    }
    // A URI or header value the HTTP parser would refuse never reaches the router.
    let Ok(mut req) = req.body(Body::from(bytes)) else {
        return;
    };
    req.extensions_mut().insert(Peer {
        office: number,
        cert_fp: cert_fp.into(),
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
    });
    let is_head = *req.method() == Method::HEAD;
    let (status, body) = w.rt.block_on(async {
        if let (Some(o), Auth::Session) = (office, &input.auth) {
            ensure_session(&w.db, o).await;
        }
        let resp = w.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("response body");
        (status, body)
    });
    if status.is_success() || status.is_redirection() || is_head {
        assert!(status.as_u16() < 500, "HEAD answered {status}");
        return;
    }
    let env: ErrorEnvelope = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: {status} without an error envelope ({e}): {:?}",
            String::from_utf8_lossy(&body)
        )
    });
    assert!(
        status.as_u16() < 500 || (status.as_u16() == 503 && env.error.code == "E_BUSY"),
        "{method} {path}: {status} {}",
        env.error.code
    );
    assert!(!env.error.code.is_empty(), "{method} {path}: empty code");
    assert!(
        is_japanese(&env.error.message),
        "{method} {path}: {status} message not in Japanese: {:?}",
        env.error.message
    );
}

fuzz_target!(|input: Input| {
    run(world(), &input);
});
