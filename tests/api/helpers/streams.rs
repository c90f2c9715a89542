//! What a stream of pushed notification ids must look like: every expected id exactly once, in
//! increasing order, nothing else; readers that collect them from a socket.

use super::{read_until, Read, WsClient};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::time::Duration;
use tokio::time::Instant;

/// The id of a notification object.
pub fn id_of(notification: &Value) -> i64 {
    notification["id"].as_i64().unwrap_or_else(|| panic!("notification without an integer id: {notification}"))
}

/// The ids of a list answer's `notifications`, in its order.
pub fn ids_of(list: &Value) -> Vec<i64> {
    list["notifications"]
        .as_array()
        .unwrap_or_else(|| panic!("a notifications array: {list}"))
        .iter()
        .map(id_of)
        .collect()
}

/// The id of a `notification` push frame; `None` for any other frame.
pub fn pushed_id(frame: &Value) -> Option<i64> {
    (frame["type"] == "notification").then(|| id_of(&frame["notification"]))
}

/// Describes how `got` differs from `expected` (both in arrival/creation order); `None` when
/// they are equal, i.e. every expected id exactly once, strictly increasing, nothing else.
pub fn stream_problems(got: &[i64], expected: &[i64]) -> Option<String> {
    if got == expected {
        return None;
    }
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for id in got {
        *counts.entry(*id).or_default() += 1;
    }
    let expected_set: BTreeSet<i64> = expected.iter().copied().collect();
    let missing: Vec<i64> = expected.iter().copied().filter(|id| !counts.contains_key(id)).collect();
    let doubled: Vec<i64> = counts.iter().filter(|(_, n)| **n > 1).map(|(id, _)| *id).collect();
    let unexpected: Vec<i64> = counts.keys().copied().filter(|id| !expected_set.contains(id)).collect();
    let backwards: Vec<(i64, i64)> = got.windows(2).filter(|w| w[0] >= w[1]).map(|w| (w[0], w[1])).collect();
    let head = |v: &[i64]| v.iter().take(20).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    Some(format!(
        "{} received, {} expected; missing {} [{}]; doubled {} [{}]; unexpected {} [{}]; not increasing {} {:?}",
        got.len(),
        expected.len(),
        missing.len(),
        head(&missing),
        doubled.len(),
        head(&doubled),
        unexpected.len(),
        head(&unexpected),
        backwards.len(),
        backwards.iter().take(10).collect::<Vec<_>>(),
    ))
}

/// Asserts that `seen` is strictly increasing and holds exactly the ids of `expected` (distinct
/// ids, in any order: concurrent creators finish in any order), each once.
pub fn assert_exactly_once_in_order(seen: &[i64], expected: &[i64], who: &str) {
    let mut want = expected.to_vec();
    want.sort_unstable();
    if let Some(problem) = stream_problems(seen, &want) {
        panic!("{who}: {problem}");
    }
}

/// A stream repair's `unread_count` frame: a session whose channel subscription is confirmed
/// after it connected repairs its stream from the database, then sends one. Readers accept it
/// wherever a repair may legitimately happen.
pub fn is_repair(frame: &Value) -> bool {
    frame["type"] == "unread_count" && frame["unread_count"].as_i64().is_some_and(|n| n >= 0)
}

/// Reads until `count` notification frames arrived (bounded by `wait`); returns their ids in
/// arrival order. Only `notification` and repair `unread_count` frames may arrive.
pub async fn collect_notifications(ws: &mut WsClient, count: usize, wait: Duration, who: impl Display) -> Vec<i64> {
    let deadline = Instant::now() + wait;
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        match read_until(ws, deadline).await {
            Read::Frame(frame) if frame["type"] == "notification" => ids.push(id_of(&frame["notification"])),
            Read::Frame(frame) if is_repair(&frame) => {}
            Read::Frame(frame) => panic!("{who}: unexpected frame {frame}"),
            Read::Closed(code) => panic!("{who}: closed with {code} after {} of {count} notifications", ids.len()),
            Read::Quiet => panic!("{who}: only {} of {count} notifications within {wait:?}: {ids:?}", ids.len()),
        }
    }
    ids
}

/// Asserts nothing but repair `unread_count` frames arrives for `wait`.
pub async fn expect_no_more_notifications(ws: &mut WsClient, wait: Duration, who: impl Display) {
    let deadline = Instant::now() + wait;
    loop {
        match read_until(ws, deadline).await {
            Read::Quiet => return,
            Read::Frame(frame) if is_repair(&frame) => {}
            Read::Frame(frame) => panic!("{who}: expected nothing more, got {frame}"),
            Read::Closed(code) => panic!("{who}: closed with {code}"),
        }
    }
}

/// What one socket saw, read in the background by `record`: notification ids with their arrival
/// instants, `resync` frames (a repair telling the client to fetch its list again), any other
/// frame that is neither a notification nor a repair's `unread_count`, and how it ended.
#[derive(Default)]
pub struct Seen {
    pub ids: Vec<(i64, std::time::Instant)>,
    pub resyncs: usize,
    pub others: Vec<Value>,
    /// Its close code (1006: ended without a close frame, or a transport error).
    pub ended: Option<u16>,
}

/// Reads a socket in the background into `Seen` until aborted or the socket ends.
pub fn record(mut ws: WsClient) -> (std::rc::Rc<std::cell::RefCell<Seen>>, tokio::task::JoinHandle<()>) {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Seen::default()));
    let sink = seen.clone();
    let task = actix_web::rt::spawn(async move {
        loop {
            match super::read_until_end(&mut ws, Instant::now() + Duration::from_secs(3600)).await {
                Read::Frame(frame) => {
                    if let Some(id) = pushed_id(&frame) {
                        sink.borrow_mut().ids.push((id, std::time::Instant::now()));
                    } else if frame["type"] == "resync" {
                        sink.borrow_mut().resyncs += 1;
                    } else if !is_repair(&frame) {
                        sink.borrow_mut().others.push(frame);
                    }
                }
                Read::Closed(why) => {
                    sink.borrow_mut().ended = Some(why);
                    return;
                }
                Read::Quiet => {}
            }
        }
    });
    (seen, task)
}

/// Waits (bounded by `within`) until `complete` holds, without failing (the caller's checks
/// report what is missing), then a quiet spell of `settle` in which a late duplicate would
/// show. Returns when everything was in (or the bound passed).
pub async fn settle_after(
    within: Duration,
    settle: Duration,
    mut complete: impl FnMut() -> bool,
) -> std::time::Instant {
    let _ = super::poll(within, async || if complete() { Ok(()) } else { Err(()) }).await;
    let all_in = std::time::Instant::now();
    actix_web::rt::time::sleep(settle).await;
    all_in
}
