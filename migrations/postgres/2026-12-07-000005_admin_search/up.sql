-- The admin console's search (`q`): words anywhere in a notification's title or message,
-- case-insensitive (`lower(…) LIKE '%words%'`). Trigram indexes (pg_trgm, from PostgreSQL's
-- contrib, a trusted extension since PostgreSQL 13: the database owner may create it) make that
-- an index lookup whatever the table's size. Where the extension cannot be created (no contrib,
-- no privilege) nothing here fails: the search then scans, bounded by the statement timeout
-- (503 `unavailable`), and everything else works.
-- On a large table these builds block writes to notifications while they run; to avoid that,
-- create the extension and the indexes by hand first with CREATE INDEX CONCURRENTLY (the same
-- names: IF NOT EXISTS makes this migration a no-op then).
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): the admin search scans', SQLERRM;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS notifications_title_trgm ON notifications USING gin (lower(title) gin_trgm_ops);
        CREATE INDEX IF NOT EXISTS notifications_message_trgm ON notifications USING gin (lower(message) gin_trgm_ops);
    END IF;
END
$$;
