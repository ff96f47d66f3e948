//! Hostile clients against the real relay on loopback over real mutual TLS: every finding
//! of the security review (issue #12) that concerns requests, logins, sessions, quotas and
//! acknowledgements, each as an attacker would try it. Every test is bounded in count and
//! time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use careplan_relay::config::Config;
use careplan_relay::db::Db;
use careplan_relay::demo::{DemoInfo, DemoOfficeInfo, b64, demo_config};
use careplan_relay::embedded::{RunningRelay, start, start_demo_on};
use serde_json::{Value, json};

mod support;
use support::pg::{Backend, Store};
use support::{agent, block};

/// A demo relay on a fresh store of `backend`, restarted with `tune` applied to its
/// configuration. Every test below runs on both stores (`name::sqlite`, `name::pg`).
fn relay_with(backend: Backend, tune: impl FnOnce(&mut Config)) -> (Store, RunningRelay, DemoInfo) {
    let store = Store::new(backend);
    let first = start_demo_on(
        store.path(),
        "127.0.0.1:0".parse().expect("addr"),
        store.database_url(),
    )
    .expect("start demo relay");
    let info = first.demo.clone().expect("demo info");
    let addr = first.addr;
    first.shutdown();
    let mut cfg = demo_config(store.path(), addr);
    cfg.database_url = store.database_url();
    tune(&mut cfg);
    let r = start(cfg).expect("restart relay");
    (store, r, info)
}

fn relay(backend: Backend) -> (Store, RunningRelay, DemoInfo) {
    relay_with(backend, |_| {})
}

/// The store of a running relay, opened a second time (SQLite in WAL mode allows it; on
/// PostgreSQL a second pool), as the operator's commands open it.
fn db(store: &Store) -> Db {
    block(Db::open(&store.url())).expect("open db")
}

#[derive(Clone)]
struct Office {
    agent: ureq::Agent,
    url: String,
    token: Option<String>,
    info: DemoOfficeInfo,
}

impl Office {
    fn new(r: &RunningRelay, demo: &DemoInfo, i: usize) -> Self {
        let info = demo.offices[i].clone();
        Self {
            agent: agent(Some(&info.profile), &demo.ca),
            url: r.url(),
            token: None,
            info,
        }
    }

