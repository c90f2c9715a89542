//! The end of a close handshake the client started: the server closes TCP first (RFC 6455
//! §7.1.1), at once.
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
