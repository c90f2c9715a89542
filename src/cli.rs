//! The `herald` commands: their flags (clap) and what each does: `serve` (the default),
//! `migrate`, `prune`, `token`, `send`, `selftest`, `import-django`. Settings come only from the environment
//! (`config`), listed by `herald serve --help`; flags choose what to do. Exit codes: 2 for a
//! configuration a node must not run with, 1 for any other failure.

use crate::auth::mint::{self, MintError};
use crate::client::{ClientError, NodeClient};
use crate::config::{Config, ConfigError, ENV_VARS};
use crate::db::{ConnectionSettings, Db, DbError};
use crate::selftest::SelftestError;
use crate::startup::{Node, StartupError};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Real-time notification service (REST + WebSocket)",
    after_help = "Settings come from environment variables only: `herald serve --help` lists them."
)]
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
    Send(SendArgs),
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
    /// Import the original Django system's notifications and preferences into DATABASE_URL.
    ///
    /// Keeps ids, users, senders, read state and times; rebuilds unread counts and stream
    /// positions. Resumable (Ctrl-C finishes the batch in flight; run again to continue) and
    /// incremental (run again later to import what the source created since, and its
    /// read/unread/delete changes). Rows Herald's rules would refuse are kept and listed in the
    /// report; rows it cannot hold are skipped and listed. Exit 1 on failure (and with --verify
    /// when a user differs).
    #[command(name = "import-django")]
    ImportDjango(ImportArgs),
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

