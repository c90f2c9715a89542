//! `node-loss`: N sockets open without `since` on the `--ws-url` node, which is then SIGKILLed
//! (`--kill`); one notification each while they are away; all resume on `--resume-url` with
//! `since` = their greeting's `last_id`. A client following the README's rule must be replayed
//! exactly what it missed (one row each), never the history.

use crate::client::{broadcast_to, staff_token, token_for, unlimited_client};
use crate::error::BenchError;
use crate::sockets::{open_greeted, open_socket, read_replay, ws_url, Socket};
use futures_util::StreamExt;
use herald::config::Config;
use std::time::Instant;

pub struct NodeLoss {
    pub sockets: usize,
    pub concurrency: usize,
    pub kill: u32,
    pub resume_url: String,
}

pub async fn run(base: &str, ws_base: &str, config: &Config, run: NodeLoss) -> Result<(), BenchError> {
    let NodeLoss { sockets, concurrency, kill, resume_url } = run;
    let client = unlimited_client();
    let staff = staff_token(config)?;
    let tokens: Vec<String> = (1..=sockets as i64).map(|u| token_for(config, u)).collect::<Result<_, _>>()?;
    // A history first: what a client resuming from 0 would be replayed.
    for round in 0..3 {
        broadcast_to(&client, base, &staff, sockets, &format!("node loss: history {round}")).await?;
    }
    let (last_ids, online) = open_all(&client, ws_base, &tokens, concurrency).await?;
    let killed = std::process::Command::new("kill").args(["-KILL", &kill.to_string()]).status();
    if !killed.map(|s| s.success()).unwrap_or(false) {
        return Err(BenchError::Kill(kill));
    }
    drop(online);
    let missed = broadcast_to(&client, base, &staff, sockets, "node loss: while away").await?;
    let started = Instant::now();
    let mut resuming = futures_util::stream::iter((1..=sockets).map(|user| {
        let url = format!("{}&since={}", ws_url(&resume_url, &tokens[user - 1]), last_ids[user]);
        let (client, expected) = (client.clone(), missed[user - 1]);
        async move {
            let mut framed = open_socket(&client, &url).await?;
            read_replay(&mut framed).await.map(|ids| (ids.len(), ids == [expected]))
        }
    }))
    .buffer_unordered(concurrency);
    let (mut resumed, mut replayed, mut failed, mut exact) = (0usize, 0usize, 0usize, 0usize);
    while let Some(result) = resuming.next().await {
        match result {
            Ok((rows, own_row_only)) => {
                resumed += 1;
                replayed += rows;
                exact += usize::from(own_row_only);
            }
            Err(_) => failed += 1,
        }
    }
    println!(
        "node loss: sockets={sockets} resumed={resumed} exact={exact} rows_missed={} rows_replayed={replayed} failed={failed} all_back_ms={:.0}",
        missed.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Opens every user's socket on `ws_base`; returns each user's greeting `last_id` (indexed by
/// user id) and the open sockets.
async fn open_all(
    client: &awc::Client,
    ws_base: &str,
    tokens: &[String],
    concurrency: usize,
) -> Result<(Vec<i64>, Vec<Socket>), BenchError> {
    let sockets = tokens.len();
    let mut opening = futures_util::stream::iter((1..=sockets).map(|user| {
        let (client, url) = (client.clone(), ws_url(ws_base, &tokens[user - 1]));
        async move {
            let (framed, greeting) = open_greeted(&client, &url).await?;
            let last_id = greeting["last_id"]
                .as_i64()
                .ok_or_else(|| BenchError::Protocol("the greeting has no last_id".to_owned()))?;
            Ok::<_, BenchError>((user, last_id, framed))
        }
    }))
    .buffer_unordered(concurrency);
    let mut last_ids = vec![0; sockets + 1];
    let mut online = Vec::with_capacity(sockets);
    while let Some(socket) = opening.next().await {
        let (user, last_id, framed) = socket?;
        last_ids[user] = last_id;
        online.push(framed);
    }
    Ok((last_ids, online))
}
