ALTER TABLE sso_configs ALTER COLUMN client_secret_enc TYPE VARCHAR(500);
