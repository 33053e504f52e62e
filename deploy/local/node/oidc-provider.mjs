// An OpenID Connect provider with Keycloak's URL layout and token shape, for
// local development and tests. Keycloak itself cannot be installed here;
// oidc-provider (OpenID Certified) serves discovery, JWKS, the token endpoint
// (client credentials natively, Keycloak's direct-access "password" grant as
// a registered grant type) and userinfo under /realms/<realm>/..., and this
// file adds the subset of Keycloak's Admin REST API for users that orgman
// calls, validating request bodies against Keycloak's published
// UserRepresentation schema (npm keycloak-api, generated from Keycloak's
// OpenAPI document).
//
// usage: node oidc-provider.mjs --port P --realm-file F --keys-file K

import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { userRepresentationSchema } from 'keycloak-api/admin/schemas';
import Provider, { errors } from 'oidc-provider';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const host = args.host ?? '127.0.0.1';
const port = Number(args.port ?? 8180);
const realm = JSON.parse(readFileSync(args['realm-file'], 'utf8'));
const base = `http://${host}:${port}`;
const realmPath = `/realms/${realm.realm}`;
const issuer = `${base}${realmPath}`;
const audience = realm.audience;
// oidc-provider keys resource servers by an absolute URI; the tokens' `aud`
// is the plain audience, as in Keycloak.
const resourceIndicator = `urn:orgman:${audience}`;
const tokenTtl = Number(process.env.OIDC_ACCESS_TOKEN_TTL ?? realm.accessTokenLifespan ?? 300);

// Signing keys survive restarts (tokens stay verifiable in a dev stack).
async function signingKeys(path) {
  if (path && existsSync(path)) return JSON.parse(readFileSync(path, 'utf8'));
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  const jwks = { keys: [jwk] };
  if (path) writeFileSync(path, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}
const jwks = await signingKeys(args['keys-file']);
const publicJwks = {
  keys: jwks.keys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use })),
};

// ---- users -----------------------------------------------------------------

const users = new Map(); // id -> { representation, password }
for (const { password, realmRoles = [], ...rest } of realm.users) {
  users.set(rest.id, {
    representation: { ...rest, realmRoles, createdTimestamp: Date.now(), emailVerified: true },
    password,
  });
}
const lower = (text) => (text ?? '').toLowerCase();
const findBy = (field, value) =>
  [...users.values()].find((u) => lower(u.representation[field]) === lower(value));

function publicRepresentation({ representation }) {
  const { realmRoles, ...rest } = representation;
  return rest;
}

function userClaims(user) {
  const r = user.representation;
  const claims = {
    sub: r.id,
    preferred_username: r.username,
    email: r.email,
    email_verified: Boolean(r.emailVerified),
    given_name: r.firstName,
    family_name: r.lastName,
    name: [r.firstName, r.lastName].filter(Boolean).join(' ') || undefined,
  };
  const org = r.attributes?.[realm.organizationClaim]?.[0];
  if (org) claims[realm.organizationClaim] = org;
  return claims;
}

// ---- the OIDC provider -----------------------------------------------------

const clients = realm.clients.map((c) =>
  c.publicClient
    ? {
        client_id: c.clientId,
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'password'],
        response_types: ['code'],
        redirect_uris: c.redirectUris ?? [],
      }
    : {
        client_id: c.clientId,
        client_secret: c.secret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
);
const clientById = new Map(realm.clients.map((c) => [c.clientId, c]));

const resourceServer = {
  scope: 'openid profile email',
  audience,
  accessTokenFormat: 'jwt',
  accessTokenTTL: tokenTtl,
  jwt: { sign: { alg: 'RS256' } },
};

const provider = new Provider(issuer, {
  clients,
  jwks,
  cookies: { keys: [randomBytes(32).toString('hex')] },
  routes: {
    authorization: '/protocol/openid-connect/auth',
    token: '/protocol/openid-connect/token',
    jwks: '/protocol/openid-connect/certs',
    userinfo: '/protocol/openid-connect/userinfo',
    end_session: '/protocol/openid-connect/logout',
    introspection: '/protocol/openid-connect/token/introspect',
    revocation: '/protocol/openid-connect/revoke',
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  },
  scopes: ['openid', 'profile', 'email'],
  ttl: { AccessToken: tokenTtl, ClientCredentials: tokenTtl },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resourceIndicator,
      useGrantedResource: () => true,
      getResourceServerInfo: () => resourceServer,
    },
  },
  async findAccount(ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return { accountId: id, claims: () => userClaims(user) };
  },
  formats: {
    customizers: {
      // Keycloak's access token shape.
      jwt(ctx, token, jwt) {
        jwt.header = { ...jwt.header, typ: 'JWT' };
        const client = clientById.get(token.clientId);
        const payload = jwt.payload;
        payload.typ = 'Bearer';
        payload.azp = token.clientId;
        if (token.accountId) {
          const user = users.get(token.accountId);
          Object.assign(payload, userClaims(user));
          payload.realm_access = {
            roles: [`default-roles-${realm.realm}`, ...user.representation.realmRoles],
          };
          payload.resource_access = { account: { roles: ['view-profile'] } };
        } else {
          payload.sub = client.serviceAccountUserId;
          payload.preferred_username = `service-account-${client.clientId}`;
          payload.clientId = client.clientId;
          payload.realm_access = { roles: [`default-roles-${realm.realm}`] };
          payload.resource_access = Object.fromEntries(
            Object.entries(client.serviceAccountClientRoles ?? {}).map(([c, roles]) => [c, { roles }]),
          );
        }
      },
    },
  },
});
provider.proxy = true;
provider.on('server_error', (ctx, error) => console.error('oidc-provider: server error', error));

