-- Erasure (GDPR Article 17): an erased person's row stays, without address
-- or names, marked with when they were erased. Its ids keep the records
-- that name them countable, and a token of the account finds the mark and
-- provisions nothing again.
ALTER TABLE users ADD COLUMN erased_at TIMESTAMPTZ;
ALTER TABLE users ADD CONSTRAINT users_erased_without_data
    CHECK (erased_at IS NULL OR (email IS NULL AND display_name IS NULL
                                 AND given_name IS NULL AND family_name IS NULL
                                 AND search_words = '{}'));
