-- The request an idempotency key was first used for, as a SHA-256 of its canonical form: a
-- repeat of the key with a different request is refused (422 idempotency_key_reused) instead of
-- replaying the first reply. Keys stored before this column have '' and replay as before.
ALTER TABLE idempotency_keys ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
