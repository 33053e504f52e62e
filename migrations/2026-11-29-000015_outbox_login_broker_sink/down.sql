DROP INDEX IF EXISTS outbox_idp_dead_idx;
DROP INDEX IF EXISTS outbox_idp_pending_idx;
ALTER TABLE outbox
    DROP COLUMN idp_dead_at,
    DROP COLUMN idp_last_error,
    DROP COLUMN idp_attempts,
    DROP COLUMN idp_synced_at;
