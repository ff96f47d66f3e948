//! A real relay on loopback (the embedded demo relay of `careplan-relay`) with its demo
//! offices, and helpers to build clients with real sled stores in temp dirs.

use std::path::{Path, PathBuf};

use careplan_client::{Client, ClientOptions, Identity, Store};
use careplan_core::demo::{DemoFile, DemoOffice};
use careplan_core::{OfficeNumber, ServiceType};

/// One demo office as `demo.json` lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Office {
    pub office: String,
    pub name: String,
    pub personal_user: String,
    pub personal_password: String,
    pub office_user: String,
    pub office_password: String,
    pub profile: PathBuf,
}

#[derive(serde::Deserialize)]
struct DemoJson {
    offices: Vec<Office>,
}

pub struct Relay {
    running: Option<careplan_relay::embedded::RunningRelay>,
    pub url: String,
    pub offices: Vec<Office>,
    _dir: tempfile::TempDir,
}

impl Relay {
    pub fn start() -> Relay {
        Self::start_with(|_| {})
    }

    /// The demo relay, restarted with `tune` applied to its configuration.
    pub fn start_with(tune: impl FnOnce(&mut careplan_relay::config::Config)) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let first =
            careplan_relay::embedded::start_demo(dir.path(), "127.0.0.1:0".parse().unwrap())
                .unwrap();
        let addr = first.addr;
        first.shutdown();
        let mut cfg = careplan_relay::demo::demo_config(dir.path(), addr);
        tune(&mut cfg);
        let running = careplan_relay::embedded::start(cfg).unwrap();
        let url = format!("https://localhost:{}", running.addr.port());
        let demo: DemoJson =
            serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).unwrap()).unwrap();
        let offices = demo
            .offices
            .into_iter()
            .map(|mut o| {
                if o.profile.is_relative() {
                    o.profile = dir.path().join(&o.profile);
                }
                o
            })
            .collect();
        Relay {
            running: Some(running),
            url,
            offices,
            _dir: dir,
        }
    }

    /// A view of `r` (the same offices and profiles) that does not own the relay: to reach
    /// it at another URL (through a proxy) or to stand in for another server.
    pub fn start_detached(r: &Relay) -> Relay {
        Relay {
            running: None,
            url: r.url.clone(),
            offices: r.offices.clone(),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The address the relay listens on (to put a proxy in front of it: `benches/send_rtt`).
    #[allow(dead_code)] // used by the benches, which include this file too
    pub fn addr(&self) -> std::net::SocketAddr {
        self.running.as_ref().expect("a running relay").addr
    }

    /// The relay's data folder (`relay.sqlite3`, `demo.json`, profiles).
    pub fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    /// Stop the relay (the clients then see it unreachable).
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }

    /// A client of office `i` with its own store in `data_dir` (a terminal).
    pub fn client(&self, i: usize, data_dir: &Path, terminal: &str) -> Client {
        let o = &self.offices[i];
        let store = Store::open(data_dir).unwrap();
        let id = Identity::from_profile_dir(&o.profile).unwrap();
        Client::new(
            store,
            &id,
            &self.url,
            ClientOptions {
                terminal_name: Some(terminal.into()),
                retries: 1,
                retry_backoff: std::time::Duration::from_millis(50),
                timeout_connect: std::time::Duration::from_secs(3),
                ..ClientOptions::default()
            },
        )
        .unwrap()
    }

    /// A logged-in client.
    pub fn login(&self, i: usize, data_dir: &Path, terminal: &str) -> Client {
        let c = self.client(i, data_dir, terminal);
        let o = &self.offices[i];
        c.login(
            &o.personal_user,
            &o.personal_password,
            &o.office_user,
            &o.office_password,
        )
        .unwrap();
        c
    }

    /// The demo office `i` as a `DemoOffice` (office 0 acts as the 居宅介護支援事業所).
    pub fn demo_office(&self, i: usize) -> DemoOffice {
        let o = &self.offices[i];
        DemoOffice {
            number: OfficeNumber::parse(&o.office).unwrap(),
            name: o.name.clone(),
            service: ServiceType::parse(if i == 0 { "43" } else { "11" }).unwrap(),
            care_manager: i == 0,
        }
    }

    /// A complete 6表+7表+補足 set from office `from` to office `to`.
    pub fn plan_set(&self, from: usize, to: usize, serial: &str) -> Vec<DemoFile> {
        let users = careplan_core::demo::demo_users(from as u64 * 31 + to as u64, 3);
        careplan_core::demo::plan_set(
            &self.demo_office(from),
            &self.demo_office(to),
            "202611",
            serial,
            &users,
        )
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn outgoing(files: &[DemoFile]) -> Vec<careplan_client::OutgoingFile> {
    files
        .iter()
        .map(|f| careplan_client::OutgoingFile {
            name: f.name.clone(),
            bytes: f.bytes.clone(),
        })
        .collect()
}
