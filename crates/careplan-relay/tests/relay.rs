//! The relay over real mutual TLS on loopback: the embedded demo relay in a temp dir, and a
//! ureq (rustls/ring) client presenting the demo offices' certificates.

use careplan_relay::demo::{DemoInfo, DemoOfficeInfo, b64};
use careplan_relay::embedded::{RunningRelay, start_demo_on};
use serde_json::{Value, json};

mod support;
use support::agent;
use support::pg::{Backend, Store};

/// A demo relay on a fresh store of `backend` (SQLite in the temp dir, or a fresh database
/// of the test binary's PostgreSQL). Every test below runs on both (`name::sqlite`,
/// `name::pg`).
fn relay(backend: Backend) -> (Store, RunningRelay, DemoInfo) {
    let store = Store::new(backend);
    let r = start_demo_on(
        store.path(),
        "127.0.0.1:0".parse().expect("addr"),
        store.database_url(),
    )
    .expect("start demo relay");
    let info = r.demo.clone().expect("demo info");
    (store, r, info)
}

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

    fn post(&self, path: &str, body: &Value, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut body = body.clone();
        if path == "/api/v1/send"
            && let Some(t) = &self.token
        {
            support::stage_files(&self.agent, &self.url, t, &mut body);
        }
        let body = &body;
        let mut req = self.agent.post(&format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let mut resp = req.send_json(body).expect("request");
        let status = resp.status().as_u16();
        let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        (status, v)
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>, Option<String>) {
        let mut req = self.agent.get(&format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call().expect("request");
        let sha = resp
            .headers()
            .get("x-content-sha256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .expect("body");
        (status, body, sha)
    }

    /// One list page: (status, body, next cursor).
    fn page(&self, path: &str) -> (u16, Value, Option<String>) {
        let mut req = self.agent.get(&format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call().expect("request");
        let next = resp
            .headers()
            .get(careplan_core::wire::NEXT_CURSOR_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = resp.status().as_u16();
        let v = resp.body_mut().read_json().unwrap_or(Value::Null);
        (status, v, next)
    }

    /// Every page of a list of `limit` rows, following the cursors.
    fn all_pages(&self, list: &str, limit: usize) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut after = String::new();
        loop {
            let (s, v, next) = self.page(&format!("{list}?limit={limit}&after={after}"));
            assert_eq!(s, 200, "{v}");
            let rows = v.as_array().expect("array").clone();
            assert!(rows.len() <= limit, "a page holds at most limit rows");
            pages.push(rows);
            match next {
                Some(c) => after = c,
                None => return pages,
            }
            assert!(pages.len() < 1000, "the cursors end");
        }
    }

    fn get_json(&self, path: &str) -> Value {
        let (s, b, _) = self.get(path);
        assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&b));
        serde_json::from_slice(&b).expect("json")
    }

    fn login(&mut self) {
        let (s, v) = self.post(
            "/api/v1/login/personal",
            &json!({"user_id": self.info.personal_user, "password": self.info.personal_password}),
            &[],
        );
        assert_eq!(s, 200, "{v}");
        self.token = v["token"].as_str().map(str::to_owned);
        let (s, v) = self.post(
            "/api/v1/login/office",
            &json!({"user_id": self.info.office_user, "password": self.info.office_password}),
            &[],
        );
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["office"], self.info.office.as_str());
        self.token = v["token"].as_str().map(str::to_owned);
    }
}

fn plan_file(from: &str, to: &str, serial: &str) -> (String, Vec<u8>) {
    let name = format!("UPPLAN_202505_{from}_43_{to}_11_{serial}.CSV");
    let bytes = b"202407,131011,0000012345,20250425,202505\r\n".to_vec();
    (name, bytes)
}

fn send_receive_ack_over_mutual_tls(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    assert!(demo.offices.len() >= 5);
    let mut a = Office::new(&r, &demo, 0);
    let mut b = Office::new(&r, &demo, 1);
    a.login();
    b.login();
    let notices = a.get_json("/api/v1/notices");
    assert!(notices.as_array().is_some_and(|n| !n.is_empty()));
    let before = b
        .get_json("/api/v1/received")
        .as_array()
        .map_or(0, Vec::len);

    let (name, bytes) = plan_file(&a.info.office, &b.info.office, "20250425093000");
    let body = json!({"message": "5月分の利用票です", "destinations": [
        {"office": b.info.office, "files": [{"name": name, "data": b64(&bytes)}, {"name": "説明.pdf", "data": b64(b"%PDF-1.4 demo")}]}
    ]});
    let (s, v) = a.post("/api/v1/send", &body, &[("Idempotency-Key", "k-1")]);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["offices"][0], b.info.office.as_str());
    assert_eq!(v["replayed"], false);
    // the same key again: the same receipt, nothing new
    let (s, v2) = a.post("/api/v1/send", &body, &[("Idempotency-Key", "k-1")]);
    assert_eq!(s, 200);
    assert_eq!(v2["send_id"], v["send_id"]);
    assert_eq!(v2["replayed"], true);

    let list = b.get_json("/api/v1/received");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), before + 1);
    let t = list
        .iter()
        .find(|t| t["message"] == "5月分の利用票です")
        .expect("new transmission listed");
    assert_eq!(t["sender_office"], a.info.office.as_str());
    assert_eq!(t["sender_name"], a.info.name.as_str());
    let f = &t["files"][0];
    assert_eq!(f["name"], name.as_str());
    assert_eq!(f["category"], "登録");
    assert_eq!(f["csv_version"], "202407");
    assert_eq!(f["acquired"], false);
    assert_eq!(t["files"][1]["category"], "PDF等");

    let id = f["id"].as_str().expect("id");
    let mut resp = b
        .agent
        .get(&format!("{}/api/v1/files/{id}", b.url))
        .header(
            "Authorization",
            &format!("Bearer {}", b.token.clone().unwrap_or_default()),
        )
        .call()
        .expect("download");
    assert_eq!(resp.status().as_u16(), 200);
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let sha = header("x-content-sha256").expect("sha header");
    let nonce = header("x-ack-nonce").expect("nonce header");
    let got = resp.body_mut().read_to_vec().expect("body");
    assert_eq!(got, bytes);
    assert_eq!(sha, f["sha256"].as_str().expect("sha"));
    let mut proof = careplan_core::wire::AckProof::new(&nonce);
    proof.update(&got);
    let proof = proof.finish();
    // a wrong hash is refused, the right one with the proof of the bytes acknowledges
    let (s, _) = b.post(
        &format!("/api/v1/files/{id}/ack"),
        &json!({"sha256": "00", "nonce": nonce, "proof": proof}),
        &[],
    );
    assert_eq!(s, 409);
    let (s, _) = b.post(
        &format!("/api/v1/files/{id}/ack"),
        &json!({"sha256": sha, "nonce": nonce, "proof": proof}),
        &[],
    );
    assert_eq!(s, 200);
    // another office cannot fetch it
    let (s, _, _) = a.get(&format!("/api/v1/files/{id}"));
    assert_eq!(s, 404);

    let sent = a.get_json("/api/v1/sent");
    let mine = sent
        .as_array()
        .and_then(|l| l.iter().find(|t| t["message"] == "5月分の利用票です"))
        .expect("sent listed");
    let files = &mine["destinations"][0]["files"];
    assert_eq!(files[0]["acquired"], true);
    assert_eq!(files[1]["acquired"], false);
    r.shutdown();
}

