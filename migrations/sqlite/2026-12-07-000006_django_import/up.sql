-- `herald import-django` (crate::django_import): how far each source has been imported, so that
-- a run that stopped (Ctrl-C, a kill, a crash) continues where it did, and a later run imports
-- only what the source created since. `last_id` moves in the same transaction as the batch it
-- covers. `source` names the source database and table (no password).
-- Keep in step with the other backend's migration.
CREATE TABLE django_import (
    source TEXT NOT NULL PRIMARY KEY,
    last_id BIGINT NOT NULL,
    imported BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
