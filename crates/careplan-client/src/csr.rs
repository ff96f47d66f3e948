//! Certificates over their life: the office's key is born on the office PC and never leaves
//! it.
//!
//! 1. [`request`] makes a new key pair (ECDSA P-256, rcgen + ring) and a PKCS#10 certificate
//!    signing request (CSR) whose subject is `CN=<事業所番号>` — the same CN the relay
//!    reads from client certificates. The new key waits in the profile folder as
//!    `client.key.new` (owner-only); the CSR goes where the user asks (`.csr`, PEM). The
//!    CSR holds no secret: it can be mailed.
//! 2. The operator signs it (`careplan-relay cert sign`) and sends the certificate back.
//! 3. [`install`] checks the certificate — its public key is the pending key's (or the
//!    current key's), it is signed by the profile's CA (`ca.crt`), its office is the
//!    profile's office, it is valid now — then puts it in place: the previous pair is kept
//!    as `client.crt.old` / `client.key.old` (one backup, owner-only, replaced at the next
//!    install), the new key and certificate are written with
//!    [`crate::fsutil::write_atomic`], and `client.key.new` is removed.
//!
//! Crash safety: the key is written before the certificate. If the PC stops between the
//! two, `client.key.new` is still there and running the install again with the same
//! certificate file finishes it (the certificate matches the pending key or the current
//! one). [`status`] tells what is in a profile folder (`careplan cert status`).

use std::path::{Path, PathBuf};

use careplan_core::OfficeNumber;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use time::OffsetDateTime;

use crate::cert::{self, CA_CERT_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE, CertInfo};
use crate::error::ClientError;
use crate::fsutil;

/// The key made by [`request`], waiting for its certificate.
pub const PENDING_KEY_FILE: &str = "client.key.new";
/// The certificate replaced by the last [`install`].
pub const OLD_CERT_FILE: &str = "client.crt.old";
/// The key replaced by the last [`install`].
pub const OLD_KEY_FILE: &str = "client.key.old";

fn cert_err(message: impl Into<String>) -> ClientError {
    ClientError::Certificate {
        message: message.into(),
    }
}

/// What [`request`] made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// The office the CSR asks a certificate for.
    pub office: OfficeNumber,
    /// The CSR file (send this to the operator).
    pub csr: PathBuf,
    /// The pending key (`client.key.new` in the profile folder; never send it).
    pub pending_key: PathBuf,
    /// True when the profile already has a certificate (a renewal).
    pub renewal: bool,
}

/// A file name for the CSR of `office` made at `now`: `careplan-<事業所番号>-<YYYYMMDD>.csr`.
pub fn default_csr_name(office: &OfficeNumber, now: OffsetDateTime) -> String {
    let d = now.date();
    format!(
        "careplan-{office}-{:04}{:02}{:02}.csr",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// The office of a profile: from its certificate, else `office`. Both given and different
/// is an error (a certificate is for one office).
pub fn profile_office(
    profile: &Path,
    office: Option<&OfficeNumber>,
) -> Result<(OfficeNumber, bool), ClientError> {
    let current = profile.join(CLIENT_CERT_FILE);
    if current.exists() {
        let info = cert::read_cert_info(&current)?;
        if let Some(o) = office
            && *o != info.office
        {
            return Err(cert_err(format!(
                "このプロファイルの証明書は事業所番号 {} のものです（指定: {o}）。別の事業所の申請は、その事業所用の別のプロファイルフォルダで作成してください。",
                info.office
            )));
        }
        return Ok((info.office, true));
    }
    match office {
        Some(o) => Ok((*o, false)),
        None => Err(cert_err(format!(
            "プロファイルフォルダ「{}」に証明書がありません。初めての申請では事業所番号を指定してください（careplan cert request --office 事業所番号）。",
            profile.display()
        ))),
    }
}

/// Make a new key pair in `profile` (`client.key.new`, owner-only) and write the CSR for it
/// to `csr_out`. The office is the profile certificate's (a renewal) or `office` (a first
/// certificate). A pending key from an earlier request is replaced: the certificate for
/// that earlier request can then no longer be installed.
pub fn request(
    profile: &Path,
    office: Option<&OfficeNumber>,
    csr_out: &Path,
) -> Result<Request, ClientError> {
    let (office, renewal) = profile_office(profile, office)?;
    // Never write the request over another file (e.g. `--out client.crt` by mistake).
    if let Ok(existing) = std::fs::read(csr_out)
        && !existing
            .windows(27)
            .any(|w| w == b"BEGIN CERTIFICATE REQUEST--")
    {
        return Err(cert_err(format!(
            "「{}」は既にあり、申請ファイル（.csr）ではありません。上書きしないので、別の名前（例: {}）を指定してください。",
            csr_out.display(),
            default_csr_name(&office, crate::now())
        )));
    }
    let key = KeyPair::generate().map_err(|e| cert_err(format!("鍵を作成できません（{e}）。")))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, office.as_str());
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| cert_err(format!("証明書署名要求（CSR）を作成できません（{e}）。")))?;
    fsutil::create_private_dir(profile)?;
    let pending_key = profile.join(PENDING_KEY_FILE);
    fsutil::write_atomic(&pending_key, key.serialize_pem().as_bytes(), true)?;
    let dir = fsutil::parent(csr_out);
    std::fs::create_dir_all(&dir).map_err(|e| ClientError::io(&dir, e))?;
    fsutil::write_atomic(csr_out, csr.as_bytes(), false)?;
    Ok(Request {
        office,
        csr: csr_out.to_path_buf(),
        pending_key,
        renewal,
    })
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// The new certificate.
    pub info: CertInfo,
    /// True when the pending key (`client.key.new`) became `client.key`; false when the
    /// certificate is for the key already in use.
    pub new_key: bool,
    /// True when the previous pair was kept as `client.crt.old` / `client.key.old`.
    pub backup: bool,
}