#[derive(Debug, Args)]
pub struct SendArgs {
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
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The original's database: postgres://user:password@host/db or sqlite://path/db.sqlite3
    /// (read only; opened read-only for SQLite).
    #[arg(long, value_parser = parse_source)]
    from: crate::config::DatabaseUrl,
    /// The original's notification table.
    #[arg(long, default_value = "authentication_notification")]
    notifications_table: String,
    /// The original's preference table.
    #[arg(long, default_value = "authentication_notificationpreference")]
    preferences_table: String,
    /// Read and check everything, write nothing (the report is still written).
    #[arg(long)]
    dry_run: bool,
    /// Source rows per transaction.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(i64).range(1..=50_000))]
    batch: i64,
    /// Compare the source and Herald per user (count, unread, newest id, checksums of ids and
    /// read flags) instead of importing; exit 1 when a user differs.
    #[arg(long)]
    verify: bool,
    /// Where rows kept with remarks, skipped or not imported are listed (CSV, appended).
    #[arg(long, default_value = "herald-import-report.csv")]
    report: std::path::PathBuf,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Startup(#[from] StartupError),
    #[error("{0}")]
    Serve(#[source] std::io::Error),
    #[error("{0}")]
    Migrate(#[source] crate::db::MigrateError),
    #[error("{0}")]
    Prune(#[source] DbError),
    #[error("{0}")]
    Mint(#[from] MintError),
    #[error("--data is not JSON: {0}")]
    Data(#[source] serde_json::Error),
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Selftest(#[from] SelftestError),
    #[error("import-django: {0}")]
    Import(#[from] crate::django_import::ImportError),
    #[error("import-django --verify: {0} user(s) differ")]
    Differ(usize),
    #[error("import-django: interrupted; run the same command again to continue")]
    Interrupted,
}

impl CommandError {
    /// 2 for a configuration the node refuses, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Config(_) => 2,
            _ => 1,
        }
    }
}

/// The command line, with every environment variable listed under `herald serve --help`.
pub fn parse() -> Cli {
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|err| err.exit())
}

/// The clap command of `Cli`, with `environment_help` under `serve`.
fn command() -> clap::Command {
    Cli::command().mut_subcommand("serve", |serve| serve.after_help(environment_help()))
}

/// `ENV_VARS` as help text: name, default and meaning of each.
fn environment_help() -> String {
    let rows = ENV_VARS.iter().map(|var| {
        let default = if var.default.is_empty() { "(unset)".to_owned() } else { format!("[default: {}]", var.default) };
        format!("  {} {default}\n          {}\n", var.name, var.doc)
    });
    std::iter::once("Environment variables:\n".to_owned()).chain(rows).collect()
}

/// Runs the command (`serve` when none is given) with the configuration from the environment.
pub fn run(command: Option<Command>) -> Result<(), CommandError> {
    let config = Config::from_env()?;
    match command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Migrate => migrate(&config),
        Command::Prune { older_than, read_only } => prune(&config, older_than, read_only),
        Command::Send(args) => send(&config, args),
        Command::Selftest { url, user, token } => selftest(&config, &url, user, token),
        Command::ImportDjango(args) => import_django(&config, args),
        Command::Token { user, staff, ttl } => {
            println!("{}", mint::operator_token(&config.jwt, user, staff, ttl)?);
            Ok(())
        }
    }
}

/// Serving is checked apart from the rest of the configuration: `migrate` and `prune` run in
/// the same image, where HERALD_BIND is 0.0.0.0, and need no JWT_SECRET.
fn serve(config: Config) -> Result<(), CommandError> {
    config.check_serving()?;
    actix_web::rt::System::new().block_on(async move {
        let bind = config.bind;
        let dev_token = mint::development_token(&config)?;
        let node = Node::build(config)?;
        let url = format!("http://{}:{}", bind.ip(), node.port());
        say(&format!("Herald listening on {url}"));
        say(&format!("Test page: {url}/"));
        if let Some(token) = dev_token {
            log::warn!(
                "JWT_SECRET is not set: tokens are checked against a random secret made for this process. For \
                 development on loopback only."
            );
            say(&format!("Development token (user 1, staff, valid 24h; dies with this process):\n{token}"));
            say(&format!("Try: curl -H \"Authorization: Bearer {token}\" {url}/auth/notifications/"));
        }
        node.run_until_signalled().await.map_err(CommandError::Serve)
    })
}

fn migrate(config: &Config) -> Result<(), CommandError> {
    let ran = crate::db::migrate(&config.database).map_err(CommandError::Migrate)?;
    println!("applied {ran} migration(s) to {:?}", config.database);
    Ok(())
}

/// Prunes notifications, then admin audit records and expired idempotency keys whatever became
/// of the others (each printed); fails with the first error.
fn prune(config: &Config, older_than: Duration, read_only: bool) -> Result<(), CommandError> {
    let db = Db::new(&config.database, 2, ConnectionSettings::from_config(config));
    actix_web::rt::System::new().block_on(async move {
        let notifications = crate::retention::prune(&db, older_than, read_only).await;
        if let Ok(deleted) = &notifications {
            say(&format!("deleted {deleted} notification(s)"));
        }
        let keys = crate::retention::prune_idempotency_keys(&db).await;
        if let Ok(deleted) = &keys {
            say(&format!("deleted {deleted} expired idempotency key(s)"));
        }
        let audit = crate::retention::prune_audit(&db, older_than).await;
        if let Ok(deleted) = &audit {
            say(&format!("deleted {deleted} admin audit record(s)"));
        }
        notifications.and(keys).and(audit).map(|_| ()).map_err(CommandError::Prune)
    })
}

fn send(config: &Config, args: SendArgs) -> Result<(), CommandError> {
    let token = mint::client_token(&config.jwt, args.user, args.token)?;
    let data: serde_json::Value = match args.data {
        None => serde_json::json!({}),
        Some(raw) => serde_json::from_str(&raw).map_err(CommandError::Data)?,
    };
    let body = serde_json::json!({
        "user_id": args.user, "title": args.title, "message": args.message, "type": args.kind, "data": data,
        "link": args.link,
    });
    actix_web::rt::System::new().block_on(async move {
        let stored = NodeClient::new(&args.url, &token).create(&body).await?;
        say(&serde_json::to_string_pretty(&stored).unwrap_or_default());
        Ok(())
    })
}

fn selftest(config: &Config, url: &str, user: i64, token: Option<String>) -> Result<(), CommandError> {
    let token = mint::client_token(&config.jwt, user, token)?;
    Ok(actix_web::rt::System::new().block_on(crate::selftest::selftest(url, &token, user))?)
}

fn import_django(config: &Config, args: ImportArgs) -> Result<(), CommandError> {
    let options = crate::django_import::ImportOptions {
        from: args.from,
        notifications_table: args.notifications_table,
        preferences_table: args.preferences_table,
        batch: args.batch,
        dry_run: args.dry_run,
        report: args.report,
        types: config.notification_types.clone(),
    };
    if args.verify {
        let (users, differ) = crate::django_import::verify(&config.database, &options)?;
        crate::django_import::verify::describe(&differ).iter().for_each(|line| say(line));
        say(&format!("verify: {users} users compared, {} differ", differ.len()));
        return if differ.is_empty() { Ok(()) } else { Err(CommandError::Differ(differ.len())) };
    }
    let summary = crate::django_import::run(&config.database, &options)?;
    let what = if options.dry_run { "dry run (nothing written)" } else { "import" };
    say(&format!("{what}: {summary}; report: {}", options.report.display()));
    if summary.interrupted {
        return Err(CommandError::Interrupted);
    }
    Ok(())
}

/// `--from`: a PostgreSQL or SQLite URL.
fn parse_source(raw: &str) -> Result<crate::config::DatabaseUrl, crate::config::BadDatabaseUrl> {
    crate::config::DatabaseUrl::parse(raw)
}

/// Prints a line for the operator; a closed stdout (a supervisor that stopped reading) must not
/// bring the node down, so write errors are ignored.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Why a `--ttl`/`--older-than` value is refused (clap shows the message).
#[derive(Debug, thiserror::Error)]
pub enum BadDuration {
    #[error("{0} (examples: 15m, 1h, 7d)")]
    Unparsable(#[source] humantime::DurationError),
    #[error("must be at least one second")]
    UnderASecond,
}

/// A `--ttl`/`--older-than` value: a humantime duration of at least a second.
fn parse_ttl(raw: &str) -> Result<Duration, BadDuration> {
    let ttl = humantime::parse_duration(raw).map_err(BadDuration::Unparsable)?;
    if ttl.as_secs() == 0 {
        return Err(BadDuration::UnderASecond);
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_help_lists_every_variable_with_its_default_and_meaning() {
        let mut command = command();
        let help = command.find_subcommand_mut("serve").expect("serve").render_long_help().to_string();
        for var in ENV_VARS {
            let default =
                if var.default.is_empty() { "(unset)".to_owned() } else { format!("[default: {}]", var.default) };
            assert!(help.contains(&format!("{} {default}\n", var.name)), "{} missing: {help}", var.name);
            assert!(help.contains(var.doc), "the doc of {} missing", var.name);
        }
    }
}
