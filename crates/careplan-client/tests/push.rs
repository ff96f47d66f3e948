//! Pushed arrivals and protocol versions from the client's side: `wait_for_arrivals`
//! against the real relay on loopback, and relays of another protocol version (a real TLS
//! server on loopback with the demo PKI, answering like an old relay or refusing with 426)
//! refused with a clear Japanese message. Also: a list cached by the former client types
//! still reads.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use careplan_client::send::SendMode;
use careplan_client::{ClientError, Store};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::relay_support::{Relay, outgoing};

#[test]
fn a_waiting_client_is_woken_by_a_send_to_its_office() {
    let relay = Relay::start();
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = relay.login(0, ta.path(), "A-1");
    let b = relay.login(1, tb.path(), "B-1");
    // No cursor yet: at once, "list now".
    let first = b.wait_for_arrivals(None, Duration::from_secs(20)).unwrap();
    assert!(first.arrived);
    // Nothing new: times out with the same cursor.
    let quiet = b
        .wait_for_arrivals(Some(&first.cursor), Duration::from_secs(1))
        .unwrap();
    assert!(!quiet.arrived);
    assert_eq!(quiet.cursor, first.cursor);

    let files = relay.plan_set(0, 1, "20261101090000");
    let plan = a
        .prepare_send(
            outgoing(&files),
            "到着の確認",
            &SendMode::Single { to: None },
        )
        .unwrap();
    let b2 = b.clone();
    let cursor = first.cursor.clone();
    let waiter = std::thread::spawn(move || {
        let t = Instant::now();
        (
            b2.wait_for_arrivals(Some(&cursor), Duration::from_secs(20)),
            t.elapsed(),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    a.send(&plan, false).unwrap();
    let (got, took) = waiter.join().unwrap();
    let got = got.unwrap();
    assert!(got.arrived, "{got:?}");
    assert_ne!(got.cursor, first.cursor);
    assert!(
        took < Duration::from_secs(15),
        "woken, not timed out: {took:?}"
    );
    // And the list has it.
    let l = b.received().unwrap();
    assert!(l.items.iter().any(|t| t.message == "到着の確認"));

    // Logged out: a clear session error, no request.
    b.logout();
    assert!(matches!(
        b.wait_for_arrivals(Some(&got.cursor), Duration::from_secs(1)),
        Err(ClientError::SessionExpired)
    ));
}

/// A TLS server with the relay's demo server certificate that answers every request with
/// `answer` (head and body) and closes.
fn fake_relay(relay: &Relay, answer: String) -> (String, std::thread::JoinHandle<()>) {
    let pki = relay.data_dir().join("pki");
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.join("server.crt"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let h = std::thread::spawn(move || {
        // One request per connection (the answer closes it); a few at most.
        for _ in 0..4 {
            let Ok((mut tcp, _)) = listener.accept() else {
                return;
            };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(mut conn) = rustls::ServerConnection::new(cfg.clone()) else {
                return;
            };
            let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                match tls.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let len: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            let _ = tls.read_exact(&mut body);
            let _ = tls.write_all(answer.as_bytes());
            let _ = tls.flush();
            conn.send_close_notify();
            let _ = conn.complete_io(&mut tcp);
        }
    });
    (url, h)
}

fn client_of(relay: &Relay, url: &str, dir: &std::path::Path) -> careplan_client::Client {
    let o = &relay.offices[0];
    let id = careplan_client::Identity::from_profile_dir(&o.profile).unwrap();
    careplan_client::Client::new(
        Store::open(dir).unwrap(),
        &id,
        url,
        careplan_client::ClientOptions {
            retries: 0,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn a_relay_of_another_protocol_version_is_refused_with_a_clear_message() {
    let relay = Relay::start();
    let t = tempfile::tempdir().unwrap();
    let o = relay.offices[0].clone();

    // A relay made before protocol versions: a 200 without the header.
    let body = r#"{"token":"t"}"#;
    let old = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (url, h) = fake_relay(&relay, old);
    let c = client_of(&relay, &url, &t.path().join("old"));
    let e = c
        .login_personal(&o.personal_user, &o.personal_password)
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Incompatible { relay: None, .. }),
        "{e:?}"
    );
    assert_eq!(e.code(), "E_PROTOCOL");
    assert!(
        e.message_ja()
            .contains("中継サーバの運営者に更新を依頼してください"),
        "{e}"
    );
    drop(c);
    drop(h);

    // A newer relay refusing us with 426 E_PROTOCOL: its own message is shown.
    let env = r#"{"error":{"code":"E_PROTOCOL","message":"このアプリの版が古いため、中継サーバに接続できません。アプリを最新の版に更新してください。"}}"#;
    let newer = format!(
        "HTTP/1.1 426 Upgrade Required\r\nx-careplan-protocol: 3\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{env}",
        env.len()
    );
    let (url, _h) = fake_relay(&relay, newer);
    let c = client_of(&relay, &url, &t.path().join("new"));
    let e = c
        .login_personal(&o.personal_user, &o.personal_password)
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Incompatible { relay: Some(3), .. }),
        "{e:?}"
    );
    assert!(
        e.message_ja()
            .contains("アプリを最新の版に更新してください"),
        "{e}"
    );

    // The real relay of our version: served.
    let c = relay.client(0, &t.path().join("ok"), "A-1");
    c.login_personal(&o.personal_user, &o.personal_password)
        .unwrap();
}

#[test]
fn a_list_cached_by_the_former_client_types_still_reads() {
    let relay = Relay::start();
    let t = tempfile::tempdir().unwrap();
    let c = relay.client(0, t.path(), "A-1");
    let office = relay.offices[0].office.clone();
    // The former model::ReceivedFile had no `kind`.
    let items = serde_json::json!([{
        "id": "t1", "received_at": "2026-11-01T09:00:00Z", "sender_office": "1310000002",
        "sender_name": "テスト事業所", "message": "前の版のキャッシュ",
        "files": [{"id": "f1", "name": "説明.pdf", "category": "PDF等", "csv_version": null,
                   "size": 3, "sha256": "00", "acquired": false}]
    }]);
    c.store()
        .put_cache(&office, "received", &items, time::OffsetDateTime::now_utc())
        .unwrap();
    let l = c.cached_received().unwrap().expect("cached");
    assert_eq!(l.items.len(), 1);
    assert_eq!(l.items[0].message, "前の版のキャッシュ");
    assert_eq!(l.items[0].files[0].kind, None);
}
