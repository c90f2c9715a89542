//! The end of a connection, noticed at once: a close handshake the WebSocket client started (the
//! server closes TCP first, RFC 6455 §7.1.1), and an SSE client's hang-up (`PeerHangup`).
//!
//! actix-ws ends the response body right after the Close reply, but the request side of an
//! upgraded connection never ends by itself, so actix-http then lingers (reads and discards) until
//! the client hangs up or its client-disconnect timeout (1 s) passes, while clients, as the RFC
//! asks, wait for the server: 0.7–1 s per close, the socket held meanwhile. `ClosingBody` wraps the
//! socket's response body; when it ends after the session marked the close as the client's
//! (`ClientClosed`), it shuts the connection's read side. The dispatcher then reads the end at
//! once, flushes the Close reply and closes the connection. Closes the server starts keep
//! actix-http's behaviour: the client's reply may still be on its way.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::Extensions;
use actix_web::web::Bytes;
use std::any::Any;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The descriptor of a connection's TCP socket, recorded when it is accepted (`on_connect`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionFd(#[cfg(unix)] std::os::fd::RawFd);

/// `HttpServer::on_connect`: records every plain TCP connection's descriptor in its data.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
            data.insert(ConnectionFd(tcp.as_raw_fd()));
        }
    }
}

/// Set by the session when the client sent Close: its reply is the last frame.
#[derive(Debug, Clone, Default)]
pub struct ClientClosed(Arc<AtomicBool>);

impl ClientClosed {
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The socket's response body (every frame the server writes), ending the connection promptly
/// after a close the client started (see the module).
pub struct ClosingBody {
    inner: BoxBody,
    connection: Option<ConnectionFd>,
    client_closed: ClientClosed,
}

impl ClosingBody {
    pub fn new(inner: BoxBody, connection: Option<ConnectionFd>, client_closed: ClientClosed) -> ClosingBody {
        ClosingBody { inner, connection, client_closed }
    }
}

impl MessageBody for ClosingBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let next = Pin::new(&mut this.inner).poll_next(cx);
        if let (Poll::Ready(None), Some(connection)) = (&next, this.connection) {
            if this.client_closed.is_set() {
                shut_read_side(connection);
            }
        }
        next
    }
}

/// Shuts the read side of the connection: its next read is the end.
#[cfg(unix)]
fn shut_read_side(ConnectionFd(fd): ConnectionFd) {
    // SAFETY: `fd` is the socket of the connection whose dispatcher is polling this body right
    // now (connection data belong to one connection, and a response body is polled only by its
    // own connection's dispatcher), and that dispatcher owns the socket, open, until after it
    // drops the body. The descriptor is only borrowed for this call.
    let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if let Err(err) = socket2::SockRef::from(&socket).shutdown(std::net::Shutdown::Read) {
        // The client already hung up (`ENOTCONN`): nothing left to end.
        log::debug!("closing a socket after the client's close: {err}");
    }
}

#[cfg(not(unix))]
fn shut_read_side(_: ConnectionFd) {}

/// Tells when an SSE client hung up. actix-http does not read a connection while it streams a
/// response, so a client's FIN would stay unseen until a write failed (two heartbeats later, the
/// stream counted against the user's socket cap meanwhile). This watches a duplicate of the
/// connection's socket for the end of its read side (`EPOLLRDHUP`): no cost while idle, nothing
/// read from it.
#[cfg(unix)]
pub struct PeerHangup(tokio::io::unix::AsyncFd<socket2::Socket>);

#[cfg(unix)]
impl PeerHangup {
    /// Watches the connection of the request being handled (`None` where it cannot).
    pub fn watch(req: &actix_web::HttpRequest) -> Option<PeerHangup> {
        let ConnectionFd(fd) = req.conn_data::<ConnectionFd>().copied()?;
        // SAFETY: `fd` is the socket of the connection this request is being handled on; its
        // dispatcher owns it, open, while the handler runs. It is only borrowed to duplicate it:
        // the watch owns its duplicate.
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let duplicate = socket2::SockRef::from(&socket).try_clone().ok()?;
        // SAFETY: `duplicate` owns its descriptor, open until the `AsyncFd` drops it, and always
        // answers `as_raw_fd` with that one.
        let watched =
            unsafe { tokio::io::unix::AsyncFd::register_with_interest(duplicate, tokio::io::Interest::READABLE) };
        watched.ok().map(PeerHangup)
    }

    /// Resolves once the client closed its side of the connection or it failed.
    pub async fn hung_up(&self) {
        loop {
            let Ok(mut ready) = self.0.readable().await else { return };
            let state = ready.ready();
            if state.is_read_closed() || state.is_error() {
                return;
            }
            // Bytes from the client without its end (a pipelined request): left for the
            // dispatcher; the end, when it comes, is a new readiness.
            ready.clear_ready();
        }
    }
}

#[cfg(not(unix))]
pub struct PeerHangup;

#[cfg(not(unix))]
impl PeerHangup {
    pub fn watch(_: &actix_web::HttpRequest) -> Option<PeerHangup> {
        None
    }

    pub async fn hung_up(&self) {
        std::future::pending().await
    }
}
