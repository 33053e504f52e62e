DROP INDEX outbox_authz_pending_idx;
DROP INDEX outbox_broker_pending_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
ALTER TABLE outbox
    DROP COLUMN authz_dead_at,
    DROP COLUMN authz_last_error,
    DROP COLUMN authz_attempts,
    DROP COLUMN authz_synced_at,
    DROP COLUMN dead_at;
