//! Herald on a Redis Cluster (`REDIS_CLUSTER_URLS`, sharded pub/sub): a private cluster of
//! three masters and three replicas, two or three nodes on one PostgreSQL database, sockets of
//! 40 users whose shard channels (`herald:{P}:user:{ID}`) land on all three masters.
//!
//! First the steady state: pushes cross nodes, each node holds one `SSUBSCRIBE` per user it
//! has sockets of, on the master owning the channel's slot, and drops it once the user's last
//! socket there closed; nothing answers `CROSSSLOT`. Then one drill per test while creates flow
//! through both nodes: pub/sub connections killed on every master, a live user's slot migrated
//! between masters (and back), a replica failed over (and back), a master SIGKILLed and its
//! replica promoted (then the old master rejoins), the whole cluster restarted. Whatever
//! happens, every socket ends with exactly the notifications its user was acknowledged, each
//! once, in increasing order, no later than 3 s after the cluster was healthy again (or after
//! the create's acknowledgement, when that came later); the sockets stay open and the
//! subscriptions end up where they belong. The nodes' periodic position check is off here, so
//! it cannot stand in for their reaction to the cluster. Each drill prints its timings.

use crate::helpers::*;
use awc::http::StatusCode;
use futures_util::future::join_all;
use serde_json::json;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CREATE: &str = "/auth/notifications/create/";
/// The bound of the whole test: a notification reaches every socket of its user within this
/// of the cluster being healthy again (or of its acknowledgement, when that came later).
const RECOVERY_BOUND: Duration = Duration::from_secs(3);
/// How long a socket must stay quiet after the last expected id to count as "no duplicates".
const SETTLE: Duration = Duration::from_millis(500);
/// How long to wait for anything still missing before reporting it (diagnostics only: the
/// assertion is `RECOVERY_BOUND`).
const COLLECT_FOR: Duration = Duration::from_secs(10);
/// Bound for subscriptions to settle (a node unsubscribes ~1 s after a user's last socket).
const SUBSCRIPTIONS_SETTLE: Duration = Duration::from_secs(5);
/// One create every this (at most `IN_FLIGHT` unanswered), round-robin over users and nodes.
const LOAD_EVERY: Duration = Duration::from_millis(10);
const IN_FLIGHT: usize = 32;
/// Load over the healthy cluster after each drill phase, before the next (or the end).
const LOAD_AFTER_PHASE: Duration = Duration::from_millis(1500);
/// How long a socket must stay quiet to count as "got nothing more".
const QUIET: Duration = Duration::from_millis(300);
/// Every node's periodic stream-position check, off (an hour): it repairs any socket whose
/// change never arrived within ~1.25 s, so it would also hide a node that never resubscribes or
/// never repairs after a cluster event. The tests here check the node's own reaction to the
/// cluster: rebuilding its shard connections, resubscribing, repairing its sockets.
const NO_POSITION_CHECK: (&str, &str) = ("HERALD_POSITION_CHECK_MS", "3600000");

// ---------------------------------------------------------------------------------------------
// Users, sockets, load
// ---------------------------------------------------------------------------------------------

/// 40 users: partitions 1..=36 have one each; 129 and 257 share partition 1 with user 1, 130
/// partition 2 with user 2 (one slot carries several users' channels); 1000 is partition 104.
fn users() -> Vec<i64> {
    (1..=36).chain([129, 130, 257, 1000]).collect()
}

/// The master serving each user's shard channel (its slot from `CLUSTER KEYSLOT`).
async fn masters_of(redis: &Arc<RedisCluster>, users: &[i64]) -> HashMap<i64, u16> {
    let (redis, users) = (redis.clone(), users.to_vec());
    blocking(move || users.iter().map(|u| (*u, redis.master_of_slot(redis.slot_of(&shard_channel(*u))))).collect())
        .await
}

