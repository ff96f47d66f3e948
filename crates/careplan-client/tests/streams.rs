//! Files as streams of raw bytes (`docs/protocol.md`): through a loopback TCP proxy that cuts
//! the connection once in the middle of a file, a send continues its upload from the
//! relay's offset and a receive continues its download with `Range`, so the bytes on the
//! wire stay about one file's worth instead of starting over. And a relay of the old
//! protocol (no version header) is refused with a message saying who must update.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use careplan_client::{ClientError, OutgoingFile, SendMode};

use crate::relay_support::{Relay, outgoing};

/// A TCP proxy on loopback to `target`, counting the bytes each way; when armed, it cuts
/// the first connection that carries more than `cut_*` bytes in that direction (once).
struct Proxy {
    port: u16,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    cut_up: Arc<AtomicU64>,
    cut_down: Arc<AtomicU64>,
}

fn pump(
    mut from: TcpStream,
    to: TcpStream,
    total: Arc<AtomicU64>,
    cut: Arc<AtomicU64>,
    other: TcpStream,
) {
    let mut to = to;
    let mut buf = vec![0u8; 16 * 1024];
    let mut here: u64 = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        here += n as u64;
        let limit = cut.load(Ordering::SeqCst);
        if limit > 0
            && here > limit
            && cut
                .compare_exchange(limit, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            let _ = other.shutdown(Shutdown::Both);
            return;
        }
        total.fetch_add(n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let p = Proxy {
            port,
            up: Arc::default(),
            down: Arc::default(),
            cut_up: Arc::default(),
            cut_down: Arc::default(),
        };
        let (up, down, cut_up, cut_down) = (
            p.up.clone(),
            p.down.clone(),
            p.cut_up.clone(),
            p.cut_down.clone(),
        );
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let Ok(s) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (c2, s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
                let (c3, s3) = (c.try_clone().unwrap(), s.try_clone().unwrap());
                let (up, cut_up) = (up.clone(), cut_up.clone());
                std::thread::spawn(move || pump(c, s, up, cut_up, s3));
                let (down, cut_down) = (down.clone(), cut_down.clone());
                std::thread::spawn(move || pump(s2, c2, down, cut_down, c3));
            }
        });
        p
    }
}

fn pdf(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.4\n".to_vec();
    v.extend((0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8));
    v
}

#[test]
fn broken_uploads_and_downloads_continue_where_they_stopped() {
    let relay = Relay::start();
    let proxy = Proxy::start(relay.url.rsplit(':').next().unwrap().parse().unwrap());
    let mut via_proxy = Relay::start_detached(&relay);
    via_proxy.url = format!("https://localhost:{}", proxy.port);
    let a_dir = tempfile::tempdir().unwrap();
    let a = via_proxy.login(0, a_dir.path(), "A1");
    let big = pdf(3_000_000);
    let mut files = outgoing(&relay.plan_set(0, 1, "20261125093000"));
    files.push(OutgoingFile {
        name: "大きな資料.pdf".into(),
        bytes: big.clone(),
    });
    let total: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    let plan = a
        .prepare_send(files, "途中で切れる回線", &SendMode::Single { to: None })
        .unwrap();
    // Cut the upload once, 1.5 MB into it.
    proxy.up.store(0, Ordering::SeqCst);
    proxy.cut_up.store(1_500_000, Ordering::SeqCst);
    let receipt = a.send(&plan, true).unwrap();
    assert_eq!(receipt.offices.len(), 1);
    assert_eq!(proxy.cut_up.load(Ordering::SeqCst), 0, "the cut happened");
    let up = proxy.up.load(Ordering::SeqCst);
    assert!(
        up < total + 600_000,
        "the upload continued from the relay's offset: {up} bytes sent for {total}"
    );

    // Receive through the proxy, the download cut once 1.5 MB in.
    let b_dir = tempfile::tempdir().unwrap();
    let b = via_proxy.login(1, b_dir.path(), "B1");
    let list = b.received().unwrap();
    let t = list
        .items
        .iter()
        .find(|t| t.message == "途中で切れる回線")
        .unwrap()
        .clone();
    let ids: Vec<String> = t.files.iter().map(|f| f.id.clone()).collect();
    let out = tempfile::tempdir().unwrap();
    proxy.down.store(0, Ordering::SeqCst);
    proxy.cut_down.store(1_500_000, Ordering::SeqCst);
    let report = b.receive(&ids, out.path(), &mut |_| {}).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(proxy.cut_down.load(Ordering::SeqCst), 0, "the cut happened");
    let down = proxy.down.load(Ordering::SeqCst);
    assert!(
        down < total + 600_000,
        "the download continued with Range: {down} bytes received for {total}"
    );
    let saved = std::fs::read(out.path().join("大きな資料.pdf")).unwrap();
    assert_eq!(saved, big);
    // 済 with the proof over the whole file (keyed with the resumed request's nonce).
    let sent = a.sent().unwrap();
    let mine = sent
        .items
        .iter()
        .find(|s| s.message == "途中で切れる回線")
        .unwrap();
    assert!(mine.destinations[0].files.iter().all(|f| f.acquired));
}

/// A relay speaking the old protocol (it answers without `x-careplan-protocol`) is refused
/// by this client with a message naming the relay as the one to update.
#[test]
fn a_relay_of_the_old_protocol_is_refused() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let relay = Relay::start();
    let pki = relay.data_dir().join("pki");
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.join("server.crt"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.join("server.key")).unwrap();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let mut t = rustls::StreamOwned::new(conn, c);
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if t.read(&mut b).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                // What the relay before issue #13 answered to step 1 (no version header).
                let body = br#"{"token":"old-relay-token"}"#;
                let _ = write!(
                    t,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = t.write_all(body);
                let _ = t.flush();
            });
        }
    });
    let mut old = Relay::start_detached(&relay);
    old.url = format!("https://localhost:{port}");
    let dir = tempfile::tempdir().unwrap();
    let c = old.client(0, dir.path(), "T1");
    let o = &relay.offices[0];
    let err = c
        .login(
            &o.personal_user,
            &o.personal_password,
            &o.office_user,
            &o.office_password,
        )
        .unwrap_err();
    match &err {
        ClientError::Incompatible {
            relay: None,
            message,
        } => {
            assert!(message.contains("中継サーバ"), "{message}");
            assert!(message.contains("更新"), "{message}");
        }
        other => panic!("expected a protocol version error, got {other:?}"),
    }
    assert_eq!(err.code(), careplan_core::wire::PROTOCOL_ERROR);
}
