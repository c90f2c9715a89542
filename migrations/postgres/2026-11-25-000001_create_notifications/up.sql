-- Notifications, per-user inbox state (row lock for ordering + O(1) unread count),
-- per-type preferences and idempotency keys. Keep in step with migrations/sqlite.
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    sender_id BIGINT,
    notification_type TEXT NOT NULL,
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL,
    link TEXT,
    is_read BOOLEAN NOT NULL DEFAULT FALSE,
    -- FALSE when the recipient's preference said "not live": never pushed, nor repaired.
    realtime BOOLEAN NOT NULL DEFAULT TRUE,
    read_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX notifications_user_id_id ON notifications (user_id, id DESC);
CREATE INDEX notifications_user_unread ON notifications (user_id, id) WHERE NOT is_read;

CREATE TABLE inbox_state (
    user_id BIGINT PRIMARY KEY,
    unread_count BIGINT NOT NULL,
    -- Position of the user's change stream: every pushed change takes the next number, so a
    -- session sees gaps and reorderings in what the broker delivered and repairs them.
    last_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE notification_preferences (
    user_id BIGINT NOT NULL,
    notification_type TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    realtime BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, notification_type)
);

CREATE TABLE idempotency_keys (
    caller_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (caller_id, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
