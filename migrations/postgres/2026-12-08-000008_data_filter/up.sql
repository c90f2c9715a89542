-- The list's `data` filter (issue 28): JSON containment, `(data::jsonb) @> '{"project": 42}'`,
-- through a GIN index (jsonb_path_ops: the smaller, faster kind for `@>`) that also holds
-- `user_id` (btree_gin, from PostgreSQL's contrib, trusted since PostgreSQL 13), so one user's
-- matches are found without visiting other users' (a data-only index finds every user's rows
-- for `{"project": 42}`, then drops all but one user's). Where btree_gin cannot be created, the
-- index holds `data` alone: still correct, slower when the value is common across users.
-- Notifications whose data is `{}` are left out (a non-empty filter never matches them; the
-- query says `data <> '{}'` so the planner may use this partial index), so creates without
-- data pay nothing. Data holding an escaped NUL (`\u0000`: valid JSON, which jsonb cannot hold)
-- is left out too, so such a create never fails on the cast; a data filter never matches it.
-- On a large table this build blocks writes to notifications while it runs; to avoid that,
-- create it by hand first with CREATE INDEX CONCURRENTLY (the same name: IF NOT EXISTS makes
-- this migration a no-op then).
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS btree_gin;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'btree_gin is not available (%): the data filter index holds data alone', SQLERRM;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'btree_gin') THEN
        CREATE INDEX IF NOT EXISTS notifications_data ON notifications
            USING gin (user_id, (data::jsonb) jsonb_path_ops)
            WHERE data <> '{}' AND strpos(data, '\u0000') = 0;
    ELSE
        CREATE INDEX IF NOT EXISTS notifications_data ON notifications USING gin ((data::jsonb) jsonb_path_ops)
            WHERE data <> '{}' AND strpos(data, '\u0000') = 0;
    END IF;
END
$$;
