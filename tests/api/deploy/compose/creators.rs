//! Creates through nginx at a steady rate, retried with their Idempotency-Key until stored.

use super::sockets::https_client;
use super::STEP;
use crate::helpers::*;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Creates per second through nginx while drills run, by this many concurrent creators.
const CREATES_PER_SECOND: u64 = 40;

const CREATORS: u64 = 4;

/// The staff identity that creates for everyone.
const CREATOR_ID: i64 = 1_000_000;

/// What the creators made: ids per user and when each create was answered, failed attempts
/// (retried with the same Idempotency-Key until 201), the longest time without a success.
#[derive(Default)]
pub(super) struct Created {
    pub(super) by_user: BTreeMap<i64, Vec<i64>>,
    pub(super) answered_at: HashMap<i64, Instant>,
    pub(super) failed_attempts: u64,
    pub(super) failures: BTreeMap<String, u64>,
    pub(super) last_success: Option<Instant>,
    pub(super) longest_gap: Duration,
    pub(super) in_flight: usize,
}

impl Created {
    fn stored(&mut self, user: i64, id: i64) {
        let now = Instant::now();
        self.in_flight -= 1;
        self.by_user.entry(user).or_default().push(id);
        self.answered_at.insert(id, now);
        if let Some(last) = self.last_success.replace(now) {
            self.longest_gap = self.longest_gap.max(now - last);
        }
    }
}

pub(super) struct Creators {
    pub(super) created: Rc<RefCell<Created>>,
    pub(super) users: Rc<RefCell<Vec<i64>>>,
    pub(super) paused: Rc<Cell<bool>>,
    pub(super) stop: Rc<Cell<bool>>,
    pub(super) tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Creators {
    /// `CREATORS` tasks creating `CREATES_PER_SECOND` in all, round-robin over `users`.
    pub(super) fn start(https_port: u16, users: Vec<i64>) -> Creators {
        let created = Rc::new(RefCell::new(Created::default()));
        let users = Rc::new(RefCell::new(users));
        let (paused, stop) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
        let sequence = Rc::new(Cell::new(0u64));
        let run = std::process::id();
        let tasks = (0..CREATORS)
            .map(|_| {
                let (created, users, paused, stop, sequence) =
                    (created.clone(), users.clone(), paused.clone(), stop.clone(), sequence.clone());
                actix_web::rt::spawn(async move {
                    let client = https_client();
                    let url = format!("https://127.0.0.1:{https_port}/auth/notifications/create/");
                    let staff = super::stack_token(CREATOR_ID, true);
                    let pace = Duration::from_millis(1000 * CREATORS / CREATES_PER_SECOND);
                    while !stop.get() {
                        if paused.get() {
                            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                        let n = sequence.get();
                        sequence.set(n + 1);
                        let user = {
                            let users = users.borrow();
                            users[(n % users.len() as u64) as usize]
                        };
                        created.borrow_mut().in_flight += 1;
                        let id =
                            create_until_stored(&client, &url, &staff, user, &format!("e2e-{run}-{n}"), &created).await;
                        created.borrow_mut().stored(user, id);
                        actix_web::rt::time::sleep(pace).await;
                    }
                })
            })
            .collect();
        Creators { created, users, paused, stop, tasks }
    }

    /// Pauses new creates and waits until none is in flight.
    pub(super) async fn pause(&self) {
        self.paused.set(true);
        wait_until("creates in flight finished", STEP, async || self.created.borrow().in_flight == 0).await;
    }

    pub(super) fn resume(&self) {
        self.created.borrow_mut().last_success = Some(Instant::now());
        self.paused.set(false);
    }

    pub(super) async fn close(self) {
        self.pause().await;
        self.stop.set(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

/// POSTs one create through nginx, retrying with the same Idempotency-Key (so a create whose
/// answer was lost is not made twice) until it is answered 201; returns its id.
async fn create_until_stored(
    client: &awc::Client,
    url: &str,
    staff: &str,
    user: i64,
    key: &str,
    created: &RefCell<Created>,
) -> i64 {
    let body = json!({ "user_id": user, "title": key, "message": "drill", "type": "general" });
    let deadline = Instant::now() + STEP;
    loop {
        let outcome =
            match client.post(url).bearer_auth(staff).insert_header(("Idempotency-Key", key)).send_json(&body).await {
                Ok(mut res) => {
                    let status = res.status().as_u16();
                    let bytes = res.body().limit(1 << 20).await.unwrap_or_default();
                    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if status == 201 {
                        return id_of(&value["notification"]);
                    }
                    assert!(matches!(status, 429 | 500..=599), "create {key}: {status} {value}");
                    format!("{status} {}", value["error"]["code"].as_str().unwrap_or(""))
                }
                Err(e) => format!("transport: {}", e.to_string().split(':').next().unwrap_or("")),
            };
        {
            let mut c = created.borrow_mut();
            c.failed_attempts += 1;
            *c.failures.entry(outcome.clone()).or_default() += 1;
        }
        assert!(Instant::now() < deadline, "create {key} never stored within {STEP:?}; last: {outcome}");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}
