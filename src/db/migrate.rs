//! Migrations: the two embedded sets (one per backend, same names) and running the pending ones,
//! serialized across nodes that start at once against one PostgreSQL.

use super::connection::{establish, ConnectError, DbConnection};
use crate::config::DatabaseUrl;
use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Serializes migrations of several nodes starting at once against one PostgreSQL.
const MIGRATION_LOCK_KEY: i64 = 0x4845_5241_4c44; // "HERALD"

/// Why the migrations did not run.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The advisory lock that serializes nodes could not be taken.
    #[error("{0}")]
    Lock(#[source] diesel::result::Error),
    #[error("{0}")]
    Run(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Runs every pending migration of the URL's backend; returns how many ran.
pub fn migrate(url: &DatabaseUrl) -> Result<usize, MigrateError> {
    match establish(url, None)? {
        DbConnection::Pg(mut c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).map_err(MigrateError::Lock)?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()).map_err(MigrateError::Run);
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            result
        }
        DbConnection::Sqlite(mut c) => {
            c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()).map_err(MigrateError::Run)
        }
    }
}
