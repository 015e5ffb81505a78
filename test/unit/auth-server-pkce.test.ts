import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidCodeVerifier, isValidS256Challenge, s256, verifyS256 } from '../../server/src/auth-server/pkce.js';
import { matchRedirectUri, withQuery } from '../../server/src/auth-server/redirect-uri.js';

describe('PKCE S256 (RFC 7636)', () => {
  // RFC 7636 Appendix B.
  const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

  it('matches the RFC 7636 Appendix B example', () => {
    assert.equal(s256(verifier), challenge);
    assert.equal(verifyS256(verifier, challenge), true);
  });
  it('rejects another verifier, and the challenge itself used as verifier (plain)', () => {
    assert.equal(verifyS256(`${verifier.slice(0, -1)}A`, challenge), false);
    assert.equal(verifyS256(challenge, challenge), false);
  });
  it('verifiers: 43-128 unreserved characters', () => {
    assert.equal(isValidCodeVerifier('a'.repeat(42)), false);
    assert.equal(isValidCodeVerifier('a'.repeat(43)), true);
    assert.equal(isValidCodeVerifier('a'.repeat(128)), true);
    assert.equal(isValidCodeVerifier('a'.repeat(129)), false);
    assert.equal(isValidCodeVerifier(`${'a'.repeat(42)}+`), false);
    assert.equal(verifyS256('short', challenge), false);
  });
  it('challenges: 43 base64url characters', () => {
    assert.equal(isValidS256Challenge(challenge), true);
    assert.equal(isValidS256Challenge(`${challenge}=`), false);
    assert.equal(isValidS256Challenge(challenge.slice(1)), false);
  });
});

describe('redirect URI matching', () => {
  const registered = ['https://app.test/cb', 'http://127.0.0.1/callback'];
  it('exact match', () => {
    assert.equal(matchRedirectUri(registered, 'https://app.test/cb'), true);
    assert.equal(matchRedirectUri(registered, 'https://app.test/cb/'), false);
    assert.equal(matchRedirectUri(registered, 'https://app.test/cb?x=1'), false);
    assert.equal(matchRedirectUri(registered, 'https://app.test:444/cb'), false);
    assert.equal(matchRedirectUri(registered, 'https://evil.test/cb'), false);
  });
  it('a loopback IP redirect matches any port (RFC 8252 §7.3), nothing else about it varies', () => {
    assert.equal(matchRedirectUri(registered, 'http://127.0.0.1:49152/callback'), true);
    assert.equal(matchRedirectUri(registered, 'http://127.0.0.1:49152/other'), false);
    assert.equal(matchRedirectUri(registered, 'http://localhost:49152/callback'), false);
    assert.equal(matchRedirectUri(registered, 'https://127.0.0.1:49152/callback'), false);
    assert.equal(matchRedirectUri(registered, 'http://127.0.0.1:49152/callback#x'), false);
    assert.equal(matchRedirectUri(['https://app.test/cb'], 'http://127.0.0.1:1/cb'), false);
    assert.equal(matchRedirectUri(registered, 'not a url'), false);
  });
  it('appends parameters and keeps the query the app registered', () => {
    assert.equal(withQuery('https://app.test/cb?tenant=a', { code: 'x y', state: undefined }), 'https://app.test/cb?tenant=a&code=x+y');
  });
});
