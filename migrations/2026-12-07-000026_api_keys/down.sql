ALTER TABLE audit_events DROP COLUMN actor_kind;
DROP TABLE api_keys;
