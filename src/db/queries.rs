// Every SQL statement of Herald, written once and compiled for each backend (see `db::pg` and
// `db::sqlite`, which include this file with their own `Conn`). Write use-cases run in one
// `write_transaction`; each locks the recipient's `inbox_state` row (PostgreSQL: the upsert
// takes the row lock) before it touches notifications, so one user's ids commit in increasing
// order and the unread counter stays exact.

use super::models::{IdempotencyRow, NotificationInsert, NotificationRow, PreferenceRow};
use super::schema::{idempotency_keys as keys, inbox_state as state, notification_preferences as prefs, notifications as n};
use super::{BroadcastOutcome, Change, CreateOutcome, IdempotencyKey, Idempotent, ListQuery, Page, StoredReply, Transactions};
use crate::domain::{NewNotification, NotificationContent, NotificationId, NotificationType, Preference, Preferences, PreferencesPatch, UserId};
use crate::error::ApiError;
use diesel::prelude::*;

/// How long an idempotency key replays its first reply.
const IDEMPOTENCY_WINDOW_HOURS: i64 = 24;

/// Stores one notification unless the recipient disabled its type. `reply` renders the outcome
/// as the response recorded under the idempotency key, inside the same transaction.
pub fn create(
    conn: &mut Conn,
    new: &NewNotification,
    key: Option<&IdempotencyKey>,
    reply: &dyn Fn(&CreateOutcome) -> StoredReply,
) -> Result<Idempotent<CreateOutcome>, ApiError> {
    conn.write_transaction(|conn| {
        if let Some(replay) = claim_key(conn, key)? {
            return Ok(Idempotent::Replay(replay));
        }
        let preference = preference(conn, new.recipient, new.content.kind)?;
        let outcome = if preference.enabled {
            let locked = lock_inboxes_for_create(conn, &[(new.recipient.get(), 1, i64::from(preference.realtime))])?;
            let row = diesel::insert_into(n::table)
                .values(insert_of(new.recipient, new.sender, &new.content, preference.realtime, super::now()))
                .returning(n::all_columns)
                .get_result::<NotificationRow>(conn)?;
            let seq = locked.first().map(|&(_, seq)| seq).filter(|_| preference.realtime);
            CreateOutcome::Created { row, seq }
        } else {
            CreateOutcome::Suppressed
        };
        finish_key(conn, key, &reply(&outcome))?;
        Ok(Idempotent::Fresh(outcome))
    })
}

/// Stores many independent creates in one transaction (group commit): each gets its own
/// outcome, in the order given. Per user, ids and stream positions follow the given order.
pub fn create_many(conn: &mut Conn, news: &[NewNotification]) -> Result<Vec<CreateOutcome>, ApiError> {
    conn.write_transaction(|conn| {
        let mut users: Vec<i64> = news.iter().map(|n| n.recipient.get()).collect();
        users.sort_unstable();
        users.dedup();
        let stored: std::collections::HashMap<(i64, String), (bool, bool)> = prefs::table
            .filter(prefs::user_id.eq_any(&users))
            .select((prefs::user_id, prefs::notification_type, prefs::enabled, prefs::realtime))
            .load::<(i64, String, bool, bool)>(conn)?
            .into_iter()
            .map(|(user, kind, enabled, realtime)| ((user, kind), (enabled, realtime)))
            .collect();
        let preference = |new: &NewNotification| {
            let (enabled, realtime) =
                stored.get(&(new.recipient.get(), new.content.kind.as_str().to_owned())).copied().unwrap_or((true, true));
            Preference { enabled, realtime }
        };
        // Accepted creates, grouped by user (ascending: the lock order), in arrival order within.
        let mut accepted: Vec<(usize, bool)> = news
            .iter()
            .enumerate()
            .map(|(i, new)| (i, preference(new)))
            .filter(|(_, preference)| preference.enabled)
            .map(|(i, preference)| (i, preference.realtime))
            .collect();
        accepted.sort_by_key(|&(i, _)| (news[i].recipient.get(), i));
        let mut outcomes = vec![CreateOutcome::Suppressed; news.len()];
        if accepted.is_empty() {
            return Ok(outcomes);
        }
        let mut per_user: Vec<(i64, i64, i64)> = Vec::new();
        for &(i, realtime) in &accepted {
            let user = news[i].recipient.get();
            match per_user.last_mut() {
                Some(last) if last.0 == user => {
                    last.1 += 1;
                    last.2 += i64::from(realtime);
                }
                _ => per_user.push((user, 1, i64::from(realtime))),
            }
        }
        let last_seq: std::collections::HashMap<i64, i64> = lock_inboxes_for_create(conn, &per_user)?.into_iter().collect();
        let now = super::now();
        let inserts: Vec<NotificationInsert> =
            accepted.iter().map(|&(i, realtime)| insert_of(news[i].recipient, news[i].sender, &news[i].content, realtime, now)).collect();
        let mut rows = diesel::insert_into(n::table).values(&inserts).returning(n::all_columns).load::<NotificationRow>(conn)?;
        // Ids are assigned in VALUES order: sorting by id restores it.
        rows.sort_by_key(|row| row.id);
        // Each user's new positions are the last `advanced` ones, in order.
        let mut next_seq: std::collections::HashMap<i64, i64> =
            per_user.iter().map(|&(user, _, advanced)| (user, last_seq.get(&user).copied().unwrap_or(0) - advanced + 1)).collect();
        for (&(i, realtime), row) in accepted.iter().zip(rows) {
            let seq = if realtime {
                let slot = next_seq.entry(row.user_id).or_insert(0);
                let seq = *slot;
                *slot += 1;
                Some(seq)
            } else {
                None
            };
            outcomes[i] = CreateOutcome::Created { row, seq };
        }
        Ok(outcomes)
    })
}