fn refusals_name_offices_and_files(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let b = demo.offices[1].office.clone();
    // unknown destination
    let (name, bytes) = plan_file(&a.info.office, "1312345678", "20250425093000");
    let (s, v) = a.post(
        "/api/v1/send",
        &json!({"message": "", "destinations": [{"office": "1312345678", "files": [{"name": name, "data": b64(&bytes)}]}]}),
        &[("Idempotency-Key", "k-unknown")],
    );
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "E_UNKNOWN_DESTINATION");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1312345678"))
    );
    // path traversal and a name from another office
    let (other, _) = plan_file(&b, &a.info.office, "20250425093000");
    let (s, v) = a.post(
        "/api/v1/send",
        &json!({"message": "", "destinations": [{"office": b, "files": [
            {"name": "../../etc/passwd", "data": b64(b"x")},
            {"name": other, "data": b64(&bytes)}
        ]}]}),
        &[("Idempotency-Key", "k-bad")],
    );
    assert_eq!(s, 422, "{v}");
    let codes: Vec<&str> = v["error"]["details"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert_eq!(codes, vec!["E_NAME_UNSAFE", "E_NOT_OUR_OFFICE"]);
    // 51 destinations
    let dests: Vec<Value> = (0..51)
        .map(|i| json!({"office": format!("13000000{i:02}"), "files": []}))
        .collect();
    let (s, v) = a.post(
        "/api/v1/send",
        &json!({"message": "", "destinations": dests}),
        &[("Idempotency-Key", "k-51")],
    );
    assert_eq!(s, 422);
    assert_eq!(v["error"]["code"], "E_TOO_MANY_DESTINATIONS");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("51"))
    );
    // an oversized file is refused when its upload is opened, before any byte is sent
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let (name, _) = plan_file(&a.info.office, &b, "20250425093001");
    let token = a.token.clone().expect("token");
    let (s, v) = support::upload(&a.agent, &a.url, &token, &name, &big).expect_err("refused");
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "E_FILE_TOO_LARGE");
    // a send naming an upload that does not exist
    let (s, v) = a.post(
        "/api/v1/send",
        &json!({"message": "", "destinations": [{"office": b, "files": [{"name": name, "upload": "nope", "sha256": "00", "size": 1}]}]}),
        &[("Idempotency-Key", "k-missing")],
    );
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        v["error"]["details"]["files"][0]["code"],
        "E_UPLOAD_MISSING"
    );
    // a too long message
    let (s, v) = a.post(
        "/api/v1/send",
        &json!({"message": "あ".repeat(201), "destinations": [{"office": b, "files": []}]}),
        &[("Idempotency-Key", "k-msg")],
    );
    assert_eq!(s, 422);
    assert_eq!(v["error"]["code"], "E_MESSAGE_TOO_LONG");
    r.shutdown();
}

fn login_errors_lockout_and_sessions(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    let a = Office::new(&r, &demo, 0);
    // no token: refused
    let (s, _, _) = a.get("/api/v1/notices");
    assert_eq!(s, 401);
    // step 2 without step 1
    let (s, _) = a.post(
        "/api/v1/login/office",
        &json!({"user_id": a.info.office_user, "password": a.info.office_password}),
        &[],
    );
    assert_eq!(s, 401);
    // wrong passwords lock the account after 5 failures
    for i in 0..5 {
        let (s, v) = a.post(
            "/api/v1/login/personal",
            &json!({"user_id": a.info.personal_user, "password": "wrong1234"}),
            &[],
        );
        if i < 4 {
            assert_eq!(s, 401, "{v}");
            assert_eq!(v["error"]["code"], "E_LOGIN_FAILED");
        } else {
            assert_eq!(s, 423, "{v}");
            assert_eq!(v["error"]["code"], "E_LOCKED");
        }
    }
    let (s, _) = a.post(
        "/api/v1/login/personal",
        &json!({"user_id": a.info.personal_user, "password": a.info.personal_password}),
        &[],
    );
    assert_eq!(s, 423, "locked even with the right password");
    // another office's certificate cannot use this office user
    let mut b = Office::new(&r, &demo, 1);
    let (s, v) = b.post(
        "/api/v1/login/personal",
        &json!({"user_id": b.info.personal_user, "password": b.info.personal_password}),
        &[],
    );
    assert_eq!(s, 200);
    b.token = v["token"].as_str().map(str::to_owned);
    let c = &demo.offices[2];
    let (s, v) = b.post(
        "/api/v1/login/office",
        &json!({"user_id": c.office_user, "password": c.office_password}),
        &[],
    );
    // … answered exactly like a wrong password (no hint that the ID exists elsewhere)
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"]["code"], "E_LOGIN_FAILED");
    // a session token presented with another office's certificate is refused
    let mut c_office = Office::new(&r, &demo, 2);
    c_office.login();
    let stolen = c_office.token.clone();
    b.token = stolen;
    let (s, _, _) = b.get("/api/v1/received");
    assert_eq!(s, 401);
    // logout ends the session
    let (s, _) = c_office.post("/api/v1/logout", &json!({}), &[]);
    assert_eq!(s, 200);
    let (s, _, _) = c_office.get("/api/v1/received");
    assert_eq!(s, 401);
    r.shutdown();
}

