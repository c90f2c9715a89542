//! Idempotency keys: claiming one inside a create or broadcast transaction, recording the reply
//! a repeat gets, and expiring keys past their replay window.

use super::connection::DbConnection;
use super::error::DbError;
use super::models::{now, IdempotencyRow};
use super::pool::Db;
use super::schema::idempotency_keys as keys;
use crate::domain::{IdempotencyKey, Idempotent, RenderReply, StoredReply};
use diesel::prelude::*;

/// How long an idempotency key replays its first reply.
const IDEMPOTENCY_WINDOW_HOURS: i64 = 24;

impl Db {
    /// Deletes up to `batch` idempotency keys created before `expired_before` (the oldest
    /// first), in one short statement; returns how many (fewer than `batch`: none are left).
    /// Several nodes may prune at once: on PostgreSQL each skips the keys another one is
    /// deleting.
    pub async fn prune_idempotency_keys(
        &self,
        expired_before: chrono::NaiveDateTime,
        batch: i64,
    ) -> Result<usize, DbError> {
        self.run(move |conn| {
            Ok(match conn {
                DbConnection::Pg(c) => super::pg::prune_idempotency_keys(c, expired_before, batch)?,
                DbConnection::Sqlite(c) => super::sqlite::prune_idempotency_keys(c, expired_before, batch)?,
            })
        })
        .await
    }
}

/// Keys claimed before this no longer replay their reply: retention deletes them.
pub fn keys_expired_before(now: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    now - chrono::Duration::hours(IDEMPOTENCY_WINDOW_HOURS)
}

/// Runs `work` once per key: with a key already claimed, its recorded reply instead (or
/// `DbError::KeyReused` when the key came with another request); else `work`'s outcome, its
/// rendered reply recorded under the key in the same transaction. Without a key, just `work`.
pub fn once<T>(
    conn: &mut DbConnection,
    idempotency: Option<&(IdempotencyKey, RenderReply<T>)>,
    work: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
) -> Result<Idempotent<T>, DbError> {
    if let Some(replay) = claim(conn, idempotency.map(|(key, _)| key))? {
        return Ok(Idempotent::Replay(replay));
    }
    let outcome = work(conn)?;
    if let Some((key, render)) = idempotency {
        finish(conn, key, &render(&outcome))?;
    }
    Ok(Idempotent::Fresh(outcome))
}

/// Claims the key for this request, or returns the reply recorded by the first one when it came
/// with the same request (`request_hash`), else `DbError::KeyReused`. On PostgreSQL a concurrent
/// repeat blocks on the first one's uncommitted insert and then sees its reply; SQLite serializes
/// the two transactions outright.
pub fn claim(conn: &mut DbConnection, key: Option<&IdempotencyKey>) -> Result<Option<StoredReply>, DbError> {
    let Some(key) = key else { return Ok(None) };
    let now = now();
    let row = IdempotencyRow {
        caller_id: key.caller.get(),
        key: key.scoped_key.clone(),
        response_status: 0,
        response_body: String::new(),
        created_at: now,
        request_hash: key.request_hash.clone(),
    };
    if conn.execute_typed(diesel::insert_into(keys::table).values(row).on_conflict_do_nothing())? == 1 {
        return Ok(None);
    }
    let expired_before = now - chrono::Duration::hours(IDEMPOTENCY_WINDOW_HOURS);
    let this_key = keys::table.filter(keys::caller_id.eq(key.caller.get())).filter(keys::key.eq(&key.scoped_key));
    let reclaimed = diesel::update(this_key.filter(keys::created_at.lt(expired_before)))
        .set((
            keys::response_status.eq(0),
            keys::response_body.eq(""),
            keys::created_at.eq(now),
            keys::request_hash.eq(&key.request_hash),
        ))
        .execute(conn)?;
    if reclaimed == 1 {
        return Ok(None);
    }
    let row = this_key.select(IdempotencyRow::as_select()).first(conn)?;
    // '' : claimed before requests were fingerprinted; replayed as then.
    if !row.request_hash.is_empty() && row.request_hash != key.request_hash {
        return Err(DbError::KeyReused);
    }
    Ok(Some(StoredReply { status: u16::try_from(row.response_status).unwrap_or(500), body: row.response_body }))
}

/// Records the reply a repeat of the key gets.
pub fn finish(conn: &mut DbConnection, key: &IdempotencyKey, reply: &StoredReply) -> QueryResult<()> {
    diesel::update(keys::table.filter(keys::caller_id.eq(key.caller.get())).filter(keys::key.eq(&key.scoped_key)))
        .set((keys::response_status.eq(i32::from(reply.status)), keys::response_body.eq(&reply.body)))
        .execute(conn)?;
    Ok(())
}
