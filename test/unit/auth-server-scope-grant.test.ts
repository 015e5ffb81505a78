import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { choosePurposes } from '../../server/src/auth-server/choose-purposes.js';
import { covers, grantScopes, isRegistrableScope, parseResourceScope, type ScopeContext } from '../../server/src/auth-server/scope-grant.js';

const ALL: ReadonlySet<ScopeContext> = new Set(['patient', 'user', 'system']);

describe('scope grant: parsing', () => {
  const table: [string, string | undefined][] = [
    ['patient/Observation.rs', 'patient Observation rs'],
    ['user/*.cruds', 'user * cdrsu'],
    ['system/*.rs', 'system * rs'],
    ['patient/*.read', 'patient * rs'],
    ['user/Patient.write', 'user Patient cdu'],
    ['system/*.*', 'system * cdrsu'],
    ['patient/Observation.rs?category=laboratory', 'patient Observation rs ?category=laboratory'],
    ['patient/Observation.sr', undefined], // v2 permissions must be in cruds order
    ['patient/Observation.', undefined],
    ['patient/observation.rs', undefined], // types start upper-case
    ['practitioner/*.rs', undefined],
    ['launch/patient', undefined],
    ['openid', undefined],
  ];
  for (const [scope, expected] of table) {
    it(`${scope} → ${expected ?? 'not a resource scope'}`, () => {
      const p = parseResourceScope(scope);
      const text = p ? `${p.context} ${p.type} ${[...p.permissions].sort().join('')}${p.query ? ` ?${p.query}` : ''}` : undefined;
      assert.equal(text, expected);
    });
  }
});

describe('scope grant: covering', () => {
  const table: [allowed: string, requested: string, covered: boolean][] = [
    ['system/*.rs', 'system/Observation.rs', true],
    ['system/*.rs', 'system/Observation.r', true],
    ['system/*.rs', 'system/Observation.read', true],
    ['system/*.rs', 'system/Observation.cruds', false],
    ['system/*.rs', 'system/Observation.write', false],
    ['system/*.cruds', 'system/*.*', true],
    ['system/Claim.rs', 'system/Observation.rs', false],
    ['system/Claim.rs', 'system/*.rs', false],
    ['patient/*.rs', 'user/*.rs', false],
    ['user/*.rs', 'patient/*.rs', false],
    ['patient/*.rs', 'patient/Observation.rs?category=laboratory', true],
    ['patient/Observation.rs?category=laboratory', 'patient/Observation.rs', false],
    ['patient/Observation.rs?category=laboratory', 'patient/Observation.rs?category=laboratory', true],
    ['patient/Observation.rs?category=laboratory', 'patient/Observation.rs?category=vital-signs', false],
    ['launch/patient', 'launch/patient', true],
  ];
  for (const [allowed, requested, expected] of table) {
    it(`${allowed} ${expected ? 'covers' : 'does not cover'} ${requested}`, () => assert.equal(covers(allowed, requested), expected));
  }
});

describe('scope grant: the granted set is the covered part of the request', () => {
  it('keeps requested scopes as written, drops what is not registered or malformed', () => {
    const granted = grantScopes(
      ['system/Claim.read', 'system/Observation.rs', 'system/Patient.cruds', 'system/Bogus', 'offline_access'],
      ['system/Claim.rs', 'system/Observation.rs', 'system/Patient.rs'],
      ALL,
    );
    assert.deepEqual(granted, ['system/Claim.read', 'system/Observation.rs']);
  });
  it('context scopes are granted only when registered verbatim', () => {
    assert.deepEqual(grantScopes(['launch/patient', 'offline_access', 'fhirUser'], ['launch/patient', 'fhirUser'], ALL), ['launch/patient', 'fhirUser']);
  });
  it('limits contexts (client_credentials gets system/ only, a patient user patient/ only)', () => {
    assert.deepEqual(grantScopes(['patient/*.rs', 'system/*.rs'], ['patient/*.rs', 'system/*.rs'], new Set(['system'])), ['system/*.rs']);
    assert.deepEqual(grantScopes(['patient/*.rs', 'user/*.rs'], ['patient/*.rs', 'user/*.rs'], new Set(['patient'])), ['patient/*.rs']);
  });
  it('an empty intersection is empty (the endpoint answers invalid_scope)', () => {
    assert.deepEqual(grantScopes(['system/Observation.cruds'], ['system/*.rs'], ALL), []);
  });
  it('registrable scopes', () => {
    for (const s of ['launch/patient', 'fhirUser', 'offline_access', 'online_access', 'system/*.rs', 'patient/Observation.rs?category=laboratory']) assert.ok(isRegistrableScope(s), s);
    for (const s of ['openid', 'launch', 'system/*.x', '']) assert.ok(!isRegistrableScope(s), s);
  });
});

describe('purpose of use at issuance', () => {
  const registered = ['HPAYMT', 'CLMATTCH', 'COVAUTH'];
  it('defaults to the first registered purpose', () => assert.deepEqual(choosePurposes(registered, undefined), ['HPAYMT']));
  it('accepts registered purposes, several space-separated', () => assert.deepEqual(choosePurposes(registered, 'COVAUTH CLMATTCH'), ['COVAUTH', 'CLMATTCH']));
  it('refuses a purpose the client is not registered for', () => {
    assert.equal(choosePurposes(registered, 'TREAT'), undefined);
    assert.equal(choosePurposes(registered, 'HPAYMT TREAT'), undefined);
  });
});
