//! The database failing under one node: cut or hung, REST answers 503 `unavailable` (never a 500 or a
//! hang), nothing acknowledged is lost, and the node recovers by itself.

mod cut;
mod outage;
mod poisoned_connection;
mod stall;
