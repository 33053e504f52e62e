-- SAML SSO configurations. A configuration speaks OpenID Connect (an
-- issuer, a client and its sealed secret) or SAML (the identity provider's
-- metadata as orgman read it, in `saml`), never both. sso_configs holds a
-- few rows per organization: the constraint's check of existing rows is
-- brief.

ALTER TABLE sso_configs
    ADD COLUMN protocol VARCHAR(8) NOT NULL DEFAULT 'oidc',
    ADD COLUMN saml     JSONB,
    ALTER COLUMN issuer_url DROP NOT NULL,
    ALTER COLUMN client_id DROP NOT NULL,
    ALTER COLUMN client_secret_enc DROP NOT NULL,
    ADD CONSTRAINT sso_configs_one_protocol CHECK (
        (protocol = 'oidc' AND saml IS NULL AND issuer_url IS NOT NULL
            AND client_id IS NOT NULL AND client_secret_enc IS NOT NULL)
        OR (protocol = 'saml' AND saml IS NOT NULL AND issuer_url IS NULL
            AND client_id IS NULL AND client_secret_enc IS NULL)
    );
