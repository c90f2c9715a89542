//! Redis killed and restarted under load loses nothing and doubles nothing.

use super::{kill_redis, restart_redis, SETTLE};
use crate::helpers::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

const LOAD_USERS: i64 = 4;

const LOAD_EVERY: Duration = Duration::from_millis(5);

const LOAD_FOR: Duration = Duration::from_secs(6);

const KILL_AFTER: Duration = Duration::from_secs(2);

const OUTAGE: Duration = Duration::from_millis(1500);

const RESUME_BOUND: Duration = Duration::from_secs(2);

#[actix_web::test]
async fn redis_killed_and_restarted_under_load_loses_nothing() {
    let (_db, redis, nodes) = cluster(2, &[]).await;
    let mut sockets: Vec<Socket> = Vec::new();
    for user in 1..=LOAD_USERS {
        for (name, node) in ["A", "B"].into_iter().zip(&nodes) {
            let (ws, _) = WsClient::open(node, &token(user)).await;
            let (seen, task) = record(ws);
            sockets.push((user, name, seen, task));
        }
    }
    for user in 1..=LOAD_USERS {
        wait_subscribed(&redis, user, 2).await;
    }

    let writer = LoadWriter::start(Load {
        bases: vec![nodes[0].base_url.clone(), nodes[1].base_url.clone()],
        users: (1..=LOAD_USERS).collect(),
        every: LOAD_EVERY,
        in_flight: 64,
        stop_after: Some(LOAD_FOR),
    });
    let writer_started = Instant::now();
    // The scenario's timeline, not synchronisation: Redis dies 2 s into the load and stays down
    // for 1.5 s while the writer keeps creating.
    actix_web::rt::time::sleep(KILL_AFTER).await;
    let redis = kill_redis(redis).await;
    let killed = Instant::now();
    actix_web::rt::time::sleep(OUTAGE).await;
    let (redis, restarted) = restart_redis(redis).await;

    let outcomes = writer.join().await;
    let writer_done = Instant::now();
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} of {} creates failed, e.g. {:?}", failures.len(), outcomes.len(), &failures[..]);
    let created: Vec<&Created> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let expected = expected_ids(&created);

    // Collect until every socket has all of its user's ids (or the deadline), then a quiet
    // spell in which a duplicate would show.
    // (Incomplete sockets are reported below, with what they got.)
    let all_in = settle_after(Duration::from_secs(15).saturating_sub(writer_done.elapsed()), SETTLE, || {
        sockets.iter().all(|(user, _, seen, _)| {
            let seen = seen.borrow();
            let got: std::collections::HashSet<i64> = seen.ids.iter().map(|(id, _)| *id).collect();
            expected.get(user).map(|ids| ids.iter().all(|id| got.contains(id))).unwrap_or(true)
        })
    })
    .await;
    for (_, _, _, task) in &sockets {
        task.abort();
    }

    let timeline = Timeline { writer_started, killed, restarted, writer_done, all_in };
    let resume_delays = print_timings(&sockets, &created, &timeline);

    let problems = socket_problems(&sockets, &expected);
    assert!(problems.is_empty(), "sockets did not get exactly their ids once, in order:\n{}", problems.join("\n"));
    for (name, delay) in &resume_delays {
        let delay =
            delay.unwrap_or_else(|| panic!("first create after the restart never reached the socket on {name}"));
        assert!(
            delay <= RESUME_BOUND,
            "the first notification created after Redis returned reached the socket on {name} {delay:?} after \
             the restart (bound {RESUME_BOUND:?})"
        );
    }
    drop(redis);
}

/// A recorded socket of the test: its user, its node's name, what it got, its reader task.
type Socket = (i64, &'static str, Rc<RefCell<Seen>>, tokio::task::JoinHandle<()>);

/// What each socket got wrong: it ended, got a needless `resync`, or its ids are not exactly its
/// user's acknowledged ones once each in increasing order.
fn socket_problems(sockets: &[Socket], expected: &HashMap<i64, Vec<i64>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (user, name, seen, _) in sockets {
        let seen = seen.borrow();
        if let Some(why) = &seen.ended {
            problems.push(format!("user {user} on {name}: socket ended with close code {why}"));
        }
        // Only creates: the repairs send the missed notifications, and nothing else is untold.
        if seen.resyncs > 0 {
            problems.push(format!("user {user} on {name}: {} needless `resync` frame(s)", seen.resyncs));
        }
        let got: Vec<i64> = seen.ids.iter().map(|(id, _)| *id).collect();
        let want = expected.get(user).cloned().unwrap_or_default();
        if let Some(problem) = stream_problems(&got, &want) {
            problems.push(format!("user {user} on {name}: {problem}"));
        }
    }
    problems
}

/// When things happened, for the printed timings.
struct Timeline {
    writer_started: Instant,
    killed: Instant,
    restarted: Instant,
    writer_done: Instant,
    all_in: Instant,
}

/// Prints the timings; returns how long the first create sent after the restart took to reach
/// each of its user's sockets (by node name).
fn print_timings(sockets: &[Socket], created: &[&Created], t: &Timeline) -> Vec<(&'static str, Option<Duration>)> {
    // The first create sent after Redis answered again, and when it reached its sockets.
    let first_after = created.iter().filter(|c| c.sent >= t.restarted).min_by_key(|c| c.sent).expect("creates after");
    let mut resume_delays = Vec::new();
    for (user, name, seen, _) in sockets {
        if *user == first_after.user {
            let arrival = seen.borrow().ids.iter().find(|(id, _)| *id == first_after.id).map(|(_, at)| *at);
            resume_delays.push((*name, arrival.map(|at| at.duration_since(t.restarted))));
        }
    }
    // The slowest notification created during the outage, measured from the restart.
    let outage_ids: std::collections::HashSet<i64> =
        created.iter().filter(|c| c.sent >= t.killed && c.sent < t.restarted).map(|c| c.id).collect();
    let slowest_outage_repair = sockets
        .iter()
        .flat_map(|(_, _, seen, _)| {
            seen.borrow()
                .ids
                .iter()
                .filter(|(id, _)| outage_ids.contains(id))
                .map(|(_, at)| at.saturating_duration_since(t.restarted))
                .collect::<Vec<_>>()
        })
        .max();
    println!(
        "redis under load: {} creates in {:?} ({} during the outage); redis t.killed at +{:?}, answered again \
         at +{:?}; first create after the restart (id {}, user {}, sent +{:?} after it) arrived after {:?}; \
         slowest outage notification arrived {:?} after the restart; all in {:?} after the writer ended",
        created.len(),
        t.writer_done.duration_since(t.writer_started),
        outage_ids.len(),
        t.killed.duration_since(t.writer_started),
        t.restarted.duration_since(t.writer_started),
        first_after.id,
        first_after.user,
        first_after.sent.duration_since(t.restarted),
        resume_delays,
        slowest_outage_repair,
        t.all_in.saturating_duration_since(t.writer_done),
    );
    resume_delays
}
