DROP INDEX IF EXISTS outbox_authz_late_idx;
DROP INDEX IF EXISTS outbox_org_created_idx;
