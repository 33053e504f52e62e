-- Only the authorizer sink asks whether an organization has events in
-- doubt; nothing asks it of the broker sink, and every outbox write paid
-- for this index.
DROP INDEX IF EXISTS outbox_broker_unpublished_org_idx;