fn tls_refuses_missing_and_foreign_certificates(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    // no client certificate
    let no_cert = agent(None, &demo.ca);
    assert!(
        no_cert
            .get(&format!("{}/api/v1/notices", r.url()))
            .call()
            .is_err()
    );
    // a certificate from another CA
    let other = tempfile::tempdir().expect("tempdir");
    let now = time::OffsetDateTime::now_utc();
    let ca = careplan_relay::pki::create_ca("other CA", now, 1).expect("ca");
    let office = careplan_core::OfficeNumber::parse(&demo.offices[0].office).expect("office");
    let c = careplan_relay::pki::issue_client(
        &ca,
        &office,
        "x",
        now - time::Duration::days(1),
        now + time::Duration::days(1),
    )
    .expect("cert");
    std::fs::write(other.path().join("client.crt"), c.cert).expect("write");
    std::fs::write(other.path().join("client.key"), c.key).expect("write");
    let foreign = agent(Some(other.path()), &demo.ca);
    assert!(
        foreign
            .get(&format!("{}/api/v1/notices", r.url()))
            .call()
            .is_err()
    );
    // an expired certificate from the right CA
    let real_ca = careplan_relay::pki::Pem {
        cert: std::fs::read_to_string(&demo.ca).expect("ca"),
        key: std::fs::read_to_string(demo.ca.with_file_name("ca.key")).expect("ca key"),
    };
    let old = careplan_relay::pki::issue_client(
        &real_ca,
        &office,
        "x",
        now - time::Duration::days(30),
        now - time::Duration::days(1),
    )
    .expect("cert");
    let exp = tempfile::tempdir().expect("tempdir");
    std::fs::write(exp.path().join("client.crt"), old.cert).expect("write");
    std::fs::write(exp.path().join("client.key"), old.key).expect("write");
    let expired = agent(Some(exp.path()), &demo.ca);
    assert!(
        expired
            .get(&format!("{}/api/v1/notices", r.url()))
            .call()
            .is_err()
    );
    // the demo profile works
    let ok = agent(Some(&demo.offices[0].profile), &demo.ca);
    let resp = ok
        .get(&format!("{}/api/v1/notices", r.url()))
        .call()
        .expect("tls ok");
    assert_eq!(
        resp.status().as_u16(),
        401,
        "TLS passes, the session is missing"
    );
    r.shutdown();
}

