//! `herald import-django`: the original Django system's data moved into Herald from PostgreSQL
//! and SQLite sources, seen through Herald's own REST API and sockets; stopped and resumed
//! without a duplicate; run again after the original changed; verified per user.

mod fields;
mod resume;
mod source;
