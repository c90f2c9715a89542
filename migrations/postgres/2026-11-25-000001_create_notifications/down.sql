DROP TABLE idempotency_keys;
DROP TABLE notification_preferences;
DROP TABLE inbox_state;
DROP TABLE notifications;
