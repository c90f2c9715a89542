//! The inbox model of issue 28: configured types and categories (`types`).

mod types;

/// The list and preference endpoints.
const LIST: &str = "/auth/notifications/";
const CREATE: &str = "/auth/notifications/create/";
const PREFERENCES: &str = "/auth/notifications/preferences/";