fn concurrent_sends_are_all_stored_once(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let b = demo.offices[1].office.clone();
    let token = a.token.clone().expect("token");
    let url = r.url();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let agent = agent(Some(&demo.offices[0].profile), &demo.ca);
            let (url, token, b, from) = (url.clone(), token.clone(), b.clone(), a.info.office.clone());
            std::thread::spawn(move || {
                let (name, bytes) = plan_file(&from, &b, &format!("202504250930{i:02}"));
                let mut body = json!({"message": format!("並行{i}"), "destinations": [{"office": b, "files": [{"name": name, "data": b64(&bytes)}]}]});
                support::stage_files(&agent, &url, &token, &mut body);
                // each request twice with the same key
                let mut ids = Vec::new();
                for _ in 0..2 {
                    let mut resp = agent
                        .post(&format!("{url}/api/v1/send"))
                        .header("Authorization", &format!("Bearer {token}"))
                        .header("Idempotency-Key", &format!("conc-{i}"))
                        .send_json(&body)
                        .expect("send");
                    let status = resp.status().as_u16();
                    let v: Value = resp.body_mut().read_json().expect("json");
                    assert_eq!(status, 200, "{v}");
                    ids.push(v["send_id"].as_str().unwrap_or_default().to_owned());
                }
                assert_eq!(ids[0], ids[1]);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let sent = a.get_json("/api/v1/sent");
    let n = sent
        .as_array()
        .expect("array")
        .iter()
        .filter(|t| t["message"].as_str().is_some_and(|m| m.starts_with("並行")))
        .count();
    assert_eq!(n, 8);
    r.shutdown();
}

/// Temporary and expired office-user passwords must be changed (with the step-1 token)
/// before a session is given; the new password follows the policy.
fn temporary_and_expired_passwords_must_be_changed(backend: Backend) {
    let (dir, r, demo) = relay(backend);
    let o = demo.offices[3].clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt
        .block_on(careplan_relay::db::Db::open(&dir.url()))
        .expect("db");
    let sec = careplan_relay::config::Security {
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        ..Default::default()
    };
    let temp_pw = "temp1234X";
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    rt.block_on(db.put_office_user(
        &o.office_user,
        &o.office,
        &careplan_relay::auth::hash_password(&sec, temp_pw),
        now,
        true,
    ))
    .expect("temporary password");

    let mut a = Office::new(&r, &demo, 3);
    let step1 = |a: &mut Office| {
        let (s, v) = a.post(
            "/api/v1/login/personal",
            &json!({"user_id": a.info.personal_user, "password": a.info.personal_password}),
            &[],
        );
        assert_eq!(s, 200, "{v}");
        a.token = v["token"].as_str().map(str::to_owned);
    };
    step1(&mut a);
    let (s, v) = a.post(
        "/api/v1/login/office",
        &json!({"user_id": o.office_user, "password": temp_pw}),
        &[],
    );
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "E_PASSWORD_CHANGE_REQUIRED");
    // the policy is enforced
    let (s, v) = a.post(
        "/api/v1/password",
        &json!({"user_id": o.office_user, "old_password": temp_pw, "new_password": "short"}),
        &[],
    );
    assert_eq!(s, 400);
    assert_eq!(v["error"]["code"], "E_PASSWORD_POLICY");
    let (s, v) = a.post(
        "/api/v1/password",
        &json!({"user_id": o.office_user, "old_password": temp_pw, "new_password": "newpass99"}),
        &[],
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = a.post(
        "/api/v1/login/office",
        &json!({"user_id": o.office_user, "password": "newpass99"}),
        &[],
    );
    assert_eq!(s, 200, "{v}");
    assert!(v["password_expires_at"].is_string());

    // a password set 91 days ago has expired
    rt.block_on(db.put_office_user(
        &o.office_user,
        &o.office,
        &careplan_relay::auth::hash_password(&sec, "newpass99"),
        now - 91 * 86_400,
        false,
    ))
    .expect("old password");
    step1(&mut a);
    let (s, v) = a.post(
        "/api/v1/login/office",
        &json!({"user_id": o.office_user, "password": "newpass99"}),
        &[],
    );
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "E_PASSWORD_EXPIRED");
    r.shutdown();
}

/// Step-1 tokens and idle sessions expire (here configured to zero minutes).
fn pending_tokens_and_idle_sessions_expire(backend: Backend) {
    let (dir, r, demo) = relay(backend);
    let addr = r.addr;
    r.shutdown();
    let mut cfg = careplan_relay::demo::demo_config(dir.path(), addr);
    cfg.database_url = dir.database_url();
    cfg.security.pending_minutes = 0;
    cfg.security.session_idle_minutes = 0;
    let r = careplan_relay::embedded::start(cfg).expect("restart with short expiry");
    let mut a = Office::new(&r, &demo, 0);
    let (s, v) = a.post(
        "/api/v1/login/personal",
        &json!({"user_id": a.info.personal_user, "password": a.info.personal_password}),
        &[],
    );
    assert_eq!(s, 200, "{v}");
    a.token = v["token"].as_str().map(str::to_owned);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (s, v) = a.post(
        "/api/v1/login/office",
        &json!({"user_id": a.info.office_user, "password": a.info.office_password}),
        &[],
    );
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"]["code"], "E_SESSION");
    // a fresh login works at once (started just after a second boundary, so that the
    // Unix-second clock of the relay does not tick in between), and the idle session ends
    // a second later
    let into_second = time::OffsetDateTime::now_utc().nanosecond();
    std::thread::sleep(std::time::Duration::from_nanos(
        u64::from(1_000_000_000 - into_second) + 20_000_000,
    ));
    a.token = None;
    a.login();
    let (s, _, _) = a.get("/api/v1/notices");
    assert_eq!(s, 200);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (s, _, _) = a.get("/api/v1/notices");
    assert_eq!(s, 401);
    r.shutdown();
}

/// Lists are pages of at most `limit` rows, newest first, each with the cursor of the next
/// page; walking the cursors gives every row once, in order, also when rows of the same
/// second straddle a page boundary and when new rows arrive during the walk.
fn lists_are_paged_with_cursors(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    let mut b = Office::new(&r, &demo, 1);
    a.login();
    b.login();
    let c = demo.offices[2].office.clone();
    let send = |i: usize| {
        let (n1, d1) = plan_file(
            &a.info.office,
            &b.info.office,
            &format!("202504250931{i:02}"),
        );
        let (n2, d2) = plan_file(&a.info.office, &c, &format!("202504250931{i:02}"));
        let body = json!({"message": format!("頁{i}"), "destinations": [
            {"office": b.info.office, "files": [{"name": n1, "data": b64(&d1)}]},
            {"office": c, "files": [{"name": n2, "data": b64(&d2)}]}
        ]});
        let (s, v) = a.post(
            "/api/v1/send",
            &body,
            &[("Idempotency-Key", &format!("page-{i}"))],
        );
        assert_eq!(s, 200, "{v}");
    };
    // Sent within a second or two: many rows share their second.
    for i in 0..11 {
        send(i);
    }
    let whole = |o: &Office, list: &str| -> Vec<Value> {
        let (s, v, next) = o.page(&format!("{list}?limit=1000"));
        assert_eq!(s, 200);
        assert!(next.is_none(), "one page holds everything");
        v.as_array().expect("array").clone()
    };
    let ids = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|t| t["id"].as_str().expect("id").to_owned())
            .collect()
    };
    for (o, list) in [(&b, "/api/v1/received"), (&a, "/api/v1/sent")] {
        let all = whole(o, list);
        assert!(all.len() >= 11, "{list}: {}", all.len());
        let times: Vec<&str> = all
            .iter()
            .map(|t| {
                t["received_at"]
                    .as_str()
                    .or(t["sent_at"].as_str())
                    .expect("time")
            })
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] >= w[1]),
            "{list}: newest first"
        );
        for limit in [1, 3, 4] {
            let pages = o.all_pages(list, limit);
            let walked: Vec<Value> = pages.concat();
            assert_eq!(
                ids(&walked),
                ids(&all),
                "{list} by {limit}: every row once, in order"
            );
            assert!(pages[..pages.len() - 1].iter().all(|p| p.len() == limit));
        }
    }
    // A sent page holds whole sends (both destinations with their files).
    for t in a.all_pages("/api/v1/sent", 2).concat() {
        if t["message"].as_str().is_some_and(|m| m.starts_with('頁')) {
            let d = t["destinations"].as_array().expect("destinations");
            assert_eq!(d.len(), 2, "{t}");
            assert!(
                d.iter()
                    .all(|d| d["files"].as_array().is_some_and(|f| f.len() == 1))
            );
        }
    }
    // New rows during a walk: the next page goes on where the last one ended; every row
    // that was there is walked once, in order. (The new row itself is on the next walk's
    // first page; this walk meets it only if it shares the second of a later page.)
    let before = whole(&b, "/api/v1/received");
    let (s, first, next) = b.page("/api/v1/received?limit=4");
    assert_eq!(s, 200);
    let next = next.expect("more pages");
    send(11);
    let mut walked = first.as_array().expect("array").clone();
    let mut after = next;
    loop {
        let (s, v, next) = b.page(&format!("/api/v1/received?limit=4&after={after}"));
        assert_eq!(s, 200);
        walked.extend(v.as_array().expect("array").clone());
        match next {
            Some(c) => after = c,
            None => break,
        }
    }
    let now = whole(&b, "/api/v1/received");
    assert_eq!(now.len(), before.len() + 1);
    assert!(now.iter().any(|t| t["message"] == "頁11"));
    let walked_ids = ids(&walked);
    let unique: std::collections::BTreeSet<&String> = walked_ids.iter().collect();
    assert_eq!(unique.len(), walked_ids.len(), "no row twice");
    let without_new: Vec<String> = walked
        .iter()
        .filter(|t| t["message"] != "頁11")
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        without_new,
        ids(&before),
        "every earlier row once, in order"
    );
    // Limits are clamped, and a cursor the relay did not make is refused clearly.
    let (s, v, _) = b.page("/api/v1/received?limit=0");
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(1)));
    let (s, v, next) = b.page("/api/v1/received?limit=100000");
    assert_eq!(s, 200);
    assert!(next.is_none() && v.as_array().is_some_and(|l| l.len() == now.len()));
    for bad in ["nonsense", "djEuMTIzLi4v", &"A".repeat(300)] {
        let (s, v, _) = b.page(&format!("/api/v1/received?after={bad}"));
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "E_CURSOR");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("一覧"))
        );
    }
    // Without `limit` (an old client): the default page, newest first.
    let (s, v, _) = b.page("/api/v1/received");
    assert_eq!(s, 200);
    assert_eq!(ids(v.as_array().expect("array")), ids(&now));
    r.shutdown();
}

