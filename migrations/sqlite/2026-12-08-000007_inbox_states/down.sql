DROP INDEX notifications_snoozed;
DROP INDEX notifications_hidden;
ALTER TABLE inbox_state DROP COLUMN hidden_count;
ALTER TABLE inbox_state DROP COLUMN seen_unread_count;
ALTER TABLE notifications DROP COLUMN snoozed_until;
ALTER TABLE notifications DROP COLUMN archived_at;
ALTER TABLE notifications DROP COLUMN seen_at;
