import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import { authedApp } from '../helpers/authed-app.js';
import { patient, startTestApp, type TestApp } from './app-fixture.js';

/**
 * Bearer tokens on everything under the FHIR base (issue 4, items 1 and 7): missing, malformed,
 * expired, not yet valid, forged, wrong audience, wrong issuer and unusable claims → 401 with an
 * OperationOutcome and `WWW-Authenticate`, on the bodiless fast path (GET/HEAD) and through
 * express (writes) alike; the CapabilityStatement and SMART discovery stay public.
 */

function assert401(res: request.Response, error: 'invalid_token' | undefined, text?: RegExp): void {
  assert.equal(res.status, 401, JSON.stringify(res.body));
  const challenge = res.headers['www-authenticate'] as string | undefined;
  assert.ok(challenge, 'a 401 carries WWW-Authenticate');
  assert.match(challenge, /^Bearer realm="http:\/\/localhost:8080\/fhir"/);
  if (error) assert.match(challenge, new RegExp(`error="${error}"`));
  else assert.doesNotMatch(challenge, /error=/, 'RFC 6750 §3.1: no error code when no credentials were sent');
  if (res.request.method !== 'HEAD') {
    assert.equal(res.body.resourceType, 'OperationOutcome');
    assert.equal(res.body.issue[0].code, 'login');
    if (text) assert.match(res.body.issue[0].details.text, text);
  }
}

