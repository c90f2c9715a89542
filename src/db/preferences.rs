//! A user's notification preferences on `Db`: reading all eight, and applying a partial update.

use super::{Db, DbError};
use crate::domain::{Preferences, PreferencesPatch, UserId};

impl Db {
    pub async fn preferences(&self, user: UserId) -> Result<Preferences, DbError> {
        self.run(move |conn| Ok(dispatch!(conn, preferences(user))?)).await
    }

    /// Applies a partial update in one transaction; returns all eight preferences.
    pub async fn update_preferences(&self, user: UserId, patch: PreferencesPatch) -> Result<Preferences, DbError> {
        self.run(move |conn| dispatch!(conn, update_preferences(user, &patch))).await
    }
}
