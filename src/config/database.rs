//! `DatabaseUrl`: where notifications are stored (PostgreSQL or a SQLite file), parsed from
//! `DATABASE_URL`, with a `Debug` that never shows a password.

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
