// Queries of notification preferences (see `db::preferences`). Compiled per backend
// (`shared_queries!`).

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
pub fn update_preferences(conn: &mut Conn, user: UserId, patch: &PreferencesPatch) -> Result<Preferences, DbError> {
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
