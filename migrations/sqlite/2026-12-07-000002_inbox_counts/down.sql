DROP INDEX notifications_user_read;
ALTER TABLE inbox_state DROP COLUMN total_count;
