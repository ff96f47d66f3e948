//! The connection layer: how many connections the relay holds (in all and per peer), how it
//! survives accept errors, the PROXY protocol from trusted load balancers, and the timeouts
//! of a connection's phases (TLS handshake, request head, idle keep-alive, request body).
//! `docs/security.md` § Connection limits lists every limit with its default.
//!
//! hyper 1 has one timer for HTTP/1: `header_read_timeout`, which starts as soon as the
//! connection waits for a request head, so it also bounds the idle wait between requests.
//! The relay wants a short head timeout (slow-header clients) and a longer keep-alive, so the
//! phases are tracked here ([`Activity`]: the IO wrapper [`ActivityIo`] sees the first byte of
//! a head, [`ConnService`] sees a request start and its response end) and a per-connection
//! watchdog in the server closes the connection when a phase overruns. hyper's own timer is
//! set to the sum of both as a backstop.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::{Frame, Incoming, SizeHint};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// Limits and timeouts of connections (`[connections]` in the configuration file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnLimits {
    /// Open connections in all (4096). A connection over the limit is closed at once,
    /// before any TLS work.
    pub max_connections: usize,
    /// Open connections from one peer (64): one IPv4 address, or one IPv6 /64 network.
    /// Behind a trusted load balancer the peer is the address in the PROXY header.
    pub max_connections_per_peer: usize,
    /// Seconds for the PROXY header (when one is expected) and the TLS handshake (10).
    pub tls_handshake_timeout_secs: u64,
    /// Seconds to receive a whole request head (10): from the end of the TLS handshake for
    /// the first request, from the head's first byte for later ones.
    pub header_read_timeout_secs: u64,
    /// Seconds a keep-alive connection may wait for its next request (60).
    pub idle_timeout_secs: u64,
    /// Seconds a request body may take (120), plus one second for every
    /// `body_min_bytes_per_sec` bytes received: a body that keeps that rate is never cut, one
    /// that stalls is cut with `408` and the connection is closed.
    pub body_timeout_secs: u64,
    /// The rate (bytes per second) that extends `body_timeout_secs` (8192); 0 makes
    /// `body_timeout_secs` a fixed total.
    pub body_min_bytes_per_sec: u64,
    /// Bytes of a request head, request line and header fields (65 536; at least 8192).
    /// Over it the answer is `431`.
    pub max_header_bytes: usize,
    /// Header fields of a request (100). Over it the answer is `431`.
    pub max_headers: usize,
    /// Load balancers (addresses or networks such as `10.0.0.0/24`) whose connections begin
    /// with a PROXY protocol v1 or v2 header (empty: none). The peer is then the header's
    /// source address.
    pub proxy_protocol_from: Vec<TrustedNet>,
    /// Refuse connections from any address not in `proxy_protocol_from` (false).
    pub proxy_protocol_required: bool,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_peer: 64,
            tls_handshake_timeout_secs: 10,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_timeout_secs: 120,
            body_min_bytes_per_sec: 8192,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            proxy_protocol_from: Vec::new(),
            proxy_protocol_required: false,
        }
    }
}

/// hyper's smallest allowed read buffer.
const MIN_BUF: usize = 8192;

impl ConnLimits {
    /// The TLS handshake (and PROXY header) timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.tls_handshake_timeout_secs.max(1))
    }
    /// The request head timeout.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.max(1))
    }
    /// The idle keep-alive timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }
    /// The base of the body timeout.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs.max(1))
    }
    /// hyper's read buffer bound (the head must fit in it).
    pub fn max_buf_size(&self) -> usize {
        self.max_header_bytes.max(MIN_BUF)
    }
    /// Whether connections from `ip` must begin with a PROXY header.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.proxy_protocol_from.iter().any(|n| n.0.contains(&ip))
    }
    /// The HTTP/1 builder with these limits (hyper's head timer as a backstop of the
    /// watchdog: head and idle time together).
    pub fn http1(&self) -> hyper::server::conn::http1::Builder {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.header_timeout() + self.idle_timeout())
            .keep_alive(true)
            .max_buf_size(self.max_buf_size())
            .max_header_size(self.max_buf_size())
            .max_headers(self.max_headers.max(1));
        b
    }
}

/// An address or network trusted to send PROXY headers: `10.0.0.5`, `10.0.0.0/24`, `fd00::/8`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustedNet(pub IpNet);

