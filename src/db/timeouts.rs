//! How long the database may make a node wait, and the PostgreSQL URL that enforces it on every
//! pooled connection: libpq's connect timeout, TCP keepalives and `tcp_user_timeout` (a server
//! that vanished is noticed), and the session's `statement_timeout`, `lock_timeout` and
//! `idle_in_transaction_session_timeout` (sent as the startup `options`, so they hold from the
//! first statement, with no extra round trip). Parameters the operator's `DATABASE_URL` already
//! sets win. It does not open connections (`connection::establish` does) nor bound awaits
//! (`Db::run`).

use crate::config::Config;
use std::time::Duration;

/// libpq `connect_timeout`: the whole connection set-up (TCP, TLS, authentication).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds between TCP keepalive probes once the connection has been idle `keepalive`.
const KEEPALIVE_INTERVAL_SECS: u64 = 5;
/// Unanswered keepalive probes before the kernel closes the connection.
const KEEPALIVE_COUNT: u32 = 3;
/// Time, beyond the statement timeout, for a statement's answer (a cancelled statement's error,
/// the rollback) to travel back before the caller gives up on the database.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// The database waits of a node, from `Config` (`HERALD_DB_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbTimeouts {
    /// Longest wait for a pooled connection.
    pub pool_wait: Duration,
    /// PostgreSQL `statement_timeout`.
    pub statement: Duration,
    /// PostgreSQL `lock_timeout`.
    pub lock: Duration,
    /// PostgreSQL `idle_in_transaction_session_timeout`.
    pub idle_in_transaction: Duration,
    /// TCP keepalive idle time.
    pub keepalive: Duration,
}

impl DbTimeouts {
    pub fn from_config(config: &Config) -> DbTimeouts {
        DbTimeouts {
            pool_wait: config.db_timeout,
            statement: config.db_statement_timeout,
            lock: config.db_lock_timeout,
            idle_in_transaction: config.db_idle_in_transaction_timeout,
            keepalive: config.db_keepalive,
        }
    }

    /// The longest one `Db::run` waits: a connection, one statement, and its answer. Past it
    /// the caller gets 503 `unavailable`.
    pub fn bound(&self) -> Duration {
        self.pool_wait + self.statement + ANSWER_MARGIN
    }

    /// libpq `tcp_user_timeout`: data sent and not acknowledged this long (the server's host or
    /// the network is gone) fails the connection instead of blocking its thread for minutes.
    fn tcp_user_timeout(&self) -> Duration {
        self.statement + ANSWER_MARGIN
    }
}

/// The URL a migration connects with: only the connect timeout, so a long migration is never
/// cancelled by a statement timeout.
pub fn migration_pg_url(raw: &str) -> String {
    with_params(raw, &[("connect_timeout", CONNECT_TIMEOUT.as_secs().to_string())])
}

/// The URL a pooled connection opens: `raw` plus the connect timeout, keepalives, the TCP user
/// timeout and the session bounds. A parameter already in `raw` is kept as is; the operator's
/// own `options` follow ours, so a `-c` setting there overrides the same one here.
pub fn pooled_pg_url(raw: &str, timeouts: &DbTimeouts) -> String {
    let params = [
        ("connect_timeout", CONNECT_TIMEOUT.as_secs().to_string()),
        ("keepalives", "1".to_owned()),
        ("keepalives_idle", timeouts.keepalive.as_secs().max(1).to_string()),
        ("keepalives_interval", KEEPALIVE_INTERVAL_SECS.to_string()),
        ("keepalives_count", KEEPALIVE_COUNT.to_string()),
        ("tcp_user_timeout", timeouts.tcp_user_timeout().as_millis().to_string()),
    ];
    let options = format!(
        "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
        timeouts.statement.as_millis(),
        timeouts.lock.as_millis(),
        timeouts.idle_in_transaction.as_millis(),
    );
    with_options(&with_params(raw, &params), &options)
}

/// `raw` with each `(name, value)` appended to its query, unless it names that parameter.
fn with_params(raw: &str, params: &[(&str, String)]) -> String {
    let mut url = raw.to_owned();
    for (name, value) in params {
        if query_of(&url).split('&').all(|pair| key_of(pair) != *name) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{name}={}", percent_encode(value)));
        }
    }
    url
}

/// `raw` with `options` (server settings, `-c name=value …`) before the operator's own.
fn with_options(raw: &str, ours: &str) -> String {
    let ours = percent_encode(ours);
    let Some((base, query)) = raw.split_once('?') else {
        return format!("{raw}?options={ours}");
    };
    if query.split('&').all(|pair| key_of(pair) != "options") {
        return format!("{raw}&options={ours}");
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("options", "")) => format!("options={ours}"),
            Some(("options", theirs)) => format!("options={ours}%20{theirs}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

fn query_of(url: &str) -> &str {
    url.split_once('?').map(|(_, query)| query).unwrap_or("")
}

fn key_of(pair: &str) -> &str {
    pair.split_once('=').map(|(key, _)| key).unwrap_or(pair)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (libpq decodes `%XX` in URL
/// parameters, and takes `+` literally).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts() -> DbTimeouts {
        DbTimeouts {
            pool_wait: Duration::from_millis(3000),
            statement: Duration::from_millis(5000),
            lock: Duration::from_millis(3000),
            idle_in_transaction: Duration::from_millis(10_000),
            keepalive: Duration::from_secs(10),
        }
    }

    const OURS: &str = "options=-c%20statement_timeout%3D5000%20-c%20lock_timeout%3D3000\
                        %20-c%20idle_in_transaction_session_timeout%3D10000";

    #[test]
    fn a_plain_url_gets_every_bound() {
        assert_eq!(
            pooled_pg_url("postgres://u:p@db:5432/herald", &timeouts()),
            format!(
                "postgres://u:p@db:5432/herald?connect_timeout=5&keepalives=1&keepalives_idle=10\
                 &keepalives_interval=5&keepalives_count=3&tcp_user_timeout=6000&{OURS}"
            )
        );
    }

    #[test]
    fn parameters_in_the_url_win() {
        let url = pooled_pg_url("postgres://db/h?sslmode=require&keepalives_idle=60&connect_timeout=2", &timeouts());
        assert!(url.starts_with("postgres://db/h?sslmode=require&keepalives_idle=60&connect_timeout=2&keepalives=1&"));
        assert_eq!(url.matches("keepalives_idle=").count(), 1, "{url}");
        assert_eq!(url.matches("connect_timeout=").count(), 1, "{url}");
    }

    #[test]
    fn the_operators_options_come_after_ours_so_theirs_override() {
        let url = pooled_pg_url("postgres://db/h?options=-c%20statement_timeout%3D0&sslmode=disable", &timeouts());
        assert!(url.contains(&format!("{OURS}%20-c%20statement_timeout%3D0&sslmode=disable")), "{url}");
        assert_eq!(url.matches("options=").count(), 1, "{url}");
        let empty = pooled_pg_url("postgres://db/h?options=", &timeouts());
        assert!(empty.starts_with(&format!("postgres://db/h?{OURS}&connect_timeout=5&")), "{empty}");
    }

    #[test]
    fn migrations_get_no_statement_timeout() {
        assert_eq!(migration_pg_url("postgres://db/h"), "postgres://db/h?connect_timeout=5");
        assert_eq!(migration_pg_url("postgres://db/h?connect_timeout=9"), "postgres://db/h?connect_timeout=9");
    }

    #[test]
    fn the_bound_is_a_connection_a_statement_and_its_answer() {
        assert_eq!(timeouts().bound(), Duration::from_millis(9000));
    }
}
