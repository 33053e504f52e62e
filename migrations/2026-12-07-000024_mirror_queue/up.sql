-- Organizations whose copy in Keycloak's Organizations is stale. The
-- outbox's mirror sink marks them (one statement per batch of events,
-- `members` when a membership changed), a worker on any replica takes the
-- longest-marked one for a lease, copies it (and its members) as it is
-- now, and removes the mark unless it was marked again meanwhile (`marks`
-- moved on).
CREATE TABLE mirror_queue (
    org_id uuid PRIMARY KEY,
    members boolean NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now(),
    marks bigint NOT NULL DEFAULT 1,
    taken_until timestamptz
);

CREATE INDEX mirror_queue_by_age ON mirror_queue (marked_at);
