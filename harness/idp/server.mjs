// Test OpenID Connect providers for the kafka-oidc-proxy harness: two independent issuers
// (oidc-provider 9.13.3) over plain http on loopback, issuing JWT access tokens by the
// client-credentials grant. Started by harness/idp/idp.sh, which runs this file from $KOP_WORK/idp
// (where `npm ci` put node_modules). Can also be run alone for an isolated issuer pair:
//   KOP_IDP_PORT=0 KOP_IDP2_PORT=0 node $KOP_WORK/idp/server.mjs
// prints one line per issuer, `kop-idp ready <name> <issuer URL>`, once it listens (0 = any port).
// KOP_IDP_PID_FILE, if set, receives the process id at startup.
//
// Issuers (each: discovery /.well-known/openid-configuration, /jwks, /token):
//   main    http://127.0.0.1:19400  (KOP_IDP_PORT)   all clients below
//   second  http://127.0.0.1:19401  (KOP_IDP2_PORT)  kafka-producer only, own keys
//
// Clients: secret `<client_id>-secret`, client_secret_basic or client_secret_post.
//   client_id        alg    aud    scope (default)    groups                 TTL
//   kafka-producer   RS256  kafka  kafka              producers team-a       300 s
//   kafka-consumer   RS256  kafka  kafka:read kafka   consumers              300 s
//   kafka-es256      ES256  kafka  kafka              producers              300 s
//   kafka-eddsa      EdDSA  kafka  kafka              producers              300 s
//   kafka-ps256      PS256  kafka  kafka              producers              300 s
//   kafka-short      RS256  kafka  kafka              producers              20 s
//   kafka-wrong-aud  RS256  other  kafka              producers              300 s
//   kafka-no-scope   RS256  kafka  other              producers              300 s
//   kafka-admin      RS256  kafka  kafka              platform-admins        300 s
//   kafka-proxy      RS256  kafka  kafka              proxies                300 s
//   platform-admin   RS256  kafka-management  kafka-management  platform-admins  300 s
//                    (a user of the management API's single sign-on, not a Kafka client)
// Token: header {alg, typ: "at+jwt", kid}; claims sub (= client id), client_id, iss, aud (string),
// scope (space-separated), groups (array), iat, exp, jti. A request without `scope` gets the
// client's whole scope (as Keycloak's default client scopes do); requested scopes the client does
// not have are dropped silently, and if none is left the default applies again.
//
// Test hooks, per issuer on its own port, header `X-Kop-Idp-Admin: $KOP_IDP_ADMIN_TOKEN`
// (default kop-idp-admin); every answer is JSON, all but /admin/sign return the state:
//   GET  /admin/state                 {issuer, generation, signing: {alg: kid}, published: [kid],
//                                      jwks: {status, cache_control}, hits: {jwks, discovery, token}}
//   POST /admin/rotate[?drop=1]       new keys (RSA, P-256, Ed25519) first; old keys stay published
//                                     unless drop=1. New tokens carry the new kids.
//   POST /admin/jwks?status=503       JWKS answers that status (any 100-599); status=200 restores.
//        [&cache_control=max-age=5]   also sets the JWKS Cache-Control header ("" removes it)
//   POST /admin/jwks?stall=1          JWKS requests are accepted and never answered (stall=0 ends it)
//   POST /admin/reset                 JWKS back to 200 without Cache-Control, hit counters to 0
//   POST /admin/sign  {alg, header, claims, key}   a token for negative tests, see signToken()
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';
const ADMIN_TOKEN = process.env.KOP_IDP_ADMIN_TOKEN || 'kop-idp-admin';
// Resource indicator (RFC 8707) standing for "the Kafka proxy". Only an identifier: the token's
// `aud` comes from getResourceServerInfo's `audience`.
const RESOURCE = 'urn:kop:kafka';

const DEFAULTS = { alg: 'RS256', audience: 'kafka', scope: 'kafka', ttl: 300, groups: ['producers'] };
const CLIENTS = {
  'kafka-producer': { groups: ['producers', 'team-a'] },
  'kafka-consumer': { scope: 'kafka:read kafka', groups: ['consumers'] },
  'kafka-es256': { alg: 'ES256' },
  'kafka-eddsa': { alg: 'EdDSA' },
  'kafka-ps256': { alg: 'PS256' },
  'kafka-short': { ttl: 20 },
  'kafka-wrong-aud': { audience: 'other' },
  'kafka-no-scope': { scope: 'other' },
  'kafka-admin': { groups: ['platform-admins'] },
  'kafka-proxy': { groups: ['proxies'] },
  'platform-admin': { audience: 'kafka-management', scope: 'kafka-management', groups: ['platform-admins'] },
};
const client = (id) => ({ ...DEFAULTS, ...CLIENTS[id] });

const ISSUERS = [
  { name: 'main', port: process.env.KOP_IDP_PORT ?? 19400, clients: Object.keys(CLIENTS) },
  { name: 'second', port: process.env.KOP_IDP2_PORT ?? 19401, clients: ['kafka-producer'] },
];

