ALTER TABLE organizations DROP COLUMN private_metadata, DROP COLUMN metadata;
