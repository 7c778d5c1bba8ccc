// The OpenID Connect provider of cloudauth's integration tests: oidc-provider
// with a password grant, the device flow, fixed users and a few admin routes
// that let tests rotate keys and make the token endpoint slow or failing.
// It listens on 127.0.0.1 only and must never be used for anything else.

import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import querystring from 'node:querystring';
import { fileURLToPath } from 'node:url';

import Provider, { errors } from 'oidc-provider';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = {
    port: Number(process.env.IDP_PORT ?? 0),
    host: process.env.IDP_HOST ?? '127.0.0.1',
    cert: process.env.IDP_CERT,
    key: process.env.IDP_KEY,
    state: process.env.IDP_STATE,
    log: process.env.IDP_LOG,
    users: process.env.IDP_USERS ?? path.join(here, 'users.json'),
    keys: process.env.IDP_KEYS,
    interval: Number(process.env.IDP_INTERVAL ?? 5),
    deviceTtl: Number(process.env.IDP_DEVICE_TTL ?? 600),
    secret: process.env.IDP_CLIENT_SECRET_FILE ?? path.join(here, 'client-secret.txt'),
  };
  const names = {
    '--port': 'port', '--host': 'host', '--cert': 'cert', '--key': 'key', '--state': 'state',
    '--log': 'log', '--users': 'users', '--keys': 'keys', '--interval': 'interval',
    '--device-ttl': 'deviceTtl', '--client-secret': 'secret',
  };
  for (let i = 0; i < argv.length; i += 1) {
    const name = names[argv[i]];
    if (!name || i + 1 >= argv.length) {
      throw new Error(`usage: server.mjs [--port N] [--host ADDR] [--cert FILE --key FILE] [--state DIR] [--log FILE] [--users FILE] [--keys FILE] [--interval SECONDS] [--device-ttl SECONDS] [--client-secret FILE] (bad argument '${argv[i]}')`);
    }
    i += 1;
    opts[name] = ['port', 'interval', 'deviceTtl'].includes(name) ? Number(argv[i]) : argv[i];
  }
  for (const n of ['port', 'interval', 'deviceTtl']) {
    if (!Number.isInteger(opts[n]) || opts[n] < 0) throw new Error(`--${n} must be a non-negative integer`);
  }
  if (Boolean(opts.cert) !== Boolean(opts.key)) throw new Error('--cert and --key go together');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

function loadUsers(file) {
  const data = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byName = new Map();
  const bySub = new Map();
  for (const u of data.users) {
    byName.set(u.email.toLowerCase(), u);
    bySub.set(u.sub, u);
  }
  return { byName, bySub };
}

const users = loadUsers(opts.users);
const clientSecret = fs.readFileSync(opts.secret, 'utf8').trim();

function newKey(kty) {
  const { privateKey } = kty === 'RSA'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    ...jwk, kid: crypto.randomBytes(12).toString('base64url'), use: 'sig', alg: kty === 'RSA' ? 'RS256' : 'ES256',
  };
}

