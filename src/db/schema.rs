//! Diesel table definitions, portable across PostgreSQL and SQLite (JSON as Text, UTC Timestamps).

diesel::table! {
    notifications (id) {
        id -> BigInt,
        user_id -> BigInt,
        sender_id -> Nullable<BigInt>,
        notification_type -> Text,
        title -> Text,
        message -> Text,
        data -> Text,
        link -> Nullable<Text>,
        is_read -> Bool,
        realtime -> Bool,
        read_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        /// When first seen (opening the list); a read notification is seen even where this is
        /// null (read before seen existed): the view shows `read_at` then.
        seen_at -> Nullable<Timestamp>,
        archived_at -> Nullable<Timestamp>,
        /// Hidden until then (read meanwhile); the waker makes it unread and unseen again.
        snoozed_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    inbox_state (user_id) {
        user_id -> BigInt,
        unread_count -> BigInt,
        last_seq -> BigInt,
        /// How many notifications the user has (kept exact as `unread_count` is).
        total_count -> BigInt,
        /// Unread notifications already seen: unseen = unread_count - this.
        seen_unread_count -> BigInt,
        /// Notifications archived or snoozed, hidden from the default list.
        hidden_count -> BigInt,
    }
}

diesel::table! {
    notification_preferences (user_id, notification_type) {
        user_id -> BigInt,
        notification_type -> Text,
        enabled -> Bool,
        realtime -> Bool,
    }
}

diesel::table! {
    idempotency_keys (caller_id, key) {
        caller_id -> BigInt,
        key -> Text,
        response_status -> Integer,
        response_body -> Text,
        created_at -> Timestamp,
        request_hash -> Text,
    }
}

diesel::table! {
    /// The admin console's audit log (`crate::console`).
    admin_audit (id) {
        id -> BigInt,
        actor_id -> BigInt,
        action -> Text,
        target_user_id -> Nullable<BigInt>,
        /// JSON array of notification ids.
        target_ids -> Text,
        /// JSON object.
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// How far `herald import-django` imported each source (`crate::django_import`).
    django_import (source) {
        source -> Text,
        last_id -> BigInt,
        imported -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    django_import,
    notifications,
    inbox_state,
    notification_preferences,
    idempotency_keys,
    admin_audit
);
