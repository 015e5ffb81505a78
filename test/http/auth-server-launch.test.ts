import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { decodeJwt } from 'jose';
import { assertion, FHIR_BASE, ISSUER, startAuthServer, type ClientKey, type Fixture } from './auth-server-fixture.js';

const FORM = 'application/x-www-form-urlencoded';
const REDIRECT = 'https://app.test/cb';

/**
 * SMART standalone launch against the router: authorize → sign in → approve → code → token,
 * and each way it must refuse (RFC 6749 §4.1.2.1 error routing, PKCE S256 only, CSRF, code
 * single use, refresh rotation and reuse).
 */
describe('standalone launch (authorization code + PKCE)', () => {
  let fx: Fixture;
  let confidentialKey: ClientKey;
  before(async () => {
    fx = await startAuthServer();
    fx.registerApp('app');
    fx.registerApp('patient-app', { scopes: ['launch/patient', 'fhirUser', 'offline_access', 'patient/*.rs'], purposes_of_use: ['PATRQT'] });
    await fx.addUser('amelia', 'clinician-pass', ['clinician'], { fhirUser: 'Practitioner/pract-1' });
    await fx.addUser('ada', 'patient-pass', ['patient'], { patientIdentifier: 'sys|MRN-1' });
    await fx.addUser('ghost', 'ghost-pass', ['patient'], { patientIdentifier: 'sys|MRN-404' });
    confidentialKey = await fx.registerBackend('conf-app', {
      kind: 'confidential',
      redirect_uris: [REDIRECT],
      scopes: ['launch/patient', 'patient/*.rs'],
      purposes_of_use: ['TREAT'],
      roles: [],
    });
    await fx.registerBackend('backend');
  });
  after(() => fx.close());

  interface Launch {
    verifier: string;
    state: string;
    params: Record<string, string>;
  }
  const newLaunch = (overrides: Record<string, string | undefined> = {}): Launch => {
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(8).toString('hex');
    const params = Object.fromEntries(
      Object.entries({
        response_type: 'code',
        client_id: 'app',
        redirect_uri: REDIRECT,
        scope: 'launch/patient fhirUser patient/*.rs offline_access',
        state,
        aud: FHIR_BASE,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        ...overrides,
      }).filter((e): e is [string, string] => e[1] !== undefined),
    );
    return { verifier, state, params };
  };
  const authorize = (l: Launch) => request(fx.app).get(`/auth/authorize?${new URLSearchParams(l.params).toString()}`);
  const hiddenFields = (html: string) => ({
    tx: /name="tx" value="([^"]+)"/.exec(html)?.[1] ?? '',
    csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '',
  });
  const cookieOf = (res: request.Response) => String(res.headers['set-cookie']?.[0] ?? '').split(';')[0]!;

  /** Authorize + sign in; returns what the approval form needs. */
  async function signIn(l: Launch, username: string, password: string) {
    const page = await authorize(l);
    assert.equal(page.status, 200, page.text);
    const cookie = cookieOf(page);
    const ids = hiddenFields(page.text);
    const approval = await request(fx.app).post('/auth/login').set('Cookie', cookie).type(FORM).send({ ...ids, username, password });
    return { cookie, ids, approval };
  }
  async function approve(l: Launch, username: string, password: string, extra: Record<string, string> = {}) {
    const { cookie, ids, approval } = await signIn(l, username, password);
    assert.equal(approval.status, 200, approval.text);
    const res = await request(fx.app).post('/auth/approve').set('Cookie', cookie).type(FORM).send({ ...ids, decision: 'approve', ...extra });
    return { res, approval };
  }
  const callback = (res: request.Response) => {
    assert.equal(res.status, 302, res.text);
    return new URL(res.headers.location!);
  };
  const exchange = (l: Launch, code: string, extra: Record<string, string> = {}) =>
    request(fx.app)
      .post('/auth/token')
      .type(FORM)
      .send(new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: l.params.redirect_uri!, code_verifier: l.verifier, client_id: l.params.client_id!, ...extra }).toString());

  it('a clinician picks the launch patient; the code becomes a token with patient, fhirUser, purpose and a refresh token', async () => {
    const l = newLaunch();
    const { res, approval } = await approve(l, 'amelia', 'clinician-pass', { patient: 'pat-2', purpose_of_use: 'ETREAT' });
    assert.match(approval.text, /Alan Turing/);
    assert.match(approval.text, /name="patient" value="pat-1"/);
    assert.equal(approval.headers['x-frame-options'], 'DENY');
    const cb = callback(res);
    assert.equal(cb.origin + cb.pathname, REDIRECT);
    assert.equal(cb.searchParams.get('state'), l.state);
    assert.equal(cb.searchParams.get('iss'), ISSUER);
    const token = await exchange(l, cb.searchParams.get('code')!);
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.equal(token.body.patient, 'pat-2');
    assert.equal(token.body.fhirUser, 'Practitioner/pract-1');
    assert.deepEqual(token.body.purpose_of_use, ['ETREAT']);
    assert.equal(token.body.scope, 'launch/patient fhirUser patient/*.rs offline_access');
    assert.equal(typeof token.body.refresh_token, 'string');
    const claims = decodeJwt(token.body.access_token);
    assert.equal(claims.sub, 'amelia');
    assert.equal(claims.patient, 'pat-2');
    assert.deepEqual(claims.roles, ['clinician']);
    assert.equal(claims.aud, FHIR_BASE);
  });
  it('a patient user is their own launch patient and may only grant patient/ scopes', async () => {
    const l = newLaunch({ client_id: 'app', scope: 'launch/patient patient/*.rs user/*.cruds' });
    const { res, approval } = await approve(l, 'ada', 'patient-pass', { patient: 'pat-2' });
    assert.doesNotMatch(approval.text, /type="radio"/);
    assert.match(approval.text, /Ada Lovelace/);
    const token = await exchange(l, callback(res).searchParams.get('code')!);
    assert.equal(token.status, 200);
    assert.equal(token.body.patient, 'pat-1', 'the form cannot pick another patient for a patient user');
    assert.equal(token.body.scope, 'launch/patient patient/*.rs');
    assert.equal(decodeJwt(token.body.access_token).fhirUser, 'Patient/pat-1');
  });
  it('a patient whose record is not on the server is sent back with access_denied', async () => {
    const l = newLaunch({ client_id: 'patient-app' });
    const { approval } = await signIn(l, 'ghost', 'ghost-pass');
    const cb = callback(approval);
    assert.equal(cb.searchParams.get('error'), 'access_denied');
    assert.equal(cb.searchParams.get('state'), l.state);
  });
  it('a clinician must choose a patient when the launch needs one', async () => {
    const l = newLaunch();
    const { res } = await approve(l, 'amelia', 'clinician-pass');
    assert.equal(res.status, 400);
    assert.match(res.text, /Choose the patient/);
  });
  it('a user launch without patient context needs no picker', async () => {
    const l = newLaunch({ scope: 'fhirUser user/*.rs' });
    const { res, approval } = await approve(l, 'amelia', 'clinician-pass');
    assert.doesNotMatch(approval.text, /type="radio"/);
    const token = await exchange(l, callback(res).searchParams.get('code')!);
    assert.equal(token.body.scope, 'fhirUser user/*.rs');
    assert.equal(token.body.patient, undefined);
    assert.equal(token.body.refresh_token, undefined, 'no offline_access, no refresh token');
  });

  describe('errors that cannot be redirected are shown, never redirected', () => {
    const cases: [string, Record<string, string | undefined>][] = [
      ['unknown client_id', { client_id: 'nobody' }],
      ['missing client_id', { client_id: undefined }],
      ['unregistered redirect_uri', { redirect_uri: 'https://evil.test/cb' }],
      ['missing redirect_uri', { redirect_uri: undefined }],
    ];
    for (const [what, overrides] of cases) {
      it(what, async () => {
        const res = await authorize(newLaunch(overrides));
        assert.equal(res.status, 400);
        assert.equal(res.headers.location, undefined);
        assert.match(res.headers['content-type']!, /text\/html/);
      });
    }
  });

  describe('other errors go back to the app as error= with its state', () => {
    const cases: [string, Record<string, string | undefined>, string][] = [
      ['PKCE plain', { code_challenge_method: 'plain' }, 'invalid_request'],
      ['no PKCE', { code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
      ['a malformed challenge', { code_challenge: 'short' }, 'invalid_request'],
      ['aud of another server', { aud: 'https://other.test/fhir' }, 'invalid_request'],
      ['no aud', { aud: undefined }, 'invalid_request'],
      ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
      ['no scope', { scope: undefined }, 'invalid_scope'],
      ['only unregistered scopes', { scope: 'system/*.cruds' }, 'invalid_scope'],
      ['an EHR launch', { launch: 'xyz' }, 'invalid_request'],
      ['an unregistered purpose', { purpose_of_use: 'HPAYMT' }, 'invalid_request'],
      ['a backend client', { client_id: 'backend', redirect_uri: REDIRECT }, 'unauthorized_client'],
    ];
    for (const [what, overrides, error] of cases) {
      it(`${what} → ${error}`, async () => {
        if (overrides.client_id === 'backend') fx.server.registry.upsert({ ...fx.server.registry.get('backend')!, redirect_uris: [REDIRECT] });
        const l = newLaunch(overrides);
        const cb = callback(await authorize(l));
        assert.equal(cb.searchParams.get('error'), error);
        assert.equal(cb.searchParams.get('state'), l.state);
      });
    }
    it('a repeated parameter → invalid_request', async () => {
      const l = newLaunch();
      const res = await request(fx.app).get(`/auth/authorize?${new URLSearchParams(l.params).toString()}&scope=patient%2F*.rs`);
      assert.equal(callback(res).searchParams.get('error'), 'invalid_request');
    });
  });

  describe('the sign-in and approval forms', () => {
    it('refuse a post without the browser cookie or with another CSRF token', async () => {
      const page = await authorize(newLaunch());
      const ids = hiddenFields(page.text);
      const noCookie = await request(fx.app).post('/auth/login').type(FORM).send({ ...ids, username: 'amelia', password: 'clinician-pass' });
      assert.equal(noCookie.status, 400);
      const badCsrf = await request(fx.app).post('/auth/login').set('Cookie', cookieOf(page)).type(FORM).send({ ...ids, csrf: 'forged', username: 'amelia', password: 'clinician-pass' });
      assert.equal(badCsrf.status, 400);
      const approveFirst = await request(fx.app).post('/auth/approve').set('Cookie', cookieOf(page)).type(FORM).send({ ...ids, decision: 'approve' });
      assert.equal(approveFirst.status, 400, 'no approval before sign-in');
    });
    it('set an HttpOnly SameSite cookie scoped to the authorization server', async () => {
      const page = await authorize(newLaunch());
      assert.match(String(page.headers['set-cookie']?.[0]), /HttpOnly; SameSite=Lax/);
      assert.match(String(page.headers['set-cookie']?.[0]), /Path=\/auth/);
      assert.match(page.headers['content-security-policy']!, /frame-ancestors 'none'/);
    });
    it('a wrong password shows the form again; five wrong ones end the attempt with access_denied', async () => {
      const l = newLaunch();
      const page = await authorize(l);
      const cookie = cookieOf(page);
      const ids = hiddenFields(page.text);
      for (let i = 0; i < 4; i++) {
        const again = await request(fx.app).post('/auth/login').set('Cookie', cookie).type(FORM).send({ ...ids, username: 'amelia', password: 'nope' });
        assert.equal(again.status, 401);
        assert.match(again.text, /wrong password/);
      }
      const last = await request(fx.app).post('/auth/login').set('Cookie', cookie).type(FORM).send({ ...ids, username: 'amelia', password: 'nope' });
      assert.equal(callback(last).searchParams.get('error'), 'access_denied');
    });
    it('escape what they echo', async () => {
      fx.registerApp('xss-app', { name: '<script>alert(1)</script>' });
      const page = await authorize(newLaunch({ client_id: 'xss-app' }));
      assert.doesNotMatch(page.text, /<script>/);
      assert.match(page.text, /&lt;script&gt;/);
    });
    it('deny → access_denied', async () => {
      const l = newLaunch({ scope: 'fhirUser user/*.rs' });
      const { cookie, ids } = await signIn(l, 'amelia', 'clinician-pass');
      const res = await request(fx.app).post('/auth/approve').set('Cookie', cookie).type(FORM).send({ ...ids, decision: 'deny' });
      assert.equal(callback(res).searchParams.get('error'), 'access_denied');
    });
  });

  describe('the code exchange', () => {
    async function code(l: Launch): Promise<string> {
      const { res } = await approve(l, 'amelia', 'clinician-pass', { patient: 'pat-1' });
      return callback(res).searchParams.get('code')!;
    }
    it('refuses a wrong verifier, another redirect_uri or another client', async () => {
      const l = newLaunch();
      const c1 = await code(l);
      const bad = await exchange(l, c1, { code_verifier: randomBytes(32).toString('base64url') });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_grant');
      const l2 = newLaunch();
      assert.equal((await exchange(l2, await code(l2), { redirect_uri: 'http://127.0.0.1/callback' })).body.error, 'invalid_grant');
      const l3 = newLaunch();
      assert.equal((await exchange(l3, await code(l3), { client_id: 'patient-app' })).body.error, 'invalid_grant');
    });
    it('a code expires after 60 s', async () => {
      const l = newLaunch();
      const c = await code(l);
      fx.clock.advance(61_000);
      const res = await exchange(l, c);
      assert.equal(res.body.error, 'invalid_grant');
      assert.match(res.body.error_description, /expired/);
    });
    it('a code is single use, and replaying it revokes the refresh tokens it produced', async () => {
      const l = newLaunch();
      const c = await code(l);
      const first = await exchange(l, c);
      assert.equal(first.status, 200);
      const second = await exchange(l, c);
      assert.equal(second.status, 400);
      assert.equal(second.body.error, 'invalid_grant');
      const refresh = await request(fx.app).post('/auth/token').type(FORM).send({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: 'app' });
      assert.equal(refresh.body.error, 'invalid_grant');
      assert.match(refresh.body.error_description, /revoked/);
    });
    it('refresh rotates; a narrower scope may be asked; reusing an old refresh token revokes the chain', async () => {
      const l = newLaunch();
      const first = await exchange(l, await code(l));
      const r1 = first.body.refresh_token as string;
      const refresh = (token: string, extra: Record<string, string> = {}) =>
        request(fx.app).post('/auth/token').type(FORM).send({ grant_type: 'refresh_token', refresh_token: token, client_id: 'app', ...extra });
      const second = await refresh(r1, { scope: 'launch/patient patient/*.rs' });
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.body.scope, 'launch/patient patient/*.rs');
      assert.equal(second.body.patient, 'pat-1');
      const r2 = second.body.refresh_token as string;
      assert.notEqual(r2, r1);
      const wider = await refresh(r2, { scope: 'user/*.cruds' });
      assert.equal(wider.body.error, 'invalid_scope', JSON.stringify(wider.body));
      const third = await refresh(r2);
      assert.equal(third.status, 200);
      assert.equal(third.body.scope, 'launch/patient fhirUser patient/*.rs offline_access', 'the refresh token keeps the original grant');
      const reuse = await refresh(r1);
      assert.equal(reuse.body.error, 'invalid_grant');
      assert.equal((await refresh(third.body.refresh_token)).body.error, 'invalid_grant', 'the newest token of the chain is revoked too');
    });
    it('another client cannot use the refresh token', async () => {
      const l = newLaunch();
      const first = await exchange(l, await code(l));
      const res = await request(fx.app).post('/auth/token').type(FORM).send({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: 'patient-app' });
      assert.equal(res.body.error, 'invalid_grant');
    });
    it('a confidential client must authenticate with its assertion', async () => {
      const l = newLaunch({ client_id: 'conf-app', scope: 'launch/patient patient/*.rs' });
      const c = await code(l);
      const unauthenticated = await exchange(l, c);
      assert.equal(unauthenticated.status, 401);
      assert.equal(unauthenticated.body.error, 'invalid_client');
      const l2 = newLaunch({ client_id: 'conf-app', scope: 'launch/patient patient/*.rs' });
      const c2 = await code(l2);
      const ok = await exchange(l2, c2, {
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await assertion('conf-app', confidentialKey, { nowSeconds: Math.floor(fx.clock.now() / 1000) }),
      });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.patient, 'pat-1');
    });
  });
});
