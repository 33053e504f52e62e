DELETE FROM sso_configs WHERE protocol = 'saml';
ALTER TABLE sso_configs
    DROP CONSTRAINT sso_configs_one_protocol,
    DROP COLUMN saml,
    DROP COLUMN protocol,
    ALTER COLUMN issuer_url SET NOT NULL,
    ALTER COLUMN client_id SET NOT NULL,
    ALTER COLUMN client_secret_enc SET NOT NULL;
