//! The command line: `herald [serve]`, `herald migrate`, `herald token`. Configuration itself
//! comes only from the environment (see `config`); flags here choose what to do.

use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "herald", version, about = "Real-time notification service (REST + WebSocket)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node (the default).
    Serve,
    /// Apply pending database migrations to DATABASE_URL and exit.
    Migrate,
    /// Delete notifications older than a given age, in batches (and expired idempotency keys).
    Prune {
        /// Age, e.g. 90d, 12h.
        #[arg(long, value_parser = parse_ttl)]
        older_than: Duration,
        /// Delete only notifications already read.
        #[arg(long)]
        read_only: bool,
    },
    /// Create a notification on a running node and print it.
    Send {
        /// The recipient.
        #[arg(long)]
        user: i64,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        message: String,
        /// Notification type (default general).
        #[arg(long = "type", default_value = "general")]
        kind: String,
        /// A JSON object stored with the notification.
        #[arg(long)]
        data: Option<String>,
        #[arg(long)]
        link: Option<String>,
        /// The node (or load balancer).
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        /// A token to use; default: a staff token minted from JWT_SECRET.
        #[arg(long)]
        token: Option<String>,
    },
    /// Check a live node end to end (REST, WebSocket delivery, sync, resume); exit 1 on failure.
    Selftest {
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        /// The user the checks run as (their test notifications are deleted afterwards).
        #[arg(long, default_value_t = 1)]
        user: i64,
        /// A token for that user (staff, to check broadcast); default: minted from JWT_SECRET.
        #[arg(long)]
        token: Option<String>,
    },
    /// Print an access token signed with JWT_SECRET (development and scripts).
    Token {
        /// The user the token identifies.
        #[arg(long)]
        user: i64,
        /// Grant the send permission (create for others, broadcast).
        #[arg(long)]
        staff: bool,
        /// Lifetime, e.g. 15m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
    },
}

fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(raw).map_err(|e| format!("{e} (examples: 15m, 1h, 7d)"))?;
    if ttl.as_secs() == 0 {
        return Err("must be at least one second".into());
    }
    Ok(ttl)
}
