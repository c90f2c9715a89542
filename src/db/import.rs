//! Writing an import from the original Django system into Herald's tables (`herald
//! import-django`): batches of notifications with their own ids, each in one transaction with
//! the inbox counts and stream positions of their users and the source's checkpoint (so a run
//! that stopped anywhere resumes without a duplicate), later read/unread/delete changes, and
//! preferences. Counts move by deltas, exactly as a create or delete moves them; every affected
//! user's stream position advances, so an open socket repairs from the database.

use super::connection::DbConnection;
use super::error::DbError;
use super::schema::{django_import as checkpoint, notification_preferences as prefs, notifications as n};
use super::transactions::Transactions;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use std::collections::BTreeMap;

/// A notification as Herald stores it, with the id it had in the source.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = n, treat_none_as_default_value = false)]
pub struct ImportedNotification {
    pub id: i64,
    pub user_id: i64,
    pub sender_id: Option<i64>,
    pub notification_type: String,
    pub title: String,
    pub message: String,
    pub data: String,
    pub link: Option<String>,
    pub is_read: bool,
    pub realtime: bool,
    pub read_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// A stored preference, as imported.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = prefs)]
pub struct ImportedPreference {
    pub user_id: i64,
    pub notification_type: String,
    pub enabled: bool,
    pub realtime: bool,
}

/// A change the source made to a notification already imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceChange {
    Read { id: i64, user: i64, at: NaiveDateTime },
    Unread { id: i64, user: i64 },
    Deleted { id: i64, user: i64, was_read: bool },
}

/// What a batch did: rows inserted, and ids Herald already held (a notification created in
/// Herald took the id; the source's row is not imported, and is reported).
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub inserted: usize,
    pub taken: Vec<i64>,
}

/// Per user: (total, unread) to add.
type Deltas = BTreeMap<i64, (i64, i64)>;

/// Where the import of `source` stands: the last source id covered, and rows imported so far.
pub fn checkpoint_of(conn: &mut DbConnection, source: &str) -> QueryResult<Option<(i64, i64)>> {
    checkpoint::table
        .filter(checkpoint::source.eq(source))
        .select((checkpoint::last_id, checkpoint::imported))
        .first(conn)
        .optional()
}

/// Makes Herald's own ids continue past `at_least` (PostgreSQL's sequence; SQLite's
/// AUTOINCREMENT follows the largest id inserted by itself).
pub fn raise_id_sequence(conn: &mut DbConnection, at_least: i64) -> QueryResult<()> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query(
            "SELECT setval(pg_get_serial_sequence('notifications', 'id'), \
             GREATEST($1, (SELECT COALESCE(max(id), 0) FROM notifications), 1))",
        )
        .bind::<diesel::sql_types::BigInt, _>(at_least)
        .execute(c)?;
    }
    Ok(())
}

/// Stores one batch (ascending ids) in one transaction, with its users' counts and positions and
/// the checkpoint `last_id` of `source`.
pub fn import_batch(
    conn: &mut DbConnection,
    source: &str,
    rows: Vec<ImportedNotification>,
    last_id: i64,
) -> Result<BatchOutcome, DbError> {
    conn.write_transaction(|conn| {
        let (first, last) = (rows.first().map_or(0, |r| r.id), rows.last().map_or(0, |r| r.id));
        let held: Vec<i64> = n::table.filter(n::id.between(first, last)).select(n::id).load(conn)?;
        let (taken, fresh): (Vec<ImportedNotification>, Vec<ImportedNotification>) =
            rows.into_iter().partition(|r| held.binary_search(&r.id).is_ok());
        for chunk in fresh.chunks(conn.batch_rows() / 10) {
            conn.execute_typed(diesel::insert_into(n::table).values(chunk))?;
        }
        let mut deltas = Deltas::new();
        for row in &fresh {
            let entry = deltas.entry(row.user_id).or_default();
            *entry = (entry.0 + 1, entry.1 + i64::from(!row.is_read));
        }
        apply_deltas(conn, &deltas)?;
        advance_checkpoint(conn, source, last_id, fresh.len() as i64)?;
        Ok(BatchOutcome { inserted: fresh.len(), taken: taken.iter().map(|r| r.id).collect() })
    })
}

/// Herald's notifications with ids in `(after, up_to]`, ascending: (id, user, read).
pub fn held_states(conn: &mut DbConnection, (after, up_to): (i64, i64)) -> QueryResult<Vec<(i64, i64, bool)>> {
    n::table
        .filter(n::id.gt(after).and(n::id.le(up_to)))
        .order(n::id)
        .select((n::id, n::user_id, n::is_read))
        .load(conn)
}