impl TryFrom<String> for TrustedNet {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(n) = t.parse::<IpNet>() {
            return Ok(Self(n.trunc()));
        }
        match t.parse::<IpAddr>() {
            Ok(ip) => Ok(Self(IpNet::from(ip.to_canonical()))),
            Err(_) => Err(format!(
                "proxy_protocol_from の「{s}」はIPアドレスでもネットワーク (例: 10.0.0.0/24) でもありません"
            )),
        }
    }
}

impl From<TrustedNet> for String {
    fn from(n: TrustedNet) -> String {
        n.0.to_string()
    }
}

/// The key of the per-peer count: an IPv4 address, or the /64 of an IPv6 address (one
/// subscriber usually holds a whole /64).
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// A log line at most once per period, with the number of events since the last line.
#[derive(Debug)]
pub struct RateLimitedLog {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedLog {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Count one event; `Some(n)` when a line is due, with the events it stands for.
    pub fn hit(&self) -> Option<u64> {
        self.hit_at(Instant::now())
    }

    /// [`Self::hit`] at a given time.
    pub fn hit_at(&self, now: Instant) -> Option<u64> {
        let mut s = lock(&self.state);
        s.1 += 1;
        match s.0 {
            Some(last) if now.saturating_duration_since(last) < self.every => None,
            _ => {
                s.0 = Some(now);
                Some(std::mem::take(&mut s.1))
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The delay before the next `accept` after an error that is not about one connection
/// (EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener stays readable, so retrying at once
/// would spin): 10 ms, doubling to 1 s; a successful accept resets it.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(10), Duration::from_secs(1))
    }
}

impl Backoff {
    /// From `min` doubling up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            next: min,
        }
    }
    /// The delay to wait now; the following one doubles (up to the cap).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
    /// After a successful accept.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Whether an accept error concerns only the one connection (it was aborted or reset
/// before we took it): then the next accept is tried at once.
pub fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Open connections, in all and per peer.
#[derive(Debug)]
pub struct Tracker {
    max_total: usize,
    max_per_peer: usize,
    open: AtomicUsize,
    per_peer: Mutex<HashMap<IpAddr, usize>>,
    refused_total: RateLimitedLog,
    refused_peer: RateLimitedLog,
}

/// A place among all connections; freed when dropped.
#[derive(Debug)]
pub struct Slot(Arc<Tracker>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A place among a peer's connections; freed when dropped.
#[derive(Debug)]
pub struct PeerSlot(Arc<Tracker>, IpAddr);

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut m = lock(&self.0.per_peer);
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

impl Tracker {
    /// Counting against `limits`.
    pub fn new(limits: &ConnLimits) -> Arc<Self> {
        Arc::new(Self {
            max_total: limits.max_connections.max(1),
            max_per_peer: limits.max_connections_per_peer.max(1),
            open: AtomicUsize::new(0),
            per_peer: Mutex::new(HashMap::new()),
            refused_total: RateLimitedLog::new(Duration::from_secs(1)),
            refused_peer: RateLimitedLog::new(Duration::from_secs(1)),
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// A place among all connections, or `None` (logged, rate-limited) when full.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        if before >= self.max_total {
            self.open.fetch_sub(1, Ordering::AcqRel);
            if let Some(n) = self.refused_total.hit() {
                tracing::warn!(
                    dropped = n,
                    limit = self.max_total,
                    "connection limit reached: new connections closed"
                );
            }
            return None;
        }
        Some(Slot(self.clone()))
    }

    /// A place among `ip`'s connections, or `None` (logged, rate-limited) when full.
    pub fn admit_peer(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let key = peer_key(ip);
        {
            let mut m = lock(&self.per_peer);
            let n = m.entry(key).or_insert(0);
            if *n < self.max_per_peer {
                *n += 1;
                return Some(PeerSlot(self.clone(), key));
            }
        }
        if let Some(n) = self.refused_peer.hit() {
            tracing::warn!(
                dropped = n,
                peer = %ip,
                limit = self.max_per_peer,
                "per-peer connection limit reached: new connections closed"
            );
        }
        None
    }
}

/// Why a PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The connection did not begin with a PROXY header.
    #[error("no PROXY protocol header")]
    Missing,
    /// A header that does not parse.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    /// Reading failed.
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] io::Error),
}

/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 line is at most 107 bytes with its CRLF.
const V1_MAX: usize = 107;
/// The largest v2 address block (with TLVs) we read.
const V2_MAX_PAYLOAD: usize = 2048;

/// Read exactly one PROXY v1 or v2 header from `io` (nothing after it) and return the source
/// address it announces; `None` for `LOCAL` (v2) and `UNKNOWN` (v1) headers, which a load
/// balancer sends for its own health checks.
pub async fn read_proxy_header<R: AsyncRead + Unpin>(
    io: &mut R,
) -> Result<Option<SocketAddr>, ProxyError> {
    let mut buf = vec![0u8; 12];
    io.read_exact(&mut buf).await?;
    if buf.as_slice() == V2_SIGNATURE {
        let mut rest = [0u8; 4];
        io.read_exact(&mut rest).await?;
        buf.extend_from_slice(&rest);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if len > V2_MAX_PAYLOAD {
            return Err(ProxyError::Malformed(format!("v2 length {len}")));
        }
        let start = buf.len();
        buf.resize(start + len, 0);
        io.read_exact(&mut buf[start..]).await?;
        let h = ppp::v2::Header::try_from(buf.as_slice())
            .map_err(|e| ProxyError::Malformed(e.to_string()))?;
        if h.command == ppp::v2::Command::Local {
            return Ok(None);
        }
        return Ok(match h.addresses {
            ppp::v2::Addresses::IPv4(a) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            ppp::v2::Addresses::IPv6(a) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => None,
        });
    }
    if !buf.starts_with(b"PROXY ") {
        return Err(ProxyError::Missing);
    }
    // v1: one line; read it byte by byte so that nothing of the TLS handshake is consumed.
    while !buf.ends_with(b"\r\n") {
        if buf.len() >= V1_MAX {
            return Err(ProxyError::Malformed("v1 line too long".into()));
        }
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await?;
        buf.push(b[0]);
    }
    let h = ppp::v1::Header::try_from(buf.as_slice())
        .map_err(|e| ProxyError::Malformed(e.to_string()))?;
    Ok(match h.addresses {
        ppp::v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        ppp::v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        ppp::v1::Addresses::Unknown => None,
    })
}

/// The phase of an HTTP/1 connection, for the watchdog.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the first request head (since the TLS handshake).
    First(Instant),
    /// Between requests, nothing received yet.
    Idle(Instant),
    /// A request head is arriving (since its first byte).
    Head(Instant),
    /// This many requests are being served (until their answers are written).
    Busy(usize),
}

