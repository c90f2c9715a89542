//! The admin console's reads and its audit log: notifications across every user by
//! `AdminQuery` (newest first, keyset by id), one notification by id whoever owns it, and the
//! audit rows. Changes to a user's notifications go through the same statements as the user's
//! own (`notifications`), called by `crate::console`.

use super::connection::DbConnection;
use super::error::DbError;
use super::models::now;
use super::models::PreferenceRow;
use super::pool::Db;
use super::schema::{
    admin_audit as audit, inbox_state as state, notification_preferences as prefs, notifications as n,
};
use crate::domain::{
    AdminQuery, AuditEntry, AuditQuery, AuditRecord, BroadcastPreview, NotificationId, NotificationType,
    PreferenceQuery, StorageCap, StoredNotification, UserId, UserPreference,
};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

/// A page of rows, newest first, and the `before` of the next page when there may be one.
pub type KeysetPage<T> = (Vec<T>, Option<i64>);

impl Db {
    /// Notifications of every user matching `query`, newest first.
    pub async fn search_notifications(&self, query: AdminQuery) -> Result<KeysetPage<StoredNotification>, DbError> {
        self.run(move |conn| Ok(search(conn, &query)?)).await
    }

    /// One notification, whoever owns it.
    pub async fn notification(&self, id: NotificationId) -> Result<Option<StoredNotification>, DbError> {
        self.run(move |conn| Ok(n::table.find(id.get()).select(n::all_columns).first(conn).optional()?)).await
    }

    /// Who owns a notification (`None` when there is none).
    pub async fn notification_owner(&self, id: NotificationId) -> Result<Option<i64>, DbError> {
        self.run(move |conn| Ok(n::table.find(id.get()).select(n::user_id).first(conn).optional()?)).await
    }