// Keycloak's direct-access grant for non-interactive test users.
provider.registerGrantType(
  'password',
  async (ctx) => {
    const { username, password } = ctx.oidc.params;
    if (!username || !password) throw new errors.InvalidRequest('username and password are required');
    const user = findBy('username', username) ?? findBy('email', username);
    if (!user || user.password !== password || user.representation.enabled === false) {
      throw new errors.InvalidGrant('Invalid user credentials');
    }
    const { AccessToken, ResourceServer } = ctx.oidc.provider;
    const token = new AccessToken({
      accountId: user.representation.id,
      client: ctx.oidc.client,
      gty: 'password',
      scope: 'openid profile email',
    });
    token.resourceServer = new ResourceServer(resourceIndicator, resourceServer);
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      expires_in: token.expiration,
      token_type: 'Bearer',
      scope: token.scope,
      'not-before-policy': 0,
    };
  },
  ['username', 'password', 'scope'],
);

// ---- Keycloak Admin REST API: users ------------------------------------------

const localJwks = createLocalJWKSet(publicJwks);
const adminPrefix = `/admin/realms/${realm.realm}/users`;

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...headers,
  });
  res.end(text);
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

async function authorizeAdmin(req, role) {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Bearer ')) return 401;
  try {
    const { payload } = await jwtVerify(header.slice(7), localJwks, { issuer, algorithms: ['RS256'] });
    const roles = payload.resource_access?.['realm-management']?.roles ?? [];
    return roles.includes(role) ? 200 : 403;
  } catch {
    return 401;
  }
}

async function adminUsers(req, res, url) {
  const rest = url.pathname.slice(adminPrefix.length).replace(/^\//, '');
  const reading = req.method === 'GET';
  const auth = await authorizeAdmin(req, reading ? 'view-users' : 'manage-users');
  if (auth === 401) return send(res, 401, { error: 'HTTP 401 Unauthorized' });
  if (auth === 403) return send(res, 403, { error: 'HTTP 403 Forbidden' });

  if (rest === '' && req.method === 'GET') {
    const q = url.searchParams;
    const exact = q.get('exact') === 'true';
    const matches = (field) => {
      const wanted = q.get(field);
      if (wanted === null) return () => true;
      return (u) =>
        exact
          ? lower(u.representation[field]) === lower(wanted)
          : lower(u.representation[field]).includes(lower(wanted));
    };
    const first = Number(q.get('first') ?? 0);
    const max = Number(q.get('max') ?? 100);
    const found = [...users.values()]
      .filter(matches('email'))
      .filter(matches('username'))
      .slice(first, first + max)
      .map(publicRepresentation);
    return send(res, 200, found);
  }
  if (rest === '' && req.method === 'POST') {
    let body;
    try {
      body = userRepresentationSchema.strict().parse(await readJson(req));
    } catch (error) {
      return send(res, 400, { error: 'unknown_error', errorMessage: String(error.message ?? error).slice(0, 500) });
    }
    const username = lower(body.username ?? body.email);
    if (!username) return send(res, 400, { errorMessage: 'User name is missing' });
    if (findBy('username', username)) return send(res, 409, { errorMessage: 'User exists with same username' });
    if (body.email && findBy('email', body.email)) return send(res, 409, { errorMessage: 'User exists with same email' });
    const id = randomUUID();
    const password = (body.credentials ?? []).find((c) => c.type === 'password')?.value;
    const { credentials, ...representation } = body;
    users.set(id, {
      representation: {
        ...representation,
        id,
        username,
        email: body.email ? lower(body.email) : undefined,
        enabled: body.enabled ?? false,
        emailVerified: body.emailVerified ?? false,
        createdTimestamp: Date.now(),
        realmRoles: ['USER'],
      },
      password,
    });
    return send(res, 201, undefined, { location: `${base}${adminPrefix}/${id}` });
  }
  const user = users.get(rest);
  if (!user) return send(res, 404, { error: 'User not found' });
  if (req.method === 'GET') return send(res, 200, publicRepresentation(user));
  if (req.method === 'PUT') {
    let body;
    try {
      body = userRepresentationSchema.strict().parse(await readJson(req));
    } catch (error) {
      return send(res, 400, { error: 'unknown_error', errorMessage: String(error.message ?? error).slice(0, 500) });
    }
    const { credentials, id, username, ...changes } = body;
    Object.assign(user.representation, changes);
    return send(res, 204);
  }
  if (req.method === 'DELETE') {
    users.delete(rest);
    return send(res, 204);
  }
  return send(res, 405, { error: 'Method not allowed' });
}

// ---- HTTP ----------------------------------------------------------------------

const oidc = provider.callback();
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, base);
  try {
    if (url.pathname === adminPrefix || url.pathname.startsWith(`${adminPrefix}/`)) {
      return await adminUsers(req, res, url);
    }
    if (url.pathname === realmPath || url.pathname.startsWith(`${realmPath}/`)) {
      req.originalUrl = req.url;
      req.url = req.url.slice(realmPath.length) || '/';
      return oidc(req, res);
    }
    send(res, 404, { error: 'Not found' });
  } catch (error) {
    console.error(error);
    send(res, 500, { error: 'internal' });
  }
});
server.listen(port, host, () => {
  console.log(`oidc-provider: realm ${realm.realm} at ${issuer} (Keycloak layout), admin API at ${base}/admin/realms/${realm.realm}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
