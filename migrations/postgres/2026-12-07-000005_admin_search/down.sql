DROP INDEX IF EXISTS notifications_title_trgm;
DROP INDEX IF EXISTS notifications_message_trgm;
