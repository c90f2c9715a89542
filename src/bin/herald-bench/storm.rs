//! `storm`: N sockets drop at once and resume with `since`: time until all are back, and how
//! many were replayed something else than the one row they missed.

use crate::client::{broadcast_to, staff_token, token_for, unlimited_client};
use crate::error::BenchError;
use crate::sockets::{open_socket, read_replay, ws_url};
use futures_util::StreamExt;
use herald::config::Config;
use std::time::Instant;

pub async fn run(
    base: &str,
    ws_bases: &[String],
    config: &Config,
    sockets: usize,
    concurrency: usize,
) -> Result<(), BenchError> {
    let client = unlimited_client();
    let staff = staff_token(config)?;
    let tokens: Vec<String> = (1..=sockets as i64).map(|u| token_for(config, u)).collect::<Result<_, _>>()?;
    let url_for = |user: usize, since: i64| {
        format!("{}&since={since}", ws_url(&ws_bases[user % ws_bases.len()], &tokens[user - 1]))
    };
    // Everyone online and caught up with one notification.
    let seen = broadcast_to(&client, base, &staff, sockets, "storm: before").await?;
    let mut opening = futures_util::stream::iter((1..=sockets).map(|user| {
        let (client, url) = (client.clone(), url_for(user, 0));
        async move {
            let mut framed = open_socket(&client, &url).await?;
            read_replay(&mut framed).await?;
            Ok::<_, BenchError>(framed)
        }
    }))
    .buffer_unordered(concurrency);
    let mut online = Vec::with_capacity(sockets);
    while let Some(socket) = opening.next().await {
        online.push(socket?);
    }
    // All drop at once; one notification each while they are away; all come back at once.
    drop(online);
    let missed = broadcast_to(&client, base, &staff, sockets, "storm: while away").await?;
    let started = Instant::now();
    let mut resuming = futures_util::stream::iter((1..=sockets).map(|user| {
        let (client, url) = (client.clone(), url_for(user, seen[user - 1]));
        let expected = missed[user - 1];
        async move {
            let mut framed = open_socket(&client, &url).await?;
            let ids = read_replay(&mut framed).await?;
            Ok::<bool, BenchError>(ids == [expected])
        }
    }))
    .buffer_unordered(concurrency);
    let (mut back, mut lost, mut failed) = (0usize, 0usize, 0usize);
    while let Some(result) = resuming.next().await {
        match result {
            Ok(true) => back += 1,
            Ok(false) => lost += 1,
            Err(_) => failed += 1,
        }
    }
    println!(
        "storm: sockets={sockets} nodes={} resumed={back} lost_or_duplicated={lost} failed={failed} all_back_ms={:.0}",
        ws_bases.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
