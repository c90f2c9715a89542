-- Same migration list as migrations/postgres. SQLite has no GIN index: its `data` filter (a
-- documented subset, top-level keys equal to a value) reads the user's rows through their
-- (user_id, id) index, at most HERALD_MAX_STORED_PER_USER of them.
SELECT 1;
