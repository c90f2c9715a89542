// Queries of idempotency keys: claiming one inside a write, recording its reply, expiring old
// ones (see `db::idempotency`). Compiled per backend (`shared_queries!`).

/// How long an idempotency key replays its first reply.
const IDEMPOTENCY_WINDOW_HOURS: i64 = 24;

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

fn finish_key(conn: &mut Conn, key: &IdempotencyKey, reply: &StoredReply) -> QueryResult<()> {
    diesel::update(keys::table.filter(keys::caller_id.eq(key.caller.get())).filter(keys::key.eq(&key.scoped_key)))
        .set((keys::response_status.eq(i32::from(reply.status)), keys::response_body.eq(&reply.body)))
        .execute(conn)?;
    Ok(())
}

/// Deletes idempotency keys past their replay window.
pub fn prune_idempotency_keys(conn: &mut Conn) -> QueryResult<usize> {
    let cutoff = super::now() - chrono::Duration::hours(IDEMPOTENCY_WINDOW_HOURS);
    diesel::delete(keys::table.filter(keys::created_at.lt(cutoff))).execute(conn)
}
