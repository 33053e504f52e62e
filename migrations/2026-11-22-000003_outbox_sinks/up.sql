-- Each consumer of the outbox keeps its own progress: the broker relay uses
-- published_at / attempts / last_error (from the first migration) and
-- dead_at; the authorization sync uses the authz_* columns.

ALTER TABLE outbox
    ADD COLUMN dead_at          TIMESTAMPTZ,
    ADD COLUMN authz_synced_at  TIMESTAMPTZ,
    ADD COLUMN authz_attempts   INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN authz_last_error TEXT,
    ADD COLUMN authz_dead_at    TIMESTAMPTZ;

DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_broker_pending_idx ON outbox (seq) WHERE published_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_authz_pending_idx ON outbox (seq) WHERE authz_synced_at IS NULL AND authz_dead_at IS NULL;
