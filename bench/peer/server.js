// The peer for `make bench`: panva's oidc-provider, configured like campus-idp.
//
// Equivalent where it matters for the numbers:
// - the same grants: authorization_code (PKCE S256), refresh_token (rotated on every use, as
//   campus-idp always does), client_credentials; introspection; userinfo;
// - JWT access tokens (RFC 9068) for a resource server (RFC 8707 resource indicators), signed
//   RS256 for https://api.example.edu/rs256 and ES256 for https://api.example.edu/es256;
//   ID tokens RS256; the same lifetimes as campus-idp's defaults;
// - state shared by every worker in Redis (the adapter in redis_adapter.js), one worker per
//   PEER_WORKERS through node:cluster, as `idp serve --workers N`.
// Differences that oidc-provider imposes are listed in bench/README.md.
//
// Settings come from the environment (set by bench/run.py): PEER_PORT, PEER_ISSUER,
// PEER_WORKERS, PEER_REDIS_URL, PEER_REDIS_PREFIX, PEER_CLIENTS (JSON list of client metadata),
// PEER_ACCOUNT (JSON: the claims of the one person the bench signs in as).
import cluster from 'node:cluster';
import crypto from 'node:crypto';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

import { redisAdapter } from './redis_adapter.js';

const env = process.env;
const PORT = Number(env.PEER_PORT || 3000);
const ISSUER = env.PEER_ISSUER || `http://127.0.0.1:${PORT}`;
const WORKERS = Number(env.PEER_WORKERS || 1);

async function signingKeys() {
  const keys = [];
  for (const [alg, options] of [['RS256', { modulusLength: 2048 }], ['ES256', {}]]) {
    const { privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
    const jwk = await exportJWK(privateKey);
    keys.push({ ...jwk, alg, use: 'sig', kid: crypto.randomUUID() });
  }
  return keys;
}

function resourceServer(resource) {
  const alg = resource.endsWith('/es256') ? 'ES256' : 'RS256';
  return {
    scope: 'api:read',
    audience: resource,
    accessTokenTTL: 900,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg } },
  };
}

function configuration(keys) {
  const account = JSON.parse(env.PEER_ACCOUNT || '{"sub":"bench"}');
  return {
    adapter: redisAdapter(env.PEER_REDIS_URL || 'redis://127.0.0.1:6379/0', env.PEER_REDIS_PREFIX || 'bench-peer:'),
    clients: JSON.parse(env.PEER_CLIENTS || '[]'),
    jwks: { keys },
    cookies: { keys: [env.PEER_COOKIE_KEY || 'bench-cookie-key'] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'api:read'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // no resource asked: the token is for userinfo (opaque), as campus-idp's default audience
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: (_ctx, resource) => resourceServer(resource),
      },
    },
    pkce: { required: () => true },
    // campus-idp rotates every refresh token on use (the family keeps its absolute expiry)
    rotateRefreshToken: () => true,
    ttl: {
      AccessToken: 900,
      AuthorizationCode: 60,
      ClientCredentials: 900,
      IdToken: 3600,
      RefreshToken: 2592000,
      Interaction: 3600,
      Session: 28800,
      Grant: 2592000,
    },
    // the person store: one in-memory account (campus-idp asks LDAP instead)
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ ...account, sub: id }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    clientBasedCORS: () => false,
  };
}

// The interaction UI is the bench's: it signs the bench person in and consents to what the
// client asked, so the driver can build an SSO session. Only setup traffic goes through here.
function benchInteractions(provider, account) {
  return async (ctx, next) => {
    if (!ctx.path.startsWith('/interaction/')) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (details.prompt.name === 'login') {
      result = { login: { accountId: account.sub } };
    } else {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      if (details.prompt.details.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(details.prompt.details.missingResourceScopes)) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      result = { consent: { grantId: await grant.save() } };
    }
    const location = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(location);
  };
}

async function worker() {
  const keys = JSON.parse(env.PEER_SIGNING_KEYS);
  const provider = new Provider(ISSUER, configuration(keys));
  const account = JSON.parse(env.PEER_ACCOUNT || '{"sub":"bench"}');
  provider.use(benchInteractions(provider, account));
  provider.on('server_error', (_ctx, error) => console.error('server_error', error));
  provider.listen(PORT, '127.0.0.1');
}

if (cluster.isPrimary) {
  // one key set for every worker: tokens signed by one verify at the other
  const keys = await signingKeys();
  for (let i = 0; i < WORKERS; i += 1) cluster.fork({ PEER_SIGNING_KEYS: JSON.stringify(keys) });
  cluster.on('exit', (w, code) => {
    console.error(`peer worker ${w.process.pid} exited with ${code}`);
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    process.exit(0);
  });
  console.log(`oidc-provider peer on ${ISSUER} with ${WORKERS} worker(s)`);
} else {
  await worker();
}
