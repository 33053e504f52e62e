DROP INDEX IF EXISTS outbox_webhooks_dead_idx;
DROP INDEX IF EXISTS outbox_webhooks_pending_idx;
ALTER TABLE outbox
    DROP COLUMN webhooks_dead_at,
    DROP COLUMN webhooks_last_error,
    DROP COLUMN webhooks_attempts,
    DROP COLUMN webhooks_synced_at;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
