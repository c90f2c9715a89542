//! The drill: sockets, load, phases, then the verdict.

use super::layout::{assert_spread_over_masters, distinct_nodes, drill_layout, open_recorded, users, Socket};
use super::{NO_POSITION_CHECK, SUBSCRIPTIONS_SETTLE};
use crate::helpers::*;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One create every this (at most `IN_FLIGHT` unanswered), round-robin over users and nodes.
const LOAD_EVERY: Duration = Duration::from_millis(10);

const IN_FLIGHT: usize = 32;

/// The bound of the whole test: a notification reaches every socket of its user within this
/// of the cluster being healthy again (or of its acknowledgement, when that came later).
const RECOVERY_BOUND: Duration = Duration::from_secs(3);

/// How long a socket must stay quiet after the last expected id to count as "no duplicates".
const SETTLE: Duration = Duration::from_millis(500);

/// How long to wait for anything still missing before reporting it (diagnostics only: the
/// assertion is `RECOVERY_BOUND`).
const COLLECT_FOR: Duration = Duration::from_secs(10);

/// Load over the healthy cluster after each drill phase, before the next (or the end).
const LOAD_AFTER_PHASE: Duration = Duration::from_millis(1500);

/// One step of a drill, run off the runtime while the load flows; it returns (a description)
/// only once the cluster is healthy again.
pub(super) type Phase = Box<dyn FnOnce(&RedisCluster) -> String + Send>;

/// A phase as it happened.
struct Happened {
    note: String,
    started: Instant,
    healthy: Instant,
}

/// Runs `phases` one after the other on a cluster of 2 nodes with recorded sockets of 40 users
/// and creates flowing through both nodes, `LOAD_AFTER_PHASE` of load over the healthy cluster
/// after each; then checks that every socket got every acknowledged notification of its user
/// exactly once, in increasing order, in time (see `RECOVERY_BOUND`), that no socket ended or
/// got any frame but those and a repair's `unread_count` (`resync` frames are counted and
/// printed), that the subscriptions are back where they belong (and only there), and that no
/// command answered `CROSSSLOT`. Prints the timings.
pub(super) async fn drill(name: &str, phases: Vec<Phase>) {
    let (_db, redis, nodes) = cluster_on_redis_cluster(2, &[NO_POSITION_CHECK]).await;
    let users = users();
    let owners = assert_spread_over_masters(&redis, &users).await;
    let mut sockets = Vec::new();
    for &user in &users {
        for index in drill_layout(user) {
            sockets.push(open_recorded(&nodes[index], index, user).await);
        }
    }
    let expected_subscribers: Vec<(i64, i64)> = users.iter().map(|u| (*u, distinct_nodes(&drill_layout(*u)))).collect();
    wait_shard_subscribers(&redis, &expected_subscribers, WAIT).await;

    let writer = LoadWriter::start(Load {
        bases: nodes.iter().map(|n| n.base_url.clone()).collect(),
        users: users.clone(),
        every: LOAD_EVERY,
        in_flight: IN_FLIGHT,
        stop_after: None,
    });
    let load_started = Instant::now();
    wait_until("every socket got a notification before the drill", WAIT, async || {
        sockets.iter().all(|s| !s.seen.borrow().ids.is_empty())
    })
    .await;
    let happened = run_phases(name, &redis, phases, load_started).await;
    let outcomes = writer.finish().await;
    let writer_done = Instant::now();

    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    let created: Vec<&Created> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let expected = expected_ids(&created);

    // Collect until every socket has all of its user's ids (bounded), then a quiet spell in
    // which a duplicate would show. (Incomplete sockets are reported below, with what they got.)
    let all_in = settle_after(COLLECT_FOR, SETTLE, || {
        sockets.iter().all(|s| {
            let got: HashSet<i64> = s.ids().into_iter().collect();
            expected.get(&s.user).is_none_or(|ids| ids.iter().all(|id| got.contains(id)))
        })
    })
    .await;
    for socket in &sockets {
        socket.task.abort();
    }

    let late = late_deliveries(name, &sockets, &created, &happened, load_started);
    eprintln!(
        "{name}: {} creates ({} failed) in {:?} on {} sockets; everything in {:?} after the writer stopped; \
         masters of the users' channels: {:?}; `resync` frames: {} on {} sockets",
        created.len(),
        failures.len(),
        writer_done.duration_since(load_started),
        sockets.len(),
        all_in.saturating_duration_since(writer_done),
        owners.values().collect::<BTreeSet<_>>(),
        sockets.iter().map(|s| s.seen.borrow().resyncs).sum::<usize>(),
        sockets.iter().filter(|s| s.seen.borrow().resyncs > 0).count(),
    );

    assert!(failures.is_empty(), "{} of {} creates failed, e.g. {:?}", failures.len(), outcomes.len(), &failures);
    let problems = socket_problems(&sockets, &expected);
    assert!(
        problems.is_empty(),
        "{name}: {} of {} sockets wrong:\n{}",
        problems.len(),
        sockets.len(),
        problems.join("\n")
    );
    assert!(
        late.is_empty(),
        "{name}: {} deliveries later than {RECOVERY_BOUND:?} after the cluster was healthy again (or their \
         acknowledgement), e.g. {:?}",
        late.len(),
        &late[..late.len().min(10)]
    );

    // The subscriptions are back, on the masters that own the slots now, and nowhere else.
    wait_shard_subscribers(&redis, &expected_subscribers, SUBSCRIPTIONS_SETTLE).await;
    let (resync, crossslot) = blocking({
        let redis = redis.clone();
        move || (redis.shardnumsub_total(&[RESYNC_CHANNEL])[0], redis.crossslot_errors())
    })
    .await;
    assert_eq!(resync, nodes.len() as i64, "every node subscribes {RESYNC_CHANNEL}");
    assert_eq!(crossslot, 0, "no command answered CROSSSLOT");
}

