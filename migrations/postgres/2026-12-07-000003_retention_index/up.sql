-- Retention deletes notifications by age (`created_at < cutoff`, batch by batch): without an
-- index each batch scans the table. Expired idempotency keys are found by their own index
-- (idempotency_keys_created_at, in the first migration).
-- On a large PostgreSQL table this build blocks writes to notifications while it runs; to avoid
-- that, create the index by hand first with `CREATE INDEX CONCURRENTLY notifications_created_at
-- ON notifications (created_at)` (IF NOT EXISTS makes this migration a no-op then).
CREATE INDEX IF NOT EXISTS notifications_created_at ON notifications (created_at);
