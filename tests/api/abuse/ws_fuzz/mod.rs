//! Black-box fuzzing of a running node's WebSocket endpoint: a bounded, seeded barrage of hostile
//! frames written byte for byte. A bad frame gets a documented error and the socket stays usable; a
//! protocol or size violation closes with a documented code; afterwards the node is healthy.

mod barrage;
mod cases;
mod oracle;
mod wire;
