DROP INDEX notifications_snoozed;
DROP INDEX notifications_hidden;
ALTER TABLE inbox_state DROP COLUMN hidden_count, DROP COLUMN seen_unread_count;
ALTER TABLE notifications DROP COLUMN snoozed_until, DROP COLUMN archived_at, DROP COLUMN seen_at;