/// A raw TLS stream presenting `office`'s certificate (to break an upload mid-body).
fn raw_tls(
    r: &RunningRelay,
    o: &DemoOfficeInfo,
    ca: &std::path::Path,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(c.expect("ca cert")).expect("add root");
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(o.profile.join("client.crt"))
            .expect("crt")
            .map(|c| c.expect("cert"))
            .collect();
    let key = PrivateKeyDer::from_pem_file(o.profile.join("client.key")).expect("key");
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .expect("client auth");
    let conn = rustls::ClientConnection::new(
        std::sync::Arc::new(cfg),
        ServerName::try_from("127.0.0.1").expect("name"),
    )
    .expect("conn");
    let tcp = std::net::TcpStream::connect(r.addr).expect("connect");
    rustls::StreamOwned::new(conn, tcp)
}

/// Send only a request's `head` (its body never comes) and read the answer: for requests
/// answered before any body byte is read (a client still writing megabytes may meet the
/// closed connection before it reads the answer: a broken pipe instead of the status).
/// Returns the status, the JSON body and the `Upload-Offset` header.
fn head_answer(
    r: &RunningRelay,
    o: &DemoOfficeInfo,
    ca: &std::path::Path,
    head: &str,
) -> (u16, Value, Option<String>) {
    use std::io::{Read, Write};
    let mut t = raw_tls(r, o, ca);
    t.write_all(head.as_bytes()).expect("head");
    t.flush().expect("flush");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = t.read(&mut buf).expect("answer");
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(|v| v.trim().to_owned())
    };
    let status: u16 = head[9..12].parse().expect("status");
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    while answer.len() < end + length {
        let n = t.read(&mut buf).expect("body");
        assert!(n > 0, "body cut");
        answer.extend_from_slice(&buf[..n]);
    }
    let v: Value = serde_json::from_slice(&answer[end..end + length]).expect("json");
    (status, v, header("upload-offset"))
}

