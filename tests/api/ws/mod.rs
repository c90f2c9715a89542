//! The WebSocket API of SPEC §5 on one node: the frame contract, live push and replay, the close
//! handshake's end, and the test page's JS client in a real browser.

mod browser;
mod closing;
mod frames;
mod push;
