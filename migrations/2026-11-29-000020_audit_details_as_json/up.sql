-- Audit details are kept as written (json, not jsonb). orgman writes them
-- from its own serializer and reads them back whole (`details::text`,
-- decoded into the event's kind), so parsing each into a jsonb tree at
-- insert was work without a reader: for a member import, about a tenth of
-- PostgreSQL's time. The audit API's output does not change. Ad-hoc
-- queries keep `->`, `->>` and the json_* functions; jsonb's operators
-- (`@>`, `?`) need a `details::jsonb` cast.
--
-- The type change rewrites the table under an exclusive lock, for a time
-- that grows with the audit trail (see docs/operations.md).
ALTER TABLE audit_events ALTER COLUMN details TYPE json USING details::json;
ALTER TABLE audit_events ALTER COLUMN details SET DEFAULT '{}'::json;