/// The SubjectPublicKeyInfo (DER) of a private key file, if it can be read.
fn key_spki_file(path: &Path) -> Option<Vec<u8>> {
    let pem = std::fs::read_to_string(path).ok()?;
    cert::key_spki(&pem)
}

/// Check `cert_pem` (the operator's answer) against the profile and put it in place (see
/// the module documentation). `ca_pem` is the relay CA for a profile that has no `ca.crt`
/// yet (a first certificate); when the profile has one, a different `ca_pem` is refused.
pub fn install(
    profile: &Path,
    cert_pem: &[u8],
    ca_pem: Option<&[u8]>,
    now: OffsetDateTime,
) -> Result<Installed, ClientError> {
    if cert_pem
        .windows(27)
        .any(|w| w == b"BEGIN CERTIFICATE REQUEST--")
    {
        return Err(cert_err(
            "これは申請ファイル（CSR）です。運用者から送り返された証明書ファイル（.crt）を選んでください。",
        ));
    }
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            cert_err(format!(
                "証明書ファイルがPEM形式として読めません（{e}）。運用者から届いた .crt ファイルを選んでください。"
            ))
        })?;
    let leaf = chain.first().ok_or_else(|| {
        cert_err(
            "このファイルに証明書がありません。運用者から届いた .crt ファイルを選んでください。",
        )
    })?;
    let info = cert::cert_info(leaf.as_ref())?;

    // (b) signed by the profile's CA.
    let ca_path = profile.join(CA_CERT_FILE);
    let profile_ca = std::fs::read(&ca_path).ok();
    let ca_bytes = match (&profile_ca, ca_pem) {
        (Some(p), Some(given)) if cert::same_certs(p, given) == Some(false) => {
            return Err(cert_err(
                "指定されたCA証明書は、このプロファイルのCA証明書（ca.crt）と違います。接続先の中継サーバが変わる場合は、運用者に確認してください。",
            ));
        }
        (Some(p), _) => p.clone(),
        (None, Some(given)) => given.to_vec(),
        (None, None) => {
            return Err(cert_err(format!(
                "プロファイルフォルダ「{}」にCA証明書（ca.crt）がありません。運用者から証明書と一緒に届いた ca.crt を指定してください（careplan cert install --ca ca.crt）。",
                profile.display()
            )));
        }
    };
    let roots = CertificateDer::pem_slice_iter(&ca_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(format!("CA証明書がPEM形式として読めません（{e}）。")))?;
    if !cert::chains_to(leaf.as_ref(), &roots) {
        return Err(cert_err(
            "この証明書は、この端末が接続する中継サーバ（CA証明書 ca.crt）が発行したものではありません。運用者から届いた正しい証明書ファイルか確認してください。",
        ));
    }

    // (c) the profile's office (a renewal).
    let current_cert = profile.join(CLIENT_CERT_FILE);
    if current_cert.exists() {
        let current = cert::read_cert_info(&current_cert)?;
        if current.office != info.office {
            return Err(cert_err(format!(
                "この証明書は事業所番号 {} のものです。この端末の事業所（{}）の証明書ではありません。",
                info.office, current.office
            )));
        }
    }

    // (d) valid now.
    if now > info.not_after {
        return Err(cert_err(format!(
            "この証明書は有効期限（{}）が切れています。運用者に新しい証明書の発行を依頼してください。",
            info.not_after.date()
        )));
    }
    if now < info.not_before {
        return Err(cert_err(format!(
            "この証明書の有効期間はまだ始まっていません（開始 {}）。パソコンの日付と時刻が正しいか確認してください。",
            info.not_before
        )));
    }

    // (a) the key: the pending one (made by `request`) or the one in use.
    let (_, x) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| cert_err(format!("証明書の形式が正しくありません（{e}）。")))?;
    let cert_spki = x.public_key().raw.to_vec();
    let pending = profile.join(PENDING_KEY_FILE);
    let key_path = profile.join(CLIENT_KEY_FILE);
    let new_key = if key_spki_file(&pending).as_deref() == Some(cert_spki.as_slice()) {
        true
    } else if key_spki_file(&key_path).as_deref() == Some(cert_spki.as_slice()) {
        false
    } else {
        return Err(cert_err(
            "この証明書は、この端末で作成した申請（CSR）の鍵と一致しません。申請ファイルを作り直した端末でインストールしてください。新しい申請をした後は、その前の申請の証明書はインストールできません。",
        ));
    };

    // Swap: backup, key, certificate (key first: see the module documentation).
    fsutil::create_private_dir(profile)?;
    let mut backup = false;
    if new_key
        && let (Ok(old_cert), Ok(old_key)) =
            (std::fs::read(&current_cert), std::fs::read(&key_path))
    {
        fsutil::write_atomic(&profile.join(OLD_KEY_FILE), &old_key, true)?;
        fsutil::write_atomic(&profile.join(OLD_CERT_FILE), &old_cert, false)?;
        backup = true;
    }
    if profile_ca.is_none() {
        fsutil::write_atomic(&ca_path, &ca_bytes, false)?;
    }
    if new_key {
        let key = std::fs::read(&pending).map_err(|e| ClientError::io(&pending, e))?;
        fsutil::write_atomic(&key_path, &key, true)?;
    }
    let leaf_pem = cert::pem("CERTIFICATE", leaf.as_ref());
    fsutil::write_atomic(&current_cert, leaf_pem.as_bytes(), false)?;
    if new_key {
        std::fs::remove_file(&pending).map_err(|e| ClientError::io(&pending, e))?;
        fsutil::sync_dir(profile)?;
    }
    Ok(Installed {
        info,
        new_key,
        backup,
    })
}

