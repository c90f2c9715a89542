//! `StreamPos`: a place in one user's change stream. Every change to a user's notifications
//! takes the next one (`inbox_state.last_seq` in the database, 0 before the first change);
//! events carry it, and sessions deliver positions in order, replay and repair from it.
//! Storage converts it at the column; the broker writes it as its integer.

/// A position in a user's change stream: the number of changes taken so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamPos(i64);

impl StreamPos {
    /// Before the first change (a user never notified).
    pub const ZERO: StreamPos = StreamPos(0);

    /// The position as stored (`inbox_state.last_seq`) or sent between nodes.
    pub const fn new(raw: i64) -> StreamPos {
        StreamPos(raw)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// The position the change after this one takes.
    pub const fn next(self) -> StreamPos {
        StreamPos(self.0 + 1)
    }
}