    pub async fn record_audit(&self, entry: AuditEntry) -> Result<(), DbError> {
        self.run(move |conn| {
            let target_ids = serde_json::Value::from(entry.target_ids).to_string();
            diesel::insert_into(audit::table)
                .values((
                    audit::actor_id.eq(entry.actor.get()),
                    audit::action.eq(entry.action),
                    audit::target_user_id.eq(entry.target_user.map(|user| user.get())),
                    audit::target_ids.eq(target_ids),
                    audit::detail.eq(entry.detail.to_string()),
                    audit::created_at.eq(now()),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Stored preferences of every user matching `query`, ascending by user and type, and
    /// whether more follow.
    pub async fn search_preferences(&self, query: PreferenceQuery) -> Result<(Vec<UserPreference>, bool), DbError> {
        self.run(move |conn| {
            let mut page = prefs::table.into_boxed();
            if let Some(kind) = &query.kind {
                page = page.filter(prefs::notification_type.eq(kind.as_str()));
            }
            if let Some(enabled) = query.enabled {
                page = page.filter(prefs::enabled.eq(enabled));
            }
            if let Some(realtime) = query.realtime {
                page = page.filter(prefs::realtime.eq(realtime));
            }
            if let Some((user, kind)) = &query.after {
                page = page.filter(
                    prefs::user_id
                        .gt(user.get())
                        .or(prefs::user_id.eq(user.get()).and(prefs::notification_type.gt(kind.as_str()))),
                );
            }
            let mut rows = page
                .order((prefs::user_id.asc(), prefs::notification_type.asc()))
                .limit(query.limit + 1)
                .select(PreferenceRow::as_select())
                .load(conn)?;
            let more = rows.len() as i64 > query.limit;
            rows.truncate(query.limit as usize);
            let rows = rows
                .into_iter()
                .map(|row: PreferenceRow| UserPreference {
                    user_id: row.user_id,
                    notification_type: row.notification_type,
                    enabled: row.enabled,
                    realtime: row.realtime,
                })
                .collect();
            Ok((rows, more))
        })
        .await
    }

    /// What a broadcast of `kind` to `users` (distinct) would do now: their stored preferences
    /// for the type and their inboxes' unread counts against `cap`, as the broadcast reads them.
    pub async fn broadcast_preview(
        &self,
        users: Vec<UserId>,
        kind: NotificationType,
        cap: StorageCap,
    ) -> Result<BroadcastPreview, DbError> {
        self.run(move |conn| {
            let ids: Vec<i64> = users.iter().map(|user| user.get()).collect();
            let stored: Vec<(i64, bool, bool)> = prefs::table
                .filter(prefs::notification_type.eq(kind.as_str()).and(prefs::user_id.eq_any(&ids)))
                .select((prefs::user_id, prefs::enabled, prefs::realtime))
                .order(prefs::user_id.asc())
                .load(conn)?;
            let suppressed: Vec<i64> =
                stored.iter().filter(|(_, enabled, _)| !enabled).map(|(user, _, _)| *user).collect();
            let not_live = stored.iter().filter(|(_, enabled, realtime)| *enabled && !realtime).count() as i64;
            let inbox_full: Vec<i64> = state::table
                .filter(state::user_id.eq_any(&ids).and(state::unread_count.ge(cap.get())))
                .select(state::user_id)
                .order(state::user_id.asc())
                .load::<i64>(conn)?
                .into_iter()
                .filter(|user| suppressed.binary_search(user).is_err())
                .collect();
            Ok(BroadcastPreview { recipients: ids.len() as i64, suppressed, not_live, inbox_full })
        })
        .await
    }

    /// Deletes up to `batch` audit rows recorded before `cutoff`; returns how many (0 when done).
    pub async fn prune_audit_batch(&self, cutoff: chrono::NaiveDateTime, batch: i64) -> Result<usize, DbError> {
        self.run(move |conn| {
            let ids: Vec<i64> = audit::table
                .filter(audit::created_at.lt(cutoff))
                .select(audit::id)
                .order(audit::id.asc())
                .limit(batch)
                .load(conn)?;
            if ids.is_empty() {
                return Ok(0);
            }
            Ok(diesel::delete(audit::table.filter(audit::id.eq_any(&ids))).execute(conn)?)
        })
        .await
    }

    /// The audit log, newest first: `limit` rows with id below `before`.
    pub async fn audit_log(&self, query: AuditQuery) -> Result<KeysetPage<AuditRecord>, DbError> {
        self.run(move |conn| {
            let mut page = audit::table.into_boxed();
            if let Some(before) = query.before {
                page = page.filter(audit::id.lt(before));
            }
            let rows = page.order(audit::id.desc()).limit(query.limit + 1).load::<AuditRecord>(conn)?;
            Ok(keyset(rows, query.limit, |row| row.id))
        })
        .await
    }
}

fn search(conn: &mut DbConnection, query: &AdminQuery) -> QueryResult<KeysetPage<StoredNotification>> {
    let mut page = n::table.into_boxed();
    if let Some(user) = query.user {
        page = page.filter(n::user_id.eq(user.get()));
    }
    if !query.kinds.is_empty() {
        page = page.filter(n::notification_type.eq_any(query.kinds.iter().map(|kind| kind.as_str())));
    }
    if let Some(is_read) = query.is_read {
        page = page.filter(n::is_read.eq(is_read));
    }
    if let Some(sender) = query.sender {
        page = page.filter(n::sender_id.eq(sender.get()));
    }
    if let Some(after) = query.created_after {
        page = page.filter(n::created_at.ge(after));
    }
    if let Some(before) = query.created_before {
        page = page.filter(n::created_at.lt(before));
    }
    if let Some(words) = &query.search {
        // Bound, never spliced: `%`, `_` and `\` in the input match themselves.
        let pattern = format!("%{}%", escape_like(&words.to_lowercase()));
        page = page.filter(
            diesel::dsl::sql::<Bool>("(lower(title) LIKE ")
                .bind::<Text, _>(pattern.clone())
                .sql(" ESCAPE '\\' OR lower(message) LIKE ")
                .bind::<Text, _>(pattern)
                .sql(" ESCAPE '\\')"),
        );
    }
    if let Some(before) = query.before {
        page = page.filter(n::id.lt(before.get()));
    }
    let rows = page.order(n::id.desc()).limit(query.limit + 1).select(n::all_columns).load(conn)?;
    Ok(keyset(rows, query.limit, |row: &StoredNotification| row.id))
}

/// `rows` (at most `limit + 1`, newest first) cut to `limit`, and the next page's `before`
/// when a row was left over.
fn keyset<T>(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> KeysetPage<T> {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(id);
        (rows, next)
    } else {
        (rows, None)
    }
}

fn escape_like(words: &str) -> String {
    let mut escaped = String::with_capacity(words.len());
    for c in words.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
