-- Per-user storage cap and O(1) list totals (issue 25): every inbox row keeps how many
-- notifications the user has (`total_count`, kept exact by every insert and delete, as
-- `unread_count` is), filled here from the rows that exist; and the user's read notifications
-- are indexed, so the cap finds the oldest read ones to prune without walking unread ones.
-- Keep in step with migrations/sqlite.
ALTER TABLE inbox_state ADD COLUMN total_count BIGINT NOT NULL DEFAULT 0;

-- An inbox row for every user with notifications (each create makes one; this is a safety net
-- for rows written by hand), then every count from the rows themselves.
INSERT INTO inbox_state (user_id, unread_count, last_seq)
SELECT DISTINCT user_id, 0, 0 FROM notifications
ON CONFLICT (user_id) DO NOTHING;

UPDATE inbox_state s
SET total_count = c.total, unread_count = c.unread
FROM (SELECT user_id, count(*) AS total, count(*) FILTER (WHERE NOT is_read) AS unread
      FROM notifications GROUP BY user_id) AS c
WHERE c.user_id = s.user_id;

CREATE INDEX notifications_user_read ON notifications (user_id, id) WHERE is_read;
