//! `DatabaseUrl`: where notifications are stored (PostgreSQL or a SQLite file), parsed from
//! `DATABASE_URL`, with a `Debug` that never shows a password; and `SqliteSynchronous`, when a
//! SQLite commit is durable (`HERALD_SQLITE_SYNCHRONOUS`).

use std::fmt;
use std::path::PathBuf;

/// Where notifications are stored.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum BadDatabaseUrl {
    #[error("sqlite:// needs a file path, e.g. sqlite://herald.db")]
    NoSqlitePath,
    #[error("expected postgres://… or sqlite://path")]
    UnknownScheme,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, BadDatabaseUrl> {
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(raw.to_owned()))
        } else if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(BadDatabaseUrl::NoSqlitePath);
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else {
            Err(BadDatabaseUrl::UnknownScheme)
        }
    }

    /// The store of a node with `DATABASE_URL` unset: the SQLite file `herald.db`.
    pub fn embedded() -> Self {
        DatabaseUrl::Sqlite(PathBuf::from("herald.db"))
    }
}

/// SQLite's `PRAGMA synchronous` on every connection of a node (WAL mode): when a commit is
/// acknowledged, is it on disk?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSynchronous {
    /// Every commit is synced to disk before it is acknowledged (the default).
    Full,
    /// Commits are synced at WAL checkpoints only: faster, but a power loss or OS crash may lose
    /// the last acknowledged commits (a crash of Herald alone loses nothing).
    Normal,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "expected `full` (every acknowledged commit is on disk) or `normal` (faster; a power loss may lose the last ones)"
)]
pub struct BadSqliteSynchronous;

impl SqliteSynchronous {
    pub fn parse(raw: &str) -> Result<Self, BadSqliteSynchronous> {
        match raw.to_ascii_lowercase().as_str() {
            "full" => Ok(SqliteSynchronous::Full),
            "normal" => Ok(SqliteSynchronous::Normal),
            _ => Err(BadSqliteSynchronous),
        }
    }

    /// The `PRAGMA synchronous` value.
    pub fn pragma(self) -> &'static str {
        match self {
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Normal => "NORMAL",
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    /// Never prints a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    write!(f, "{parsed}")
                }
                Err(_) => write!(f, "postgres://***"),
            },
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}
