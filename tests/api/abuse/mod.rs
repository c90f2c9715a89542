//! Abuse costs the abuser: budgets per user and per service shared by REST and WebSocket,
//! limits per user, per node and across nodes, floods closed, refusals
//! before reading, hostile frames fuzzed, memory bounded by bytes.

mod bounded_memory;
mod budgets;
mod cluster_limits;
mod early_refusal;
mod floods;
mod limits;
mod ws_fuzz;
