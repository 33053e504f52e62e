-- Domains organizations claim, and prove they control through a DNS TXT
-- record holding `challenge`.
CREATE TABLE organization_domains (
    org_id      UUID         NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        VARCHAR(253) NOT NULL CHECK (name = lower(name)),
    challenge   VARCHAR(100) NOT NULL,
    created_at  TIMESTAMPTZ  NOT NULL,
    verified_at TIMESTAMPTZ,
    CONSTRAINT organization_domains_pkey PRIMARY KEY (org_id, name)
);
-- A domain is verified by at most one organization.
CREATE UNIQUE INDEX organization_domains_verified_key ON organization_domains (name)
    WHERE verified_at IS NOT NULL;
