-- The admin console's audit log: who (the token's user id) did what (`action`), to whom
-- (`target_user_id`, `target_ids`: a JSON array of notification ids), with what (`detail`: JSON),
-- when. Listed in the console newest first; pruned by retention like notifications.
-- Keep in step with migrations/postgres.
CREATE TABLE admin_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    target_user_id BIGINT,
    target_ids TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX admin_audit_created_at ON admin_audit (created_at);
