// Login with OpenID Connect: authorization code with PKCE against the
// identity provider orgman trusts. Tokens live in memory only (never in
// localStorage or sessionStorage) and are renewed with the refresh token.
import { InMemoryWebStorage, UserManager, WebStorageStateStore, type User } from 'oidc-client-ts';

/** What orgman-server tells the page about its login (`/console/config.json`). */
export interface ConsoleConfig {
  /** The issuer: Keycloak's realm URL. */
  authority: string;
  /** The public client the console logs in with. */
  clientId: string;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch('/console/config.json', { headers: { Accept: 'application/json' } });
  if (!response.ok) {
    throw new Error(`The console's settings could not be read (${response.status}).`);
  }
  return (await response.json()) as ConsoleConfig;
}

export function userManager(config: ConsoleConfig): UserManager {
  const home = `${window.location.origin}/console/`;
  return new UserManager({
    authority: config.authority,
    client_id: config.clientId,
    redirect_uri: home,
    post_logout_redirect_uri: home,
    response_type: 'code',
    scope: 'openid profile email',
    // Tokens in memory; the login's state and PKCE verifier survive the
    // redirect in sessionStorage (oidc-client-ts's default state store).
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    // Renewed with the refresh token 30 s before the access token expires
    // (oidc-client-ts uses the refresh token when it has one: no iframe).
    automaticSilentRenew: true,
    accessTokenExpiringNotificationTimeInSeconds: 30,
    monitorSession: false,
    loadUserInfo: false,
  });
}

/** Completes a login redirect, if this page load is one; returns the user. */
export async function completeLogin(manager: UserManager): Promise<User | null> {
  const params = new URLSearchParams(window.location.search);
  if (!params.has('code') && !params.has('error')) {
    return null;
  }
  const user = await manager.signinRedirectCallback();
  const hash = typeof user.state === 'string' ? user.state : '';
  window.history.replaceState(null, '', `/console/${hash}`);
  return user;
}
