-- What a verified domain means for its users: join at first login, and
-- log in through the organization's identity provider only.
ALTER TABLE organization_domains
    ADD COLUMN auto_join    BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN sso_required BOOLEAN NOT NULL DEFAULT false,
    ADD CONSTRAINT organization_domains_policy_needs_verification
        CHECK (verified_at IS NOT NULL OR NOT (auto_join OR sso_required));
