DROP INDEX outbox_authz_dead_idx;
DROP INDEX outbox_broker_dead_idx;
