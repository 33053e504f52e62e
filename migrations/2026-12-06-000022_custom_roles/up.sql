-- The permission catalog's registered permissions: those other services of
-- the platform define. orgman's own permissions are fixed in code and are
-- not stored.
CREATE TABLE permissions (
    name        VARCHAR(81)  NOT NULL CONSTRAINT permissions_pkey PRIMARY KEY,
    description VARCHAR(500) NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- Roles an organization defines. Permissions are catalog names; the domain
-- checks them against the catalog under an advisory lock, since orgman's
-- own names have no rows to reference.
CREATE TABLE custom_roles (
    org_id      UUID         NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role_key    VARCHAR(63)  NOT NULL,
    name        VARCHAR(100) NOT NULL,
    description VARCHAR(500) NOT NULL DEFAULT '',
    permissions TEXT[]       NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT custom_roles_pkey PRIMARY KEY (org_id, role_key)
);

-- "Which roles grant this permission", for the catalog's deletions.
CREATE INDEX custom_roles_permissions_idx ON custom_roles USING gin (permissions);

-- The custom roles a member holds besides the built-in role kept in
-- organization_members. A membership's rows go with it; a role that
-- members hold cannot be deleted under them.
CREATE TABLE member_custom_roles (
    org_id   UUID        NOT NULL,
    user_id  UUID        NOT NULL,
    role_key VARCHAR(63) NOT NULL,
    CONSTRAINT member_custom_roles_pkey PRIMARY KEY (org_id, user_id, role_key),
    CONSTRAINT member_custom_roles_membership_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES organization_members (org_id, user_id) ON DELETE CASCADE,
    CONSTRAINT member_custom_roles_role_fkey FOREIGN KEY (org_id, role_key)
        REFERENCES custom_roles (org_id, role_key)
);

-- "Who holds this role", for deleting or replacing it.
CREATE INDEX member_custom_roles_role_idx ON member_custom_roles (org_id, role_key);
