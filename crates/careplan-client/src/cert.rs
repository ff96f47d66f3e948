//! The office's TLS identity: client certificate + key and the relay CA, loaded from PEM
//! files (rustls-pki-types `PemObject`) or imported from PKCS#12, plus the certificate
//! information shown on the トップページ (事業所番号 and expiry), read from the certificate.

use std::path::{Path, PathBuf};

use careplan_core::OfficeNumber;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::ClientError;

/// File name of the client certificate inside a profile directory.
pub const CLIENT_CERT_FILE: &str = "client.crt";
/// File name of the client key inside a profile directory.
pub const CLIENT_KEY_FILE: &str = "client.key";
/// File name of the relay CA certificate inside a profile directory.
pub const CA_CERT_FILE: &str = "ca.crt";

/// Where the PEM files of a profile are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProfilePaths {
    /// Client certificate (PEM, leaf first, chain may follow).
    pub cert: PathBuf,
    /// Client private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Relay CA certificate(s) (PEM).
    pub ca: PathBuf,
}

impl ProfilePaths {
    /// The standard names inside a profile directory (`client.crt`, `client.key`, `ca.crt`),
    /// as `careplan-relay demo` writes them.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            cert: dir.join(CLIENT_CERT_FILE),
            key: dir.join(CLIENT_KEY_FILE),
            ca: dir.join(CA_CERT_FILE),
        }
    }
}

/// What the client certificate says (トップページ 証明書情報).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// 事業所番号 read from the certificate subject.
    pub office: OfficeNumber,
    /// The subject as text (e.g. `CN=1310000001, O=…`).
    pub subject: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity (有効期限).
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

impl CertInfo {
    /// Whole days left until expiry at `now` (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    /// True when the certificate expires within `days` days of `now` (or has expired).
    pub fn expires_within(&self, now: OffsetDateTime, days: i64) -> bool {
        self.days_left(now) < days
    }
}

/// The TLS identity of one office terminal.
pub struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) roots: Vec<CertificateDer<'static>>,
    info: CertInfo,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("info", &self.info)
            .field("key", &"<hidden>")
            .finish()
    }
}

fn cert_err(message: impl Into<String>) -> ClientError {
    ClientError::Certificate {
        message: message.into(),
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| {
        cert_err(format!(
            "{what}のファイル「{}」を読めません（{e}）。プロファイルの設定を確認してください。",
            path.display()
        ))
    })
}

