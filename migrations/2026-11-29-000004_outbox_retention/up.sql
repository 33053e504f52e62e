-- Metrics read the outbox's backlog through these partial indexes (dead
-- rows are rare), never by scanning the table; retention deletes settled
-- rows in commit order.
CREATE INDEX outbox_broker_dead_idx ON outbox (seq) WHERE dead_at IS NOT NULL;
CREATE INDEX outbox_authz_dead_idx ON outbox (seq) WHERE authz_dead_at IS NOT NULL;
