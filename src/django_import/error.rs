//! Why an import (or its verification) stopped.

use crate::db::{ConnectError, DbError, MigrateError};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0:?} is not a table name (letters, digits and _, optionally schema.table)")]
    BadTable(String),
    #[error("the source: {0}")]
    Source(#[source] ConnectError),
    #[error("Herald's database: {0}")]
    Target(#[source] ConnectError),
    #[error("Herald's database: {0}")]
    Migrate(#[source] MigrateError),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    #[error("{0}")]
    Store(#[from] DbError),
    #[error("the report file {}: {source}", path.display())]
    Report { path: PathBuf, source: std::io::Error },
    #[error("cannot watch for Ctrl-C: {0}")]
    Signals(#[source] std::io::Error),
}
