-- The sync guard asks, on every check of an external authorizer, whether an
-- organization's authorization data changed within a few seconds: an
-- event of it committed in that time, or one the authorizer took in more
-- than a second after its commit (after a failure, or behind a backlog)
-- in that time. Unchanged organizations are then checked at the
-- authorizer's recent snapshot. `created_at` never changes: the first
-- index costs one entry per outbox row; the second holds only the rows
-- taken in late.
CREATE INDEX outbox_org_created_idx ON outbox (aggregate_id, created_at);
CREATE INDEX outbox_authz_late_idx ON outbox (aggregate_id, authz_synced_at)
    WHERE authz_synced_at - created_at > interval '1 second';
