ALTER TABLE audit_events ALTER COLUMN details TYPE jsonb USING details::jsonb;
ALTER TABLE audit_events ALTER COLUMN details SET DEFAULT '{}'::jsonb;