    fn req(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut resp = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            m => {
                let mut r = if m == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send_json(body.cloned().unwrap_or(json!({})))
            }
        }
        .expect("request");
        let status = resp.status().as_u16();
        let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        (status, v)
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.req("POST", path, Some(body))
    }

    fn step1(&self, user: &str, password: &str) -> (u16, Value) {
        self.post(
            "/api/v1/login/personal",
            &json!({"user_id": user, "password": password}),
        )
    }

    fn login_step1(&mut self) {
        let (s, v) = self.step1(&self.info.personal_user, &self.info.personal_password);
        assert_eq!(s, 200, "{v}");
        self.token = v["token"].as_str().map(str::to_owned);
    }

    fn step2(&self, user: &str, password: &str) -> (u16, Value) {
        self.post(
            "/api/v1/login/office",
            &json!({"user_id": user, "password": password}),
        )
    }

    fn login(&mut self) {
        self.login_step1();
        let (s, v) = self.step2(&self.info.office_user, &self.info.office_password);
        assert_eq!(s, 200, "{v}");
        self.token = v["token"].as_str().map(str::to_owned);
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.req("GET", path, None)
    }

    /// `POST /api/v1/send` with an idempotency key (its files uploaded first).
    fn send(&self, key: &str, body: &Value) -> (u16, Value) {
        let mut body = body.clone();
        support::stage_files(
            &self.agent,
            &self.url,
            self.token.as_deref().unwrap_or_default(),
            &mut body,
        );
        let body = &body;
        let mut resp = self
            .agent
            .post(&format!("{}/api/v1/send", self.url))
            .header(
                "Authorization",
                &format!("Bearer {}", self.token.clone().unwrap_or_default()),
            )
            .header("Idempotency-Key", key)
            .send_json(body)
            .expect("send");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// A raw TLS connection presenting `profile`'s certificate (for byte-level requests).
fn raw_tls(
    r: &RunningRelay,
    demo: &DemoInfo,
    i: usize,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let p = &demo.offices[i].profile;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&demo.ca).expect("ca") {
        roots.add(c.expect("ca cert")).expect("add root");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(p.join("client.crt"))
        .expect("crt")
        .map(|c| c.expect("cert"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(p.join("client.key")).expect("key");
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .expect("client auth");
    let conn = rustls::ClientConnection::new(
        Arc::new(cfg),
        ServerName::try_from("127.0.0.1").expect("name"),
    )
    .expect("conn");
    let tcp = TcpStream::connect(r.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}

/// Read an HTTP/1.1 answer's status line (and whatever follows that is already there).
fn read_status(s: &mut impl Read) -> String {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// An upload of 10 MiB without a session is answered at once, before any of the body is
/// read (the relay before issue #12 waited for the whole body, then parsed it, then checked
/// the session).
fn unauthenticated_body_is_never_read(backend: Backend) {
    let (_d, r, demo) = relay(backend);
    let t0 = Instant::now();
    let status = head_status(
        &r,
        &demo,
        "PUT /api/v1/uploads/u1 HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nContent-Type: application/octet-stream\r\nContent-Length: 10485760\r\nUpload-Offset: 0\r\n\r\n%PDF",
    );
    assert!(status.contains(" 401 "), "status line: {status}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    // A send with its files in the request: the same.
    let status = head_status(
        &r,
        &demo,
        "POST /api/v1/send/whole HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nIdempotency-Key: k\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 4000000\r\n\r\n--b\r\n",
    );
    assert!(status.contains(" 401 "), "status line: {status}");
}

/// Write `head` (a request's head and maybe the start of its body) over a new connection
/// of office 0's certificate; return the answer's status line.
fn head_status(r: &RunningRelay, demo: &DemoInfo, head: &str) -> String {
    let mut s = raw_tls(r, demo, 0);
    s.write_all(head.as_bytes()).expect("write head");
    s.flush().expect("flush");
    read_status(&mut s)
}

/// Send only the head of a request announcing `len` body bytes; return the status line.
fn head_only(r: &RunningRelay, demo: &DemoInfo, path: &str, len: usize) -> String {
    head_status(
        r,
        demo,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n{{"
        ),
    )
}

/// A 1 MiB login body (a huge password) is refused by the route's small limit at once,
/// never read or hashed; a huge send without a session is refused before it is parsed.
fn huge_bodies_are_refused_before_reading(backend: Backend) {
    let (_d, r, demo) = relay(backend);
    let status = head_only(&r, &demo, "/api/v1/login/personal", 1 << 20);
    assert!(status.contains(" 413 "), "{status}");
    // A send names uploads: 32 MiB of JSON is over its limit, refused before reading.
    let status = head_only(&r, &demo, "/api/v1/send", 32 << 20);
    assert!(status.contains(" 413 "), "{status}");
    // A small body still works.
    let o = Office::new(&r, &demo, 0);
    let (s, _) = o.step1(&o.info.personal_user, &o.info.personal_password);
    assert_eq!(s, 200);
}

/// 40 wrong passwords sent at once: each is counted before it is checked, so at most
/// `lockout_failures` (5) are ever checked and the account ends locked. Today's relay read
/// the lock, then verified, so concurrent guesses were all checked.
fn concurrent_guesses_are_counted_before_checking(backend: Backend) {
    let (_d, r, demo) = relay_with(backend, |c| {
        // Real hashing cost, so that the guesses overlap.
        c.security.argon2_memory_kib = 19_456;
        c.security.argon2_iterations = 2;
        c.security.logins_per_minute = 1000;
        c.security.max_hash_queue = 1000;
    });
    let o = Office::new(&r, &demo, 0);
    let user = o.info.personal_user.clone();
    let threads: Vec<_> = (0..40)
        .map(|i| {
            let o = o.clone();
            let user = user.clone();
            std::thread::spawn(move || o.step1(&user, &format!("wrong-guess-{i}")))
        })
        .collect();
    let answers: Vec<(u16, Value)> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let checked = answers
        .iter()
        .filter(|(_, v)| code(v) == "E_LOGIN_FAILED")
        .count();
    assert!(
        checked <= 4,
        "{checked} guesses were checked: {:?}",
        answers
            .iter()
            .map(|(s, v)| (*s, code(v)))
            .collect::<Vec<_>>()
    );
    assert!(answers.iter().all(|(s, _)| *s != 200));
    // The right password is refused now: the account is locked.
    let (s, v) = o.step1(&user, &o.info.personal_password);
    assert_eq!((s, code(&v)), (423, "E_LOCKED"), "{v}");
}

/// Logins are rate-limited per certificate.
fn logins_are_rate_limited_per_certificate(backend: Backend) {
    let (_d, r, demo) = relay_with(backend, |c| c.security.logins_per_minute = 3);
    let o = Office::new(&r, &demo, 0);
    for _ in 0..3 {
        let (s, _) = o.step1("c9999999", "wrong-password-1");
        assert_eq!(s, 401);
    }
    let (s, v) = o.step1(&o.info.personal_user, &o.info.personal_password);
    assert_eq!((s, code(&v)), (429, "E_RATE_LIMITED"), "{v}");
    // Another office's certificate has its own window.
    let b = Office::new(&r, &demo, 1);
    let (s, _) = b.step1(&b.info.personal_user, &b.info.personal_password);
    assert_eq!(s, 200);
}

/// Step 2 with another office's 事業所ユーザID: answered exactly like a wrong password, even
/// with its right password, and the guesses never lock the other office's user.
fn another_offices_user_is_a_wrong_password_and_never_locks(backend: Backend) {
    let (_d, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    let mut b = Office::new(&r, &demo, 1);
    a.login_step1();
    let (s, v) = a.step2(&b.info.office_user, &b.info.office_password);
    assert_eq!((s, code(&v)), (401, "E_LOGIN_FAILED"), "{v}");
    let wrong = a.step2(&b.info.office_user, "Wrong-password-123");
    assert_eq!(
        (s, v["error"]["message"].clone()),
        (wrong.0, wrong.1["error"]["message"].clone())
    );
    for _ in 0..8 {
        a.step2(&b.info.office_user, "Wrong-password-123");
    }
    b.login();
    let (s, _) = b.get("/api/v1/status");
    assert_eq!(s, 200);
}

/// Unknown and existing IDs give the same answers, down to the lock after five tries.
fn unknown_and_existing_ids_answer_alike(backend: Backend) {
    let (_d, r, demo) = relay_with(backend, |c| c.security.logins_per_minute = 100);
    let o = Office::new(&r, &demo, 0);
    let answers = |user: &str| -> Vec<(u16, String, String)> {
        (0..7)
            .map(|_| {
                let (s, v) = o.step1(user, "Wrong-password-123");
                let msg = v["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .replace(char::is_numeric, "#");
                (s, code(&v).to_owned(), msg)
            })
            .collect()
    };
    let existing = answers(&o.info.personal_user);
    let unknown = answers("c7777777");
    assert_eq!(existing, unknown);
    assert_eq!(existing[4].1, "E_LOCKED");
    assert_eq!(existing[3].1, "E_LOGIN_FAILED");
}

/// A revoked certificate is refused on every route, and its sessions end.
fn revoked_certificate_is_refused(backend: Backend) {
    let (d, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let pem = std::fs::read(demo.offices[0].profile.join("client.crt")).expect("crt");
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(&pem).expect("der");
    let fp = careplan_relay::auth::cert_fingerprint(der.as_ref());
    let store = db(&d);
    let ended = block(store.revoke_cert(&fp, 0, "test")).expect("revoke");
    assert_eq!(ended, 1);
    let (s, v) = a.get("/api/v1/status");
    assert_eq!((s, code(&v)), (403, "E_CERT_REVOKED"), "{v}");
    let (s, v) = a.step1(&a.info.personal_user, &a.info.personal_password);
    assert_eq!((s, code(&v)), (403, "E_CERT_REVOKED"), "{v}");
    // Another office is unaffected.
    let mut b = Office::new(&r, &demo, 1);
    b.login();
}

/// Disabling a user or an office ends its sessions and refuses its logins.
fn disabled_users_and_offices_are_refused(backend: Backend) {
    use careplan_relay::db::UserTable;
    let (d, r, demo) = relay(backend);
    let store = db(&d);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    assert!(
        block(store.set_user_disabled(UserTable::Office, &a.info.office_user, true))
            .expect("disable")
    );
    let (s, _) = a.get("/api/v1/status");
    assert_eq!(s, 401);
    let mut again = Office::new(&r, &demo, 0);
    again.login_step1();
    let (s, v) = again.step2(&again.info.office_user, &again.info.office_password);
    assert_eq!((s, code(&v)), (403, "E_USER_DISABLED"), "{v}");
    let (s, v) = again.step2(&again.info.office_user, "Wrong-password-123");
    assert_eq!((s, code(&v)), (401, "E_LOGIN_FAILED"), "{v}");

    let mut b = Office::new(&r, &demo, 1);
    b.login();
    assert!(block(store.set_office_disabled(&b.info.office, true)).expect("disable"));
    let (s, _) = b.get("/api/v1/status");
    assert_eq!(s, 401);
    let (s, v) = b.step1(&b.info.personal_user, &b.info.personal_password);
    assert_eq!((s, code(&v)), (403, "E_OFFICE_DISABLED"), "{v}");
}

/// A password change ends every other session of that user.
fn password_change_ends_other_sessions(backend: Backend) {
    let (_d, r, demo) = relay(backend);
    let mut one = Office::new(&r, &demo, 0);
    let mut two = Office::new(&r, &demo, 0);
    one.login();
    two.login();
    let (s, v) = one.post(
        "/api/v1/password",
        &json!({"user_id": one.info.office_user, "old_password": one.info.office_password, "new_password": "Newpass-2468-xyz"}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(one.get("/api/v1/status").0, 200);
    assert_eq!(two.get("/api/v1/status").0, 401);
}

/// An expired licence is enforced at login and on every request.
fn expired_licence_is_refused(backend: Backend) {
    let (d, r, demo) = relay(backend);
    let store = db(&d);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    block(store.upsert_office(&a.info.office, &a.info.name, Some(1_000_000))).expect("licence");
    let (s, v) = a.get("/api/v1/status");
    assert_eq!((s, code(&v)), (403, "E_LICENCE_EXPIRED"), "{v}");
    let mut again = Office::new(&r, &demo, 0);
    again.login_step1();
    let (s, v) = again.step2(&again.info.office_user, &again.info.office_password);
    assert_eq!((s, code(&v)), (403, "E_LICENCE_EXPIRED"), "{v}");
}

/// A temporary password can only be used for a limited time.
fn temporary_passwords_expire(backend: Backend) {
    let (d, r, demo) = relay(backend);
    let store = db(&d);
    let o = Office::new(&r, &demo, 0);
    let hash = careplan_relay::auth::hash_password(
        &careplan_relay::config::Security::default(),
        "Temp-pass-1234",
    );
    let old = time::OffsetDateTime::now_utc().unix_timestamp() - 73 * 3600;
    block(store.put_office_user(&o.info.office_user, &o.info.office, &hash, old, true))
        .expect("reset");
    let mut o = o;
    o.login_step1();
    let (s, v) = o.step2(&o.info.office_user, "Temp-pass-1234");
    assert_eq!((s, code(&v)), (403, "E_TEMPORARY_EXPIRED"), "{v}");
}

/// With one hashing slot and no queue, concurrent logins are told the relay is busy
/// instead of piling up threads and memory.
fn password_hashing_is_bounded(backend: Backend) {
    let (_d, r, demo) = relay_with(backend, |c| {
        c.security.max_concurrent_hashes = 1;
        c.security.max_hash_queue = 0;
        c.security.argon2_memory_kib = 65_536;
        c.security.argon2_iterations = 3;
        c.security.logins_per_minute = 1000;
    });
    let o = Office::new(&r, &demo, 0);
    let go = Arc::new(std::sync::Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let o = o.clone();
            let go = go.clone();
            std::thread::spawn(move || {
                // Connect first, then all ask at once.
                let _ = o.get("/api/v1/status");
                go.wait();
                o.step1(&format!("c12345{i:02}"), "Wrong-password-123")
            })
        })
        .collect();
    let codes: Vec<String> = threads
        .into_iter()
        .map(|t| code(&t.join().expect("thread").1).to_owned())
        .collect();
    assert!(codes.iter().any(|c| c == "E_BUSY"), "{codes:?}");
    assert!(codes.iter().any(|c| c == "E_LOGIN_FAILED"), "{codes:?}");
}

fn upplan_name(from: &str, to: &str) -> String {
    format!("UPPLAN_202505_{from}_43_{to}_11_20250501120000.CSV")
}

fn send_body(from: &str, to: &str, data: &[u8]) -> Value {
    json!({"message": "m", "destinations": [{"office": to, "files": [{"name": upplan_name(from, to), "data": b64(data)}]}]})
}

/// An idempotency key is bound to the content it was first used with.
fn idempotency_key_is_bound_to_content(backend: Backend) {
    let (_d, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let to = demo.offices[1].office.clone();
    let send =
        |o: &Office, data: &[u8]| o.send("same-key-1", &send_body(&o.info.office, &to, data));
    let (s, v) = send(&a, b"first,content\r\n");
    assert_eq!(s, 200, "{v}");
    let (s, v) = send(&a, b"first,content\r\n");
    assert_eq!((s, v["replayed"].as_bool()), (200, Some(true)), "{v}");
    let (s, v) = send(&a, b"other,bytes\r\n");
    assert_eq!((s, code(&v)), (409, "E_IDEMPOTENCY_CONFLICT"), "{v}");
}

/// Sends are bounded per office and hour.
fn sends_have_a_quota(backend: Backend) {
    let (_d, r, demo) = relay_with(backend, |c| c.limits.max_sends_per_hour = 2);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let to = demo.offices[1].office.clone();
    let mut statuses = Vec::new();
    for i in 0..3 {
        let (status, _) = a.send(
            &format!("quota-{i}"),
            &send_body(&a.info.office, &to, format!("x{i}\r\n").as_bytes()),
        );
        statuses.push(status);
    }
    assert_eq!(statuses, vec![200, 200, 429]);
    // The same quota for a send in one request (`POST /api/v1/send/whole`).
    let token = a.token.clone().expect("token");
    let (s, v) = support::send_whole(
        &a.agent,
        &a.url,
        &token,
        "quota-whole",
        &send_body(&a.info.office, &to, b"whole\r\n"),
    );
    assert_eq!((s, code(&v)), (429, "E_RATE_LIMITED"), "{v}");
}

/// With no room left for sends held in memory (`limits.whole_sends_memory_bytes`, here
/// none), a send in one request is answered `503 E_BUSY` with `Retry-After` at once, before
/// its body is read; the same send as uploads goes through.
fn a_send_in_one_request_without_room_is_busy(backend: Backend) {
    let (_d, r, demo) = relay_with(backend, |c| c.limits.whole_sends_memory_bytes = 0);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let to = demo.offices[1].office.clone();
    let token = a.token.clone().expect("token");
    let t0 = Instant::now();
    let status = head_status(
        &r,
        &demo,
        &format!(
            "POST /api/v1/send/whole HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: busy\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 4000000\r\n\r\n--b\r\n"
        ),
    );
    assert!(status.contains(" 503 "), "status line: {status}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let (status, v) = support::send_whole(
        &a.agent,
        &a.url,
        &token,
        "busy-2",
        &send_body(&a.info.office, &to, b"busy\r\n"),
    );
    assert_eq!((status, code(&v)), (503, "E_BUSY"), "{v}");
    let (status, v) = a.send("busy-3", &send_body(&a.info.office, &to, b"busy\r\n"));
    assert_eq!(status, 200, "{v}");
}

/// A draft saved "in the future" cannot pin itself: the relay's clock decides; and drafts
/// have a quota.
fn drafts_use_the_relays_clock_and_have_a_quota(backend: Backend) {
    let (_d, r, demo) = relay_with(backend, |c| c.limits.max_drafts_per_office = 2);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let draft = |saved_at: &str| json!({"saved_at": saved_at, "terminal": "T1", "message": "m", "to_office": null, "files": []});
    let (s, v) = a.req(
        "PUT",
        "/api/v1/drafts/d1",
        Some(&draft("2099-01-01T00:00:00Z")),
    );
    assert_eq!(s, 200, "{v}");
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("fmt");
    let (s, v) = a.req("PUT", "/api/v1/drafts/d1", Some(&draft(&now)));
    assert_eq!(s, 200, "a save now must win over a save stamped 2099: {v}");
    let (s, _) = a.req("PUT", "/api/v1/drafts/d2", Some(&draft(&now)));
    assert_eq!(s, 200);
    let (s, v) = a.req("PUT", "/api/v1/drafts/d3", Some(&draft(&now)));
    assert_eq!((s, code(&v)), (422, "E_DRAFT_QUOTA"), "{v}");
}

/// 済 needs proof of the download: the listed hash alone is refused, and so is a proof
/// with the wrong nonce or bytes.
fn acknowledgement_needs_proof_of_download(backend: Backend) {
    let (_d, r, demo) = relay(backend);
    let mut b = Office::new(&r, &demo, 1);
    b.login();
    let (_, list) = b.get("/api/v1/received");
    let f = list[0]["files"][0].clone();
    let id = f["id"].as_str().expect("id").to_owned();
    let sha = f["sha256"].as_str().expect("sha").to_owned();
    let ack = |body: Value| b.post(&format!("/api/v1/files/{id}/ack"), &body);
    let (s, v) = ack(json!({"sha256": sha}));
    assert_eq!((s, code(&v)), (400, "E_ACK_PROOF"), "{v}");
    let mut resp = b
        .agent
        .get(&format!("{}/api/v1/files/{id}", b.url))
        .header(
            "Authorization",
            &format!("Bearer {}", b.token.clone().unwrap_or_default()),
        )
        .call()
        .expect("download");
    let nonce = resp
        .headers()
        .get("x-ack-nonce")
        .and_then(|v| v.to_str().ok())
        .expect("nonce")
        .to_owned();
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .expect("bytes");
    let proof = |n: &str, data: &[u8]| {
        let mut p = careplan_core::wire::AckProof::new(n);
        p.update(data);
        p.finish()
    };
    let (s, v) = ack(json!({"sha256": sha, "nonce": nonce, "proof": proof(&nonce, b"other")}));
    assert_eq!((s, code(&v)), (409, "E_HASH_MISMATCH"), "{v}");
    let (s, v) = ack(json!({"sha256": sha, "nonce": "made-up", "proof": proof("made-up", &bytes)}));
    assert_eq!((s, code(&v)), (409, "E_HASH_MISMATCH"), "{v}");
    let (s, v) = ack(json!({"sha256": sha, "nonce": nonce, "proof": proof(&nonce, &bytes)}));
    assert_eq!(s, 200, "{v}");
}

/// Names that would run code or hide their type on the receiving office's PC are refused
/// by the relay (the client refuses them too), and attachments are allowed by extension.
fn dangerous_names_are_refused(backend: Backend) {
    let (_d, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let to = demo.offices[1].office.clone();
    let mut statuses = Vec::new();
    for (i, name) in [
        "desktop.ini",
        "run.lnk",
        "x.library-ms",
        "invoice\u{202E}fdp.exe",
        "COM¹.pdf",
        "CONIN$",
        ".hidden.pdf",
        "plan.exe",
        "計画書.PDF",
    ]
    .iter()
    .enumerate()
    {
        let body = json!({"message": "m", "destinations": [{"office": to, "files": [{"name": name, "data": b64(b"%PDF-1.4\n")}]}]});
        let (status, _) = a.send(&format!("names-{i}"), &body);
        statuses.push((name.to_string(), status));
    }
    let refused: Vec<_> = statuses.iter().filter(|(_, s)| *s == 422).collect();
    assert_eq!(refused.len(), 8, "{statuses:?}");
    assert_eq!(statuses[8].1, 200, "{statuses:?}");
    // Two names that are one file on Windows, in one send.
    let body = json!({"message": "m", "destinations": [{"office": to, "files": [
        {"name": "a.pdf", "data": b64(b"1")}, {"name": "A.PDF", "data": b64(b"2")}]}]});
    assert_eq!(a.send("names-clash", &body).0, 422);
}

on_both_backends!(
    unauthenticated_body_is_never_read,
    huge_bodies_are_refused_before_reading,
    concurrent_guesses_are_counted_before_checking,
    logins_are_rate_limited_per_certificate,
    another_offices_user_is_a_wrong_password_and_never_locks,
    unknown_and_existing_ids_answer_alike,
    revoked_certificate_is_refused,
    disabled_users_and_offices_are_refused,
    password_change_ends_other_sessions,
    expired_licence_is_refused,
    temporary_passwords_expire,
    password_hashing_is_bounded,
    idempotency_key_is_bound_to_content,
    sends_have_a_quota,
    a_send_in_one_request_without_room_is_busy,
    drafts_use_the_relays_clock_and_have_a_quota,
    acknowledgement_needs_proof_of_download,
    dangerous_names_are_refused,
);
