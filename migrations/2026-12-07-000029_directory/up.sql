-- Organizations' directories (SCIM): the people and groups a directory
-- provisions, and the organization's mapping of its groups to roles.
-- New tables only: nothing existing is locked beyond the foreign keys'
-- brief share locks.

CREATE TABLE directory_users (
    organization_id UUID         NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              UUID         NOT NULL,
    -- NULL while the person's account is being made (account_due_at).
    user_id         UUID         REFERENCES users (id),
    user_name       VARCHAR(255) NOT NULL,
    external_id     VARCHAR(255),
    active          BOOLEAN      NOT NULL,
    -- The directory's primary address, as given; trusted only when in one
    -- of the organization's verified domains.
    email           VARCHAR(254),
    email_trusted   BOOLEAN      NOT NULL,
    display_name    VARCHAR(255),
    -- The SCIM document as the protocol keeps it.
    attributes      JSONB        NOT NULL,
    version         BIGINT       NOT NULL,
    -- The directory client that provisioned the person.
    created_by      UUID         NOT NULL,
    created_by_kind VARCHAR(16)  NOT NULL,
    -- When a worker may next try to make the person's account.
    account_due_at  TIMESTAMPTZ,
    created_at      TIMESTAMPTZ  NOT NULL,
    updated_at      TIMESTAMPTZ  NOT NULL,
    PRIMARY KEY (organization_id, id)
);
CREATE INDEX directory_users_account_due ON directory_users (account_due_at)
    WHERE user_id IS NULL;
CREATE UNIQUE INDEX directory_users_user_name_key ON directory_users (organization_id, lower(user_name));
CREATE UNIQUE INDEX directory_users_user_key ON directory_users (organization_id, user_id);
CREATE INDEX directory_users_external_id ON directory_users (organization_id, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX directory_users_email ON directory_users (organization_id, lower(email))
    WHERE email IS NOT NULL;
CREATE INDEX directory_users_display_name ON directory_users (organization_id, lower(display_name))
    WHERE display_name IS NOT NULL;

CREATE TABLE directory_groups (
    organization_id UUID         NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              UUID         NOT NULL,
    display_name    VARCHAR(255) NOT NULL,
    external_id     VARCHAR(255),
    attributes      JSONB        NOT NULL,
    version         BIGINT       NOT NULL,
    created_at      TIMESTAMPTZ  NOT NULL,
    updated_at      TIMESTAMPTZ  NOT NULL,
    PRIMARY KEY (organization_id, id)
);
CREATE UNIQUE INDEX directory_groups_display_name_key ON directory_groups (organization_id, lower(display_name));
CREATE INDEX directory_groups_external_id ON directory_groups (organization_id, external_id)
    WHERE external_id IS NOT NULL;

CREATE TABLE directory_group_members (
    organization_id UUID NOT NULL,
    group_id        UUID NOT NULL,
    user_id         UUID NOT NULL,
    PRIMARY KEY (organization_id, group_id, user_id),
    FOREIGN KEY (organization_id, group_id) REFERENCES directory_groups (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, user_id) REFERENCES directory_users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX directory_group_members_user ON directory_group_members (organization_id, user_id);

CREATE TABLE directory_group_roles (
    organization_id UUID         NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    position        INTEGER      NOT NULL,
    group_id        UUID,
    group_name      VARCHAR(255),
    role            VARCHAR(64)  NOT NULL,
    PRIMARY KEY (organization_id, position),
    CHECK ((group_id IS NULL) <> (group_name IS NULL))
);
