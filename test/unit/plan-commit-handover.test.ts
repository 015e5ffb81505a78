import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditEvent, Patient } from '@medplum/fhirtypes';
import { handOverToStore, planCommit } from '../../server/src/store/plan-commit.js';

/**
 * planCommit copies the resource it is given, so the stored version never changes when the
 * caller changes its object, except for a resource handed over (handOverToStore: the audit
 * sink's AuditEvents), which it keeps without a deep copy.
 */
const NOW = '2025-03-01T12:00:00.000Z';
const nothing = () => undefined;

const patient = (): Patient => ({ resourceType: 'Patient', name: [{ family: 'Doe', given: ['Jo'] }] });

describe('planCommit and handed-over resources', () => {
  it('copies an ordinary resource: the caller changing its object changes no stored version', () => {
    const resource = patient();
    const { results } = planCommit({ ops: [{ kind: 'create', resourceType: 'Patient', id: 'p1', resource }], now: NOW }, nothing);
    const stored = results[0]?.resource as Patient;
    (resource.name as Array<{ family?: string }>)[0]!.family = 'Changed';
    assert.equal(stored.name?.[0]?.family, 'Doe');
    assert.equal(resource.meta, undefined);
    assert.deepEqual(stored.meta, { versionId: '1', lastUpdated: NOW });
  });

  it('keeps a handed-over resource without a deep copy, and still does not change it', () => {
    const resource = handOverToStore(patient());
    const name = resource.name;
    const { results, writes } = planCommit({ ops: [{ kind: 'create', resourceType: 'Patient', id: 'p1', resource }], now: NOW }, nothing);
    const stored = results[0]?.resource as Patient;
    assert.equal(stored.name, name, 'nested objects are shared');
    assert.notEqual(stored, resource, 'id and meta go on a new top-level object');
    assert.equal(resource.meta, undefined);
    assert.equal(resource.id, undefined);
    assert.deepEqual(stored, { ...patient(), id: 'p1', meta: { versionId: '1', lastUpdated: NOW } });
    assert.equal(writes[0]?.doc.resource, stored);
  });

  it('the mark belongs to the object: a copy of a handed-over resource is copied again', () => {
    const handed = handOverToStore(patient());
    const copy = { ...handed };
    const { results } = planCommit({ ops: [{ kind: 'create', resourceType: 'Patient', id: 'p1', resource: copy }], now: NOW }, nothing);
    assert.notEqual((results[0]?.resource as Patient).name, handed.name);
  });

  it('stores the same JSON either way', () => {
    const event: AuditEvent = {
      resourceType: 'AuditEvent',
      meta: { profile: ['https://custodian.example.org/fhir/StructureDefinition/custodian-auditevent'] },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      recorded: NOW,
      agent: [{ requestor: true, who: { display: 'u' } }],
      source: { observer: { display: 's' } },
    };
    const plan = (resource: AuditEvent) =>
      JSON.stringify(planCommit({ ops: [{ kind: 'create', resourceType: 'AuditEvent', id: 'a1', resource }], now: NOW }, nothing).results);
    assert.equal(plan(handOverToStore(structuredClone(event))), plan(structuredClone(event)));
  });
});
