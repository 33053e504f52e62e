-- Organizations' webhook endpoints. Signing secrets are stored sealed by
-- the service's secret cipher (`secret`, and during a rotation's overlap
-- `previous_secret` until `previous_secret_until`). `failures` counts the
-- endpoint's failed attempts in a row; `leased_until` holds it for the
-- replica attempting its deliveries.
CREATE TABLE webhook_endpoints (
    id                    UUID         NOT NULL CONSTRAINT webhook_endpoints_pkey PRIMARY KEY,
    org_id                UUID         NOT NULL
        CONSTRAINT webhook_endpoints_org_id_fkey REFERENCES organizations (id) ON DELETE CASCADE,
    url                   TEXT         NOT NULL,
    event_types           TEXT[]       NOT NULL,
    enabled               BOOLEAN      NOT NULL,
    disabled_reason       TEXT,
    secret                TEXT         NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TIMESTAMPTZ,
    created_by            UUID         NOT NULL,
    created_by_kind       VARCHAR(16)  NOT NULL,
    created_at            TIMESTAMPTZ  NOT NULL,
    updated_at            TIMESTAMPTZ  NOT NULL,
    failures              INTEGER      NOT NULL DEFAULT 0,
    leased_until          TIMESTAMPTZ
);

-- An organization's endpoints by id (listings), and the enabled ones (the
-- outbox append asks whether an organization has any).
CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints (org_id, id);
CREATE INDEX webhook_endpoints_enabled_idx ON webhook_endpoints (org_id) WHERE enabled;

-- One event's delivery to one endpoint. `seq` is the order deliveries are
-- attempted in per endpoint (the outbox's order); `window_start` starts
-- the retry period (the recording, or a manual retry). The body is the
-- CloudEvent, as the broker gets it.
CREATE TABLE webhook_deliveries (
    id              UUID         NOT NULL CONSTRAINT webhook_deliveries_pkey PRIMARY KEY,
    seq             BIGSERIAL    NOT NULL,
    webhook_id      UUID         NOT NULL
        CONSTRAINT webhook_deliveries_webhook_id_fkey REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    org_id          UUID         NOT NULL,
    event_id        UUID         NOT NULL,
    event_type      VARCHAR(64)  NOT NULL,
    body            TEXT         NOT NULL,
    state           VARCHAR(16)  NOT NULL
        CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER      NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ  NOT NULL,
    window_start    TIMESTAMPTZ  NOT NULL,
    next_attempt_at TIMESTAMPTZ,
    CONSTRAINT webhook_deliveries_event_key UNIQUE (webhook_id, event_id)
);

-- An endpoint's pending deliveries in order (its head is what is due),
-- its deliveries newest first (the listing).
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (webhook_id, seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_listing_idx ON webhook_deliveries (webhook_id, id);
-- Ended deliveries by age: what the retention deletes.
CREATE INDEX webhook_deliveries_ended_idx ON webhook_deliveries (created_at) WHERE state <> 'pending';

-- Every attempt at a delivery.
CREATE TABLE webhook_attempts (
    delivery_id UUID        NOT NULL
        CONSTRAINT webhook_attempts_delivery_id_fkey REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     INTEGER     NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER     NOT NULL,
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, attempt)
);

-- The webhook sink of the outbox keeps its own progress. An event is
-- written pending for it only when its organization has an enabled
-- endpoint; existing rows are settled.
ALTER TABLE outbox
    ADD COLUMN webhooks_synced_at  TIMESTAMPTZ DEFAULT now(),
    ADD COLUMN webhooks_attempts   INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN webhooks_last_error TEXT,
    ADD COLUMN webhooks_dead_at    TIMESTAMPTZ;
ALTER TABLE outbox ALTER COLUMN webhooks_synced_at DROP DEFAULT;

CREATE INDEX outbox_webhooks_pending_idx ON outbox (seq) WHERE webhooks_synced_at IS NULL AND webhooks_dead_at IS NULL;
CREATE INDEX outbox_webhooks_dead_idx ON outbox (seq) WHERE webhooks_dead_at IS NOT NULL;