/// Send the first `cut` bytes of `bytes` as upload `id`'s body (declared whole), break the
/// connection, and wait until the relay reports what it kept: the offset, checked to be
/// more than nothing and no more than was sent.
fn break_upload_after(
    r: &RunningRelay,
    demo: &DemoInfo,
    a: &Office,
    token: &str,
    id: &str,
    bytes: &[u8],
    cut: usize,
) -> u64 {
    use std::io::Write;
    {
        let mut t = raw_tls(r, &a.info, &demo.ca);
        write!(
            t,
            "PUT /api/v1/uploads/{id} HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nAuthorization: Bearer {token}\r\nUpload-Offset: 0\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            bytes.len()
        )
        .expect("head");
        t.write_all(&bytes[..cut]).expect("part of the body");
        t.flush().expect("flush");
        std::thread::sleep(std::time::Duration::from_millis(300));
        t.sock.shutdown(std::net::Shutdown::Both).expect("break");
    }
    let t0 = std::time::Instant::now();
    let mut offset = 0;
    while offset == 0 && t0.elapsed() < std::time::Duration::from_secs(10) {
        let (s, body, _) = a.get(&format!("/api/v1/uploads/{id}"));
        assert_eq!(s, 200);
        let v: Value = serde_json::from_slice(&body).expect("json");
        offset = v["offset"].as_u64().expect("offset");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(offset > 0 && offset <= cut as u64, "kept {offset} bytes");
    offset
}

/// Files travel as raw bytes: an upload broken mid-body keeps what arrived and continues
/// from the relay's offset; a wrong offset is 409 with the right one; a body longer than
/// declared is 413; bytes that do not match the declared SHA-256 are refused and the upload
/// starts again; a download continues with `Range` (206), a range past the end is 416.
fn uploads_resume_and_downloads_take_ranges(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    let mut b = Office::new(&r, &demo, 1);
    a.login();
    b.login();
    let token = a.token.clone().expect("token");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let sha = careplan_relay::auth::sha256_hex(&bytes);
    let (s, v) = a.post(
        "/api/v1/uploads",
        &json!({"size": bytes.len(), "sha256": sha}),
        &[],
    );
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    assert_eq!(v["offset"], 0);

    // 1 MB of a 3 MB body, then the connection breaks.
    let cut = 1_000_000;
    let offset = break_upload_after(&r, &demo, &a, &token, &id, &bytes, cut);
    let put = |from: u64, body: &[u8]| {
        let mut resp = a
            .agent
            .put(&format!("{}/api/v1/uploads/{id}", a.url))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Upload-Offset", &from.to_string())
            .send(body)
            .expect("put");
        let status = resp.status().as_u16();
        let header = resp
            .headers()
            .get("upload-offset")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (
            status,
            resp.body_mut().read_json::<Value>().unwrap_or(Value::Null),
            header,
        )
    };
    // These two are answered before any body byte is read, so only the head is sent (a
    // client still writing megabytes may meet the closed connection before it reads the
    // answer: a broken pipe instead of the status).
    let head_only = |from: u64, len: u64| {
        head_answer(
            &r,
            &a.info,
            &demo.ca,
            &format!(
                "PUT /api/v1/uploads/{id} HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nAuthorization: Bearer {token}\r\nUpload-Offset: {from}\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
            ),
        )
    };
    // From a wrong offset: 409 with the relay's.
    let (s, v, h) = head_only(0, bytes.len() as u64);
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "E_UPLOAD_OFFSET");
    assert_eq!(h, Some(offset.to_string()));
    // More than declared: 413, before reading.
    let (s, v, _) = head_only(offset, bytes.len() as u64 - offset + 1);
    assert_eq!(s, 413, "{v}");
    // The rest, from the relay's offset: complete, verified.
    let (s, v, _) = put(offset, &bytes[offset as usize..]);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["complete"], true);

    // Bytes that do not match the declared hash: refused, the upload starts again.
    let (_, v) = a.post(
        "/api/v1/uploads",
        &json!({"size": 4, "sha256": careplan_relay::auth::sha256_hex(b"abcd")}),
        &[],
    );
    let bad = v["id"].as_str().expect("id").to_owned();
    let mut resp = a
        .agent
        .put(&format!("{}/api/v1/uploads/{bad}", a.url))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Upload-Offset", "0")
        .send(&b"abce"[..])
        .expect("put");
    assert_eq!(resp.status().as_u16(), 422);
    let v: Value = resp.body_mut().read_json().expect("json");
    assert_eq!(v["error"]["code"], "E_UPLOAD_HASH");
    let (_, body, _) = a.get(&format!("/api/v1/uploads/{bad}"));
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        (v["offset"].as_u64(), v["complete"].as_bool()),
        (Some(0), Some(false))
    );

    // Send it; download a range.
    let name = "大きな資料.pdf";
    let (s, v) = a.post(
        "/api/v1/send",
        &json!({"message": "範囲", "destinations": [{"office": b.info.office, "files": [
            {"name": name, "upload": id, "sha256": sha, "size": bytes.len()}]}]}),
        &[("Idempotency-Key", "k-range")],
    );
    assert_eq!(s, 200, "{v}");
    let list = b.get_json("/api/v1/received");
    let f = list
        .as_array()
        .and_then(|l| l.iter().find(|t| t["message"] == "範囲"))
        .expect("listed")["files"][0]
        .clone();
    let fid = f["id"].as_str().expect("id");
    let ranged = |range: &str| {
        let mut resp = b
            .agent
            .get(&format!("{}/api/v1/files/{fid}", b.url))
            .header(
                "Authorization",
                &format!("Bearer {}", b.token.clone().unwrap_or_default()),
            )
            .header("Range", range)
            .call()
            .expect("get");
        let status = resp.status().as_u16();
        let cr = resp
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .expect("body");
        (status, cr, body)
    };
    let (s, cr, got) = ranged("bytes=2000000-");
    assert_eq!(s, 206);
    assert_eq!(cr.as_deref(), Some("bytes 2000000-2999999/3000000"));
    assert_eq!(got, bytes[2_000_000..]);
    let (s, _, got) = ranged("bytes=10-19");
    assert_eq!((s, got.as_slice()), (206, &bytes[10..20]));
    let (s, cr, _) = ranged("bytes=3000000-");
    assert_eq!((s, cr.as_deref()), (416, Some("bytes */3000000")));
    r.shutdown();
}

/// A small file sent whole in one `PUT` is stored from memory (group commit, no staged
/// part); when its body breaks midway, what arrived is kept as a part and the client
/// continues from the relay's offset, as with a large file.
fn a_small_upload_broken_midway_continues(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let token = a.token.clone().expect("token");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let sha = careplan_relay::auth::sha256_hex(&bytes);
    let (s, v) = a.post(
        "/api/v1/uploads",
        &json!({"size": bytes.len(), "sha256": sha}),
        &[],
    );
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    let cut = 100_000;
    let offset = break_upload_after(&r, &demo, &a, &token, &id, &bytes, cut);
    let state = || {
        let (s, body, _) = a.get(&format!("/api/v1/uploads/{id}"));
        assert_eq!(s, 200);
        serde_json::from_slice::<Value>(&body).expect("json")
    };
    assert_eq!(state()["complete"], false);
    let at = usize::try_from(offset).expect("offset");
    let mut resp = a
        .agent
        .put(&format!("{}/api/v1/uploads/{id}", a.url))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Upload-Offset", &offset.to_string())
        .send(&bytes[at..])
        .expect("put");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.body_mut().read_json().expect("json");
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["offset"].as_u64(), Some(bytes.len() as u64));
    // The recipient-facing check: the blob is stored whole under its hash.
    let (_, v) = a.post(
        "/api/v1/send",
        &json!({"message": "小", "destinations": [{"office": demo.offices[1].office, "files": [
            {"name": "資料.pdf", "upload": id, "sha256": sha, "size": bytes.len()}]}]}),
        &[("Idempotency-Key", "k-small")],
    );
    assert!(v["send_id"].is_string(), "{v}");
    r.shutdown();
}

