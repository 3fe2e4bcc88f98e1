//! Serving HTTP/1.1 connections so that slow or idle clients cannot starve everyone else.
//!
//! - A request whose headers have begun to arrive must finish them within
//!   `header_timeout`; a connection with no request in flight is closed after
//!   `idle_timeout`. A sweeper checks every connection a few times per timeout.
//! - At most `max_connections` are open (kept below the open-file limit). At the cap, a new
//!   connection is still accepted and the connection idle the longest (no request in
//!   flight: a half-sent request or a kept-alive socket) is closed for it, as nginx drains
//!   idle keep-alive connections; only when every connection is busy does accepting wait.
//!   So the listener always serves, and holding sockets open gains an attacker nothing.
//!
//! Request bodies are bounded in time by the router (`RequestBodyTimeoutLayer`).

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// The limits connections are served under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the first byte of a request to the end of its headers.
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
    /// How many connections may be open at once.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// The cap for an open-file limit: half of what is left after a reserve for the
    /// database, logs and the like, since each chat stream holds an upstream socket too.
    pub fn max_connections_for(open_files: Option<u64>) -> usize {
        match open_files {
            Some(limit) => usize::try_from(limit.saturating_sub(64) / 2)
                .unwrap_or(usize::MAX)
                .max(16),
            None => 10_000,
        }
    }
}

/// Milliseconds since the process started serving: the connections' clock.
fn now_ms() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What the sweeper and the accept loop know of one connection.
#[derive(Debug)]
struct Conn {
    /// Requests whose response is not yet fully sent.
    in_flight: AtomicU32,
    /// Since when no request has been in flight (accept, or the last response's end).
    idle_since: AtomicU64,
    /// When bytes of the next request began to arrive (0: none yet).
    request_started: AtomicU64,
    /// Cancelled to close the connection now.
    close: CancellationToken,
}

