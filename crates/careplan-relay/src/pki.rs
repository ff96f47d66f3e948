//! The relay's PKI: a CA, the server certificate and office client certificates (rcgen).
//!
//! A client certificate's subject is `CN=<事業所番号>, O=<事業所名>`; the relay takes the
//! office from the CN of the verified peer certificate.
//!
//! Offices make their key pair and a PKCS#10 request (CSR) on their own PC; the operator
//! signs the request with [`sign_office_csr`] (`careplan-relay cert sign`), so an office's
//! private key never leaves the office. [`issue_client`], which makes the key on the
//! server, is only for the demo (`demo.rs`) and tests.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::RelayError;

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Pem {
    /// Certificate PEM.
    pub cert: String,
    /// Private key PEM (PKCS#8).
    pub key: String,
}

fn err(e: rcgen::Error) -> RelayError {
    RelayError::Pki(e.to_string())
}

/// A new self-signed CA valid for `years`.
pub fn create_ca(name: &str, now: OffsetDateTime, years: i64) -> Result<Pem, RelayError> {
    let key = KeyPair::generate().map_err(err)?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "careplan relay");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(365 * years);
    let cert = p.self_signed(&key).map_err(err)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn issuer(ca: &Pem) -> Result<Issuer<'static, KeyPair>, RelayError> {
    let key = KeyPair::from_pem(&ca.key).map_err(err)?;
    Issuer::from_ca_cert_pem(&ca.cert, key).map_err(err)
}

/// A server certificate for `hosts` (DNS names or IP addresses), signed by `ca`.
pub fn issue_server(
    ca: &Pem,
    hosts: &[&str],
    now: OffsetDateTime,
    days: i64,
) -> Result<Pem, RelayError> {
    let key = KeyPair::generate().map_err(err)?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        hosts.first().copied().unwrap_or("localhost"),
    );
    p.distinguished_name = dn;
    p.subject_alt_names = hosts
        .iter()
        .map(|h| match h.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => (*h).try_into().map(SanType::DnsName).map_err(err),
        })
        .collect::<Result<_, _>>()?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(days);
    let cert = p.signed_by(&key, &issuer(ca)?).map_err(err)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn client_params(
    office: &careplan_core::OfficeNumber,
    name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, office.as_str());
    dn.push(DnType::OrganizationName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.not_before = not_before;
    p.not_after = not_after;
    p
}