/// A small file whole in one request (`PUT /api/v1/uploads/whole/{sha256}`): stored and
/// complete at once, named by a send, downloaded byte for byte; wrong bytes, a file over
/// the one-request size, a missing length and a missing session are refused, the last two
/// before the body is read.
fn a_small_file_goes_whole_in_one_request(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let mut b = Office::new(&r, &demo, 1);
    b.login();
    let token = a.token.clone().expect("token");
    let put = |sha: &str, body: &[u8]| -> (u16, Value) {
        let mut resp = a
            .agent
            .put(&format!("{}/api/v1/uploads/whole/{sha}", a.url))
            .header("Authorization", &format!("Bearer {token}"))
            .send(body)
            .expect("put");
        let status = resp.status().as_u16();
        let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        (status, v)
    };
    let (name, bytes) = plan_file(
        &demo.offices[0].office,
        &demo.offices[1].office,
        "20250425093001",
    );
    let sha = careplan_relay::auth::sha256_hex(&bytes);
    let (s, v) = put(&sha, &bytes);
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["complete"], true);
    assert_eq!(v["offset"].as_u64(), Some(bytes.len() as u64));
    let id = v["id"].as_str().expect("id").to_owned();
    let (s, v) = a.post(
        "/api/v1/send",
        &json!({"message": "一度で", "destinations": [{"office": demo.offices[1].office, "files": [
            {"name": name, "upload": id, "sha256": sha, "size": bytes.len()}]}]}),
        &[("Idempotency-Key", "k-whole")],
    );
    assert_eq!(s, 200, "{v}");
    let list = b.get_json("/api/v1/received");
    let f = list
        .as_array()
        .and_then(|l| l.iter().find(|t| t["message"] == "一度で"))
        .expect("listed")["files"][0]
        .clone();
    let (s, got, _) = b.get(&format!("/api/v1/files/{}", f["id"].as_str().expect("id")));
    assert_eq!(
        (s, got.as_slice()),
        (200, bytes.as_slice()),
        "byte for byte"
    );

    // Bytes that are not the declared ones: refused, nothing opened.
    let (s, v) = put(&careplan_relay::auth::sha256_hex(b"other"), &bytes);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("E_UPLOAD_HASH")),
        "{v}"
    );
    // A malformed hash (refused before the body is read: asked with the head alone, as a
    // body still being written when the answer closes the connection can reset it), an
    // empty file.
    let (s, v, _) = head_answer(
        &r,
        &a.info,
        &demo.ca,
        &format!(
            "PUT /api/v1/uploads/whole/xyz HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
            bytes.len()
        ),
    );
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("E_BAD_SHA256")),
        "{v}"
    );
    let (s, v) = put(&careplan_relay::auth::sha256_hex(b""), b"");
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("E_EMPTY_FILE")),
        "{v}"
    );
    // Over 1 MiB: the resumable upload's job (413 before the body is read).
    let (s, v, _) = head_answer(
        &r,
        &a.info,
        &demo.ca,
        &format!(
            "PUT /api/v1/uploads/whole/{sha} HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        ),
    );
    assert_eq!(s, 413, "{v}");
    // No length, no session: refused without reading a byte of the body.
    let (s, v, _) = head_answer(
        &r,
        &a.info,
        &demo.ca,
        &format!(
            "PUT /api/v1/uploads/whole/{sha} HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ),
    );
    assert_eq!(s, 411, "{v}");
    let (s, v, _) = head_answer(
        &r,
        &a.info,
        &demo.ca,
        &format!(
            "PUT /api/v1/uploads/whole/{sha} HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nContent-Length: {}\r\n\r\n",
            bytes.len()
        ),
    );
    assert_eq!(s, 401, "{v}");
    r.shutdown();
}

/// A send and its files' bytes in one request (`POST /api/v1/send/whole`): two files, one
/// of them to two destinations (its bytes once), stored and listed, downloaded byte for
/// byte; a retry answered from the receipt; wrong bytes, a missing
/// file, a file the send does not name, a form that is not one, a body over the limit, no
/// length and no session refused, and none of them leaves a transmission; a file uploaded
/// before and one in the request, in one send.
fn a_send_goes_whole_in_one_request(backend: Backend) {
    let (_dir, r, demo) = relay(backend);
    let mut a = Office::new(&r, &demo, 0);
    a.login();
    let mut b = Office::new(&r, &demo, 1);
    b.login();
    let mut c = Office::new(&r, &demo, 2);
    c.login();
    let token = a.token.clone().expect("token");
    let (ao, bo, co) = (
        demo.offices[0].office.clone(),
        demo.offices[1].office.clone(),
        demo.offices[2].office.clone(),
    );
    let plan = |to: &str, serial: &str, text: &str| {
        let name = format!("UPPLAN_202505_{ao}_43_{to}_11_{serial}.CSV");
        (name, format!("1,{text}\r\n").into_bytes())
    };
    let (n1, b1) = plan(&bo, "20250425093001", "一枚目");
    let (n2, b2) = plan(&bo, "20250425093002", "二枚目");
    let (n3, _) = plan(&co, "20250425093003", "一枚目");
    let file = |n: &str, bytes: &[u8]| json!({"name": n, "data": b64(bytes)});
    let body = json!({"message": "一度で全部", "destinations": [
        {"office": bo, "files": [file(&n1, &b1), file(&n2, &b2)]},
        {"office": co, "files": [file(&n3, &b1)]}]});
    let (s, v) = support::send_whole(&a.agent, &a.url, &token, "k-send-whole", &body);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["replayed"], false);
    let send_id = v["send_id"].as_str().expect("send id").to_owned();
    let listed = |o: &Office, message: &str| -> Vec<Value> {
        o.get_json("/api/v1/received")
            .as_array()
            .map(|l| {
                l.iter()
                    .filter(|t| t["message"] == message)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let at_b = listed(&b, "一度で全部");
    assert_eq!(at_b.len(), 1, "{at_b:?}");
    let files = at_b[0]["files"].as_array().expect("files").clone();
    assert_eq!(files.len(), 2);
    for (f, want) in files.iter().zip([&b1, &b2]) {
        let (s, got, _) = b.get(&format!("/api/v1/files/{}", f["id"].as_str().expect("id")));
        assert_eq!((s, got.as_slice()), (200, want.as_slice()), "byte for byte");
    }
    let at_c = listed(&c, "一度で全部");
    let f = &at_c[0]["files"][0];
    let (s, got, _) = c.get(&format!("/api/v1/files/{}", f["id"].as_str().expect("id")));
    assert_eq!((s, got.as_slice()), (200, b1.as_slice()));

    // The same key again: the receipt, nothing stored twice.
    let (s, v) = support::send_whole(&a.agent, &a.url, &token, "k-send-whole", &body);
    assert_eq!((s, v["replayed"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(v["send_id"], send_id.as_str());
    assert_eq!(listed(&b, "一度で全部").len(), 1);

    let raw = |message: &str, parts: &[(&str, &[u8])], files: Value, key: &str| {
        let request = json!({"message": message, "destinations": [{"office": bo, "files": files}]});
        let (ct, form) = support::whole_send_form(&request, parts);
        let mut resp = a
            .agent
            .post(&format!("{}/api/v1/send/whole", a.url))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Idempotency-Key", key)
            .header("Content-Type", &ct)
            .send(&form[..])
            .expect("post");
        let status = resp.status().as_u16();
        (
            status,
            resp.body_mut().read_json::<Value>().unwrap_or(Value::Null),
        )
    };
    let sha1 = careplan_relay::auth::sha256_hex(&b1);
    let named =
        |sha: &str, size: usize| json!([{"name": n1, "upload": "", "sha256": sha, "size": size}]);
    // Bytes that are not the declared ones.
    let (s, v) = raw(
        "違う中身",
        &[(sha1.as_str(), &b2)],
        named(&sha1, b2.len()),
        "k-w1",
    );
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("E_UPLOAD_HASH")),
        "{v}"
    );
    // A file the send names but whose bytes are not in the request.
    let (s, v) = raw("中身なし", &[], named(&sha1, b1.len()), "k-w2");
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("E_SEND_REFUSED")),
        "{v}"
    );
    assert_eq!(
        v["error"]["details"]["files"][0]["code"], "E_UPLOAD_MISSING",
        "{v}"
    );
    assert!(
        v["error"]["details"]["files"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("この送信に含まれていません")),
        "{v}"
    );
    // Bytes the send does not name.
    let sha2 = careplan_relay::auth::sha256_hex(&b2);
    let (s, v) = raw(
        "余分",
        &[(sha1.as_str(), &b1), (sha2.as_str(), &b2)],
        named(&sha1, b1.len()),
        "k-w3",
    );
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("E_BAD_REQUEST")),
        "{v}"
    );
    // Not a form.
    let mut resp = a
        .agent
        .post(&format!("{}/api/v1/send/whole", a.url))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Idempotency-Key", "k-w4")
        .header("Content-Type", "application/json")
        .send(b"{}".as_slice())
        .expect("post");
    let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
    assert_eq!(resp.status().as_u16(), 400, "{v}");
    // Over the limit, no length, no session: answered before the body is read.
    let head = |extra: &str| {
        head_answer(
            &r,
            &a.info,
            &demo.ca,
            &format!(
                "POST /api/v1/send/whole HTTP/1.1\r\nHost: relay\r\nx-careplan-protocol: 2\r\nIdempotency-Key: k-w5\r\nContent-Type: multipart/form-data; boundary=x\r\n{extra}\r\n"
            ),
        )
    };
    let (s, v, _) = head(&format!(
        "Authorization: Bearer {token}\r\nContent-Length: {}\r\n",
        careplan_core::wire::SEND_WHOLE_MAX + 1
    ));
    assert_eq!(s, 413, "{v}");
    let (s, v, _) = head(&format!(
        "Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n"
    ));
    assert_eq!(s, 411, "{v}");
    let (s, v, _) = head("Content-Length: 100\r\n");
    assert_eq!(s, 401, "{v}");
    for m in ["違う中身", "中身なし", "余分"] {
        assert!(listed(&b, m).is_empty(), "{m}");
    }
    // Both ways in one send: a file uploaded before, and one in the request.
    let (n4, b4) = plan(&bo, "20250425093004", "アップロード済み");
    let (n5, b5) = plan(&bo, "20250425093005", "この要求で");
    let uploaded = support::upload_whole(&a.agent, &a.url, &token, &n4, &b4).expect("upload");
    let sha5 = careplan_relay::auth::sha256_hex(&b5);
    let (s, v) = raw(
        "両方",
        &[(sha5.as_str(), &b5)],
        json!([uploaded, {"name": n5, "upload": "", "sha256": sha5, "size": b5.len()}]),
        "k-w6",
    );
    assert_eq!(s, 200, "{v}");
    let both = listed(&b, "両方");
    let files = both[0]["files"].as_array().expect("files");
    for (f, want) in files.iter().zip([&b4, &b5]) {
        let (s, got, _) = b.get(&format!("/api/v1/files/{}", f["id"].as_str().expect("id")));
        assert_eq!((s, got.as_slice()), (200, want.as_slice()));
    }
    r.shutdown();
}

on_both_backends!(
    a_send_goes_whole_in_one_request,
    a_small_file_goes_whole_in_one_request,
    a_small_upload_broken_midway_continues,
    lists_are_paged_with_cursors,
    uploads_resume_and_downloads_take_ranges,
    send_receive_ack_over_mutual_tls,
    refusals_name_offices_and_files,
    login_errors_lockout_and_sessions,
    tls_refuses_missing_and_foreign_certificates,
    concurrent_sends_are_all_stored_once,
    temporary_and_expired_passwords_must_be_changed,
    pending_tokens_and_idle_sessions_expire,
);
