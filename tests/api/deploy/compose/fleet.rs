//! The replicas: docker compose commands, scaling, readiness, where the sockets are.

use super::sockets::{cert_path, resuming_socket, SocketLog};
use super::{RECOVERY, STEP};
use crate::helpers::*;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs a blocking `Stack` call off the runtime, so sockets keep reading meanwhile.
pub(super) async fn blocking<T: Send + 'static>(stack: &Arc<Stack>, f: impl FnOnce(&Stack) -> T + Send + 'static) -> T {
    let stack = stack.clone();
    actix_web::rt::task::spawn_blocking(move || f(&stack)).await.expect("blocking task")
}

/// The sockets of every user, each resuming on its own.
pub(super) struct Fleet {
    pub(super) sockets: Vec<(i64, Rc<RefCell<SocketLog>>)>,
    pub(super) tasks: Vec<tokio::task::JoinHandle<()>>,
    pub(super) stop: Rc<Cell<bool>>,
    pub(super) url: String,
    pub(super) tls: native_tls::TlsConnector,
}

impl Fleet {
    pub(super) fn new(https_port: u16) -> Fleet {
        let pem = std::fs::read(cert_path()).expect("deploy/certs/herald.crt");
        let tls = native_tls::TlsConnector::builder()
            .add_root_certificate(native_tls::Certificate::from_pem(&pem).expect("PEM"))
            .build()
            .expect("TLS connector");
        Fleet {
            sockets: Vec::new(),
            tasks: Vec::new(),
            stop: Rc::new(Cell::new(false)),
            url: format!("wss://127.0.0.1:{https_port}/ws/notifications/"),
            tls,
        }
    }

    pub(super) fn open(&mut self, users: impl Iterator<Item = i64>, tabs: usize) {
        for user in users {
            for _ in 0..tabs {
                let log = Rc::new(RefCell::new(SocketLog::default()));
                let seed = self.sockets.len() as u64;
                self.sockets.push((user, log.clone()));
                let task = resuming_socket(
                    self.url.clone(),
                    super::stack_token(user, false),
                    self.tls.clone(),
                    log,
                    self.stop.clone(),
                    seed,
                );
                self.tasks.push(actix_web::rt::spawn(task));
            }
        }
    }

    pub(super) fn connected(&self) -> usize {
        self.sockets.iter().filter(|(_, log)| log.borrow().connected).count()
    }

    pub(super) async fn wait_all_connected(&self, what: &str) -> Duration {
        let started = Instant::now();
        let n = self.sockets.len();
        wait_until(&format!("{what}: all {n} sockets connected"), RECOVERY, async || self.connected() == n).await;
        started.elapsed()
    }

    pub(super) async fn close(self) {
        self.stop.set(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

/// Waits until every running replica is healthy (Docker's healthcheck) and ready (`/readyz`).
pub(super) async fn wait_replicas_ready(stack: &Arc<Stack>, expected: usize, what: &str) -> Duration {
    let started = Instant::now();
    let probe = async || {
        blocking(stack, move |s| {
            let replicas = s.containers("herald");
            if replicas.len() != expected {
                return Err(format!("{} replicas running: {replicas:?}", replicas.len()));
            }
            for replica in &replicas {
                let state = s.state(replica);
                if state != "running healthy" {
                    return Err(format!("{replica}: {state}"));
                }
                match s.inside(replica, "/readyz") {
                    Ok(out) if out.trim_end().ends_with("200") => {}
                    Ok(out) => return Err(format!("{replica} /readyz: {out}")),
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await
    };
    poll_every(Duration::from_millis(250), STEP, probe)
        .await
        .unwrap_or_else(|e| panic!("{what}: replicas not ready: {e}"));
    started.elapsed()
}

/// `docker <args>` off the runtime; fails the test if it fails.
pub(super) async fn docker(stack: &Arc<Stack>, args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    blocking(stack, move |s| s.docker(&args.iter().map(String::as_str).collect::<Vec<_>>(), STEP))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Scales the `herald` service to `replicas` (the others untouched) and waits until all are ready.
pub(super) async fn scale(stack: &Arc<Stack>, replicas: usize) {
    let scale = format!("herald={replicas}");
    blocking(stack, move |s| s.compose(&["up", "-d", "--no-deps", "--no-recreate", "--scale", &scale, "herald"], STEP))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_replicas_ready(stack, replicas, &format!("scaled to {replicas}")).await;
}

/// Each running replica with the sockets open on it.
pub(super) async fn sockets_per_replica(stack: &Arc<Stack>) -> Vec<(String, i64)> {
    blocking(stack, |s| {
        s.containers("herald")
            .into_iter()
            .map(|c| {
                let n = s.open_sockets(&c).unwrap_or_else(|e| panic!("{e}"));
                (c, n)
            })
            .collect()
    })
    .await
}

/// The replica holding the most of this test's sockets.
pub(super) async fn busiest_replica(stack: &Arc<Stack>) -> (String, i64) {
    sockets_per_replica(stack).await.into_iter().max_by_key(|(_, n)| *n).expect("a replica")
}

/// Waits until Prometheus scrapes exactly `replicas` targets of job `herald`, all up.
pub(super) async fn wait_prometheus_targets(client: &awc::Client, port: u16, replicas: usize) -> Duration {
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/api/v1/targets?state=active");
    wait_for(&format!("Prometheus scraping {replicas} replicas"), STEP, async || {
        let (_, body) = request(client, awc::http::Method::GET, &url, None, None).await?;
        let targets = body["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        let herald: Vec<&Value> = targets.iter().filter(|t| t["labels"]["job"] == "herald").collect();
        let up = herald.iter().filter(|t| t["health"] == "up").count();
        if herald.len() == replicas && up == replicas {
            Ok(())
        } else {
            Err(format!("{} herald targets, {up} up: {herald:?}", herald.len()))
        }
    })
    .await;
    started.elapsed()
}