if (process.env.KOP_IDP_PID_FILE) fs.writeFileSync(process.env.KOP_IDP_PID_FILE, `${process.pid}\n`);

const log = (...args) => console.log(new Date().toISOString(), ...args);

// One signing key per key type. No `alg` on the JWKs, so the RSA key serves both RS256 and PS256
// (the published JWKS has `alg` only on the P-256 key: ES256, added by oidc-provider).
// oidc-provider signs with the first key of the set that fits the alg, so putting new keys first
// is what makes a rotation take effect. The kid names issuer and generation, plus a random
// part so that kids never repeat across restarts (a verifier may still cache the old JWKS).
function generateKeys(name, generation) {
  const rand = crypto.randomBytes(3).toString('hex');
  return [
    ['rsa', 'rsa', { modulusLength: 2048 }],
    ['ec', 'ec', { namedCurve: 'P-256' }],
    ['ed25519', 'okp', {}],
  ].map(([type, label, opts]) => ({
    ...crypto.generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' }),
    kid: `${name}-${generation}-${label}-${rand}`,
    use: 'sig',
  }));
}

function buildProvider(issuer, clientIds, keys) {
  const provider = new Provider(issuer, {
    clients: clientIds.map((id) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      // client_secret_post is accepted too: oidc-provider treats basic and post as one method.
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    })),
    jwks: { keys },
    features: {
      devInteractions: { enabled: false }, // no login pages: machine clients only
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Kafka clients send no `resource` parameter, and without a resource server oidc-provider
        // issues only opaque tokens (no audience to put in a JWT). So every request defaults to it.
        defaultResource: () => RESOURCE,
        // Only matters for code/refresh grants (not used here); kept as the documented setup.
        useGrantedResource: () => true,
        // Called with whatever `resource` was requested: the client, not the resource, decides.
        getResourceServerInfo: (ctx, resource, { clientId }) => {
          const c = client(clientId);
          return {
            scope: c.scope,
            audience: c.audience,
            accessTokenTTL: c.ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: c.alg } },
          };
        },
      },
    },
    // Same as the default (the resource server's TTL), but stated: silences a startup NOTICE.
    ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 300 },
    extraTokenClaims: (ctx, token) => ({ groups: client(token.clientId).groups }),
    formats: {
      customizers: {
        // Default scope when none (or none valid) was requested; see the header.
        jwt: (ctx, token, jwt) => {
          jwt.payload.scope ??= token.resourceServer?.scope;
        },
      },
    },
  });
  provider.on('server_error', (ctx, err) => log(issuer, 'server_error', err));
  return provider;
}

// --- /admin/sign: tokens an honest provider never issues ------------------------------------
// Body (all optional): {alg: 'RS256'|'PS256'|'ES256'|'EdDSA'|'HS256'|'none', header: {...},
// claims: {...}, key: 'current'|'unpublished'}. Claims default to a valid kafka-producer token of
// this issuer; a claim set to null is removed (e.g. {claims: {exp: null}}). `header` is merged
// after signing parameters are chosen, so it can lie (e.g. {alg: 'RS256'} on an ES256 signature,
// or a kid that does not exist). HS256 uses the current RSA public key (PEM) as the HMAC secret:
// the classic algorithm-confusion attack. key 'unpublished' signs with a key made at startup
// that is never in the JWKS (its kid is unknown to every verifier).
const KTY = { RS256: 'RSA', PS256: 'RSA', HS256: 'RSA', ES256: 'EC', EdDSA: 'OKP' };
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function signToken(state, { alg = 'RS256', header = {}, claims = {}, key = 'current' } = {}) {
  if (alg !== 'none' && !KTY[alg]) throw new Error(`unsupported alg ${alg}`);
  const keys = key === 'unpublished' ? state.unpublished : state.keys;
  const jwk = keys.find((k) => k.kty === (KTY[alg] ?? 'RSA'));
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    jti: crypto.randomUUID(), sub: 'kafka-producer', iat: now, exp: now + 300, scope: 'kafka',
    client_id: 'kafka-producer', iss: state.issuer, aud: 'kafka', groups: ['producers', 'team-a'],
    ...claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === null) delete payload[k];
  const input = `${b64({ alg, typ: 'at+jwt', ...(alg === 'none' ? {} : { kid: jwk.kid }), ...header })}.${b64(payload)}`;
  const priv = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  let sig = Buffer.alloc(0);
  if (alg === 'HS256') {
    const secret = crypto.createPublicKey(priv).export({ type: 'spki', format: 'pem' });
    sig = crypto.createHmac('sha256', secret).update(input).digest();
  } else if (alg === 'PS256') {
    sig = crypto.sign('sha256', Buffer.from(input), {
      key: priv, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32,
    });
  } else if (alg !== 'none') {
    // ES256 signatures in JWS are r||s (ieee-p1363), not DER; EdDSA takes no digest.
    sig = crypto.sign(alg === 'EdDSA' ? null : 'sha256', Buffer.from(input), { key: priv, dsaEncoding: 'ieee-p1363' });
  }
  return `${input}.${sig.toString('base64url')}`;
}

