//! A user's stored notification preferences: reading them all or one (inside a create), and
//! applying a partial update. Types without a stored row have the default (`Preference`).

use super::connection::DbConnection;
use super::error::DbError;
use super::models::PreferenceRow;
use super::pool::Db;
use super::schema::notification_preferences as prefs;
use super::transactions::Transactions;
use crate::domain::{NotificationType, Preference, PreferencesPatch, UserId};
use diesel::prelude::*;
use std::collections::BTreeMap;

impl Db {
    /// The user's stored preferences, by type.
    pub async fn preferences(&self, user: UserId) -> Result<StoredPreferences, DbError> {
        self.run(move |conn| Ok(all(conn, user)?)).await
    }

    /// Applies a partial update in one transaction; returns the stored preferences after it.
    pub async fn update_preferences(
        &self,
        user: UserId,
        patch: PreferencesPatch,
    ) -> Result<StoredPreferences, DbError> {
        self.run(move |conn| {
            conn.write_transaction(|conn| {
                let mut current = all(conn, user)?;
                for (kind, change) in &patch.0 {
                    let next = change.apply(current.get(kind).copied().unwrap_or_default());
                    let row = PreferenceRow {
                        user_id: user.get(),
                        notification_type: kind.as_str().to_owned(),
                        enabled: next.enabled,
                        realtime: next.realtime,
                    };
                    conn.execute_typed(
                        diesel::insert_into(prefs::table)
                            .values(row)
                            .on_conflict((prefs::user_id, prefs::notification_type))
                            .do_update()
                            .set((prefs::enabled.eq(next.enabled), prefs::realtime.eq(next.realtime))),
                    )?;
                    current.insert(*kind, next);
                }
                Ok(current)
            })
        })
        .await
    }
}

/// The user's preference for one type (the default when none is stored).
pub fn preference(conn: &mut DbConnection, user: UserId, kind: NotificationType) -> QueryResult<Preference> {
    Ok(prefs::table
        .find((user.get(), kind.as_str()))
        .select((prefs::enabled, prefs::realtime))
        .first::<(bool, bool)>(conn)
        .optional()?
        .map(|(enabled, realtime)| Preference { enabled, realtime })
        .unwrap_or_default())
}

/// A user's stored preferences by type (types never set have no entry).
pub type StoredPreferences = BTreeMap<NotificationType, Preference>;

fn all(conn: &mut DbConnection, user: UserId) -> QueryResult<StoredPreferences> {
    let rows = prefs::table.filter(prefs::user_id.eq(user.get())).select(PreferenceRow::as_select()).load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let preference = Preference { enabled: row.enabled, realtime: row.realtime };
            NotificationType::parse(&row.notification_type).map(|kind| (kind, preference))
        })
        .collect())
}
