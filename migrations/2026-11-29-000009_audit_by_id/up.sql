-- The audit trail is read newest first, per organization, in pages keyed
-- by event id (UUIDv7, time-ordered).
CREATE INDEX audit_events_org_id_idx ON audit_events (org_id, id);