/// What the watchdog must do when a deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// An idle keep-alive connection: close it gracefully.
    Idle,
    /// A request head that did not arrive in time: drop the connection.
    Head,
}

/// The phases of one connection, shared by its IO, its service and its watchdog.
#[derive(Debug)]
pub struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Activity {
    /// A connection whose TLS handshake just ended.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::First(Instant::now())),
            changed: Notify::new(),
        })
    }

    fn on_read(&self) {
        let mut p = lock(&self.phase);
        if let Phase::Idle(_) = *p {
            *p = Phase::Head(Instant::now());
            drop(p);
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> RequestGuard {
        {
            let mut p = lock(&self.phase);
            *p = match *p {
                Phase::Busy(n) => Phase::Busy(n + 1),
                _ => Phase::Busy(1),
            };
        }
        self.changed.notify_one();
        RequestGuard(self.clone())
    }

    /// The next deadline and what it means; `None` while requests are being served.
    pub fn deadline(&self, limits: &ConnLimits) -> Option<(Instant, Expiry)> {
        match *lock(&self.phase) {
            Phase::First(t) | Phase::Head(t) => Some((t + limits.header_timeout(), Expiry::Head)),
            Phase::Idle(t) => Some((t + limits.idle_timeout(), Expiry::Idle)),
            Phase::Busy(_) => None,
        }
    }

    /// Resolves when the phase changed since the last call.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A request being served; its end (the response body written or dropped) makes the
/// connection idle.
#[derive(Debug)]
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        {
            let mut p = lock(&self.0.phase);
            *p = match *p {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Idle(Instant::now()),
            };
        }
        self.0.changed.notify_one();
    }
}

