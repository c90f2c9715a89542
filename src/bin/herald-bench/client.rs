//! The REST side every mode shares: the HTTP client, tokens, and the broadcast that sets up a
//! mode's users.

use crate::error::BenchError;
use herald::auth::mint::mint_token;
use herald::config::Config;
use herald::domain::UserId;
use std::time::Duration;

/// A client without awc's default cap of 100 connections.
pub fn unlimited_client() -> awc::Client {
    let connector = awc::Connector::new().limit(0).timeout(Duration::from_secs(10));
    awc::Client::builder().connector(connector).timeout(Duration::from_secs(30)).finish()
}

/// A user's token (not staff), valid for an hour.
pub fn token_for(config: &Config, user: i64) -> Result<String, BenchError> {
    mint(config, user, false)
}

/// The staff token of user 1 that sends every create and broadcast, valid for an hour.
pub fn staff_token(config: &Config) -> Result<String, BenchError> {
    mint(config, 1, true)
}

fn mint(config: &Config, user: i64, staff: bool) -> Result<String, BenchError> {
    let user = UserId::new(user).ok_or(BenchError::UserId)?;
    mint_token(&config.jwt, user, staff, Duration::from_secs(3600)).map_err(|err| BenchError::Token(err.into()))
}

/// One broadcast to users `1..=users`; returns the created ids, one per user in that order.
pub async fn broadcast_to(
    client: &awc::Client,
    base: &str,
    staff: &str,
    users: usize,
    title: &str,
) -> Result<Vec<i64>, BenchError> {
    let ids: Vec<usize> = (1..=users).collect();
    let mut res = client
        .post(format!("{base}/auth/notifications/broadcast/"))
        .bearer_auth(staff)
        .send_json(&serde_json::json!({"user_ids": ids, "title": title}))
        .await?;
    let body: serde_json::Value = res.json().limit(4 << 20).await?;
    Ok(body["notification_ids"].as_array().map(|a| a.iter().filter_map(|v| v.as_i64()).collect()).unwrap_or_default())
}
