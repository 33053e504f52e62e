-- Organizations whose members wait to be copied to Keycloak's
-- Organizations. The outbox's mirror sink marks them (one statement per
-- batch of events), a worker on any replica takes the longest-marked one
-- for a lease, copies its members as they are now, and removes the mark
-- unless it was marked again meanwhile (`marks` moved on).
CREATE TABLE member_mirror_queue (
    org_id uuid PRIMARY KEY,
    marked_at timestamptz NOT NULL DEFAULT now(),
    marks bigint NOT NULL DEFAULT 1,
    taken_until timestamptz
);

CREATE INDEX member_mirror_queue_by_age ON member_mirror_queue (marked_at);
