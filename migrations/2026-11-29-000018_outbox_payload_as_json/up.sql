-- The outbox keeps each event's JSON as written (json, not jsonb): it is
-- only ever read back whole, by the relays, so building and re-printing a
-- jsonb tree for every event was work without a reader. The audit row gets
-- its columns from the writer instead of from the payload.
--
-- The unique index on event_id goes: every outbox row has an audit row
-- written in the same statement, whose primary key is the same id, so the
-- id was checked twice.
--
-- The type change rewrites the table; the outbox holds only events not yet
-- pruned (ORGMAN_OUTBOX_RETENTION_HOURS), so it is small where retention
-- runs.
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_event_id_key;
ALTER TABLE outbox ALTER COLUMN payload TYPE json USING payload::json;
