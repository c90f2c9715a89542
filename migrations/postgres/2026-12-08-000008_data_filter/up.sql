-- The list's `data` filter (issue 28): JSON containment, `(data::jsonb) @> '{"project": 42}'`,
-- through a GIN index (jsonb_path_ops: the smaller, faster kind for `@>`). Notifications whose
-- data is `{}` are left out of the index (a non-empty filter never matches them; the query says
-- `data <> '{}'` so the planner may use this partial index), so creates without data pay nothing.
-- Data holding an escaped NUL (`\u0000`: valid JSON, which jsonb cannot hold) is left out too,
-- so such a create never fails on the cast; a data filter never matches it.
-- On a large table this build blocks writes to notifications while it runs; to avoid that,
-- create it by hand first with CREATE INDEX CONCURRENTLY (the same name: IF NOT EXISTS makes this
-- migration a no-op then).
CREATE INDEX IF NOT EXISTS notifications_data ON notifications USING gin ((data::jsonb) jsonb_path_ops)
    WHERE data <> '{}' AND strpos(data, '\u0000') = 0;