/// The connection's stream, telling [`Activity`] when bytes arrive.
#[derive(Debug)]
pub struct ActivityIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> ActivityIo<T> {
    /// Wrap `inner`.
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.on_read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body that has `body_timeout` (extended by its rate) to arrive.
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    sleep: Pin<Box<Sleep>>,
    per_byte: Option<f64>,
    timed_out: Arc<AtomicBool>,
}

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("request body timeout")]
pub struct BodyTimeout;

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(d), Some(per_byte)) = (frame.data_ref(), this.per_byte) {
                    // Every byte received buys 1/rate seconds more.
                    let extra = Duration::from_secs_f64((d.len() as f64 * per_byte).min(86_400.0));
                    this.deadline += extra;
                    let deadline = this.deadline;
                    this.sleep.as_mut().reset(deadline);
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that ends its request (for [`Activity`]) when written or dropped.
struct GuardedBody {
    inner: Body,
    guard: Option<RequestGuard>,
}

impl hyper::body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.guard = None;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The `408` answer to a request whose body stalled (the connection is closed after it).
fn body_timeout_response() -> Response<Body> {
    let body = careplan_core::wire::ErrorEnvelope {
        error: careplan_core::wire::ErrorBody {
            code: "E_TIMEOUT".into(),
            message: "データの受信が途中で止まったため中断しました。通信環境を確かめて、もう一度送ってください。"
                .into(),
            details: careplan_core::wire::ErrorDetails::default(),
        },
    };
    let mut r = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The hyper service of one connection: the router, with the request body under its
/// timeout and each request's start and end told to the connection's [`Activity`].
#[derive(Clone)]
pub struct ConnService {
    router: Router,
    activity: Arc<Activity>,
    body_timeout: Duration,
    per_byte: Option<f64>,
}

impl ConnService {
    /// Serve `router` on a connection tracked by `activity`.
    pub fn new(router: Router, activity: Arc<Activity>, limits: &ConnLimits) -> Self {
        Self {
            router,
            activity,
            body_timeout: limits.body_timeout(),
            per_byte: (limits.body_min_bytes_per_sec > 0)
                .then(|| 1.0 / limits.body_min_bytes_per_sec as f64),
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let guard = self.activity.request_started();
        let timed_out = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + self.body_timeout;
        let req = req.map(|inner| DeadlineBody {
            inner,
            deadline,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            per_byte: self.per_byte,
            timed_out: timed_out.clone(),
        });
        let mut router = self.router.clone();
        let fut = tower::Service::call(&mut router, req);
        Box::pin(async move {
            let resp = match fut.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let resp = if timed_out.load(Ordering::Acquire) {
                body_timeout_response()
            } else {
                resp
            };
            Ok(resp.map(|inner| {
                Body::new(GuardedBody {
                    inner,
                    guard: Some(guard),
                })
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_success() {
        let mut b = Backoff::default();
        let got: Vec<u64> = (0..10).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(10));
        assert_eq!(b.next_delay(), Duration::from_millis(20));
    }

    #[test]
    fn accept_errors_of_one_connection_are_told_apart_from_resource_errors() {
        assert!(is_connection_error(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        // EMFILE (24), ENFILE (23), ENOBUFS (105), ENOMEM (12) on Linux: back off.
        for code in [24, 23, 105, 12] {
            assert!(!is_connection_error(&io::Error::from_raw_os_error(code)));
        }
    }

    #[test]
    fn rate_limited_log_says_once_per_second_with_the_count() {
        let log = RateLimitedLog::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(log.hit_at(t0), Some(1));
        for i in 1..=500 {
            assert_eq!(log.hit_at(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.hit_at(t0 + Duration::from_millis(1000)), Some(501));
        assert_eq!(log.hit_at(t0 + Duration::from_millis(1001)), None);
    }

    #[test]
    fn trusted_nets_parse_addresses_and_networks_and_match_mapped_addresses() {
        let l = ConnLimits {
            proxy_protocol_from: vec![
                TrustedNet::try_from("10.0.0.5".to_owned()).expect("ip"),
                TrustedNet::try_from("192.168.1.7/24".to_owned()).expect("net"),
            ],
            ..ConnLimits::default()
        };
        assert!(l.is_trusted_proxy("10.0.0.5".parse().expect("ip")));
        assert!(l.is_trusted_proxy("::ffff:10.0.0.5".parse().expect("ip")));
        assert!(!l.is_trusted_proxy("10.0.0.6".parse().expect("ip")));
        assert!(l.is_trusted_proxy("192.168.1.200".parse().expect("ip")));
        let e = TrustedNet::try_from("lb.example".to_owned()).expect_err("not an address");
        assert!(e.contains("lb.example"), "{e}");
    }

    #[test]
    fn connections_section_parses_with_defaults_and_refuses_unknown_keys() {
        let l: ConnLimits = toml::from_str(
            "max_connections_per_peer = 8\nproxy_protocol_from = [\"10.1.0.0/16\"]\n",
        )
        .expect("parse");
        assert_eq!(l.max_connections_per_peer, 8);
        assert_eq!(l.max_connections, 4096);
        assert_eq!(l.idle_timeout_secs, 60);
        assert!(l.is_trusted_proxy("10.1.2.3".parse().expect("ip")));
        assert!(toml::from_str::<ConnLimits>("max_conections = 8\n").is_err());
    }

    #[test]
    fn connections_section_round_trips_through_toml() {
        let l = ConnLimits {
            proxy_protocol_from: vec![
                TrustedNet::try_from("10.0.0.5".to_owned()).expect("ip"),
                TrustedNet::try_from("fd00::/8".to_owned()).expect("net"),
            ],
            ..ConnLimits::default()
        };
        let text = toml::to_string_pretty(&l).expect("toml");
        let back: ConnLimits = toml::from_str(&text).expect("parse back");
        assert_eq!(back.proxy_protocol_from, l.proxy_protocol_from);
        assert_eq!(back.body_timeout_secs, l.body_timeout_secs);
    }

    #[test]
    fn per_peer_counts_ipv6_per_64_and_frees_on_drop() {
        let t = Tracker::new(&ConnLimits {
            max_connections: 3,
            max_connections_per_peer: 2,
            ..ConnLimits::default()
        });
        let a: IpAddr = "2001:db8::1".parse().expect("ip");
        let b: IpAddr = "2001:db8::ffff:2".parse().expect("ip");
        let c: IpAddr = "2001:db8:0:1::1".parse().expect("ip");
        let s1 = t.admit_peer(a).expect("first");
        let _s2 = t.admit_peer(b).expect("second, same /64");
        assert!(t.admit_peer(a).is_none(), "third in the same /64");
        assert!(t.admit_peer(c).is_some(), "another /64");
        drop(s1);
        assert!(t.admit_peer(a).is_some(), "freed");
        let g: Vec<_> = (0..3).map(|_| t.admit().expect("slot")).collect();
        assert!(t.admit().is_none());
        assert_eq!(t.open(), 3);
        drop(g);
        assert_eq!(t.open(), 0);
    }

    #[tokio::test]
    async fn proxy_headers_v1_v2_local_and_garbage() {
        let v2 = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            ppp::v2::IPv4::new([203, 0, 113, 9], [10, 0, 0, 1], 40000, 8443),
        )
        .build()
        .expect("v2");
        let mut input = v2.clone();
        input.extend_from_slice(b"\x16\x03\x01rest");
        let mut r = input.as_slice();
        let got = read_proxy_header(&mut r).await.expect("v2 header");
        assert_eq!(got, Some("203.0.113.9:40000".parse().expect("addr")));
        assert_eq!(r, b"\x16\x03\x01rest", "only the header is read");

        let mut r: &[u8] = b"PROXY TCP6 2001:db8::7 2001:db8::1 5000 8443\r\n\x16\x03";
        let got = read_proxy_header(&mut r).await.expect("v1 header");
        assert_eq!(got, Some("[2001:db8::7]:5000".parse().expect("addr")));
        assert_eq!(r, b"\x16\x03");

        let mut r: &[u8] = b"PROXY UNKNOWN\r\n\x16";
        assert_eq!(read_proxy_header(&mut r).await.expect("unknown"), None);

        let local = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Local,
            ppp::v2::Protocol::Unspecified,
            ppp::v2::Addresses::Unspecified,
        )
        .build()
        .expect("local");
        let mut r = local.as_slice();
        assert_eq!(read_proxy_header(&mut r).await.expect("local"), None);

        let mut r: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdef";
        assert!(matches!(
            read_proxy_header(&mut r).await,
            Err(ProxyError::Missing)
        ));
        let mut r: &[u8] = b"PROXY TCP4 not-an-address 10.0.0.1 1 2\r\n";
        assert!(matches!(
            read_proxy_header(&mut r).await,
            Err(ProxyError::Malformed(_))
        ));
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        let mut r = long.as_bytes();
        assert!(matches!(
            read_proxy_header(&mut r).await,
            Err(ProxyError::Malformed(_))
        ));
    }
}
