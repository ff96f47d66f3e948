//! Certificate loading: PEM profile directories, PKCS#12 import, certificate information.

use careplan_client::{ClientError, Identity};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

struct Pki {
    ca_pem: String,
    cert_der: Vec<u8>,
    ca_der: Vec<u8>,
    key_der: Vec<u8>,
}

fn pki(office: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, office);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "テスト事業所");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_der: cert.der().to_vec(),
        ca_der: ca.der().to_vec(),
        key_der: key.serialize_der(),
    }
}

fn p12(p: &Pki, password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};
    let mut ks = KeyStore::new();
    let chain = vec![
        Certificate::from_der(&p.cert_der).unwrap(),
        Certificate::from_der(&p.ca_der).unwrap(),
    ];
    ks.add_entry(
        "client",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(&p.key_der, b"1", chain)),
    );
    ks.writer(password).write().unwrap()
}

#[test]
fn pkcs12_import_reads_office_and_expiry_and_writes_a_profile() {
    let p = pki("1310000001");
    let bytes = p12(&p, "秘密のパス");
    let id = Identity::from_pkcs12(&bytes, "秘密のパス", Some(p.ca_pem.as_bytes())).unwrap();
    assert_eq!(id.info().office.as_str(), "1310000001");
    assert!(id.info().not_after > id.info().not_before);

    let dir = tempfile::tempdir().unwrap();
    id.write_profile_dir(dir.path()).unwrap();
    let again = Identity::from_profile_dir(dir.path()).unwrap();
    assert_eq!(again.info(), id.info());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("client.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is private to the user");
    }
}

#[test]
fn pkcs12_with_a_wrong_password_is_a_clear_error() {
    let p = pki("1310000001");
    let bytes = p12(&p, "right");
    let e = Identity::from_pkcs12(&bytes, "wrong", None).unwrap_err();
    assert!(matches!(e, ClientError::Certificate { .. }));
    assert!(e.message_ja().contains("パスワード"), "{}", e.message_ja());
}

#[test]
fn a_missing_profile_file_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let e = Identity::from_profile_dir(dir.path()).unwrap_err();
    assert!(e.message_ja().contains("client.crt"), "{}", e.message_ja());
}

#[test]
fn a_certificate_without_office_number_is_refused() {
    let p = pki("no office here");
    let e = Identity::from_pkcs12(&p12(&p, "x"), "x", Some(p.ca_pem.as_bytes())).unwrap_err();
    assert!(e.message_ja().contains("事業所番号"), "{}", e.message_ja());
}
