ALTER TABLE organization_domains
    DROP CONSTRAINT organization_domains_policy_needs_verification,
    DROP COLUMN sso_required,
    DROP COLUMN auto_join;
