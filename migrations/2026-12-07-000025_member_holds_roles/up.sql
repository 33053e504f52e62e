-- Whether a membership holds any custom or platform role. The hot read of
-- a member's access looks at this flag and reads the roles' permissions
-- only when it is set: a statement with the roles' subquery costs
-- PostgreSQL about half as much again to start as the plain lookup, on
-- every request, for the many members who hold no such role.
--
-- Kept by triggers on the two holding tables, so every writer (the
-- service, an import, a role deleted with its holders, psql) keeps it
-- true. Adding the column with a constant default rewrites nothing.
ALTER TABLE organization_members
    ADD COLUMN holds_roles BOOLEAN NOT NULL DEFAULT false;

CREATE FUNCTION organization_members_holds_roles() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE organization_members SET holds_roles = true
        WHERE org_id = NEW.org_id AND user_id = NEW.user_id AND NOT holds_roles;
    ELSE
        UPDATE organization_members m
        SET holds_roles =
            EXISTS (SELECT 1 FROM member_custom_roles r
                    WHERE r.org_id = m.org_id AND r.user_id = m.user_id)
            OR EXISTS (SELECT 1 FROM member_platform_roles r
                       WHERE r.org_id = m.org_id AND r.user_id = m.user_id)
        WHERE m.org_id = OLD.org_id AND m.user_id = OLD.user_id AND m.holds_roles;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER member_custom_roles_holds_roles
    AFTER INSERT OR DELETE ON member_custom_roles
    FOR EACH ROW EXECUTE FUNCTION organization_members_holds_roles();

CREATE TRIGGER member_platform_roles_holds_roles
    AFTER INSERT OR DELETE ON member_platform_roles
    FOR EACH ROW EXECUTE FUNCTION organization_members_holds_roles();

UPDATE organization_members m SET holds_roles = true
WHERE EXISTS (SELECT 1 FROM member_custom_roles r
              WHERE r.org_id = m.org_id AND r.user_id = m.user_id)
   OR EXISTS (SELECT 1 FROM member_platform_roles r
              WHERE r.org_id = m.org_id AND r.user_id = m.user_id);
