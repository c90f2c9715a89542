//! `DbError`: how a database call failed, with its cause kept as the error's source. Two kinds
//! matter to callers: `Unavailable` (the database is down, hung or overloaded: retrying later
//! may work, and nothing was committed unless said) and `Failed` (a bug or an unexpected answer).
//! The edges map them to 503 and 500 (`crate::error`); the cause chain goes to the log only.

use std::sync::Arc;

/// The error that caused a `DbError`, shared: one failed batch answers each of its callers.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// The row asked for does not exist (or is not the caller's).
    #[error("not found")]
    NotFound,
    /// The idempotency key was first used with a different request: nothing was done.
    #[error("this idempotency key was used with a different request")]
    KeyReused,
    /// The database cannot answer now: unreachable, gone mid-request, hung past the bound,
    /// a pool wait or a statement or lock timeout.
    #[error("the database is unavailable: {reason}")]
    Unavailable {
        reason: &'static str,
        #[source]
        source: Option<Cause>,
    },
    /// Anything else: a query the database refused, a panic in a query.
    #[error("a database call failed: {reason}")]
    Failed {
        reason: &'static str,
        #[source]
        source: Option<Cause>,
    },
}

impl DbError {
    /// Unavailable for `reason`, with no further cause.
    pub fn unavailable(reason: &'static str) -> DbError {
        DbError::Unavailable { reason, source: None }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable { .. })
    }

    /// The same failure, known now to be the database's absence (its connection died).
    pub(in crate::db) fn into_unavailable(self) -> DbError {
        match self {
            DbError::Failed { reason, source } => DbError::Unavailable { reason, source },
            other => other,
        }
    }
}

impl From<diesel::result::Error> for DbError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => DbError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
                DbError::Unavailable { reason: "the connection failed", source: Some(Arc::new(err)) }
            }
            Error::DatabaseError(_, ref info) if is_session_timeout(info.message()) => DbError::Unavailable {
                reason: "a session timeout cancelled the statement",
                source: Some(Arc::new(err)),
            },
            other => DbError::Failed { reason: "the query failed", source: Some(Arc::new(other)) },
        }
    }
}

/// PostgreSQL cancelled the statement at the session's `statement_timeout` or `lock_timeout`
/// (the database is overloaded or a lock is held too long: retry later). Diesel does not expose
/// the SQLSTATE (57014, 55P03), so this reads the server's message, in its default English.
fn is_session_timeout(message: &str) -> bool {
    message.starts_with("canceling statement due to statement timeout")
        || message.starts_with("canceling statement due to lock timeout")
}

impl From<r2d2::Error> for DbError {
    fn from(err: r2d2::Error) -> Self {
        DbError::Unavailable { reason: "no pooled connection", source: Some(Arc::new(err)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_cancelled_by_a_session_timeout_are_unavailable() {
        use diesel::result::{DatabaseErrorKind, Error};
        let cancelled = |message: &str| {
            DbError::from(Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned())))
        };
        assert!(cancelled("canceling statement due to statement timeout").is_unavailable());
        assert!(cancelled("canceling statement due to lock timeout").is_unavailable());
        assert!(!cancelled("division by zero").is_unavailable());
    }

    #[test]
    fn the_cause_is_kept_as_the_source() {
        use diesel::result::{DatabaseErrorKind, Error};
        let err =
            DbError::from(Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new("division by zero".to_owned())));
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(source.to_string(), "division by zero");
    }
}
