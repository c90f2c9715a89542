//! The `herald` binary: parse the command line, set up logging, dispatch. No logic lives here.

use clap::Parser;
use herald::auth::mint::mint_token;
use herald::cli::{Cli, Command};
use herald::config::Config;
use herald::domain::UserId;
use herald::startup::Node;
use std::process::ExitCode;
use std::time::Duration;

/// Lifetime of the development token printed at start.
const DEV_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The redis crate logs every attempt of its cluster connections to reach a failed master
    // (hundreds of lines a minute until the master is forgotten); Herald logs the outage and the
    // recovery itself. `RUST_LOG=info,redis=warn` shows the crate's lines too.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(herald::config::default_of("RUST_LOG")))
        .init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("herald: {err}");
            return ExitCode::from(2);
        }
    };
    // Serving is checked apart: `migrate` and `prune` run in the same image, where HERALD_BIND is
    // 0.0.0.0, and need no JWT_SECRET.
    let command = cli.command.unwrap_or(Command::Serve);
    if let (Command::Serve, Err(err)) = (&command, config.check_serving()) {
        eprintln!("herald: {err}");
        return ExitCode::from(2);
    }
    let result = match command {
        Command::Serve => serve(config),
        Command::Migrate => herald::db::migrate(&config.database)
            .map(|ran| println!("applied {ran} migration(s) to {:?}", config.database))
            .map_err(|e| e.to_string()),
        Command::Token { user, staff, ttl } => token(&config, user, staff, ttl),
        Command::Prune { older_than, read_only } => prune(&config, older_than, read_only),
        Command::Send { user, title, message, kind, data, link, url, token } => {
            send(&config, user, title, message, kind, data, link, &url, token)
        }
        Command::Selftest { url, user, token } => selftest(&config, &url, user, token),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herald: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> Result<(), String> {
    actix_web::rt::System::new().block_on(async move {
        let bind = config.bind;
        let dev_token = if config.uses_development_secret() {
            let user = UserId::new(1).ok_or("user id")?;
            Some(mint_token(&config.jwt, user, true, DEV_TOKEN_TTL)?)
        } else {
            None
        };
        let node = Node::build(config).map_err(|e| e.to_string())?;
        let url = format!("http://{}:{}", bind.ip(), node.port());
        say(&format!("Herald listening on {url}"));
        say(&format!("Test page: {url}/"));
        if let Some(token) = dev_token {
            log::warn!("JWT_SECRET is not set: tokens are checked against a random secret made for this process. For development on loopback only.");
            say(&format!("Development token (user 1, staff, valid 24h; dies with this process):\n{token}"));
            say(&format!("Try: curl -H \"Authorization: Bearer {token}\" {url}/auth/notifications/"));
        }
        node.run_until_signalled().await.map_err(|e| e.to_string())
    })
}

fn prune(config: &Config, older_than: Duration, read_only: bool) -> Result<(), String> {
    let db = herald::db::Db::new(&config.database, 2, herald::db::DbTimeouts::from_config(config));
    actix_web::rt::System::new().block_on(async move {
        let deleted = herald::retention::prune(&db, older_than, read_only).await.map_err(|e| e.to_string())?;
        println!("deleted {deleted} notification(s)");
        Ok(())
    })
}

/// The token a client command uses: the one given, else a staff token minted from JWT_SECRET.
fn client_token(config: &Config, user: i64, given: Option<String>) -> Result<String, String> {
    if let Some(token) = given {
        return Ok(token);
    }
    if config.jwt.secret_is_generated {
        return Err("give --token, or set JWT_SECRET to the node's secret so a token can be minted".into());
    }
    let user = UserId::new(user).ok_or("--user must be a positive integer")?;
    mint_token(&config.jwt, user, true, Duration::from_secs(600))
}

#[allow(clippy::too_many_arguments)]
fn send(
    config: &Config,
    user: i64,
    title: String,
    message: String,
    kind: String,
    data: Option<String>,
    link: Option<String>,
    url: &str,
    token: Option<String>,
) -> Result<(), String> {
    let token = client_token(config, user, token)?;
    let data: serde_json::Value = match data {
        None => serde_json::json!({}),
        Some(raw) => serde_json::from_str(&raw).map_err(|e| format!("--data is not JSON: {e}"))?,
    };
    let body = serde_json::json!({"user_id": user, "title": title, "message": message, "type": kind, "data": data, "link": link});
    actix_web::rt::System::new().block_on(async move {
        let stored = herald::selftest::send(url, &token, &body).await?;
        say(&serde_json::to_string_pretty(&stored).unwrap_or_default());
        Ok(())
    })
}

fn selftest(config: &Config, url: &str, user: i64, token: Option<String>) -> Result<(), String> {
    let token = client_token(config, user, token)?;
    actix_web::rt::System::new().block_on(herald::selftest::selftest(url, &token, user))
}

/// Prints a line for the operator; a closed stdout (a supervisor that stopped reading) must not
/// bring the node down, so write errors are ignored.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn token(config: &Config, user: i64, staff: bool, ttl: Duration) -> Result<(), String> {
    if config.jwt.secret_is_generated {
        return Err("JWT_SECRET is not set: set it to the secret your nodes use, or the token would be signed with a random one".into());
    }
    let user = UserId::new(user).ok_or("--user must be a positive integer")?;
    println!("{}", mint_token(&config.jwt, user, staff, ttl)?);
    Ok(())
}
