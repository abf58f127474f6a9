// A real OpenID provider for the upstream-account tests: panva's oidc-provider, the package (and
// lock file) `make bench` installs into bench/peer/node_modules, with a login page of its own.
//
// Environment: OP_PORT, OP_ISSUER, OP_CLIENTS (JSON list of client metadata).
// The login page (GET /interaction/:uid) is a form whose one field, `login`, names the account
// that signs in (any name: these are the provider's own people, not the campus's); consent is
// given at once. Its id tokens are RS256, signed with a key made at start.
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const peer = createRequire(path.join(here, '..', '..', 'bench', 'peer', 'package.json'));
const load = async (name) => import(pathToFileURL(peer.resolve(name)).href);
const { default: Provider } = await load('oidc-provider');
const { exportJWK, generateKeyPair } = await load('jose');

const env = process.env;
const PORT = Number(env.OP_PORT);
const ISSUER = env.OP_ISSUER || `http://127.0.0.1:${PORT}`;

const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: crypto.randomUUID() };

const provider = new Provider(ISSUER, {
  clients: JSON.parse(env.OP_CLIENTS || '[]'),
  jwks: { keys: [jwk] },
  cookies: { keys: ['upstream-test-cookie-key'] },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  findAccount: (_ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, name: `Upstream ${id}`, preferred_username: id }),
  }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});

const escape = (text) => String(text).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.prompt.name === 'login' && ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Upstream sign-in</title>
<form method="post" action="/interaction/${escape(details.uid)}">
<input name="login"><button>Sign in</button></form>`;
    return undefined;
  }
  let result;
  if (details.prompt.name === 'login') {
    const body = await new Promise((resolve) => {
      let data = '';
      ctx.req.on('data', (chunk) => { data += chunk; });
      ctx.req.on('end', () => resolve(new URLSearchParams(data)));
    });
    const login = body.get('login');
    result = login ? { login: { accountId: login } } : { error: 'access_denied' };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    result = { consent: { grantId: await grant.save() } };
  }
  const location = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(location);
  return undefined;
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));
provider.listen(PORT, '127.0.0.1');
console.log(`upstream OpenID provider on ${ISSUER}`);
