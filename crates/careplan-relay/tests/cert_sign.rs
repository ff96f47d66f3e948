//! `careplan-relay cert sign` as a process: a CSR made with a key the relay never sees is
//! signed for a registered office of a real demo directory; an unregistered office and a
//! certificate given instead of a request are refused with exit 1 and a Japanese message.

use std::path::Path;
use std::process::{Command, Output};

use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

const BIN: &str = env!("CARGO_BIN_EXE_careplan-relay");

fn csr(dir: &Path, office: &str, key: &KeyPair) -> std::path::PathBuf {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, office);
    let path = dir.join(format!("{office}.csr"));
    std::fs::write(
        &path,
        p.serialize_request(key).expect("csr").pem().expect("pem"),
    )
    .expect("write");
    path
}

fn sign(demo: &Path, csr: &Path, out: &Path) -> Output {
    Command::new(BIN)
        .args(["cert", "sign", "--days", "90", "--config"])
        .arg(demo.join("relay.toml"))
        .arg("--ca-key")
        .arg(demo.join("pki/ca.key"))
        .arg("--csr")
        .arg(csr)
        .arg("--out")
        .arg(out)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run careplan-relay")
}

#[test]
fn cert_sign_signs_registered_offices_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let demo = tmp.path().join("demo");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let info = rt
        .block_on(careplan_relay::demo::ensure_demo(
            &demo,
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("demo");
    let office = &info.offices[0];
    let key = KeyPair::generate().expect("key");

    let out = tmp.path().join("office.crt");
    let o = sign(&demo, &csr(tmp.path(), &office.office, &key), &out);
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains(&office.name));
    let pem = std::fs::read(&out).expect("certificate written");
    let der = CertificateDer::from_pem_slice(&pem).expect("pem");
    assert_eq!(
        careplan_relay::pki::office_of(der.as_ref())
            .expect("office")
            .as_str(),
        office.office
    );
    let (_, x) = x509_parser::parse_x509_certificate(der.as_ref()).expect("x509");
    assert_eq!(x.public_key().raw, key.subject_public_key_info().as_slice());

    let o = sign(
        &demo,
        &csr(tmp.path(), "1310000001", &key),
        &tmp.path().join("x.crt"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("登録されていません"));
    assert!(!tmp.path().join("x.crt").exists());

    let o = sign(&demo, &out, &tmp.path().join("y.crt"));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("これは証明書ファイルです"));
}
