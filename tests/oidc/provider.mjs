// A real OpenID Connect provider for the tests: the npm package oidc-provider (pinned in
// tests/oidc_provider.py), started by that fixture on a loopback port.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"port", "issuer", "clients": [{client_id, client_secret, redirect_uris}],
//          "state_file"}. The state file is read again on every use, so a test changes it
// between sign-ins: {"accounts": {"<login>": {claims: email, name, groups, ...}},
// "publish_other_key": false}. With publish_other_key the JWKS endpoint publishes another
// RSA key under the same key id as the one that signs (a token "signed by another key"
// from the relying party's point of view). Sign-in uses oidc-provider's development
// interactions: a login form (any password) and a consent form.
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const state = () => JSON.parse(fs.readFileSync(config.state_file, 'utf8'));

function rsaJwk(kid) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
}

const kid = crypto.randomUUID();
const signing = rsaJwk(kid);
const other = rsaJwk(kid);
const publicOf = ({ d, p, q, dp, dq, qi, ...pub }) => pub;

const provider = new Provider(config.issuer, {
  clients: config.clients.map((c) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...c,
  })),
  jwks: { keys: [signing] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = state().accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { ...account, sub: id }; } };
  },
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/jwks' && state().publish_other_key) {
    ctx.type = 'application/jwk-set+json';
    ctx.body = { keys: [publicOf(other)] };
    return;
  }
  await next();
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`READY ${config.issuer}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
