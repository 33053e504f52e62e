-- Users, organizations and memberships.

CREATE TABLE users (
    id           UUID         NOT NULL PRIMARY KEY,
    subject      VARCHAR(255) NOT NULL CONSTRAINT users_subject_key UNIQUE,
    -- Stored lower-cased; NULL when the identity provider has none.
    email        VARCHAR(254) CONSTRAINT users_email_key UNIQUE,
    display_name VARCHAR(200),
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE TABLE organizations (
    id          UUID         NOT NULL PRIMARY KEY,
    name        VARCHAR(100) NOT NULL CHECK (length(btrim(name)) > 0),
    slug        VARCHAR(50)  NOT NULL CONSTRAINT organizations_slug_key UNIQUE
                             CHECK (slug ~ '^[a-z0-9-]+$'),
    -- Text, not an enum type: a new status needs no type migration.
    status      VARCHAR(32)  NOT NULL DEFAULT 'ACTIVE'
                             CHECK (status IN ('ACTIVE', 'SUSPENDED', 'PENDING_DELETION', 'DELETED')),
    purge_after TIMESTAMPTZ,
    -- Optimistic concurrency: every change increments it.
    version     BIGINT       NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT organizations_purge_after_check
        CHECK ((status = 'PENDING_DELETION') = (purge_after IS NOT NULL))
);

CREATE TABLE organization_members (
    org_id     UUID        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Text, so adding a role needs no migration (the reference's rule).
    role       VARCHAR(20) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT organization_members_pkey PRIMARY KEY (org_id, user_id)
);

-- "Organizations of a user", keyset-paginated by organization id.
CREATE INDEX organization_members_user_idx ON organization_members (user_id, org_id);

-- The reference's seed organization, so existing data has a home. It starts
-- without members; platform administrators manage it.
INSERT INTO organizations (id, name, slug, status, version, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-00000000d3fa', 'Default', 'default', 'ACTIVE', 1, now(), now());
