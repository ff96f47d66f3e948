//! The relay's PKI: a CA, the server certificate and office client certificates (rcgen).
//!
//! A client certificate's subject is `CN=<事業所番号>, O=<事業所名>`; the relay takes the
//! office from the CN of the verified peer certificate.

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

/// A client certificate for one office (`CN=<事業所番号>, O=<name>`), valid from
/// `not_before` to `not_after`.
pub fn issue_client(
    ca: &Pem,
    office: &careplan_core::OfficeNumber,
    name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Pem, RelayError> {
    let key = KeyPair::generate().map_err(err)?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, office.as_str());
    dn.push(DnType::OrganizationName, name);
    p.distinguished_name = dn;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.not_before = not_before;
    p.not_after = not_after;
    let cert = p.signed_by(&key, &issuer(ca)?).map_err(err)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
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
}
