//! The load writer of the drills: creates at a steady rate on its own thread and runtime (so the
//! nodes under test do not share its scheduling), round-robin over users, each user's creates
//! alternating over the nodes, every outcome kept in send order.

use super::{blocking, id_of, request, token, WAIT};
use awc::http::{Method, StatusCode};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One acknowledged create.
pub struct Created {
    pub user: i64,
    pub id: i64,
    /// When its POST was sent, and when its 201 came back.
    pub sent: Instant,
    pub acked: Instant,
}

/// What a writer sends: one create every `every`, at most `in_flight` unanswered, until stopped
/// or, with `stop_after`, until that long after its start.
pub struct Load {
    pub bases: Vec<String>,
    pub users: Vec<i64>,
    pub every: Duration,
    pub in_flight: usize,
    pub stop_after: Option<Duration>,
}

pub struct LoadWriter {
    stop: Arc<AtomicBool>,
    newest: Arc<AtomicI64>,
    thread: std::thread::JoinHandle<Vec<Result<Created, String>>>,
}

impl LoadWriter {
    pub fn start(load: Load) -> LoadWriter {
        let stop = Arc::new(AtomicBool::new(false));
        let newest = Arc::new(AtomicI64::new(0));
        let (stopped, acknowledged) = (stop.clone(), newest.clone());
        let thread =
            std::thread::spawn(move || actix_web::rt::System::new().block_on(write(load, stopped, acknowledged)));
        LoadWriter { stop, newest, thread }
    }

    /// The id of the latest acknowledged create (0 before the first).
    pub fn newest(&self) -> i64 {
        self.newest.load(Ordering::SeqCst)
    }

    /// Stops it and returns every outcome once all creates in flight were answered.
    pub async fn finish(self) -> Vec<Result<Created, String>> {
        self.stop.store(true, Ordering::SeqCst);
        self.join().await
    }

    /// Waits until it stopped by itself (`stop_after`) and returns every outcome.
    pub async fn join(self) -> Vec<Result<Created, String>> {
        let thread = self.thread;
        blocking(move || thread.join()).await.unwrap_or_else(|_| panic!("the writer thread panicked"))
    }
}

async fn write(load: Load, stopped: Arc<AtomicBool>, newest: Arc<AtomicI64>) -> Vec<Result<Created, String>> {
    let client = awc::Client::builder().timeout(WAIT).finish();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(load.in_flight));
    let mut tick = tokio::time::interval(load.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (started, users, bases) = (Instant::now(), &load.users, &load.bases);
    let mut tasks = Vec::new();
    let mut n = 0usize;
    while !stopped.load(Ordering::SeqCst) && load.stop_after.is_none_or(|limit| started.elapsed() < limit) {
        tick.tick().await;
        let permit = in_flight.clone().acquire_owned().await.expect("semaphore stays open");
        let user = users[n % users.len()];
        let base = bases[(n % users.len() + n / users.len()) % bases.len()].clone();
        let (client, newest) = (client.clone(), newest.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let sent = Instant::now();
            let url = format!("{base}/auth/notifications/create/");
            let body = json!({ "title": format!("load #{n}") });
            let outcome = request(&client, Method::POST, &url, Some(&token(user)), Some(body)).await;
            drop(permit);
            match outcome {
                Ok((status, body)) if status == StatusCode::CREATED => {
                    let id = id_of(&body["notification"]);
                    newest.fetch_max(id, Ordering::SeqCst);
                    Ok(Created { user, id, sent, acked: Instant::now() })
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
}

/// Each user's acknowledged ids, in increasing order: what every socket of the user must get.
pub fn expected_ids(created: &[&Created]) -> HashMap<i64, Vec<i64>> {
    let mut expected: HashMap<i64, Vec<i64>> = HashMap::new();
    for c in created {
        expected.entry(c.user).or_default().push(c.id);
    }
    for ids in expected.values_mut() {
        ids.sort_unstable();
    }
    expected
}
