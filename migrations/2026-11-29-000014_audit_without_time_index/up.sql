-- The audit trail is read per organization in pages of event ids
-- (audit_events_org_id_idx, from 000009); nothing reads it by time, so the
-- (org_id, occurred_at) index only cost every event (a member import writes
-- one per member) another index entry.
DROP INDEX audit_events_org_idx;