impl Conn {
    fn new() -> Self {
        Self {
            in_flight: AtomicU32::new(0),
            idle_since: AtomicU64::new(now_ms()),
            request_started: AtomicU64::new(0),
            close: CancellationToken::new(),
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Whether a limit says this connection must go at `now`.
    fn expired(&self, limits: &ConnectionLimits, now: u64) -> bool {
        if !self.is_idle() {
            return false;
        }
        let started = self.request_started.load(Ordering::Acquire);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if started != 0 {
            now.saturating_sub(started) >= ms(limits.header_timeout)
        } else {
            now.saturating_sub(self.idle_since.load(Ordering::Acquire)) >= ms(limits.idle_timeout)
        }
    }
}

/// Marks a request in flight until its response body is dropped (fully sent or abandoned).
struct InFlight(Arc<Conn>);

impl InFlight {
    fn begin(conn: &Arc<Conn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        conn.request_started.store(0, Ordering::Release);
        Self(conn.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight while it is being sent.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, noting when the bytes of a new request begin to arrive.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before && self.conn.is_idle() {
            let _ = self.conn.request_started.compare_exchange(
                0,
                now_ms().max(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The open connections.
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Signalled whenever a connection closes.
    closed: Notify,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether one more connection fits under `cap`. At the cap, the connection idle the
    /// longest is told to close, and there is room only once it has: until its task drops
    /// it, its socket still holds a file descriptor, so counting it as gone would let a
    /// burst of new connections (each closing one more) run past the open-file limit.
    fn make_room(&self, cap: usize) -> bool {
        let open = self.lock();
        if open.len() < cap {
            return true;
        }
        if open.values().any(|c| c.close.is_cancelled()) {
            // One is closing already: wait for it.
            return false;
        }
        let victim = open.values().filter(|c| c.is_idle()).min_by_key(|c| {
            let started = c.request_started.load(Ordering::Acquire);
            // A half-sent request has been idle since its first byte at the latest.
            if started != 0 {
                started.min(c.idle_since.load(Ordering::Acquire))
            } else {
                c.idle_since.load(Ordering::Acquire)
            }
        });
        if let Some(conn) = victim {
            conn.close.cancel();
        }
        false
    }
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets requests in flight
/// finish (for at most `drain`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
    drain: Duration,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::default());
    let tasks = tokio_util::task::TaskTracker::new();
    let sweeper = tokio::spawn(sweep(registry.clone(), limits, stop.clone()));
    let mut accept_errors = 0u32;
    loop {
        // Room first, so the cap holds; at the cap an idle connection gives way, and the new
        // one waits until it has closed.
        while !registry.make_room(limits.max_connections) {
            // A close between the check and the wait would be missed: look again soon.
            tokio::select! {
                () = registry.closed.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                () = stop.cancelled() => break,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                accept_errors = 0;
                accepted
            }
            Err(e) => {
                // Out of file descriptors or the like: say so once per run of errors, and
                // give closing connections a moment instead of spinning.
                if accept_errors == 0 {
                    tracing::error!(error = %e, "accept failed");
                }
                accept_errors = accept_errors.saturating_add(1);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(Conn::new());
        let id = registry.next_id.fetch_add(1, Ordering::Relaxed);
        registry.lock().insert(id, conn.clone());
        let router = router.clone();
        let registry = registry.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            serve_connection(stream, peer, conn, router, stop).await;
            registry.lock().remove(&id);
            registry.closed.notify_waiters();
        });
    }
    sweeper.abort();
    tasks.close();
    if tokio::time::timeout(drain, tasks.wait()).await.is_err() {
        tracing::warn!(
            open = registry.lock().len(),
            "connections still busy after {drain:?}: closing them"
        );
        for conn in registry.lock().values() {
            conn.close.cancel();
        }
        tasks.wait().await;
    }
    Ok(())
}

/// Closes the connections a limit says must go, a few times per timeout.
async fn sweep(registry: Arc<Registry>, limits: ConnectionLimits, stop: CancellationToken) {
    let every = (limits.header_timeout.min(limits.idle_timeout) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.is_cancelled() {
        ticks.tick().await;
        let now = now_ms();
        for conn in registry.lock().values() {
            if conn.expired(&limits, now) {
                conn.close.cancel();
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: Arc<Conn>,
    router: Router,
    stop: CancellationToken,
) {
    let io = hyper_util::rt::TokioIo::new(Watched {
        stream,
        conn: conn.clone(),
    });
    let tracked = conn.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let in_flight = InFlight::begin(&tracked);
        // The peer address feeds the login limits (`http::auth::ClientAddr`).
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = router
                .oneshot(request.map(Body::new))
                .await
                .unwrap_or_else(|never| match never {});
            Ok::<_, std::convert::Infallible>(response.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        // The sweeper times headers out (hyper's own timer would also cut kept-alive
        // connections at the header timeout).
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = conn.close.cancelled() => return,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                result = connection.as_mut() => result,
                () = conn.close.cancelled() => return,
            }
        }
    };
    if let Err(e) = result
        && !e.is_incomplete_message()
    {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 2,
        }
    }

    #[test]
    fn the_cap_stays_below_the_file_limit() {
        assert_eq!(ConnectionLimits::max_connections_for(Some(1024)), 480);
        assert_eq!(ConnectionLimits::max_connections_for(Some(100)), 18);
        assert_eq!(ConnectionLimits::max_connections_for(Some(64)), 16);
        assert!(ConnectionLimits::max_connections_for(Some(1 << 20)) < 1 << 20);
    }

    #[test]
    fn half_sent_and_idle_connections_expire_busy_ones_never() {
        let conn = Conn::new();
        let t = conn.idle_since.load(Ordering::Acquire);
        assert!(!conn.expired(&limits(), t + 59_999));
        assert!(conn.expired(&limits(), t + 60_000));
        conn.request_started.store(t + 1, Ordering::Release);
        assert!(!conn.expired(&limits(), t + 10_000));
        assert!(conn.expired(&limits(), t + 10_001));
        let conn = Arc::new(conn);
        let busy = InFlight::begin(&conn);
        assert!(!conn.expired(&limits(), t + 1_000_000));
        drop(busy);
        assert!(conn.is_idle());
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_gives_way_and_busy_ones_stay() {
        let registry = Registry::default();
        let old = Arc::new(Conn::new());
        old.idle_since.store(1, Ordering::Release);
        let busy = Arc::new(Conn::new());
        let _in_flight = InFlight::begin(&busy);
        registry.lock().insert(1, old.clone());
        registry.lock().insert(2, busy.clone());
        assert!(
            !registry.make_room(2),
            "no room until the idle one has closed"
        );
        assert!(old.close.is_cancelled() && !busy.close.is_cancelled());
        let other = Arc::new(Conn::new());
        registry.lock().insert(4, other.clone());
        assert!(!registry.make_room(2));
        assert!(!other.close.is_cancelled(), "one closes at a time");
        registry.lock().remove(&4);
        // Its task dropped it: now there is room.
        registry.lock().remove(&1);
        assert!(registry.make_room(2));
        registry.lock().insert(3, busy.clone());
        assert!(!registry.make_room(2), "every connection is busy: wait");
        assert!(!busy.close.is_cancelled());
    }
}
