//! Group commit: concurrent creates without an idempotency key are stored many per statement
//! and transaction by writer threads draining one bounded queue, each writer on a connection of
//! its own (`writer`). On PostgreSQL one statement stores those that fit under the storage cap
//! (`pg`); the rest, and every create on SQLite, go the careful way (`careful`), where one full
//! inbox refuses its own creates only. Batches form by themselves
//! under load, and at moderate rates by waiting up to `wait` (`HERALD_GROUP_COMMIT_WAIT_US`) for
//! company when creates arrive faster than one per `wait`. Each caller gets its own outcome or
//! the batch's error; per user, ids and stream positions keep the order the creates were taken.
//! A full queue makes callers wait, it never drops them. A readiness probe (`probe`) travels the
//! same queue to a writer, which checks its connection (reconnecting if it died), so "ready"
//! means a create would reach the database.
//!
//! Every caller waits at most `Db::bound` from its arrival: then 503 `unavailable`. A batch's
//! transaction ends at its earliest caller's deadline and rolls back rather than commit after
//! it, and a create whose caller gave up while queued is not stored; so a 503 means "not stored"
//! except when the database hung while the COMMIT was on its way (an `Idempotency-Key` makes a
//! retry exact).

mod careful;
mod pg;
mod positions;
mod writer;

use crate::db::error::DbError;
use crate::db::pool::Db;
use crate::domain::{CreateOutcome, NewNotification, StorageCap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout_at;
use writer::WriterConnection;

/// Creates per statement, at most.
pub const MAX_BATCH: usize = 64;
/// Writer threads, each with its own connection (while one commits, the next batch fills).
pub const WRITERS: usize = 1;
const QUEUE: usize = 4096;

/// What a writer takes from the queue.
enum Job {
    Create(Pending),
    /// A readiness probe, answered once the writer's connection answers (see `probe`).
    Probe(Probe),
}

struct Probe {
    reply: oneshot::Sender<Result<(), DbError>>,
    deadline: Instant,
}

struct Pending {
    new: NewNotification,
    arrived: Instant,
    reply: oneshot::Sender<Result<CreateOutcome, DbError>>,
    /// When the caller stops waiting.
    deadline: Instant,
}

#[derive(Clone)]
pub struct CreateBatcher {
    queue: mpsc::Sender<Job>,
    /// The longest a caller waits for its outcome, queueing included.
    answer_within: Duration,
}

impl CreateBatcher {
    /// Starts the writer threads, each with its own connection (opened on first use), waiting
    /// up to `wait` for batches to fill (see the module comment) and keeping each inbox within
    /// `cap`; each batch's size is observed in `batch_sizes`.
    pub fn start(db: Db, wait: Duration, cap: StorageCap, batch_sizes: prometheus::Histogram) -> CreateBatcher {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..WRITERS {
            let (connection, receiver, batch_sizes) =
                (WriterConnection::new(&db), receiver.clone(), batch_sizes.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("herald-writer-{i}"))
                .spawn(move || write_batches(connection, &receiver, (wait, cap), &batch_sizes));
            if let Err(err) = spawned {
                log::error!("could not start group-commit writer {i}: {err}");
            }
        }
        CreateBatcher { queue, answer_within: db.bound() }
    }

    /// Stores `new` with the next batch; 503 `unavailable` when the queue or the database does
    /// not answer within the bound (see the module comment for what that means).
    pub async fn create(&self, new: NewNotification) -> Result<CreateOutcome, DbError> {
        let arrived = Instant::now();
        let deadline = arrived + self.answer_within;
        let (reply, answer) = oneshot::channel();
        timeout_at(deadline.into(), self.queue.send(Job::Create(Pending { new, arrived, reply, deadline })))
            .await
            .map_err(|_| DbError::unavailable("the create queue stayed full: nothing was stored"))?
            .map_err(|_| DbError::unavailable("the writer has stopped"))?;
        timeout_at(deadline.into(), answer)
            .await
            .map_err(|_| DbError::unavailable("no answer from the writer in time: outcome unknown"))?
            .map_err(|_| DbError::Failed { reason: "the writer dropped a create", source: None })?
    }

    /// Readiness of the write path: `Ok` once a writer took this probe from the queue and its
    /// connection answered (a dead one is replaced first); 503 `unavailable` otherwise, within
    /// the same bound as a create.
    pub async fn probe(&self) -> Result<(), DbError> {
        let deadline = Instant::now() + self.answer_within;
        let (reply, answer) = oneshot::channel();
        timeout_at(deadline.into(), self.queue.send(Job::Probe(Probe { reply, deadline })))
            .await
            .map_err(|_| DbError::unavailable("the create queue stayed full"))?
            .map_err(|_| DbError::unavailable("the writer has stopped"))?;
        timeout_at(deadline.into(), answer)
            .await
            .map_err(|_| DbError::unavailable("no answer from the writer in time"))?
            .map_err(|_| DbError::Failed { reason: "the writer dropped a probe", source: None })?
    }
}

/// How quickly the measured arrival rate forgets the past: after a pause this long, or a few
/// times longer, it is the new rate.
const RATE_MEMORY: Duration = Duration::from_millis(50);

/// Creates per second arriving at a writer, from the batches it took: an average weighted by
/// time (`RATE_MEMORY`), so the first create after a pause is not kept waiting for company.
struct ArrivalRate {
    last_batch: Instant,
    per_second: f64,
}

impl ArrivalRate {
    /// Counts `taken` creates, the batch taken now.
    fn count(&mut self, taken: usize, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last_batch).as_secs_f64().max(1e-6);
        let weight = 1.0 - (-elapsed / RATE_MEMORY.as_secs_f64()).exp();
        self.per_second += weight * (taken as f64 / elapsed - self.per_second);
        self.last_batch = now;
    }

    /// Whether another create is expected within `wait`.
    fn expects_more_within(&self, wait: Duration) -> bool {
        self.per_second * wait.as_secs_f64() >= 1.0
    }
}

