import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { decodeProtectedHeader } from 'jose';
import { principalFromClaims } from '../../server/src/auth/principal.js';
import { createTokenVerifier, keysFromJwks } from '../../server/src/auth/verify-token.js';
import { assertion, FHIR_BASE, ISSUER, startAuthServer, type ClientKey, type Fixture } from './auth-server-fixture.js';

const FORM = 'application/x-www-form-urlencoded';

/** POST /auth/token with client_credentials (SMART Backend Services) and the endpoint's error rules. */
describe('token endpoint: client_credentials', () => {
  let fx: Fixture;
  let key: ClientKey;
  before(async () => {
    fx = await startAuthServer();
    key = await fx.registerBackend('insurer', { scopes: ['system/Claim.rs', 'system/Observation.rs', 'system/Patient.rs'] });
    await fx.registerBackend('research', { scopes: ['system/*.rs'], purposes_of_use: ['HRESCH'], roles: ['research'], fhirUser: 'Organization/org-research' });
    fx.registerApp('public-app');
  });
  after(() => fx.close());

  const form = async (fields: Record<string, string>, k: ClientKey = key, clientId = 'insurer') =>
    new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(clientId, k),
      ...fields,
    }).toString();

  it('issues an ES256 access token the FHIR gate accepts, with scope, purpose, roles and fhirUser', async () => {
    const res = await request(fx.app).post('/auth/token').type(FORM).send(await form({ scope: 'system/Claim.rs system/Observation.read' }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal(res.body.expires_in, 900);
    assert.equal(res.body.scope, 'system/Claim.rs system/Observation.read');
    assert.deepEqual(res.body.purpose_of_use, ['HPAYMT']);
    assert.equal(res.body.refresh_token, undefined, 'backend services get no refresh token');
    const header = decodeProtectedHeader(res.body.access_token);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'at+jwt');
    // Verified exactly as the gate verifies built-in tokens: against jwks().
    const verifier = createTokenVerifier({ issuer: ISSUER, audience: FHIR_BASE, clockSkewSeconds: 30, keys: keysFromJwks(() => fx.server.jwks()) });
    const claims = await verifier.verify(res.body.access_token);
    assert.equal(claims.sub, 'insurer');
    assert.equal(claims.client_id, 'insurer');
    const principal = principalFromClaims(claims, '127.0.0.1');
    assert.deepEqual(principal.roles, ['insurer']);
    assert.equal(principal.who, 'Organization/org-insurer');
    assert.deepEqual(principal.purposeOfUse, ['HPAYMT']);
    assert.ok(principal.tokenId);
  });
  it('serves the public key set at /auth/jwks', async () => {
    const res = await request(fx.app).get('/auth/jwks');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, await fx.server.jwks());
    assert.equal(res.headers['access-control-allow-origin'], '*');
  });
  it('grants the intersection of the request and the registration', async () => {
    const res = await request(fx.app).post('/auth/token').type(FORM).send(await form({ scope: 'system/Claim.rs system/Claim.cruds system/Condition.rs patient/*.rs' }));
    assert.equal(res.status, 200);
    assert.equal(res.body.scope, 'system/Claim.rs');
  });
  it('invalid_scope when nothing requested is registered; invalid_request without scope', async () => {
    const none = await request(fx.app).post('/auth/token').type(FORM).send(await form({ scope: 'system/Condition.rs' }));
    assert.equal(none.status, 400);
    assert.equal(none.body.error, 'invalid_scope');
    const missing = await request(fx.app).post('/auth/token').type(FORM).send(await form({}));
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'invalid_request');
  });
  it('purpose_of_use: a registered one is carried, an unregistered one refused', async () => {
    const ok = await request(fx.app).post('/auth/token').type(FORM).send(await form({ scope: 'system/Claim.rs', purpose_of_use: 'CLMATTCH' }));
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.purpose_of_use, ['CLMATTCH']);
    const refused = await request(fx.app).post('/auth/token').type(FORM).send(await form({ scope: 'system/Claim.rs', purpose_of_use: 'HRESCH' }));
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_request');
    assert.match(refused.body.error_description, /HPAYMT, CLMATTCH/);
  });
  it('a replayed assertion is invalid_client (401)', async () => {
    const body = await form({ scope: 'system/Claim.rs' });
    assert.equal((await request(fx.app).post('/auth/token').type(FORM).send(body)).status, 200);
    const replay = await request(fx.app).post('/auth/token').type(FORM).send(body);
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error, 'invalid_client');
    assert.match(replay.body.error_description, /replay/);
  });
  it('a public client cannot use client_credentials', async () => {
    const res = await request(fx.app).post('/auth/token').type(FORM).send(new URLSearchParams({ grant_type: 'client_credentials', client_id: 'public-app', scope: 'system/*.rs' }).toString());
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
  });

  const malformed: [string, (r: request.Test) => request.Test, number, string][] = [
    ['a JSON body', (r) => r.type('json').send({ grant_type: 'client_credentials' }), 400, 'invalid_request'],
    ['no grant_type', (r) => r.type(FORM).send('scope=system%2F*.rs'), 400, 'invalid_request'],
    ['an unknown grant_type', (r) => r.type(FORM).send('grant_type=password&username=a&password=b'), 400, 'unsupported_grant_type'],
    ['a repeated parameter', (r) => r.type(FORM).send('grant_type=client_credentials&grant_type=client_credentials'), 400, 'invalid_request'],
    ['HTTP Basic client authentication', (r) => r.type(FORM).auth('insurer', 'secret').send('grant_type=client_credentials&scope=system%2F*.rs'), 401, 'invalid_client'],
    ['a body over 64 kB', (r) => r.type(FORM).send(`grant_type=client_credentials&x=${'a'.repeat(70_000)}`), 413, 'invalid_request'],
    ['a garbage assertion', (r) => r.type(FORM).send('grant_type=client_credentials&scope=system%2F*.rs&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=%00%FF'), 401, 'invalid_client'],
  ];
  for (const [what, send, status, error] of malformed) {
    it(`${what} → ${status} ${error}, never a 500`, async () => {
      const res = await send(request(fx.app).post('/auth/token'));
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.error, error);
      assert.equal(typeof res.body.error_description, 'string');
    });
  }
  it('answers CORS preflight for browser apps', async () => {
    const res = await request(fx.app).options('/auth/token');
    assert.equal(res.status, 204);
    assert.equal(res.headers['access-control-allow-origin'], '*');
  });
});

describe('token endpoint: rate limit per client address', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startAuthServer({ auth: { tokenRateLimitPerMinute: 3 } });
  });
  after(() => fx.close());

  it('answers 429 with Retry-After once the address has spent its budget, and recovers', async () => {
    const send = () => request(fx.app).post('/auth/token').type(FORM).send('grant_type=password');
    for (let i = 0; i < 3; i++) assert.equal((await send()).status, 400);
    const limited = await send();
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], '20');
    assert.equal(limited.body.error, 'temporarily_unavailable');
    fx.clock.advance(20_000);
    assert.equal((await send()).status, 400);
  });
});
