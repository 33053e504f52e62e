DROP TABLE outbox;
DROP TABLE audit_events;
DROP TABLE sso_configs;
