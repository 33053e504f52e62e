-- An outbox row may carry several events: a change that emits many events
-- of one kind for one organization (a member import: thousands of
-- `member.added`) stores them as rows of up to 500, the payload a JSON
-- array of the events in order. Every sink still receives one event per
-- member; the relays expand the rows when they claim them and settle a row
-- as a whole. Audit rows stay one per event.
--
-- `events` counts a row's events (1 for a row holding one event object),
-- so backlogs and claims are measured in events.
ALTER TABLE outbox ADD COLUMN events integer NOT NULL DEFAULT 1 CHECK (events >= 1);

-- Rows of hundreds of events are compressed with lz4 where the server has
-- it (several times cheaper than the default pglz); otherwise as before.
DO $$
BEGIN
    ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;

-- One row per event, whatever the storage: for operators and tests.
CREATE VIEW outbox_events AS
SELECT o.seq,
       e.n::integer AS index_in_row,
       (e.event ->> 'id')::uuid AS event_id,
       o.aggregate_id,
       o.event_type,
       e.event AS payload,
       o.created_at,
       o.published_at,
       o.dead_at,
       o.authz_synced_at,
       o.authz_dead_at,
       o.idp_synced_at,
       o.idp_dead_at,
       o.mirror_synced_at,
       o.mirror_dead_at
FROM outbox o
CROSS JOIN LATERAL json_array_elements(
    CASE WHEN json_typeof(o.payload) = 'array' THEN o.payload ELSE json_build_array(o.payload) END
) WITH ORDINALITY AS e(event, n);
