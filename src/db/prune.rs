//! Retention's storage half on `Db`: one bounded batch of old notifications deleted per call,
//! in one short transaction (the loop over batches is `crate::retention`).

use super::{Db, DbError};

impl Db {
    /// Deletes up to `batch` notifications created before `cutoff` (only read ones when
    /// `read_only`), keeping unread counters exact; returns how many (0 when done).
    pub async fn prune_batch(
        &self,
        cutoff: chrono::NaiveDateTime,
        read_only: bool,
        batch: i64,
    ) -> Result<usize, DbError> {
        self.run(move |conn| dispatch!(conn, prune_batch(cutoff, read_only, batch))).await
    }
}