/// Runs each phase off the runtime, then `LOAD_AFTER_PHASE` of load over the healthy cluster.
async fn run_phases(name: &str, redis: &Arc<RedisCluster>, phases: Vec<Phase>, load_started: Instant) -> Vec<Happened> {
    let mut happened = Vec::new();
    for phase in phases {
        let redis = redis.clone();
        let (note, started, healthy) = blocking(move || {
            let started = Instant::now();
            let note = phase(&redis);
            (note, started, Instant::now())
        })
        .await;
        eprintln!(
            "{name}: {note}: started +{:?} into the load, cluster healthy {:?} later",
            started.duration_since(load_started),
            healthy.duration_since(started)
        );
        happened.push(Happened { note, started, healthy });
        // The scenario's timeline, not synchronisation: creates go on over the healthy cluster.
        actix_web::rt::time::sleep(LOAD_AFTER_PHASE).await;
    }
    happened
}

/// What each socket got wrong: it ended, got frames it should not, or its ids are not exactly
/// its user's acknowledged ones once each in increasing order.
fn socket_problems(sockets: &[Socket], expected: &HashMap<i64, Vec<i64>>) -> Vec<String> {
    let mut problems = Vec::new();
    for socket in sockets {
        let seen = socket.seen.borrow();
        let who = format!("user {} on node {}", socket.user, socket.node);
        if let Some(code) = seen.ended {
            problems.push(format!("{who}: the socket ended ({code})"));
        }
        if !seen.others.is_empty() {
            problems.push(format!("{who}: unexpected frames {:?}", seen.others));
        }
        let want = expected.get(&socket.user).cloned().unwrap_or_default();
        if let Some(problem) = stream_problems(&socket.ids(), &want) {
            problems.push(format!("{who}: {problem}"));
        }
    }
    problems
}

