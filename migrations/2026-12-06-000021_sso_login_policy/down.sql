DROP TRIGGER sso_configs_sso_login ON sso_configs;
DROP TRIGGER organization_domains_sso_login ON organization_domains;
DROP FUNCTION refresh_sso_login_of_row();
DROP FUNCTION refresh_sso_login(uuid);
ALTER TABLE organizations
    DROP COLUMN sso_login_configs,
    DROP COLUMN sso_required_domains;
