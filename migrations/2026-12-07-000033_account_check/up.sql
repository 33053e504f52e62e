-- Accounts deleted at the identity provider: since when the account check
-- has found a user's account missing (NULL: present, or not checked yet).
-- The user is erased once the mark is older than the grace period.
ALTER TABLE users ADD COLUMN account_missing_since TIMESTAMPTZ;
CREATE INDEX users_account_missing ON users (account_missing_since, id)
    WHERE account_missing_since IS NOT NULL AND erased_at IS NULL;
