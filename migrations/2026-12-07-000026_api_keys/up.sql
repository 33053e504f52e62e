-- Organizations' API keys. The secret is never stored: `digest` is the
-- SHA-256 (hex) of its random token. Permissions are stored by catalog
-- name, like a role's. A key goes with its organization's row.
CREATE TABLE api_keys (
    id              UUID         NOT NULL CONSTRAINT api_keys_pkey PRIMARY KEY,
    org_id          UUID         NOT NULL
        CONSTRAINT api_keys_org_id_fkey REFERENCES organizations (id) ON DELETE CASCADE,
    name            VARCHAR(100) NOT NULL,
    prefix          VARCHAR(32)  NOT NULL,
    digest          VARCHAR(128) NOT NULL,
    permissions     TEXT[]       NOT NULL DEFAULT '{}',
    created_by      UUID         NOT NULL,
    created_by_kind VARCHAR(16)  NOT NULL DEFAULT 'user',
    created_at      TIMESTAMPTZ  NOT NULL,
    expires_at      TIMESTAMPTZ,
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ,
    rotated_from    UUID
);

-- An organization's keys, by id (its listing's pages).
CREATE INDEX api_keys_org_idx ON api_keys (org_id, id);

-- Who acted, by kind: `user`, `apiKey`, `scimClient`. Entries written
-- before it were all users'. A constant default: instant.
ALTER TABLE audit_events ADD COLUMN actor_kind VARCHAR(16) NOT NULL DEFAULT 'user';
