//! Certificates over their life, end to end: `careplan cert request` makes the key and the
//! CSR on the "office PC", the relay library signs the CSR as `careplan-relay cert sign`
//! does (registered office, relay CA), `careplan cert install` puts the certificate in
//! place, and `careplan login` logs in to the real relay on loopback over mutual TLS with
//! the new certificate and the key that never left the office.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_careplan");

#[derive(Debug, Clone, serde::Deserialize)]
struct Office {
    office: String,
    personal_user: String,
    personal_password: String,
    office_user: String,
    office_password: String,
    profile: PathBuf,
}

#[derive(serde::Deserialize)]
struct DemoJson {
    offices: Vec<Office>,
}

fn careplan(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("CAREPLAN_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run careplan")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn copy_profile(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for f in ["client.crt", "client.key", "ca.crt"] {
        std::fs::copy(from.join(f), to.join(f)).expect("copy");
    }
}

/// `careplan-relay cert sign`, through the relay library (the CA key of the demo relay).
fn operator_signs(demo: &Path, csr: &Path, days: i64) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let db = careplan_relay::db::Db::open(&careplan_relay::config::sqlite_url(
            &demo.join("relay.sqlite3"),
        ))
        .await
        .expect("db");
        let ca = careplan_relay::pki::Pem {
            cert: std::fs::read_to_string(demo.join("pki/ca.crt")).expect("ca"),
            key: std::fs::read_to_string(demo.join("pki/ca.key")).expect("ca key"),
        };
        let req = std::fs::read(csr).expect("csr");
        let r = careplan_relay::pki::sign_office_csr(
            &db,
            &ca,
            &req,
            time::OffsetDateTime::now_utc(),
            days,
        )
        .await
        .map(|s| s.cert)
        .map_err(|e| e.to_string());
        db.pool.close().await;
        r
    })
}

fn login(relay_url: &str, o: &Office, profile: &Path, data: &Path) -> Output {
    Command::new(BIN)
        .args(["login", "--json", "--user", &o.personal_user])
        .args(["--office-user", &o.office_user, "--relay", relay_url])
        .arg("--profile")
        .arg(profile)
        .arg("--data-dir")
        .arg(data)
        .env("CAREPLAN_PASSWORD", &o.personal_password)
        .env("CAREPLAN_OFFICE_PASSWORD", &o.office_password)
        .env_remove("CAREPLAN_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run careplan login")
}

#[test]
fn renewal_by_csr_then_login_over_mutual_tls() {
    let demo = tempfile::tempdir().expect("tempdir");
    let relay =
        careplan_relay::embedded::start_demo(demo.path(), "127.0.0.1:0".parse().expect("a"))
            .expect("relay");
    let url = format!("https://localhost:{}", relay.addr.port());
    let info: DemoJson =
        serde_json::from_slice(&std::fs::read(demo.path().join("demo.json")).expect("json"))
            .expect("demo.json");
    let o = info.offices[0].clone();
    let src = if o.profile.is_relative() {
        demo.path().join(&o.profile)
    } else {
        o.profile.clone()
    };

    let pc = tempfile::tempdir().expect("office pc");
    let profile = pc.path().join("証明書");
    copy_profile(&src, &profile);
    let old_key = std::fs::read(profile.join("client.key")).expect("key");
    let csr = pc.path().join("送付").join("renew.csr");

    // 1. The office makes the request.
    let out = ok(&careplan(&[
        "cert",
        "request",
        "--profile",
        profile.to_str().expect("utf8"),
        "--out",
        csr.to_str().expect("utf8"),
    ]));
    assert!(out.contains("運用者に送って"), "{out}");
    assert!(
        std::fs::read_to_string(&csr)
            .expect("csr")
            .contains("CERTIFICATE REQUEST")
    );
    let st: Value = serde_json::from_str(&ok(&careplan(&[
        "cert",
        "status",
        "--json",
        "--profile",
        profile.to_str().expect("utf8"),
    ])))
    .expect("json");
    assert_eq!(st["certificate"]["office"], o.office.as_str());
    assert!(st["pending_since"].is_string(), "{st}");

    // 2. The operator signs it (registered office, relay CA).
    let crt = pc.path().join("届いた.crt");
    std::fs::write(
        &crt,
        operator_signs(demo.path(), &csr, 365).expect("signed"),
    )
    .expect("w");

    // 3. The office installs it.
    let out = ok(&careplan(&[
        "cert",
        "install",
        "--profile",
        profile.to_str().expect("utf8"),
        crt.to_str().expect("utf8"),
    ]));
    assert!(out.contains("インストールしました"), "{out}");
    let new_key = std::fs::read(profile.join("client.key")).expect("key");
    assert_ne!(new_key, old_key, "the key was made on the office PC");
    assert_eq!(
        std::fs::read(profile.join("client.key.old")).expect("backup"),
        old_key
    );
    assert!(!profile.join("client.key.new").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("m").permissions().mode() & 0o777;
        assert_eq!(mode(&profile), 0o700);
        assert_eq!(mode(&profile.join("client.key")) & 0o077, 0);
        assert_eq!(mode(&profile.join("client.key.old")) & 0o077, 0);
    }

    // 4. Login to the real relay over mutual TLS with the new certificate.
    let data = tempfile::tempdir().expect("data");
    let v: Value =
        serde_json::from_str(&ok(&login(&url, &o, &profile, data.path()))).expect("login json");
    assert_eq!(v["office"], o.office.as_str());

    let status: Value = serde_json::from_str(&ok(&careplan(&[
        "cert",
        "status",
        "--json",
        "--profile",
        profile.to_str().expect("utf8"),
    ])))
    .expect("json");
    assert_eq!(status["key_matches"], true);
    assert!(status["days_left"].as_i64().expect("days") >= 364);
    assert!(status["pending_since"].is_null());
    relay.shutdown();
}