/// Asserts the users' channels are spread over every master.
async fn assert_spread_over_masters(redis: &Arc<RedisCluster>, users: &[i64]) -> HashMap<i64, u16> {
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
fn drill_layout(user: i64) -> Vec<usize> {
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
fn distinct_nodes(layout: &[usize]) -> i64 {
    layout.iter().collect::<HashSet<_>>().len() as i64
}

struct Socket {
    user: i64,
    node: usize,
    seen: Rc<RefCell<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Socket {
    fn ids(&self) -> Vec<i64> {
        self.seen.borrow().ids.iter().map(|(id, _)| *id).collect()
    }

    fn arrival(&self, id: i64) -> Option<Instant> {
        self.seen.borrow().ids.iter().find(|(seen, _)| *seen == id).map(|(_, at)| *at)
    }
}

/// Opens a socket and reads it in the background (`record`).
async fn open_recorded(node: &TestApp, index: usize, user: i64) -> Socket {
    let (ws, _) = WsClient::open(node, &token(user)).await;
    let (seen, task) = record(ws);
    Socket { user, node: index, seen, task }
}

/// One acknowledged create of the load writer.
struct Created {
    user: i64,
    id: i64,
    /// When its POST was sent, and when its 201 came back.
    sent: Instant,
    acked: Instant,
}

/// A writer on its own thread and runtime: one create every `LOAD_EVERY` (at most `IN_FLIGHT`
/// in flight) until stopped, round-robin over `users`, each user's creates alternating over the
/// nodes. Returns every outcome, in send order.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Result<Created, String>>>,
}

impl Writer {
    fn start(bases: Vec<String>, users: Vec<i64>) -> Writer {
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
    async fn finish(self) -> Vec<Result<Created, String>> {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread;
        blocking(move || thread.join()).await.unwrap_or_else(|_| panic!("the writer thread panicked"))
    }
}

// ---------------------------------------------------------------------------------------------
// The drill: sockets, load, phases, then the verdict
// ---------------------------------------------------------------------------------------------

/// One step of a drill, run off the runtime while the load flows; it returns (a description)
/// only once the cluster is healthy again.
type Phase = Box<dyn FnOnce(&RedisCluster) -> String + Send>;

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
async fn drill(name: &str, phases: Vec<Phase>) {
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

    let writer = Writer::start(nodes.iter().map(|n| n.base_url.clone()).collect(), users.clone());
    let load_started = Instant::now();
    wait_until("every socket got a notification before the drill", WAIT, async || {
        sockets.iter().all(|s| !s.seen.borrow().ids.is_empty())
    })
    .await;

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
    let outcomes = Writer::finish(writer).await;
    let writer_done = Instant::now();

    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    let created: Vec<&Created> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let mut expected: HashMap<i64, Vec<i64>> = HashMap::new();
    for c in &created {
        expected.entry(c.user).or_default().push(c.id);
    }
    for ids in expected.values_mut() {
        ids.sort_unstable();
    }

    // Collect until every socket has all of its user's ids (bounded), then a quiet spell in
    // which a duplicate would show. (Incomplete sockets are reported below, with what they got.)
    let _ = poll(COLLECT_FOR, async || {
        let complete = sockets.iter().all(|s| {
            let got: HashSet<i64> = s.ids().into_iter().collect();
            expected.get(&s.user).is_none_or(|ids| ids.iter().all(|id| got.contains(id)))
        });
        if complete {
            Ok(())
        } else {
            Err(())
        }
    })
    .await;
    let all_in = Instant::now();
    // The quiet spell is the check: a duplicate arriving late would show in it.
    actix_web::rt::time::sleep(SETTLE).await;
    for socket in &sockets {
        socket.task.abort();
    }

    // When each notification had to be on its sockets: RECOVERY_BOUND after the later of its
    // acknowledgement and the end of a phase that began before it could have been delivered
    // (a publish in flight when a phase began may be lost and repaired after it).
    let due = |c: &Created| {
        let mut from = c.acked;
        for h in &happened {
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
    let mut first_after_healthy: Vec<Option<(i64, Duration)>> = vec![None; happened.len()];
    for socket in &sockets {
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
    for (i, h) in happened.iter().enumerate() {
        if let Some(first) = created.iter().filter(|c| c.sent >= h.healthy).min_by_key(|c| c.sent) {
            let arrivals: Vec<Option<Instant>> =
                sockets.iter().filter(|s| s.user == first.user).map(|s| s.arrival(first.id)).collect();
            if let Some(Some(last)) = arrivals.iter().max() {
                first_after_healthy[i] = Some((first.id, last.saturating_duration_since(first.sent)));
            }
        }
    }
    let during: Vec<usize> = happened
        .iter()
        .map(|h| created.iter().filter(|c| c.acked >= h.started && c.acked <= h.healthy).count())
        .collect();
    for (i, h) in happened.iter().enumerate() {
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
            during[i],
            last_arrival[i].map(|at| at.saturating_duration_since(h.started)),
            relative_to_healthy.unwrap_or_else(|| "-".to_owned()),
            longest_wait[i],
            first_after_healthy[i],
        );
    }
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
    let mut problems = Vec::new();
    for socket in &sockets {
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

/// The master serving `user`'s shard channel.
fn master_of_user(redis: &RedisCluster, user: i64) -> u16 {
    redis.master_of_slot(redis.slot_of(&shard_channel(user)))
}

// ---------------------------------------------------------------------------------------------
// (a) Steady state: cross-node delivery, subscriptions follow the sockets, no CROSSSLOT
// ---------------------------------------------------------------------------------------------

/// The nodes a user keeps sockets on after the churn of test (a), one entry per socket: users
/// `4k` none, `4k+1` one node, `4k+2` two (users that are also multiples of 5: two sockets on
/// node 0), `4k+3` all three.
fn steady_layout(user: i64) -> Vec<usize> {
    match user % 4 {
        0 => vec![],
        1 => vec![(user % 3) as usize],
        2 if user % 5 == 0 => vec![0, 0, 1],
        2 => vec![0, 1],
        _ => vec![0, 1, 2],
    }
}

#[actix_web::test]
async fn sharded_pubsub_delivers_across_nodes_and_subscriptions_follow_the_sockets() {
    const EACH: usize = 3;
    let (_db, redis, nodes) = cluster_on_redis_cluster(3, &[NO_POSITION_CHECK]).await;
    let nodes = &nodes;
    let users = users();
    let owners = assert_spread_over_masters(&redis, &users).await;

    // Churn: every user opens a socket on every node and closes it (politely or by dropping
    // the connection), three times; a tab reload in between.
    for round in 0..3i64 {
        join_all(users.iter().map(|&user| async move {
            let mut open = Vec::new();
            for node in nodes.iter() {
                open.push(WsClient::open(node, &token(user)).await.0);
            }
            for (i, ws) in open.into_iter().enumerate() {
                if (user + round + i as i64) % 2 == 0 {
                    ws.close().await;
                } else {
                    drop(ws);
                }
            }
            if (user + round) % 3 == 0 {
                let (again, _) = WsClient::open(&nodes[((user + round) % 3) as usize], &token(user)).await;
                again.close().await;
            }
        }))
        .await;
    }
    // The final layout, plus sockets on the other nodes that close at once.
    let mut kept: Vec<(i64, usize, WsClient)> = Vec::new();
    let mut closing = Vec::new();
    for &user in &users {
        let layout = steady_layout(user);
        for (index, node) in nodes.iter().enumerate() {
            if !layout.contains(&index) {
                closing.push(WsClient::open(node, &token(user)).await.0);
            }
        }
        for node in layout {
            kept.push((user, node, WsClient::open(&nodes[node], &token(user)).await.0));
        }
    }
    join_all(closing.into_iter().map(WsClient::close)).await;

    let expected: Vec<(i64, i64)> = users.iter().map(|u| (*u, distinct_nodes(&steady_layout(*u)))).collect();
    wait_shard_subscribers(&redis, &expected, SUBSCRIPTIONS_SETTLE).await;
    // Past the unsubscribe delay, the counts still hold: nothing was about to change.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let (on_masters, on_replicas) = shard_subscribers(&redis, &users).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        on_masters,
        expected.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        "one subscriber per node holding a socket of the user, none for users without"
    );
    assert_eq!(on_replicas, vec![0; users.len()], "nodes subscribe on masters only");
    let (resync, spublish_before) = blocking({
        let redis = redis.clone();
        move || (redis.shardnumsub_total(&[RESYNC_CHANNEL])[0], redis.cmdstat_calls("spublish"))
    })
    .await;
    assert_eq!(resync, nodes.len() as i64, "every node subscribes {RESYNC_CHANNEL} once");

    // Creates for every user (those without sockets too), each user's round-robin over the
    // three nodes.
    let created: HashMap<i64, Vec<i64>> = join_all(users.iter().map(|&user| async move {
        let mut ids = Vec::new();
        for k in 0..EACH {
            ids.push(create_id(&nodes[(user as usize + k) % nodes.len()], user, &format!("steady #{k}")).await);
        }
        (user, ids)
    }))
    .await
    .into_iter()
    .collect();
    let readers = kept.iter_mut().map(|(user, node, ws)| {
        let want = created[user].clone();
        let who = format!("user {user} on node {node}");
        async move {
            let ids = collect_notifications(ws, want.len(), WAIT, &who).await;
            assert_exactly_once_in_order(&ids, &want, &who);
            expect_no_more_notifications(ws, QUIET, &who).await;
        }
    });
    join_all(readers).await;

    let total_creates = (users.len() * EACH) as u64;
    let (crossslot, spublish, publish) = blocking({
        let redis = redis.clone();
        move || (redis.crossslot_errors(), redis.cmdstat_calls("spublish"), redis.cmdstat_calls("publish"))
    })
    .await;
    eprintln!(
        "steady state: {} sockets kept of {} users on masters {:?}; {total_creates} creates: SPUBLISH calls {}, \
         PUBLISH calls {publish}, CROSSSLOT errors {crossslot}",
        kept.len(),
        users.len(),
        owners.values().collect::<BTreeSet<_>>(),
        spublish - spublish_before,
    );
    assert_eq!(crossslot, 0, "no command answered CROSSSLOT");
    assert!(spublish - spublish_before >= total_creates, "every create was SPUBLISHed: {spublish} calls");
    assert_eq!(publish, 0, "nothing goes through classic PUBLISH (broadcast to every cluster node)");
    // The subscriptions did not move while the creates flowed.
    wait_shard_subscribers(&redis, &expected, Duration::ZERO).await;
}

// ---------------------------------------------------------------------------------------------
// (b)-(f) Drills under load
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn pubsub_connections_killed_on_every_master_lose_nothing() {
    let phases: Vec<Phase> = (0..3)
        .map(|i| -> Phase {
            Box::new(move |redis: &RedisCluster| {
                let master = redis.masters()[i];
                let killed = redis.client_kill_pubsub(master);
                assert!(killed > 0, "master {master} had subscriber connections to kill");
                format!("CLIENT KILL TYPE pubsub on master {master}: {killed} connection(s)")
            })
        })
        .collect();
    drill("pubsub connections killed", phases).await;
}

#[actix_web::test]
async fn slot_of_live_users_migrated_between_masters_loses_nothing() {
    // Users 1, 129 and 257 share partition 1, so its slot carries three users' channels. It
    // moves to another master, then back.
    let moved = Arc::new(std::sync::Mutex::new(None));
    let away: Phase = {
        let moved = moved.clone();
        Box::new(move |redis: &RedisCluster| {
            let slot = redis.slot_of(&shard_channel(1));
            let from = redis.master_of_slot(slot);
            let to = *redis.masters().iter().find(|m| **m != from).expect("another master");
            let took = redis.migrate_slot(slot, from, to);
            *moved.lock().expect("lock") = Some((slot, from, to));
            format!("slot {slot} (users 1, 129, 257) migrated from {from} to {to} in {took:?}")
        })
    };
    let back: Phase = Box::new(move |redis: &RedisCluster| {
        let (slot, from, to) = moved.lock().expect("lock").expect("the first migration ran");
        let took = redis.migrate_slot(slot, to, from);
        format!("slot {slot} migrated back from {to} to {from} in {took:?}")
    });
    drill("slot migrated", vec![away, back]).await;
}

#[actix_web::test]
async fn replica_failover_loses_nothing() {
    let failover = |again: bool| -> Phase {
        Box::new(move |redis: &RedisCluster| {
            let master = master_of_user(redis, 2);
            let replica = redis.replica_of(master).expect("the master has a replica");
            let took = redis.failover(replica);
            let again = if again { " again" } else { "" };
            format!("CLUSTER FAILOVER{again} of user 2's master {master} to its replica {replica}: {took:?}")
        })
    };
    drill("replica failover", vec![failover(false), failover(true)]).await;
}

#[actix_web::test]
async fn master_killed_and_replica_promoted_loses_nothing() {
    let killed = Arc::new(std::sync::Mutex::new(None));
    let kill: Phase = {
        let killed = killed.clone();
        Box::new(move |redis: &RedisCluster| {
            let master = master_of_user(redis, 3);
            let replica = redis.replica_of(master).expect("the master has a replica");
            redis.kill(master);
            let took = redis.wait_promoted(replica);
            *killed.lock().expect("lock") = Some((master, replica));
            format!("master {master} (user 3's) SIGKILLed, replica {replica} promoted and healthy after {took:?}")
        })
    };
    let rejoin: Phase = Box::new(move |redis: &RedisCluster| {
        let (master, replica) = killed.lock().expect("lock").expect("the kill phase ran");
        let took = redis.restart(master);
        assert_eq!(redis.master_of(master), Some(replica), "the old master rejoins as its replica's replica");
        format!("old master {master} restarted, rejoined as a replica of {replica} in {took:?}")
    });
    drill("master killed", vec![kill, rejoin]).await;
}

#[actix_web::test]
async fn whole_cluster_restarted_loses_nothing() {
    let restart: Phase = Box::new(|redis: &RedisCluster| {
        let took = redis.restart_all();
        format!("all 6 redis nodes SIGKILLed and restarted, healthy {took:?} after they started again")
    });
    drill("cluster restarted", vec![restart]).await;
}
