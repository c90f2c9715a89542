//! `BenchError`: every way a bench run fails, with the lower layer's error as its source.

use std::error::Error;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("user id")]
    UserId,
    #[error(transparent)]
    Token(Box<dyn Error + Send + Sync>),
    #[error(transparent)]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("{path}: {source}")]
    Proc { path: String, source: std::io::Error },
    #[error("{0}")]
    ProcFormat(&'static str),
    #[error(transparent)]
    Handshake(#[from] awc::error::WsClientError),
    #[error(transparent)]
    Request(#[from] awc::error::SendRequestError),
    #[error(transparent)]
    Payload(#[from] awc::error::JsonPayloadError),
    #[error("greeting: {0}")]
    Greeting(#[source] serde_json::Error),
    #[error(transparent)]
    Frame(#[from] serde_json::Error),
    /// The node answered a socket with something else than the protocol's next frame.
    #[error("{0}")]
    Protocol(String),
    #[error("{failed} of {total} sockets did not open")]
    NotOpened { failed: usize, total: usize },
    #[error("could not SIGKILL {0}")]
    Kill(u32),
    #[error("create: {0}")]
    Create(awc::http::StatusCode),
    #[error(transparent)]
    Url(#[from] url::ParseError),
    #[error("connect {host}: {source}")]
    Connect { host: String, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("cannot start a client process: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("no child stdout")]
    ChildStdout,
    #[error(transparent)]
    Join(#[from] actix_web::rt::task::JoinError),
    #[error("a client process reported {0:?}")]
    ChildReport(String),
}
