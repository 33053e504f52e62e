-- The login-broker sink (SSO configurations copied to Keycloak's identity
-- providers) keeps its own progress, like the authorizer sink. It acts on
-- a handful of event types: storage writes every other event, and every
-- event when the sink is off, already settled, so only the rows the sink
-- will take enter its partial index. Existing rows are settled: a
-- reconciliation, not the outbox, brings an installation's configurations
-- to the broker the first time.
ALTER TABLE outbox
    ADD COLUMN idp_synced_at  TIMESTAMPTZ DEFAULT now(),
    ADD COLUMN idp_attempts   INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN idp_last_error TEXT,
    ADD COLUMN idp_dead_at    TIMESTAMPTZ;
ALTER TABLE outbox ALTER COLUMN idp_synced_at DROP DEFAULT;

CREATE INDEX outbox_idp_pending_idx ON outbox (seq) WHERE idp_synced_at IS NULL AND idp_dead_at IS NULL;
CREATE INDEX outbox_idp_dead_idx ON outbox (seq) WHERE idp_dead_at IS NOT NULL;
