import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseScope, parseScopes, permissionFor, scopeGrants, type Permission, type SmartScope } from '../../server/src/auth/scopes.js';

/** SMART App Launch 2.x scope syntax (v2, granular, v1) and matching per interaction and type. */

const ok = (raw: string): SmartScope => {
  const s = parseScope(raw);
  assert.ok(typeof s === 'object', `${raw} should parse, got ${String(s)}`);
  return s;
};

describe('parseScope', () => {
  const table: Array<[string, string, string, Permission[], 1 | 2, Record<string, string[]>?]> = [
    ['patient/Observation.rs', 'patient', 'Observation', ['r', 's'], 2],
    ['user/*.cruds', 'user', '*', ['c', 'r', 'u', 'd', 's'], 2],
    ['system/*.rs', 'system', '*', ['r', 's'], 2],
    ['system/Claim.c', 'system', 'Claim', ['c'], 2],
    ['user/Patient.ud', 'user', 'Patient', ['u', 'd'], 2],
    ['patient/*.read', 'patient', '*', ['r', 's'], 1],
    ['patient/Observation.write', 'patient', 'Observation', ['c', 'u', 'd'], 1],
    ['system/*.*', 'system', '*', ['c', 'r', 'u', 'd', 's'], 1],
    [
      'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
      'patient',
      'Observation',
      ['r', 's'],
      2,
      { category: ['http://terminology.hl7.org/CodeSystem/observation-category|laboratory'] },
    ],
    ['user/Observation.rs?category=laboratory&code=1234-5', 'user', 'Observation', ['r', 's'], 2, { category: ['laboratory'], code: ['1234-5'] }],
    ['user/Condition.rs?category=a&category=b', 'user', 'Condition', ['r', 's'], 2, { category: ['a', 'b'] }],
  ];
  for (const [raw, context, type, permissions, version, query] of table) {
    it(raw, () => {
      const s = ok(raw);
      assert.equal(s.raw, raw);
      assert.equal(s.context, context);
      assert.equal(s.resourceType, type);
      assert.deepEqual([...s.permissions], permissions);
      assert.equal(s.version, version);
      assert.deepEqual(s.query ? { ...s.query } : undefined, query);
      assert.ok(Object.isFrozen(s) && Object.isFrozen(s.permissions));
    });
  }

  it('malformed resource scopes are invalid', () => {
    for (const raw of [
      'patient/Observation.sr', // v2 letters out of order
      'patient/Observation.rr',
      'patient/Observation.x',
      'patient/Observation.',
      'patient/Observation',
      'patient/observation.rs', // not a type name
      'patient/Obs-ervation.rs',
      'practitioner/Observation.rs', // not a context → not a resource scope at all
      'patient/*.read?category=x', // granular is v2 only
      'patient/Observation.rs?', // empty query
      'patient/Observation.rs?_count=1', // a result parameter is not a restriction
      'patient/Observation.rs?_sort=date',
      'patient/Observation.readwrite',
    ]) {
      const s = parseScope(raw);
      const expected = raw.startsWith('practitioner/') ? 'other' : 'invalid';
      assert.equal(s, expected, raw);
    }
  });

  it('scopes that are not about resources are "other"', () => {
    for (const raw of ['openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'online_access']) {
      assert.equal(parseScope(raw), 'other', raw);
    }
  });
});

describe('parseScopes', () => {
  it('splits on any whitespace and sorts scopes into resource, other and invalid', () => {
    const p = parseScopes('  openid fhirUser\tlaunch/patient patient/Observation.rs\npatient/Observation.zz offline_access user/*.read ');
    assert.deepEqual(p.resource.map((s) => s.raw), ['patient/Observation.rs', 'user/*.read']);
    assert.deepEqual([...p.other], ['openid', 'fhirUser', 'launch/patient', 'offline_access']);
    assert.deepEqual([...p.invalid], ['patient/Observation.zz']);
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.resource));
  });

  it('returns the same frozen result for the same string', () => {
    assert.equal(parseScopes('system/*.rs'), parseScopes('system/*.rs'));
    assert.deepEqual(parseScopes('').resource, []);
  });
});

describe('matching', () => {
  it('permissionFor maps every interaction as SMART does', () => {
    const expected: Record<string, Permission> = {
      read: 'r',
      vread: 'r',
      'history-instance': 'r',
      'search-type': 's',
      'search-system': 's',
      'history-type': 's',
      create: 'c',
      update: 'u',
      patch: 'u',
      delete: 'd',
    };
    for (const [interaction, p] of Object.entries(expected)) assert.equal(permissionFor(interaction as never), p, interaction);
  });

  it('scopeGrants: type or wildcard, and the permission', () => {
    const rows: Array<[string, Permission, string, boolean]> = [
      ['patient/Observation.rs', 'r', 'Observation', true],
      ['patient/Observation.rs', 's', 'Observation', true],
      ['patient/Observation.rs', 'c', 'Observation', false],
      ['patient/Observation.rs', 'r', 'Condition', false],
      ['user/*.cruds', 'd', 'Condition', true],
      ['system/*.rs', 'u', 'Claim', false],
      ['patient/*.read', 's', 'Encounter', true],
      ['patient/*.read', 'c', 'Encounter', false],
      ['user/Patient.write', 'u', 'Patient', true],
      ['user/Patient.write', 'r', 'Patient', false],
      ['system/*.*', 'c', 'Bundle', true],
      ['user/Observation.rs?category=laboratory', 'r', 'Observation', true],
    ];
    for (const [raw, p, type, expected] of rows) assert.equal(scopeGrants(ok(raw), p, type), expected, `${raw} ${p} ${type}`);
  });
});