function loadOrCreateKeys(file) {
  if (file && fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')).keys;
  const keys = [newKey('RSA'), newKey('EC')];
  saveKeys(file, keys);
  return keys;
}

function saveKeys(file, keys) {
  if (!file) return;
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

let signingKeys = loadOrCreateKeys(opts.keys);

// Test controls, shared by every provider instance (rotation builds a new one).
const control = { tokenDelayMs: 0, failStatus: 0, failCount: 0 };
const lastPoll = new Map(); // device_code -> ms of its last poll
// device_code -> S256 code_challenge sent with its device authorization request
const devicePkce = new Map();
// What the device authorization requests carried, for tests: GET /__test/device-requests
const deviceRequests = [];

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Each comparison costs the same whether or not the user exists, so the
// answer's timing says nothing about which names are known.
const dummyPassword = crypto.randomBytes(32).toString('hex');
function passwordMatches(user, password) {
  const a = crypto.createHash('sha256').update(user ? user.password : dummyPassword).digest();
  const b = crypto.createHash('sha256').update(String(password)).digest();
  return crypto.timingSafeEqual(a, b) && Boolean(user);
}

// Whether the provider still vouches for user and, given a token, for the
// grant it belongs to: a disabled user, and every grant issued up to the
// second of a revocation, are refused (the refresh grant then answers
// invalid_grant, as real providers do).
function active(user, token) {
  if (!user || user.disabled) return false;
  return !(token && user.revokedAt && typeof token.iat === 'number' && token.iat <= user.revokedAt);
}

class EntraStyleError extends errors.InvalidGrant {
  constructor(code, description) {
    super(description);
    this.errorCodes = [code];
  }
}

function accountFor(user) {
  return {
    accountId: user.sub,
    async claims() {
      return {
        sub: user.sub,
        preferred_username: user.email,
        email: user.email,
        email_verified: true,
        name: user.name,
        groups: user.groups ?? [],
        roles: user.roles ?? [],
        // Further claims of this user's tokens, as a provider's claim mappers add them.
        ...(user.claims ?? {}),
      };
    },
  };
}

const knownScopes = new Set(['openid', 'offline_access', 'profile', 'email']);

async function passwordGrant(ctx) {
  const { provider } = ctx.oidc;
  const { client, params } = ctx.oidc;
  const username = String(params.username ?? '').toLowerCase();
  const user = users.byName.get(username);
  if (!passwordMatches(user, params.password ?? '') || !active(user)) {
    throw new errors.InvalidGrant('invalid username or password');
  }
  if (user.error_codes?.length) {
    const code = user.error_codes[0];
    const text = code === 50076
      ? 'AADSTS50076: multi-factor authentication is required'
      : `AADSTS${code}: the account cannot sign in`;
    throw new EntraStyleError(code, text);
  }

  const requested = String(params.scope ?? 'openid').split(' ').filter((s) => s);
  const scopes = requested.filter((s) => knownScopes.has(s) && client.scope.split(' ').includes(s));
  const scope = scopes.join(' ');
  const account = accountFor(user);
  ctx.oidc.entity('Account', account);

  const grant = new provider.Grant({ accountId: account.accountId, clientId: client.clientId });
  grant.addOIDCScope(scope);
  const grantId = await grant.save();
  ctx.oidc.entity('Grant', grant);

  const at = new provider.AccessToken({
    accountId: account.accountId, client, grantId, gty: 'password', scope,
  });
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken;
  if (scopes.includes('offline_access') && client.grantTypeAllowed('refresh_token')) {
    const rt = new provider.RefreshToken({
      accountId: account.accountId, client, grantId, gty: 'password', scope, rotations: 0,
      expiresWithSession: false,
    });
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  let idToken;
  if (scopes.includes('openid')) {
    const token = new provider.IdToken(await account.claims(), { ctx });
    token.scope = scope;
    token.set('at_hash', accessToken);
    idToken = await token.issue({ use: 'idtoken' });
  }

  ctx.body = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: at.expiration,
    scope,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    ...(idToken ? { id_token: idToken } : {}),
  };
}

const page = (title, body) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>${body}</body></html>`;

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readForm(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

// The login and consent pages a person (or a test driving a browser or
// curl) goes through for the device flow and the authorization code flow.
async function interactions(ctx, next) {
  const m = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/.exec(ctx.path);
  if (!m) return next();
  const { provider } = ctx.state;
  const [, uid, action] = m;
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) throw new errors.InvalidRequest('interaction mismatch');
  const { prompt, params } = details;

  if (!action && ctx.method === 'GET') {
    ctx.type = 'html';
    if (prompt.name === 'login') {
      ctx.body = page('Sign in', `<form method="post" action="/interaction/${esc(uid)}/login">
<p>Application: ${esc(params.client_id)}</p>
<label>Email <input type="email" name="login" autofocus></label>
<label>Password <input type="password" name="password"></label>
<button type="submit">Sign in</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>`);
    } else {
      ctx.body = page('Allow access', `<form method="post" action="/interaction/${esc(uid)}/confirm">
<p>${esc(params.client_id)} asks for: ${esc(params.scope)}</p>
<button type="submit" autofocus>Allow</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Deny</button></form>`);
    }
    return undefined;
  }
  if (ctx.method !== 'POST') return next();

  let result;
  if (action === 'abort') {
    result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
  } else if (action === 'login') {
    const form = await readForm(ctx);
    const user = users.byName.get(String(form.login ?? '').toLowerCase());
    if (!passwordMatches(user, form.password ?? '') || user.error_codes?.length || !active(user)) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = page('Sign in failed', `<p>Wrong email or password.</p><a href="/interaction/${esc(uid)}">Try again</a>`);
      return undefined;
    }
    result = { login: { accountId: user.sub } };
  } else if (action === 'confirm') {
    const { grantId, accountId } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: accountId ?? details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    if (prompt.details.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    return next();
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: action === 'confirm' });
  ctx.status = 303;
  ctx.redirect(returnTo);
  return undefined;
}

// oidc-provider sends no interval and never slow_down; RFC 8628 clients must
// handle both, so this server does.
//
// oidc-provider also ignores PKCE parameters on the device authorization
// request. Keycloak, with a PKCE method set on the client, requires them and
// checks code_verifier when the code is redeemed; this server does the same
// whenever a challenge was sent, so a client's PKCE is checked for real.
const s256 = (verifier) => crypto.createHash('sha256').update(verifier).digest('base64url');

// The body is kept for oidc-provider, which parses it again.
async function readFormKept(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  ctx.req.body = raw;
  return querystring.parse(raw.toString('utf8'));
}

async function deviceInterval(ctx, next) {
  let challenge;
  if (ctx.method === 'POST' && ctx.path === '/device/auth' && ctx.is('application/x-www-form-urlencoded')) {
    const form = await readFormKept(ctx);
    deviceRequests.push({ code_challenge: form.code_challenge ?? null, code_challenge_method: form.code_challenge_method ?? null });
    if (form.code_challenge !== undefined) {
      if (form.code_challenge_method !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(String(form.code_challenge))) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'code_challenge must be S256' };
        return;
      }
      challenge = String(form.code_challenge);
    }
  }
  if (ctx.method === 'POST' && ctx.path === '/token' && ctx.is('application/x-www-form-urlencoded')) {
    const form = await readFormKept(ctx);
    if (form.grant_type === 'urn:ietf:params:oauth:grant-type:device_code' && form.device_code &&
        devicePkce.has(form.device_code) &&
        (typeof form.code_verifier !== 'string' || s256(form.code_verifier) !== devicePkce.get(form.device_code))) {
      ctx.status = 400;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_grant', error_description: 'PKCE verification failed' };
      return;
    }
    if (form.grant_type === 'urn:ietf:params:oauth:grant-type:device_code' && form.device_code) {
      const now = Date.now();
      const last = lastPoll.get(form.device_code);
      lastPoll.set(form.device_code, now);
      if (last !== undefined && now - last < opts.interval * 1000) {
        ctx.status = 400;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: 'slow_down', error_description: 'polling too fast' };
        return;
      }
    }
  }
  await next();
  if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    if (challenge && ctx.body.device_code) devicePkce.set(ctx.body.device_code, challenge);
    ctx.body = { ...ctx.body, interval: opts.interval };
  }
}

async function tokenControls(ctx, next) {
  if (ctx.path === '/token' && ctx.method === 'POST') {
    if (control.tokenDelayMs > 0) await sleep(control.tokenDelayMs);
    if (control.failCount > 0) {
      control.failCount -= 1;
      ctx.status = control.failStatus;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'temporarily_unavailable', error_description: 'test failure injected' };
      return;
    }
  }
  await next();
}

async function testAdmin(ctx, next) {
  if (!ctx.path.startsWith('/__test/')) return next();
  if (ctx.method !== 'POST') {
    ctx.status = 405;
    return undefined;
  }
  if (ctx.path === '/__test/rotate') {
    const key = newKey('RSA');
    signingKeys = [key, ...signingKeys];
    saveKeys(opts.keys, signingKeys);
    setProvider(buildProvider());
    ctx.body = { kid: key.kid };
  } else if (ctx.path === '/__test/device-requests') {
    // What each device authorization request carried, oldest first.
    ctx.body = deviceRequests;
  } else if (ctx.path === '/__test/delay') {
    const ms = Number(ctx.query.ms ?? 0);
    if (!Number.isInteger(ms) || ms < 0) ctx.throw(400, 'ms must be a non-negative integer');
    control.tokenDelayMs = ms;
    ctx.body = { delay_ms: ms };
  } else if (ctx.path === '/__test/fail') {
    const status = Number(ctx.query.status ?? 503);
    const count = Number(ctx.query.count ?? 1);
    if (!Number.isInteger(status) || status < 400 || status > 599) ctx.throw(400, 'status must be 400-599');
    if (!Number.isInteger(count) || count < 0) ctx.throw(400, 'count must be a non-negative integer');
    control.failStatus = status;
    control.failCount = count;
    ctx.body = { status, count };
  } else if (ctx.path === '/__test/user') {
    // Membership changes at the provider, as an administrator makes them:
    // the next token of that user carries the new groups and roles.
    const user = users.byName.get(String(ctx.query.email ?? '').toLowerCase());
    if (!user) ctx.throw(404, 'no such user');
    const list = (v) => [v].flat().join(',').split(',').map((s) => s.trim()).filter((s) => s);
    if (ctx.query.groups !== undefined) user.groups = list(ctx.query.groups);
    if (ctx.query.roles !== undefined) user.roles = list(ctx.query.roles);
    if (ctx.query.disabled !== undefined) user.disabled = ctx.query.disabled === '1';
    if (ctx.query.deleted === '1') {
      users.byName.delete(user.email.toLowerCase());
      users.bySub.delete(user.sub);
    }
    ctx.body = { email: user.email, groups: user.groups ?? [], roles: user.roles ?? [] };
  } else if (ctx.path === '/__test/revoke') {
    // An administrator's "revoke sessions": every grant of the user so far ends.
    const user = users.byName.get(String(ctx.query.email ?? '').toLowerCase());
    if (!user) ctx.throw(404, 'no such user');
    user.revokedAt = Math.floor(Date.now() / 1000);
    ctx.body = { email: user.email, revoked_at: user.revokedAt };
  } else if (ctx.path === '/__test/reset') {
    control.tokenDelayMs = 0;
    control.failCount = 0;
    ctx.body = {};
  } else {
    ctx.status = 404;
  }
  return undefined;
}

let issuer;

const grantTypes = ['password', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code', 'authorization_code'];

function buildProvider() {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'cloudauth-test',
        token_endpoint_auth_method: 'none',
        grant_types: grantTypes,
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/callback'],
        application_type: 'native',
        scope: 'openid offline_access profile email',
      },
      {
        client_id: 'cloudauth-confidential',
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: grantTypes,
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/callback'],
        application_type: 'native',
        scope: 'openid offline_access profile email',
      },
    ],
    jwks: { keys: signingKeys },
    findAccount: async (_ctx, sub, token) => {
      const user = users.bySub.get(sub);
      return active(user, token) ? accountFor(user) : undefined;
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'groups', 'roles', 'tid', 'oid'],
      email: ['email', 'email_verified'],
    },
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form, _out, err) => {
          ctx.body = page('Enter code', `${err ? '<p>The code is not valid.</p>' : ''}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
        },
        userCodeConfirmSource: async (ctx, form, client, _device, userCode) => {
          ctx.body = page('Confirm device', `<p>${esc(client.clientId)} asks to sign in with code <code>${esc(userCode)}</code>.</p>${form}<button type="submit" form="op.deviceConfirmForm">Continue</button><button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>`);
        },
        successSource: async (ctx) => {
          ctx.body = page('Signed in', '<p>You may close this page.</p>');
        },
      },
      revocation: { enabled: true },
    },
    pkce: { required: () => true },
    ttl: {
      DeviceCode: opts.deviceTtl,
      AccessToken: 3600,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Interaction: 600,
      Session: 3600,
    },
    expiresWithSession: async () => false,
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<p>${esc(out.error)}: ${esc(out.error_description ?? '')}</p>`);
    },
  });
  provider.proxy = false;
  provider.registerGrantType('password', passwordGrant, ['username', 'password', 'scope']);
  // Entra puts error_codes beside error; oidc-provider's error bodies carry
  // only error and error_description, so they are added on the way out.
  provider.use(async (ctx, next) => {
    ctx.state.provider = provider;
    await next();
    if (ctx.path === '/token' && ctx.status === 400 && ctx.body && typeof ctx.body === 'object' && ctx.state.errorCodes) {
      ctx.body = { ...ctx.body, error_codes: ctx.state.errorCodes };
    }
  });
  provider.use(testAdmin);
  provider.use(tokenControls);
  provider.use(deviceInterval);
  provider.use(interactions);
  provider.on('grant.error', (ctx, err) => {
    if (err instanceof EntraStyleError) {
      ctx.state.errorCodes = err.errorCodes;
    }
  });
  return provider;
}

let currentHandler;
function setProvider(provider) {
  currentHandler = provider.callback();
}

function logRequest(req, res) {
  if (!opts.log) return;
  const writeHead = res.writeHead;
  res.writeHead = function patchedWriteHead(status, ...rest) {
    // Written before the answer leaves, so a test that got the answer finds the line.
    const p = (req.url ?? '').split('?')[0];
    fs.appendFileSync(opts.log, `${req.method} ${p} ${status}\n`);
    return writeHead.call(this, status, ...rest);
  };
}

const handler = (req, res) => {
  logRequest(req, res);
  currentHandler(req, res);
};

const server = opts.cert
  ? https.createServer({ cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) }, handler)
  : http.createServer(handler);

server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  const scheme = opts.cert ? 'https' : 'http';
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  issuer = `${scheme}://${host}:${port}`;
  setProvider(buildProvider());
  if (opts.state) {
    fs.writeFileSync(path.join(opts.state, 'port.tmp'), `${port}\n`);
    fs.renameSync(path.join(opts.state, 'port.tmp'), path.join(opts.state, 'port'));
  }
  process.stdout.write(`listening ${issuer}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
