-- Same as migrations/postgres: seen, archived and snoozed, their kept counts and indexes.
ALTER TABLE notifications ADD COLUMN seen_at TIMESTAMP;
ALTER TABLE notifications ADD COLUMN archived_at TIMESTAMP;
ALTER TABLE notifications ADD COLUMN snoozed_until TIMESTAMP;
ALTER TABLE inbox_state ADD COLUMN seen_unread_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE inbox_state ADD COLUMN hidden_count BIGINT NOT NULL DEFAULT 0;
CREATE INDEX notifications_hidden ON notifications (user_id, id)
    WHERE archived_at IS NOT NULL OR snoozed_until IS NOT NULL;
CREATE INDEX notifications_snoozed ON notifications (snoozed_until) WHERE snoozed_until IS NOT NULL;
