-- A secret of 256 characters may be 1 KiB in UTF-8, and more once sealed
-- and encoded: the column holds whatever the cipher produces.
ALTER TABLE sso_configs ALTER COLUMN client_secret_enc TYPE TEXT;
