import assert from 'node:assert/strict';
import { UnsecuredJWT } from 'jose';
import { after, before, describe, it } from 'node:test';
import { authenticateByAssertion, JWT_BEARER_ASSERTION } from '../../server/src/auth-server/client-assertion.js';
import { ClientRegistry } from '../../server/src/auth-server/client-registry.js';
import { OAuthError } from '../../server/src/auth-server/oauth-error.js';
import { assertion, clientKey, startAuthServer, TOKEN_URL, type ClientKey, type Fixture } from '../http/auth-server-fixture.js';
import { openAuthState, type AuthState } from '../../server/src/auth-server/auth-state.js';
import { ReplayCache } from '../../server/src/auth-server/replay-cache.js';

/**
 * private_key_jwt client authentication (RFC 7523, SMART Backend Services): each rule the
 * assertion must satisfy, and jti replay protection that survives a restart.
 */
describe('client assertion verification', () => {
  let fx: Fixture;
  let state: AuthState;
  let key: ClientKey;
  const keys = new Map<string, ClientKey>();

  before(async () => {
    fx = await startAuthServer();
    key = await fx.registerBackend('insurer');
    for (const alg of ['RS384', 'ES256', 'RS256', 'EdDSA']) keys.set(alg, await fx.registerBackend(`client-${alg}`, {}, alg));
    // The fixture's server holds the state open; this test reads the same store through its own handle.
    await fx.server.close();
    state = openAuthState(fx.dataDir);
  });
  after(async () => {
    await state.close();
    await fx.close();
  });

  const ctx = (nowMs = Date.now()) => ({
    registry: ClientRegistry.open(fx.dataDir),
    replay: new ReplayCache(state),
    tokenEndpoint: TOKEN_URL,
    clockSkewSeconds: 30,
    nowMs,
  });

  async function rejected(jwt: string | undefined, pattern: RegExp, type = JWT_BEARER_ASSERTION, clientIdParam?: string): Promise<void> {
    await assert.rejects(authenticateByAssertion(type, jwt, clientIdParam, ctx()), (err: unknown) => {
      assert.ok(err instanceof OAuthError);
      assert.equal(err.code, 'invalid_client');
      assert.equal(err.status, 401);
      assert.match(err.description, pattern);
      return true;
    });
  }

  it('accepts a well-formed ES384 assertion and names the client', async () => {
    const client = await authenticateByAssertion(JWT_BEARER_ASSERTION, await assertion('insurer', key), undefined, ctx());
    assert.equal(client.client_id, 'insurer');
  });
  for (const alg of ['RS384', 'ES256', 'RS256', 'EdDSA']) {
    it(`accepts ${alg}`, async () => {
      const client = await authenticateByAssertion(JWT_BEARER_ASSERTION, await assertion(`client-${alg}`, keys.get(alg)!), undefined, ctx());
      assert.equal(client.client_id, `client-${alg}`);
    });
  }
  it('refuses a wrong assertion type, a missing or non-JWT assertion', async () => {
    await rejected(await assertion('insurer', key), /client_assertion_type/, 'urn:other');
    await rejected(undefined, /missing/);
    await rejected('not-a-jwt', /not a JWT/);
  });
  it('refuses an unknown client', async () => rejected(await assertion('nobody', key), /unknown client/));
  it('refuses sub ≠ iss', async () => rejected(await assertion('insurer', key, { sub: 'someone-else' }), /claim sub/));
  it('refuses a client_id parameter that differs from iss', async () => rejected(await assertion('insurer', key), /does not match/, JWT_BEARER_ASSERTION, 'other'));
  it('refuses the wrong audience (not the token endpoint)', async () => rejected(await assertion('insurer', key, { aud: 'http://fhir.test/fhir' }), /claim aud/));
  it('refuses an expired assertion (beyond the skew)', async () => {
    await rejected(await assertion('insurer', key, { nowSeconds: Math.floor(Date.now() / 1000) - 400, expiresIn: 60 }), /expired/);
  });
  it('refuses exp more than five minutes ahead', async () => rejected(await assertion('insurer', key, { expiresIn: 3600 }), /more than 300 seconds/));
  it('refuses a signature by a key the client did not register (forged)', async () => {
    const other = await clientKey('ES384');
    await rejected(await assertion('insurer', { ...other, kid: key.kid }), /signature/);
  });
  it('refuses an unsigned assertion (alg none)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = new UnsecuredJWT({}).setIssuer('insurer').setSubject('insurer').setAudience(TOKEN_URL).setJti('unsigned').setExpirationTime(now + 60).encode();
    await rejected(unsigned, /rejected/);
  });
  it('refuses a replayed jti', async () => {
    const jwt = await assertion('insurer', key, { jti: 'once-only' });
    await authenticateByAssertion(JWT_BEARER_ASSERTION, jwt, undefined, ctx());
    await rejected(jwt, /already used/);
    // Another assertion reusing the jti is a replay too.
    await rejected(await assertion('insurer', key, { jti: 'once-only' }), /already used/);
  });
  it('a jti is per client: another client may use the same value', async () => {
    const rs = keys.get('RS384')!;
    await authenticateByAssertion(JWT_BEARER_ASSERTION, await assertion('client-RS384', rs, { jti: 'shared-jti' }), undefined, ctx());
    await authenticateByAssertion(JWT_BEARER_ASSERTION, await assertion('client-ES256', keys.get('ES256')!, { jti: 'shared-jti' }), undefined, ctx());
  });
  it('refuses a replay after a restart (the jti cache is durable)', async () => {
    const jwt = await assertion('insurer', key, { jti: 'before-restart' });
    await authenticateByAssertion(JWT_BEARER_ASSERTION, jwt, undefined, ctx());
    await state.close();
    state = openAuthState(fx.dataDir);
    await rejected(jwt, /already used/);
  });
});