/// Stores one notification for each distinct recipient that accepts the type, in one
/// transaction. `recipients` must be sorted and free of duplicates (lock order: ascending ids).
pub fn broadcast(
    conn: &mut Conn,
    recipients: &[UserId],
    sender: UserId,
    content: &NotificationContent,
    key: Option<&IdempotencyKey>,
    reply: &dyn Fn(&BroadcastOutcome) -> StoredReply,
) -> Result<Idempotent<BroadcastOutcome>, ApiError> {
    conn.write_transaction(|conn| {
        if let Some(replay) = claim_key(conn, key)? {
            return Ok(Idempotent::Replay(replay));
        }
        let now = super::now();
        let mut created = Vec::with_capacity(recipients.len());
        let mut suppressed = 0;
        for chunk in recipients.chunks(BATCH_ROWS) {
            let ids: Vec<i64> = chunk.iter().map(|u| u.get()).collect();
            let stored: std::collections::HashMap<i64, (bool, bool)> = prefs::table
                .filter(prefs::notification_type.eq(content.kind.as_str()))
                .filter(prefs::user_id.eq_any(&ids))
                .select((prefs::user_id, prefs::enabled, prefs::realtime))
                .load::<(i64, bool, bool)>(conn)?
                .into_iter()
                .map(|(user, enabled, realtime)| (user, (enabled, realtime)))
                .collect();
            let accepting: Vec<(UserId, bool)> = chunk
                .iter()
                .filter_map(|user| {
                    let (enabled, realtime) = stored.get(&user.get()).copied().unwrap_or((true, true));
                    enabled.then_some((*user, realtime))
                })
                .collect();
            suppressed += chunk.len() - accepting.len();
            if accepting.is_empty() {
                continue;
            }
            let (mut locked, mut rows) = store_broadcast_chunk(conn, &accepting, sender, content, now)?;
            rows.sort_by_key(|row| row.user_id);
            locked.sort_unstable();
            // Both are sorted by user id and hold one entry per accepting user, so they line up.
            created.extend(rows.into_iter().zip(locked).map(|(row, (_, seq))| {
                let seq = row.realtime.then_some(seq);
                (row, seq)
            }));
        }
        let outcome = BroadcastOutcome { created, suppressed };
        finish_key(conn, key, &reply(&outcome))?;
        Ok(Idempotent::Fresh(outcome))
    })
}

fn insert_of<'a>(
    recipient: UserId,
    sender: Option<UserId>,
    content: &'a NotificationContent,
    realtime: bool,
    now: chrono::NaiveDateTime,
) -> NotificationInsert<'a> {
    NotificationInsert {
        user_id: recipient.get(),
        sender_id: sender.map(UserId::get),
        notification_type: content.kind.as_str(),
        title: &content.title,
        message: &content.message,
        data: &content.data,
        link: content.link.as_deref(),
        is_read: false,
        realtime,
        created_at: now,
    }
}

