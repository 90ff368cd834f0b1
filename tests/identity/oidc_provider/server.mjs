// oidc-provider (a certified OpenID provider) as a third-party issuer for
// tests/identity/test_oidc_provider.py: Hubgraph must work with an issuer it did not
// write, whose scopes (read, write) and roles are not Hubgraph's own.
//
//   node server.mjs PORT      (or OIDC_PORT=PORT node server.mjs)
//
// Serves http://127.0.0.1:PORT and prints "listening <issuer>" once it accepts
// connections. Everything lives in memory and ends with the process.
//
// * Resource indicators (RFC 8707): any absolute http(s) URL is a resource server whose
//   tokens are JWTs (RS256) with aud = that URL and the scopes "read write". Which URLs a
//   validator accepts is the validator's business, so the test can ask for a token for
//   an unrelated resource and see it refused.
// * Client "service" (confidential, client_secret_basic): client credentials.
// * Client "cli" (public, native): authorization code with PKCE, redirecting to a
//   loopback URL nobody listens on (the test reads the Location header).
// * Account "alice": a realm role and a client role (Keycloak's layout), which the
//   test's role paths and scope map turn into Hubgraph scopes. Logins go through
//   oidc-provider's development interactions: a form post of prompt=login&login=alice,
//   then prompt=consent.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.OIDC_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.mjs PORT (or OIDC_PORT=PORT)');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const SERVICE_SECRET = 'service-secret-for-tests-only';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const RESOURCE_SCOPES = 'read write';

// Roles as Keycloak would put them: realm roles and roles of the "hubgraph" client.
const ACCOUNTS = {
  alice: { realm: ['reader'], client: { hubgraph: ['editor'] } },
};

// A fresh signing key per run: nothing secret is kept in the repository.
function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
}

function isResourceUrl(indicator) {
  try {
    const url = new URL(indicator);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.hash;
  } catch {
    return false;
  }
}

const configuration = {
  clients: [
    {
      client_id: 'service',
      client_secret: SERVICE_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'cli',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
    },
  ],
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  scopes: ['openid'],
  async findAccount(ctx, id) {
    if (!Object.hasOwn(ACCOUNTS, id)) return undefined;
    return { accountId: id, claims: async () => ({ sub: id }) };
  },
  // The roles go into the access token, where the resource servers read them.
  async extraTokenClaims(ctx, token) {
    const account = token.accountId && ACCOUNTS[token.accountId];
    if (!account) return undefined;
    const resourceAccess = Object.fromEntries(
      Object.entries(account.client).map(([client, roles]) => [client, { roles }]),
    );
    return { realm_access: { roles: account.realm }, resource_access: resourceAccess };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // One resource per token, named in every request (no default resource): a token
      // that names none is opaque, not a JWT, and no use to a resource server.
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      async getResourceServerInfo(ctx, indicator) {
        if (!isResourceUrl(indicator)) throw new Provider.errors.InvalidTarget();
        return {
          scope: RESOURCE_SCOPES,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, error) => console.error('server_error', error));

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));

// The test stops the process with SIGTERM; close cleanly so the port is freed at once.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
