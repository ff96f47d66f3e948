//! Shared by the push tests and the long-poll bench: a demo office speaking to a relay over
//! real mutual TLS (login, the long-poll, a send), and relays started on a demo PKI with
//! their own configuration.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use careplan_relay::Config;
use careplan_relay::demo::{DemoInfo, DemoOfficeInfo, b64, demo_config, ensure_demo};
use serde_json::{Value, json};

use crate::support::agent;

pub mod pg;

/// A free loopback address.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// The demo PKI, users and store in `dir` (for a relay on `addr`).
pub fn demo_in(dir: &Path, addr: SocketAddr) -> DemoInfo {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(ensure_demo(dir, addr))
        .expect("demo relay data")
}

/// The demo configuration of `dir` on `addr`, changed by `f`.
pub fn config(dir: &Path, addr: SocketAddr, f: impl FnOnce(&mut Config)) -> Config {
    let mut cfg = demo_config(dir, addr);
    f(&mut cfg);
    cfg
}

/// One office's terminal: an agent with its certificate, and its session once logged in.
pub struct Office {
    pub agent: ureq::Agent,
    pub url: String,
    pub token: Option<String>,
    pub info: DemoOfficeInfo,
}

impl Office {
    /// Office `i` of `demo` against the relay at `addr`.
    pub fn new(demo: &DemoInfo, i: usize, addr: SocketAddr) -> Self {
        let info = demo.offices[i].clone();
        Self {
            agent: agent(Some(&info.profile), &demo.ca),
            url: format!("https://127.0.0.1:{}", addr.port()),
            token: None,
            info,
        }
    }

    /// The same office (and session) against another relay.
    pub fn via(&self, addr: SocketAddr) -> Self {
        Self {
            agent: self.agent.clone(),
            url: format!("https://127.0.0.1:{}", addr.port()),
            token: self.token.clone(),
            info: self.info.clone(),
        }
    }

    pub fn post(&self, path: &str, body: &Value, extra: &[(&str, &str)]) -> (u16, Value) {
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

    pub fn get(&self, path: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self.agent.get(&format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let mut resp = req.call().expect("request");
        let status = resp.status().as_u16();
        let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        (status, v)
    }

    pub fn login(&mut self) {
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
        self.token = v["token"].as_str().map(str::to_owned);
    }

    /// `GET /api/v1/wait`: (status, answer, how long it took).
    pub fn wait(&self, since: Option<&str>, timeout_secs: u64) -> (u16, Value, Duration) {
        let mut path = format!("/api/v1/wait?timeout={timeout_secs}");
        if let Some(c) = since {
            path.push_str(&format!("&since={c}"));
        }
        let t = Instant::now();
        let (s, v) = self.get(&path, &[]);
        (s, v, t.elapsed())
    }

    /// The cursor to wait with now.
    pub fn cursor(&self) -> String {
        let (s, v, _) = self.wait(None, 0);
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["arrived"], true, "{v}");
        v["cursor"].as_str().expect("cursor").to_owned()
    }

    /// Send one 利用票 to office `to` (uploaded first; status, receipt).
    pub fn send_to(&self, to: &DemoOfficeInfo, serial: &str) -> (u16, Value) {
        let name = format!(
            "UPPLAN_202505_{}_43_{}_11_{serial}.CSV",
            self.info.office, to.office
        );
        let bytes = b"202407,131011,0000012345,20250425,202505\r\n";
        let mut body = json!({"message": "到着通知の確認", "destinations": [
            {"office": to.office, "files": [{"name": name, "data": b64(bytes)}]}
        ]});
        // Protocol 2: the bytes go up as an upload first, the send names it.
        crate::support::stage_files(
            &self.agent,
            &self.url,
            self.token.as_deref().unwrap_or_default(),
            &mut body,
        );
        self.post(
            "/api/v1/send",
            &body,
            &[("Idempotency-Key", &format!("push-{serial}"))],
        )
    }
}
