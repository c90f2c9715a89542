//! The inbox model of issue 28: configured types and categories (`types`), seen, archived and
//! snoozed with exact counts and bulk actions over REST (`states`) and the WebSocket
//! (`frames`), and across two nodes (`cluster`).

mod cluster;
mod frames;
mod states;
mod types;

/// The list and preference endpoints.
const LIST: &str = "/auth/notifications/";
const CREATE: &str = "/auth/notifications/create/";
const PREFERENCES: &str = "/auth/notifications/preferences/";
