DROP TRIGGER IF EXISTS organizations_delete_memberships ON organizations;
DROP TRIGGER IF EXISTS users_delete_memberships ON users;
DROP TRIGGER IF EXISTS organization_members_references_on_update ON organization_members;
DROP TRIGGER IF EXISTS organization_members_references_on_insert ON organization_members;
DROP FUNCTION IF EXISTS organization_members_of_deleted_organizations();
DROP FUNCTION IF EXISTS organization_members_of_deleted_users();
DROP FUNCTION IF EXISTS organization_members_check_references();
ALTER TABLE organization_members
    ADD CONSTRAINT organization_members_org_id_fkey
        FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    ADD CONSTRAINT organization_members_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
