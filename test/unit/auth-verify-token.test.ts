import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../server/src/config/config.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator } from '../../server/src/auth/authenticate.js';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { createTokenVerifier, InvalidTokenError, keysFromJwks, TokenKeysUnavailableError, tokenVerifierFor } from '../../server/src/auth/verify-token.js';
import { createTestAuth, serveJwks } from '../helpers/test-auth.js';

/** jose-based verification: issuer, audience, exp/nbf with skew, the verified-token cache, JWKS sources. */

const AUD = 'http://localhost:8080/fhir';

describe('createTokenVerifier', () => {
  it('honours the configured skew exactly on exp and nbf', async () => {
    let now = Date.now();
    const auth = await createTestAuth({ audience: AUD, now: () => now });
    const verifier = createTokenVerifier({ issuer: auth.issuer, audience: AUD, clockSkewSeconds: 5, keys: keysFromJwks(auth.jwks), now: () => now, cacheTtlMs: 0 });
    const token = await auth.token({ expiresIn: 60, notBefore: 0 });
    assert.equal((await verifier.verify(token)).sub, 'test-user');
    now += 64_000;
    await verifier.verify(token);
    now += 2_000;
    await assert.rejects(verifier.verify(token), (e: unknown) => e instanceof InvalidTokenError && /expired/.test(e.description));
    now -= 66_000 + 6_000;
    await assert.rejects(verifier.verify(token), (e: unknown) => e instanceof InvalidTokenError && /not valid yet/.test(e.description));
  });

  it('remembers a verified token, but never past its expiry', async () => {
    let now = Date.now();
    const auth = await createTestAuth({ audience: AUD, now: () => now });
    let fetches = 0;
    const keys = keysFromJwks(async () => {
      fetches++;
      return auth.jwks();
    });
    const verifier = createTokenVerifier({ issuer: auth.issuer, audience: AUD, clockSkewSeconds: 0, keys, now: () => now, cacheTtlMs: 60_000 });
    const token = await auth.token({ expiresIn: 10 });
    await verifier.verify(token);
    await verifier.verify(token);
    assert.equal(fetches, 1, 'the second verification came from the cache');
    now += 11_000;
    await assert.rejects(verifier.verify(token), InvalidTokenError);
  });

  it('a remote JWKS over HTTP (external identity provider), and an unreachable one is "unavailable", not a 401', async () => {
    const auth = await createTestAuth({ audience: AUD, issuer: 'https://idp.example/realms/custodian' });
    const served = await serveJwks(auth);
    try {
      const config = loadConfig({ AUTH_ISSUER: auth.issuer, AUTH_JWKS_URL: served.jwksUrl, BASE_URL: AUD });
      const verifier = tokenVerifierFor(config.auth);
      assert.equal((await verifier.verify(await auth.token({ alg: 'RS256' }))).client_id, 'test-client');
      await assert.rejects(verifier.verify(await auth.token({ forged: true })), InvalidTokenError);
    } finally {
      await served.close();
    }
    const down = loadConfig({ AUTH_ISSUER: auth.issuer, AUTH_JWKS_URL: 'http://127.0.0.1:9/jwks.json', BASE_URL: AUD });
    await assert.rejects(tokenVerifierFor(down.auth).verify(await auth.token()), TokenKeysUnavailableError);
    // A provider whose JWKS endpoint fails: 503 for the client, who may retry, not 401.
    const failing = createServer((_req, res) => res.writeHead(500).end('oops'));
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    try {
      const broken = loadConfig({ AUTH_ISSUER: auth.issuer, AUTH_JWKS_URL: `http://127.0.0.1:${(failing.address() as AddressInfo).port}/jwks.json`, BASE_URL: AUD });
      const verifier = tokenVerifierFor(broken.auth);
      await assert.rejects(verifier.verify(await auth.token()), TokenKeysUnavailableError);
      const authn = createAuthenticator(verifier, AUD);
      await assert.rejects(authn.authenticate({ authorization: `Bearer ${await auth.token()}`, sourceAddress: undefined }), (e: unknown) => e instanceof FhirError && e.status === 503);
    } finally {
      failing.closeAllConnections();
      failing.close();
    }
  });

  it('built-in mode needs the authorization server’s keys; there is no verifier without keys', async () => {
    const config = loadConfig({ BASE_URL: AUD });
    assert.equal(config.auth.mode, 'builtin');
    assert.throws(() => tokenVerifierFor(config.auth), /authorization server/);
    const auth = await createTestAuth({ audience: AUD, issuer: config.auth.issuer });
    const verifier = tokenVerifierFor(config.auth, { jwks: auth.jwks });
    assert.equal((await verifier.verify(await auth.token())).sub, 'test-user');
  });
});
