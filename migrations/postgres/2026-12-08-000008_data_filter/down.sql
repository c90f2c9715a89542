DROP INDEX IF EXISTS notifications_data;
