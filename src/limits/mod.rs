//! Limits: `budget` holds every principal's budget, shared by REST and WebSocket (end users by
//! the cost of their actions, services by the notifications they write), across nodes when
//! Redis is configured; `local` is what one node enforces on its own (client frames per socket,
//! handshakes per second); `cluster` keeps the budgets and the per-user socket cap in Redis;
//! `cells` is this node's copy of each budget (the budget itself without Redis).

pub mod budget;
mod cells;
pub mod cluster;
pub mod local;

/// A budget's refill rate and burst, in its units (cost units, or notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}
