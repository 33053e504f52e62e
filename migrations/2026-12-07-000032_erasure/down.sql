ALTER TABLE users DROP CONSTRAINT users_erased_without_data;
ALTER TABLE users DROP COLUMN erased_at;
