//! The stream positions a group-commit batch took, handed out to its stored rows, the same way
//! on both backends.

use crate::domain::{StoredNotification, StreamPos};
use std::collections::HashMap;

/// Each user's next position to hand out: a user's new positions are the last ones up to its
/// position after the batch, in row (id) order.
pub struct NewPositions(HashMap<i64, StreamPos>);

impl NewPositions {
    /// From each user's `(user_id, position after the batch, positions the batch took)`.
    pub fn after(taken: impl IntoIterator<Item = (i64, StreamPos, i64)>) -> NewPositions {
        NewPositions(
            taken.into_iter().map(|(user, last, advanced)| (user, StreamPos::new(last.get() - advanced + 1))).collect(),
        )
    }

    /// The position of the next stored row, when it is pushed live (`realtime`).
    pub fn take(&mut self, row: &StoredNotification) -> Option<StreamPos> {
        row.realtime.then(|| {
            let slot = self.0.entry(row.user_id).or_insert(StreamPos::ZERO);
            let position = *slot;
            *slot = position.next();
            position
        })
    }
}
