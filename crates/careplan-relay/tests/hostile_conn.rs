//! Hostile connections against the real relay on loopback with real mutual TLS (the demo
//! PKI, an office's client certificate): slow request heads, idle keep-alive connections,
//! too many connections from one peer, stalled request bodies, PROXY headers from a trusted
//! load balancer, and a relay out of file descriptors. Every test is bounded (< 10 s).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use careplan_relay::Config;
use careplan_relay::conn::{ConnLimits, TrustedNet};
use careplan_relay::demo::{DemoInfo, demo_config, ensure_demo};
use careplan_relay::embedded::{RunningRelay, start};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

mod support;

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

struct Relay {
    _dir: tempfile::TempDir,
    relay: RunningRelay,
    demo: DemoInfo,
    tls: Arc<rustls::ClientConfig>,
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// The demo PKI and store in a temp dir.
fn demo_dir(addr: SocketAddr) -> (tempfile::TempDir, DemoInfo) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let demo = rt
        .block_on(ensure_demo(dir.path(), addr))
        .expect("demo relay data");
    (dir, demo)
}

/// The demo relay with these connection limits.
fn relay(limits: ConnLimits) -> Relay {
    let addr = free_addr();
    let (dir, demo) = demo_dir(addr);
    let cfg = Config {
        connections: limits,
        ..demo_config(dir.path(), addr)
    };
    let relay = start(cfg).expect("start relay");
    let tls = client_config(&demo);
    Relay {
        _dir: dir,
        relay,
        demo,
        tls,
    }
}

/// rustls (ring) trusting only the demo CA, presenting the first demo office's certificate.
fn client_config(demo: &DemoInfo) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&demo.ca).expect("ca") {
        roots.add(c.expect("ca pem")).expect("ca cert");
    }
    let profile = &demo.offices[0].profile;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(profile.join("client.crt"))
            .expect("client cert")
            .collect::<Result<_, _>>()
            .expect("client cert pem");
    let key = PrivateKeyDer::from_pem_file(profile.join("client.key")).expect("client key");
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .expect("client auth");
    Arc::new(cfg)
}

/// TCP connect, send `prelude` (a PROXY header, garbage, or nothing), then the TLS handshake.
fn connect(r: &Relay, prelude: &[u8]) -> io::Result<Tls> {
    let mut tcp = TcpStream::connect(r.relay.addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(3)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(3)))?;
    tcp.set_nodelay(true)?;
    tcp.write_all(prelude)?;
    let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
    let mut c = rustls::ClientConnection::new(r.tls.clone(), name).map_err(io::Error::other)?;
    while c.is_handshaking() {
        c.complete_io(&mut tcp)?;
    }
    Ok(rustls::StreamOwned::new(c, tcp))
}

/// The status of one whole HTTP/1.1 answer (head and `Content-Length` body).
fn read_response(s: &mut Tls) -> io::Result<u16> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b)?;
        head.push(b[0]);
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("answer head too long"));
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP answer: {text}")))?;
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(status)
}