/// Records a change to the user's existing notifications: adjusts the unread count and takes
/// the next position in the user's change stream. Returns both.
fn record_change(conn: &mut Conn, user: UserId, unread_delta: i64) -> QueryResult<Change> {
    let (unread_count, seq) = diesel::update(state::table.find(user.get()))
        .set((state::unread_count.eq(state::unread_count + unread_delta), state::last_seq.eq(state::last_seq + 1)))
        .returning((state::unread_count, state::last_seq))
        .get_result::<(i64, i64)>(conn)?;
    Ok(Change { unread_count, seq: Some(seq) })
}

pub fn unread_count(conn: &mut Conn, user: UserId) -> QueryResult<i64> {
    Ok(state::table.find(user.get()).select(state::unread_count).first(conn).optional()?.unwrap_or(0))
}

/// Where the user's inbox stands: unread count, change-stream position and newest notification
/// id (all 0 for a user never notified), in ONE statement, so the three agree (one snapshot):
/// a socket treats everything up to that id as shown and every position up to that one as
/// handled. Two separate reads could disagree by a notification committed in between.
pub fn inbox_position(conn: &mut Conn, user: UserId) -> Result<super::InboxPosition, ApiError> {
    let newest = n::table.filter(n::user_id.eq(user.get())).select(diesel::dsl::max(n::id)).single_value();
    let (unread_count, last_seq, newest_id) = state::table
        .find(user.get())
        .select((state::unread_count, state::last_seq, newest))
        .first::<(i64, i64, Option<i64>)>(conn)
        .optional()?
        .map(|(unread, seq, newest)| (unread, seq, newest.unwrap_or(0)))
        .unwrap_or((0, 0, 0));
    Ok(super::InboxPosition { unread_count, last_seq, newest_id })
}

/// The user's change-stream position alone (0 for a user never notified).
pub fn stream_position(conn: &mut Conn, user: UserId) -> QueryResult<i64> {
    Ok(state::table.find(user.get()).select(state::last_seq).first(conn).optional()?.unwrap_or(0))
}

/// Marks one of the user's notifications read or unread. Returns the row and the change (no
/// position when it was already so). Another user's id is `NotFound`, exactly as a missing one.
pub fn set_read(conn: &mut Conn, user: UserId, id: NotificationId, read: bool) -> Result<(NotificationRow, Change), ApiError> {
    conn.write_transaction(|conn| {
        let mine = n::table.filter(n::id.eq(id.get())).filter(n::user_id.eq(user.get()));
        let updated = diesel::update(mine.filter(n::is_read.eq(!read)))
            .set((n::is_read.eq(read), n::read_at.eq(read.then(super::now))))
            .returning(n::all_columns)
            .get_result::<NotificationRow>(conn)
            .optional()?;
        match updated {
            Some(row) => Ok((row, record_change(conn, user, if read { -1 } else { 1 })?)),
            None => {
                let row = mine.select(n::all_columns).first::<NotificationRow>(conn)?;
                Ok((row, Change { unread_count: unread_count(conn, user)?, seq: None }))
            }
        }
    })
}

/// Marks all the user's notifications read; returns how many changed, and the change.
pub fn mark_all_read(conn: &mut Conn, user: UserId) -> Result<(i64, Change), ApiError> {
    conn.write_transaction(|conn| {
        let marked = diesel::update(n::table.filter(n::user_id.eq(user.get())).filter(n::is_read.eq(false)))
            .set((n::is_read.eq(true), n::read_at.eq(Some(super::now()))))
            .execute(conn)? as i64;
        let change = if marked > 0 {
            record_change(conn, user, -marked)?
        } else {
            Change { unread_count: unread_count(conn, user)?, seq: None }
        };
        Ok((marked, change))
    })
}

/// Deletes one of the user's notifications; returns the change.
pub fn delete(conn: &mut Conn, user: UserId, id: NotificationId) -> Result<Change, ApiError> {
    conn.write_transaction(|conn| {
        let was_read = diesel::delete(n::table.filter(n::id.eq(id.get())).filter(n::user_id.eq(user.get())))
            .returning(n::is_read)
            .get_result::<bool>(conn)?;
        Ok(record_change(conn, user, if was_read { 0 } else { -1 })?)
    })
}

/// One page of the user's notifications, newest first, with the filter's total; the page,
/// total and unread count come from one snapshot, so they agree.
pub fn list(conn: &mut Conn, user: UserId, query: ListQuery) -> Result<Page, ApiError> {
    conn.read_snapshot(|conn| list_in_snapshot(conn, user, query))
}