/// Takes what is queued, up to `MAX_BATCH` creates, into `batch`, and the probes among it
/// into `probes`.
fn drain(receiver: &mut mpsc::Receiver<Job>, batch: &mut Vec<Pending>, probes: &mut Vec<Probe>) {
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(Job::Create(next)) => batch.push(next),
            Ok(Job::Probe(probe)) => probes.push(probe),
            Err(_) => break,
        }
    }
}

/// Waits for the next job, then takes what is queued behind it (waiting up to `wait` for more
/// when creates come fast, see the module comment); false when every sender is gone.
fn take(
    receiver: &Mutex<mpsc::Receiver<Job>>,
    (batch, probes): (&mut Vec<Pending>, &mut Vec<Probe>),
    rate: &mut ArrivalRate,
    wait: Duration,
) -> bool {
    let mut receiver = receiver.lock().unwrap_or_else(|e| e.into_inner());
    let fill_until = match receiver.blocking_recv() {
        None => return false,
        Some(Job::Create(first)) => {
            let fill_until = first.arrived + wait;
            batch.push(first);
            fill_until
        }
        Some(Job::Probe(probe)) => {
            probes.push(probe);
            Instant::now()
        }
    };
    drain(&mut receiver, batch, probes);
    // Only a lone create waits: a queue that already holds more means the writer is the
    // bottleneck, and its batches form by themselves.
    if batch.len() == 1 && rate.expects_more_within(wait) {
        std::thread::sleep(fill_until.saturating_duration_since(Instant::now()));
        drain(&mut receiver, batch, probes);
    }
    if !batch.is_empty() {
        rate.count(batch.len(), Instant::now());
    }
    true
}

/// Answers the probes still waiting, after one check of the connection (which replaces a dead one).
fn answer_probes(connection: &mut WriterConnection, probes: &mut Vec<Probe>) {
    probes.retain(|probe| !probe.reply.is_closed());
    let Some(deadline) = probes.iter().map(|probe| probe.deadline).min() else { return };
    let checked = connection.check(deadline);
    for probe in probes.drain(..) {
        let _ = probe.reply.send(checked.clone());
    }
}

/// A writer thread: takes what is queued (up to `MAX_BATCH`; see `take`), writes it, answers,
/// answers the readiness probes taken with it, repeats; returns when every sender is gone.
fn write_batches(
    mut connection: WriterConnection,
    receiver: &Mutex<mpsc::Receiver<Job>>,
    (wait, cap): (Duration, StorageCap),
    batch_sizes: &prometheus::Histogram,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut probes = Vec::new();
    let mut news = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    let mut rate = ArrivalRate { last_batch: Instant::now(), per_second: 0.0 };
    while take(receiver, (&mut batch, &mut probes), &mut rate, wait) {
        // Callers who gave up (503) while queued are not stored behind their backs.
        let mut deadline = None::<Instant>;
        for pending in batch.drain(..) {
            if pending.reply.is_closed() {
                continue;
            }
            deadline = Some(deadline.map_or(pending.deadline, |d: Instant| d.min(pending.deadline)));
            news.push(pending.new);
            replies.push(pending.reply);
        }
        if let Some(deadline) = deadline {
            batch_sizes.observe(news.len() as f64);
            match connection.create_many(deadline, cap, &news) {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.drain(..).zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(err) => {
                    for reply in replies.drain(..) {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
            news.clear();
        }
        answer_probes(&mut connection, &mut probes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rate after `batches` batches of `size` creates taken every `every`.
    fn rate_after(batches: u32, size: usize, every: Duration) -> ArrivalRate {
        let start = Instant::now();
        let mut rate = ArrivalRate { last_batch: start, per_second: 0.0 };
        for i in 1..=batches {
            rate.count(size, start + every * i);
        }
        rate
    }

    #[test]
    fn a_writer_waits_for_a_batch_only_when_creates_come_faster_than_one_per_wait() {
        let wait = Duration::from_millis(2);
        let slow = rate_after(50, 1, Duration::from_millis(10));
        assert!((slow.per_second - 100.0).abs() < 1.0, "{}", slow.per_second);
        assert!(!slow.expects_more_within(wait), "100/s: written at once");
        let fast = rate_after(200, 3, Duration::from_millis(3));
        assert!((fast.per_second - 1000.0).abs() < 10.0, "{}", fast.per_second);
        assert!(fast.expects_more_within(wait), "1,000/s: waits for a batch");
        assert!(!fast.expects_more_within(Duration::ZERO), "a wait of 0 never waits");
    }

    #[test]
    fn the_first_create_after_a_pause_is_written_at_once() {
        let wait = Duration::from_millis(2);
        let mut rate = rate_after(200, 3, Duration::from_millis(3));
        rate.count(1, rate.last_batch + Duration::from_millis(500));
        assert!(!rate.expects_more_within(wait), "{}", rate.per_second);
    }
}