// --- one issuer: an http server in front of a replaceable provider ---------------------------
// oidc-provider fixes its keys at construction, so rotation builds a new Provider and swaps it in
// behind the same http server. JWT access tokens are stateless: old tokens stay verifiable as long
// as their key is published.
function issuerState(name, clientIds) {
  const state = {
    name, clientIds, issuer: undefined, generation: 0, keys: [], callback: undefined,
    jwks: { status: 200, cacheControl: '' }, hits: { jwks: 0, discovery: 0, token: 0 },
    // Made once at startup rather than per /admin/sign request: key generation is synchronous
    // and would stall every other request of both issuers while it runs.
    unpublished: generateKeys(`${name}-unpublished`, 0),
  };
  state.rotate = (drop) => {
    state.generation += 1;
    const fresh = generateKeys(name, state.generation);
    state.keys = drop ? fresh : [...fresh, ...state.keys];
    state.callback = buildProvider(state.issuer, clientIds, state.keys).callback();
  };
  state.describe = () => {
    const firstKid = (kty) => state.keys.find((k) => k.kty === kty).kid;
    return {
      issuer: state.issuer,
      generation: state.generation,
      signing: { RS256: firstKid('RSA'), PS256: firstKid('RSA'), ES256: firstKid('EC'), EdDSA: firstKid('OKP') },
      published: state.keys.map((k) => k.kid),
      jwks: { status: state.jwks.status, cache_control: state.jwks.cacheControl },
      hits: { ...state.hits },
    };
  };
  return state;
}

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : {};
}

async function admin(state, req, res, url) {
  if (req.headers['x-kop-idp-admin'] !== ADMIN_TOKEN) return reply(res, 401, { error: 'missing or wrong X-Kop-Idp-Admin header' });
  const route = `${req.method} ${url.pathname}`;
  const q = url.searchParams;
  switch (route) {
    case 'GET /admin/state':
      break;
    case 'POST /admin/rotate':
      state.rotate(q.get('drop') === '1' || q.get('drop') === 'true');
      log(state.issuer, 'rotated keys', JSON.stringify(state.describe().signing), 'published', state.keys.length);
      break;
    case 'POST /admin/jwks': {
      const status = Number(q.get('status') ?? 200);
      if (!Number.isInteger(status) || status < 100 || status > 599) return reply(res, 400, { error: 'status must be 100-599' });
      state.jwks.status = status;
      if (q.has('stall')) state.jwks.stall = q.get('stall') === '1';
      if (q.has('cache_control')) state.jwks.cacheControl = q.get('cache_control');
      log(state.issuer, 'jwks set to', JSON.stringify(state.jwks));
      break;
    }
    case 'POST /admin/reset':
      state.jwks = { status: 200, cacheControl: '', stall: false };
      state.hits = { jwks: 0, discovery: 0, token: 0 };
      break;
    case 'POST /admin/sign': {
      let token;
      try {
        token = signToken(state, await readJson(req));
      } catch (err) {
        return reply(res, 400, { error: err.message });
      }
      return reply(res, 200, { token });
    }
    default:
      return reply(res, 404, { error: `no admin route ${route}` });
  }
  return reply(res, 200, state.describe());
}

async function handle(state, req, res) {
  const url = new URL(req.url, state.issuer);
  res.on('finish', () => log(state.name, req.method, url.pathname, res.statusCode));
  if (url.pathname.startsWith('/admin/')) return admin(state, req, res, url);
  if (url.pathname === '/jwks') {
    state.hits.jwks += 1;
    if (state.jwks.stall) return; // accepted, never answered
    if (state.jwks.status !== 200) return reply(res, state.jwks.status, { error: 'jwks outage (test hook)' });
    if (state.jwks.cacheControl) res.setHeader('cache-control', state.jwks.cacheControl);
  } else if (url.pathname === '/.well-known/openid-configuration') {
    state.hits.discovery += 1;
  } else if (url.pathname === '/token') {
    state.hits.token += 1;
  }
  return state.callback(req, res);
}

for (const { name, port, clients } of ISSUERS) {
  const state = issuerState(name, clients);
  const server = http.createServer((req, res) => handle(state, req, res).catch((err) => {
    log(name, 'error', err);
    if (!res.headersSent) reply(res, 500, { error: String(err.message) });
  }));
  // Listen first, then build the provider: with port 0 the issuer URL is known only now.
  server.listen(Number(port), HOST, () => {
    state.issuer = `http://${HOST}:${server.address().port}`;
    state.rotate(false);
    log(name, 'signing kids', JSON.stringify(state.describe().signing));
    console.log(`kop-idp ready ${name} ${state.issuer}`);
  });
  server.on('error', (err) => { log(name, 'listen failed:', err.message); process.exit(1); });
}

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { log('stopping on', sig); process.exit(0); });