fn list_in_snapshot(conn: &mut Conn, user: UserId, query: ListQuery) -> Result<Page, ApiError> {
    let filtered = || {
        let mut q = n::table.filter(n::user_id.eq(user.get())).into_boxed();
        if query.unread_only {
            q = q.filter(n::is_read.eq(false));
        }
        if let Some(kind) = query.kind {
            q = q.filter(n::notification_type.eq(kind.as_str()));
        }
        q
    };
    let mut page_query = filtered();
    if let Some(before) = query.before {
        page_query = page_query.filter(n::id.lt(before.get()));
    }
    let mut rows = page_query.order(n::id.desc()).limit(query.limit + 1).select(n::all_columns).load::<NotificationRow>(conn)?;
    let next_before = if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        rows.last().map(|row| row.id)
    } else {
        None
    };
    let unread_count = unread_count(conn, user)?;
    let total = if query.unread_only && query.kind.is_none() {
        unread_count
    } else {
        filtered().count().get_result::<i64>(conn)?
    };
    Ok(Page { rows, total, unread_count, next_before })
}

/// Notifications of the user with id above `after`, oldest first: a replay page. `live_only`
/// leaves out those the user asked not to have pushed (for repairs of the live stream).
/// The next replay page of the user's notifications with id above `after`, oldest first: at
/// most `max_rows` rows, and past the first row at most `max_bytes` of stored text (title,
/// message, data, link), so a page holds a bounded number of bytes whatever the rows' sizes.
/// Also says whether more rows may follow the page.
///
/// Most replays are a few rows: the page starts with as many rows as fit in `max_bytes`
/// whatever their size, read by a plain prepared statement. Only when those are all there is
/// the rest of the page read by a statement that cuts it with a running sum of the sizes.
pub fn since(conn: &mut Conn, user: UserId, after: i64, max_rows: i64, max_bytes: i64, live_only: bool) -> QueryResult<(Vec<NotificationRow>, bool)> {
    use diesel::sql_types::{BigInt, Bool};
    let safe_rows = super::rows_that_always_fit(max_bytes).min(max_rows);
    let mut rows: Vec<NotificationRow> = n::table
        .filter(n::user_id.eq(user.get()))
        .filter(n::id.gt(after))
        .filter(n::realtime.eq(true).or(diesel::dsl::not(live_only.into_sql::<Bool>())))
        .order(n::id.asc())
        .limit(safe_rows)
        .select(n::all_columns)
        .load(conn)?;
    if (rows.len() as i64) < safe_rows || safe_rows == max_rows {
        let more = rows.len() as i64 == max_rows;
        return Ok((rows, more));
    }
    let used = rows.iter().map(super::stored_bytes).sum::<i64>();
    let last = rows.last().map_or(after, |r| r.id);
    let rest: Vec<NotificationRow> = diesel::sql_query(super::REPLAY_PAGE_SQL)
        .bind::<BigInt, _>(user.get())
        .bind::<BigInt, _>(last)
        .bind::<Bool, _>(live_only)
        .bind::<BigInt, _>(max_rows - safe_rows)
        .bind::<BigInt, _>(max_bytes - used)
        .bind::<Bool, _>(false)
        .load(conn)?;
    rows.extend(rest);
    let more = super::replay_may_continue(&rows, max_rows, max_bytes);
    Ok((rows, more))
}

fn preference(conn: &mut Conn, user: UserId, kind: NotificationType) -> QueryResult<Preference> {
    Ok(prefs::table
        .find((user.get(), kind.as_str()))
        .select((prefs::enabled, prefs::realtime))
        .first::<(bool, bool)>(conn)
        .optional()?
        .map(|(enabled, realtime)| Preference { enabled, realtime })
        .unwrap_or_default())
}

pub fn preferences(conn: &mut Conn, user: UserId) -> QueryResult<Preferences> {
    let rows = prefs::table.filter(prefs::user_id.eq(user.get())).select(PreferenceRow::as_select()).load(conn)?;
    Ok(Preferences::from_stored(rows.into_iter().filter_map(|row| {
        NotificationType::parse(&row.notification_type).map(|kind| (kind, Preference { enabled: row.enabled, realtime: row.realtime }))
    })))
}

