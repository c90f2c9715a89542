//! Idempotency keys on `Db`. Claiming a key and recording its reply happen inside the create and
//! broadcast transactions (`queries/`); what is left here is their expiry.

use super::{Db, DbError};

impl Db {
    /// Deletes idempotency keys past their replay window; returns how many.
    pub async fn prune_idempotency_keys(&self) -> Result<usize, DbError> {
        self.run(|conn| Ok(dispatch!(conn, prune_idempotency_keys())?)).await
    }
}
