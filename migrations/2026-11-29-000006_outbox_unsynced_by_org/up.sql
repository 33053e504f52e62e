-- Every replica asks, before trusting an authorizer's decision about an
-- organization, whether that organization has authorization events not yet
-- taken in: one index probe per organization.
CREATE INDEX outbox_authz_unsynced_org_idx ON outbox (aggregate_id) WHERE authz_synced_at IS NULL;
CREATE INDEX outbox_broker_unpublished_org_idx ON outbox (aggregate_id) WHERE published_at IS NULL;
