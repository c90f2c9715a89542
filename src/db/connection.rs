//! A connection to PostgreSQL or SQLite (`DbConnection`), opened by the URL's scheme with each
//! backend's session settings (`ConnectionSettings`). Diesel's multi-connection derive makes `DbConnection` a
//! `Connection` itself, so a portable query is written once against it; the statements it cannot
//! express (upserts, batch inserts, array binds) are in `pg` and `sqlite`.

use super::timeouts::{self, DbTimeouts};
use crate::config::{Config, DatabaseUrl, SqliteSynchronous};
use diesel::connection::SimpleConnection;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::{Connection, PgConnection, QueryResult, SqliteConnection};
use std::path::PathBuf;

/// A live connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    /// Rows per statement for a list bound one value per row: PostgreSQL binds each list as one
    /// array; SQLite allows 32,766 binds, ten per row at most here.
    pub fn batch_rows(&self) -> usize {
        match self {
            DbConnection::Pg(_) => 10_000,
            DbConnection::Sqlite(_) => 1000,
        }
    }

    /// Executes a statement built once for both backends that the multi-connection cannot run
    /// (it has no `ON CONFLICT`), typed for the backend this connection is.
    pub fn execute_typed<Q>(&mut self, statement: Q) -> QueryResult<usize>
    where
        Q: ExecuteDsl<PgConnection> + ExecuteDsl<SqliteConnection>,
    {
        match self {
            DbConnection::Pg(c) => <Q as ExecuteDsl<PgConnection>>::execute(statement, c),
            DbConnection::Sqlite(c) => <Q as ExecuteDsl<SqliteConnection>>::execute(statement, c),
        }
    }
}

/// Why a connection could not be opened or checked, with the driver's error as its source.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[source] diesel::ConnectionError),
    #[error("SQLite {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: diesel::ConnectionError,
    },
    #[error("SQLite pragmas: {0}")]
    SqlitePragmas(#[source] diesel::result::Error),
    /// A pooled connection that no longer answers.
    #[error("{0}")]
    Check(#[source] diesel::result::Error),
}

/// How a node's connections (pooled, and each group-commit writer's) are set up: PostgreSQL's
/// session bounds, SQLite's durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub timeouts: DbTimeouts,
    pub sqlite_synchronous: SqliteSynchronous,
}

impl ConnectionSettings {
    pub fn from_config(config: &Config) -> ConnectionSettings {
        ConnectionSettings { timeouts: DbTimeouts::from_config(config), sqlite_synchronous: config.sqlite_synchronous }
    }
}

/// Opens one connection, with SQLite's pragmas set. A PostgreSQL connection of a node
/// (`settings` given) gets the session bounds and keepalives; one without (migrations) only the
/// connect timeout. SQLite syncs every commit (`FULL`) unless `settings` say `NORMAL`.
pub fn establish(url: &DatabaseUrl, settings: Option<&ConnectionSettings>) -> Result<DbConnection, ConnectError> {
    match url {
        DatabaseUrl::Postgres(raw) => {
            let url = match settings {
                Some(settings) => timeouts::pooled_pg_url(raw, &settings.timeouts),
                None => timeouts::migration_pg_url(raw),
            };
            PgConnection::establish(&url).map(DbConnection::Pg).map_err(ConnectError::Postgres)
        }
        DatabaseUrl::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                .map_err(|source| ConnectError::Sqlite { path: path.clone(), source })?;
            let synchronous = settings.map_or(SqliteSynchronous::Full, |s| s.sqlite_synchronous).pragma();
            // The busy timeout first: `journal_mode` needs a lock, and without it a connection
            // opened while another writes failed at once ("database is locked").
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
            ))
            .map_err(ConnectError::SqlitePragmas)?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// Whether the connection still answers (`SELECT 1`): the server may have closed it while it sat
/// idle (a restart, `pg_terminate_backend`).
pub fn answers(conn: &mut DbConnection) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}
