// Queries of notifications (see `db::notifications`): storing them — one, many by group commit,
// a broadcast — changing read state, deleting, listing. Compiled per backend (`shared_queries!`).
// Write use-cases run in one `write_transaction`; each locks the recipient's `inbox_state` row
// (PostgreSQL: the upsert takes the row lock) before it touches notifications, so one user's ids
// commit in increasing order and the unread counter stays exact.

/// Stores one notification unless the recipient disabled its type. With an idempotency key, its
/// `render`ed reply is recorded under the key inside the same transaction.
pub fn create(
    conn: &mut Conn,
    new: &NewNotification,
    idempotency: Option<&(IdempotencyKey, RenderReply<CreateOutcome>)>,
) -> Result<Idempotent<CreateOutcome>, DbError> {
    conn.write_transaction(|conn| {
        if let Some(replay) = claim_key(conn, idempotency.map(|(key, _)| key))? {
            return Ok(Idempotent::Replay(replay));
        }
        let preference = preference(conn, new.recipient, new.content.kind)?;
        let outcome = if preference.enabled {
            let locked = lock_inboxes_for_create(conn, &[(new.recipient.get(), 1, i64::from(preference.realtime))])?;
            let row = diesel::insert_into(n::table)
                .values(insert_of(new.recipient, new.sender, &new.content, preference.realtime, super::now()))
                .returning(n::all_columns)
                .get_result::<StoredNotification>(conn)?;
            let seq = locked.first().map(|&(_, seq)| seq).filter(|_| preference.realtime);
            CreateOutcome::Created { row, seq }
        } else {
            CreateOutcome::Suppressed
        };
        if let Some((key, render)) = idempotency {
            finish_key(conn, key, &render(&outcome))?;
        }
        Ok(Idempotent::Fresh(outcome))
    })
}

/// Stores one notification for each distinct recipient that accepts the type, in one
/// transaction. `recipients` must be sorted and free of duplicates (lock order: ascending ids).
pub fn broadcast(
    conn: &mut Conn,
    recipients: &[UserId],
    sender: UserId,
    content: &NotificationContent,
    idempotency: Option<&(IdempotencyKey, RenderReply<BroadcastOutcome>)>,
) -> Result<Idempotent<BroadcastOutcome>, DbError> {
    conn.write_transaction(|conn| {
        if let Some(replay) = claim_key(conn, idempotency.map(|(key, _)| key))? {
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
        if let Some((key, render)) = idempotency {
            finish_key(conn, key, &render(&outcome))?;
        }
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

/// Marks one of the user's notifications read or unread. Returns the row and the change (no
/// position when it was already so). Another user's id is `NotFound`, exactly as a missing one.
pub fn set_read(conn: &mut Conn, user: UserId, id: NotificationId, read: bool) -> Result<(StoredNotification, Change), DbError> {
    conn.write_transaction(|conn| {
        let mine = n::table.filter(n::id.eq(id.get())).filter(n::user_id.eq(user.get()));
        let updated = diesel::update(mine.filter(n::is_read.eq(!read)))
            .set((n::is_read.eq(read), n::read_at.eq(read.then(super::now))))
            .returning(n::all_columns)
            .get_result::<StoredNotification>(conn)
            .optional()?;
        match updated {
            Some(row) => Ok((row, record_change(conn, user, if read { -1 } else { 1 })?)),
            None => {
                let row = mine.select(n::all_columns).first::<StoredNotification>(conn)?;
                Ok((row, Change { unread_count: unread_count(conn, user)?, seq: None }))
            }
        }
    })
}

/// Marks all the user's notifications read; returns how many changed, and the change.
pub fn mark_all_read(conn: &mut Conn, user: UserId) -> Result<(i64, Change), DbError> {
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
pub fn delete(conn: &mut Conn, user: UserId, id: NotificationId) -> Result<Change, DbError> {
    conn.write_transaction(|conn| {
        let was_read = diesel::delete(n::table.filter(n::id.eq(id.get())).filter(n::user_id.eq(user.get())))
            .returning(n::is_read)
            .get_result::<bool>(conn)?;
        Ok(record_change(conn, user, if was_read { 0 } else { -1 })?)
    })
}

/// One page of the user's notifications, newest first, with the filter's total; the page,
/// total and unread count come from one snapshot, so they agree.
pub fn list(conn: &mut Conn, user: UserId, query: ListQuery) -> Result<Page, DbError> {
    conn.read_snapshot(|conn| list_in_snapshot(conn, user, query))
}

fn list_in_snapshot(conn: &mut Conn, user: UserId, query: ListQuery) -> Result<Page, DbError> {
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
    let mut rows = page_query.order(n::id.desc()).limit(query.limit + 1).select(n::all_columns).load::<StoredNotification>(conn)?;
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

pub fn unread_count(conn: &mut Conn, user: UserId) -> QueryResult<i64> {
    Ok(state::table.find(user.get()).select(state::unread_count).first(conn).optional()?.unwrap_or(0))
}
