DROP INDEX IF EXISTS notifications_created_at;
