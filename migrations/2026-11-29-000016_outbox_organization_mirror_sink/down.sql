DROP INDEX IF EXISTS outbox_mirror_dead_idx;
DROP INDEX IF EXISTS outbox_mirror_pending_idx;
ALTER TABLE outbox
    DROP COLUMN mirror_dead_at,
    DROP COLUMN mirror_last_error,
    DROP COLUMN mirror_attempts,
    DROP COLUMN mirror_synced_at;
