package dev.orgman.keycloak;

import java.util.Locale;

import jakarta.ws.rs.core.Response;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.authentication.authenticators.broker.AbstractIdpAuthenticator;
import org.keycloak.authentication.authenticators.broker.util.SerializedBrokeredIdentityContext;
import org.keycloak.broker.provider.BrokeredIdentityContext;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;

/**
 * The first step of orgman's first-broker-login flow: a login through an
 * organization's identity provider goes on (to create an account, or to
 * link one) only when the address the provider asserts is in a domain the
 * organization has verified. orgman marks such a provider with
 * {@value #RESTRICTED} = {@code true} and lists the domains under
 * {@value #DOMAINS}, separated by spaces (absent when there are none:
 * Keycloak drops empty values); a provider without the mark (one orgman
 * does not manage, or an installation-wide one) is not restricted.
 * Everything else is refused before Keycloak looks for an existing
 * account, so no link is offered and no link-confirmation mail is sent.
 */
public final class VerifiedDomainAuthenticator extends AbstractIdpAuthenticator {

    /** The provider configuration key that marks a restricted provider. */
    public static final String RESTRICTED = "orgman.emailDomainsOnly";

    /** The provider configuration key holding the organization's verified domains. */
    public static final String DOMAINS = "orgman.emailDomains";

    /** What the refused person reads. */
    static final String REFUSAL = "This organization's sign-in is only for addresses of the "
            + "domains it has verified. Sign in another way, or ask its administrator.";

    /** The event error recorded for a refused login. */
    public static final String EVENT_ERROR = "orgman_email_domain_not_verified";

    @Override
    protected void authenticateImpl(AuthenticationFlowContext context,
            SerializedBrokeredIdentityContext serialized, BrokeredIdentityContext broker) {
        java.util.Map<String, String> config = broker.getIdpConfig().getConfig();
        boolean restricted = "true".equals(config.get(RESTRICTED));
        String listed = config.getOrDefault(DOMAINS, "");
        if (!restricted || isAllowed(broker.getEmail(), listed)) {
            context.success();
            return;
        }
        // Keycloak shows a message key it does not know as it is: the
        // sentence itself, with no theme to install.
        sendFailureChallenge(context, Response.Status.FORBIDDEN, EVENT_ERROR, REFUSAL,
                AuthenticationFlowError.ACCESS_DENIED);
    }

    @Override
    protected void actionImpl(AuthenticationFlowContext context,
            SerializedBrokeredIdentityContext serialized, BrokeredIdentityContext broker) {
        authenticateImpl(context, serialized, broker);
    }

    /** Whether {@code email}'s domain is one of the space-separated {@code listed}. */
    static boolean isAllowed(String email, String listed) {
        if (email == null) {
            return false;
        }
        int at = email.lastIndexOf('@');
        if (at < 1 || at == email.length() - 1) {
            return false;
        }
        String domain = email.substring(at + 1).toLowerCase(Locale.ROOT);
        for (String allowed : listed.split("[\\s,]+")) {
            if (!allowed.isEmpty() && allowed.toLowerCase(Locale.ROOT).equals(domain)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean requiresUser() {
        return false;
    }

    @Override
    public boolean configuredFor(KeycloakSession session, RealmModel realm, UserModel user) {
        return true;
    }
}