/// The deliveries later than they were due, and each phase's timings (printed).
fn late_deliveries(
    name: &str,
    sockets: &[Socket],
    created: &[&Created],
    happened: &[Happened],
    load_started: Instant,
) -> Vec<String> {
    // When each notification had to be on its sockets: RECOVERY_BOUND after the later of its
    // acknowledgement and the end of a phase that began before it could have been delivered
    // (a publish in flight when a phase began may be lost and repaired after it).
    let due = |c: &Created| {
        let mut from = c.acked;
        for h in happened {
            if h.started <= c.acked + RECOVERY_BOUND && h.healthy > from {
                from = h.healthy;
            }
        }
        from + RECOVERY_BOUND
    };
    let by_id: HashMap<i64, &&Created> = created.iter().map(|c| (c.id, c)).collect();
    let mut late = Vec::new();
    // Per phase, over the creates acknowledged while it ran: the last arrival on a socket, and
    // the longest wait of one from its acknowledgement to a socket.
    let mut last_arrival: Vec<Option<Instant>> = vec![None; happened.len()];
    let mut longest_wait: Vec<Duration> = vec![Duration::ZERO; happened.len()];
    for socket in sockets {
        for (id, at) in socket.seen.borrow().ids.iter() {
            let Some(c) = by_id.get(id) else { continue };
            if *at > due(c) {
                late.push(format!(
                    "id {id} (user {}) on node {}: acked +{:?}, arrived +{:?}",
                    c.user,
                    socket.node,
                    c.acked.duration_since(load_started),
                    at.duration_since(load_started)
                ));
            }
            for (i, h) in happened.iter().enumerate() {
                if c.acked >= h.started && c.acked <= h.healthy {
                    last_arrival[i] = last_arrival[i].max(Some(*at));
                    longest_wait[i] = longest_wait[i].max(at.saturating_duration_since(c.acked));
                }
            }
        }
    }
    print_phase_timings(name, sockets, created, happened, &last_arrival, &longest_wait);
    late
}

/// Per phase: how long until healthy, the creates acknowledged meanwhile and when they arrived,
/// and how long the first create sent after healthy took to reach its sockets.
fn print_phase_timings(
    name: &str,
    sockets: &[Socket],
    created: &[&Created],
    happened: &[Happened],
    last_arrival: &[Option<Instant>],
    longest_wait: &[Duration],
) {
    for (i, h) in happened.iter().enumerate() {
        let first_after_healthy =
            created.iter().filter(|c| c.sent >= h.healthy).min_by_key(|c| c.sent).and_then(|first| {
                let arrivals: Vec<Option<Instant>> =
                    sockets.iter().filter(|s| s.user == first.user).map(|s| s.arrival(first.id)).collect();
                match arrivals.iter().max() {
                    Some(Some(last)) => Some((first.id, last.saturating_duration_since(first.sent))),
                    _ => None,
                }
            });
        let during = created.iter().filter(|c| c.acked >= h.started && c.acked <= h.healthy).count();
        let relative_to_healthy = last_arrival[i].map(|at| {
            if at >= h.healthy {
                format!("{:?} after", at.duration_since(h.healthy))
            } else {
                format!("{:?} before", h.healthy.duration_since(at))
            }
        });
        eprintln!(
            "{name}: phase {} ({}): healthy {:?} after it began; {} creates acknowledged meanwhile: the last \
             reached its sockets {:?} after the phase began ({} the cluster was healthy), the longest wait \
             from acknowledgement to socket {:?}; first create sent after healthy (id, sent to last socket): \
             {:?}",
            i + 1,
            h.note,
            h.healthy.duration_since(h.started),
            during,
            last_arrival[i].map(|at| at.saturating_duration_since(h.started)),
            relative_to_healthy.unwrap_or_else(|| "-".to_owned()),
            longest_wait[i],
            first_after_healthy,
        );
    }
}

/// The master serving `user`'s shard channel.
pub(super) fn master_of_user(redis: &RedisCluster, user: i64) -> u16 {
    redis.master_of_slot(redis.slot_of(&shard_channel(user)))
}
