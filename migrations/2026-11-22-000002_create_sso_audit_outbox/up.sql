-- SSO configurations, the audit log and the transactional outbox.

CREATE TABLE sso_configs (
    id                UUID         NOT NULL PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL for an installation-wide configuration.
    org_id            UUID         REFERENCES organizations (id) ON DELETE CASCADE,
    name              VARCHAR(100) NOT NULL,
    issuer_url        VARCHAR(500) NOT NULL,
    client_id         VARCHAR(255) NOT NULL,
    -- Ciphertext only (AES-GCM, self-describing); never a plain secret.
    client_secret_enc VARCHAR(500) NOT NULL,
    enabled           BOOLEAN      NOT NULL DEFAULT true,
    auto_provision    BOOLEAN      NOT NULL DEFAULT true,
    created_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX sso_configs_org_idx ON sso_configs (org_id);

-- Who did what to which organization. Kept even when an organization is
-- purged, so no foreign key.
CREATE TABLE audit_events (
    id          UUID         NOT NULL PRIMARY KEY,
    org_id      UUID         NOT NULL,
    actor_id    UUID,
    action      VARCHAR(100) NOT NULL,
    request_id  UUID,
    details     JSONB        NOT NULL DEFAULT '{}',
    occurred_at TIMESTAMPTZ  NOT NULL
);
CREATE INDEX audit_events_org_idx ON audit_events (org_id, occurred_at);

-- Events written in the same transaction as the change they describe, and
-- published after it commits. `seq` gives the publication order.
CREATE TABLE outbox (
    seq          BIGSERIAL    NOT NULL PRIMARY KEY,
    event_id     UUID         NOT NULL CONSTRAINT outbox_event_id_key UNIQUE,
    aggregate_id UUID         NOT NULL,
    event_type   VARCHAR(100) NOT NULL,
    payload      JSONB        NOT NULL,
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ,
    attempts     INTEGER      NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
