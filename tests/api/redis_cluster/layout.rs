//! Users, sockets and the load writer of the drills.

use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::json;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CREATE: &str = "/auth/notifications/create/";

/// One create every this (at most `IN_FLIGHT` unanswered), round-robin over users and nodes.
const LOAD_EVERY: Duration = Duration::from_millis(10);

const IN_FLIGHT: usize = 32;

/// 40 users: partitions 1..=36 have one each; 129 and 257 share partition 1 with user 1, 130
/// partition 2 with user 2 (one slot carries several users' channels); 1000 is partition 104.
pub(super) fn users() -> Vec<i64> {
    (1..=36).chain([129, 130, 257, 1000]).collect()
}

/// The master serving each user's shard channel (its slot from `CLUSTER KEYSLOT`).
async fn masters_of(redis: &Arc<RedisCluster>, users: &[i64]) -> HashMap<i64, u16> {
    let (redis, users) = (redis.clone(), users.to_vec());
    blocking(move || users.iter().map(|u| (*u, redis.master_of_slot(redis.slot_of(&shard_channel(*u))))).collect())
        .await
}

/// Asserts the users' channels are spread over every master.
pub(super) async fn assert_spread_over_masters(redis: &Arc<RedisCluster>, users: &[i64]) -> HashMap<i64, u16> {
    let owners = masters_of(redis, users).await;
    let masters = blocking({
        let redis = redis.clone();
        move || redis.masters()
    })
    .await;
    let used: BTreeSet<u16> = owners.values().copied().collect();
    assert_eq!(used, masters.iter().copied().collect(), "the users' channels land on every master: {owners:?}");
    owners
}

/// The nodes (indexes) a user's drill sockets are on, one entry per socket: the user's own node
/// (`user % 2`); every third user one on the other node too; every fifth a second socket on its
/// own node (one subscription serves both).
pub(super) fn drill_layout(user: i64) -> Vec<usize> {
    let own = (user % 2) as usize;
    let mut nodes = vec![own];
    if user % 3 == 0 {
        nodes.push(1 - own);
    }
    if user % 5 == 0 {
        nodes.push(own);
    }
    nodes
}

/// Distinct nodes among a layout's sockets: the subscribers the user's channel should have.
pub(super) fn distinct_nodes(layout: &[usize]) -> i64 {
    layout.iter().collect::<HashSet<_>>().len() as i64
}

pub(super) struct Socket {
    pub(super) user: i64,
    pub(super) node: usize,
    pub(super) seen: Rc<RefCell<Seen>>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Socket {
    pub(super) fn ids(&self) -> Vec<i64> {
        self.seen.borrow().ids.iter().map(|(id, _)| *id).collect()
    }

    pub(super) fn arrival(&self, id: i64) -> Option<Instant> {
        self.seen.borrow().ids.iter().find(|(seen, _)| *seen == id).map(|(_, at)| *at)
    }
}

/// Opens a socket and reads it in the background (`record`).
pub(super) async fn open_recorded(node: &TestApp, index: usize, user: i64) -> Socket {
    let (ws, _) = WsClient::open(node, &token(user)).await;
    let (seen, task) = record(ws);
    Socket { user, node: index, seen, task }
}

/// One acknowledged create of the load writer.
pub(super) struct Created {
    pub(super) user: i64,
    pub(super) id: i64,
    /// When its POST was sent, and when its 201 came back.
    pub(super) sent: Instant,
    pub(super) acked: Instant,
}

/// A writer on its own thread and runtime: one create every `LOAD_EVERY` (at most `IN_FLIGHT`
/// in flight) until stopped, round-robin over `users`, each user's creates alternating over the
/// nodes. Returns every outcome, in send order.
pub(super) struct Writer {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: std::thread::JoinHandle<Vec<Result<Created, String>>>,
}

impl Writer {
    pub(super) fn start(bases: Vec<String>, users: Vec<i64>) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let client = awc::Client::builder().timeout(WAIT).finish();
                let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
                let mut tick = tokio::time::interval(LOAD_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut tasks = Vec::new();
                let mut n = 0usize;
                while !stopped.load(Ordering::SeqCst) {
                    tick.tick().await;
                    let permit = in_flight.clone().acquire_owned().await.expect("semaphore stays open");
                    let user = users[n % users.len()];
                    let base = bases[(n % users.len() + n / users.len()) % bases.len()].clone();
                    let client = client.clone();
                    tasks.push(actix_web::rt::spawn(async move {
                        let sent = Instant::now();
                        let url = format!("{base}{CREATE}");
                        let body = json!({ "title": format!("load #{n}") });
                        let outcome =
                            request(&client, awc::http::Method::POST, &url, Some(&token(user)), Some(body)).await;
                        drop(permit);
                        match outcome {
                            Ok((status, body)) if status == StatusCode::CREATED => {
                                Ok(Created { user, id: id_of(&body["notification"]), sent, acked: Instant::now() })
                            }
                            Ok((status, body)) => Err(format!("create #{n} on {base}: {status} {body}")),
                            Err(err) => Err(format!("create #{n}: {err}")),
                        }
                    }));
                    n += 1;
                }
                let mut outcomes = Vec::with_capacity(tasks.len());
                for task in tasks {
                    outcomes.push(task.await.unwrap_or_else(|e| Err(format!("create task failed: {e}"))));
                }
                outcomes
            })
        });
        Writer { stop, thread }
    }

    /// Stops it and returns every outcome once all creates in flight were answered.
    pub(super) async fn finish(self) -> Vec<Result<Created, String>> {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread;
        blocking(move || thread.join()).await.unwrap_or_else(|_| panic!("the writer thread panicked"))
    }
}