/// What a profile folder holds (`careplan cert status`, トップページ).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The profile folder.
    pub profile: PathBuf,
    /// The certificate in use, when readable.
    pub certificate: Option<CertInfo>,
    /// Why the certificate could not be read (Japanese), when it could not.
    pub certificate_problem: Option<String>,
    /// Whole days left (negative once expired).
    pub days_left: Option<i64>,
    /// True when `client.key` belongs to `client.crt` (None when either is unreadable).
    pub key_matches: Option<bool>,
    /// True when `ca.crt` is present.
    pub ca_present: bool,
    /// When a request is waiting for its certificate (the time `client.key.new` was made).
    #[serde(with = "time::serde::rfc3339::option")]
    pub pending_since: Option<OffsetDateTime>,
    /// True when a backup of the previous pair is kept.
    pub backup_present: bool,
}

/// Read the state of a profile folder.
pub fn status(profile: &Path, now: OffsetDateTime) -> Status {
    let cert_path = profile.join(CLIENT_CERT_FILE);
    let (certificate, certificate_problem) = match cert::read_cert_info(&cert_path) {
        Ok(i) => (Some(i), None),
        Err(e) => (None, Some(e.message_ja())),
    };
    let key_matches = std::fs::read(&cert_path)
        .ok()
        .and_then(|b| CertificateDer::pem_slice_iter(&b).next()?.ok())
        .and_then(|leaf| {
            let (_, x) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
            let spki = key_spki_file(&profile.join(CLIENT_KEY_FILE))?;
            Some(x.public_key().raw == spki.as_slice())
        });
    let pending_since = std::fs::metadata(profile.join(PENDING_KEY_FILE))
        .ok()
        .map(|m| m.modified().map(OffsetDateTime::from).unwrap_or(now));
    Status {
        profile: profile.to_path_buf(),
        days_left: certificate.as_ref().map(|c| c.days_left(now)),
        certificate,
        certificate_problem,
        key_matches,
        ca_present: profile.join(CA_CERT_FILE).exists(),
        pending_since,
        backup_present: profile.join(OLD_CERT_FILE).exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use careplan_relay::pki;
    use time::Duration;

    const A: &str = "1370526111";
    const B: &str = "1310000001";

    struct Setup {
        _tmp: tempfile::TempDir,
        profile: PathBuf,
        out: PathBuf,
        ca: pki::Pem,
        now: OffsetDateTime,
    }

    /// A profile of office A with a certificate made the old way (key from the relay), as
    /// the demo and earlier versions left it.
    fn setup() -> Setup {
        let tmp = tempfile::tempdir().expect("tempdir");
        let now = OffsetDateTime::now_utc();
        let ca = pki::create_ca("test CA", now, 2).expect("ca");
        let office = OfficeNumber::parse(A).expect("office");
        let c = pki::issue_client(
            &ca,
            &office,
            "かえで",
            now - Duration::days(300),
            now + Duration::days(20),
        )
        .expect("client");
        let profile = tmp.path().join("profile");
        std::fs::create_dir(&profile).expect("mkdir");
        std::fs::write(profile.join(CLIENT_CERT_FILE), &c.cert).expect("crt");
        std::fs::write(profile.join(CLIENT_KEY_FILE), &c.key).expect("key");
        std::fs::write(profile.join(CA_CERT_FILE), &ca.cert).expect("ca");
        let out = tmp.path().join("送付用").join("renew.csr");
        Setup {
            _tmp: tmp,
            profile,
            out,
            ca,
            now,
        }
    }

    /// What the operator does: `careplan-relay cert sign` (the relay library, without the
    /// database look-up).
    fn sign(ca: &pki::Pem, csr: &Path, from: OffsetDateTime, to: OffsetDateTime) -> String {
        let req = pki::read_csr(&std::fs::read(csr).expect("csr")).expect("valid csr");
        pki::issue_for_csr(ca, &req, "かえで居宅介護支援事業所", from, to).expect("signed")
    }

    fn err(r: Result<Installed, ClientError>) -> String {
        r.expect_err("refused").message_ja()
    }

    #[test]
    fn request_sign_install_renews_with_a_key_made_here() {
        let s = setup();
        let old_cert = std::fs::read(s.profile.join(CLIENT_CERT_FILE)).expect("old");
        let old_key = std::fs::read(s.profile.join(CLIENT_KEY_FILE)).expect("old");
        let r = request(&s.profile, None, &s.out).expect("request");
        assert_eq!(r.office.as_str(), A);
        assert!(r.renewal);
        let csr_text = std::fs::read_to_string(&s.out).expect("csr");
        assert!(csr_text.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert!(!csr_text.contains("PRIVATE KEY"), "the CSR holds no secret");
        let st = status(&s.profile, s.now);
        assert!(st.pending_since.is_some());
        assert_eq!(st.key_matches, Some(true));
        assert_eq!(st.days_left, Some(19));

        let crt = sign(
            &s.ca,
            &s.out,
            s.now - Duration::hours(1),
            s.now + Duration::days(365),
        );
        let done = install(&s.profile, crt.as_bytes(), None, s.now).expect("installed");
        assert!(done.new_key && done.backup);
        assert_eq!(done.info.office.as_str(), A);
        assert!(!s.profile.join(PENDING_KEY_FILE).exists());
        assert_eq!(
            std::fs::read(s.profile.join(OLD_CERT_FILE)).expect("b"),
            old_cert
        );
        assert_eq!(
            std::fs::read(s.profile.join(OLD_KEY_FILE)).expect("b"),
            old_key
        );
        let id = crate::Identity::from_profile_dir(&s.profile).expect("loads");
        assert_eq!(id.info(), &done.info);
        assert!(id.info().days_left(s.now) >= 364);
        let st = status(&s.profile, s.now);
        assert_eq!(st.key_matches, Some(true));
        assert!(st.pending_since.is_none() && st.backup_present && st.ca_present);

        // Installing the same file again is harmless (the key in use matches).
        let again = install(&s.profile, crt.as_bytes(), None, s.now).expect("again");
        assert!(!again.new_key);
    }

    #[test]
    fn a_first_certificate_needs_the_office_and_the_ca() {
        let s = setup();
        let fresh = s.profile.with_file_name("new-profile");
        let e = request(&fresh, None, &s.out).expect_err("no office");
        assert!(
            e.message_ja().contains("事業所番号を指定"),
            "{}",
            e.message_ja()
        );
        let b = OfficeNumber::parse(B).expect("b");
        let r = request(&fresh, Some(&b), &s.out).expect("request");
        assert!(!r.renewal);
        let crt = sign(
            &s.ca,
            &s.out,
            s.now - Duration::hours(1),
            s.now + Duration::days(30),
        );
        let m = err(install(&fresh, crt.as_bytes(), None, s.now));
        assert!(m.contains("ca.crt"), "{m}");
        let done =
            install(&fresh, crt.as_bytes(), Some(s.ca.cert.as_bytes()), s.now).expect("installed");
        assert!(done.new_key && !done.backup);
        assert_eq!(
            crate::Identity::from_profile_dir(&fresh)
                .expect("loads")
                .info()
                .office
                .as_str(),
            B
        );
        // The request is never written over another file.
        let e = request(&s.profile, None, &s.profile.join(CLIENT_CERT_FILE)).expect_err("no");
        assert!(
            e.message_ja().contains("上書きしない"),
            "{}",
            e.message_ja()
        );
        assert!(cert::read_cert_info(&s.profile.join(CLIENT_CERT_FILE)).is_ok());
        // Another office for an existing profile is refused at the request.
        let e = request(&s.profile, Some(&b), &s.out).expect_err("other office");
        assert!(e.message_ja().contains(A), "{}", e.message_ja());
    }

    #[test]
    fn install_refuses_what_does_not_belong_here() {
        let s = setup();
        request(&s.profile, None, &s.out).expect("request");
        let before = std::fs::read(s.profile.join(CLIENT_CERT_FILE)).expect("crt");

        // A certificate for a key made elsewhere (another PC's request).
        let other = s.out.with_file_name("other.csr");
        request(
            &s.profile.with_file_name("other-pc"),
            Some(&OfficeNumber::parse(A).expect("a")),
            &other,
        )
        .expect("other request");
        let foreign = sign(
            &s.ca,
            &other,
            s.now - Duration::hours(1),
            s.now + Duration::days(365),
        );
        let m = err(install(&s.profile, foreign.as_bytes(), None, s.now));
        assert!(
            m.contains("この端末で作成した申請（CSR）の鍵と一致しません"),
            "{m}"
        );

        // Another office's certificate for our own pending key.
        let pending = std::fs::read_to_string(s.profile.join(PENDING_KEY_FILE)).expect("key");
        let key = KeyPair::from_pem(&pending).expect("key");
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, B);
        let wrong_office = s.out.with_file_name("b.csr");
        std::fs::write(
            &wrong_office,
            p.serialize_request(&key).expect("csr").pem().expect("pem"),
        )
        .expect("write");
        let crt = sign(
            &s.ca,
            &wrong_office,
            s.now - Duration::hours(1),
            s.now + Duration::days(365),
        );
        let m = err(install(&s.profile, crt.as_bytes(), None, s.now));
        assert!(m.contains(B) && m.contains("この端末の事業所"), "{m}");

        // Expired, and not yet valid.
        let crt = sign(
            &s.ca,
            &s.out,
            s.now - Duration::days(40),
            s.now - Duration::days(1),
        );
        let m = err(install(&s.profile, crt.as_bytes(), None, s.now));
        assert!(m.contains("有効期限") && m.contains("切れています"), "{m}");
        let crt = sign(
            &s.ca,
            &s.out,
            s.now + Duration::days(2),
            s.now + Duration::days(40),
        );
        let m = err(install(&s.profile, crt.as_bytes(), None, s.now));
        assert!(m.contains("日付と時刻"), "{m}");

        // Signed by another CA (another relay, or an attacker's).
        let evil = pki::create_ca("test CA", s.now, 1).expect("ca");
        let crt = sign(
            &evil,
            &s.out,
            s.now - Duration::hours(1),
            s.now + Duration::days(365),
        );
        let m = err(install(&s.profile, crt.as_bytes(), None, s.now));
        assert!(m.contains("発行したものではありません"), "{m}");
        // …also when its CA is offered alongside.
        let m = err(install(
            &s.profile,
            crt.as_bytes(),
            Some(evil.cert.as_bytes()),
            s.now,
        ));
        assert!(m.contains("CA証明書（ca.crt）と違います"), "{m}");

        // The CSR picked by mistake, and a file that is no certificate.
        let csr = std::fs::read(&s.out).expect("csr");
        let m = err(install(&s.profile, &csr, None, s.now));
        assert!(m.contains("申請ファイル（CSR）"), "{m}");
        let m = err(install(&s.profile, b"not a certificate", None, s.now));
        assert!(m.contains(".crt"), "{m}");

        // Nothing changed, the request still waits and the right answer installs.
        assert_eq!(
            std::fs::read(s.profile.join(CLIENT_CERT_FILE)).expect("crt"),
            before
        );
        assert!(s.profile.join(PENDING_KEY_FILE).exists());
        let crt = sign(
            &s.ca,
            &s.out,
            s.now - Duration::hours(1),
            s.now + Duration::days(365),
        );
        install(&s.profile, crt.as_bytes(), None, s.now).expect("installed");
    }

    #[test]
    fn an_interrupted_install_is_finished_by_running_it_again() {
        let s = setup();
        request(&s.profile, None, &s.out).expect("request");
        let crt = sign(
            &s.ca,
            &s.out,
            s.now - Duration::hours(1),
            s.now + Duration::days(365),
        );
        // The PC stopped after the key was written, before the certificate.
        let pending = std::fs::read(s.profile.join(PENDING_KEY_FILE)).expect("key");
        std::fs::write(s.profile.join(CLIENT_KEY_FILE), &pending).expect("key");
        let e = crate::Identity::from_profile_dir(&s.profile).expect_err("mismatch");
        assert!(
            e.message_ja().contains("もう一度インストール"),
            "{}",
            e.message_ja()
        );
        assert_eq!(status(&s.profile, s.now).key_matches, Some(false));
        install(&s.profile, crt.as_bytes(), None, s.now).expect("finished");
        crate::Identity::from_profile_dir(&s.profile).expect("loads");
    }

    #[cfg(unix)]
    #[test]
    fn keys_and_the_profile_folder_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        let s = setup();
        let fresh = s.profile.with_file_name("fresh/profile");
        let a = OfficeNumber::parse(A).expect("a");
        request(&fresh, Some(&a), &s.out).expect("request");
        assert_eq!(mode(&fresh), 0o700);
        assert_eq!(mode(&fresh.join(PENDING_KEY_FILE)), 0o600);
        // The renewal in a profile folder someone opened closes it.
        std::fs::set_permissions(&s.profile, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        request(&s.profile, None, &s.out).expect("request");
        assert_eq!(mode(&s.profile), 0o700);
        let crt = sign(
            &s.ca,
            &s.out,
            s.now - Duration::hours(1),
            s.now + Duration::days(365),
        );
        install(&s.profile, crt.as_bytes(), None, s.now).expect("installed");
        for f in [CLIENT_KEY_FILE, OLD_KEY_FILE] {
            assert_eq!(mode(&s.profile.join(f)) & 0o077, 0, "{f}");
        }
    }

    #[test]
    fn the_csr_name_carries_office_and_date() {
        let o = OfficeNumber::parse(A).expect("a");
        let t = time::macros::datetime!(2026-04-01 09:00 UTC);
        assert_eq!(default_csr_name(&o, t), "careplan-1370526111-20260401.csr");
    }
}
