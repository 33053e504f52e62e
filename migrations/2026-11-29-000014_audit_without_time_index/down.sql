CREATE INDEX audit_events_org_idx ON audit_events (org_id, occurred_at);
