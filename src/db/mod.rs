//! The database: PostgreSQL or SQLite, chosen by URL, and the only place SQL runs. Callers see
//! `Db` (the pool, `pool`) and its typed `async` methods, one module per concern:
//! `notifications`, `position`, `replay`, `preferences`, `idempotency`, `retention`, `admin` (the
//! console's reads across users and its audit log), `django` and `import` (reading the original
//! system's tables and writing them into Herald's, for `herald import-django`); group commit
//! is `batch`, and making room under the storage cap for any create is `room`. Portable queries are written once against `DbConnection`; `pg` and `sqlite` hold
//! the statements one backend writes its own way. Every failure is a `DbError`.

mod admin;
pub mod batch;
mod connection;
pub mod django;
mod error;
mod filtered;
mod idempotency;
pub mod import;
mod migrate;
pub mod models;
mod notifications;
mod pg;
mod pool;
mod position;
mod preferences;
mod replay;
mod retention;
mod room;
pub mod schema;
mod sqlite;
mod states;
mod timeouts;
mod transactions;

pub use admin::KeysetPage;
pub use connection::{establish, ConnectError, ConnectionSettings, DbConnection};
pub use error::DbError;
pub use idempotency::keys_expired_before;
pub use migrate::{migrate, MigrateError, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
pub use models::now;
pub use pool::{Db, PooledConnection};
pub use states::StateChange;
pub use timeouts::DbTimeouts;
pub use transactions::{CallerGaveUp, Transactions};