describe('authentication at the FHIR edge', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
    await request(t.app).put('/fhir/Patient/p1').set('Content-Type', 'application/fhir+json').send({ ...patient('Gate'), id: 'p1' }).expect(201);
  });
  after(() => t.close());

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('no token → 401 with a challenge and no error code (read, search, write, HEAD)', async () => {
    assert401(await request(t.rawApp).get('/fhir/Patient/p1'), undefined, /access token/);
    assert401(await request(t.rawApp).get('/fhir/Patient?name=Gate'), undefined);
    assert401(await request(t.rawApp).get('/fhir'), undefined);
    assert401(await request(t.rawApp).head('/fhir/Patient/p1'), undefined);
    assert401(await request(t.rawApp).post('/fhir/Patient').set('Content-Type', 'application/fhir+json').send(patient('Nope')), undefined);
    assert401(await request(t.rawApp).post('/fhir').set('Content-Type', 'application/fhir+json').send({ resourceType: 'Bundle', type: 'batch', entry: [] }), undefined);
    assert401(await request(t.rawApp).delete('/fhir/Patient/p1'), undefined);
    // Nothing was written or deleted.
    const read = await request(t.app).get('/fhir/Patient/p1');
    assert.equal(read.status, 200);
    const found = await request(t.app).get('/fhir/Patient?family=Nope');
    assert.equal(found.body.total, 0);
  });

  it('a malformed Authorization header → 401 invalid_token', async () => {
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer not a token', 'Bearertoken']) {
      assert401(await request(t.rawApp).get('/fhir/Patient/p1').set('Authorization', header), 'invalid_token');
    }
    assert401(await request(t.rawApp).get('/fhir/Patient/p1').set('Authorization', 'Bearer abc.def.ghi'), 'invalid_token', /malformed/);
  });

  it('an expired token → 401, also within a write', async () => {
    const expired = await t.auth.token({ expiresIn: -120 });
    assert401(await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(expired)), 'invalid_token', /expired/);
    assert401(await request(t.rawApp).post('/fhir/Patient').set(bearer(expired)).set('Content-Type', 'application/fhir+json').send(patient('Late')), 'invalid_token', /expired/);
  });

  it('the clock skew is tolerated on both ends (30 s by default), not beyond', async () => {
    const justExpired = await t.auth.token({ expiresIn: -10 });
    assert.equal((await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(justExpired))).status, 200);
    const soonValid = await t.auth.token({ notBefore: 10 });
    assert.equal((await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(soonValid))).status, 200);
    const notYet = await t.auth.token({ notBefore: 300 });
    assert401(await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(notYet)), 'invalid_token', /not valid yet/);
  });

  it('a forged token (signed by a key the issuer does not publish) → 401', async () => {
    const forged = await t.auth.token({ forged: true });
    assert401(await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(forged)), 'invalid_token', /signature/);
    // A genuine token with its payload swapped for another's keeps a signature that no longer fits.
    const [h, , s] = (await t.auth.token({ scope: 'patient/Patient.rs', patient: 'p1' })).split('.');
    const [, p] = (await t.auth.adminToken()).split('.');
    assert401(await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(`${h}.${p}.${s}`)), 'invalid_token', /signature/);
  });

  it('a token for another audience or from another issuer → 401', async () => {
    const otherAud = await t.auth.token({ audience: 'http://elsewhere.example/fhir' });
    assert401(await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(otherAud)), 'invalid_token', /audience/);
    const otherIss = await t.auth.token({ issuer: 'https://evil.example/auth' });
    assert401(await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(otherIss)), 'invalid_token', /issuer/);
  });

  it('unsigned and symmetric (HS256) tokens are refused', async () => {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const payload = enc({ iss: t.auth.issuer, aud: t.auth.audience, sub: 'x', client_id: 'x', scope: 'system/*.cruds', purpose_of_use: 'TREAT', exp: now + 600 });
    const none = `${enc({ alg: 'none' })}.${payload}.`;
    assert401(await request(t.rawApp).get('/fhir/Patient/p1').set('Authorization', `Bearer ${none}`), 'invalid_token');
    const hs = `${enc({ alg: 'HS256', kid: 'test-es256' })}.${payload}.${Buffer.from('sig').toString('base64url')}`;
    assert401(await request(t.rawApp).get('/fhir/Patient/p1').set('Authorization', `Bearer ${hs}`), 'invalid_token');
  });

  it('claims that describe no usable principal → 401 (missing sub or client_id, unknown purpose code, bad patient id)', async () => {
    for (const claims of [{ sub: undefined }, { client_id: undefined }, { purpose_of_use: ['TREAT', 'SNOOPING'] }, { patient: '../../etc' }, { fhirUser: 'Bundle/1' }]) {
      const token = await t.auth.token({ claims });
      assert401(await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(token)), 'invalid_token');
    }
  });

  it('RS256, ES256 and EdDSA tokens from the trusted issuer are accepted', async () => {
    for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
      const token = await t.auth.token({ alg });
      const res = await request(t.rawApp).get('/fhir/Patient/p1').set(bearer(token));
      assert.equal(res.status, 200, `${alg}: ${JSON.stringify(res.body)}`);
    }
  });

  it('GET [base]/metadata is public; a bad token there does not matter', async () => {
    const res = await request(t.rawApp).get('/fhir/metadata');
    assert.equal(res.status, 200);
    assert.equal(res.body.resourceType, 'CapabilityStatement');
    assert.equal((await request(t.rawApp).get('/fhir/metadata').set('Authorization', 'Bearer abc.def.ghi')).status, 200);
    assert.equal((await request(t.rawApp).head('/fhir/metadata')).status, 200);
    // Only GET/HEAD: other methods on it need a token like anything else.
    assert.equal((await request(t.rawApp).post('/fhir/metadata').set('Content-Type', 'application/fhir+json').send({})).status, 401);
    assert.equal((await request(t.rawApp).get('/healthz')).status, 200);
  });

  it('without a built-in authorization server, SMART discovery answers 404 (an external IdP publishes it)', async () => {
    for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
      const res = await request(t.rawApp).get(path);
      assert.equal(res.status, 404);
      assert.equal(res.body.resourceType, 'OperationOutcome');
    }
  });

  it('with the built-in authorization server, SMART discovery is public at the origin and under the base, and /auth is mounted', async () => {
    const router = express.Router();
    router.get('/ping', (_req, res) => {
      res.json({ pong: true });
    });
    const smart = { issuer: 'http://localhost:8080/auth', capabilities: ['launch-standalone'] };
    const { rawApp } = await authedApp(t.deps, t.config, pino({ level: 'silent' }), { authServer: { router, smartConfiguration: () => smart } });
    for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
      const res = await request(rawApp).get(path);
      assert.equal(res.status, 200, path);
      assert.deepEqual(res.body, smart);
    }
    assert.deepEqual((await request(rawApp).get('/auth/ping')).body, { pong: true });
  });
});