#[test]
fn refusals_are_clear_and_change_nothing() {
    let demo = tempfile::tempdir().expect("tempdir");
    let relay =
        careplan_relay::embedded::start_demo(demo.path(), "127.0.0.1:0".parse().expect("a"))
            .expect("relay");
    let info: DemoJson =
        serde_json::from_slice(&std::fs::read(demo.path().join("demo.json")).expect("json"))
            .expect("demo.json");
    relay.shutdown();
    let profile_of = |i: usize| {
        let p = &info.offices[i].profile;
        if p.is_relative() {
            demo.path().join(p)
        } else {
            p.clone()
        }
    };
    let pc = tempfile::tempdir().expect("pc");
    let a = pc.path().join("a");
    let b = pc.path().join("b");
    copy_profile(&profile_of(0), &a);
    copy_profile(&profile_of(1), &b);
    let csr_b = pc.path().join("b.csr");
    ok(&careplan(&[
        "cert",
        "request",
        "--profile",
        b.to_str().expect("utf8"),
        "--out",
        csr_b.to_str().expect("utf8"),
    ]));
    let crt_b = pc.path().join("b.crt");
    std::fs::write(
        &crt_b,
        operator_signs(demo.path(), &csr_b, 30).expect("signed"),
    )
    .expect("w");

    // B's certificate offered to A's profile.
    let before = std::fs::read(a.join("client.crt")).expect("crt");
    let o = careplan(&[
        "cert",
        "install",
        "--profile",
        a.to_str().expect("utf8"),
        crt_b.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("この端末の事業所"), "{err}");
    assert_eq!(std::fs::read(a.join("client.crt")).expect("crt"), before);

    // A malformed office number is a usage error; a first request needs the office.
    let o = careplan(&[
        "cert",
        "request",
        "--profile",
        pc.path().join("new").to_str().expect("utf8"),
        "--office",
        "12345",
        "--out",
        pc.path().join("x.csr").to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("10桁"));

    // The operator refuses a request for an office the relay does not know.
    let new = pc.path().join("new");
    let csr = pc.path().join("new.csr");
    ok(&careplan(&[
        "cert",
        "request",
        "--profile",
        new.to_str().expect("utf8"),
        "--office",
        "1310000001",
        "--out",
        csr.to_str().expect("utf8"),
    ]));
    let e = operator_signs(demo.path(), &csr, 365).expect_err("unregistered");
    assert!(e.contains("登録されていません"), "{e}");

    // The help explains the steps.
    let h = ok(&careplan(&["cert", "--help"]));
    assert!(h.contains("運用者") && h.contains("install"), "{h}");
}
