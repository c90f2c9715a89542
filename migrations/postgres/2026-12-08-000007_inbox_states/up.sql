-- The inbox states besides read (issue 28): seen (the badge counts unread notifications not yet
-- seen), archived (hidden from the default list) and snoozed (hidden until `snoozed_until`, then
-- unread again). Keep in step with migrations/sqlite.
-- Adding nullable columns without a default rewrites nothing: instant on any table size.
ALTER TABLE notifications
    ADD COLUMN seen_at TIMESTAMP,
    ADD COLUMN archived_at TIMESTAMP,
    ADD COLUMN snoozed_until TIMESTAMP;
-- Kept exact as unread_count is: unread notifications already seen (unseen = unread - this), and
-- notifications archived or snoozed (the default list's total = total_count - this). Creates
-- touch neither: a new notification is unseen and not hidden.
ALTER TABLE inbox_state
    ADD COLUMN seen_unread_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN hidden_count BIGINT NOT NULL DEFAULT 0;
-- Lists of archived or snoozed notifications; new rows are not in it (no cost per create).
CREATE INDEX notifications_hidden ON notifications (user_id, id)
    WHERE archived_at IS NOT NULL OR snoozed_until IS NOT NULL;
-- The snooze waker's "what is due" scan.
CREATE INDEX notifications_snoozed ON notifications (snoozed_until) WHERE snoozed_until IS NOT NULL;
