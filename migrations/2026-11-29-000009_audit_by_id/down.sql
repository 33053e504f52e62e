DROP INDEX audit_events_org_id_idx;