fn pem_certs(
    bytes: &[u8],
    what: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            cert_err(format!(
                "{what}「{}」がPEM形式として読めません（{e}）。",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(cert_err(format!(
            "{what}「{}」に証明書がありません。",
            path.display()
        )));
    }
    Ok(certs)
}

impl Identity {
    /// Load a profile directory (`client.crt`, `client.key`, `ca.crt`).
    pub fn from_profile_dir(dir: &Path) -> Result<Self, ClientError> {
        Self::from_paths(&ProfilePaths::in_dir(dir))
    }

    /// Load the three PEM files.
    pub fn from_paths(paths: &ProfilePaths) -> Result<Self, ClientError> {
        let chain = pem_certs(
            &read(&paths.cert, "クライアント証明書")?,
            "クライアント証明書",
            &paths.cert,
        )?;
        let key_bytes = read(&paths.key, "秘密鍵")?;
        let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
            cert_err(format!(
                "秘密鍵「{}」がPEM形式として読めません（{e}）。",
                paths.key.display()
            ))
        })?;
        let roots = pem_certs(&read(&paths.ca, "CA証明書")?, "CA証明書", &paths.ca)?;
        // A key that does not belong to the certificate (e.g. an install interrupted between
        // the key and the certificate) would only show as a refused TLS handshake.
        if let Ok(text) = std::str::from_utf8(&key_bytes)
            && let Some(spki) = key_spki(text)
            && let Ok((_, x)) = x509_parser::parse_x509_certificate(chain[0].as_ref())
            && x.public_key().raw != spki.as_slice()
        {
            return Err(cert_err(format!(
                "秘密鍵「{}」がクライアント証明書と一致しません。証明書のインストールが途中で止まった場合は、同じ証明書ファイルでもう一度インストールしてください（careplan cert install）。",
                paths.key.display()
            )));
        }
        Self::new(chain, key, roots)
    }

    /// Build from DER parts: the client chain (leaf first), its key and the relay CA roots.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        roots: Vec<CertificateDer<'static>>,
    ) -> Result<Self, ClientError> {
        let leaf = chain
            .first()
            .ok_or_else(|| cert_err("クライアント証明書がありません。"))?;
        let info = cert_info(leaf.as_ref())?;
        if roots.is_empty() {
            return Err(cert_err("CA証明書がありません。"));
        }
        Ok(Self {
            chain,
            key,
            roots,
            info,
        })
    }

    /// Import a PKCS#12 file (`.p12`/`.pfx`) protected by `password`, with the relay CA
    /// given as PEM (the profile's `ca.crt`). The CA is required: CA certificates inside
    /// the PKCS#12 are never trusted on their own (a bundle carrying an attacker's CA would
    /// make the client trust an attacker's relay), and the client certificate must be
    /// signed by the given CA.
    pub fn from_pkcs12(
        p12: &[u8],
        password: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let store = p12_keystore::KeyStore::from_pkcs12(p12, password).map_err(|e| {
            cert_err(format!(
                "PKCS#12ファイルを開けません。パスワードを確認してください。（{e}）"
            ))
        })?;
        let (_, kc) = store
            .private_key_chain()
            .ok_or_else(|| cert_err("PKCS#12ファイルに秘密鍵と証明書がありません。"))?;
        let chain: Vec<CertificateDer<'static>> = kc
            .chain()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        let key = PrivateKeyDer::try_from(kc.key().to_vec())
            .map_err(|e| cert_err(format!("PKCS#12ファイルの秘密鍵を読めません（{e}）。")))?;
        let Some(ca_pem) = ca_pem else {
            return Err(cert_err(
                "PKCS#12ファイルを取り込むには、中継サーバのCA証明書（ca.crt）も必要です。PKCS#12ファイルの中のCA証明書はそれだけでは信頼しません。運用者から届いた ca.crt を指定してください。",
            ));
        };
        let roots = pem_certs(ca_pem, "CA証明書", Path::new("(PEM)"))?;
        if let Some(leaf) = chain.first()
            && !chains_to(leaf.as_ref(), &roots)
        {
            return Err(cert_err(
                "PKCS#12ファイルの証明書は、指定されたCA証明書（ca.crt）が発行したものではありません。運用者から届いた正しいファイルか確認してください。",
            ));
        }
        Self::new(chain, key, roots)
    }

    /// Write this identity as a profile directory (owner-only: 0700 folder, `client.key`
    /// 0600 on Unix; `client.crt`, `ca.crt`) so that later runs can use [`Identity::from_profile_dir`].
    pub fn write_profile_dir(&self, dir: &Path) -> Result<ProfilePaths, ClientError> {
        crate::fsutil::create_private_dir(dir)?;
        let paths = ProfilePaths::in_dir(dir);
        let chain: String = self.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
        let roots: String = self.roots.iter().map(|c| pem("CERTIFICATE", c)).collect();
        let key = key_pem(&self.key);
        crate::fsutil::write_atomic(&paths.cert, chain.as_bytes(), false)?;
        crate::fsutil::write_atomic(&paths.key, key.as_bytes(), true)?;
        crate::fsutil::write_atomic(&paths.ca, roots.as_bytes(), false)?;
        Ok(paths)
    }

    /// The certificate information (事業所番号, expiry).
    pub fn info(&self) -> &CertInfo {
        &self.info
    }
}

/// Read the certificate information of a PEM certificate file.
pub fn read_cert_info(path: &Path) -> Result<CertInfo, ClientError> {
    let chain = pem_certs(&read(path, "証明書")?, "証明書", path)?;
    cert_info(chain[0].as_ref())
}

/// Read 事業所番号 and validity from a DER certificate.
///
/// The office number is taken from the subject: the first of `serialNumber`, `CN`, `OU`
/// and `O` whose value is (or ends with) a 10-digit 事業所番号.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, ClientError> {
    let (_, x) = X509Certificate::from_der(der)
        .map_err(|e| cert_err(format!("証明書の形式が正しくありません（{e}）。")))?;
    let subject = x.subject();
    let oids = [
        x509_parser::oid_registry::OID_X509_SERIALNUMBER,
        x509_parser::oid_registry::OID_X509_COMMON_NAME,
        x509_parser::oid_registry::OID_X509_ORGANIZATIONAL_UNIT,
        x509_parser::oid_registry::OID_X509_ORGANIZATION_NAME,
    ];
    let mut office = None;
    'outer: for oid in &oids {
        for attr in subject.iter_by_oid(oid) {
            if let Ok(v) = attr.as_str()
                && let Some(o) = office_in(v)
            {
                office = Some(o);
                break 'outer;
            }
        }
    }
    let office = office.ok_or_else(|| {
        cert_err(format!(
            "証明書（{subject}）に事業所番号が見つかりません。中継サーバが発行した事業所の証明書か確認してください。"
        ))
    })?;
    let ts = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t)
            .map_err(|_| cert_err("証明書の有効期間を読み取れません。"))
    };
    Ok(CertInfo {
        office,
        subject: subject.to_string(),
        not_before: ts(x.validity().not_before.timestamp())?,
        not_after: ts(x.validity().not_after.timestamp())?,
    })
}

