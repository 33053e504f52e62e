-- The organization-mirror sink (organizations and memberships mirrored in
-- Keycloak's Organizations) keeps its own progress. As for the
-- login-broker sink, only the event types it takes are written pending,
-- and only while it runs; existing rows are settled (a reconciliation
-- brings existing organizations to Keycloak).
ALTER TABLE outbox
    ADD COLUMN mirror_synced_at  TIMESTAMPTZ DEFAULT now(),
    ADD COLUMN mirror_attempts   INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN mirror_last_error TEXT,
    ADD COLUMN mirror_dead_at    TIMESTAMPTZ;
ALTER TABLE outbox ALTER COLUMN mirror_synced_at DROP DEFAULT;

CREATE INDEX outbox_mirror_pending_idx ON outbox (seq) WHERE mirror_synced_at IS NULL AND mirror_dead_at IS NULL;
CREATE INDEX outbox_mirror_dead_idx ON outbox (seq) WHERE mirror_dead_at IS NOT NULL;
