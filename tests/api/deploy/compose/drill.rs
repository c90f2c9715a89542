//! One drill: break something under load, then measure the recovery.

use super::creators::Creators;
use super::fleet::Fleet;
use super::sockets::{all_closes, assert_every_socket_exactly_once_in_order, wait_delivered};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// A drill's figures, printed as one line.
pub(super) struct Report {
    drill: String,
    sockets_dropped: usize,
    reconnects: u32,
    closes: BTreeMap<u16, u32>,
    longest_socket_down: Duration,
    sockets_back_after: Duration,
    failed_creates: u64,
    failures: BTreeMap<String, u64>,
    longest_create_gap: Duration,
    created: usize,
    delay_p50: Duration,
    delay_p99: Duration,
    delay_max: Duration,
    caught_up_after: Duration,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<26} dropped {:>3} sockets, {:>3} reconnects (closes {:?}), longest down {:>6.2}s, recovered {:>6.2}s after the fault began | creates: {:>4} stored, {:>3} attempts retried {:?}, longest gap {:>6.2}s | delivery delay p50 {:>7.1}ms p99 {:>7.1}ms max {:>7.1}ms; all delivered {:>5.2}s after creates paused",
            self.drill,
            self.sockets_dropped,
            self.reconnects,
            self.closes,
            self.longest_socket_down.as_secs_f64(),
            self.sockets_back_after.as_secs_f64(),
            self.created,
            self.failed_creates,
            self.failures,
            self.longest_create_gap.as_secs_f64(),
            self.delay_p50.as_secs_f64() * 1e3,
            self.delay_p99.as_secs_f64() * 1e3,
            self.delay_max.as_secs_f64() * 1e3,
            self.caught_up_after.as_secs_f64(),
        )
    }
}

/// Runs `fault` with creates flowing, waits until every socket is connected again, lets creates
/// flow 3 s more, pauses them, waits until every socket holds every notification of its user,
/// and asserts exactly once, in order, for the whole run so far. Returns the figures.
pub(super) async fn drill<F: std::future::Future<Output = ()>>(
    name: &str,
    fleet: &Fleet,
    creators: &Creators,
    dropped: std::ops::RangeInclusive<usize>,
    fault: F,
) -> Report {
    let connects_before: Vec<u32> = fleet.sockets.iter().map(|(_, l)| l.borrow().connects).collect();
    let closes_before: BTreeMap<u16, u32> = all_closes(fleet);
    for (_, log) in &fleet.sockets {
        log.borrow_mut().longest_down = Duration::ZERO;
    }
    let (failed_before, failures_before, created_before) = {
        let mut c = creators.created.borrow_mut();
        c.longest_gap = Duration::ZERO;
        (c.failed_attempts, c.failures.clone(), c.answered_at.len())
    };
    let started = Instant::now();
    fault.await;
    fleet.wait_all_connected(name).await;
    let back = started.elapsed();
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    creators.pause().await;
    let paused = Instant::now();
    let caught_up = wait_delivered(name, fleet, creators).await;
    let caught_up_after = caught_up.saturating_duration_since(paused);
    assert_every_socket_exactly_once_in_order(name, fleet, creators);

    let c = creators.created.borrow();
    let mut delays = Vec::new();
    for (user, log) in &fleet.sockets {
        let log = log.borrow();
        let arrived: HashMap<i64, Instant> = log.ids.iter().copied().collect();
        for id in c.by_user.get(user).into_iter().flatten() {
            let answered = c.answered_at[id];
            if answered >= started {
                delays.push(arrived[id].saturating_duration_since(answered));
            }
        }
    }
    delays.sort_unstable();
    let at = |q: f64| delays.get(((delays.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    let mut closes = all_closes(fleet);
    for (code, n) in closes_before {
        *closes.entry(code).or_default() -= n;
    }
    closes.retain(|_, n| *n > 0);
    let mut failures = c.failures.clone();
    for (why, n) in failures_before {
        *failures.entry(why).or_default() -= n;
    }
    failures.retain(|_, n| *n > 0);
    // Sockets opened during the drill count from 0.
    let reconnects: Vec<u32> = fleet
        .sockets
        .iter()
        .zip(connects_before.iter().chain(std::iter::repeat(&0)))
        .map(|((_, l), before)| l.borrow().connects.saturating_sub(*before))
        .collect();
    let report = Report {
        drill: name.to_owned(),
        sockets_dropped: reconnects.iter().filter(|n| **n > 0).count(),
        reconnects: reconnects.iter().sum(),
        closes,
        longest_socket_down: fleet.sockets.iter().map(|(_, l)| l.borrow().longest_down).max().unwrap_or_default(),
        sockets_back_after: back,
        failed_creates: c.failed_attempts - failed_before,
        failures,
        longest_create_gap: c.longest_gap,
        created: c.answered_at.len() - created_before,
        delay_p50: at(0.5),
        delay_p99: at(0.99),
        delay_max: delays.last().copied().unwrap_or_default(),
        caught_up_after,
    };
    drop(c);
    println!("drill: {report}");
    let n = report.sockets_dropped;
    assert!(dropped.contains(&n), "{name}: {n} sockets dropped, expected {dropped:?}");
    creators.resume();
    report
}