/// One `GET /api/v1/status` on the connection; the status of the answer (401 without a
/// session: any answer shows the connection is served).
fn request(s: &mut Tls) -> io::Result<u16> {
    s.write_all(
        b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nx-careplan-protocol: 2\r\n\r\n",
    )?;
    s.flush()?;
    read_response(s)
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Wait up to `limit` for the relay to close `s` (EOF, reset, or an error); everything the
/// relay sends before is collected. `None` if it is still open.
fn closed_within(s: &mut Tls, limit: Duration, got: &mut Vec<u8>) -> Option<Duration> {
    let start = Instant::now();
    s.sock
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if timed_out(&e) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn a_request_head_sent_one_byte_per_500_ms_is_cut_after_the_header_timeout() {
    let r = relay(ConnLimits {
        header_read_timeout_secs: 2,
        ..ConnLimits::default()
    });
    let mut s = connect(&r, b"").expect("TLS");
    // 80 bytes: 40 s at this pace if nothing cuts it.
    let head = b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nAccept: */*\r\n\r\n";
    s.sock
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");
    let start = Instant::now();
    let mut closed = None;
    let mut buf = [0u8; 512];
    for b in head {
        if s.write_all(&[*b]).and_then(|()| s.flush()).is_err() {
            closed = Some(start.elapsed());
            break;
        }
        // The read's timeout is the 500 ms pace.
        match s.read(&mut buf) {
            Err(e) if timed_out(&e) => {}
            _ => {
                closed = Some(start.elapsed());
                break;
            }
        }
        if start.elapsed() > Duration::from_secs(7) {
            break;
        }
    }
    let t = closed.expect("the slow request head must be cut");
    assert!(
        t >= Duration::from_millis(1500) && t < Duration::from_secs(5),
        "cut after {t:?}, expected about 2 s"
    );

    // Meanwhile an ordinary client is served.
    let agent = support::agent(Some(&r.demo.offices[0].profile), &r.demo.ca);
    let resp = agent
        .get(&format!("{}/api/v1/status", r.relay.url()))
        .call()
        .expect("ordinary request");
    assert_eq!(resp.status().as_u16(), 401);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let r = relay(ConnLimits {
        idle_timeout_secs: 1,
        header_read_timeout_secs: 5,
        ..ConnLimits::default()
    });
    let mut s = connect(&r, b"").expect("TLS");
    assert_eq!(request(&mut s).expect("first request"), 401);
    // A request within the idle timeout keeps the connection.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(request(&mut s).expect("second request, kept alive"), 401);
    let mut got = Vec::new();
    let t = closed_within(&mut s, Duration::from_secs(4), &mut got)
        .expect("an idle connection must be closed");
    // hyper's own timer (head + idle = 6 s) cannot be what closed it.
    assert!(
        t >= Duration::from_millis(800) && t < Duration::from_secs(3),
        "closed after {t:?}, expected about 1 s"
    );
    assert!(got.is_empty(), "nothing sent before the close: {got:?}");
}

#[test]
fn the_connection_over_the_per_peer_limit_is_closed_at_once_and_the_others_still_work() {
    let r = relay(ConnLimits {
        max_connections_per_peer: 3,
        ..ConnLimits::default()
    });
    let mut open: Vec<Tls> = (0..3)
        .map(|i| connect(&r, b"").unwrap_or_else(|e| panic!("connection {i}: {e}")))
        .collect();
    for s in &mut open {
        assert_eq!(request(s).expect("served"), 401);
    }
    let start = Instant::now();
    let fourth = connect(&r, b"").and_then(|mut s| request(&mut s));
    assert!(fourth.is_err(), "the 4th connection must be refused");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "refused at once, not after a timeout: {:?}",
        start.elapsed()
    );
    for s in &mut open {
        assert_eq!(request(s).expect("still served"), 401);
    }
    // Closing one frees its place.
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match connect(&r, b"").and_then(|mut s| request(&mut s)) {
            Ok(status) => {
                assert_eq!(status, 401);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "place not freed: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stalled_request_body_is_cut_after_the_body_timeout() {
    let r = relay(ConnLimits {
        body_timeout_secs: 1,
        ..ConnLimits::default()
    });
    let mut s = connect(&r, b"").expect("TLS");
    s.write_all(
        b"POST /api/v1/login/personal HTTP/1.1\r\nHost: 127.0.0.1\r\nx-careplan-protocol: 2\r\n\
          Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"user_id\":",
    )
    .expect("head and part of the body");
    s.flush().expect("flush");
    let mut got = Vec::new();
    let t = closed_within(&mut s, Duration::from_secs(6), &mut got)
        .expect("a stalled body must be cut");
    assert!(
        t >= Duration::from_millis(800) && t < Duration::from_secs(4),
        "cut after {t:?}, expected about 1 s"
    );
    let answer = String::from_utf8_lossy(&got);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a 408 answer before the close: {answer}"
    );
    assert!(answer.contains("E_TIMEOUT"), "{answer}");
}

#[test]
fn the_connection_over_the_global_limit_is_closed_at_once() {
    let r = relay(ConnLimits {
        max_connections: 2,
        ..ConnLimits::default()
    });
    let mut open: Vec<Tls> = (0..2).map(|_| connect(&r, b"").expect("TLS")).collect();
    for s in &mut open {
        assert_eq!(request(s).expect("served"), 401);
    }
    let start = Instant::now();
    assert!(connect(&r, b"").and_then(|mut s| request(&mut s)).is_err());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    for s in &mut open {
        assert_eq!(request(s).expect("still served"), 401);
    }
}

#[test]
fn request_heads_over_the_size_or_field_limits_are_answered_431() {
    let r = relay(ConnLimits {
        max_header_bytes: 8192,
        max_headers: 20,
        ..ConnLimits::default()
    });
    let big = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    let mut many = String::from("GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..30 {
        many.push_str(&format!("X-Field-{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    for head in [big, many] {
        let mut s = connect(&r, b"").expect("TLS");
        s.write_all(head.as_bytes()).expect("head");
        s.flush().expect("flush");
        assert_eq!(read_response(&mut s).expect("answer"), 431);
    }
}

fn proxy_v2(src: [u8; 4], port: u16) -> Vec<u8> {
    ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        ppp::v2::IPv4::new(src, [127, 0, 0, 1], 40000, port),
    )
    .build()
    .expect("PROXY v2 header")
}

#[test]
fn proxy_headers_from_a_trusted_balancer_set_the_peer_and_anything_else_is_refused() {
    let r = relay(ConnLimits {
        max_connections_per_peer: 2,
        proxy_protocol_from: vec![TrustedNet::try_from("127.0.0.1".to_owned()).expect("ip")],
        ..ConnLimits::default()
    });
    let port = r.relay.addr.port();
    let served =
        |prelude: &[u8]| connect(&r, prelude).and_then(|mut s| request(&mut s).map(|st| (s, st)));
    // Two announced clients, two places each, all through one balancer address.
    let mut open = Vec::new();
    for src in [[203, 0, 113, 1], [203, 0, 113, 2]] {
        for i in 0..2 {
            let (s, status) = served(&proxy_v2(src, port))
                .unwrap_or_else(|e| panic!("{src:?} connection {i}: {e}"));
            assert_eq!(status, 401);
            open.push(s);
        }
        assert!(
            served(&proxy_v2(src, port)).is_err(),
            "{src:?}: the third connection is over its own limit"
        );
    }
    // v1 from a third client.
    let (s, status) = served(b"PROXY TCP4 203.0.113.3 127.0.0.1 40001 8443\r\n").expect("v1");
    assert_eq!(status, 401);
    open.push(s);
    // The balancer must send a header: plain TLS, garbage and a broken header are refused.
    assert!(served(b"").is_err(), "no PROXY header");
    assert!(served(b"GET / HTTP/1.1\r\n\r\n").is_err(), "garbage");
    assert!(
        served(b"PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n").is_err(),
        "malformed v1"
    );
    for s in &mut open {
        assert_eq!(request(s).expect("still served"), 401);
    }
}

#[test]
fn with_proxy_protocol_required_other_addresses_are_refused() {
    let r = relay(ConnLimits {
        proxy_protocol_from: vec![TrustedNet::try_from("192.0.2.0/24".to_owned()).expect("net")],
        proxy_protocol_required: true,
        ..ConnLimits::default()
    });
    assert!(connect(&r, b"").and_then(|mut s| request(&mut s)).is_err());
    // Without `required`, the same client is served directly.
    let r = relay(ConnLimits {
        proxy_protocol_from: vec![TrustedNet::try_from("192.0.2.0/24".to_owned()).expect("net")],
        ..ConnLimits::default()
    });
    let mut s = connect(&r, b"").expect("direct TLS");
    assert_eq!(request(&mut s).expect("served"), 401);
}

/// utime + stime of `pid` in clock ticks (USER_HZ, 100 per second on Linux).
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // fields 14 and 15 of stat(5); `after` starts at field 3.
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

#[cfg(target_os = "linux")]
#[test]
fn out_of_file_descriptors_the_relay_backs_off_instead_of_spinning() {
    const NOFILE: usize = 48;
    let addr = free_addr();
    let (dir, _demo) = demo_dir(addr);
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n \"$3\" && exec \"$0\" demo --data \"$1\" --listen \"$2\"")
        .arg(env!("CARGO_BIN_EXE_careplan-relay"))
        .arg(dir.path())
        .arg(addr.to_string())
        .arg(NOFILE.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn relay");
    let pid = child.id();
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "relay did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // More connections than the relay has descriptors; they send nothing, so the relay
    // holds each for its TLS handshake timeout (10 s) and the rest wait in the backlog.
    let flood: Vec<TcpStream> = (0..3 * NOFILE)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    let _ = child.kill();
    let _ = child.wait();
    drop(flood);
    eprintln!("out of descriptors: {fds} of {NOFILE} open, {used} CPU ticks in 2 s");
    assert!(
        fds + 2 >= NOFILE,
        "the relay must be out of descriptors for this test ({fds} of {NOFILE} open)"
    );
    // A spinning accept loop burns ~200 ticks in 2 s; backing off, almost none.
    assert!(
        used < 30,
        "{used} CPU ticks in 2 s while out of descriptors"
    );
}
