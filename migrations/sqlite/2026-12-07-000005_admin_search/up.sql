-- The admin console's search on SQLite is a `LIKE` over the rows its other filters leave (no
-- trigram index here); the migration exists so both backends keep the same list.
SELECT 1;
