//! SQLite: the shared queries (`shared_queries!`) compiled for `SqliteConnection`, and its own
//! forms of the statements PostgreSQL writes over arrays.

pub type Conn = diesel::SqliteConnection;
/// Recipients per broadcast statement: ten binds a row, under SQLite's 32,766.
const BATCH_ROWS: usize = 1000;
shared_queries!();

/// A broadcast's inbox upserts and its multi-row notification insert (see `pg`).
fn store_broadcast_chunk(
    conn: &mut Conn,
    accepting: &[(UserId, bool)],
    sender: UserId,
    content: &NotificationContent,
    now: chrono::NaiveDateTime,
) -> QueryResult<super::StoredChunk> {
    let advances: Vec<(i64, i64, i64)> =
        accepting.iter().map(|(u, realtime)| (u.get(), 1, i64::from(*realtime))).collect();
    let locked = lock_inboxes_for_create(conn, &advances)?;
    let inserts: Vec<NotificationInsert> =
        accepting.iter().map(|(user, realtime)| insert_of(*user, Some(sender), content, *realtime, now)).collect();
    let rows =
        diesel::insert_into(n::table).values(&inserts).returning(n::all_columns).load::<StoredNotification>(conn)?;
    Ok((locked, rows))
}

/// As on PostgreSQL; Diesel has no multi-row upsert for SQLite, and the database write lock
/// is already held (`BEGIN IMMEDIATE`), so one in-process statement per user.
fn lock_inboxes_for_create(conn: &mut Conn, users: &[(i64, i64, i64)]) -> QueryResult<Vec<(i64, i64)>> {
    use super::models::InboxStateInsert;
    use diesel::upsert::excluded;
    users
        .iter()
        .map(|&(user_id, unread_count, last_seq)| {
            diesel::insert_into(state::table)
                .values(InboxStateInsert { user_id, unread_count, last_seq })
                .on_conflict(state::user_id)
                .do_update()
                .set((
                    state::unread_count.eq(state::unread_count + excluded(state::unread_count)),
                    state::last_seq.eq(state::last_seq + excluded(state::last_seq)),
                ))
                .returning((state::user_id, state::last_seq))
                .get_result(conn)
        })
        .collect()
}

/// Stores many independent creates in one transaction (group commit): each gets its own
/// outcome, in the order given. Per user, ids and stream positions follow the given order.
/// (PostgreSQL does it in one statement: `pg::create_many`.)
pub fn create_many(conn: &mut Conn, news: &[NewNotification]) -> Result<Vec<CreateOutcome>, DbError> {
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
            let (enabled, realtime) = stored
                .get(&(new.recipient.get(), new.content.kind.as_str().to_owned()))
                .copied()
                .unwrap_or((true, true));
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
        let last_seq: std::collections::HashMap<i64, i64> =
            lock_inboxes_for_create(conn, &per_user)?.into_iter().collect();
        let mut positions = super::NewPositions::after(
            per_user.iter().map(|&(user, _, advanced)| (user, last_seq.get(&user).copied().unwrap_or(0), advanced)),
        );
        let now = super::now();
        let inserts: Vec<NotificationInsert> = accepted
            .iter()
            .map(|&(i, realtime)| insert_of(news[i].recipient, news[i].sender, &news[i].content, realtime, now))
            .collect();
        let mut rows = diesel::insert_into(n::table)
            .values(&inserts)
            .returning(n::all_columns)
            .load::<StoredNotification>(conn)?;
        // Ids are assigned in VALUES order: sorting by id restores it.
        rows.sort_by_key(|row| row.id);
        for (&(i, _), row) in accepted.iter().zip(rows) {
            outcomes[i] = CreateOutcome::Created { seq: positions.take(&row), row };
        }
        Ok(outcomes)
    })
}
