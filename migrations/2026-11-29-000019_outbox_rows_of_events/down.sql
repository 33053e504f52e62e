-- Rows of several events become one row per event again, after the rows
-- already there (their sinks' progress is kept, the original seq is not).
DROP VIEW outbox_events;
INSERT INTO outbox (event_id, aggregate_id, event_type, payload, created_at,
                    published_at, attempts, last_error, dead_at,
                    authz_synced_at, authz_attempts, authz_last_error, authz_dead_at,
                    idp_synced_at, idp_attempts, idp_last_error, idp_dead_at,
                    mirror_synced_at, mirror_attempts, mirror_last_error, mirror_dead_at)
SELECT (e.event ->> 'id')::uuid, o.aggregate_id, o.event_type, e.event, o.created_at,
       o.published_at, o.attempts, o.last_error, o.dead_at,
       o.authz_synced_at, o.authz_attempts, o.authz_last_error, o.authz_dead_at,
       o.idp_synced_at, o.idp_attempts, o.idp_last_error, o.idp_dead_at,
       o.mirror_synced_at, o.mirror_attempts, o.mirror_last_error, o.mirror_dead_at
FROM outbox o CROSS JOIN LATERAL json_array_elements(o.payload) WITH ORDINALITY AS e(event, n)
WHERE json_typeof(o.payload) = 'array'
ORDER BY o.seq, e.n;
DELETE FROM outbox WHERE json_typeof(payload) = 'array';
ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION default;
ALTER TABLE outbox DROP COLUMN events;
