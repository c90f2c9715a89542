//! A node SIGKILLed mid-stream: the client resumes on the other node with `since`.

use super::SETTLE;
use crate::helpers::*;
use std::time::{Duration, Instant};

#[actix_web::test]
async fn node_killed_mid_stream_clients_resume_on_the_other_node_without_loss() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let mut first = process_node(&db.url, &redis.url(), &[]);
    let second = process_node(&db.url, &redis.url(), &[]);
    let client = awc::Client::builder().timeout(WAIT).finish();
    wait_ready_at(&client, &first.base_url()).await;
    wait_ready_at(&client, &second.base_url()).await;
    let user = 3;
    let (mut ws, _) = open_at(&first, user, None).await;
    wait_subscribed(&redis, user, 1).await;

    // The writer: a steady stream of creates for user 3 through the second node until stopped.
    let writer = LoadWriter::start(Load {
        bases: vec![second.base_url()],
        users: vec![user],
        every: Duration::from_millis(10),
        in_flight: 1,
        stop_after: None,
    });

    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 20 {
        match read_until_end(&mut ws, deadline).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => panic!("socket on node 1 ended before the kill: {why}"),
            Read::Quiet => panic!("only {} notification(s) on node 1 within {WAIT:?}", seen.len()),
        }
    }
    let on_first = seen.len();
    first.kill();
    let killed = Instant::now();
    let deadline = killed + WAIT;
    let ended = loop {
        match read_until_end(&mut ws, deadline).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => break why,
            Read::Quiet => panic!("the socket on the killed node did not end within {WAIT:?}"),
        }
    };
    let last = *seen.last().expect("saw some");
    let on_first_in_all = seen.len();
    drop(ws);
    // The client is away (as a client backing off before it reconnects) until a create was made
    // meanwhile: that one comes back by replay.
    wait_until("a create acknowledged while the client is away", WAIT, async || writer.newest() > last).await;

    let (mut ws, hello) = open_at(&second, user, Some(last)).await;
    let mut synced = None;
    let resume_at = Instant::now();
    let deadline = resume_at + WAIT;
    while synced.is_none() {
        match read_until_end(&mut ws, deadline).await {
            Read::Frame(frame) if frame["type"] == "sync_complete" => synced = Some(frame),
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => panic!("socket on node 2 ended with close code {why}"),
            Read::Quiet => panic!("no sync_complete within {WAIT:?} after resuming with since={last}"),
        }
    }
    let replayed = seen.len() - on_first_in_all;
    assert!(replayed > 0, "creates made while the client was away come back by replay");
    let resumed_after = killed.elapsed();

    // More live traffic on the new node, then stop the writer and drain.
    let deadline = Instant::now() + Duration::from_millis(700);
    loop {
        match read_until_end(&mut ws, deadline).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => panic!("socket on node 2 ended with close code {why}"),
            Read::Quiet => break,
        }
    }
    let outcomes = writer.finish().await;
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(failures.is_empty(), "every create reaches node 2 and is stored: {failures:?}");
    let created: Vec<i64> = outcomes.iter().filter_map(|o| o.as_ref().ok()).map(|c| c.id).collect();
    drain(&mut ws, &mut seen, &created).await;
    println!(
        "node killed: {} created; {on_first} seen on node 1 before the kill, {on_first_in_all} in all there \
         (ended with close code {ended}); resumed on node 2 with since={last} ({hello}), {replayed} replayed before {} at \
         +{resumed_after:?} after the kill",
        created.len(),
        synced.unwrap_or_default(),
    );
    if let Some(problem) = stream_problems(&seen, &created) {
        panic!("across both connections: {problem}");
    }
    drop(second);
    drop(first);
    drop(redis);
    drop(db);
}

/// Reads pushed ids into `seen` until the last of `created` came and `SETTLE` passed quietly
/// after it (a late duplicate would show), or `WAIT` passed.
async fn drain(ws: &mut WsClient, seen: &mut Vec<i64>, created: &[i64]) {
    let deadline = Instant::now() + WAIT;
    let mut complete_at = None;
    loop {
        if complete_at.is_none() && created.last().is_none_or(|id| seen.contains(id)) {
            complete_at = Some(Instant::now());
        }
        let until = complete_at.map(|at| at + SETTLE).unwrap_or(deadline);
        match read_until_end(ws, until).await {
            Read::Frame(frame) => seen.extend(pushed_id(&frame)),
            Read::Closed(why) => panic!("socket on node 2 ended with close code {why}"),
            Read::Quiet => break,
        }
    }
}
