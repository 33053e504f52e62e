-- Roles platform administrators define for every organization to use.
-- Their keys and an organization's own role keys share one namespace in
-- each organization (the domain checks it under the catalog's advisory
-- lock), so a member's role key always names one role.
CREATE TABLE platform_roles (
    role_key    VARCHAR(63)  NOT NULL CONSTRAINT platform_roles_pkey PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    description VARCHAR(500) NOT NULL DEFAULT '',
    permissions TEXT[]       NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE INDEX platform_roles_permissions_idx ON platform_roles USING gin (permissions);

-- The platform roles a member holds. A membership's rows go with it; a
-- platform role that members hold cannot be deleted under them.
CREATE TABLE member_platform_roles (
    org_id   UUID        NOT NULL,
    user_id  UUID        NOT NULL,
    role_key VARCHAR(63) NOT NULL,
    CONSTRAINT member_platform_roles_pkey PRIMARY KEY (org_id, user_id, role_key),
    CONSTRAINT member_platform_roles_membership_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES organization_members (org_id, user_id) ON DELETE CASCADE,
    CONSTRAINT member_platform_roles_role_fkey FOREIGN KEY (role_key)
        REFERENCES platform_roles (role_key)
);

-- "Who holds this platform role", in every organization.
CREATE INDEX member_platform_roles_role_idx ON member_platform_roles (role_key);

-- Every role with its scope: an organization's own under its id, the
-- platform's under the nil UUID (the domain's OrganizationId::PLATFORM).
CREATE VIEW scoped_roles AS
    SELECT org_id AS scope_id, role_key, name, description, permissions, created_at, updated_at
    FROM custom_roles
    UNION ALL
    SELECT '00000000-0000-0000-0000-000000000000'::uuid, role_key, name, description,
           permissions, created_at, updated_at
    FROM platform_roles;

-- Every role a member holds, with the scope of the role.
CREATE VIEW member_scoped_roles AS
    SELECT org_id, user_id, role_key, org_id AS scope_id FROM member_custom_roles
    UNION ALL
    SELECT org_id, user_id, role_key, '00000000-0000-0000-0000-000000000000'::uuid
    FROM member_platform_roles;
