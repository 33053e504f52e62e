CREATE INDEX outbox_broker_unpublished_org_idx ON outbox (aggregate_id) WHERE published_at IS NULL;