/// Applies a partial update in one transaction; returns all eight preferences.
pub fn update_preferences(conn: &mut Conn, user: UserId, patch: &PreferencesPatch) -> Result<Preferences, ApiError> {
    conn.write_transaction(|conn| {
        let mut current = preferences(conn, user)?;
        for (kind, change) in &patch.0 {
            let next = change.apply(current.get(*kind));
            diesel::insert_into(prefs::table)
                .values(PreferenceRow { user_id: user.get(), notification_type: kind.as_str().to_owned(), enabled: next.enabled, realtime: next.realtime })
                .on_conflict((prefs::user_id, prefs::notification_type))
                .do_update()
                .set((prefs::enabled.eq(next.enabled), prefs::realtime.eq(next.realtime)))
                .execute(conn)?;
            current.0.insert(*kind, next);
        }
        Ok(current)
    })
}

/// Claims the key for this request, or returns the reply recorded by the first one. On
/// PostgreSQL a concurrent repeat blocks on the first one's uncommitted insert and then sees its
/// reply; SQLite serializes the two transactions outright.
fn claim_key(conn: &mut Conn, key: Option<&IdempotencyKey>) -> QueryResult<Option<StoredReply>> {
    let Some(key) = key else { return Ok(None) };
    let now = super::now();
    let claimed = diesel::insert_into(keys::table)
        .values(IdempotencyRow { caller_id: key.caller.get(), key: key.scoped_key.clone(), response_status: 0, response_body: String::new(), created_at: now })
        .on_conflict_do_nothing()
        .execute(conn)?;
    if claimed == 1 {
        return Ok(None);
    }
    let expired_before = now - chrono::Duration::hours(IDEMPOTENCY_WINDOW_HOURS);
    let this_key = keys::table.filter(keys::caller_id.eq(key.caller.get())).filter(keys::key.eq(&key.scoped_key));
    let reclaimed = diesel::update(this_key.filter(keys::created_at.lt(expired_before)))
        .set((keys::response_status.eq(0), keys::response_body.eq(""), keys::created_at.eq(now)))
        .execute(conn)?;
    if reclaimed == 1 {
        return Ok(None);
    }
    let row = this_key.select(IdempotencyRow::as_select()).first(conn)?;
    Ok(Some(StoredReply { status: u16::try_from(row.response_status).unwrap_or(500), body: row.response_body }))
}

fn finish_key(conn: &mut Conn, key: Option<&IdempotencyKey>, reply: &StoredReply) -> QueryResult<()> {
    let Some(key) = key else { return Ok(()) };
    diesel::update(keys::table.filter(keys::caller_id.eq(key.caller.get())).filter(keys::key.eq(&key.scoped_key)))
        .set((keys::response_status.eq(i32::from(reply.status)), keys::response_body.eq(&reply.body)))
        .execute(conn)?;
    Ok(())
}

/// Deletes up to `batch` notifications created before `cutoff` (only read ones when
/// `read_only`), keeping unread counters exact, in one short transaction; returns how many it
/// deleted (0 when done). Safe to run on several nodes at once. Retention is housekeeping: it
/// publishes nothing.
pub fn prune_batch(conn: &mut Conn, cutoff: chrono::NaiveDateTime, read_only: bool, batch: i64) -> Result<usize, ApiError> {
    conn.write_transaction(|conn| {
        let mut old = n::table.filter(n::created_at.lt(cutoff)).into_boxed();
        if read_only {
            old = old.filter(n::is_read.eq(true));
        }
        let ids: Vec<i64> = old.select(n::id).order(n::id.asc()).limit(batch).load(conn)?;
        if ids.is_empty() {
            return Ok(0);
        }
        // Rows first, then inbox rows (as mark_read and delete do): no lock-order cycle.
        let deleted: Vec<(i64, bool)> =
            diesel::delete(n::table.filter(n::id.eq_any(&ids))).returning((n::user_id, n::is_read)).load(conn)?;
        let mut unread_by_user: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
        for (user, is_read) in &deleted {
            if !is_read {
                *unread_by_user.entry(*user).or_default() += 1;
            }
        }
        for (user, unread) in unread_by_user {
            diesel::update(state::table.find(user)).set(state::unread_count.eq(state::unread_count - unread)).execute(conn)?;
        }
        Ok(deleted.len())
    })
}

/// Deletes idempotency keys past their replay window.
pub fn prune_idempotency_keys(conn: &mut Conn) -> QueryResult<usize> {
    let cutoff = super::now() - chrono::Duration::hours(IDEMPOTENCY_WINDOW_HOURS);
    diesel::delete(keys::table.filter(keys::created_at.lt(cutoff))).execute(conn)
}

/// Answers when the database does (readiness).
pub fn ping(conn: &mut Conn) -> QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}