fn office_in(v: &str) -> Option<OfficeNumber> {
    let v = v.trim();
    if let Ok(o) = OfficeNumber::parse(v) {
        return Some(o);
    }
    // e.g. "office 1310000001" or "1310000001-terminal": take a 10-digit run.
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 10
                && let Ok(o) = OfficeNumber::parse(&v[start..i])
            {
                return Some(o);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The SubjectPublicKeyInfo (DER) of a PEM private key (PKCS#8, or what rcgen reads), or
/// `None` when it cannot be read.
pub(crate) fn key_spki(pem: &str) -> Option<Vec<u8>> {
    use rcgen::PublicKeyData;
    let key = rcgen::KeyPair::from_pem(pem).ok()?;
    Some(key.subject_public_key_info())
}

/// True when the DER certificate `leaf` is signed by one of `roots` (issuer name equals the
/// root's subject and the signature verifies with the root's public key).
pub(crate) fn chains_to(leaf: &[u8], roots: &[CertificateDer<'_>]) -> bool {
    let Ok((_, x)) = X509Certificate::from_der(leaf) else {
        return false;
    };
    roots.iter().any(|r| {
        X509Certificate::from_der(r.as_ref()).is_ok_and(|(_, ca)| {
            ca.subject().as_raw() == x.issuer().as_raw()
                && x.verify_signature(Some(ca.public_key())).is_ok()
        })
    })
}

/// Whether two PEM files hold the same certificates (None when either is unreadable).
pub(crate) fn same_certs(a: &[u8], b: &[u8]) -> Option<bool> {
    let read = |x: &[u8]| {
        CertificateDer::pem_slice_iter(x)
            .collect::<Result<Vec<_>, _>>()
            .ok()
    };
    Some(read(a)? == read(b)?)
}

/// PEM text of one DER object.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(line));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// PEM text of a private key, labelled by its format.
pub(crate) fn key_pem(key: &PrivateKeyDer<'_>) -> String {
    let label = match key {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    pem(label, key.secret_der())
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    /// A PKCS#12 bundle is only trusted with the CA given explicitly, and only when its
    /// certificate is signed by that CA: a bundle carrying an attacker's CA cannot make the
    /// client trust the attacker's relay.
    #[test]
    fn pkcs12_needs_the_profile_ca_and_must_chain_to_it() {
        use careplan_relay::pki;
        let now = OffsetDateTime::now_utc();
        let office = OfficeNumber::parse("1370526111").expect("office");
        let evil_ca = pki::create_ca("careplan demo CA", now, 1).expect("ca");
        let real_ca = pki::create_ca("careplan demo CA", now, 1).expect("ca");
        let c = pki::issue_client(
            &evil_ca,
            &office,
            "x",
            now - time::Duration::days(1),
            now + time::Duration::days(30),
        )
        .expect("client");
        let p12 = pki::to_pkcs12(&c, &evil_ca.cert, "x", "pw").expect("p12");
        let e = Identity::from_pkcs12(&p12, "pw", None).expect_err("no CA given");
        assert!(e.message_ja().contains("ca.crt"), "{}", e.message_ja());
        let e =
            Identity::from_pkcs12(&p12, "pw", Some(real_ca.cert.as_bytes())).expect_err("other CA");
        assert!(
            e.message_ja().contains("発行したものではありません"),
            "{}",
            e.message_ja()
        );
        let id = Identity::from_pkcs12(&p12, "pw", Some(evil_ca.cert.as_bytes())).expect("ok");
        assert_eq!(id.roots.len(), 1, "only the given CA is trusted");
    }

    #[test]
    fn office_is_found_in_attribute_text() {
        assert!(office_in("abc").is_none());
        assert!(office_in("12345").is_none());
    }
}
