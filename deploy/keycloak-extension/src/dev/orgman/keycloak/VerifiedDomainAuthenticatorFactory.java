package dev.orgman.keycloak;

import java.util.List;

import org.keycloak.Config;
import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.AuthenticatorFactory;
import org.keycloak.models.AuthenticationExecutionModel.Requirement;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.ProviderConfigProperty;

/** Registers {@link VerifiedDomainAuthenticator} as {@value #ID}. */
public final class VerifiedDomainAuthenticatorFactory implements AuthenticatorFactory {

    /** The authenticator's id in flows. */
    public static final String ID = "orgman-verified-email-domain";

    private static final VerifiedDomainAuthenticator SINGLETON = new VerifiedDomainAuthenticator();

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayType() {
        return "orgman: address in a verified domain";
    }

    @Override
    public String getReferenceCategory() {
        return "orgman";
    }

    @Override
    public String getHelpText() {
        return "Refuses a first broker login whose e-mail domain is not among the "
                + "provider's orgman.emailDomains (the organization's verified domains).";
    }

    @Override
    public boolean isConfigurable() {
        return false;
    }

    @Override
    public Requirement[] getRequirementChoices() {
        return new Requirement[] {Requirement.REQUIRED, Requirement.DISABLED};
    }

    @Override
    public boolean isUserSetupAllowed() {
        return false;
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return List.of();
    }

    @Override
    public Authenticator create(KeycloakSession session) {
        return SINGLETON;
    }

    @Override
    public void init(Config.Scope config) {
    }

    @Override
    public void postInit(KeycloakSessionFactory factory) {
    }

    @Override
    public void close() {
    }
}
