-- Memberships keep pointing at existing users and organizations, checked
-- once per statement instead of once per row.
--
-- A foreign key checks each inserted row with its own query and locks the
-- referenced row (FOR KEY SHARE, which writes to that row). For a member
-- import of 5,000 rows per chunk those checks cost more than the insert
-- itself. One anti-join over the statement's rows gives the same answer
-- (SQLSTATE 23503, as before) at a fraction of the cost.
--
-- What the foreign keys did on DELETE, the triggers below do too: deleting
-- a user or an organization deletes its memberships. orgman never deletes
-- either (organizations are purged to a tombstone, users stay); unlike a
-- foreign key, a delete run by hand concurrently with a membership insert
-- for the same row is not serialized against it.
ALTER TABLE organization_members
    DROP CONSTRAINT IF EXISTS organization_members_org_id_fkey,
    DROP CONSTRAINT IF EXISTS organization_members_user_id_fkey;

CREATE FUNCTION organization_members_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM written w
               WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = w.user_id)) THEN
        RAISE EXCEPTION 'a membership names a user that does not exist'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'organization_members_user_id_fkey';
    END IF;
    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT org_id FROM written) w
               WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = w.org_id)) THEN
        RAISE EXCEPTION 'a membership names an organization that does not exist'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'organization_members_org_id_fkey';
    END IF;
    RETURN NULL;
END
$$;

-- A trigger with transition tables takes one event, hence two.
CREATE TRIGGER organization_members_references_on_insert
    AFTER INSERT ON organization_members
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION organization_members_check_references();
CREATE TRIGGER organization_members_references_on_update
    AFTER UPDATE ON organization_members
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION organization_members_check_references();

CREATE FUNCTION organization_members_of_deleted_users() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM organization_members m USING gone g WHERE m.user_id = g.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_delete_memberships
    AFTER DELETE ON users
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION organization_members_of_deleted_users();

CREATE FUNCTION organization_members_of_deleted_organizations() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM organization_members m USING gone g WHERE m.org_id = g.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER organizations_delete_memberships
    AFTER DELETE ON organizations
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION organization_members_of_deleted_organizations();
