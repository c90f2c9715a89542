//! Sockets through nginx that resume with `since`, and what each must have received.

use super::creators::Creators;
use super::fleet::Fleet;
use super::RECOVERY;
use crate::helpers::*;
use futures_util::StreamExt;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

pub(super) fn cert_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/certs/herald.crt")
}

/// An HTTPS client that trusts the dev certificate.
pub(super) fn https_client() -> awc::Client {
    let mut tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).expect("openssl");
    tls.set_ca_file(cert_path()).expect("the dev certificate");
    awc::Client::builder()
        .connector(awc::Connector::new().openssl(tls.build()).timeout(Duration::from_secs(5)))
        .timeout(Duration::from_secs(10))
        .finish()
}

/// What one resuming socket saw: every pushed or replayed notification id with its arrival,
/// how often it connected, how it was closed, how long it was down at most.
#[derive(Default)]
pub(super) struct SocketLog {
    pub(super) ids: Vec<(i64, Instant)>,
    pub(super) connected: bool,
    pub(super) connects: u32,
    pub(super) closes: BTreeMap<u16, u32>,
    pub(super) down_since: Option<Instant>,
    pub(super) longest_down: Duration,
    pub(super) unexpected: Vec<String>,
}

impl SocketLog {
    pub(super) fn last_id(&self) -> i64 {
        self.ids.last().map_or(0, |(id, _)| *id)
    }

    pub(super) fn went_down(&mut self, code: u16) {
        if self.connected {
            self.connected = false;
            self.down_since = Some(Instant::now());
            *self.closes.entry(code).or_default() += 1;
        }
    }

    pub(super) fn came_up(&mut self) {
        self.connected = true;
        self.connects += 1;
        if let Some(since) = self.down_since.take() {
            self.longest_down = self.longest_down.max(since.elapsed());
        }
    }
}

/// A browser tab: connects through nginx over wss, and whenever the socket ends, reconnects with
/// `since` = the last id it saw (backoff 100 ms doubling to 2 s, with jitter), until `stop`.
pub(super) async fn resuming_socket(
    url: String,
    token: String,
    tls: native_tls::TlsConnector,
    log: Rc<RefCell<SocketLog>>,
    stop: Rc<Cell<bool>>,
    seed: u64,
) {
    let mut attempt: u32 = 0;
    while !stop.get() {
        let since = log.borrow().last_id();
        let request = format!("{url}?token={token}&since={since}").into_client_request().expect("ws request");
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            false,
            Some(Connector::NativeTls(tls.clone())),
        );
        if let Ok(Ok((mut ws, _))) = tokio::time::timeout(Duration::from_secs(5), connecting).await {
            attempt = 0;
            log.borrow_mut().came_up();
            let code = loop {
                if stop.get() {
                    let _ = ws.close(None).await;
                    return;
                }
                let message = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                    Err(_) => continue,
                    Ok(None) | Ok(Some(Err(_))) => break 1006,
                    Ok(Some(Ok(message))) => message,
                };
                match message {
                    Message::Text(text) => {
                        let frame: Value = serde_json::from_str(text.as_str()).expect("frames are JSON");
                        let mut log = log.borrow_mut();
                        match frame["type"].as_str() {
                            Some("notification") => log.ids.push((id_of(&frame["notification"]), Instant::now())),
                            Some("connection_established" | "sync_complete" | "unread_count" | "resync") => {}
                            _ => log.unexpected.push(frame.to_string()),
                        }
                    }
                    Message::Close(frame) => break frame.map_or(1005, |f| u16::from(f.code)),
                    _ => {}
                }
            };
            log.borrow_mut().went_down(code);
        } else {
            log.borrow_mut().went_down(1006);
        }
        attempt = attempt.saturating_add(1);
        let backoff = Duration::from_millis((100u64 << attempt.min(5)).min(2000));
        let jitter = Duration::from_millis((seed.wrapping_mul(7919).wrapping_add(u64::from(attempt) * 104_729)) % 150);
        actix_web::rt::time::sleep(backoff + jitter).await;
    }
}

pub(super) fn all_closes(fleet: &Fleet) -> BTreeMap<u16, u32> {
    let mut all = BTreeMap::new();
    for (_, log) in &fleet.sockets {
        for (code, n) in &log.borrow().closes {
            *all.entry(*code).or_default() += n;
        }
    }
    all
}

/// Waits until every socket holds as many notifications as were created for its user; returns
/// when that was first seen.
pub(super) async fn wait_delivered(name: &str, fleet: &Fleet, creators: &Creators) -> Instant {
    let behind = || {
        let c = creators.created.borrow();
        fleet
            .sockets
            .iter()
            .filter(|(user, log)| log.borrow().ids.len() < c.by_user.get(user).map_or(0, Vec::len))
            .count()
    };
    let done = poll_every(Duration::from_millis(50), RECOVERY, async || match behind() {
        0 => Ok(Instant::now()),
        n => Err(n),
    })
    .await;
    done.unwrap_or_else(|n| {
        assert_every_socket_exactly_once_in_order(name, fleet, creators);
        panic!("{name}: {n} sockets still short of their notifications after {RECOVERY:?}")
    })
}

pub(super) fn assert_every_socket_exactly_once_in_order(name: &str, fleet: &Fleet, creators: &Creators) {
    let c = creators.created.borrow();
    let mut problems = Vec::new();
    for (n, (user, log)) in fleet.sockets.iter().enumerate() {
        let log = log.borrow();
        let got: Vec<i64> = log.ids.iter().map(|(id, _)| *id).collect();
        let mut expected = c.by_user.get(user).cloned().unwrap_or_default();
        expected.sort_unstable();
        if let Some(problem) = stream_problems(&got, &expected) {
            problems.push(format!("socket {n} (user {user}): {problem}"));
        }
        if !log.unexpected.is_empty() {
            problems.push(format!("socket {n} (user {user}): unexpected frames {:?}", log.unexpected));
        }
    }
    assert!(
        problems.is_empty(),
        "{name}: {} sockets wrong:\n{}",
        problems.len(),
        problems.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}
