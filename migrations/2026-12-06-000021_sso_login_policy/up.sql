-- Each organization's sign-in rule, kept beside it so that every request
-- that reads an organization reads the rule too, at no extra cost: the
-- names of its verified ssoRequired domains and the ids of its enabled SSO
-- configurations. Triggers keep both in step with organization_domains and
-- sso_configs in the writing transaction; nothing else writes them.
ALTER TABLE organizations
    ADD COLUMN sso_required_domains text[] NOT NULL DEFAULT '{}',
    ADD COLUMN sso_login_configs uuid[] NOT NULL DEFAULT '{}';

CREATE FUNCTION refresh_sso_login(organization uuid) RETURNS void
LANGUAGE sql AS $$
    UPDATE organizations SET
        sso_required_domains = ARRAY(
            SELECT lower(d.name) FROM organization_domains d
            WHERE d.org_id = organization AND d.verified_at IS NOT NULL AND d.sso_required
            ORDER BY 1),
        sso_login_configs = ARRAY(
            SELECT c.id FROM sso_configs c
            WHERE c.org_id = organization AND c.enabled
            ORDER BY 1)
    WHERE id = organization;
$$;

CREATE FUNCTION refresh_sso_login_of_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM refresh_sso_login(OLD.org_id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.org_id IS DISTINCT FROM OLD.org_id) THEN
        PERFORM refresh_sso_login(NEW.org_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER organization_domains_sso_login
    AFTER INSERT OR UPDATE OR DELETE ON organization_domains
    FOR EACH ROW EXECUTE FUNCTION refresh_sso_login_of_row();

CREATE TRIGGER sso_configs_sso_login
    AFTER INSERT OR UPDATE OR DELETE ON sso_configs
    FOR EACH ROW EXECUTE FUNCTION refresh_sso_login_of_row();

SELECT refresh_sso_login(id) FROM organizations
WHERE id IN (SELECT org_id FROM organization_domains UNION SELECT org_id FROM sso_configs);
