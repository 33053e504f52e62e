import { useEffect, useState, type ReactNode } from 'react';
import type { User, UserManager } from 'oidc-client-ts';
import { get, useTokens } from './api';
import { LoadingView, useLoad } from './ui';
import type { Me, Organization, Page } from './types';
import { MyOrganizations } from './pages/MyOrganizations';
import { Overview } from './pages/Overview';
import { Members } from './pages/Members';
import { Invitations } from './pages/Invitations';
import { Domains } from './pages/Domains';
import { SsoConfigs } from './pages/SsoConfigs';
import { Audit } from './pages/Audit';
import { Roles } from './pages/Roles';
import { ApiKeys } from './pages/ApiKeys';
import { Webhooks } from './pages/Webhooks';
import { Directory } from './pages/Directory';
import { Platform } from './pages/Platform';
import { Health } from './pages/Health';

/** The part of the address after `#`, split: `#/org/<id>/members`. */
function useRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

const ORGANIZATION_PAGES: [string, string][] = [
  ['', 'Overview'],
  ['members', 'Members'],
  ['invitations', 'Invitations'],
  ['domains', 'Domains'],
  ['sso', 'SSO'],
  ['roles', 'Roles'],
  ['api-keys', 'API keys'],
  ['webhooks', 'Webhooks'],
  ['directory', 'Directory (SCIM)'],
  ['audit', 'Audit trail'],
];

function SignIn({ manager }: { manager: UserManager }) {
  const [problem, setProblem] = useState('');
  return (
    <main className="signin">
      <h1>orgman console</h1>
      <p>Run your organizations: members, invitations, domains, single sign-on and the audit trail.</p>
      <button
        type="button"
        onClick={() =>
          manager
            .signinRedirect({ state: window.location.hash })
            .catch((e: unknown) => setProblem(`The identity provider cannot be reached: ${String(e)}`))
        }
      >
        Sign in
      </button>
      {problem ? <p role="alert">{problem}</p> : null}
    </main>
  );
}

function Switcher({ current }: { current?: string }) {
  const mine = useLoad(() => get<Page<Organization>>('/api/v1/organizations/mine?limit=100'), [current]);
  const items = mine.data?.items ?? [];
  return (
    <div className="field inline switcher">
      <label htmlFor="switcher">Organization</label>
      <select
        id="switcher"
        value={current ?? ''}
        onChange={(e) => {
          window.location.hash = e.target.value ? `#/org/${e.target.value}` : '#/';
        }}
      >
        <option value="">{items.length ? 'Choose…' : 'None yet'}</option>
        {items.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name}
          </option>
        ))}
        {current && !items.some((o) => o.id === current) ? <option value={current}>(this organization)</option> : null}
      </select>
      {mine.data?.nextCursor ? <a href="#/">More…</a> : null}
    </div>
  );
}

function OrganizationShell({ id, page }: { id: string; page: string }) {
  const organization = useLoad(() => get<Organization>(`/api/v1/organizations/${id}`), [id]);
  const pages: Record<string, (o: Organization) => ReactNode> = {
    '': (o) => <Overview organization={o} onChanged={organization.reload} />,
    members: (o) => <Members organization={o} />,
    invitations: (o) => <Invitations organization={o} />,
    domains: (o) => <Domains organization={o} />,
    sso: (o) => <SsoConfigs organization={o} />,
    roles: (o) => <Roles organization={o} />,
    'api-keys': (o) => <ApiKeys organization={o} />,
    webhooks: (o) => <Webhooks organization={o} />,
    directory: (o) => <Directory organization={o} />,
    audit: (o) => <Audit organization={o} />,
  };
  const render = pages[page] ?? pages[''];
  return (
    <>
      <nav aria-label="Organization" className="tabs">
        <ul>
          {ORGANIZATION_PAGES.map(([path, title]) => (
            <li key={path}>
              <a href={`#/org/${id}${path ? `/${path}` : ''}`} aria-current={page === path ? 'page' : undefined}>
                {title}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <LoadingView loaded={organization}>
        {(o) => (
          <>
            <h1>
              {o.name} <span className={`status status-${o.status.toLowerCase()}`}>{o.status}</span>
            </h1>
            {render(o)}
          </>
        )}
      </LoadingView>
    </>
  );
}

export function App({ manager, initialUser }: { manager: UserManager; initialUser: User | null }) {
  const [user, setUser] = useState<User | null>(initialUser);
  const route = useRoute();
  useTokens(() => user?.access_token);
  useEffect(() => {
    const loaded = (u: User) => setUser(u);
    const gone = () => setUser(null);
    manager.events.addUserLoaded(loaded);
    manager.events.addUserUnloaded(gone);
    manager.events.addSilentRenewError(gone);
    return () => {
      manager.events.removeUserLoaded(loaded);
      manager.events.removeUserUnloaded(gone);
      manager.events.removeSilentRenewError(gone);
    };
  }, [manager]);
  const me = useLoad(() => (user ? get<Me>('/api/v1/users/me') : Promise.resolve(undefined)), [user?.profile.sub]);
  if (!user || user.expired) return <SignIn manager={manager} />;
  const [top, id, page] = route;
  const admin = me.data?.systemRole === 'ADMIN';
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <a className="brand" href="#/">
          orgman
        </a>
        <Switcher current={top === 'org' ? id : undefined} />
        <nav aria-label="Console">
          <ul>
            <li>
              <a href="#/">My organizations</a>
            </li>
            {admin ? (
              <>
                <li>
                  <a href="#/platform">All organizations</a>
                </li>
                <li>
                  <a href="#/health">Health</a>
                </li>
              </>
            ) : null}
          </ul>
        </nav>
        <span className="who">{me.data?.email ?? user.profile.preferred_username}</span>
        <button type="button" onClick={() => void manager.signoutRedirect({ id_token_hint: user.id_token })}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <LoadingView loaded={me}>
          {(m) =>
            m === undefined ? null : top === 'org' && id ? (
              <OrganizationShell id={id} page={page ?? ''} />
            ) : top === 'platform' && admin ? (
              <Platform />
            ) : top === 'health' && admin ? (
              <Health />
            ) : (
              <MyOrganizations />
            )
          }
        </LoadingView>
      </main>
    </>
  );
}