/// Applies the source's changes to imported notifications, in one transaction.
pub fn apply_changes(conn: &mut DbConnection, changes: &[SourceChange]) -> Result<(), DbError> {
    if changes.is_empty() {
        return Ok(());
    }
    conn.write_transaction(|conn| {
        let mut deltas = Deltas::new();
        for change in changes {
            let (user, delta) = match *change {
                SourceChange::Read { id, user, at } => {
                    let set = (n::is_read.eq(true), n::read_at.eq(Some(at)));
                    diesel::update(n::table.filter(n::id.eq(id))).set(set).execute(conn)?;
                    (user, (0, -1))
                }
                SourceChange::Unread { id, user } => {
                    let set = (n::is_read.eq(false), n::read_at.eq(None::<NaiveDateTime>));
                    diesel::update(n::table.filter(n::id.eq(id))).set(set).execute(conn)?;
                    (user, (0, 1))
                }
                SourceChange::Deleted { id, user, was_read } => {
                    diesel::delete(n::table.filter(n::id.eq(id))).execute(conn)?;
                    (user, (-1, -i64::from(!was_read)))
                }
            };
            let entry = deltas.entry(user).or_default();
            *entry = (entry.0 + delta.0, entry.1 + delta.1);
        }
        Ok(apply_deltas(conn, &deltas)?)
    })
}

/// Stores the source's preferences as they are (a preference Herald holds for the same user
/// and type takes the source's values), in one transaction: one statement per chunk on
/// PostgreSQL; one per row on SQLite (in process; diesel has no multi-row upsert there).
pub fn import_preferences(conn: &mut DbConnection, rows: &[ImportedPreference]) -> Result<(), DbError> {
    let key = (prefs::user_id, prefs::notification_type);
    let theirs = (prefs::enabled.eq(excluded(prefs::enabled)), prefs::realtime.eq(excluded(prefs::realtime)));
    conn.write_transaction(|conn| {
        match conn {
            DbConnection::Pg(c) => {
                for chunk in rows.chunks(1000) {
                    diesel::insert_into(prefs::table)
                        .values(chunk)
                        .on_conflict(key)
                        .do_update()
                        .set(theirs)
                        .execute(c)?;
                }
            }
            DbConnection::Sqlite(c) => {
                for row in rows {
                    diesel::insert_into(prefs::table)
                        .values(row)
                        .on_conflict(key)
                        .do_update()
                        .set(theirs)
                        .execute(c)?;
                }
            }
        }
        Ok(())
    })
}

/// Adds each user's (total, unread) to their inbox row (made when missing) and advances their
/// stream position by one.
fn apply_deltas(conn: &mut DbConnection, deltas: &Deltas) -> QueryResult<()> {
    match conn {
        DbConnection::Pg(c) => {
            use diesel::sql_types::{Array, BigInt};
            let users: Vec<i64> = deltas.keys().copied().collect();
            let totals: Vec<i64> = deltas.values().map(|d| d.0).collect();
            let unread: Vec<i64> = deltas.values().map(|d| d.1).collect();
            diesel::sql_query(
                "INSERT INTO inbox_state AS s (user_id, unread_count, last_seq, total_count) \
                 SELECT u, r, 1, t FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS d(u, t, r) ORDER BY u \
                 ON CONFLICT (user_id) DO UPDATE SET unread_count = s.unread_count + excluded.unread_count, \
                 total_count = s.total_count + excluded.total_count, last_seq = s.last_seq + 1",
            )
            .bind::<Array<BigInt>, _>(&users)
            .bind::<Array<BigInt>, _>(&totals)
            .bind::<Array<BigInt>, _>(&unread)
            .execute(c)?;
        }
        DbConnection::Sqlite(c) => {
            use diesel::sql_types::BigInt;
            for (user, (total, unread)) in deltas {
                diesel::sql_query(
                    "INSERT INTO inbox_state (user_id, unread_count, last_seq, total_count) VALUES (?1, ?3, 1, ?2) \
                     ON CONFLICT (user_id) DO UPDATE SET unread_count = unread_count + excluded.unread_count, \
                     total_count = total_count + excluded.total_count, last_seq = last_seq + 1",
                )
                .bind::<BigInt, _>(*user)
                .bind::<BigInt, _>(*total)
                .bind::<BigInt, _>(*unread)
                .execute(c)?;
            }
        }
    }
    Ok(())
}

fn advance_checkpoint(conn: &mut DbConnection, source: &str, last_id: i64, inserted: i64) -> QueryResult<usize> {
    let now = super::models::now();
    conn.execute_typed(
        diesel::insert_into(checkpoint::table)
            .values((
                checkpoint::source.eq(source),
                checkpoint::last_id.eq(last_id),
                checkpoint::imported.eq(inserted),
                checkpoint::updated_at.eq(now),
            ))
            .on_conflict(checkpoint::source)
            .do_update()
            .set((
                checkpoint::last_id.eq(excluded(checkpoint::last_id)),
                checkpoint::imported.eq(checkpoint::imported + excluded(checkpoint::imported)),
                checkpoint::updated_at.eq(excluded(checkpoint::updated_at)),
            )),
    )
}