/// A client certificate **and its key, made here** for one office (`CN=<事業所番号>,
/// O=<name>`), valid from `not_before` to `not_after`. Only for the demo and tests: real
/// offices send a CSR ([`sign_office_csr`]).
pub fn issue_client(
    ca: &Pem,
    office: &careplan_core::OfficeNumber,
    name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Pem, RelayError> {
    let key = KeyPair::generate().map_err(err)?;
    let p = client_params(office, name, not_before, not_after);
    let cert = p.signed_by(&key, &issuer(ca)?).map_err(err)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A certificate signing request whose signature was verified, with the office it names.
#[derive(Debug, Clone)]
pub struct OfficeCsr {
    /// The 事業所番号 of the subject CN.
    pub office: careplan_core::OfficeNumber,
    /// The subject as the requester wrote it (shown to the operator; not copied).
    pub subject: String,
    spki: rcgen::SubjectPublicKeyInfo,
}

fn refused(m: impl Into<String>) -> RelayError {
    RelayError::Refused(m.into())
}

/// Read a CSR (PEM `CERTIFICATE REQUEST`, or DER), verify its signature (the requester holds
/// the private key) and read the 事業所番号 from its subject CN, which must be exactly one
/// well-formed 事業所番号. Everything else the requester asked for (other subject
/// attributes, extensions such as CA or server use) is ignored by [`issue_for_csr`].
pub fn read_csr(bytes: &[u8]) -> Result<OfficeCsr, RelayError> {
    use rustls_pki_types::CertificateSigningRequestDer;
    use rustls_pki_types::pem::PemObject;
    use x509_parser::prelude::FromDer;
    if bytes.windows(22).any(|w| w == b"BEGIN CERTIFICATE-----") {
        return Err(refused(
            "これは証明書ファイルです。事業所から届いた申請ファイル（.csr）を指定してください。",
        ));
    }
    let der: Vec<u8> = if bytes.first() == Some(&0x30) {
        bytes.to_vec()
    } else {
        CertificateSigningRequestDer::from_pem_slice(bytes)
            .map_err(|e| {
                refused(format!(
                    "証明書署名要求（CSR）として読めません（{e}）。事業所から届いた .csr ファイルを指定してください。"
                ))
            })?
            .as_ref()
            .to_vec()
    };
    let (rest, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .map_err(|e| {
            refused(format!(
                "証明書署名要求（CSR）の形式が正しくありません（{e}）。"
            ))
        })?;
    if !rest.is_empty() {
        return Err(refused(
            "証明書署名要求（CSR）の後ろに余分なデータがあります。",
        ));
    }
    csr.verify_signature().map_err(|_| {
        refused("証明書署名要求（CSR）の署名が正しくありません。改ざんされたか壊れています。事業所に作り直してもらってください。")
    })?;
    let info = &csr.certification_request_info;
    let subject = info.subject.to_string();
    let cns: Vec<&str> = info
        .subject
        .iter_common_name()
        .map(|a| a.as_str().unwrap_or(""))
        .collect();
    let [cn] = cns.as_slice() else {
        return Err(refused(format!(
            "証明書署名要求（CSR）の主体（{subject}）に事業所番号（CN）が1つだけ入っている必要があります。"
        )));
    };
    let office = careplan_core::OfficeNumber::parse(cn).map_err(|e| {
        refused(format!(
            "証明書署名要求（CSR）のCN「{cn}」は事業所番号ではありません: {}",
            e.message
        ))
    })?;
    let spki = rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw).map_err(|e| {
        refused(format!(
            "証明書署名要求（CSR）の鍵の種類に対応していません（{e}）。"
        ))
    })?;
    Ok(OfficeCsr {
        office,
        subject,
        spki,
    })
}

/// The client certificate (PEM) for a verified CSR: `CN=<事業所番号>, O=<name>` (the name
/// registered on the relay), client authentication only, not a CA, valid from `not_before`
/// to `not_after`, signed by `ca`. The requested extensions are not looked at.
pub fn issue_for_csr(
    ca: &Pem,
    csr: &OfficeCsr,
    name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<String, RelayError> {
    let p = client_params(&csr.office, name, not_before, not_after);
    let cert = p.signed_by(&csr.spki, &issuer(ca)?).map_err(err)?;
    Ok(cert.pem())
}

/// A certificate signed for an office's CSR.
#[derive(Debug, Clone)]
pub struct SignedCert {
    /// The office (事業所番号 of the CSR, registered on the relay).
    pub office: careplan_core::OfficeNumber,
    /// Its registered name (the certificate's O).
    pub name: String,
    /// The certificate (PEM).
    pub cert: String,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// Longest validity the operator may give a client certificate, in days.
pub const MAX_CLIENT_DAYS: i64 = 825;

/// `careplan-relay cert sign`: verify the CSR ([`read_csr`]), check that its office is
/// registered on this relay, and sign a client certificate valid for `days` days from
/// `now` (one hour of clock skew allowed before `now`).
pub async fn sign_office_csr(
    db: &crate::db::Db,
    ca: &Pem,
    csr_bytes: &[u8],
    now: OffsetDateTime,
    days: i64,
) -> Result<SignedCert, RelayError> {
    if !(1..=MAX_CLIENT_DAYS).contains(&days) {
        return Err(refused(format!(
            "有効日数は1〜{MAX_CLIENT_DAYS}日で指定してください（指定: {days}日）。"
        )));
    }
    let csr = read_csr(csr_bytes)?;
    let Some((name, _)) = db.office(csr.office.as_str()).await? else {
        return Err(refused(format!(
            "事業所 {} はこの中継サーバに登録されていません。番号が正しいか確認し、正しければ先に office add で登録してください。",
            csr.office
        )));
    };
    let not_after = now + Duration::days(days);
    let cert = issue_for_csr(ca, &csr, &name, now - Duration::hours(1), not_after)?;
    Ok(SignedCert {
        office: csr.office,
        name,
        cert,
        not_after,
    })
}

/// The 事業所番号 in the CN of a DER certificate.
pub fn office_of(der: &[u8]) -> Option<careplan_core::OfficeNumber> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    careplan_core::OfficeNumber::parse(cn).ok()
}

/// The client certificate, its key and the CA as a PKCS#12 file protected by `password`
/// (for Windows certificate import and the client's PKCS#12 import).
pub fn to_pkcs12(
    client: &Pem,
    ca_cert: &str,
    alias: &str,
    password: &str,
) -> Result<Vec<u8>, RelayError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
    let p = |e: &dyn std::fmt::Display| RelayError::Pki(e.to_string());
    let leaf = CertificateDer::from_pem_slice(client.cert.as_bytes()).map_err(|e| p(&e))?;
    let ca = CertificateDer::from_pem_slice(ca_cert.as_bytes()).map_err(|e| p(&e))?;
    let key = PrivatePkcs8KeyDer::from_pem_slice(client.key.as_bytes()).map_err(|e| p(&e))?;
    let chain = [leaf.as_ref(), ca.as_ref()]
        .into_iter()
        .map(p12_keystore::Certificate::from_der)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| p(&e))?;
    let key_id = crate::auth::sha256_hex(leaf.as_ref());
    let mut ks = p12_keystore::KeyStore::new();
    ks.add_entry(
        alias,
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            key.secret_pkcs8_der(),
            &key_id.as_bytes()[..20],
            chain,
        )),
    );
    ks.writer(password).write().map_err(|e| p(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn client_certificate_carries_the_office_and_exports_as_pkcs12() {
        let now = OffsetDateTime::now_utc();
        let ca = create_ca("test CA", now, 1).expect("ca");
        let office = careplan_core::OfficeNumber::parse("1370526111").expect("office");
        let c = issue_client(
            &ca,
            &office,
            "かえで居宅介護支援事業所",
            now - Duration::days(1),
            now + Duration::days(30),
        )
        .expect("client");
        let der = rustls_pki_types::CertificateDer::from_pem_slice(c.cert.as_bytes()).expect("der");
        assert_eq!(office_of(der.as_ref()), Some(office));
        let p12 = to_pkcs12(&c, &ca.cert, office.as_str(), "pass1234").expect("p12");
        let ks = p12_keystore::KeyStore::from_pkcs12(&p12, "pass1234").expect("read back");
        let (_, chain) = ks.private_key_chain().expect("key chain");
        assert_eq!(chain.chain().len(), 2);
        assert!(p12_keystore::KeyStore::from_pkcs12(&p12, "wrong").is_err());
    }

    fn csr(cn: &str, key: &KeyPair, wish_ca: bool) -> String {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name
            .push(DnType::OrganizationName, "名乗った名前");
        if wish_ca {
            // What a hostile requester could ask for: a CA with server use.
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        }
        p.serialize_request(key).expect("csr").pem().expect("pem")
    }

    async fn db_with(office: &str, dir: &std::path::Path) -> crate::db::Db {
        let db = crate::db::Db::in_dir(dir).await;
        db.upsert_office(office, "かえで居宅介護支援事業所", None)
            .await
            .expect("office");
        db
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_csr_is_signed_for_its_own_key_with_the_relays_choices_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = db_with("1370526111", dir.path()).await;
        let now = OffsetDateTime::now_utc();
        let ca = create_ca("test CA", now, 1).expect("ca");
        let key = KeyPair::generate().expect("key");
        let req = csr("1370526111", &key, true);
        let signed = sign_office_csr(&db, &ca, req.as_bytes(), now, 365)
            .await
            .expect("signed");
        assert_eq!(signed.office.as_str(), "1370526111");
        let der =
            rustls_pki_types::CertificateDer::from_pem_slice(signed.cert.as_bytes()).expect("der");
        assert_eq!(
            office_of(der.as_ref()).expect("office").as_str(),
            "1370526111"
        );
        let (_, x) = x509_parser::parse_x509_certificate(der.as_ref()).expect("parse");
        // The certificate carries the requester's public key…
        assert_eq!(x.public_key().raw, key.subject_public_key_info().as_slice());
        // …the registered name, not the one asked for…
        assert!(x.subject().to_string().contains("かえで居宅介護支援事業所"));
        // …and only what the relay decides: client authentication, not a CA.
        let bc = x.basic_constraints().expect("bc").expect("present");
        assert!(!bc.value.ca);
        let eku = x.extended_key_usage().expect("eku").expect("present").value;
        assert!(eku.client_auth && !eku.server_auth && !eku.any);
        let ku = x.key_usage().expect("ku").expect("present").value;
        assert!(ku.digital_signature() && !ku.key_cert_sign());
        // Signed by the CA, valid now and for `days` days.
        let ca_der =
            rustls_pki_types::CertificateDer::from_pem_slice(ca.cert.as_bytes()).expect("ca");
        let (_, cax) = x509_parser::parse_x509_certificate(ca_der.as_ref()).expect("ca");
        x.verify_signature(Some(cax.public_key()))
            .expect("signed by the CA");
        assert!(x.validity().is_valid());
        let days = (signed.not_after - now).whole_days();
        assert_eq!(days, 365);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn csr_refusals_say_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = db_with("1370526111", dir.path()).await;
        let now = OffsetDateTime::now_utc();
        let ca = create_ca("test CA", now, 1).expect("ca");
        let key = KeyPair::generate().expect("key");
        let msg = |r: Result<SignedCert, RelayError>| r.expect_err("refused").to_string();

        // An office that is not registered on this relay.
        let m = msg(sign_office_csr(
            &db,
            &ca,
            csr("1310000001", &key, false).as_bytes(),
            now,
            365,
        )
        .await);
        assert!(m.contains("登録されていません"), "{m}");
        // A CN that is not a 事業所番号.
        let m = msg(sign_office_csr(
            &db,
            &ca,
            csr("relay.example", &key, false).as_bytes(),
            now,
            365,
        )
        .await);
        assert!(m.contains("事業所番号ではありません"), "{m}");
        // A broken signature: the subject was changed after signing.
        let good = csr("1370526111", &key, false);
        let der = rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(good.as_bytes())
            .expect("der");
        let mut bytes = der.as_ref().to_vec();
        let at = bytes
            .windows(10)
            .position(|w| w == b"1370526111")
            .expect("cn in the der");
        bytes[at + 9] = b'2';
        let m = msg(sign_office_csr(&db, &ca, &bytes, now, 365).await);
        assert!(m.contains("署名が正しくありません"), "{m}");
        // A certificate given instead of the request.
        let m = msg(sign_office_csr(&db, &ca, ca.cert.as_bytes(), now, 365).await);
        assert!(m.contains("これは証明書ファイルです"), "{m}");
        // Not a CSR at all, and silly validity.
        let m = msg(sign_office_csr(&db, &ca, b"hello", now, 365).await);
        assert!(m.contains("CSR"), "{m}");
        let m = msg(sign_office_csr(&db, &ca, good.as_bytes(), now, 0).await);
        assert!(m.contains("有効日数"), "{m}");
        // The good one still signs.
        sign_office_csr(&db, &ca, good.as_bytes(), now, 30)
            .await
            .expect("signed");
    }
}
