import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { openAuthState, type AuthState } from '../../server/src/auth-server/auth-state.js';
import { AuthorizationCodes, CODE_LIFETIME_MS } from '../../server/src/auth-server/authorization-codes.js';
import type { Grant } from '../../server/src/auth-server/grant.js';
import { NO_END, RefreshTokens } from '../../server/src/auth-server/refresh-tokens.js';
import { RateLimiter } from '../../server/src/auth-server/rate-limit.js';

const GRANT: Grant = {
  clientId: 'app',
  subject: 'amelia',
  scopes: ['launch/patient', 'patient/*.rs', 'offline_access'],
  purposeOfUse: ['TREAT'],
  roles: ['clinician'],
  fhirUser: 'Practitioner/pract-1',
  patient: 'pat-1',
};
const T0 = 1_700_000_000_000;
const DAY = 86_400_000;

describe('authorization codes and refresh tokens (durable state)', () => {
  let dir: string;
  let state: AuthState;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'custodian-authz-state-'));
    state = openAuthState(dir);
  });
  afterEach(async () => {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const reopen = async (): Promise<void> => {
    await state.close();
    state = openAuthState(dir);
  };

  it('a code redeems once; the second redemption reports reuse with its family', async () => {
    const codes = new AuthorizationCodes(state);
    const code = await codes.issue({ clientId: 'app', redirectUri: 'https://app.test/cb', codeChallenge: 'c'.repeat(43), grant: GRANT }, T0);
    const first = await codes.redeem(code, T0 + 1000);
    assert.equal(first.ok, true);
    assert.ok(first.ok && first.record.grant.patient === 'pat-1');
    const second = await codes.redeem(code, T0 + 2000);
    assert.equal(second.ok, false);
    assert.ok(!second.ok && second.reason === 'reused' && first.ok && second.familyId === first.record.familyId);
  });
  it('a code expires after 60 s, and stays single-use across a restart', async () => {
    let codes = new AuthorizationCodes(state);
    const late = await codes.issue({ clientId: 'app', redirectUri: 'https://app.test/cb', codeChallenge: 'c'.repeat(43), grant: GRANT }, T0);
    assert.deepEqual(await codes.redeem(late, T0 + CODE_LIFETIME_MS + 1), { ok: false, reason: 'expired' });
    const code = await codes.issue({ clientId: 'app', redirectUri: 'https://app.test/cb', codeChallenge: 'c'.repeat(43), grant: GRANT }, T0);
    assert.equal((await codes.redeem(code, T0 + 1)).ok, true);
    await reopen();
    codes = new AuthorizationCodes(state);
    const again = await codes.redeem(code, T0 + 2);
    assert.ok(!again.ok && again.reason === 'reused');
    assert.deepEqual(await codes.redeem('never-issued', T0), { ok: false, reason: 'unknown' });
  });

  it('refresh tokens rotate: each exchange spends the old token and yields the next', async () => {
    const refresh = new RefreshTokens(state, DAY);
    const { refreshToken: r1 } = await refresh.start('fam-1', GRANT, NO_END, T0);
    const step1 = await refresh.rotate(r1, 'app', T0 + 1000);
    assert.ok(step1.ok);
    assert.deepEqual(step1.grant, GRANT);
    assert.notEqual(step1.refreshToken, r1);
    const step2 = await refresh.rotate(step1.refreshToken, 'app', T0 + 2000);
    assert.ok(step2.ok);
  });
  it('reusing a spent refresh token revokes the whole family (the newest token too), also after a restart', async () => {
    let refresh = new RefreshTokens(state, DAY);
    const { refreshToken: r1 } = await refresh.start('fam-2', GRANT, NO_END, T0);
    const step1 = await refresh.rotate(r1, 'app', T0 + 1000);
    assert.ok(step1.ok);
    await reopen();
    refresh = new RefreshTokens(state, DAY);
    assert.deepEqual(await refresh.rotate(r1, 'app', T0 + 2000), { ok: false, reason: 'reused' });
    assert.deepEqual(await refresh.rotate(step1.refreshToken, 'app', T0 + 3000), { ok: false, reason: 'revoked' });
  });
  it('asking for scopes outside the grant is refused without spending the token', async () => {
    const refresh = new RefreshTokens(state, DAY);
    const { refreshToken } = await refresh.start('fam-7', GRANT, NO_END, T0);
    assert.deepEqual(await refresh.rotate(refreshToken, 'app', T0 + 1, ['user/*.cruds', 'patient/*.rs']), { ok: false, reason: 'scope', outside: ['user/*.cruds'] });
    const narrowed = await refresh.rotate(refreshToken, 'app', T0 + 2, ['patient/*.rs']);
    assert.ok(narrowed.ok);
    assert.deepEqual(narrowed.grant.scopes, GRANT.scopes, 'the family keeps the original grant');
  });
  it('a token presented by another client neither works nor burns it', async () => {
    const refresh = new RefreshTokens(state, DAY);
    const { refreshToken } = await refresh.start('fam-3', GRANT, NO_END, T0);
    assert.deepEqual(await refresh.rotate(refreshToken, 'other-app', T0 + 1), { ok: false, reason: 'wrong-client' });
    assert.ok((await refresh.rotate(refreshToken, 'app', T0 + 2)).ok);
  });
  it('refresh tokens expire; online_access families end at their notAfter', async () => {
    const refresh = new RefreshTokens(state, DAY);
    const { refreshToken } = await refresh.start('fam-4', GRANT, NO_END, T0);
    assert.deepEqual(await refresh.rotate(refreshToken, 'app', T0 + DAY + 1), { ok: false, reason: 'expired' });
    const online = await refresh.start('fam-5', GRANT, T0 + 3_600_000, T0);
    assert.equal(online.expiresAtMs, T0 + 3_600_000);
    const next = await refresh.rotate(online.refreshToken, 'app', T0 + 1000);
    assert.ok(next.ok && next.expiresAtMs === T0 + 3_600_000);
  });
  it('a family revoked before its first token (code replayed at once) stays revoked', async () => {
    const refresh = new RefreshTokens(state, DAY);
    await refresh.revokeFamily('fam-6', T0);
    const { refreshToken } = await refresh.start('fam-6', GRANT, NO_END, T0 + 1);
    assert.deepEqual(await refresh.rotate(refreshToken, 'app', T0 + 2), { ok: false, reason: 'revoked' });
  });
});

describe('token endpoint rate limiter', () => {
  it('allows a burst of perMinute, then answers with a Retry-After, then refills', () => {
    let now = T0;
    const limiter = new RateLimiter(3, () => now);
    for (let i = 0; i < 3; i++) assert.deepEqual(limiter.take('10.0.0.1'), { ok: true });
    assert.deepEqual(limiter.take('10.0.0.1'), { ok: false, retryAfterSeconds: 20 });
    assert.deepEqual(limiter.take('10.0.0.2'), { ok: true }, 'addresses are limited separately');
    now += 20_000;
    assert.deepEqual(limiter.take('10.0.0.1'), { ok: true });
    assert.equal(limiter.take('10.0.0.1').ok, false);
  });
});
