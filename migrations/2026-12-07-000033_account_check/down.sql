DROP INDEX users_account_missing;
ALTER TABLE users DROP COLUMN account_missing_since;
