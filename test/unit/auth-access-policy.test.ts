import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessPolicy } from '../../server/src/auth/access-policy.js';
import { inPatientCompartment, patientCompartmentClause } from '../../server/src/auth/compartment.js';
import { principalFromClaims } from '../../server/src/auth/principal.js';
import { PROFILES_DIR } from '../../server/src/dependencies.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';

/** Scopes → query documents: the Patient compartment, the usable-scope rules, granular scopes, unions. */

const defs = loadDefinitions(PROFILES_DIR);
const BASE = 'http://localhost:8080/fhir';
const noStore = {
  search: async () => assert.fail('no sub-search expected'),
  readCurrent: async () => assert.fail('no read expected'),
};
const policy = (scope: string, patient?: string) =>
  new AccessPolicy(principalFromClaims({ sub: 's', client_id: 'c', scope, ...(patient ? { patient } : {}), purpose_of_use: 'TREAT' }), { defs, store: noStore, baseUrl: BASE });

describe('Patient compartment', () => {
  it('comes from the R4 CompartmentDefinition', () => {
    assert.ok(inPatientCompartment('Observation'));
    assert.ok(inPatientCompartment('Claim'));
    assert.ok(inPatientCompartment('Patient'));
    assert.ok(!inPatientCompartment('Organization'));
    assert.ok(!inPatientCompartment('Binary'));
  });

  it('compiles to reference clauses over the compartment parameters, relative and absolute', () => {
    const refs = ['Patient/p1', `${BASE}/Patient/p1`];
    assert.deepEqual(patientCompartmentClause(defs, 'Observation', 'p1', BASE), { $or: [{ 'idx.subject': { $in: refs } }, { 'idx.performer': { $in: refs } }] });
    assert.deepEqual(patientCompartmentClause(defs, 'Patient', 'p1', BASE), { $or: [{ id: 'p1' }, { 'idx.link': { $in: refs } }] });
    assert.equal(patientCompartmentClause(defs, 'Organization', 'p1', BASE), undefined);
  });
});

describe('AccessPolicy', () => {
  it('patient/ scopes: the compartment for its types, read-only reference data elsewhere, never Binary', async () => {
    const p = policy('patient/*.cruds', 'p1');
    const obs = await p.access('Observation', ['r']);
    assert.equal(obs.kind, 'some');
    assert.deepEqual(obs.kind === 'some' ? obs.filter : undefined, patientCompartmentClause(defs, 'Observation', 'p1', BASE));
    assert.equal((await p.access('Organization', ['r'])).kind, 'all');
    assert.ok(p.grants('Organization', 's'));
    assert.ok(!p.grants('Organization', 'c'));
    assert.equal((await p.access('Organization', ['u'])).kind, 'none');
    assert.ok(!p.grants('Binary', 'r'));
    assert.equal((await p.access('Binary', ['r', 's'])).kind, 'none');
  });

  it('patient/ scopes without a launch patient grant nothing', async () => {
    const p = policy('patient/*.rs');
    assert.ok(!p.grants('Observation', 'r'));
    assert.equal((await p.access('Observation', ['r'])).kind, 'none');
  });

  it('user/ and system/ scopes reach the whole type; any unrestricted scope wins a union', async () => {
    assert.equal((await policy('user/Observation.rs').access('Observation', ['s'])).kind, 'all');
    assert.equal((await policy('system/*.rs').access('Claim', ['r'])).kind, 'all');
    assert.equal((await policy('patient/*.rs system/Observation.rs', 'p1').access('Observation', ['r'])).kind, 'all');
    assert.equal((await policy('system/Observation.rs').access('Condition', ['r'])).kind, 'none');
  });

  it('granular scopes compile to the search compiler’s clause; several are OR-ed; unknown parameters reach nothing', async () => {
    const one = await policy('user/Observation.rs?category=laboratory').access('Observation', ['s']);
    assert.equal(one.kind, 'some');
    assert.match(JSON.stringify(one), /idx\.category/);
    assert.match(JSON.stringify(one), /laboratory/);
    const two = await policy('user/Observation.rs?category=laboratory user/Observation.rs?code=1234-5').access('Observation', ['s']);
    assert.ok(two.kind === 'some' && Array.isArray(two.filter.$or) && two.filter.$or.length === 2);
    const patient = await policy('patient/Observation.rs?category=laboratory', 'p1').access('Observation', ['r']);
    assert.ok(patient.kind === 'some' && Array.isArray(patient.filter.$and), 'compartment AND restriction');
    assert.equal((await policy('user/Observation.rs?nonsense=1').access('Observation', ['r'])).kind, 'none');
    // Permissions the scope does not grant are not widened by its restriction.
    assert.equal((await policy('user/Observation.rs?category=laboratory').access('Observation', ['c'])).kind, 'none');
  });
});
