//! Per-user and per-node limits: `local` is what one node enforces on its own (the REST rate,
//! client frames per socket, handshakes per second); `cluster` holds the per-user REST rate
//! and socket cap across every node, in Redis, when Redis is configured.

pub mod cluster;
pub mod local;
