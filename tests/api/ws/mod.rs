//! The WebSocket API of SPEC §5 on one node: the frame contract, live push and replay, the close
//! handshake's end, the test page's JS client in a real browser, the client package imported by an
//! app on another origin (CORS, the SSE fallback, an unlisted origin refused) in a real browser, and
//! `asyncapi.yaml` checked against every frame a live node sends and accepts (WebSocket and SSE).

mod asyncapi;
mod browser;
mod browser_integration;
mod closing;
mod frames;
mod push;
