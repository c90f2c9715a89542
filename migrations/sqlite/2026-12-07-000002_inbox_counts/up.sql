-- Same as migrations/postgres: the per-user notification count and the index of read rows.
ALTER TABLE inbox_state ADD COLUMN total_count BIGINT NOT NULL DEFAULT 0;

INSERT INTO inbox_state (user_id, unread_count, last_seq)
SELECT DISTINCT user_id, 0, 0 FROM notifications WHERE true
ON CONFLICT (user_id) DO NOTHING;

UPDATE inbox_state
SET total_count = (SELECT count(*) FROM notifications n WHERE n.user_id = inbox_state.user_id),
    unread_count = (SELECT count(*) FROM notifications n WHERE n.user_id = inbox_state.user_id AND NOT n.is_read);

CREATE INDEX notifications_user_read ON notifications (user_id, id) WHERE is_read;
